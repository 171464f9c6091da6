"""Sensirion SHT4x (SHT40, SHT41, SHT45): temperature and humidity over I2C.

Datasheet: Sensirion SHT4x, version 6 (February 2023). The chip takes
one-byte commands; a measurement command is followed, after the measurement
duration, by a 6-byte read: temperature word, CRC, humidity word, CRC. Until
the measurement is done the chip does not acknowledge its address (section
4.5), so a read too early fails on the bus. Between commands it idles at
80 nA: there is no sleep command, and none is needed.
"""

from micropython import const
from sensirion import word
from sensirion_rht import SensirionRHT

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    import roles
    from sensirion_rht import I2C


# Commands (datasheet section 4.5, table 7).
_MEASURE_HIGH = const(0xFD)  # high repeatability: 8.3 ms max (table 5)
_MEASURE_MEDIUM = const(0xF6)  # medium: 4.5 ms max
_MEASURE_LOW = const(0xE0)  # low: 1.6 ms max
_READ_SERIAL = const(0x89)  # two words, each with its CRC
_SOFT_RESET = const(0x94)  # unused: a power-up leaves the chip idle already

# Precision, the constructor's choice: index into the command and wait tables.
LOW = const(0)
MEDIUM = const(1)
HIGH = const(2)
_COMMANDS = b"\xe0\xf6\xfd"  # _MEASURE_LOW, _MEASURE_MEDIUM, _MEASURE_HIGH
_MAX_MS = b"\x02\x05\x09"  # table 5 maximum durations, rounded up: 1.6, 4.5, 8.3 ms


class SHT4x(SensirionRHT):
    """One SHT4x on an I2C bus (sensirion_rht.py has the measurement).

    After read(): temperature (centi-°C) and humidity (centi-%RH) as ints,
    and `serial` (the chip's 32-bit serial number) from construction.
    """

    NAME = "SHT4x"
    # Section 4.6: RH = -6 + 125 * Srh / 65535 %, cropped to 0..100.
    RH_OFFSET = -600
    RH_SPAN = 2500

    def __init__(self, i2c: I2C, address: int = 0x44, precision: int = HIGH) -> None:
        if not LOW <= precision <= HIGH:
            raise ValueError("precision: expected LOW, MEDIUM or HIGH (0..2)")
        super().__init__(i2c, address, _COMMANDS[precision : precision + 1], _MAX_MS[precision])
        # The serial number proves the chip is there and speaks SHT4x.
        reply = self._identify(b"\x89", 2, "serial number")  # _READ_SERIAL
        self.serial = word(reply, 0) << 16 | word(reply, 1)


# The sensor contract (firmware/roles.py), held by the type checker: a driver
# without one of its functions fails `make typecheck`. Gone on the node.
if TYPE_CHECKING:

    def _is_a_sensor(driver: SHT4x) -> roles.Sensor:
        return driver

    def _takes_a_ports_bus(bus: roles.I2C) -> I2C:
        return bus
