"""The SHT3x and SHT4x drivers (firmware/sht3x.py, sht4x.py, on sensirion_rht.py)
against their emulated chips (sim/sht3x.py, sim/sht4x.py).

Both run under the real MicroPython unix port (mp_sensirion_rht.py prints one
JSON line per case). tests/sim/test_sht3x_reference.py holds the emulated
SHT3x to Sensirion's own driver.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.micropython import centi, one, results

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Chip:
    name: str
    keyword: str  # the constructor's measurement level
    rh: tuple[int, int]  # the datasheet's humidity offset and span, %RH
    waits: dict[int, int]  # level -> ms start() returns
    identity: int  # what the identification read gives
    known: dict[tuple[int, int], tuple[int | None, int]]  # (St, Srh) -> (centi-°C, centi-%RH)


CHIPS = {
    "sht4x": Chip(
        name="SHT4x",
        keyword="precision",
        rh=(-6, 125),  # section 4.6, cropped to 0..100
        waits={0: 2, 1: 5, 2: 9},  # table 5's maximum durations 1.6, 4.5, 8.3 ms, rounded up
        identity=0x8BADF00D,  # the serial number the emulated chip was given
        known={
            (0, 0): (-4500, 0),  # -45 °C; -6 %RH cropped to 0
            (0xFFFF, 0xFFFF): (13000, 10000),  # 130 °C; 119 %RH cropped to 100
            (26214, 26214): (2500, 4400),  # 26214 / 65535 = 0.4 exactly
            (3146, 3146): (None, 0),  # -6 + 125 * 3146 / 65535 = 0.0006 %RH
            (55574, 55574): (None, 10000),  # 100.0002 %RH
        },
    ),
    "sht3x": Chip(
        name="SHT3x",
        keyword="repeatability",
        rh=(0, 100),  # section 4.13: spans 0..100 exactly
        waits={0: 5, 1: 7, 2: 16},  # table 4's maximum durations 4, 6, 15 ms, plus 1
        identity=0x0010,  # the status register after power-up: bit 4, a reset (table 17)
        known={
            (0, 0): (-4500, 0),
            (0xFFFF, 0xFFFF): (13000, 10000),
            (26214, 26214): (2500, 4000),  # 0.4 exactly
            (13107, 13107): (-1000, 2000),  # 0.2 exactly
        },
    ),
}


Results = tuple[Chip, dict[str, list[dict[str, Any]]]]  # the chip, and what its script printed


@pytest.fixture(scope="module", params=list(CHIPS))
def chip(request: pytest.FixtureRequest, micropython: Callable[..., str]) -> Results:
    kind: str = request.param
    return CHIPS[kind], results(micropython(HERE / "mp_sensirion_rht.py", kind))


def test_known_conversions(chip: Results) -> None:
    spec, cases = chip
    got = {(st, srh): (t, rh) for st, srh, t, rh in one(cases, "conversions")["got"]}
    for ticks, (t, rh) in spec.known.items():
        assert got[ticks][1] == rh, ticks
        if t is not None:
            assert got[ticks][0] == t, ticks


def test_every_conversion_matches_the_exact_formula(chip: Results) -> None:
    spec, cases = chip
    rows = one(cases, "conversions")["got"]
    assert len(rows) > 250
    for st, srh, t, rh in rows:
        assert t == centi(-45, 175, st), st
        assert rh == min(10000, max(0, centi(*spec.rh, srh))), srh
        assert abs(t / 100 - (-45 + 175 * st / 65535)) <= 0.005


def test_the_chip_is_identified_at_construction(chip: Results) -> None:
    spec, cases = chip
    assert one(cases, "identity")["got"] == spec.identity


# The emulator's raw value is the nearest tick (175/65535 °C, at most
# 125/65535 %RH), off by at most half a tick: 0.14 centi-°C, 0.1 centi-%RH;
# the driver's rounding adds half a unit.
T_TOLERANCE = 0.5 + 0.14
RH_TOLERANCE = 0.5 + 0.1


def test_reads_the_emulated_conditions_at_every_level(chip: Results) -> None:
    spec, cases = chip
    rows = cases["condition"]
    assert len(rows) == 15
    for case in rows:
        assert case["ms"] == spec.waits[case["level"]]
        (temperature, humidity), (t, rh) = case["want"], case["got"]
        assert abs(t - temperature * 100) <= T_TOLERANCE, case
        assert abs(rh - humidity * 100) <= RH_TOLERANCE, case


def test_corrupted_crc_is_an_error_and_keeps_the_last_reading(chip: Results) -> None:
    spec, cases = chip
    got = one(cases, "corrupt")
    assert got["error"] == f"{spec.name}: CRC mismatch"
    assert got["kept"] is True
    assert one(cases, "corrupt_identity")["error"] == f"{spec.name}: CRC mismatch"


def test_read_too_early_fails_then_the_measurement_is_there(chip: Results) -> None:
    spec, cases = chip
    got = one(cases, "early")
    assert got["error"] == f"{spec.name}: no reply at 0x44 (not ready or absent)"
    assert got["then"] == [2150, 4500]
    assert got["measurements"] == 1
    # The chip gives a result once: a second read without a command is NACKed.
    assert one(cases, "second_read")["error"] == got["error"]
    assert one(cases, "no_start")["error"] == got["error"]


def test_silent_chip_fails_start_and_read(chip: Results) -> None:
    spec, cases = chip
    got = one(cases, "silent_read")["error"]
    assert got == f"{spec.name}: no reply at 0x44 (not ready or absent)"
    assert one(cases, "silent_start")["error"] == f"{spec.name}: no reply at 0x44"


def test_absent_chip_is_refused(chip: Results) -> None:
    spec, cases = chip
    assert one(cases, "absent")["error"] == f"no {spec.name} at 0x44"
    assert one(cases, "other_address")["error"] == f"no {spec.name} at 0x45"


def test_unknown_level_is_refused(chip: Results) -> None:
    spec, cases = chip
    got = one(cases, "bad_level")["error"]
    assert got == f"{spec.keyword}: expected LOW, MEDIUM or HIGH (0..2)"


def test_read_allocates_nothing(chip: Results) -> None:
    _, cases = chip
    got = one(cases, "alloc")
    assert got["read"] == [0, 0, 0]
    assert got["values"] == [-1230, 8760]
