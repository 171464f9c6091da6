"""An emulated Sensirion SHT4x (SHT40/41/45) on the sim I2C bus.

It answers one-byte commands the way the datasheet (version 6, section 4)
describes: a measurement command starts a conversion during which the chip
acknowledges nothing, not even its address; afterwards one 6-byte read
returns the temperature and humidity words, each with its CRC, and a second
read without a new command is not acknowledged. Timing follows sim.clock and
the datasheet's maximum durations (table 5), so a driver that reads after
the time start() returned passes, and one that reads earlier fails.

Raw values come from the datasheet's conversion formulas (section 4.6)
inverted: St = (T + 45) * 65535 / 175, Srh = (RH + 6) * 65535 / 125.
"""

import sim.clock
from sim.i2c import Chip
from sim.sensirion import words

_DURATION_MS = {0xFD: 8.3, 0xF6: 4.5, 0xE0: 1.6}  # high, medium, low repeatability
_READ_SERIAL = 0x89
_SOFT_RESET = 0x94


def _ticks(value: float, offset: float, span: float) -> int:
    return min(0xFFFF, max(0, round((value + offset) * 65535 / span)))


class SHT4x(Chip):
    """The chip. `ticks` = (St, Srh) overrides the raw words the next measurement gives."""

    def __init__(
        self,
        address: int = 0x44,
        *,
        temperature: float = 21.5,
        humidity: float = 45.0,
        serial: int = 0x0F1D_2C3B,
    ) -> None:
        super().__init__(address)
        self.temperature = temperature
        self.humidity = humidity
        self.serial = serial
        self.corrupt = False  # replies carry a wrong CRC while set
        self.ticks: tuple[int, int] | None = None
        self.measurements = 0  # conversions completed, for tests
        self._started: int | None = None  # sim.clock tick of the measurement command
        self._duration = 0.0
        self._reply: tuple[int, int] | None = None  # the two words the next read returns

    def _busy(self) -> bool:
        """True while a measurement runs; latches its result when it ends."""
        if self._started is None:
            return False
        if sim.clock.ticks_ms() - self._started < self._duration:
            return True
        self._started = None
        if self.ticks is not None:
            self._reply = self.ticks
        else:
            st = _ticks(self.temperature, 45.0, 175.0)
            self._reply = (st, _ticks(self.humidity, 6.0, 125.0))
        self.measurements += 1
        return False

    def write(self, data: bytes) -> bool:
        if self._busy():
            return False  # measuring: the address is not acknowledged
        if not data:
            return True  # an address-only probe
        if len(data) != 1:
            return False
        command = data[0]
        if command in _DURATION_MS:
            self._started = sim.clock.ticks_ms()
            self._duration = _DURATION_MS[command]
            self._reply = None
        elif command == _READ_SERIAL:
            self._reply = (self.serial >> 16, self.serial & 0xFFFF)
        elif command == _SOFT_RESET:
            self._reply = None
        else:
            return False  # an unknown command is not acknowledged
        return True

    def read(self, n: int) -> bytes | None:
        if self._busy() or self._reply is None:
            return None
        reply = words(*self._reply, corrupt=self.corrupt)
        self._reply = None  # a reply is read once
        return (reply + b"\xff" * n)[:n]  # beyond the reply the bus reads idle-high


# The sim board's part for this sensor (sim/port.py): the chip, and which of
# the world's air quantities it measures (its constructor's keywords).
PART = (SHT4x, ("temperature", "humidity"))
