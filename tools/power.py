"""What a node draws, and how long a battery lasts: one model for `meteolink plan` and `make bench`.

The arithmetic (average_ua, battery_ua, life_years) is the battery estimate `make bench`
prints (bench/firmware.py) and the one `meteolink plan` prints for a node's config.json; the
figures are the current tables below, each with where it comes from: a datasheet, a
measurement someone published, or "assumed" when neither exists. docs/plan.md lists them.

A cycle is a list of Loads: what draws, for how many ms, how many mA, and on which rail. The
3.3 V rail goes through the board's regulator; the 5 V rail of a particle sensor through a
boost module; "battery" loads (the battery divider, a whole board measured at its input) draw
from the battery directly. Between cycles the node draws its sleep current, per rail too.
"""

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

RAIL_3V3 = "3.3 V"
RAIL_5V = "5 V"
RAIL_BATTERY = "battery"
RAILS = (RAIL_3V3, RAIL_5V, RAIL_BATTERY)
V_OUT = 3.3
HOURS_PER_YEAR = 8766


@dataclass(frozen=True)
class Figure:
    """A number the estimate rests on, and where it comes from ("assumed: ..." when nowhere)."""

    value: float
    source: str


@dataclass(frozen=True)
class Load:
    """Something drawing `ma` for `ms` in each cycle, on `rail`."""

    what: str
    ms: float
    ma: float
    rail: str = RAIL_3V3

    @property
    def uas(self) -> float:
        """The charge per cycle, µA·s (= mA·ms)."""
        return self.ms * self.ma


@dataclass(frozen=True)
class Supply:
    """How the battery feeds the 3.3 V rail: an LDO passes the current through (plus its
    quiescent current, counted with the board's own sleep current); a switching converter
    passes the power, at `efficiency`, from a battery at `mean_v` on average."""

    kind: str  # "ldo" or "switching"
    mean_v: float
    efficiency: float = 1.0

    def battery_ua(self, rail_ua: float) -> float:
        if self.kind == "ldo":
            return rail_ua
        return rail_ua * V_OUT / (self.mean_v * self.efficiency)


def average_ua(loads: Iterable[Load], awake_ms: float, sleep_ua: float, interval_s: float) -> float:
    """The average current of one rail over a cycle: the loads, then `sleep_ua` for the rest
    of the interval (interval - awake_ms)."""
    charge = sum(load.uas for load in loads)
    charge += (interval_s * 1000 - awake_ms) * sleep_ua / 1000
    return charge / interval_s


def life_years(usable_mah: float, battery_ua: float, self_discharge: float) -> float:
    """Years until `usable_mah` are spent at `battery_ua`, the cell also losing
    `self_discharge` of its capacity a year."""
    years = usable_mah * 1000 / battery_ua / HOURS_PER_YEAR
    return years / (1 + self_discharge * years)


# The chips. Currents at 3.3 V unless a source says otherwise.


@dataclass(frozen=True)
class Mcu:
    active_ma: Figure  # running MicroPython, radio off
    nap_ma: Figure  # light sleep: the naps while sensors convert
    sleep_ua: Figure  # between cycles
    sleep_rail: str
    boot_ms: Figure  # from the timer's wake to main.py
    deep_sleep: bool  # False: light sleep between cycles, RAM kept, no boot


_ESP32_BOOT = Figure(
    300,
    "assumed: from the timer's wake through the ROM, the bootloader and MicroPython's start"
    " to main.py; not measured on a board",
)
MCUS: dict[str, Mcu] = {
    "ESP32": Mcu(
        Figure(40, "ESP32 datasheet: 27-44 mA in modem-sleep at 160 MHz, MicroPython's clock"),
        Figure(0.8, "ESP32 datasheet: light-sleep 0.8 mA"),
        Figure(10, "ESP32 datasheet: deep-sleep with the RTC timer and RTC memory 10 µA"),
        RAIL_3V3,
        _ESP32_BOOT,
        True,
    ),
    "ESP32-S3": Mcu(
        Figure(
            40,
            "assumed as the ESP32's at 160 MHz; an ESP32-S3-DevKitM-1 measured 31.7 mA awake"
            " (lucidar.me)",
        ),
        Figure(0.24, "ESP32-S3 datasheet: light-sleep 240 µA"),
        Figure(
            8,
            "ESP32-S3 datasheet: deep-sleep with RTC memory 7-8 µA; 8 µA measured on an"
            " ESP32-S3-DevKitM-1 (lucidar.me)",
        ),
        RAIL_3V3,
        _ESP32_BOOT,
        True,
    ),
    "RP2040": Mcu(
        Figure(25, "assumed: RP2040 at MicroPython's 125 MHz; not measured"),
        Figure(
            1.5,
            "1.5 mA measured on a whole Pico in machine.lightsleep(5000), at its USB input"
            " (MicroPython commit 'rp2/modmachine: Implement lightsleep() with optional sleep"
            " period')",
        ),
        Figure(
            1500,
            "light sleep, RAM kept (MicroPython has no timed deep sleep on the RP2040): 1.5 mA"
            " measured on a whole Pico, regulator included (MicroPython's rp2 lightsleep commit)",
        ),
        RAIL_BATTERY,
        Figure(0, "none: the RP2040 light-sleeps between cycles and does not reboot"),
        False,
    ),
}


