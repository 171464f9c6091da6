"""The SGP40 driver and the VOC Index algorithm under the real MicroPython
unix port, against the datasheet's argument words and the emulated SGP40
(sim/sgp40.py)."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.micropython import named

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def mp(micropython: Callable[..., str]) -> dict[str, dict[str, Any]]:
    return named(micropython(HERE / "mp_sgp40.py"))


def test_argument_words_match_the_datasheet(mp: dict[str, dict[str, Any]]) -> None:
    got = mp["arguments"]
    assert got["serial"] == 0x0B1E4F2A
    assert got["writes"] == [
        "3682",  # get_serial_number: the chip is there
        "260f8000a2666693",  # no compensation given: 50 %RH 0x8000 CRC 0xA2, 25 °C 0x6666 CRC 0x93
        "260f8000a2666693",  # 25.00 °C, 50.00 %RH given: the same words (table 10)
        "260f000081000081",  # 0 %RH, -45 °C: table 10's minimum, CRC 0x81
        "260fffffacffffac",  # 100 %RH, 130 °C: table 10's maximum, CRC 0xAC
        "260fffffac000081",  # 120 %RH, -60 °C: clamped to the words' range
    ]


def test_driver_sends_correct_argument_crcs(mp: dict[str, dict[str, Any]]) -> None:
    got = mp["compensation"]
    assert got["bad_crc"] == 0
    assert got["rh"] == round(45.12 * 65535 / 100)
    assert got["t"] == round((21.5 + 45) * 65535 / 175)
    assert got["sraw"] == 30000


def test_emulator_refuses_a_wrong_argument_crc(mp: dict[str, dict[str, Any]]) -> None:
    assert mp["bad_argument_crc"]["error"] == "[Errno 19] ENODEV"


def test_hot_path_allocates_nothing(mp: dict[str, dict[str, Any]]) -> None:
    assert mp["alloc"]["control"] > 0, "the allocation meter sees a bytearray"
    assert mp["alloc"]["bytes"] == 0


def test_heater_warm_up_after_it_was_off(mp: dict[str, dict[str, Any]]) -> None:
    got = mp["heater"]
    assert (got["cold_ms"], got["hot_ms"], got["again_ms"]) == (170, 30, 170)
    assert got["first"] == got["second"] == got["third"] == 30000  # always a warm plate
    assert got["naive"] == 35000  # what measuring a cold plate at once gives
    assert got["heater_after_stop"] is False


def test_more_voc_lowers_the_raw_signal(mp: dict[str, dict[str, Any]]) -> None:
    # The emulator's model: 3000 * voc / (voc + 1 ppm) ticks lower; voc = 1 ppm here.
    assert mp["voc_model"]["sraw"] == 30000 - 1500


def test_corrupted_reply_raises_and_keeps_the_last_reading(mp: dict[str, dict[str, Any]]) -> None:
    assert mp["corrupt"]["error"] == "SGP40: CRC mismatch"
    assert mp["corrupt"]["sraw"] == mp["voc_model"]["sraw"]


def test_self_test(mp: dict[str, dict[str, Any]]) -> None:
    got = mp["self_test"]
    assert got["ok"] is None
    assert got["failed"] == "SGP40: self-test failed (0x4b00)"
    assert got["corrupted"] == "SGP40: CRC mismatch"


def test_silent_and_absent(mp: dict[str, dict[str, Any]]) -> None:
    assert mp["silent"] == {
        "case": "silent",
        "start": "SGP40: no answer",
        "read": "SGP40: no answer",
        "stop": "SGP40: no answer",
    }
    assert mp["absent"]["error"] == "no SGP40 at 0x59"


def test_voc_index_blackout_then_100_then_events(mp: dict[str, dict[str, Any]]) -> None:
    got = mp["algorithm"]
    assert got["blackout"] == [0] * 46  # 45 s at 1 s: samples 0..45
    assert 1 <= got["after_blackout"] < 100
    assert got["at_10_min"] == 100
    assert got["at_2_h"] == 100
    assert got["drop"] > 300  # SRAW 1000 ticks lower for 5 min: more VOC
    assert got["rise"] < 50  # SRAW 1000 ticks higher: cleaner than usual


def test_voc_index_state_save_and_restore(mp: dict[str, dict[str, Any]]) -> None:
    got = mp["save_restore"]
    assert got["same"] is True
    assert got["size"] == 98
    assert got["peak"] > 150  # the run did go through an event
    assert got["tail"] == [100] * 5


def test_voc_index_sampling_intervals(mp: dict[str, dict[str, Any]]) -> None:
    got = mp["interval"]
    assert got["blackout10"] == [0] * 5  # 45 s at 10 s: samples 0..4
    assert 1 <= got["after10"] < 100
    assert got["at_2_h_10"] == 100
    too_slow = "VOC index: the sampling interval must be over 0 and at most 10 s"
    assert got["too_slow"] == got["zero"] == too_slow
    assert got["other_interval"] == "VOC index: state saved at another sampling interval"
    assert got["garbage"] == "VOC index: not a saved state"


def test_driver_feeds_the_algorithm(mp: dict[str, dict[str, Any]]) -> None:
    got = mp["end_to_end"]
    assert got["first"] == [0] * 46
    assert 50 < got["later"] <= 100  # 74 s after the blackout: rising toward 100
    assert got["sraw"] == 30000
