"""The EU868 duty-cycle limiter the node enforces on itself (docs/lora.md).

In 863-870 MHz a transmitter without listen-before-talk must keep, in each
sub-band, its time on air within a share of every hour (ETSI EN 300 220-2,
CEPT ERC/REC 70-03 annex 1; LoRaWAN RP002 defers to them for EU863-870):

    863.0 - 865.0 MHz   0.1 %   3.6 s an hour
    865.0 - 868.0 MHz   1 %      36 s
    868.0 - 868.6 MHz   1 %      36 s   (LoRaWAN's 868.1, 868.3, 868.5)
    868.7 - 869.2 MHz   0.1 %   3.6 s
    869.4 - 869.65 MHz  10 %    360 s   (869.525, up to 500 mW)
    869.7 - 870.0 MHz   1 %      36 s

Everything else (the gaps are alarm bands, 433 MHz, 915 MHz) is refused
with ValueError: this plan never transmits there.

The rule kept is a sliding hour, the strict reading: in no window of 3600 s
may a sub-band carry more than its share. The clock is whole seconds of a
monotonic clock the caller passes in (the RTC, which keeps counting through
deep sleep), and the whole state is one bytearray of STATE_SIZE bytes that
dump() returns and DutyCycle(state) takes back: the node keeps it in RTC
memory, which survives deep sleep when the rest of RAM does not.

How the hour is kept without a log of every frame: time is cut into
buckets of _BUCKET_S = 180 s, and each sub-band keeps the airtime of the
frames that started in each of the last _RING buckets, rounded up to
whole units: 1 ms in the 0.1 % and 1 % sub-bands, 8 ms in the 10 % one
(a u16 slot must hold more than the sub-band's whole hour). A frame may
go when the last _SPAN = 21 buckets and the current one, plus the frame,
stay within the share. Why that is
safe: a frame that overlaps an hour window together with a later frame
started at most 3600 s + its own length + 1 s (the clock's resolution)
before that later one, and 21 * 180 s = 3780 s covers 3600 s plus any frame
up to _MAX_AIR_US (179 s) plus that second. Error bound, always against the
node: the counted span is 3780 to 3960 s rather than 3600 s, so a frame may
wait up to 360 s longer than an exact sliding hour would make it, and every
frame is charged up to one unit (1 ms; 8 ms at 10 %) more than its airtime.

If the clock is found behind the state (a clock that was reset while RTC
memory was kept), the stored history is taken as having just happened:
still safe, and free again within the hour.
"""

try:
    from micropython import const  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # CPython

    def const(x: int) -> int:  # type: ignore[misc, unused-ignore]
        return x


WINDOW_S = const(3600)
_BUCKET_S = const(180)
_SPAN = const(21)  # buckets counted behind the current one: 21 * 180 s >= 3600 s + 180 s
_RING = const(22)  # _SPAN + the current bucket
_MS = const(1000)  # units of airtime, in µs, rounded up
_8MS = const(8000)
_FULL = const(0xFFFF)  # a saturated bucket: more than any sub-band's share
_MAX_AIR_US = const(179_000_000)  # 180 s of margin minus the clock's 1 s
_MAGIC = const(0xDC)
_VERSION = const(1)  # bump when the bucket geometry or layout changes
_HEADER = const(10)  # magic, version, current bucket (u32), dropped (u32)

# (lowest Hz, highest Hz, share of the hour in units, unit in µs)
BANDS = (
    (863_000_000, 865_000_000, 3_600, _MS),  # 0.1 %: 3.6 s
    (865_000_000, 868_000_000, 36_000, _MS),  # 1 %: 36 s
    (868_000_000, 868_600_000, 36_000, _MS),  # 1 %
    (868_700_000, 869_200_000, 3_600, _MS),  # 0.1 %
    (869_400_000, 869_650_000, 45_000, _8MS),  # 10 %: 360 s
    (869_700_000, 870_000_000, 36_000, _MS),  # 1 %
)
STATE_SIZE = const(_HEADER + 2 * _RING * 6)  # 274 bytes


def band(freq_hz: int, bw_hz: int = 0) -> int:
    """Index in BANDS of the sub-band holding a channel; ValueError if none.

    With bw_hz the whole channel, freq_hz +- bw_hz / 2, must lie inside.
    """
    half = bw_hz // 2
    for i in range(len(BANDS)):
        lo, hi = BANDS[i][0], BANDS[i][1]
        if lo <= freq_hz - half and freq_hz + half <= hi:
            return i
    if bw_hz:
        raise ValueError(
            "a %d Hz wide channel at %d Hz does not fit in one EU868 sub-band:"
            " not transmitting there" % (bw_hz, freq_hz)
        )
    raise ValueError("%d Hz is outside the EU868 sub-bands: not transmitting there" % freq_hz)


def allowance_us(freq_hz: int) -> int:
    """Airtime the sub-band of freq_hz allows in any hour, in µs."""
    spec = BANDS[band(freq_hz)]
    return int(spec[2] * spec[3])