@dataclass(frozen=True)
class Radio:
    tx_ma: Figure
    rx_ma: Figure
    sleep_ua: Figure


def radio_tx(chip: str, power_dbm: int) -> Figure:
    """The transmit current of `chip` at the node's `power_dbm` (2..14, node_config.Lora)."""
    if chip == "sx1262":
        if power_dbm == 14:
            return Figure(
                45,
                "SX1261/2 datasheet: 45 mA at +14 dBm with the PA set up for +14 dBm, as"
                " micropython-lib's driver does at exactly 14 dBm",
            )
        return Figure(
            90,
            f"SX1261/2 datasheet: 90 mA at +14 dBm with the PA set up for +22 dBm, as"
            f" micropython-lib's driver does at {power_dbm} dBm; less at {power_dbm} dBm,"
            " no figure given: at most",
        )
    return Figure(
        87,
        "SX1276 datasheet: 87 mA at +17 dBm on PA_BOOST, the output the node uses; it gives no"
        f" figure for {power_dbm} dBm there: at most",
    )


RADIOS: dict[str, Radio] = {
    "sx1276": Radio(
        radio_tx("sx1276", 14),
        Figure(11.5, "SX1276 datasheet: receiving, 868 MHz band, LNA boost on, 11.5 mA"),
        Figure(0.2, "SX1276 datasheet: sleep 0.2 µA"),
    ),
    "sx1262": Radio(
        radio_tx("sx1262", 14),
        Figure(
            4.6,
            "SX1261/2 datasheet: receiving LoRa at 125 kHz 4.6 mA with its DC-DC converter;"
            " the driver keeps the LDO, which draws more",
        ),
        Figure(0.6, "SX1261/2 datasheet: sleep with the configuration kept 0.6 µA"),
    ),
}


@dataclass(frozen=True)
class Sensor:
    """A sensor of the catalogue: `measure_ma` for `measure_ms` each measurement, `idle_ua`
    the rest of the time it is powered; on `rail`."""

    measure_ma: Figure
    measure_ms: int  # what the driver's start() waits (tests/tools/test_plan.py checks it)
    idle_ua: Figure
    rail: str = RAIL_3V3


# The single shot's energy over its 5 s at 3.3 V: 243 mJ / 3.3 V / 5 s.
_SCD41_SHOT_MA = round(243 / 3.3 / 5, 1)
SENSORS: dict[str, Sensor] = {
    "bme280": Sensor(
        Figure(0.714, "BME280 datasheet: 714 µA measuring pressure, the most of its three"),
        10,
        Figure(0.1, "BME280 datasheet: sleep 0.1 µA"),
    ),
    "sht4x": Sensor(
        Figure(0.32, "SHT4x datasheet: 320 µA measuring (typ.)"),
        9,
        Figure(0.08, "SHT4x datasheet: idle 0.08 µA (typ.)"),
    ),
    "sht3x": Sensor(
        Figure(0.6, "SHT3x-DIS datasheet: 600 µA measuring (typ.)"),
        16,
        Figure(0.2, "SHT3x-DIS datasheet: idle in single-shot mode 0.2 µA (typ.)"),
    ),
    "scd41": Sensor(
        Figure(
            _SCD41_SHOT_MA,
            f"SCD4x datasheet: 243 mJ per single shot (typ.), {_SCD41_SHOT_MA} mA over its 5 s",
        ),
        5000,
        Figure(150, "SCD4x datasheet: idle between single shots 0.15 mA (typ.)"),
    ),
    "sgp40": Sensor(
        Figure(2.6, "SGP40 datasheet: 2.6 mA measuring at 3.3 V (typ.)"),
        30,
        Figure(34, "SGP40 datasheet: idle, heater off, 34 µA (typ.)"),
    ),
    "pms5003": Sensor(
        Figure(100, "Plantower PMS5003 datasheet: at most 100 mA working, at 5 V"),
        30000,
        Figure(200, "PMS5003 datasheet: at most 200 µA in standby, at 5 V"),
        RAIL_5V,
    ),
    "sds011": Sensor(
        Figure(70, "Nova SDS011 datasheet: 70 mA ±10 mA working, at 5 V"),
        30000,
        Figure(4000, "SDS011 datasheet: under 4 mA asleep (laser and fan off), at 5 V"),
        RAIL_5V,
    ),
    "battery": Sensor(
        Figure(0, "the MCU's own ADC: counted in the MCU's current"),
        0,
        Figure(0, "the divider's current is the board's (below)"),
    ),
}
# Between two samples of the VOC index algorithm (firmware/sensors.py VOC_SAMPLE_MS), and
# one sample: the heating measurement, then the real one (firmware/sgp40.py).
SGP40_SAMPLE_S = 10
SGP40_SAMPLE_MS = 170 + 30
SGP40_WAKE = Figure(5, "assumed: the MCU awake for one SGP40 sample, between two light sleeps")

