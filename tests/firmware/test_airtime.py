"""LoRa time on air against Semtech's published figures, on CPython and MicroPython.

Published figures used (numbers only):
- Semtech's SX1261 LoRa Calculator outputs, as recorded in micropython-lib's
  micropython/lora/tests/test_time_on_air.py (the SF7..SF12 cases, where
  the SX1261 and SX1276 formulas agree);
- The Things Network forum, "About Duty Cycle and sub-bands": a 17-byte
  LoRaWAN uplink at SF12/125 kHz, 1318.9 ms in the TTN console;
- 20 bytes at SF7/125 kHz, CR 4/5, 8-symbol preamble: 56.576 ms.
Every other case is checked against the datasheet formula written out
below independently, in floats with math.ceil.
"""

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meteolink.firmware import airtime
from meteolink.firmware.dutycycle import DutyCycle
from tests.support.tools import ROOT

EXACT_BW_KHZ = {
    "7.8": 500 / 64,
    "10.4": 500 / 48,
    "15.6": 500 / 32,
    "20.8": 500 / 24,
    "31.25": 500 / 16,
    "41.7": 500 / 12,
    "62.5": 500 / 8,
    "125": 125.0,
    "250": 250.0,
    "500": 500.0,
}


def reference_us(
    pl: int, sf: int, bw: str, cr: int, preamble: int, explicit: bool, crc: bool
) -> float:
    """SX1276 datasheet 4.1.1.7, as printed, in floats."""
    t_sym = (1 << sf) / (EXACT_BW_KHZ[bw] * 1000)
    de = 1 if t_sym > 0.016 else 0
    ih = 0 if explicit else 1
    n = math.ceil((8 * pl - 4 * sf + 28 + 16 * crc - 20 * ih) / (4 * (sf - 2 * de)))
    payload_symbols = 8 + max(n * cr, 0)
    return (preamble + 4.25 + payload_symbols) * t_sym * 1e6


# (payload, sf, bw kHz, cr, preamble, explicit, crc, published ms)
PUBLISHED = [
    (20, 7, "125", 5, 8, True, True, 56.576),
    (17, 12, "125", 5, 8, True, True, 1318.9),  # TTN console, shown to 0.1 ms
    # Semtech calculator, via micropython-lib's tests
    (1, 12, "500", 5, 8, True, True, 206.848),
    (64, 12, "500", 5, 12, True, True, 649.216),
    (1, 12, "500", 5, 8, True, False, 165.888),
    (192, 12, "500", 5, 8, True, True, 1476.608),
    (16, 12, "500", 5, 12, False, False, 280.576),
    (1, 8, "125", 6, 8, True, True, 53.760),
    (3, 8, "125", 6, 8, True, True, 66.048),
    (3, 8, "125", 6, 8, True, False, 53.760),
    (5, 8, "125", 6, 8, True, False, 66.048),
    (253, 8, "125", 6, 8, True, True, 827.904),
    (5, 8, "125", 6, 12, False, True, 61.952),
    (10, 8, "125", 6, 12, False, True, 86.528),
    (253, 8, "125", 6, 12, False, True, 823.808),
]

# The calculator's narrow-bandwidth cases round the bandwidth (7.81 kHz for
# 7.8125): their symbol counts are exact, their times 0.03 % off.
# (payload, sf, bw, cr, preamble, explicit, crc, calculator symbols, ms)
NARROW = [
    (253, 12, "7.8", 8, 128, True, True, 548.25, 287532.907),
    (253, 12, "7.8", 8, 1000, True, True, 1420.25, 744858.387),
    (16, 11, "10.4", 7, 25, True, True, 65.25, 12824.568),
    (16, 11, "10.4", 7, 25, False, False, 58.25, 11448.752),
]


@pytest.mark.parametrize(("pl", "sf", "bw", "cr", "pre", "explicit", "crc", "ms"), PUBLISHED)
def test_published_values(
    pl: int, sf: int, bw: str, cr: int, pre: int, explicit: bool, crc: bool, ms: float
) -> None:
    us = airtime.time_on_air_us(pl, sf, bw, cr, pre, explicit, crc)
    assert abs(us - ms * 1000) <= (50 if ms == 1318.9 else 0)
    assert us == round(reference_us(pl, sf, bw, cr, pre, explicit, crc))


@pytest.mark.parametrize(
    ("pl", "sf", "bw", "cr", "pre", "explicit", "crc", "symbols", "ms"), NARROW
)
def test_narrow_bandwidths(
    pl: int,
    sf: int,
    bw: str,
    cr: int,
    pre: int,
    explicit: bool,
    crc: bool,
    symbols: float,
    ms: float,
) -> None:
    assert airtime.ldro_needed(sf, bw)
    x4 = airtime.symbols_x4(pl, sf, cr, pre, explicit, crc, ldro=True)
    assert x4 == 4 * symbols
    us = airtime.time_on_air_us(pl, sf, bw, cr, pre, explicit, crc)
    assert us == x4 * airtime.symbol_us(sf, bw) // 4
    assert abs(us / (ms * 1000) - 1) < 0.0005


