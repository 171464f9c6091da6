"""The SHT3x driver (firmware/sht3x.py) against the emulated chip (sim/sht3x.py).

Both run under the real MicroPython unix port (mp_sht3x.py prints one JSON
line per case). tests/sim/test_sht3x_reference.py holds the emulated chip to
Sensirion's own driver.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.micropython import centi, one, results

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def cases(micropython: Callable[..., str]) -> dict[str, list[dict[str, Any]]]:
    return results(micropython(HERE / "mp_sht3x.py"))


def test_known_conversions(cases: dict[str, list[dict[str, Any]]]) -> None:
    got = {(st, srh): (t, rh) for st, srh, t, rh in one(cases, "conversions")["got"]}
    assert got[(0, 0)] == (-4500, 0)  # -45 °C, 0 %RH
    assert got[(0xFFFF, 0xFFFF)] == (13000, 10000)  # 130 °C, 100 %RH
    assert got[(26214, 26214)] == (2500, 4000)  # 26214 / 65535 = 0.4 exactly
    assert got[(13107, 13107)] == (-1000, 2000)  # 0.2 exactly


def test_every_conversion_matches_the_exact_formula(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    rows = one(cases, "conversions")["got"]
    assert len(rows) > 250
    for st, srh, t, rh in rows:
        assert t == centi(-45, 175, st), st
        assert rh == centi(0, 100, srh), srh


def test_status_after_power_up_has_the_reset_bit(cases: dict[str, list[dict[str, Any]]]) -> None:
    assert one(cases, "status")["got"] == 0x0010  # table 17: bit 4, system reset detected


# The emulator's raw value is the nearest tick (175/65535 °C, 100/65535 %RH),
# off by at most half a tick: 0.14 centi-°C, 0.08 centi-%RH; the driver's
# rounding adds half a unit.
T_TOLERANCE = 0.5 + 0.14
RH_TOLERANCE = 0.5 + 0.08


def test_reads_the_emulated_conditions_at_every_repeatability(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    # Table 4's maximum durations (4, 6, 15 ms) plus a millisecond.
    wait_ms = {0: 5, 1: 7, 2: 16}
    rows = cases["condition"]
    assert len(rows) == 15
    for case in rows:
        assert case["ms"] == wait_ms[case["repeatability"]]
        (temperature, humidity), (t, rh) = case["want"], case["got"]
        assert abs(t - temperature * 100) <= T_TOLERANCE, case
        assert abs(rh - humidity * 100) <= RH_TOLERANCE, case


def test_corrupted_crc_is_an_error_and_keeps_the_last_reading(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    got = one(cases, "corrupt")
    assert got["error"] == "SHT3x: CRC mismatch"
    assert got["kept"] is True
    assert one(cases, "corrupt_status")["error"] == "SHT3x: CRC mismatch"


def test_read_too_early_fails_then_the_measurement_is_there(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    got = one(cases, "early")
    assert got["error"] == "SHT3x: no reply at 0x44 (not ready or absent)"
    assert got["then"] == [2150, 4500]
    assert got["measurements"] == 1
    # The chip gives a result once: a second read without a command is NACKed.
    assert one(cases, "second_read")["error"] == got["error"]
    assert one(cases, "no_start")["error"] == got["error"]


def test_silent_chip_fails_start_and_read(cases: dict[str, list[dict[str, Any]]]) -> None:
    assert one(cases, "silent_read")["error"] == "SHT3x: no reply at 0x44 (not ready or absent)"
    assert one(cases, "silent_start")["error"] == "SHT3x: no reply at 0x44"


def test_absent_chip_is_refused(cases: dict[str, list[dict[str, Any]]]) -> None:
    assert one(cases, "absent")["error"] == "no SHT3x at 0x44"
    assert one(cases, "other_address")["error"] == "no SHT3x at 0x45"


def test_unknown_repeatability_is_refused(cases: dict[str, list[dict[str, Any]]]) -> None:
    got = one(cases, "bad_repeatability")["error"]
    assert got == "repeatability: expected LOW, MEDIUM or HIGH (0..2)"


def test_read_allocates_nothing(cases: dict[str, list[dict[str, Any]]]) -> None:
    got = one(cases, "alloc")
    assert got["read"] == [0, 0, 0]
    assert got["values"] == [-1230, 8760]
