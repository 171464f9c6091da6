"""The EU868 duty-cycle limiter, under MicroPython and CPython.

The scenarios in mp_dutycycle.py run under the MicroPython unix port and,
unchanged, under CPython: both must decide alike. The property test checks
the promise itself against an exact computation from the log of sends:
no hour-long window ever holds more airtime than the sub-band allows.
"""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meteolink.firmware import airtime, dutycycle
from meteolink.firmware.dutycycle import DutyCycle
from tests.support.micropython import named
from tests.support.tools import FIRMWARE, ROOT

HERE = Path(__file__).parent
SCRIPT = HERE / "mp_dutycycle.py"
HOUR_US = 3600 * 10**6
G1 = 868_100_000  # 1 %
G3 = 869_525_000  # 10 %
K = 864_100_000  # 0.1 %
AIR = airtime.time_on_air_us(28, 12)
SLACK_S = 360  # the limiter's stated bound: a wait at most this much past the exact one


@pytest.fixture(scope="module")
def mp(micropython: Callable[..., str]) -> dict[str, dict[str, Any]]:
    return named(micropython(SCRIPT))


def test_cpython_decides_as_micropython(mp: dict[str, dict[str, Any]]) -> None:
    env = dict(os.environ, PYTHONPATH=f"{FIRMWARE}:{ROOT}")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, check=True
    )
    assert named(proc.stdout) == mp


def test_one_percent_band_admits_36_s_then_waits(mp: dict[str, dict[str, Any]]) -> None:
    r = mp["one_percent"]
    air, n = r["air"], r["n"]
    assert air == AIR == 1_646_592
    # As many 1.65 s frames as fit in 36 s, not one more.
    assert n * air <= 36 * 10**6 < (n + 1) * air
    assert n == 21 and r["blocked_at"] == r["first"] + 5 * n
    assert n * air <= r["used"] < n * (air + 1000)  # charged up to 1 ms more a frame
    # The wait ends once the oldest frame has left the hour, within the bound.
    free_at = r["blocked_at"] + r["wait"]
    assert r["first"] + 3600 <= free_at <= r["first"] + 3600 + SLACK_S
    assert r["before"] > 0 and r["after"] == 0
    assert r["other_band"] == 0  # sub-bands are counted apart


def test_ten_percent_band_allows_ten_times_more(mp: dict[str, dict[str, Any]]) -> None:
    r = mp["ten_percent"]
    assert r["n"] * AIR <= 360 * 10**6 < (r["n"] + 1) * AIR
    assert r["n"] >= 10 * mp["one_percent"]["n"]
    assert r["wait"] > 0


def test_state_survives_deep_sleep(mp: dict[str, dict[str, Any]]) -> None:
    r = mp["deep_sleep"]
    assert r["size"] == r["state_size"] == dutycycle.STATE_SIZE <= 300
    assert r["same_bytes"]
    assert r["before"] == r["after"]
    assert any(r["before"]) and 0 in r["before"]  # the scenario does block, and frees


def test_drops_are_counted_and_kept(mp: dict[str, dict[str, Any]]) -> None:
    r = mp["drops"]
    too_long, waits, never = r["decisions"]
    assert too_long == -1 and waits > 60 and never == -1
    assert r["dropped"] == r["restored"] == 2


def test_frame_longer_than_the_hour_share_never_goes(mp: dict[str, dict[str, Any]]) -> None:
    assert mp["never"] == {"case": "never", "wait": -1, "fits": 0}


def test_out_of_band_frequencies_are_refused(mp: dict[str, dict[str, Any]]) -> None:
    r = mp["bands"]
    assert all(e is not None and "not transmitting there" in e for e in r["errors"])
    assert "433175000 Hz" in r["errors"][0] and "915000000 Hz" in r["errors"][1]
    assert r["bands"] == [0, 1, 2, 3, 4, 5]


def test_clock_behind_the_state_stays_safe(mp: dict[str, dict[str, Any]]) -> None:
    assert 0 < mp["clock_back"]["wait"] <= 3600 + SLACK_S


def test_foreign_state_is_refused(mp: dict[str, dict[str, Any]]) -> None:
    assert "duty-cycle state" in mp["bad_state"]["error"]