def test_the_projects_frames() -> None:
    """The 28-byte nine-value reading and its 32-byte form with a MIC."""
    got = {sf: (airtime.time_on_air_us(28, sf), airtime.time_on_air_us(32, sf)) for sf in (7, 12)}
    assert got == {7: (66_816, 71_936), 12: (1_646_592, 1_810_432)}


@pytest.mark.parametrize(
    ("sf", "bw", "needed"),
    [
        (10, "125", False),
        (11, "125", True),  # 16.384 ms symbols
        (12, "125", True),
        (11, "250", False),
        (12, "250", True),
        (12, "500", False),
        (10, "41.7", True),  # 24.6 ms
        (9, "41.7", False),  # 12.3 ms
    ],
)
def test_low_data_rate_optimisation_rule(sf: int, bw: str, needed: bool) -> None:
    assert airtime.ldro_needed(sf, bw) is needed
    assert (airtime.symbol_us(sf, bw) > 16_000) is needed


@pytest.mark.parametrize(
    ("label", "divisor"),
    [("7.8", 64), (7.81, 64), ("10.4", 48), (10.42, 48), (41.67, 12), (62.5, 8), (125, 4)],
)
def test_bandwidth_labels_of_both_datasheets(label: float | str, divisor: int) -> None:
    assert airtime.bw_divisor(label) == divisor


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sf": 5}, "spreading factor"),
        ({"sf": 13}, "spreading factor"),
        ({"sf": 6}, "implicit header"),
        ({"cr": 4}, "cr must be 5..8"),
        ({"cr": 9}, "cr must be 5..8"),
        ({"bw_khz": 100}, "not a LoRa bandwidth"),
        ({"bw_khz": 0}, "not a LoRa bandwidth"),
        ({"preamble": -1}, "preamble"),
        ({"payload_len": 256}, "0..255"),
    ],
)
def test_out_of_range(kwargs: dict[str, int], message: str) -> None:
    args: dict[str, int] = {"payload_len": 10} | kwargs
    with pytest.raises(ValueError, match=message):
        airtime.time_on_air_us(**args)  # type: ignore[arg-type]


def test_sf6_in_implicit_header_mode() -> None:
    us = airtime.time_on_air_us(10, 6, 125, 5, 8, explicit=False)
    assert us == round(reference_us(10, 6, "125", 5, 8, False, True))


@given(
    st.integers(0, 255),
    st.integers(7, 12),
    st.sampled_from(sorted(EXACT_BW_KHZ)),
    st.integers(5, 8),
    st.integers(6, 65535),
    st.booleans(),
    st.booleans(),
)
def test_formula_matches_the_float_reference(
    pl: int, sf: int, bw: str, cr: int, pre: int, explicit: bool, crc: bool
) -> None:
    us = airtime.time_on_air_us(pl, sf, bw, cr, pre, explicit, crc)
    assert us == round(reference_us(pl, sf, bw, cr, pre, explicit, crc))
    if pl:
        assert us >= airtime.time_on_air_us(pl - 1, sf, bw, cr, pre, explicit, crc)


MP_SCRIPT = """\
import json
import airtime
for case in json.loads(%r):
    print(airtime.time_on_air_us(*case))
print(airtime.symbols_x4(253, 12, 8, 128, True, True, True))
print(airtime.ldro_needed(11, 125), airtime.ldro_needed(10, "125"))
"""


def test_same_values_on_micropython(micropython: Callable[..., str], tmp_path: Path) -> None:
    cases: list[list[Any]] = [list(c[:7]) for c in PUBLISHED] + [list(c[:7]) for c in NARROW]
    cases += [[28, sf, 125] for sf in range(7, 13)] + [[32, sf, 125] for sf in range(7, 13)]
    script = tmp_path / "mp_airtime_check.py"
    script.write_text(MP_SCRIPT % json.dumps(cases), encoding="utf-8")
    out = micropython(script).split()
    want = [str(airtime.time_on_air_us(*c)) for c in cases]
    assert out == [*want, "2193", "True", "False"]  # 548.25 symbols


def test_docs_table_is_what_the_code_gives() -> None:
    """docs/lora.md's airtime table: airtime, readings an hour at 1 %, and
    what the limiter admits back to back, for 28 and 32 bytes."""
    text = (ROOT / "docs" / "lora.md").read_text(encoding="utf-8")
    row = re.compile(r"^\| SF(\d+) \| ([\d.]+) ms \| ([\d.]+) ms((?: \| \d+){4}) \|$", re.M)
    rows = row.findall(text)
    assert [int(r[0]) for r in rows] == list(range(7, 13))
    for sf, ms28, ms32, counts in rows:
        sf_ = int(sf)
        air = [airtime.time_on_air_us(n, sf_) for n in (28, 32)]
        assert [ms28, ms32] == ["%.3f" % (a / 1000) for a in air]
        admitted = []
        for a in air:
            dc, k = DutyCycle(), 0
            while dc.wait_s(868_100_000, a, 0) == 0:
                dc.spend(868_100_000, a, 0)
                k += 1
            admitted.append(k)
        assert [int(c) for c in counts.split("|")[1:]] == [
            *(36_000_000 // a for a in air),
            *admitted,
        ]
