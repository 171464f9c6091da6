"""The RUI3 LoRaWAN link under the real MicroPython unix port, against the emulated modem.

mp_rui3_link.py drives firmware/rui3_link.py against sim/rui3.py, which answers as the
RUI3 AT Command Manual gives it (RAKwireless, RAK3172 with RUI3 firmware); these tests hold
the link to that manual's commands and answers, and to the LoRaWAN Regional Parameters'
EU868 payload limits (RP002-1.0.x, EU863-870 "Maximum payload size").
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from meteolink.firmware import frames
from tests.support.micropython import named

HERE = Path(__file__).parent
KEY = bytes(range(16))
WEATHER = {"temperature": -3.5, "humidity": 91.0, "pressure": 1012.3, "battery": 3.9}


@pytest.fixture(scope="module")
def cases(micropython: Callable[..., str]) -> dict[str, dict[str, Any]]:
    return named(micropython(HERE / "mp_rui3_link.py"))


def test_join_is_the_manuals_otaa_command_and_waits_for_the_event(
    cases: dict[str, dict[str, Any]],
) -> None:
    """joined() reads the answer to AT+NJS=? as the manual gives it, "AT+NJS=1" then OK
    (RUI3 AT Command Manual, "RUI3 AT Command Format": AT+XXX=<value><CR><LF>, then the
    status), so a joined modem is not joined again at every check."""
    join = cases["join"]
    assert (join["before"], join["ok"], join["after"]) == (False, True, True)
    assert join["commands"] == ["AT+NJS=?", "AT+JOIN=1:0:10:8", "AT+NJS=?"]
    fails = cases["join_fails"]
    assert (fails["ok"], fails["last"]) == (False, "+EVT:JOIN_FAILED_RX_TIMEOUT")


def test_a_frame_goes_out_as_the_uplink_payload_on_the_port(
    cases: dict[str, dict[str, Any]],
) -> None:
    send = cases["send"]
    first = frames.encode(12, 1, WEATHER, KEY, 0)
    second = frames.encode(12, 2, WEATHER, KEY, 0)
    assert send["frame"] == first.hex()  # the same codec on the node as here
    assert (send["ok"], send["second"], send["last"]) == (True, True, "+EVT:TX_DONE")
    assert send["uplinks"] == [[10, first.hex()], [10, second.hex()]]
    assert send["written"] == (
        f"AT+CFM=0\r\nAT+SEND=10:{first.hex().upper()}\r\nAT+SEND=10:{second.hex().upper()}\r\n"
    )
    assert send["acked"] is False  # no meteolink acknowledgement over LoRaWAN


def test_a_confirmed_uplink_is_sent_only_when_the_network_acknowledges_it(
    cases: dict[str, dict[str, Any]],
) -> None:
    ok, failed = cases["confirmed"]["results"]
    assert ok == [True, "+EVT:SEND_CONFIRMED_OK", 0, True]
    assert failed == [False, "+EVT:SEND_CONFIRMED_FAILED(4)", 1, True]


def test_what_the_modem_refuses_is_a_dropped_frame_with_its_reason(
    cases: dict[str, dict[str, Any]],
) -> None:
    refused = cases["refused"]
    not_joined, too_long = refused["results"]
    assert not_joined == [False, "AT_NO_NETWORK_JOINED"]
    assert too_long == [False, "AT_PARAM_ERROR", 68]  # over DR0's N of 51 bytes
    assert (refused["uplinks"], refused["dropped"]) == (0, 1)


def test_a_silent_modem_costs_a_bounded_wait(cases: dict[str, dict[str, Any]]) -> None:
    silent = cases["silent"]
    assert (silent["ok"], silent["last"]) == (False, "no answer")
