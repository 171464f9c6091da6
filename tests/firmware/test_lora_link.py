"""The LoRa transport on the real drivers and the chip models, under the MicroPython unix port.

mp_lora_link.py runs the firmware's lora_link on micropython-lib's drivers
(installed by mip) driving the register models of an SX1276 and an SX1262
through the sim board's SPI and pins: several radios in one process on a
LoopbackAntenna air, and a node and a bridge as two processes on the ether hub.
"""

import json
import math
import os
import select
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from meteolink.firmware import airtime, frames, framing
from tests.support.ether import HubProcess
from tests.support.lora_drivers import micropypath
from tests.support.micropython import named
from tests.support.tools import find_tool

HERE = Path(__file__).parent
SCRIPT = HERE / "mp_lora_link.py"


@pytest.fixture(scope="module")
def local(micropython: Callable[..., str]) -> dict[str, dict[str, Any]]:
    return named(micropython(SCRIPT, "local"))


# The bandwidths whose driver label is rounded: lora-sx127x and lora-sx126x
# compute with 7800 Hz for 7.8125 kHz, and so on.
ROUNDED = {7.8: 7800, 10.4: 10400, 15.6: 15600, 20.8: 20800, 41.7: 41700}


@pytest.mark.parametrize("chip", ["sx1276", "sx1262"])
def test_limiter_airtime_agrees_with_the_real_driver(
    local: dict[str, dict[str, Any]], chip: str
) -> None:
    """What the duty-cycle limiter charges (LoRaLink.airtime_us, airtime.py in
    integers) against the real driver's get_time_on_air_us(), for every SF and
    bandwidth, with the modulation the link configured on the driver.

    The symbol count is the same everywhere. The time agrees to the µs at
    500, 250, 125, 62.5 and 31.25 kHz; at the five bandwidths that are not
    whole hertz the driver divides by its rounded label (7800 Hz for
    7812.5 Hz), so it is off by up to 0.16 % (more at four of them, less at
    41.7 kHz, whose label is above 41666.7 Hz): the limiter charges the
    exact time, the chip's own."""
    pairs = local[f"airtime_{chip}"]["pairs"]
    assert len(pairs) == 6 * 10 * 5
    for sf, bw, n, ours, driver, ours_x4, driver_x4 in pairs:
        assert ours_x4 == driver_x4, (sf, bw, n)
        if bw in ROUNDED:
            t_sym = 1_000_000 * (1 << sf) // ROUNDED[bw]
            assert driver == t_sym * driver_x4 // 4
            assert abs(driver - ours) <= ours * 0.0017, (sf, bw, n)
        else:
            assert ours == driver, (sf, bw, n)
            assert ours == airtime.time_on_air_us(n, sf, bw, 5)


def test_ack_ending_between_the_flags_and_is_idle_is_kept(
    local: dict[str, dict[str, Any]],
) -> None:
    """lora-sx126x's poll_recv() reads the IRQ flags, then asks is_idle(); an
    ack ending between the two (is_idle() wrapped to make it end there) is
    lost by the driver's single receive, recv(), which LoRaLink's ack wait
    used: the chip is in standby with RxDone set, and the driver restarts the
    receive, clearing the flags. LoRaLink now waits in continuous receive and
    keeps it, on both chips, and leaves the radio standing by. (lora-sx127x
    does not lose it even in single receive.)"""
    sx1262, sx1276 = local["race_sx1262"], local["race_sx1276"]
    for r in (sx1262, sx1276):
        assert (r["old_gaps"], r["new_gaps"]) == (1, 1), "the ack ended in the gap, each time"
        assert r["new"] is True
        assert r["idle_after"] is True
    assert sx1262["old"] is None  # the race, on the driver alone
    assert sx1276["old"] == sx1276["ack"]


def test_frame_crosses_the_sim_ether(local: dict[str, dict[str, Any]]) -> None:
    r = local["exchange"]
    assert r["sent"] is True
    assert r["got"] == r["frame"]
    assert frames.decode(bytes.fromhex(r["got"])).values() == {
        "temperature": 21.5,
        "humidity": 45.0,
    }
    assert (r["rssi"], r["snr"]) == (-97, 30)  # snr in the driver's quarter-dB
    assert r["airtime_us"] == airtime.time_on_air_us(len(r["frame"]) // 2, 9)
    assert r["ms"] >= r["airtime_us"] // 1000  # the send took its time on air
    assert r["other_sf"] is None  # a receiver at SF10 does not hear SF9
    assert r["on_air"] == 1


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
    assert e["absent"] == "RuntimeError: Unexpected silicon version 255"  # MISO pulled up
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


def test_node_and_bridge_processes(ether_hub: HubProcess) -> None:
    """A bridge process hears the node process's frames through the ether hub,
    at its own settings only: not at another spreading factor, nor on another
    channel; at the RSSI and SNR the hub's physics give (14 dBm less 111 dB)."""
    env = dict(os.environ, MICROPYPATH=micropypath())
    bridge = subprocess.Popen(
        [find_tool("micropython"), str(SCRIPT), "listen", ether_hub.address, "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert bridge.stdout is not None
        ready, _, _ = select.select([bridge.stdout], [], [], 30)
        assert ready and json.loads(bridge.stdout.readline()) == {"ready": True}
        node = subprocess.run(
            [find_tool("micropython"), str(SCRIPT), "send", ether_hub.address],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert node.returncode == 0, node.stdout + node.stderr
        out, err = bridge.communicate(timeout=30)
    finally:
        bridge.kill()
        bridge.wait()
    assert bridge.returncode == 0, err
    assert named(node.stdout)["sent"] == {"case": "sent", "sent": [True] * 5, "on_air": 5}
    heard = named(out)["heard"]["packets"]
    assert [p["seq"] for p in heard] == [1, 4]  # 2 went at SF10, 3 on 868.3 MHz
    snr_db = -97 - (-174 + 10 * math.log10(125_000) + 6)  # over the noise floor
    for p in heard:
        assert p["node"] == 7 and p["values"] == {"temperature": 21.5, "humidity": 45.0}
        # What the bridge forwards on its serial line: the frame behind RSSI and SNR.
        frame, rssi, snr = framing.split_record(bytes.fromhex(p["record"]))
        assert frame.hex() == p["hex"] and rssi == -97
        assert snr is not None and abs(snr - min(snr_db, 31.75)) <= 0.25
