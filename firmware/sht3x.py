"""Sensirion SHT3x (SHT30, SHT31, SHT35): temperature and humidity over I2C.

Datasheet: Sensirion SHT3x-DIS, version 5 (May 2018). Commands are 16-bit
words. A single-shot measurement without clock stretching (table 9) is
followed, once the measurement is done, by a 6-byte read: temperature word,
CRC, humidity word, CRC. Until it is done the chip does not acknowledge the
read header (section 4.4), so a read too early fails on the bus. Between
measurements the chip sleeps by itself (section 4.1): there is no sleep
command, and none is needed.
"""

from micropython import const
from sensirion import word
from sensirion_rht import SensirionRHT

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    import roles
    from sensirion_rht import I2C


# Commands (datasheet tables 9 and 17), sent most significant byte first.
_MEASURE_HIGH = const(0x2400)  # single shot, clock stretching disabled
_MEASURE_MEDIUM = const(0x240B)
_MEASURE_LOW = const(0x2416)
_READ_STATUS = const(0xF32D)  # one word and its CRC

# Repeatability, the constructor's choice: index into the command and wait tables.
LOW = const(0)
MEDIUM = const(1)
HIGH = const(2)
_COMMANDS = b"\x24\x16\x24\x0b\x24\x00"  # _MEASURE_LOW, _MEASURE_MEDIUM, _MEASURE_HIGH
# The measurement's maximum duration (datasheet table 4: 4, 6 and 15 ms), plus
# a millisecond of margin: the waits Sensirion's own driver uses.
_WAIT_MS = b"\x05\x07\x10"


class SHT3x(SensirionRHT):
    """One SHT3x on an I2C bus (sensirion_rht.py has the measurement).

    After read(): temperature (centi-°C) and humidity (centi-%RH) as ints,
    and `status` (the chip's status register) from construction.
    """

    NAME = "SHT3x"
    # Section 4.13: RH = 100 * Srh / 65535 %, which spans 0..100 exactly.
    RH_OFFSET = 0
    RH_SPAN = 2000

    def __init__(self, i2c: I2C, address: int = 0x44, repeatability: int = HIGH) -> None:
        if not LOW <= repeatability <= HIGH:
            raise ValueError("repeatability: expected LOW, MEDIUM or HIGH (0..2)")
        command = _COMMANDS[2 * repeatability : 2 * repeatability + 2]
        super().__init__(i2c, address, command, _WAIT_MS[repeatability])
        # The status register proves the chip is there and speaks SHT3x.
        self.status = word(self._identify(b"\xf3\x2d", 1, "status word"), 0)  # _READ_STATUS


# The sensor contract (firmware/roles.py), held by the type checker: a driver
# without one of its functions fails `make typecheck`. Gone on the node.
if TYPE_CHECKING:

    def _is_a_sensor(driver: SHT3x) -> roles.Sensor:
        return driver

    def _takes_a_ports_bus(bus: roles.I2C) -> I2C:
        return bus