class DutyCycle:
    """Per-sub-band airtime over a sliding hour, in a state that survives deep sleep.

    Ask wait_s() (or admit(), which also decides to drop), send, then
    spend() the frame's airtime at the time it was sent. `dropped` counts
    the frames admit() refused; it is kept in the state too.
    """

    def __init__(self, state: bytes | bytearray | memoryview | None = None) -> None:
        s = bytearray(STATE_SIZE)
        if state is None:
            s[0] = _MAGIC
            s[1] = _VERSION
        else:
            if len(state) != STATE_SIZE or state[0] != _MAGIC or state[1] != _VERSION:
                raise ValueError("not a duty-cycle state of this version (%d bytes)" % len(state))
            s[:] = state
        self._s = s
        self.dropped = _u32(s, 6)

    def band(self, freq_hz: int, bw_hz: int = 0) -> int:
        """The sub-band of a channel, as the module's band()."""
        return band(freq_hz, bw_hz)

    def used_us(self, freq_hz: int, now_s: int) -> int:
        """Airtime counted against the sub-band of freq_hz at now_s, in µs."""
        b = band(freq_hz)
        total = 0
        for age in range(_RING - self._lag(_time(now_s))):
            total += self._slot(b, age)
        return int(total * BANDS[b][3])

    def wait_s(self, freq_hz: int, airtime_us: int, now_s: int) -> int:
        """0 when a frame of airtime_us may start now; else the seconds to wait.

        -1 when it never may: the frame alone is more than the sub-band's hour.
        """
        b = band(freq_hz)
        need = _units(airtime_us, BANDS[b][3])
        limit = BANDS[b][2]
        if need > limit:
            return -1
        now = _time(now_s)
        oldest = _RING - 1 - self._lag(now)  # age of the oldest counted bucket
        total = 0
        for age in range(oldest + 1):
            total += self._slot(b, age)
        # Each bucket boundary passed drops the oldest counted bucket.
        d = 0
        while total + need > limit and oldest >= 0:  # at most _RING rounds
            total -= self._slot(b, oldest)
            oldest -= 1
            d += 1
        if d == 0:
            return 0
        return int((now // _BUCKET_S + d) * _BUCKET_S - now)

    def spend(self, freq_hz: int, airtime_us: int, now_s: int) -> None:
        """Charge a frame of airtime_us that started at now_s to its sub-band."""
        b = band(freq_hz)
        need = _units(airtime_us, BANDS[b][3])
        self._advance(_time(now_s) // _BUCKET_S)
        o = _HEADER + 2 * _RING * b
        v = self._s[o] | self._s[o + 1] << 8
        v = min(v + need, _FULL)  # saturated still blocks: _FULL exceeds every share
        self._s[o] = v & 0xFF
        self._s[o + 1] = v >> 8

    def admit(self, freq_hz: int, airtime_us: int, now_s: int, max_wait_s: int) -> int:
        """The policy: the wait before sending (nap, then send and spend), or
        -1 to drop the frame (counted in `dropped`) when that wait would
        exceed max_wait_s or the frame can never go."""
        w = self.wait_s(freq_hz, airtime_us, now_s)
        if w < 0 or w > max_wait_s:
            self.dropped += 1
            return -1
        return w

    def dump(self) -> bytes:
        """The state, STATE_SIZE bytes, for RTC memory; DutyCycle(state) restores it."""
        _put_u32(self._s, 6, self.dropped)
        return bytes(self._s)

    # Layout: per sub-band _RING little-endian u16 slots by age, slot 0 the
    # bucket numbered in the header (the latest spend), slot i the one i
    # buckets before it. Ages instead of a ring index make a clock that
    # went back simple to handle: the history just stays where it is.

    def _slot(self, b: int, age: int) -> int:
        o = _HEADER + 2 * (_RING * b + age)
        return int(self._s[o] | self._s[o + 1] << 8)

    def _lag(self, now: int) -> int:
        """Buckets from the latest spend to now, capped at _RING; 0 if the
        clock is behind the state (history taken as just happened)."""
        lag = now // _BUCKET_S - _u32(self._s, 2)
        return 0 if lag < 0 else _RING if lag > _RING else lag

    def _advance(self, bucket: int) -> None:
        s = self._s
        shift = bucket - _u32(s, 2)
        if shift > 0:  # (behind: the history stays as it is, see _lag)
            step = 2 * shift if shift < _RING else 2 * _RING  # bytes each slot moves
            for b in range(len(BANDS)):
                o = _HEADER + 2 * _RING * b
                # Each slot `shift` ages older, from the old end down; the
                # newest ones start empty, the oldest fall out.
                for i in range(2 * _RING - 1, -1, -1):
                    s[o + i] = s[o + i - step] if i >= step else 0
        _put_u32(s, 2, bucket)


def _time(now_s: int) -> int:
    now = int(now_s)
    if now < 0:
        raise ValueError("time %d s: the limiter's clock starts at 0" % now)
    return now


def _units(airtime_us: int, unit: int) -> int:
    if not 0 < airtime_us <= _MAX_AIR_US:
        raise ValueError("airtime %d µs: the limiter takes 1 µs to 179 s" % airtime_us)
    return (airtime_us + unit - 1) // unit


def _u32(s: bytearray, o: int) -> int:
    return s[o] | s[o + 1] << 8 | s[o + 2] << 16 | s[o + 3] << 24


def _put_u32(s: bytearray, o: int, v: int) -> None:
    s[o] = v & 0xFF
    s[o + 1] = (v >> 8) & 0xFF
    s[o + 2] = (v >> 16) & 0xFF
    s[o + 3] = (v >> 24) & 0xFF
