"""LoRa nodes and the bridge on the sim board: node -> radio -> bridge -> serial -> gateway -> MQTT.

Every part is the real one: the firmware on the MicroPython unix port with
micropython-lib's drivers (installed by mip) on the register-level chip models
(sim/sx127x.py for the sim board and the LilyGO T3, sim/sx126x.py for the Heltec
V3), the ether hub between the processes (`python -m sim.ether_hub`), the bridge's
serial line a pseudo-terminal, the gateway process, and Mosquitto.
"""

import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from meteolink.firmware import airtime, frames, framing
from tests.support.broker import Broker, Subscriber
from tests.support.ether import HubProcess
from tests.support.gateway_process import GatewayProcess
from tests.support.lines import Line, SimLine
from tests.support.sim_node import Cable, SimNode
from tests.support.tools import FIRMWARE, ROOT, find_tool, meteolink, wait_until

BACKLOG_COUNT = 16 + 274  # retained.py: the backlog count after the limiter state
LORA: dict[str, Any] = {"freq_hz": 868100000, "sf": 9, "bw_khz": 125, "cr": 5}
ACK_WINDOW_MS = 2000  # firmware/node.py: how long a node waits for its ack
NODE_LOSS_DB = 110.0  # node to bridge: 14 dBm sent is heard at -96 dBm


@pytest.fixture
def bridge_line() -> Iterator[SimLine]:
    ln = SimLine()
    yield ln
    ln.close()


def radio(hub: HubProcess, name: str, **more: Any) -> dict[str, Any]:
    """A sim world's "radio" entry: this radio on the test's ether hub."""
    return {"ether": hub.address, "name": name, **more}


class Bridge:
    def __init__(
        self,
        root: Path,
        line: SimLine,
        hub: HubProcess,
        lora: dict[str, Any],
        board: str = "sim",
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
            {"link": line.path, "radio": radio(hub, "bridge")},
            board=board,
        )
        self.proc = self.sim.start()
        # Listening once its antenna has said hello to the hub.
        wait_until(lambda: "bridge" in hub.control(stats=True)["radios"], "the bridge")
        time.sleep(0.3)
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


def lora_node(
    root: Path, hub: HubProcess, board: str = "sim", name: str = "node-41", **config: Any
) -> SimNode:
    cfg: dict[str, Any] = {
        "node": 41,
        "transport": "lora",
        "lora": LORA,
        "sensors": ["bme280", "battery"],
        "maintenance_s": 0,
    }
    cfg.update(config)
    world = {"air": {"temperature": 4.75}, "radio": radio(hub, name, loss_db=NODE_LOSS_DB)}
    return SimNode(root, cfg, world, board=board)


def bridged(
    tmp_path: Path,
    hub: HubProcess,
    bridge_line: SimLine,
    bridges: list[Bridge],
    line: Line,
    gateway: Callable[..., GatewayProcess],
    board: str = "sim",
    mqtt: str = "",
) -> tuple[GatewayProcess, Cable]:
    """A gateway on a serial line, a bridge on the other end of it, plugged in."""
    g = gateway(
        f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n\n[nodes.41]\n' + mqtt
    )
    bridges.append(Bridge(tmp_path / "bridge", bridge_line, hub, LORA, board))
    cable = Cable(bridge_line, line.master)
    cable.plug()
    return g, cable


def records(line: SimLine) -> list[tuple[bytes, int | None, float | None]]:
    got = []
    for rec in framing.Deframer().feed(line.read()):
        assert isinstance(rec, bytes)
        got.append(framing.split_record(rec))
    return got


# The SX1276 boards (the sim board is an SX1276 on a Heltec V2's pins) and the SX1262 one.
BOARDS = [
    ("sim", "sim"),
    ("lilygo-t3-v1.6", "lilygo-t3-v1.6"),
    ("heltec-v3", "heltec-v3"),
    ("lilygo-t3-v1.6", "heltec-v3"),  # an SX1276 heard by an SX1262
]


