"""The SHT4x driver (firmware/sht4x.py) against the emulated chip (sim/sht4x.py).

Both run under the real MicroPython unix port (mp_sht4x.py prints one JSON
line per case).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.micropython import centi, one, results

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def cases(micropython: Callable[..., str]) -> dict[str, list[dict[str, Any]]]:
    return results(micropython(HERE / "mp_sht4x.py"))


def test_known_conversions(cases: dict[str, list[dict[str, Any]]]) -> None:
    got = {(st, srh): (t, rh) for st, srh, t, rh in one(cases, "conversions")["got"]}
    assert got[(0, 0)] == (-4500, 0)  # -45 °C; -6 %RH cropped to 0
    assert got[(0xFFFF, 0xFFFF)] == (13000, 10000)  # 130 °C; 119 %RH cropped to 100
    assert got[(26214, 26214)] == (2500, 4400)  # 26214 / 65535 = 0.4 exactly
    assert got[(3146, 3146)][1] == 0  # -6 + 125 * 3146 / 65535 = 0.0006 %RH
    assert got[(55574, 55574)][1] == 10000  # 100.0002 %RH


def test_every_conversion_matches_the_exact_formula(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    rows = one(cases, "conversions")["got"]
    assert len(rows) > 250
    for st, srh, t, rh in rows:
        assert t == centi(-45, 175, st), st
        assert rh == min(10000, max(0, centi(-6, 125, srh))), srh
        assert abs(t / 100 - (-45 + 175 * st / 65535)) <= 0.005


def test_serial_number_is_read_at_construction(cases: dict[str, list[dict[str, Any]]]) -> None:
    got = one(cases, "serial")
    assert got["got"] == got["want"] == 0x8BADF00D


# The emulator's raw value is the nearest tick (175/65535 °C, 125/65535 %RH),
# off by at most half a tick: 0.13 centi-°C, 0.1 centi-%RH; the driver's
# rounding adds half a unit.
T_TOLERANCE = 0.5 + 0.14
RH_TOLERANCE = 0.5 + 0.1


def test_reads_the_emulated_conditions_at_every_precision(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    # Datasheet table 5 maximum durations (1.6, 4.5, 8.3 ms), rounded up.
    max_ms = {0: 2, 1: 5, 2: 9}
    rows = cases["condition"]
    assert len(rows) == 15
    for case in rows:
        assert case["ms"] == max_ms[case["precision"]]
        (temperature, humidity), (t, rh) = case["want"], case["got"]
        assert abs(t - temperature * 100) <= T_TOLERANCE, case
        assert abs(rh - humidity * 100) <= RH_TOLERANCE, case


def test_corrupted_crc_is_an_error_and_keeps_the_last_reading(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    got = one(cases, "corrupt")
    assert got["error"] == "SHT4x: CRC mismatch"
    assert got["kept"] is True
    assert one(cases, "corrupt_serial")["error"] == "SHT4x: CRC mismatch"


def test_read_too_early_fails_then_the_measurement_is_there(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    got = one(cases, "early")
    assert got["error"] == "SHT4x: no reply at 0x44 (not ready or absent)"
    assert got["then"] == [2150, 4500]
    assert got["measurements"] == 1
    # The chip gives a result once: a second read without a command is NACKed.
    assert one(cases, "second_read")["error"] == got["error"]
    assert one(cases, "no_start")["error"] == got["error"]


def test_silent_chip_fails_start_and_read(cases: dict[str, list[dict[str, Any]]]) -> None:
    assert one(cases, "silent_read")["error"] == "SHT4x: no reply at 0x44 (not ready or absent)"
    assert one(cases, "silent_start")["error"] == "SHT4x: no reply at 0x44"


def test_absent_chip_is_refused(cases: dict[str, list[dict[str, Any]]]) -> None:
    assert one(cases, "absent")["error"] == "no SHT4x at 0x44"
    assert one(cases, "other_address")["error"] == "no SHT4x at 0x45"


def test_unknown_precision_is_refused(cases: dict[str, list[dict[str, Any]]]) -> None:
    assert one(cases, "bad_precision")["error"] == "precision: expected LOW, MEDIUM or HIGH (0..2)"


def test_read_allocates_nothing(cases: dict[str, list[dict[str, Any]]]) -> None:
    got = one(cases, "alloc")
    assert got["read"] == [0, 0, 0]
    assert got["values"] == [-1230, 8760]
