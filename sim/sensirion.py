"""Reply framing of emulated Sensirion chips: 16-bit words, each with its CRC-8.

The CRC is computed here from its definition, independently of the
firmware's sensirion.py, so a mistake in one is caught by the other.
RHTChip is what the emulated SHT3x and SHT4x share.
"""

import sim.clock
from sim.i2c import Chip


def crc8(data: bytes) -> int:
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc << 1) ^ 0x31 if crc & 0x80 else crc << 1
        crc &= 0xFF
    return crc


def words(*values: int, corrupt: bool = False) -> bytes:
    """Big-endian words, each followed by its CRC; corrupt flips the last CRC."""
    out = bytearray()
    for v in values:
        pair = bytes(((v >> 8) & 0xFF, v & 0xFF))
        out += pair
        out.append(crc8(pair))
    if corrupt and out:
        out[-1] ^= 0xFF
    return bytes(out)


def _ticks(value: float, offset: float, span: float) -> int:
    return min(0xFFFF, max(0, round((value + offset) * 65535 / span)))


class RHTChip(Chip):
    """What the emulated SHT3x and SHT4x share: a measurement that, once begun,
    keeps the chip from acknowledging until it ends, then one reply of its two
    words, read once. `ticks` = (St, Srh) overrides the raw words the next
    measurement gives; otherwise they come from the air set on the chip, by the
    datasheets' conversion formulas inverted: St = (T + 45) * 65535 / 175 and
    Srh = (RH - RH_OFFSET) * 65535 / RH_SPAN.
    """

    RH_OFFSET = 0.0  # %RH at Srh = 0
    RH_SPAN = 100.0  # %RH from Srh = 0 to 65535

    def __init__(self, address: int, temperature: float, humidity: float) -> None:
        super().__init__(address)
        self.temperature = temperature
        self.humidity = humidity
        self.corrupt = False  # replies carry a wrong CRC while set
        self.ticks: tuple[int, int] | None = None
        self.measurements = 0  # conversions completed, for tests
        self._started: int | None = None  # sim.clock tick of the measurement command
        self._duration = 0.0
        self._stretch = False  # the bus is held until the end: a read gets the result
        self._reply: tuple[int, ...] | None = None  # the words the next read returns

    def measure(self, duration_ms: float, *, stretch: bool = False) -> None:
        """A measurement command: the result is there duration_ms from now."""
        self._started = sim.clock.ticks_ms()
        self._duration = duration_ms
        self._stretch = stretch
        self._reply = None

    def idle(self) -> None:
        """A reset: any measurement and any reply are gone."""
        self._started = None
        self._reply = None

    def reply(self, *values: int) -> None:
        """What the next read returns: these words, each with its CRC."""
        self._reply = values

    def busy(self) -> bool:
        """True while a measurement runs; latches its result when it ends."""
        if self._started is None:
            return False
        if not self._stretch and sim.clock.ticks_ms() - self._started < self._duration:
            return True
        self._started = None
        if self.ticks is not None:
            self._reply = self.ticks
        else:
            st = _ticks(self.temperature, 45.0, 175.0)
            self._reply = (st, _ticks(self.humidity, -self.RH_OFFSET, self.RH_SPAN))
        self.measurements += 1
        return False

    def read(self, n: int) -> bytes | None:
        if self.busy() or self._reply is None:
            return None
        reply = words(*self._reply, corrupt=self.corrupt)
        self._reply = None  # a reply is read once
        return (reply + b"\xff" * n)[:n]  # beyond the reply the bus reads idle-high
