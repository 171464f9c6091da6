"""Sensirion SHT4x (SHT40, SHT41, SHT45): temperature and humidity over I2C.

Datasheet: Sensirion SHT4x, version 6 (February 2023). The chip takes
one-byte commands; a measurement command is followed, after the measurement
duration, by a 6-byte read: temperature word, CRC, humidity word, CRC. Until
the measurement is done the chip does not acknowledge its address (section
4.5), so a read too early fails on the bus. Between commands it idles at
80 nA: there is no sleep command, and none is needed.
"""

import time

from micropython import const
from sensirion import check_words, word

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from typing import Protocol

    import roles

    class I2C(Protocol):
        """What the driver uses of machine.I2C (the sim's bus has the same)."""

        def writeto(self, addr: int, buf: bytes | bytearray) -> int: ...
        def readfrom_into(self, addr: int, buf: bytearray) -> None: ...


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

# The serial number read needs a moment; the datasheet gives no figure, so the
# constructor retries a NACKed read every ms, up to this many times.
_SERIAL_TRIES = const(10)


class SHT4x:
    """One SHT4x on an I2C bus.

    After read(): temperature (centi-°C) and humidity (centi-%RH) as ints,
    and `serial` (the chip's 32-bit serial number) from construction. A
    failed read() raises OSError and keeps the last complete reading (None
    before the first).
    """

    def __init__(self, i2c: I2C, address: int = 0x44, precision: int = HIGH) -> None:
        if not LOW <= precision <= HIGH:
            raise ValueError("precision: expected LOW, MEDIUM or HIGH (0..2)")
        self._i2c = i2c
        self._address = address
        self._command = _COMMANDS[precision : precision + 1]  # written as is by start()
        self._wait_ms = _MAX_MS[precision]
        self._buf = bytearray(6)  # every reply lands here, read() reuses it
        self.temperature: int | None = None
        self.humidity: int | None = None
        # The serial number proves the chip is there and speaks SHT4x: a reply
        # with good CRCs from a chip that knows command 0x89.
        try:
            i2c.writeto(address, b"\x89")  # _READ_SERIAL
        except OSError:
            raise OSError("no SHT4x at 0x%02x" % address) from None
        for _ in range(_SERIAL_TRIES):
            time.sleep_ms(1)
            try:
                i2c.readfrom_into(address, self._buf)
                break
            except OSError:
                pass
        else:
            raise OSError("no SHT4x at 0x%02x (no serial number)" % address)
        check_words(self._buf, 2, "SHT4x")
        self.serial = word(self._buf, 0) << 16 | word(self._buf, 1)

    def compensate(
        self, temperature: int | None, humidity: int | None, pressure: int | None
    ) -> None:
        """Nothing to correct for: the chip measures the air itself."""

    def start(self) -> int:
        """Send the measurement command; returns the ms until read() may run."""
        try:
            self._i2c.writeto(self._address, self._command)
        except OSError:
            raise OSError("SHT4x: no reply at 0x%02x" % self._address) from None
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
                "SHT4x: no reply at 0x%02x (not ready or absent)" % self._address
            ) from None
        check_words(buf, 2, "SHT4x")
        # Section 4.6: T = -45 + 175 * St / 65535 °C, RH = -6 + 125 * Srh / 65535 %.
        # In centi-units, with the fractions reduced by their common factor 5
        # (17500/65535 = 3500/13107, 12500/65535 = 2500/13107) so every product
        # stays below 2^30, a small int on every port. Rounded half up by
        # adding half the divisor; 13107 is odd, so no value is exactly half.
        self.temperature = -4500 + (3500 * word(buf, 0) + 6553) // 13107
        rh = -600 + (2500 * word(buf, 1) + 6553) // 13107
        # The formula spans -6..119 %RH; the datasheet says to crop to 0..100.
        self.humidity = 0 if rh < 0 else 10000 if rh > 10000 else rh
        return True

    def stop(self) -> None:
        """Nothing to do: the chip idles at 80 nA after each measurement."""


# The sensor contract (firmware/roles.py), held by the type checker: a driver
# without one of its functions fails `make typecheck`. Gone on the node.
if TYPE_CHECKING:

    def _is_a_sensor(driver: SHT4x) -> roles.Sensor:
        return driver

    def _takes_a_ports_bus(bus: roles.I2C) -> I2C:
        return bus
