"""The PMS5003 and SDS011 drivers under the real MicroPython unix port.

mp_pm.py runs each case against a scripted line (replies given byte for
byte) or the sim's emulated sensors, and prints what happened; these tests
hold it to the datasheets: the PMS5003 data manual V2.3 and Nova's SDS011
control protocol V1.3, whose example packets are used as they are printed.
"""

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.micropython import named

HERE = Path(__file__).parent

READ_MS = 2000  # both drivers' bound on read()
SLACK_MS = 600  # a busy CI machine's scheduling, on top of a bound


def pms5003_frame(
    cf1: tuple[int, int, int], atmospheric: tuple[int, int, int], counts: tuple[int, ...]
) -> bytes:
    """A data frame laid out as the PMS5003 manual's Appendix I says.

    Start characters 0x42 0x4D; frame length 2 x 13 + 2; data 1..3 PM1.0,
    PM2.5, PM10 with CF=1; data 4..6 the same "under atmospheric
    environment"; data 7..12 particle counts per 0.1 L; data 13 reserved;
    then the check code, the sum of every byte before it.
    """
    body = struct.pack(">BBH13H", 0x42, 0x4D, 2 * 13 + 2, *cf1, *atmospheric, *counts, 0x9700)
    return body + struct.pack(">H", sum(body) & 0xFFFF)


# CF=1 and atmospheric values differ, as they do above ~30 µg/m³, so the
# test sees which ones the driver reports.
KNOWN_CF1 = (12, 35, 48)
KNOWN_ATMOSPHERIC = (11, 27, 40)
KNOWN = pms5003_frame(KNOWN_CF1, KNOWN_ATMOSPHERIC, (2100, 600, 120, 15, 3, 1))

# PMS5003 host commands: 0x42 0x4D CMD DATAH DATAL LRCH LRCL.
PMS_PASSIVE = "424de100000170"
PMS_READ = "424de200000171"
PMS_SLEEP = "424de400000173"
PMS_WAKEUP = "424de400010174"

# SDS011 commands to device FF FF, from the control protocol's examples.
SDS_QUERY_MODE = "aab402000000000000000000000000ffff00ab"
SDS_SET_QUERY_MODE = "aab402010100000000000000000000ffff02ab"
SDS_QUERY_DATA = "aab404000000000000000000000000ffff02ab"
SDS_SLEEP = "aab406010000000000000000000000ffff05ab"
SDS_WORK = "aab406010100000000000000000000ffff06ab"


@pytest.fixture(scope="module")
def cases(micropython: Callable[..., str]) -> dict[str, dict[str, Any]]:
    return named(micropython(HERE / "mp_pm.py", KNOWN.hex(), "all"))


def test_the_hand_built_frame_follows_the_manual() -> None:
    assert len(KNOWN) == 32
    assert KNOWN[:4] == b"\x42\x4d\x00\x1c"
    assert int.from_bytes(KNOWN[30:], "big") == sum(KNOWN[:30])


