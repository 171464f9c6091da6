"""Sensirion SHT3x (SHT30, SHT31, SHT35): temperature and humidity over I2C.

Datasheet: Sensirion SHT3x-DIS, version 5 (May 2018). Commands are 16-bit
words. A single-shot measurement without clock stretching (table 9) is
followed, once the measurement is done, by a 6-byte read: temperature word,
CRC, humidity word, CRC. Until it is done the chip does not acknowledge the
read header (section 4.4), so a read too early fails on the bus. Between
measurements the chip sleeps by itself (section 4.1): there is no sleep
command, and none is needed.
"""

import time

from micropython import const
from sensirion import check_words, word  # type: ignore[import-not-found, unused-ignore]

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from typing import Protocol

    import roles

    class I2C(Protocol):
        """What the driver uses of machine.I2C (the sim's bus has the same)."""

        def writeto(self, addr: int, buf: bytes | bytearray) -> int: ...
        def readfrom_into(self, addr: int, buf: bytearray) -> None: ...


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

# The status word needs a moment after its command; the constructor retries a
# NACKed read every ms, up to this many times (Sensirion's driver waits 10 ms).
_STATUS_TRIES = const(10)


class SHT3x:
    """One SHT3x on an I2C bus.

    After read(): temperature (centi-°C) and humidity (centi-%RH) as ints,
    and `status` (the chip's status register) from construction. A failed
    read() raises OSError and keeps the last complete reading (None before
    the first).
    """

    def __init__(self, i2c: I2C, address: int = 0x44, repeatability: int = HIGH) -> None:
        if not LOW <= repeatability <= HIGH:
            raise ValueError("repeatability: expected LOW, MEDIUM or HIGH (0..2)")
        self._i2c = i2c
        self._address = address
        self._command = _COMMANDS[2 * repeatability : 2 * repeatability + 2]  # sent as is
        self._wait_ms = _WAIT_MS[repeatability]
        self._buf = bytearray(6)  # every reply lands here, read() reuses it
        self.temperature: int | None = None
        self.humidity: int | None = None
        # The status register proves the chip is there and speaks SHT3x: a
        # word with a good CRC from a chip that knows command 0xF32D.
        try:
            i2c.writeto(address, b"\xf3\x2d")  # _READ_STATUS
        except OSError:
            raise OSError("no SHT3x at 0x%02x" % address) from None
        status = memoryview(self._buf)[:3]
        for _ in range(_STATUS_TRIES):
            time.sleep_ms(1)
            try:
                i2c.readfrom_into(address, status)  # type: ignore[arg-type, unused-ignore]
                break
            except OSError:
                pass
        else:
            raise OSError("no SHT3x at 0x%02x (no status word)" % address)
        check_words(self._buf, 1, "SHT3x")
        self.status = word(self._buf, 0)

    def compensate(
        self, temperature: int | None, humidity: int | None, pressure: int | None
    ) -> None:
        """Nothing to correct for: the chip measures the air itself."""

    def start(self) -> int:
        """Send the measurement command; returns the ms until read() may run."""
        try:
            self._i2c.writeto(self._address, self._command)
        except OSError:
            raise OSError("SHT3x: no reply at 0x%02x" % self._address) from None
        return self._wait_ms

    def read(self) -> bool:
        """Fetch and convert the measurement start() began; True (a new
        reading). Allocates nothing."""
        buf = self._buf
        try:
            self._i2c.readfrom_into(self._address, buf)
        except OSError:
            # A NACK: the measurement is not finished (read too early, or no
            # start()), or the chip is gone. The bus cannot tell which.
            raise OSError(
                "SHT3x: no reply at 0x%02x (not ready or absent)" % self._address
            ) from None
        check_words(buf, 2, "SHT3x")
        # Section 4.13: T = -45 + 175 * St / 65535 °C, RH = 100 * Srh / 65535 %.
        # In centi-units, with the fractions reduced by their common factor 5
        # (17500/65535 = 3500/13107, 10000/65535 = 2000/13107) so every product
        # stays below 2^30, a small int on every port. Rounded half up by
        # adding half the divisor; 13107 is odd, so no value is exactly half.
        # Srh spans 0..100 %RH exactly: nothing to crop.
        self.temperature = -4500 + (3500 * word(buf, 0) + 6553) // 13107
        self.humidity = (2000 * word(buf, 1) + 6553) // 13107
        return True

    def stop(self) -> None:
        """Nothing to do: the chip sleeps by itself after each measurement."""


# The sensor contract (firmware/roles.py), held by the type checker: a driver
# without one of its functions fails `make typecheck`. Gone on the node.
if TYPE_CHECKING:

    def _is_a_sensor(driver: SHT3x) -> roles.Sensor:
        return driver

    def _takes_a_ports_bus(bus: roles.I2C) -> I2C:
        return bus