@pytest.mark.parametrize(("node_board", "bridge_board"), BOARDS)
def test_lora_frames_reach_mqtt_through_the_bridge_with_rssi_and_snr(
    tmp_path: Path,
    ether_hub: HubProcess,
    bridge_line: SimLine,
    bridges: list[Bridge],
    line: Line,
    gateway: Callable[..., GatewayProcess],
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    node_board: str,
    bridge_board: str,
) -> None:
    sub = subscribe("meteolink/#")
    mqtt = f'\n[mqtt]\nurl = "{broker.url}"\n'
    g, cable = bridged(tmp_path, ether_hub, bridge_line, bridges, line, gateway, bridge_board, mqtt)
    try:
        node = lora_node(tmp_path / "node", ether_hub, node_board)
        for _ in range(3):
            out = node.wake()
            assert node.returncode == 0, out
        wait_until(lambda: g.stored() == [(41, 0), (41, 1), (41, 2)], "three LoRa readings")
        wait_until(lambda: len(sub.on("41/state")) == 3, "three readings on MQTT")
    finally:
        cable.unplug()
    db = sqlite3.connect(f"file:{g.data / 'readings.db'}?mode=ro", uri=True)
    try:
        radio_rows = db.execute("SELECT DISTINCT rssi, snr FROM readings").fetchall()
    finally:
        db.close()
    # What the hub delivered (14 dBm less the link's loss, over the noise
    # floor), as the bridge's chip reported it through its driver.
    heard = [e for e in ether_hub.events() if e.get("event") == "heard"]
    assert len(heard) == 3
    assert {round(e["rssi_dbm"]) for e in heard} == {14 - round(NODE_LOSS_DB)}
    assert len(radio_rows) == 1
    rssi, snr = radio_rows[0]
    assert abs(rssi - (14 - NODE_LOSS_DB)) <= 1, radio_rows
    assert 0 < snr <= 32, radio_rows  # the chips' SNR register saturates
    state = json.loads(sub.on("41/state")[-1].payload)
    assert state["temperature"] == 4.75
    assert g.stop() == 0


@pytest.mark.parametrize("board", ["sim", "heltec-v3"])
def test_acks_travel_back_over_lora(
    tmp_path: Path,
    ether_hub: HubProcess,
    bridge_line: SimLine,
    bridges: list[Bridge],
    line: Line,
    gateway: Callable[..., GatewayProcess],
    board: str,
) -> None:
    g, cable = bridged(tmp_path, ether_hub, bridge_line, bridges, line, gateway, board)
    try:
        node = lora_node(tmp_path / "node", ether_hub, board, ack=True)
        for _ in range(2):
            out = node.wake()
            assert node.returncode == 0, out
        wait_until(lambda: len(g.stored()) == 2, "two readings")
    finally:
        cable.unplug()
    mem = bytes.fromhex(node.rtc()["memory"])
    assert mem[BACKLOG_COUNT] == 0, "the backlog is empty: every frame was acknowledged"
    g.stop()
    # Each ack inside the node's receive window, computed from airtime: from
    # the end of its frame (start + the frame's time on air) for the node's
    # ACK_WINDOW_MS, and heard by the node, which listened for all of it.
    events = ether_hub.events()
    sent = [e for e in events if e["event"] == "sent"]
    ups = [e for e in sent if e["from"] == "node-41"]
    acks = [e for e in sent if e["from"] == "bridge"]
    assert len(ups) == len(acks) == 2
    assert f"_ACK_WINDOW_MS = const({ACK_WINDOW_MS})" in (FIRMWARE / "node.py").read_text()
    toa = {e["len"]: airtime.time_on_air_us(e["len"], 9, 125, 5) for e in sent}
    for up, ack in zip(ups, acks, strict=True):
        assert up["end_us"] - up["start_us"] == toa[up["len"]]
        assert ack["end_us"] - ack["start_us"] == toa[ack["len"]]
        opens = up["start_us"] + toa[up["len"]]
        assert opens <= ack["start_us"]
        assert ack["end_us"] <= opens + ACK_WINDOW_MS * 1000
    heard = [(e["from"], e["n"]) for e in events if e.get("to") == "node-41"]
    assert [("bridge", a["n"]) for a in acks] == [h for h in heard if h[0] == "bridge"]
    assert all(
        e["event"] == "heard" for e in events if e.get("to") == "node-41" and e["from"] == "bridge"
    )


def test_the_node_never_breaks_the_duty_cycle(
    tmp_path: Path, ether_hub: HubProcess, bridge_line: SimLine, bridges: list[Bridge]
) -> None:
    # 864.1 MHz is in the 0.1 % sub-band (3.6 s an hour): at SF9 that is
    # about 15 frames, on air in real time.
    lora = {**LORA, "freq_hz": 864_100_000, "max_wait_s": 0}
    bridges.append(Bridge(tmp_path / "bridge", bridge_line, ether_hub, lora))
    node = lora_node(tmp_path / "node", ether_hub, lora=lora, interval_s=30)
    for _ in range(45):  # 22.5 minutes of node time, one frame every 30 s
        out = node.wake()
        assert node.returncode == 0, out
    time.sleep(0.3)
    heard = records(bridge_line)
    frame_len = len(heard[0][0])
    per_frame = airtime.time_on_air_us(frame_len, 9, 125, 5)
    allowed = 3_600_000 // per_frame
    assert len(heard) <= allowed < 45
    assert len(heard) >= allowed - 2, "the limiter is conservative, not stingy"
    seqs = [frames.decode(f).seq for f, _, _ in heard]
    assert seqs == sorted(seqs) and seqs[0] == 0
    sent = [e for e in ether_hub.events() if e.get("event") == "sent"]
    assert len(sent) == len(heard), "what the node put on air, the bridge heard"


