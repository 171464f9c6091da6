"""The SCD4x driver under the real MicroPython unix port, against the
datasheet's example bytes and the emulated SCD41 (sim/scd4x.py)."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.micropython import named

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def mp(micropython: Callable[..., str]) -> dict[str, dict[str, Any]]:
    return named(micropython(HERE / "mp_scd4x.py"))


def test_crc_check_value_and_datasheet_example_crcs(mp: dict[str, dict[str, Any]]) -> None:
    got = mp["crc"]
    assert got["beef"] == 0x92  # CRC(0xBEEF) = 0x92, the datasheet's check value
    assert got["serial_ok"] is None
    assert got["measurement_ok"] is None


def test_datasheet_examples(mp: dict[str, dict[str, Any]]) -> None:
    got = mp["datasheet"]
    # get_serial_number 0xF896 0x9F07 0x3BBE = 273 325 796 834 238 (section 3.9.2).
    assert got["serial"] == 273_325_796_834_238
    # read_measurement 0x01F4 0x6667 0x5EB9: 500 ppm, 25 °C, 37 %RH (section 3.5.2).
    assert got["values"] == [500, 2500, 3700]
    assert got["start_ms"] == 5000
    assert got["writes"] == [
        # After a cold boot only:
        "36f6",  # wake_up, in case it was put to sleep
        "3f86",  # stop_periodic_measurement, in case it was left measuring
        "3682",  # get_serial_number: the chip is there
        "e00003db42",  # set_ambient_pressure 987 hPa: the datasheet's example, CRC 0x42
        "219d",  # measure_single_shot
        "e4b8",  # get_data_ready_status
        "ec05",  # read_measurement
    ]


def test_a_wake_from_deep_sleep_only_checks_the_chip_is_there(
    mp: dict[str, dict[str, Any]],
) -> None:
    # 1 ms instead of 530 ms awake per cycle: the chip is idle where the last
    # cycle left it.
    assert mp["warm_start"]["writes"] == ["3682"]


def test_hot_path_allocates_nothing(mp: dict[str, dict[str, Any]]) -> None:
    assert mp["alloc"]["control"] > 0, "the allocation meter sees a bytearray"
    assert mp["alloc"]["bytes"] == 0


def test_round_trip_through_the_emulated_chip(mp: dict[str, dict[str, Any]]) -> None:
    got = mp["round_trip"]
    for co2, t, rh, got_co2, got_t, got_rh in got["cases"]:
        assert got_co2 == co2
        if t is not None:
            # 16-bit words: 175/65535 °C and 100/65535 %RH per tick, under 0.01.
            assert abs(got_t - t) <= 1
            assert abs(got_rh - rh) <= 1
    assert got["pressure"] == 1013  # 10132 deci-hPa, rounded to the chip's hPa
    assert got["bad_crc"] == 0  # every argument CRC the driver sent was right


def test_corrupted_reply_raises_and_keeps_the_last_reading(mp: dict[str, dict[str, Any]]) -> None:
    assert mp["corrupt"]["error"] == "SCD4x: CRC mismatch"
    assert mp["corrupt"]["co2"] == 40000  # the last good reading, not 777 from a bad reply


def test_read_before_the_data_is_ready_raises(mp: dict[str, dict[str, Any]]) -> None:
    got = mp["not_ready"]
    assert got["early"] == "SCD4x: no data ready (no answer)"  # NACKed while measuring
    assert got["no_start"] == "SCD4x: no data ready"  # answered: nothing measured
    assert got["co2"] == 777  # the read in between worked


def test_emulator_refuses_a_wrong_argument_crc(mp: dict[str, dict[str, Any]]) -> None:
    assert mp["bad_argument_crc"]["error"] == "[Errno 19] ENODEV"


def test_silent_chip_raises_naming_it(mp: dict[str, dict[str, Any]]) -> None:
    got = mp["silent"]
    assert got["start"] == "SCD4x: no answer"
    assert got["read"] == "SCD4x: no data ready (no answer)"
    assert got["pressure"] == "SCD4x: no answer"


def test_absent_chip(mp: dict[str, dict[str, Any]]) -> None:
    assert mp["absent"]["error"] == "no SCD4x at 0x62"


def test_chip_left_in_periodic_mode_is_stopped(mp: dict[str, dict[str, Any]]) -> None:
    got = mp["periodic_left"]
    assert got["ignored"] == "[Errno 19] ENODEV"  # it ignores get_serial_number
    # A warm (deep-sleep) start does not stop periodic mode: only a cold one.
    assert got["warm"] == "no SCD4x at 0x62"
    assert got["mode"] == "idle"
    assert got["co2"] == 650


def test_power_down_mode_wakes_the_chip_and_flags_the_first_reading(
    mp: dict[str, dict[str, Any]],
) -> None:
    got = mp["power_down"]
    assert got["slept"] and got["woke"]
    assert got["first"] and got["discard"]  # first reading after a wake: discard
    assert not got["after_read"]
    assert not got["default"]  # idle between cycles: nothing to discard
    assert got["cold"]  # after a power-up: discard