@pytest.mark.parametrize(
    ("freq", "bw", "share"),
    [
        (863_000_000, 0, 3_600_000),
        (864_900_000, 125_000, 3_600_000),
        (865_100_000, 125_000, 36_000_000),
        (867_900_000, 125_000, 36_000_000),
        (868_100_000, 125_000, 36_000_000),
        (868_500_000, 125_000, 36_000_000),
        (868_800_000, 125_000, 3_600_000),
        (869_525_000, 250_000, 360_000_000),
        (869_850_000, 125_000, 36_000_000),
    ],
)
def test_sub_band_shares(freq: int, bw: int, share: int) -> None:
    dutycycle.band(freq, bw)  # the whole channel fits
    assert dutycycle.allowance_us(freq) == share


@pytest.mark.parametrize(
    ("freq", "bw"),
    [
        (433_175_000, 0),
        (862_999_999, 0),
        (868_650_000, 0),  # 868.6-868.7: alarms
        (869_300_000, 0),  # 869.2-869.4: alarms, social alarms
        (869_675_000, 0),  # 869.65-869.7: alarms
        (870_000_001, 0),
        (915_000_000, 0),
        (868_550_000, 125_000),  # centre inside, edge outside
        (869_600_000, 125_000),
    ],
)
def test_outside_the_sub_bands(freq: int, bw: int) -> None:
    with pytest.raises(ValueError, match="not transmitting there"):
        dutycycle.band(freq, bw)


@pytest.mark.parametrize("air", [0, -5, 179_000_001])
def test_airtime_out_of_range(air: int) -> None:
    with pytest.raises(ValueError, match="airtime"):
        DutyCycle().spend(G1, air, 0)


def max_window_us(log: list[tuple[int, int]]) -> int:
    """The most airtime any window [t, t + 1 h) holds, exactly.

    log: (start s, airtime µs). The sum of overlaps is piecewise linear in t,
    so its maximum lies where a window edge meets a frame edge.
    """
    spans = [(s * 10**6, s * 10**6 + a) for s, a in log]
    candidates = {t for b, e in spans for t in (b, e, b - HOUR_US, e - HOUR_US)}
    best = 0
    for t in candidates:
        held = sum(max(0, min(e, t + HOUR_US) - max(b, t)) for b, e in spans)
        best = max(best, held)
    return best


FREQS = (K, G1, 865_500_000, G3, 868_900_000)
STEPS = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 20), st.integers(0, 1500)),  # s since the last attempt
        st.sampled_from((False, False, False, True)),  # on the other frequency
        st.integers(1_000, 4_000_000),  # airtime, µs
        st.one_of(st.sampled_from((0, 60, 4000)), st.integers(0, 4000)),  # max_wait_s
        st.booleans(),  # a deep sleep before this attempt
    ),
    max_size=150,
)


@settings(max_examples=300)
@given(st.integers(0, 10**8), st.sampled_from(FREQS), st.sampled_from(FREQS), STEPS)
def test_no_hour_ever_holds_more_than_the_share(
    start: int, main: int, other: int, steps: list[tuple[int, bool, int, int, bool]]
) -> None:
    dc = DutyCycle()
    now = start
    logs: dict[int, list[tuple[int, int]]] = {main: [], other: []}
    for gap, elsewhere, air, max_wait, sleep in steps:
        freq = other if elsewhere else main
        now += gap
        if sleep:
            dc = DutyCycle(dc.dump())
        wait = dc.admit(freq, air, now, max_wait)
        if wait < 0:
            continue
        assert wait <= max_wait
        now += wait  # the node naps, then sends
        assert dc.wait_s(freq, air, now) == 0
        dc.spend(freq, air, now)
        logs[freq].append((now, air))
    for freq, log in logs.items():
        assert max_window_us(log) <= dutycycle.allowance_us(freq)


def test_throughput_is_close_to_the_share() -> None:
    """Sending as fast as allowed for ten hours: never over the share, and
    never held back more than the stated bound: 21 frames fill the 36 s, so
    frame i + 21 goes within 3600 s + 360 s of frame i."""
    dc = DutyCycle()
    now = 170  # a burst across a bucket boundary
    starts: list[int] = []
    while now < 36_000:
        wait = dc.admit(G1, AIR, now, 10**6)
        now += wait
        dc.spend(G1, AIR, now)
        starts.append(now)
        now += 2  # the frame itself, 1.65 s
    assert max_window_us([(t, AIR) for t in starts]) <= 36 * 10**6
    per_hour = 36 * 10**6 // AIR
    assert per_hour == 21
    gaps = [b - a for a, b in zip(starts, starts[per_hour:], strict=False)]
    assert min(gaps) >= 3600 and max(gaps) <= 3600 + SLACK_S