def test_rtc_memory_holds_the_whole_limiter_state(tmp_path: Path) -> None:
    node = SimNode(tmp_path, {"node": 1}, {})
    out = node.wake(
        code="import retained, dutycycle; print(retained.DUTY_SIZE, dutycycle.STATE_SIZE)"
    )
    size, state = out.split()
    assert size == state, "retained.DUTY_SIZE must be dutycycle.STATE_SIZE"
    assert 16 + int(size) == BACKLOG_COUNT


def test_airtime_is_on_record_before_the_radio_sends(
    tmp_path: Path, ether_hub: HubProcess, bridge_line: SimLine, bridges: list[Bridge]
) -> None:
    lora = {**LORA, "sf": 12}
    bridges.append(Bridge(tmp_path / "bridge", bridge_line, ether_hub, lora))
    node = lora_node(tmp_path / "node", ether_hub, lora=lora, ack=True)
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


FAST = {"freq_hz": 868_300_000, "sf": 7, "bw_khz": 500, "cr": 5}  # about 10 ms a frame


@pytest.mark.parametrize("board", ["sim", "heltec-v3"])
def test_a_thousand_packets_a_tenth_of_them_bad_reach_the_gateway_good_and_once(
    tmp_path: Path,
    bridge_line: SimLine,
    bridges: list[Bridge],
    line: Line,
    gateway: Callable[..., GatewayProcess],
    board: str,
) -> None:
    """1,000 readings on air, the hub failing the CRC of a tenth of them at the
    bridge (in continuous receive, on the real driver): every good one is
    stored once, none garbled, and the bad ones nowhere."""
    hub = HubProcess("--bad-crc", "0.1", "--seed", "7")
    try:
        g = gateway(f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n\n[nodes.41]\n')
        bridges.append(Bridge(tmp_path / "bridge", bridge_line, hub, FAST, board))
        cable = Cable(bridge_line, line.master)
        cable.plug()
        try:
            from sim import ether

            node = ether.Antenna(hub.address, name="node-41")
            air = ether.mod(freq_hz=868_300_000, sf=7, bw_hz=500_000, cr=5, sync_word=0x12)
            for seq in range(1000):
                frame = frames.encode(41, seq, {"temperature": 20 + seq / 100})
                toa = node.transmit(air, frame, 14)
                # One packet ending per 50 ms: the bridge polls every 20 ms, and
                # the chip keeps the last packet only (a busy CI machine may
                # hold the bridge back a poll or two).
                time.sleep(toa / 1e6 + 0.04)
            node.close()
            outcome = [e for e in hub.events() if e["event"] != "sent" and e.get("to") == "bridge"]
            good = sorted(e["n"] for e in outcome if e["event"] == "heard")
            bad = [e["n"] for e in outcome if e["event"] == "bad-crc"]
            assert len(good) + len(bad) == 1000
            assert 60 <= len(bad) <= 140, "about a tenth"
            deadline = time.monotonic() + 30
            while len(g.stored()) < len(good) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # nothing more comes
            stored = g.stored()
            missing = sorted(set(good) - {s for _, s in stored})
            assert stored == [(41, n) for n in good], f"every good one, once; missing {missing}"
        finally:
            cable.unplug()
        db = sqlite3.connect(f"file:{g.data / 'readings.db'}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT seq, frame FROM readings").fetchall()
        finally:
            db.close()
        assert all(
            bytes(f) == frames.encode(41, s, {"temperature": 20 + s / 100}) for s, f in rows
        ), "none garbled"
        assert g.stop() == 0
    finally:
        hub.stop()


AIR_SCRIPT = Path(__file__).parent / "mp_lora_link.py"
SF7 = {"freq_hz": 868_100_000, "sf": 7, "bw_khz": 125, "cr": 5}  # mp_lora_link.py air


def air_nodes(
    lora_drivers: Path, hub: HubProcess, plan: list[list[Any]]
) -> "subprocess.Popen[str]":
    """A process of nodes (mp_lora_link.py air) on the real driver: each sends one
    reading at its offset from the base time written to it; ready once up."""
    env = dict(os.environ, MICROPYPATH=f"{lora_drivers}:{FIRMWARE}:{ROOT}")
    proc = subprocess.Popen(
        [find_tool("micropython"), str(AIR_SCRIPT), "air", hub.address, json.dumps(plan)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if json.loads(line or "{}") != {"ready": True}:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the nodes did not start: {line}{out}{err}")
    return proc


@pytest.mark.parametrize("board", ["sim", "heltec-v3"])
def test_two_nodes_at_once_collide_or_one_captures_and_one_out_of_range_is_not_heard(
    tmp_path: Path,
    lora_drivers: Path,
    ether_hub: HubProcess,
    bridge_line: SimLine,
    bridges: list[Bridge],
    board: str,
) -> None:
    """Two node processes send at the same instant (the real driver on the chip
    models, through the hub), three times: at equal power at the bridge they
    collide, and the bridge forwards neither (the first arrives with a bad CRC,
    the other is lost); 10 dB apart the stronger one is captured and forwarded,
    the weaker lost; a node 140 dB away (-126 dBm, below SF7's -123 dBm) is not
    heard at all. What the bridge puts on its serial line, and the hub's record."""
    loss = {"node-1": 110, "node-2": 110, "node-3": 100, "node-4": 110, "node-5": 140}
    ether_hub.configure(links=[{"a": n, "b": "bridge", "loss_db": db} for n, db in loss.items()])
    bridges.append(Bridge(tmp_path / "bridge", bridge_line, ether_hub, SF7, board))
    # Rounds 300 ms apart; a frame is about 50 ms on air.
    a = air_nodes(
        lora_drivers, ether_hub, [["node-1", 1, 0], ["node-3", 3, 300_000], ["node-5", 5, 600_000]]
    )
    # Node 2 a millisecond after node 1 (its packet still overlaps node 1's 50 ms): a
    # CI run on a busy machine saw both lost, which at equal power is the model's rule
    # for two packets starting the same microsecond (sim/ether_physics.py).
    b = air_nodes(lora_drivers, ether_hub, [["node-2", 2, 1_000], ["node-4", 4, 300_000]])
    try:
        base = time.monotonic_ns() // 1000 + 200_000
        outs = []
        for p in (a, b):
            assert p.stdin is not None
            p.stdin.write(f"{base}\n")
            p.stdin.flush()
        for p in (a, b):
            out, err = p.communicate(timeout=30)
            assert p.returncode == 0, out + err
            outs += json.loads(out.splitlines()[-1])["sent"]
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert all(ok for _, ok, _ in outs), outs
    late = {name: us for name, _, us in outs}
    time.sleep(0.3)
    events = ether_hub.events()
    sent = {e["from"]: e for e in events if e["event"] == "sent"}
    assert set(sent) == set(loss)
    # Both pairs overlapped on air: the processes sent at the same instant.
    for x, y in (("node-1", "node-2"), ("node-3", "node-4")):
        assert (
            sent[x]["start_us"] < sent[y]["end_us"] and sent[y]["start_us"] < sent[x]["end_us"]
        ), late
    at_bridge = {e["from"]: e["event"] for e in events if e.get("to") == "bridge"}
    assert sorted([at_bridge["node-1"], at_bridge["node-2"]]) == ["collision", "lost"]
    assert (at_bridge["node-3"], at_bridge["node-4"]) == ("captured", "lost")
    assert at_bridge["node-5"] == "weak"
    # The bridge forwarded node 3's reading, and nothing else.
    heard = records(bridge_line)
    assert [frames.decode(f).node for f, _, _ in heard] == [3]
    assert heard[0][1] == 14 - 100


def test_simulated_stations_on_the_ether_reach_the_gateway_through_a_bridge_process(
    tmp_path: Path,
    ether_hub: HubProcess,
    bridge_line: SimLine,
    bridges: list[Bridge],
    line: Line,
    gateway: Callable[..., GatewayProcess],
) -> None:
    """Issue 11: `meteolink simulate --ether` is heard by a bridge firmware process (the
    real driver on the chip model), which hands it to the real gateway."""
    g = gateway(
        f'unknown_nodes = "accept"\ncommit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n'
    )
    bridges.append(Bridge(tmp_path / "bridge", bridge_line, ether_hub, LORA))
    cable = Cable(bridge_line, line.master)
    cable.plug()
    try:
        args = ["--nodes", "2", "--count", "3", "--seed", "9", "--interval", "0"]
        sim = meteolink("simulate", "--ether", ether_hub.address, "--sf", str(LORA["sf"]), *args)
        assert sim.returncode == 0, sim.stderr
        wait_until(lambda: len(g.stored()) == 6, "the six simulated readings", 60)
    finally:
        cable.unplug()
    stored = g.stored()
    nodes = sorted({n for n, _ in stored})
    assert len(nodes) == 2 and all(sum(n == m for m, _ in stored) == 3 for n in nodes)
    db = sqlite3.connect(f"file:{g.data / 'readings.db'}?mode=ro", uri=True)
    try:
        assert db.execute("SELECT count(*) FROM readings WHERE rssi IS NULL").fetchone() == (0,)
    finally:
        db.close()
