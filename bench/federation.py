"""A central gateway taking sites' frames: `python -m bench.federation` (issue 13).

A real Mosquitto on loopback and `meteolink gateway` with a [[federation]]
input. FRAMES frames of NODES keyed nodes, each published twice as two sites
would (site-a and site-b, the same frame), are queued on the broker for the
central gateway's persistent session while it is stopped; then it starts,
and the figure is how fast it drains them: frames judged per second (half
stored, half "heard again") from its first subscription to the last reading
in its store, and its CPU per frame (utime + stime from /proc/<pid>/stat,
start-up included). Two sites' worth of frames: what a municipality's
central gateway meets after its own restart.
"""

import base64
import json
import os
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from meteolink.firmware import frames
from tests.support.broker import Broker
from tests.support.tools import find_tool

NODES = 50
FRAMES = 5_000  # readings; each is published twice, as two sites would
KEYS = {n: bytes((n + i) % 256 for i in range(16)) for n in range(1, NODES + 1)}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


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


def run(directory: Path) -> str:
    broker = Broker(
        directory / "broker",
        config=["allow_anonymous true", "max_queued_messages 0", "persistence false"],
    )
    broker.start()
    data = directory / "data"
    conf = directory / "gateway.toml"
    text = f'[gateway]\nname = "centre"\ndata = "{data}"\n\n[[federation]]\nurl = "{broker.url}"\n'
    text += "".join(f'\n[nodes.{n}]\nkey = "{k.hex()}"\n' for n, k in KEYS.items())
    conf.write_text(text)
    conf.chmod(0o600)
    command = [find_tool("meteolink"), "gateway", "--config", str(conf)]
    log = (directory / "gateway.log").open("ab")
    try:
        # A first run makes the persistent session, then stops: the frames wait for it.
        gw = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        while "subscribed" not in (directory / "gateway.log").read_text():
            time.sleep(0.05)
        gw.terminate()
        gw.wait(20)
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-sites")
        client.max_inflight_messages_set(100)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        infos = []
        for i in range(FRAMES):
            node, seq = i % NODES + 1, i // NODES + 1
            values = {"temperature": 2.0 + seq % 50 / 10, "humidity": 80.0, "battery": 3.1}
            frame = base64.b64encode(frames.encode(node, seq, values, KEYS[node])).decode()
            for site in ("site-a", "site-b"):
                message = {"frame": frame, "received": time.time(), "rssi": -90, "snr": 7.5}
                message |= {"gateway": site, "id": f"{node}-{seq}"}
                infos.append(client.publish(f"meteolink/{node}/frame", json.dumps(message), 1))
        for info in infos:
            info.wait_for_publish(30)
        client.loop_stop()
        client.disconnect()
        start = time.monotonic()
        gw = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        while stored(data) < FRAMES:
            time.sleep(0.02)
        took = time.monotonic() - start
        cpu = cpu_seconds(gw.pid)
        gw.terminate()
        gw.wait(20)
    finally:
        log.close()
        broker.stop()
    judged = 2 * FRAMES
    return (
        f"federation: {judged} frames ({FRAMES} readings from two sites, {NODES} keyed nodes)"
        f" drained in {took:.2f} s: {judged / took:.0f} frames/s, start-up included;"
        f" CPU {cpu * 1e6 / judged:.0f} us per frame"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="meteolink-bench-federation-") as tmp:
        print(run(Path(tmp)))


if __name__ == "__main__":
    main()