# A 5 V particle sensor on a battery needs a boost module (docs/boards.md).
BOOST_EFFICIENCY = Figure(0.85, "assumed: a 5 V boost module at tens of mA")

# The firmware's own work per wake: imports, drivers and radio opened, encoding.
FIRMWARE_MS = Figure(
    100,
    "assumed: imports, drivers and the radio set up, encoding; `make bench` measures the"
    " cycle on the sim board",
)
# From the end of the node's frame to the end of the gateway's acknowledgement, beyond the
# acknowledgement's own airtime: the bridge's turnaround and the serial line.
ACK_TURNAROUND_MS = Figure(100, "assumed: the bridge and the gateway's turnaround")


@dataclass(frozen=True)
class BoardPower:
    """What a board adds: its regulator, the cut-off it imposes, its battery divider and
    its own draw asleep (USB-serial chip, charger, regulator, LEDs). None: not known."""

    regulator: Figure  # 1.0 for an LDO, the efficiency of a switching converter
    regulator_kind: str
    cutoff_v: Figure
    divider_ua: Figure | None
    own_ua: Figure | None


_LDO_CUTOFF = Figure(
    3.3,
    "assumed: a 3.3 V LDO keeps the ESP32 module above its 3.0 V minimum down to about 3.3 V"
    " of battery, its dropout at the radio's transmit current included",
)
_LDO = Figure(1.0, "assumed: a 3.3 V LDO, current in = current out")
_BUCK_BOOST = Figure(
    0.85,
    "assumed efficiency; the Pico's RT6150 buck-boost converter (Pico datasheet) runs from 1.8 V",
)
_CELL_CUTOFF = Figure(
    3.0, "assumed: the cell's own protection; the Pico's converter itself runs down to 1.8 V"
)
_NOT_SWITCHED = "the divider is always connected"
BOARDS: dict[str, BoardPower] = {
    "heltec-v2": BoardPower(
        _LDO,
        "ldo",
        _LDO_CUTOFF,
        Figure(0, "switched off with Vext (GPIO21) before the node sleeps"),
        None,
    ),
    "heltec-v3": BoardPower(
        _LDO,
        "ldo",
        _LDO_CUTOFF,
        Figure(0, "assumed: off asleep, switched by ADC_Ctrl (GPIO37)"),
        None,
    ),
    "lilygo-t3-v1.6": BoardPower(
        _LDO,
        "ldo",
        _LDO_CUTOFF,
        Figure(18.5, f"100 kΩ + 100 kΩ at 3.7 V (docs/boards.md): {_NOT_SWITCHED}"),
        None,
    ),
    "pico": BoardPower(
        _BUCK_BOOST,
        "switching",
        _CELL_CUTOFF,
        Figure(12.3, f"the Pico's VSYS/3 divider, 200 kΩ + 100 kΩ at 3.7 V: {_NOT_SWITCHED}"),
        Figure(0, "in the 1.5 mA measured on a whole Pico asleep"),
    ),
    "pico-w": BoardPower(
        _BUCK_BOOST,
        "switching",
        _CELL_CUTOFF,
        Figure(12.3, f"200 kΩ + 100 kΩ at 3.7 V (docs/boards.md): {_NOT_SWITCHED}"),
        None,
    ),
}
OTHER_BOARD = BoardPower(_LDO, "ldo", _LDO_CUTOFF, None, None)


# The battery: one Li-ion (LiPo) cell, what the boards' battery connectors take.
CELL = "one Li-ion cell"
CELL_MEAN_V = Figure(3.7, "a Li-ion cell's nominal voltage")
CELL_SELF_DISCHARGE = Figure(
    0.24, "assumed: 2 % a month (Li-ion cells lose 1-3 % a month at room temperature)"
)
# The share of the capacity a cell delivers above a voltage, at the small currents of a
# node: a typical LiPo discharge curve, assumed (check the cell's own datasheet).
CELL_CURVE = ((3.0, 1.0), (3.3, 0.98), (3.4, 0.95), (3.5, 0.9), (3.6, 0.8), (3.7, 0.62),
              (3.8, 0.4), (3.9, 0.25), (4.0, 0.12), (4.1, 0.05), (4.2, 0.0))  # fmt: skip
CELL_CURVE_SOURCE = "assumed: a typical LiPo discharge curve at small currents"


def usable_share(cutoff_v: float) -> float:
    """The share of a cell's capacity delivered above `cutoff_v` (CELL_CURVE, interpolated)."""
    if cutoff_v <= CELL_CURVE[0][0]:
        return 1.0
    for (v0, s0), (v1, s1) in itertools.pairwise(CELL_CURVE):
        if cutoff_v <= v1:
            return s0 + (s1 - s0) * (cutoff_v - v0) / (v1 - v0)
    return 0.0
