"""The gateway as a process: real ptys, a real broker, SIGKILL, a port unplugged."""

import json
import os
import signal
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path

from meteolink.firmware import frames, framing
from tests.support.broker import Broker, Message, Subscriber
from tests.support.gateway_process import GatewayProcess, reading
from tests.support.lines import Line
from tests.support.tools import wait_until

KEY = bytes(range(16))


def serial_config(line: Line, extra: str = "") -> str:
    return f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n' + extra


def listed(*nodes: int) -> str:
    """[nodes.N] tables: only listed nodes are stored (unknown_nodes = "reject", the default)."""
    return "".join(f"\n[nodes.{n}]\n" for n in nodes)


def mqtt_config(line: Line, broker: Broker, extra: str = "") -> str:
    return serial_config(line, f'\n[mqtt]\nurl = "{broker.url}"\n' + extra)


def ids(sub: Subscriber) -> list[str]:
    return [json.loads(m.payload)["id"] for m in sub.on("/state")]


def test_garbage_and_cut_frames_between_valid_ones_are_survived(
    line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    g = gateway(serial_config(line, listed(5)))
    rng = __import__("random").Random(7)
    sent = []
    for seq in range(40):
        frame = reading(5, seq)
        line.write(rng.randbytes(rng.randint(0, 60)))  # noise, zero bytes included
        if seq % 7 == 3:
            line.write(framing.cobs_encode(frame)[:9])  # cut short by a reset
        line.send(frame)
        sent.append((5, seq))
    line.write(b"\x55" * 5000)  # a flood without a delimiter
    line.send(reading(5, 40))
    sent.append((5, 40))
    wait_until(lambda: g.stored() == sent, "all 41 frames stored, in order")
    assert g.stop() == 0
    assert "Traceback" not in g.log()


def test_unplugged_port_is_reopened_when_it_returns(
    line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    g = gateway(serial_config(line, listed(9)))
    line.send(reading(9, 1))
    wait_until(lambda: g.stored() == [(9, 1)], "the first frame stored")
    pid = g.proc.pid if g.proc else 0
    line.unplug()
    wait_until(lambda: "went away" in g.log(), "the gateway to notice the unplug")
    line.plug()
    g.wait_open(2)
    line.send(reading(9, 2))
    wait_until(lambda: g.stored() == [(9, 1), (9, 2)], "a frame after the port came back")
    assert g.proc is not None and g.proc.pid == pid and g.proc.poll() is None
    assert g.stop() == 0


def test_acknowledgement_goes_back_after_the_commit(
    line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    g = gateway(serial_config(line, f'\n[nodes.21]\nkey = "{KEY.hex()}"\n'))
    line.send(reading(21, 300, key=KEY, flags=frames.FLAG_ACK_REQUEST))
    got = bytearray()

    def acked() -> bool:
        got.extend(line.read())
        return got.count(0) >= 2

    wait_until(acked, "an acknowledgement on the line")
    # At the moment the ack is on the line, the reading is in the store.
    assert (21, 300) in g.stored()
    record = framing.Deframer().feed(bytes(got))[0]
    assert isinstance(record, bytes)
    ack = frames.decode(record, KEY)
    assert (ack.node, ack.seq, ack.flags & frames.FLAG_ACK, ack.mic) == (21, 300, 8, True)
    g.stop()


def test_replayed_and_forged_frames_are_rejected(
    line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    g = gateway(serial_config(line, f'\n[nodes.30]\nkey = "{KEY.hex()}"\n'))
    genuine = [reading(30, seq, key=KEY) for seq in range(1000, 1300)]
    for frame in genuine:
        line.send(frame)
    wait_until(lambda: len(g.stored()) == 300, "300 genuine frames")
    line.send(genuine[0])  # a recording replayed, below the window
    line.send(reading(30, 5000))  # forged: no MIC
    line.send(reading(30, 5001, key=bytes(16)))  # forged: the wrong key
    line.send(genuine[-1])  # heard twice: a duplicate, not stored again
    line.send(reading(30, 1300, key=KEY))  # and life goes on
    wait_until(lambda: len(g.stored()) == 301, "the next genuine frame")
    assert g.stored() == [(30, s) for s in range(1000, 1301)]
    g.stop()
    log = g.log()
    assert "counter 1000 is replay" in log
    # Both forgeries are counted; the second is said only a minute after the
    # first (gateway/lograte.py): anyone in radio range can send them.
    assert log.count("forged, or a wrong key") == 1
    assert "node 30: 301 received, 0 lost, 1 duplicates, 3 rejected" in log
    assert KEY.hex() not in log and str(KEY) not in log


def test_unlisted_nodes_are_turned_away_by_default_and_the_technician_told(
    line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    g = gateway(serial_config(line, '\n[nodes.1]\nname = "listed"\n'))
    line.send(reading(2, 1))
    line.send(reading(1, 1))
    wait_until(lambda: g.stored() == [(1, 1)], "the listed node's frame")
    g.stop()
    assert g.stored() == [(1, 1)]
    log = g.log()
    assert f"node 2 heard on serial:{line.link} but not in [nodes]" in log
    assert f"add [nodes.2] to {g.config}" in log
    assert "1 unlisted nodes heard, none stored" in log


def test_a_lab_may_store_every_node_it_hears(
    line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    g = gateway(serial_config(line).replace("commit_", 'unknown_nodes = "accept"\ncommit_'))
    line.send(reading(2, 1))
    wait_until(lambda: g.stored() == [(2, 1)], "the unlisted node's frame")
    g.stop()


def test_broker_outage_loses_nothing_and_stores_nothing_twice(
    line: Line,
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    gateway: Callable[..., GatewayProcess],
) -> None:
    sub = subscribe("meteolink/+/state")
    g = gateway(mqtt_config(line, broker, listed(3)))
    for seq in range(50):
        line.send(reading(3, seq), rssi=-101, snr=6.25)
    wait_until(lambda: len(ids(sub)) == 50, "the first 50 readings at the broker")
    broker.stop()
    for seq in range(50, 120):
        line.send(reading(3, seq), rssi=-101, snr=6.25)
    wait_until(lambda: len(g.stored()) == 120, "readings stored while the broker is down")
    broker.start()
    for seq in range(120, 150):
        line.send(reading(3, seq))
    wait_until(lambda: {f"3-{s}" for s in range(150)} <= set(ids(sub)), "every reading", 40)
    assert g.stored() == [(3, s) for s in range(150)], "each reading stored once"
    msg = json.loads(sub.on("/state")[0].payload)
    assert msg["rssi"] == -101 and msg["snr"] == 6.25
    assert msg["gateway"] == "test-gw" and msg["time"].endswith("Z")
    # In order per node: a reading first arrives after every earlier one
    # (a batch cut by the outage may arrive twice: at least once, same id).
    seen = [int(i.split("-")[1]) for i in ids(sub)]
    first = list(dict.fromkeys(seen))
    assert first == list(range(150))
    g.stop()


def test_sigkill_mid_stream_then_restart_delivers_every_accepted_reading(
    line: Line,
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    gateway: Callable[..., GatewayProcess],
) -> None:
    sub = subscribe("meteolink/+/state", "meteolink/gateway/+/status")
    g = gateway(mqtt_config(line, broker, listed(4)))
    for seq in range(400):
        line.send(reading(4, seq))
        if seq == 200:
            wait_until(lambda: len(g.stored()) > 150, "some readings stored")
    g.stop(signal.SIGKILL)
    accepted = g.stored()
    assert len(accepted) >= 150
    wait_until(
        lambda: any(m.payload == b"offline" for m in sub.on("/gateway/test-gw/status")),
        "the last will: offline",
    )
    g.start()
    g.wait_open(2)
    for seq in range(400, 410):
        line.send(reading(4, seq))
    wanted = {f"{n}-{s}" for n, s in accepted} | {f"4-{s}" for s in range(400, 410)}
    wait_until(lambda: wanted <= set(ids(sub)), "every accepted reading at the broker", 40)
    assert len(set(g.stored())) == len(g.stored())
    assert sub.on("/gateway/test-gw/status")[-1].payload == b"online"
    g.stop()


def test_home_assistant_discovery_availability_and_quality(
    line: Line,
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    gateway: Callable[..., GatewayProcess],
) -> None:
    sub = subscribe("homeassistant/#", "meteolink/#")
    node = '\n[nodes.12]\nname = "Cēsis skola / jumts"\ninterval = 1\n'
    config = mqtt_config(line, broker).replace("commit_", "offline_after = 2\ncommit_")
    g = gateway(config + node)
    line.send(frames.encode(12, 1, {"temperature": 99.5, "humidity": 71.0}))
    wait_until(lambda: len(ids(sub)) == 1, "the reading")
    msg = json.loads(sub.on("/state")[0].payload)
    assert msg["implausible"] == {"temperature": 99.5} and "temperature" not in msg
    assert msg["humidity"] == 71.0 and msg["name"] == "Cēsis skola / jumts"
    expected = {
        "homeassistant/sensor/meteolink_12/temperature/config",
        "homeassistant/sensor/meteolink_12/humidity/config",
        "homeassistant/binary_sensor/meteolink_gateway_test-gw/status/config",
    }

    def configs_sent() -> list[Message]:  # not the empty ones clearing RSSI/SNR sensors
        return [m for m in sub.on("/config") if m.payload]

    # Discovery goes once the readings are forwarded: a moment after the reading.
    wait_until(lambda: {m.topic for m in configs_sent()} >= expected, "the discovery configs")
    configs = configs_sent()
    assert all("Cēsis" not in m.topic for m in configs)
    late = subscribe("homeassistant/#", name="late-subscriber")  # sees what is retained
    wait_until(lambda: len(late.on("/config")) == len(configs), "retained configs")
    assert all(m.retain for m in late.on("/config"))
    before = len(configs)
    # Home Assistant restarts and says so: every config is sent again.
    sub.client.publish("homeassistant/status", "online", qos=1)
    wait_until(lambda: len(sub.on("/config")) >= 2 * before, "discovery sent again")
    # Silent for longer than offline_after intervals: reported offline.
    wait_until(
        lambda: any(m.payload == b"offline" for m in sub.on("12/availability")),
        "node 12 reported offline",
    )
    g.stop()
    assert sub.on("/gateway/test-gw/status")[-1].payload == b"offline"


def test_watchdog_pings_reach_the_notify_socket(
    tmp_path: Path, line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)
    g = gateway(serial_config(line), env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "200000"})
    got: list[bytes] = []
    while sum(d == b"WATCHDOG=1" for d in got) < 3:
        got.append(sock.recv(4096))
    assert got[0].startswith(b"READY=1")
    assert g.proc is not None
    # A stalled loop stops the pings, so systemd kills and restarts it.
    os.kill(g.proc.pid, signal.SIGSTOP)
    sock.settimeout(0.1)
    while True:  # drain what was sent before the stop
        try:
            sock.recv(4096)
        except TimeoutError:
            break
    sock.settimeout(0.6)
    try:
        late = sock.recv(4096)
    except TimeoutError:
        late = b""
    assert late == b""
    os.kill(g.proc.pid, signal.SIGCONT)
    sock.settimeout(5)
    assert sock.recv(4096) == b"WATCHDOG=1"
    g.stop()
    sock.close()


def test_a_damaged_stored_reading_is_set_aside_and_forwarding_goes_on(
    line: Line,
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    gateway: Callable[..., GatewayProcess],
) -> None:
    """Issue 9, hole 1: a stored row whose frame no longer decodes (a damaged SD card, a
    hand edit) stopped the MQTT upstream for good, silently, and SIGTERM then hung."""
    sub = subscribe("meteolink/+/state")
    g = gateway(mqtt_config(line, broker, listed(6)))
    broker.stop()  # readings wait in the store
    for seq in range(10):
        line.send(reading(6, seq))
    wait_until(lambda: len(g.stored()) == 10, "ten readings stored")
    db = sqlite3.connect(g.data / "readings.db")
    with db:  # the SD card flips a byte of one stored frame
        db.execute(
            "UPDATE readings SET frame = substr(frame, 1, 5) || x'ff' || substr(frame, 7)"
            " WHERE seq = 4"
        )
    db.close()
    broker.start()
    for seq in range(10, 15):
        line.send(reading(6, seq))
    want = {f"6-{s}" for s in range(15) if s != 4}
    wait_until(lambda: set(ids(sub)) == want, "every reading but the damaged one", 40)
    assert g.stop() == 0, "a clean stop"
    log = g.log()
    assert log.count("set aside") == 1, log
    db = sqlite3.connect(f"file:{g.data / 'readings.db'}?mode=ro", uri=True)
    kept = db.execute("SELECT node, seq, reason FROM set_aside").fetchall()
    db.close()
    assert [(n, s) for n, s, _ in kept] == [(6, 4)] and "CRC" in kept[0][2]
