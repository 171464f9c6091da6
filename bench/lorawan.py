"""The LoRaWAN input's throughput: `python -m bench.lorawan [COUNT]`.

A real Mosquitto and the real gateway process (`meteolink gateway`) with one
[[lorawan]] ChirpStack connection and 20 keyed nodes; COUNT uplink events of
ChirpStack's documented shape (tests/gateway/data/chirpstack-v4-up.json),
each carrying a 22-byte frame with a MIC, are published at QoS 1 as a
network server would, as fast as the broker takes them. Measured: uplinks
stored per second from the first publish to the last commit, and the
gateway's CPU time per uplink (utime + stime from /proc/<pid>/stat).
The broker and the publisher share the machine's cores with the gateway.
"""

import base64
import copy
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from meteolink.firmware import frames
from tests.support.broker import Broker
from tests.support.gateway_process import GatewayProcess
from tests.support.tools import wait_until

NODES = 20
DATA = Path(__file__).resolve().parent.parent / "tests" / "gateway" / "data"
# Mosquitto queues at most 1000 QoS 1 messages for a client by default and drops
# the rest: a burst of thousands published at once would lose some before the
# gateway reads them. A network server publishes as uplinks come (a few a second
# for a city); the burst here is only to measure, so the queue is unbounded.
BROKER = ["max_queued_messages 0"]
VALUES = {"temperature": -3.5, "humidity": 91.0, "pressure": 1012.3, "battery": 3.9}


def eui(node: int) -> str:
    return f"70B3D57ED00{node:05X}"


def key(node: int) -> bytes:
    return bytes((node + i) & 0xFF for i in range(16))


def stored(data: Path) -> int:
    path = data / "readings.db"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM readings").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime, stime in clock ticks


def run(count: int) -> str:
    template = json.loads((DATA / "chirpstack-v4-up.json").read_text("utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        broker = Broker(root / "broker", config=["allow_anonymous true", *BROKER])
        broker.start()
        data = root / "data"
        devices = ", ".join(f'"{eui(n)}" = {n}' for n in range(1, NODES + 1))
        nodes = "".join(f'\n[nodes.{n}]\nkey = "{key(n).hex()}"\n' for n in range(1, NODES + 1))
        config = root / "gateway.toml"
        config.write_text(
            f'[gateway]\nname = "bench"\ndata = "{data}"\ncommit_interval = 0.05\n\n'
            f'[[lorawan]]\nname = "city"\nkind = "chirpstack"\nurl = "{broker.url}"\n'
            f"devices = {{ {devices} }}\n{nodes}",
            "utf-8",
        )
        config.chmod(0o600)
        gateway = GatewayProcess(config, data)
        gateway.start()
        publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-network-server")
        try:
            wait_until(lambda: "lorawan:city: subscribed" in gateway.log(), "the subscription")
            bodies = []
            for i in range(count):
                node, seq = 1 + i % NODES, 1 + i // NODES
                msg = copy.deepcopy(template)
                msg["deviceInfo"]["devEui"] = eui(node).lower()
                msg["fPort"] = 10
                frame = frames.encode(node, seq, VALUES, key(node), 0)
                msg["data"] = base64.b64encode(frame).decode()
                bodies.append(
                    (f"application/x/device/{eui(node).lower()}/event/up", json.dumps(msg))
                )
            publisher.max_inflight_messages_set(100)
            publisher.connect("127.0.0.1", broker.port)
            publisher.loop_start()
            assert gateway.proc is not None
            pid = gateway.proc.pid
            cpu, start = cpu_seconds(pid), time.monotonic()
            for topic, body in bodies:
                publisher.publish(topic, body, qos=1)
            wait_until(lambda: stored(data) >= count, "every uplink stored", timeout=600)
            seconds = time.monotonic() - start
            used = cpu_seconds(pid) - cpu
        finally:
            publisher.loop_stop()
            publisher.disconnect()
            gateway.kill()
            broker.stop()
    return (
        f"lorawan input: {count} uplinks stored in {seconds:.1f} s: {count / seconds:.0f}"
        f" uplinks/s; gateway CPU {1000 * used / count:.2f} ms per uplink"
    )


if __name__ == "__main__":
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
