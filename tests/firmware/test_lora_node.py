"""LoRa nodes and the bridge on the sim board: node -> radio -> bridge -> serial -> gateway.

The radio between the processes is sim/lora (micropython-lib's driver API
over UDP on loopback); everything else is the real firmware and gateway.
"""

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from meteolink.firmware import airtime, frames, framing
from tests.support.gateway_process import GatewayProcess
from tests.support.lines import Line, SimLine
from tests.support.sim_node import Cable, SimNode, ether_port
from tests.support.tools import wait_until

BACKLOG_COUNT = 16 + 274  # retained.py: the backlog count after the limiter state
LORA: dict[str, Any] = {"freq_hz": 868100000, "sf": 9, "bw_khz": 125, "cr": 5}


@pytest.fixture
def ether() -> dict[str, str]:
    """The environment that puts the sim radios of every process on one free sim ether."""
    return {"METEOLINK_LORA_ETHER": str(ether_port())}


@pytest.fixture
def bridge_line() -> Iterator[SimLine]:
    ln = SimLine()
    yield ln
    ln.close()


class Bridge:
    def __init__(
        self, root: Path, line: SimLine, env: dict[str, str], lora: dict[str, Any]
    ) -> None:
        self.sim = SimNode(
            root,
            {
                "node": 900,
                "role": "bridge",
                "transport": "lora",
                "lora": lora,
                "sensors": [],
                "maintenance_s": 0,
            },
            {"link": line.path},
            env,
        )
        self.proc = self.sim.start()
        time.sleep(0.5)  # its modem is listening
        assert self.proc.poll() is None, self.proc.communicate()[0]

    def stop(self) -> str:
        self.proc.kill()
        out, _ = self.proc.communicate(timeout=10)
        return out


@pytest.fixture
def bridges() -> Iterator[list[Bridge]]:
    made: list[Bridge] = []
    yield made
    for b in made:
        b.stop()


def lora_node(root: Path, env: dict[str, str], **config: Any) -> SimNode:
    cfg: dict[str, Any] = {
        "node": 41,
        "transport": "lora",
        "lora": LORA,
        "sensors": ["bme280", "battery"],
        "maintenance_s": 0,
    }
    cfg.update(config)
    return SimNode(root, cfg, {"air": {"temperature": 4.75}}, env)


def bridged(
    tmp_path: Path,
    ether: dict[str, str],
    bridge_line: SimLine,
    bridges: list[Bridge],
    line: Line,
    gateway: Callable[..., GatewayProcess],
) -> tuple[GatewayProcess, Cable]:
    """A gateway on a serial line, a bridge on the other end of it, plugged in."""
    g = gateway(f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n\n[nodes.41]\n')
    bridges.append(Bridge(tmp_path / "bridge", bridge_line, ether, LORA))
    cable = Cable(bridge_line, line.master)
    cable.plug()
    return g, cable


def records(line: SimLine) -> list[tuple[bytes, int | None, float | None]]:
    got = []
    for rec in framing.Deframer().feed(line.read()):
        assert isinstance(rec, bytes)
        got.append(framing.split_record(rec))
    return got


def test_lora_frames_reach_the_gateway_through_the_bridge_with_rssi_and_snr(
    tmp_path: Path,
    ether: dict[str, str],
    bridge_line: SimLine,
    bridges: list[Bridge],
    line: Line,
    gateway: Callable[..., GatewayProcess],
) -> None:
    g, cable = bridged(tmp_path, ether, bridge_line, bridges, line, gateway)
    try:
        node = lora_node(tmp_path / "node", ether)
        for _ in range(3):
            out = node.wake()
            assert node.returncode == 0, out
        wait_until(lambda: g.stored() == [(41, 0), (41, 1), (41, 2)], "three LoRa readings")
    finally:
        cable.unplug()
    db = sqlite3.connect(f"file:{g.data / 'readings.db'}?mode=ro", uri=True)
    try:
        radio = db.execute("SELECT DISTINCT rssi, snr FROM readings").fetchall()
    finally:
        db.close()
    assert radio == [(-80, 9.5)], "the bridge's radio record reached the store"
    assert g.stop() == 0


def test_acks_travel_back_over_lora(
    tmp_path: Path,
    ether: dict[str, str],
    bridge_line: SimLine,
    bridges: list[Bridge],
    line: Line,
    gateway: Callable[..., GatewayProcess],
) -> None:
    g, cable = bridged(tmp_path, ether, bridge_line, bridges, line, gateway)
    try:
        node = lora_node(tmp_path / "node", ether, ack=True)
        for _ in range(2):
            out = node.wake()
            assert node.returncode == 0, out
        wait_until(lambda: len(g.stored()) == 2, "two readings")
    finally:
        cable.unplug()
    mem = bytes.fromhex(node.rtc()["memory"])
    assert mem[BACKLOG_COUNT] == 0, "the backlog is empty: every frame was acknowledged"
    g.stop()


def test_the_node_never_breaks_the_duty_cycle(
    tmp_path: Path, ether: dict[str, str], bridge_line: SimLine, bridges: list[Bridge]
) -> None:
    lora = {**LORA, "sf": 12, "max_wait_s": 0}
    bridges.append(Bridge(tmp_path / "bridge", bridge_line, ether, lora))
    node = lora_node(tmp_path / "node", ether, lora=lora, interval_s=30)
    for _ in range(45):  # 22.5 minutes of node time, one frame every 30 s
        out = node.wake()
        assert node.returncode == 0, out
    time.sleep(0.3)
    heard = records(bridge_line)
    frame_len = len(heard[0][0])
    per_frame = airtime.time_on_air_us(frame_len, 12, 125, 5)
    # 1 % of an hour is 36 s: at SF12 a frame takes ~1.3 s on air.
    allowed = 36_000_000 // per_frame
    assert len(heard) <= allowed < 45
    assert len(heard) >= allowed - 2, "the limiter is conservative, not stingy"
    seqs = [frames.decode(f).seq for f, _, _ in heard]
    assert seqs == sorted(seqs) and seqs[0] == 0
    assert all(rssi == -80 and snr == 9.5 for _, rssi, snr in heard)


def test_rtc_memory_holds_the_whole_limiter_state(tmp_path: Path) -> None:
    node = SimNode(tmp_path, {"node": 1}, {})
    out = node.wake(
        code="import retained, dutycycle; print(retained.DUTY_SIZE, dutycycle.STATE_SIZE)"
    )
    size, state = out.split()
    assert size == state, "retained.DUTY_SIZE must be dutycycle.STATE_SIZE"
    assert 16 + int(size) == BACKLOG_COUNT


def test_airtime_is_on_record_before_the_radio_sends(
    tmp_path: Path, ether: dict[str, str], bridge_line: SimLine, bridges: list[Bridge]
) -> None:
    lora = {**LORA, "sf": 12}
    bridges.append(Bridge(tmp_path / "bridge", bridge_line, ether, lora))
    node = lora_node(tmp_path / "node", ether, lora=lora, ack=True)
    proc = node.start()
    try:
        deadline = time.monotonic() + 10
        while not records(bridge_line) and time.monotonic() < deadline:
            time.sleep(0.02)
        # On air, and the node now waits for an ack that will not come (the
        # bridge has no gateway). Kill it there, as a crash would.
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    mem = bytes.fromhex(node.rtc()["memory"])
    duty = mem[16 : 16 + 274]
    assert duty[0] == 0xDC, "the limiter's state is in RTC memory"
    assert any(duty[10:]), "with the frame's airtime charged"
