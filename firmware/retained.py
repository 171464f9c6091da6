"""What the node keeps across deep sleep: a few hundred bytes of RTC memory.

An ESP32 loses its RAM in deep sleep and reboots into main.py on waking;
its RTC memory survives sleep (not power-off). The RP2040 keeps its RAM in
light sleep, so there the same bytes simply stay in the running program.
The layout below is fixed; a CRC guards it, so memory that lost power (or
that an older firmware left) reads as empty, which the node treats as a
cold boot.

    0  magic 'ML', layout version    3 bytes
    3  flags (FLAG_* below)          1
    4  next frame counter            4
    8  counter reserved in flash     4
   12  last pressure, deci-hPa       2   (compensates the SCD41 next cycle)
   14  last awake time, ms           2
   16  duty-cycle limiter state      DUTY_SIZE
   ..  backlog: count, then entries of BACKLOG_ENTRY bytes
   ..  CRC-16 of all the above       2
"""

import struct

import frames
from micropython import const

_MAGIC = b"ML\x01"
FLAG_LOW_BATTERY = const(0x01)
FLAG_BOOT = const(0x02)  # the counter jumped; the next frame must say so
DUTY_SIZE = const(274)  # dutycycle.STATE_SIZE (a test checks they agree)
BACKLOG_ENTRY = const(40)  # taken-at seconds (4), frame length (1), frame
BACKLOG_FRAME = const(BACKLOG_ENTRY - 5)  # a nine-value frame with MIC is 32
BACKLOG_MAX = const(16)
_DUTY = const(16)
_BACKLOG = const(_DUTY + DUTY_SIZE)
SIZE = const(_BACKLOG + 1 + BACKLOG_ENTRY * BACKLOG_MAX + 2)


class Retained:
    """The retained bytes, with named accessors. `buf` is what the port saves."""

    def __init__(self, data: bytes | bytearray | None) -> None:
        self.buf = bytearray(SIZE)
        self.valid = False
        if data is not None and len(data) == SIZE and data[:3] == _MAGIC:
            n = SIZE - 2
            if frames.crc16(data, n) == struct.unpack_from(">H", data, n)[0]:
                self.buf[:] = data
                self.valid = True
        if not self.valid:
            self.buf[:3] = _MAGIC

    def seal(self) -> bytearray:
        """Write the CRC; returns the buffer to hand to the port."""
        n = SIZE - 2
        struct.pack_into(">H", self.buf, n, frames.crc16(self.buf, n))
        return self.buf

    def get(self, fmt: str, offset: int) -> int:
        v: int = struct.unpack_from(fmt, self.buf, offset)[0]
        return v

    def put(self, fmt: str, offset: int, value: int) -> None:
        struct.pack_into(fmt, self.buf, offset, value)

    @property
    def flags(self) -> int:
        return self.buf[3]

    @flags.setter
    def flags(self, value: int) -> None:
        self.buf[3] = value

    def duty(self) -> memoryview:
        return memoryview(self.buf)[_DUTY:_BACKLOG]

    # The backlog: frames not yet acknowledged, oldest first.

    def backlog_len(self) -> int:
        return self.buf[_BACKLOG]

    def backlog_entry(self, i: int) -> tuple[int, bytes]:
        """(taken-at seconds, frame) of entry i."""
        o = _BACKLOG + 1 + BACKLOG_ENTRY * i
        n = self.buf[o + 4]
        return self.get(">I", o), bytes(self.buf[o + 5 : o + 5 + n])

    def backlog_push(self, taken_s: int, frame: bytes | memoryview, limit: int) -> None:
        """Append, dropping the oldest entry when `limit` entries are kept."""
        n = self.buf[_BACKLOG]
        if n >= limit:
            self.backlog_drop(0)
            n -= 1
        o = _BACKLOG + 1 + BACKLOG_ENTRY * n
        self.put(">I", o, taken_s)
        self.buf[o + 4] = len(frame)
        self.buf[o + 5 : o + 5 + len(frame)] = frame
        self.buf[_BACKLOG] = n + 1

    def backlog_drop(self, i: int) -> None:
        n = self.buf[_BACKLOG]
        start = _BACKLOG + 1 + BACKLOG_ENTRY * i
        end = _BACKLOG + 1 + BACKLOG_ENTRY * n
        self.buf[start : end - BACKLOG_ENTRY] = self.buf[start + BACKLOG_ENTRY : end]
        self.buf[_BACKLOG] = n - 1


# Offsets for get()/put().
SEQ = const(4)
RESERVED = const(8)
PRESSURE = const(12)
AWAKE_MS = const(14)