def test_pms5003_reports_the_atmospheric_values(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["pms_known"]
    assert got["pm"] == [10 * v for v in KNOWN_ATMOSPHERIC]  # deci-µg/m³
    assert got["pm"] != [10 * v for v in KNOWN_CF1]


def test_pms5003_sends_the_manuals_commands(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["pms_known"]
    assert got["ctor"] == PMS_PASSIVE
    assert got["start"] == PMS_WAKEUP
    assert got["read"] == PMS_PASSIVE + PMS_READ  # passive mode again, then the read
    assert got["stop"] == PMS_SLEEP


def test_pms5003_warm_up_is_the_manuals_30_s(cases: dict[str, dict[str, Any]]) -> None:
    assert cases["pms_known"]["warmup"] == 30000
    warm = cases["pms_warmup"]
    assert warm["stable"] == [120, 480, 750]
    assert all(e < s for e, s in zip(warm["early"], warm["stable"], strict=True))


def test_pms5003_read_allocates_nothing(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["pms_alloc"]
    assert got["pm"] == [110, 270, 400]
    assert got["bytes"] == 0


def test_pms5003_skips_a_frame_with_a_bad_check_code(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["pms_corrupt_once"]
    assert got["error"] is None
    assert got["pm"] == [110, 270, 400]
    assert got["reads"] == 2  # asked again: a passive sensor sends nothing unasked


def test_pms5003_checksum_mismatch_without_a_good_frame_raises(
    cases: dict[str, dict[str, Any]],
) -> None:
    message = "PMS5003: no valid frame within 2000 ms (checksum mismatch)"
    got = cases["pms_corrupt"]
    assert got["error"] == message
    assert got["pm"] == [None, None, None]  # nothing converted from a bad frame
    sim = cases["pms_sim_corrupt"]
    assert sim["error"] == message
    assert sim["frames"] > 1
    assert READ_MS <= sim["ms"] < READ_MS + SLACK_MS
    assert sim["pm"] == [120, 480, 750]  # the last complete reading stays


def test_pms5003_resynchronises_after_garbage(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["pms_garbage"]
    assert (got["error"], got["pm"], got["reads"]) == (None, [110, 270, 400], 1)
    false_start = cases["pms_false_start"]
    assert (false_start["error"], false_start["pm"]) == (None, [110, 270, 400])


def test_pms5003_asks_again_when_bytes_are_lost(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["pms_lost_bytes"]
    assert (got["error"], got["pm"], got["frames"]) == (None, [30, 50, 90], 2)


def test_pms5003_full_cycle_on_the_emulator(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["pms_cycle"]
    assert got["error"] is None
    assert got["pm"] == [120, 480, 750]
    assert got["asleep"] is True


def test_pms5003_found_asleep_is_left_asleep(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["pms_asleep_at_boot"]
    assert got["error"] is None
    assert got["asleep"] is True
    # Not heard asleep: the mode command. Then wake up, mode, sleep.
    assert got["commands"] == [[0xE1, 0], [0xE4, 1], [0xE1, 0], [0xE4, 0]]


def test_pms5003_read_without_start_raises(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["pms_read_asleep"]
    assert got["error"] == "PMS5003: no frame within 2000 ms"
    assert READ_MS <= got["ms"] < READ_MS + SLACK_MS


def test_pms5003_copes_with_active_mode(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["pms_active_flood"]
    assert got["overflow"] > 0  # frames were lost to the full receive buffer
    assert got["mode_after_wake"] == 1  # the unit came back from sleep in active mode
    assert (got["error"], got["pm"], got["mode"]) == (None, [30, 50, 90], 0)


def test_pms5003_set_pin(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["pms_set_pin"]
    assert got["low"] == [0, True, True]  # stop(): SET low, asleep
    assert got["high"] == [1, False, False]  # start(): SET high, awake
    # With the pin, a sleep command without an answer is no error.
    assert (got["error"], got["pin"]) == (None, 0)


def test_pms5003_silent_raises_within_the_bound(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["pms_silent"]
    assert got["error"] == "PMS5003: no frame within 2000 ms"
    assert READ_MS <= got["ms"] < READ_MS + SLACK_MS
    assert got["pm"] == [40, 80, 110]  # the last complete reading stays
    stop = cases["pms_silent_stop"]
    assert stop["error"] == "PMS5003: no answer to the sleep command"
    assert stop["ms"] < 1000 + SLACK_MS  # two tries of 500 ms


@pytest.mark.parametrize("case", ["pms_absent", "pms_wrong_baud"])
def test_pms5003_absent_raises(cases: dict[str, dict[str, Any]], case: str) -> None:
    got = cases[case]
    assert got["error"] == "no PMS5003 on the UART"
    assert got["ms"] < 2500 + SLACK_MS  # a first try, then one after a wake-up


def test_sds011_reads_the_protocols_example(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["sds_known"]
    # "AA C0 D4 04 3A 0A A1 60 1D AB": PM2.5 123.6 µg/m³, PM10 261.8 µg/m³.
    assert got["pm"] == [None, 1236, 2618]  # no PM1 from an SDS011
    assert got["device_id"] == 0xA160
    assert got["warmup"] == 30000


def test_sds011_sends_the_protocols_commands(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["sds_known"]
    assert got["ctor"] == SDS_QUERY_MODE
    assert got["start"] == SDS_WORK
    assert got["read"] == SDS_QUERY_DATA
    assert got["stop"] == SDS_SLEEP
    assert cases["sds_set_mode"]["ctor"] == SDS_QUERY_MODE + SDS_SET_QUERY_MODE


def test_sds011_read_allocates_nothing(cases: dict[str, dict[str, Any]]) -> None:
    assert cases["sds_alloc"]["bytes"] == 0


def test_sds011_checksum(cases: dict[str, dict[str, Any]]) -> None:
    once = cases["sds_corrupt_once"]
    assert (once["error"], once["pm"], once["reads"]) == (None, [None, 1236, 2618], 2)
    got = cases["sds_corrupt"]
    assert got["error"] == "SDS011: no valid packet within 2000 ms (checksum mismatch)"
    assert got["pm"] == [None, None, None]


def test_sds011_resynchronises(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["sds_garbage"]
    assert (got["error"], got["pm"], got["reads"]) == (None, [None, 1236, 2618], 1)
    false_start = cases["sds_false_start"]
    assert (false_start["error"], false_start["pm"]) == (None, [None, 1236, 2618])
    lost = cases["sds_lost_bytes"]
    assert (lost["error"], lost["pm"], lost["frames"]) == (None, [None, 75, 110], 2)


def test_sds011_full_cycle_on_the_emulator(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["sds_cycle"]
    assert got["error"] is None
    assert got["pm"] == [None, 352, 500]
    assert got["query_mode"] is True
    # Query mode is kept across power-off: set once, not again at the next boot.
    assert got["mode_writes"] == [1, 1]
    assert got["asleep"] is True  # stop(), and the next boot's constructor left it so
    assert got["device_id"] == 0xA160


def test_sds011_warm_up(cases: dict[str, dict[str, Any]]) -> None:
    got = cases["sds_warmup"]
    assert got["asleep_after_ctor"] is True
    assert got["stable"] == [None, 350, 500]
    assert got["early"][1] < 350


def test_sds011_silent_and_asleep_raise_within_the_bound(
    cases: dict[str, dict[str, Any]],
) -> None:
    for case in ("sds_silent", "sds_read_asleep"):
        got = cases[case]
        assert got["error"] == "SDS011: no packet within 2000 ms"
        assert READ_MS <= got["ms"] < READ_MS + SLACK_MS
    assert cases["sds_silent"]["pm"] == [None, 75, 110]
    stop = cases["sds_silent_stop"]
    assert stop["error"] == "SDS011: no reply to the sleep command"
    assert stop["ms"] < 1000 + SLACK_MS


@pytest.mark.parametrize("case", ["sds_absent", "sds_wrong_baud"])
def test_sds011_absent_raises(cases: dict[str, dict[str, Any]], case: str) -> None:
    got = cases[case]
    assert got["error"] == "no SDS011 on the UART"
    assert got["ms"] < 2500 + SLACK_MS
