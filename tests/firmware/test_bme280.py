"""The BME280 driver (firmware/bme280.py) against the emulated chip (sim/bme280.py).

Both run under the real MicroPython unix port (mp_bme280.py prints one JSON
line per case). The emulator makes its raw values from the datasheet's
double-precision formulas; the driver compensates with the integer ones.
"""

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.micropython import one, results

HERE = Path(__file__).parent

# The BMP280 datasheet's worked example (BST-BMP280-DS001 section 3.12); the
# BME280 compensates T and P with the same formulas.
EXAMPLE_T = 25.08  # °C, from adc_T = 519888
EXAMPLE_T_FINE = 128422
EXAMPLE_P = 100653.27  # Pa, from adc_P = 415148


@pytest.fixture(scope="module")
def cases(micropython: Callable[..., str]) -> dict[str, list[dict[str, Any]]]:
    return results(micropython(HERE / "mp_bme280.py"))


def test_datasheet_example_through_the_integer_code(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    got = one(cases, "example")
    assert got["t"] == 2508  # 0.01 °C
    assert got["t_fine"] == EXAMPLE_T_FINE
    # BME280_compensate_P_int64 on these inputs, as the reference C computes it
    # (checked with gcc): Q24.8 Pa, 25767233 / 256 = 100653.254 Pa, within the
    # datasheet's "integer result may deviate slightly" of its 100653.27 Pa.
    assert got["p_q24_8"] == 25767233
    assert got["p_q24_8"] / 256 == pytest.approx(EXAMPLE_P, abs=0.05)


def test_emulator_double_formulas_give_the_datasheet_example(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    got = one(cases, "example")
    assert got["ref_t"] == pytest.approx(EXAMPLE_T, abs=0.005)
    assert got["ref_t_fine"] == EXAMPLE_T_FINE
    assert got["ref_p"] == pytest.approx(EXAMPLE_P, abs=0.05)


def test_calibration_is_unpacked_as_the_datasheet_lays_it_out(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    # Read right after power-on: the driver waits out the NVM copy (status
    # im_update, 2 ms), during which the emulated calibration reads 0.
    got = one(cases, "calibration")
    assert got["got"] == got["want"]
    # It waited for the copy (2 ms), and polled the status rather than sleeping a
    # fixed long time. The upper bound is wall-clock time on a shared machine: a
    # loaded CI runner took 35 ms once, so it only catches a wait of the wrong order.
    assert 1 <= got["ms"] < 100


def test_calibration_signs_and_shared_nibbles_at_their_extremes(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    # dig_H4 = -2048 and dig_H5 = 2047 share register 0xE5: a swapped nibble
    # or a missing 12-bit sign extension changes both.
    got = one(cases, "calibration_extremes")
    assert {k: got["got"][k] for k in got["want"]} == got["want"]


# How far a reading may be from the emulator's physical value, in the frame's
# units, and why (the three terms add):
# - the emulator's ADC step at oversampling x1 (16-bit resolution), of which the
#   nearest raw value is off by at most half: 0.0025 °C, 1.3 Pa, 0.003 %RH;
# - the integer formulas against the double ones on the same raw value
#   (measured over the whole range with this calibration): T up to 0.64
#   centi-°C including their own rounding to 0.01 °C, P up to 0.55 Pa,
#   H up to 0.007 %RH;
# - rounding to the unit: half a unit for P and H.
TOLERANCE = {"temperature": 0.25 + 0.64, "humidity": 0.3 + 0.7 + 0.5, "pressure": 0.13 + 0.06 + 0.5}


@pytest.mark.parametrize(
    "index", range(3), ids=["-30C-95%-950hPa", "21.5C-45%-1013.25hPa", "40C-10%-1050hPa"]
)
def test_reads_the_emulated_conditions(cases: dict[str, list[dict[str, Any]]], index: int) -> None:
    case = cases["condition"][index]
    temperature, humidity, pressure = case["want"]
    got_t, got_h, got_p = case["got"]
    assert all(isinstance(v, int) for v in case["got"])
    assert abs(got_t - temperature * 100) <= TOLERANCE["temperature"]
    assert abs(got_h - humidity * 100) <= TOLERANCE["humidity"]
    assert abs(got_p - pressure * 10) <= TOLERANCE["pressure"]


def test_forced_mode_one_conversion_then_sleep(cases: dict[str, list[dict[str, Any]]]) -> None:
    # Section 9.1: t_max = 1.25 + 2.3 T + (2.3 P + 0.575) + (2.3 H + 0.575) at x1.
    max_ms = math.ceil(1.25 + 2.3 + (2.3 + 0.575) + (2.3 + 0.575))
    for case in cases["condition"]:
        assert case["ms"] == max_ms
        assert case["conversions"] == 1
        assert case["mode_after"] == 0  # back in sleep mode
        assert case["ctrl_hum"] == 0x01  # osrs_h x1
        assert case["config"] == 0x00  # filter off


def test_wrong_chip_id_is_refused(cases: dict[str, list[dict[str, Any]]]) -> None:
    # 0x58 is a BMP280: same pins and address, no humidity.
    assert one(cases, "wrong_id")["error"] == "no BME280 at 0x76 (chip id 0x58)"


def test_absent_chip_is_refused(cases: dict[str, list[dict[str, Any]]]) -> None:
    assert one(cases, "absent")["error"] == "no BME280 at 0x76"
    assert one(cases, "other_address")["error"] == "no BME280 at 0x77"


def test_chip_going_silent_fails_read_and_keeps_the_last_reading(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    got = one(cases, "silent_read")
    assert got["error"] == "BME280: no reply at 0x76"
    assert got["kept"] is True
    assert one(cases, "silent_start")["error"] == "BME280: no reply at 0x76"


def test_read_before_the_conversion_ends_waits_for_it(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    # No nap after start(): the status poll waits out the conversion (9.3 ms
    # of emulated time, here real time), within its 11 ms bound.
    got = one(cases, "early")
    assert got["temperature"] == pytest.approx(1234, abs=TOLERANCE["temperature"])
    assert got["ms"] <= 11 + 5  # bound, plus scheduling slack of a busy machine


def test_conversion_that_never_ends_fails_within_the_bound(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    got = one(cases, "hung")
    assert got["error"] == "BME280: still measuring after 11 ms"
    assert 10 <= got["ms"] <= 11 + 20


def test_skipped_measurement_is_an_error_not_a_value(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    # A chip reset after construction forgets ctrl_hum: humidity reads 0x8000.
    assert one(cases, "skipped")["error"] == "BME280: measurement skipped (chip reset?)"


def test_read_without_start_does_not_repeat_the_old_result(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    got = one(cases, "no_start")
    assert got["error"] == "BME280: read() without start()"
    assert got["stop"] is None


def test_read_allocates_only_the_64_bit_pressure_arithmetic(
    cases: dict[str, list[dict[str, Any]]],
) -> None:
    # No buffer, list or string per read: everything read() allocates after
    # warm-up is the heap ints of BME280_compensate_P_int64, whose products
    # pass 2^62 (the unix port's small-int limit; 2^30 on ESP32 and RP2040,
    # where more intermediates are heap ints). They are garbage at once.
    got = one(cases, "alloc")
    assert got["compensate_t"] == 0
    assert got["compensate_h"] == 0
    assert got["read"] == [got["compensate_p"]] * 3
    assert got["compensate_p"] <= 256
    assert got["values"] == [1800, 6000, 9900]
