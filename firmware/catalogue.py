"""The sensor catalogue: what the firmware and `meteolink flash` know of each kind of sensor.

One row per kind, read by the config check (node_config.py), the cycle
(sensors.py, node.py), the sim board (sim/port.py) and `meteolink flash`
(tools/build.py, tools/board_file.py); none of them names a sensor. Runs on
the node and in CPython.
"""

try:  # CPython: inside the meteolink package
    from meteolink.firmware import frames  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # the node
    import frames  # type: ignore[import-not-found, no-redef, unused-ignore]

TYPE_CHECKING = False  # mypy takes this name as True; on the node it costs one global
if TYPE_CHECKING:
    from typing import Final

    # A catalogue row (below): kind, module, class, bus, address, fields,
    # hungry, files, options, warm-up ms, power-up ms.
    Row = tuple[
        str, str, str, str, int | None, tuple[tuple[int, str], ...], bool,
        tuple[str, ...], tuple[str, ...], int, int,
    ]  # fmt: skip


# One row per kind, in the order of this table:
#
#   KIND      the name config.json gives it
#   MODULE    the driver's module, and CLASS its class (a roles.Sensor)
#   BUS       "i2c"; "uart", the board's sensor UART (one sensor on it); or
#             "adc", the board's battery divider
#   ADDRESS   the default I2C address; None for a sensor off I2C
#   FIELDS    ((frame field, the driver attribute that holds it), ...)
#   HUNGRY    it draws tens of mA while it works: the PM fan (~80 mA for
#             30 s), the SCD41 single shot (peaks of 175 mA), the SGP40
#             heater. The low-battery schedule skips it unless the config
#             says otherwise.
#   FILES     the firmware files the node needs for it, the driver's first
#   OPTIONS   keyword arguments the node gives the driver's constructor:
#             "cold", True when the chip has just been powered; "ratio", the
#             board's battery divider; "algorithm", the VOC index algorithm,
#             which needs a sample every 10 s, so the node samples this
#             sensor between cycles instead of deep sleeping
#   WARM_MS   the most a cycle may wait on it beyond the common budget (a
#             PM fan's warm-up; an SCD41's power-up, cold open and two shots)
#   POWER_MS  its power-up time, when the board switches the sensors' supply
#
# Adding a sensor: its driver file, its emulated chip in sim/ (a module named
# as the driver's, with PART), a row here and a line in docs/firmware.md's
# sensor table; tests/firmware/test_catalogue.py checks all four.
#
# Plain tuples: the node imports this at every wake. The drivers' values are
# read by the FIELDS names, with no table built per cycle.
KIND: "Final" = 0
MODULE: "Final" = 1
CLASS: "Final" = 2
BUS: "Final" = 3
ADDRESS: "Final" = 4
FIELDS: "Final" = 5
HUNGRY: "Final" = 6
FILES: "Final" = 7
OPTIONS: "Final" = 8
WARM_MS: "Final" = 9
POWER_MS: "Final" = 10

_T = (frames.TEMPERATURE, "temperature")
_RH = (frames.HUMIDITY, "humidity")
CATALOGUE: "tuple[Row, ...]" = (
    ("bme280", "bme280", "BME280", "i2c", 0x76,
     (_T, _RH, (frames.PRESSURE, "pressure")), False, ("bme280",), (), 0, 2),
    ("sht4x", "sht4x", "SHT4x", "i2c", 0x44,
     (_T, _RH), False, ("sht4x", "sensirion_rht", "sensirion"), (), 0, 1),
    ("sht3x", "sht3x", "SHT3x", "i2c", 0x44,
     (_T, _RH), False, ("sht3x", "sensirion_rht", "sensirion"), (), 0, 2),
    ("scd41", "scd4x", "SCD4x", "i2c", 0x62,
     ((frames.CO2, "co2"),), True, ("scd4x", "sensirion"), ("cold",), 11530, 1000),
    ("sgp40", "sgp40", "SGP40", "i2c", 0x59,
     ((frames.VOC_INDEX, "voc_index"),), True, ("sgp40", "voc_index", "sensirion"),
     ("algorithm",), 0, 1),
    ("pms5003", "pms5003", "PMS5003", "uart", None,
     ((frames.PM1, "pm1"), (frames.PM2_5, "pm2_5"), (frames.PM10, "pm10")), True,
     ("pms5003", "uart_sensor"), (), 30000, 0),
    ("sds011", "sds011", "SDS011", "uart", None,
     ((frames.PM2_5, "pm2_5"), (frames.PM10, "pm10")), True,
     ("sds011", "uart_sensor"), (), 30000, 0),
    ("battery", "battery", "Battery", "adc", None,
     ((frames.BATTERY, "battery"),), False, ("battery",), ("ratio",), 0, 0),
)  # fmt: skip
SENSORS: "dict[str, Row]" = {row[KIND]: row for row in CATALOGUE}
"""The catalogue's rows by kind (built once, at import)."""
