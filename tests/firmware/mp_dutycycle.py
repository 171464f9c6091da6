# Runs under the MicroPython unix port (tests/firmware/test_dutycycle.py), and
# under CPython with firmware/ on the path, which must print the same lines:
# the duty-cycle limiter's decisions in a few scenarios, one JSON line each.

from airtime import time_on_air_us
from dutycycle import STATE_SIZE, DutyCycle

from tests.firmware.mp_support import emit

G1 = 868_100_000  # 1 %
G3 = 869_525_000  # 10 %
K = 864_100_000  # 0.1 %
AIR = time_on_air_us(28, 12)  # a 28-byte reading at SF12/125 kHz: 1.65 s


def fill(dc, freq, t0, every, limit_s):
    """Send AIR every `every` s from t0 while the limiter lets it go at once."""
    t = t0
    n = 0
    while t < t0 + limit_s:
        w = dc.wait_s(freq, AIR, t)
        if w:
            return n, t, w
        dc.spend(freq, AIR, t)
        n += 1
        t += every
    return n, t, 0


# 1 %: frames every 5 s until 36 s of the hour are used, then a wait that
# ends when the oldest frame has left the window.
dc = DutyCycle()
n, t, w = fill(dc, G1, 1000, 5, 3600)
emit(
    "one_percent",
    air=AIR,
    n=n,
    first=1000,
    blocked_at=t,
    wait=w,
    used=dc.used_us(G1, t),
    before=dc.wait_s(G1, AIR, t + w - 1),
    after=dc.wait_s(G1, AIR, t + w),
    other_band=dc.wait_s(G3, AIR, t),
)

# 10 %: the same cadence goes on ten times as long.
dc = DutyCycle()
n, t, w = fill(dc, G3, 50_000, 5, 7200)
emit("ten_percent", n=n, blocked_at=t, wait=w, used=dc.used_us(G3, t))

# Deep sleep: the state dumped and restored gives the same decisions, now
# and after both go on spending the same airtime.
dc = DutyCycle()
fill(dc, G1, 7200, 20, 600)
fill(dc, G3, 7300, 2, 600)
state = dc.dump()
woke = DutyCycle(state)
same_bytes = woke.dump() == state
times = (7700, 8000, 9000, 10_000, 10_800, 10_900, 11_000)
later = (11_000, 11_100, 12_000, 14_000, 14_700, 15_000)
decisions = []
for d in (dc, woke):
    first = [d.wait_s(f, AIR, t) for f in (G1, G3) for t in times]
    d.spend(G1, AIR, 11_000)
    d.spend(G3, AIR, 11_000)
    decisions.append(first + [d.wait_s(f, AIR, t) for f in (G1, G3) for t in later])
emit(
    "deep_sleep",
    size=len(state),
    state_size=STATE_SIZE,
    same_bytes=same_bytes,
    before=decisions[0],
    after=decisions[1],
)

# Drops: a wait longer than the caller's limit is a drop, and counted.
dc = DutyCycle()
fill(dc, G1, 0, 2, 3600)
decisions = [
    dc.admit(G1, AIR, 100, 60),
    dc.admit(G1, AIR, 100, 4000),
    dc.admit(K, 4_000_000, 100, 9999),
]
woke = DutyCycle(dc.dump())
emit("drops", decisions=decisions, dropped=dc.dropped, restored=woke.dropped)

# The 0.1 % band: 3.6 s an hour, so a 4 s frame can never go.
dc = DutyCycle()
emit("never", wait=dc.wait_s(K, 4_000_000, 0), fits=dc.wait_s(K, 3_600_000, 0))

# Out of band: the radio must not transmit there.
errors = []
for freq, bw in ((433_175_000, 0), (915_000_000, 0), (868_650_000, 0), (868_550_000, 125_000)):
    try:
        DutyCycle().wait_s(freq, AIR, 0) if not bw else DutyCycle().band(freq, bw)
        errors.append(None)
    except ValueError as e:
        errors.append(str(e))
bands = [DutyCycle().band(f) for f in (863_100_000, 866_000_000, G1, 868_900_000, G3, 869_800_000)]
emit("bands", errors=errors, bands=bands)

# A clock found behind the state: the history is taken as just happened.
dc = DutyCycle()
fill(dc, G1, 100_000, 2, 3600)
emit("clock_back", wait=dc.wait_s(G1, AIR, 500))

# A restored state of another size or version is refused.
try:
    DutyCycle(bytes(10))
    emit("bad_state", error=None)
except ValueError as e:
    emit("bad_state", error=str(e))
