"""A full disk under the real gateway process: it says so, keeps forwarding, waits, recovers.

The gateway runs in a mount namespace of its own (`unshare --mount`) whose
data directory is a small tmpfs: the test fills and empties that tmpfs
through /proc/PID/root, which reaches into the gateway's mounts, and the
tmpfs vanishes with the process. This needs root, as CI and this machine
run tests; a missing tool fails the test (find_tool), never skips it.
"""

import base64
import errno
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from meteolink.firmware import frames, framing
from tests.support.broker import Broker, Subscriber
from tests.support.figures import Figures
from tests.support.gateway_process import GatewayProcess, reading
from tests.support.lines import Line
from tests.support.tools import find_tool, wait_until

pytestmark = pytest.mark.reliability

NODE = 7
TMPFS = "32m"  # room for the store, its reserve (gateway/diskspace.py) and a little more


class ConfinedGateway(GatewayProcess):
    """`meteolink gateway` whose data directory is a tmpfs only it can see."""

    def __init__(
        self, config: Path, data: Path, env: dict[str, str], *, full_at_start: bool
    ) -> None:
        super().__init__(config, data, env)
        self.full_at_start = full_at_start

    def start(self) -> None:
        if os.geteuid() != 0:
            pytest.fail("the disk-full tests mount a tmpfs: run them as root (as CI does)")
        self.data.mkdir(parents=True, exist_ok=True)
        fill = 'dd if=/dev/zero of="$0/ballast" bs=64k 2>/dev/null; ' if self.full_at_start else ""
        script = f'mount -t tmpfs -o size={TMPFS} meteolink-test "$0" && {fill}exec "$@"'
        unshare = [find_tool("unshare"), "--mount", "--propagation", "private"]
        gateway = [find_tool("meteolink"), "gateway", "--config", str(self.config), "--verbose"]
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*unshare, "sh", "-c", script, str(self.data), *gateway],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )

    def inside(self, name: str) -> Path:
        """A file of the data directory as the gateway sees it (on its tmpfs)."""
        assert self.proc is not None
        return Path(f"/proc/{self.proc.pid}/root") / self.data.relative_to("/") / name

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def fill(self) -> None:
        """Write a ballast file until the tmpfs has no byte left."""
        fd = os.open(self.inside("ballast"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            chunk = bytes(1 << 16)
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    if len(chunk) == 4096:
                        break
                    chunk = chunk[: len(chunk) // 2]
        finally:
            os.close(fd)

    def free(self) -> None:
        self.inside("ballast").unlink()

    def stored(self) -> list[tuple[int, int]]:
        """(node, seq) of every committed reading, read inside the gateway's mounts.

        (SQLite resolves symbolic links in a database's path, and with them
        /proc/PID/root, so the store is read from within the namespace.)
        """
        assert self.proc is not None
        nsenter = [find_tool("nsenter"), "--target", str(self.proc.pid), "--mount", "--"]
        out = subprocess.run(
            [*nsenter, sys.executable, "-c", READ_STORE, str(self.data / "readings.db")],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        return [(n, s) for n, s in json.loads(out)]


READ_STORE = """
import json, os, sqlite3, sys
rows = []
if os.path.exists(sys.argv[1]):
    db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    rows = db.execute("SELECT node, seq FROM readings ORDER BY id").fetchall()
print(json.dumps(rows))
"""


class Watchdog:
    """The socket systemd would read sd_notify datagrams on (an abstract one), read at once."""

    def __init__(self) -> None:
        self.address = "@meteolink-test-" + uuid.uuid4().hex
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.address[1:])
        self.sock.settimeout(0.1)
        self.pings = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def env(self) -> dict[str, str]:
        # A ping every 0.5 s (half the period, as systemd advises).
        return {"NOTIFY_SOCKET": self.address, "WATCHDOG_USEC": "1000000"}

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                if self.sock.recv(4096) == b"WATCHDOG=1":
                    self.pings += 1
            except TimeoutError:
                pass

    def count(self) -> int:
        return self.pings

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def watchdog() -> Iterator[Watchdog]:
    w = Watchdog()
    yield w
    w.close()


@pytest.fixture
def confined(tmp_path: Path) -> Iterator[Callable[..., ConfinedGateway]]:
    made: list[ConfinedGateway] = []

    def make(config_text: str, env: dict[str, str], *, full_at_start: bool) -> ConfinedGateway:
        data = tmp_path / "data"
        path = tmp_path / "gateway.toml"
        path.write_text(f'[gateway]\nname = "test-gw"\ndata = "{data}"\n' + config_text, "utf-8")
        path.chmod(0o600)
        g = ConfinedGateway(path, data, env, full_at_start=full_at_start)
        g.start()
        made.append(g)
        return g

    yield make
    for g in made:
        g.kill()


class Acks:
    """The acknowledgements the gateway wrote back on the line, by counter."""

    def __init__(self, line: Line) -> None:
        self.line = line
        self.deframer = framing.Deframer()
        self.seqs: list[int] = []

    def __call__(self) -> set[int]:
        for record in self.deframer.feed(self.line.read()):
            assert isinstance(record, bytes), record
            ack = frames.decode(record)
            assert ack.flags & frames.FLAG_ACK and ack.node == NODE
            self.seqs.append(ack.seq)
        return set(self.seqs)


def send(line: Line, seqs: range) -> None:
    for seq in seqs:
        line.send(reading(NODE, seq, flags=frames.FLAG_ACK_REQUEST))


def config(line: Line, broker: Broker | None = None) -> str:
    text = f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n'
    text += f'\n[nodes.{NODE}]\nname = "roof"\n'
    return text + (f'\n[mqtt]\nurl = "{broker.url}"\n' if broker else "")


def at_broker(sub: Subscriber) -> set[int]:
    return {int(json.loads(m.payload)["id"].split("-")[1]) for m in sub.on("/state")}


def test_full_disk_is_said_plainly_waited_out_and_loses_nothing(
    line: Line,
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    confined: Callable[..., ConfinedGateway],
    watchdog: Watchdog,
    figures: Figures,
) -> None:
    sub = subscribe("meteolink/+/state")
    g = confined(config(line, broker), watchdog.env(), full_at_start=False)
    g.wait_open()
    pid = g.proc.pid if g.proc else 0
    acks = Acks(line)
    send(line, range(20))
    wait_until(lambda: acks() == set(range(20)), "the first 20 readings acknowledged")
    wait_until(lambda: at_broker(sub) == set(range(20)), "the first 20 at the broker")

    # Stored but not yet forwarded when the disk fills: the broker is away.
    broker.stop()
    send(line, range(20, 40))
    wait_until(lambda: acks() == set(range(40)), "20 more stored while the broker is away")

    g.fill()
    send(line, range(40, 41))  # the frame that finds the disk full
    wait_until(lambda: "disk full" in g.log() or not g.alive(), "the gateway to say disk full")
    assert g.alive(), g.log()
    said = next(ln for ln in g.log().splitlines() if "disk full" in ln)
    assert str(g.data) in said and "free" in said, said
    pings = watchdog.count()
    send(line, range(41, 50))  # not accepted: the node keeps them and sends them again
    broker.start()
    wait_until(lambda: at_broker(sub) == set(range(40)), "stored readings forwarded meanwhile", 40)
    wait_until(lambda: watchdog.count() >= pings + 3, "the watchdog fed while the disk is full")
    assert g.alive(), g.log()
    assert set(range(40, 50)).isdisjoint(acks()), "acknowledged while the disk is full"
    assert g.stored() == [(NODE, s) for s in range(40)]

    full_pings = watchdog.count() - pings
    g.free()
    freed = time.monotonic()
    wait_until(lambda: "disk space is back" in g.log(), "the gateway to notice space came back")
    noticed_s = time.monotonic() - freed
    back = next(ln for ln in g.log().splitlines() if "disk space is back" in ln)
    assert "frames turned away" in back, back
    assert g.inside("space-reserve").stat().st_size > 0, "the reserve is made again"
    send(line, range(40, 50))  # the node's backlog, sent again
    wait_until(lambda: acks() == set(range(50)), "the resent readings acknowledged")
    wait_until(lambda: at_broker(sub) == set(range(50)), "every reading at the broker", 40)
    final = g.stored()
    assert final == [(NODE, s) for s in range(50)]
    assert g.proc is not None and g.proc.pid == pid and g.alive()

    assert g.stop() == 0
    log = g.log()
    assert log.count("disk full") == 1, log
    assert "Traceback" not in log and "permission" not in log, log
    figures.record(
        stored_before=40,
        forwarded_while_full=40,
        not_acknowledged_while_full=10,
        watchdog_pings_while_full=full_pings,
        space_back_noticed_s=round(noticed_s, 1),
        stored_at_end=len(final),
        restarts=0,
    )


def test_start_on_a_full_disk_waits_for_space_instead_of_exiting(
    line: Line, confined: Callable[..., ConfinedGateway], watchdog: Watchdog
) -> None:
    g = confined(config(line), watchdog.env(), full_at_start=True)
    wait_until(lambda: "disk full" in g.log(), "the gateway to say the disk is full")
    pings = watchdog.count()
    wait_until(lambda: watchdog.count() >= pings + 3, "the watchdog fed while waiting for space")
    assert g.alive(), g.log()

    g.free()
    wait_until(lambda: "disk space is back" in g.log(), "the gateway to notice space came back")
    g.wait_open()
    acks = Acks(line)
    send(line, range(5))
    wait_until(lambda: acks() == set(range(5)), "readings acknowledged once space is back")
    assert g.stored() == [(NODE, s) for s in range(5)]
    assert g.stop() == 0
    log = g.log()
    assert log.count("disk full") == 1, log
    assert "Traceback" not in log and "permission" not in log, log


def test_federation_frames_a_full_disk_turned_away_come_again_from_the_broker(
    broker: Broker, confined: Callable[..., ConfinedGateway]
) -> None:
    """A central gateway acknowledges nothing its full disk held or turned away
    (gateway/acks_after_commit.py): the held frames are acknowledged once committed, the
    broker sends the others again, and once the space is back all are stored."""
    text = f'commit_interval = 0.05\n\n[[federation]]\nurl = "{broker.url}"\n'
    g = confined(text + f"\n[nodes.{NODE}]\n", {}, full_at_start=False)
    wait_until(lambda: "subscribed to meteolink/+/frame" in g.log(), "subscribed")
    site = paho.Client(CallbackAPIVersion.VERSION2, client_id="bridge-site-a")
    site.connect("127.0.0.1", broker.port)
    site.loop_start()

    def publish(seqs: range) -> None:
        for seq in seqs:
            message = {
                "frame": base64.b64encode(reading(NODE, seq)).decode(),
                "received": time.time(),
                "gateway": "site-a",
            }
            site.publish(f"meteolink/{NODE}/frame", json.dumps(message), qos=1).wait_for_publish(10)

    try:
        publish(range(5))
        wait_until(lambda: g.stored() == [(NODE, s) for s in range(5)], "the first five stored")
        g.fill()
        publish(range(5, 10))  # judged, then held with their batch: not acknowledged
        wait_until(lambda: "disk full" in g.log(), "the gateway to say disk full")
        publish(range(10, 15))  # turned away unjudged
        time.sleep(1)
        assert g.alive(), g.log()
        assert g.stored() == [(NODE, s) for s in range(5)]
        g.free()
        wait_until(lambda: g.stored() == [(NODE, s) for s in range(15)], "the rest, sent again", 60)
        assert "turned frames away" in g.log()  # and gave them back to the broker
    finally:
        site.loop_stop()
        site.disconnect()
