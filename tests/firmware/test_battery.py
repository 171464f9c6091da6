"""The battery driver under the real MicroPython unix port, on the sim's ADC.

The emulated ADC quantises to 12 bits over 3.3 V, as the ESP32 and the
RP2040 do; one code is 3300 / 4095 mV at the pin, `ratio` times that at
the battery. mp_battery.py prints each case; these tests check it.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.micropython import named

HERE = Path(__file__).parent
CODE_MV = 3300 / 4095  # one 12-bit step at the pin


@pytest.fixture(scope="module")
def cases(micropython: Callable[..., str]) -> dict[str, dict[str, Any]]:
    return named(micropython(HERE / "mp_battery.py"))


def near(mv: int, volts_at_pin: float, ratio: float) -> bool:
    """Within one ADC code (scaled by the divider) of the true battery voltage."""
    return abs(mv - volts_at_pin * ratio * 1000) <= ratio * CODE_MV


def test_esp32_uses_the_calibrated_read_uv(cases: dict[str, dict[str, Any]]) -> None:
    # The raw converter of this emulated ESP32 reads 8 % low, as an ESP32's
    # can (its 1.1 V reference varies by up to ~10 %): read_u16() is off,
    # the calibrated read_uv() is not, and the driver takes read_uv().
    raw = cases["esp32_raw_u16"]
    assert not near(raw["mv"], 1.95, 2.0)
    assert abs(raw["mv"] - 3900 * 0.92) <= 2 * CODE_MV
    got = cases["esp32_read_uv"]
    assert got["error"] is None
    assert near(got["mv"], 1.95, 2.0)
    assert got["reads"] == 1 + 8  # the saturation check, then 8 samples


def test_rp2040_uses_read_u16_over_3v3(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["rp2_read_u16"]
    assert got["error"] is None
    assert near(got["mv"], 1.95, 2.0)
    assert got["reads"] == 1 + 8


def test_the_divider_ratio_scales_the_reading(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["rp2_ratio_3"]  # a Pico's VSYS through its 3:1 divider
    assert near(got["mv"], 1.5, 3.0)


def test_samples_are_averaged(cases: dict[str, dict[str, Any]]) -> None:
    # 0.1 V of ripple, + and - on successive conversions: one sample is
    # 0.2 V off at the battery, the mean of eight is not.
    one = cases["ripple_1"]
    assert abs(one["mv"] - 3900) >= 190
    eight = cases["ripple_8"]
    assert near(eight["mv"], 1.95, 2.0)
    assert (one["reads"], eight["reads"]) == (1 + 1, 1 + 8)


@pytest.mark.parametrize("volts", ["0.0", "0.1"])
@pytest.mark.parametrize("calibrated", ["False", "True"])
def test_zero_volts_raises(cases: dict[str, dict[str, Any]], volts: str, calibrated: str) -> None:
    got = cases[f"zero_{volts}_{calibrated}"]
    assert got["error"] == "battery: ADC reads 0 V, check the divider wiring"
    assert got["mv"] is None


@pytest.mark.parametrize("calibrated", ["False", "True"])
def test_saturated_adc_raises(cases: dict[str, dict[str, Any]], calibrated: str) -> None:
    got = cases[f"saturated_{calibrated}"]
    assert got["error"] == "battery: ADC saturated, check the divider ratio"
    assert got["mv"] is None


def test_a_failed_reading_keeps_the_last_good_one(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["after_failure"]
    assert got["error"] == "battery: ADC reads 0 V, check the divider wiring"
    assert near(got["mv"], 1.9, 2.0)
    assert got["start"] == 0


def test_samples_must_be_positive(cases: dict[str, dict[str, Any]]) -> None:
    assert cases["no_samples"]["error"] == "battery: samples must be 1 or more"
