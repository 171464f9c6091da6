"""What Sensirion's temperature and humidity chips share: the SHT3x and the SHT4x.

Both measure in single shot on command, do not acknowledge a read until the
measurement is done (so a read too early fails on the bus), then give one
6-byte reply: the temperature word, its CRC, the humidity word, its CRC.
Both convert T = -45 + 175 * St / 65535 °C; their humidity formulas differ
only in offset and span (the SHT3x: 0 + 100 * Srh / 65535 %RH; the SHT4x:
-6 + 125 * Srh / 65535 %RH, cropped to 0..100 as its datasheet says). Each
driver gives its name, its command and wait, its humidity constants, and
how it proves at construction that the chip is there.
"""

import time

from micropython import const
from sensirion import check_words, word

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from typing import Protocol

    class I2C(Protocol):
        """What the drivers use of machine.I2C (the sim's bus has the same)."""

        def writeto(self, addr: int, buf: bytes | bytearray) -> int: ...
        def readfrom_into(self, addr: int, buf: bytearray | memoryview) -> None: ...


# An identification reply needs a moment after its command; neither datasheet
# gives a figure, so the constructor retries a NACKed read every ms, this often.
_ID_TRIES = const(10)


class SensirionRHT:
    """One Sensirion temperature and humidity chip on an I2C bus (a driver's base).

    After read(): temperature (centi-°C) and humidity (centi-%RH) as ints. A
    failed read() raises OSError and keeps the last complete reading (None
    before the first).
    """

    NAME = ""  # the chip, as errors name it
    # Humidity in centi-%RH = RH_OFFSET + (RH_SPAN * Srh + 6553) // 13107: the
    # datasheet's formula with its fraction reduced by 5, as for temperature.
    RH_OFFSET = 0
    RH_SPAN = 0

    def __init__(self, i2c: I2C, address: int, command: bytes, wait_ms: int) -> None:
        self._i2c = i2c
        self._address = address
        self._command = command  # written as is by start()
        self._wait_ms = wait_ms
        self._buf = bytearray(6)  # every reply lands here, read() reuses it
        self.temperature: int | None = None
        self.humidity: int | None = None

    def _identify(self, command: bytes, words: int, what: str) -> memoryview:
        """Send an identification command and fetch its reply of `words` checked
        words: proof that the chip is there and speaks this command set."""
        address = self._address
        try:
            self._i2c.writeto(address, command)
        except OSError:
            raise OSError("no %s at 0x%02x" % (self.NAME, address)) from None
        reply = memoryview(self._buf)[: 3 * words]
        for _ in range(_ID_TRIES):
            time.sleep_ms(1)
            try:
                self._i2c.readfrom_into(address, reply)
                break
            except OSError:
                pass
        else:
            raise OSError("no %s at 0x%02x (no %s)" % (self.NAME, address, what))
        check_words(self._buf, words, self.NAME)
        return reply

    def compensate(
        self, temperature: int | None, humidity: int | None, pressure: int | None
    ) -> None:
        """Nothing to correct for: the chip measures the air itself."""

    def start(self) -> int:
        """Send the measurement command; returns the ms until read() may run."""
        try:
            self._i2c.writeto(self._address, self._command)
        except OSError:
            raise OSError("%s: no reply at 0x%02x" % (self.NAME, self._address)) from None
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
                "%s: no reply at 0x%02x (not ready or absent)" % (self.NAME, self._address)
            ) from None
        check_words(buf, 2, self.NAME)
        # In centi-units, with the fractions reduced by their common factor 5
        # (17500/65535 = 3500/13107, 12500/65535 = 2500/13107, 10000/65535 =
        # 2000/13107) so every product stays below 2^30, a small int on every
        # port. Rounded half up by adding half the divisor; 13107 is odd, so no
        # value is exactly half.
        self.temperature = -4500 + (3500 * word(buf, 0) + 6553) // 13107
        rh = self.RH_OFFSET + (self.RH_SPAN * word(buf, 1) + 6553) // 13107
        self.humidity = 0 if rh < 0 else 10000 if rh > 10000 else rh
        return True

    def stop(self) -> None:
        """Nothing to do: the chip idles (nA) by itself after each measurement."""
