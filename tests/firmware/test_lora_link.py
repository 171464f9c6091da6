"""The LoRa transport over the sim ether, under the MicroPython unix port.

mp_lora_link.py runs the firmware's lora_link on sim.lora, the sim board's
stand-in for micropython-lib's driver: several modems in one process, and
a node and a bridge as two processes talking over UDP.
"""

import json
import os
import select
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from meteolink.firmware import airtime, frames, framing
from tests.support.micropython import named
from tests.support.sim_node import ether_port
from tests.support.tools import FIRMWARE, ROOT, find_tool

HERE = Path(__file__).parent
SCRIPT = HERE / "mp_lora_link.py"


@pytest.fixture(scope="module")
def local(micropython: Callable[..., str]) -> dict[str, dict[str, Any]]:
    return named(micropython(SCRIPT, "local", str(ether_port())))


def test_link_airtime_agrees_with_the_driver(local: dict[str, dict[str, Any]]) -> None:
    """airtime.py (integers) against the sim driver's get_time_on_air_us(),
    written apart from it in floats from the SX1261 datasheet's form."""
    pairs = local["airtime"]["pairs"]
    assert len(pairs) == 3 * 3 * 7
    assert all(ours == driver for ours, driver in pairs)


def test_frame_crosses_the_sim_ether(local: dict[str, dict[str, Any]]) -> None:
    r = local["exchange"]
    assert r["sent"] is True and r["modem_sent"] == 1
    assert r["got"] == r["frame"]
    assert frames.decode(bytes.fromhex(r["got"])).values() == {
        "temperature": 21.5,
        "humidity": 45.0,
    }
    assert (r["rssi"], r["snr"]) == (-97, 30)  # snr in the driver's quarter-dB
    assert r["airtime_us"] == airtime.time_on_air_us(len(r["frame"]) // 2, 9)
    assert r["sim_ms"] >= r["airtime_us"] // 1000  # the send took its time on air
    assert r["other_sf"] is None  # a receiver at SF10 does not hear SF9


def test_limiter_blocks_the_send(local: dict[str, dict[str, Any]]) -> None:
    assert local["blocked"] == {
        "case": "blocked",
        "sent": False,
        "dropped": 1,
        "limiter_dropped": 1,
        "on_air": 0,
        "heard": None,
    }
    assert local["dropped_kept"]["dropped"] == 1  # through the limiter's dumped state


def test_short_wait_naps_then_sends(local: dict[str, dict[str, Any]]) -> None:
    r = local["waits"]
    assert 0 < r["wait"] <= 600
    assert r["naps"] == [r["wait"] * 1000]
    assert r["sent"] is True and r["heard"] == local["exchange"]["frame"]


def test_nap_cut_short_drops_rather_than_sends_early(local: dict[str, dict[str, Any]]) -> None:
    r = local["nap_short"]
    assert (r["sent"], r["dropped"], r["on_air"], r["heard"]) == (False, 1, 0, None)


def test_damaged_packet(local: dict[str, dict[str, Any]]) -> None:
    r = local["corrupt"]
    assert r["dropped"] is None  # the driver drops a failed payload CRC ...
    assert r["crc_errors"] == 2  # ... and counts it
    assert r["handed_crc_error"] is True  # rx_crc_error hands it over, flagged


def test_sx1262_hears_sx1276(local: dict[str, dict[str, Any]]) -> None:
    assert local["sx1262"] == {"case": "sx1262", "cls": "SX1262", "got": b"hello".hex()}


def test_errors(local: dict[str, dict[str, Any]]) -> None:
    e = local["errors"]
    assert e["missing"] == (
        "ImportError: lora driver not installed: run meteolink flash,"
        " which installs lora-sx127x and lora-sync"
    )
    assert e["no_sync"].startswith("ImportError: lora driver not installed")
    assert "lora-sx126x" in e["no_sync"]
    assert e["chip"].startswith("ValueError: radio chip 'rfm69'")
    assert e["ant_switch"].startswith("ValueError: radio.ant_switch")
    assert e["absent"] == "RuntimeError: Unexpected silicon version 0"
    for key in ("us915", "eu433", "edge"):
        assert e[key].startswith("ValueError:") and "not transmitting there" in e[key]
    assert e["bw"] == "ValueError: 100 kHz is not a LoRa bandwidth"
    assert e["hz"].startswith("ValueError: 868100500 Hz")


def test_continuous_receive_misses_nothing_between_polls(
    local: dict[str, dict[str, Any]],
) -> None:
    got = local["continuous"]
    assert got["idle"] is None, "nothing heard yet"
    assert got["heard"] == got["sent"], "every packet, in order, around a send of its own"
    assert got["after_sleep"] is None, "sleep() ends the receive"


def test_node_and_bridge_processes(micropython: Callable[..., str]) -> None:
    """A bridge process hears the node process's frames at its own settings
    only: not at another spreading factor, nor on another channel."""
    port = str(ether_port())
    env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:{ROOT}:.frozen")
    bridge = subprocess.Popen(
        [find_tool("micropython"), str(SCRIPT), "listen", port, "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert bridge.stdout is not None
        ready, _, _ = select.select([bridge.stdout], [], [], 30)
        assert ready and json.loads(bridge.stdout.readline()) == {"ready": True}
        node = named(micropython(SCRIPT, "send", port))["sent"]
        out, err = bridge.communicate(timeout=30)
    finally:
        bridge.kill()
        bridge.wait()
    assert bridge.returncode == 0, err
    assert node == {"case": "sent", "sent": [True] * 5, "on_air": 5}
    heard = named(out)["heard"]["packets"]
    assert [p["seq"] for p in heard] == [1, 4]  # 2 went at SF10, 3 on 868.3 MHz
    for p in heard:
        assert p["node"] == 7 and p["values"] == {"temperature": 21.5, "humidity": 45.0}
        # What the bridge forwards on its serial line: the frame behind RSSI and SNR.
        frame, rssi, snr = framing.split_record(bytes.fromhex(p["record"]))
        assert (frame.hex(), rssi, snr) == (p["hex"], -97, 7.5)
