"""The gateway end to end: part of `make bench`; `python -m bench.gateway` runs it alone.

Every part is real: Mosquitto on a loopback port, a pseudo-terminal as the
serial line, `meteolink gateway` as systemd runs it (a notify socket, the
watchdog asked for), and an MQTT subscriber that counts the reading ids that
reach <prefix>/+/state at QoS 1. Figures, each beside the goal of the issue:

- sustained throughput from the first byte on the line to the last reading at
  the subscriber, against the frame rate of a 115200-baud line (goal: 10 times);
- the gateway's CPU while idle and at one frame per second (goal: under 1 % of
  a core), from utime + stime in /proc/<pid>/stat;
- its peak resident memory, VmHWM in /proc/<pid>/status (goal: under 60 MB).

The broker, the subscriber and the line's writer share the machine with the
gateway, as a broker on the Pi itself would. The figures are this machine's:
a Raspberry Pi's core is several times slower than a desktop's or a server's.
"""

import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from meteolink.firmware import frames, framing
from meteolink.gateway.messages import reading_id
from meteolink.tools.pseudo_terminal import PseudoTerminal
from tests.support.broker import Broker

FRAMES = 20_000  # streamed as fast as the line takes them
STATIONS = 8  # node ids on the one bridge
IDLE_SECONDS = 20.0
TRICKLE_SECONDS = 30  # at one frame per second
SETTLE_SECONDS = 2.0  # after start-up (discovery, the first stats) before measuring idle
BAUD = 115200
BITS_PER_BYTE = 10  # 8N1: start bit, eight data bits, stop bit
GOAL_RATIO = 10.0
GOAL_CPU = 1.0  # % of one core
GOAL_MB = 60.0
SHIPPED_COMMIT_INTERVAL = 1.0  # deploy/gateway.toml and the config's default
WATCHDOG_USEC = 30_000_000  # WatchdogSec=30 in deploy/meteolink-gateway.service
CLK_TCK = os.sysconf("SC_CLK_TCK")


def wait_until(condition: Callable[[], object], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"bench: timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)


def values(seq: int) -> dict[str, float | int]:
    """The nine values of a station, moving a little with its counter."""
    return {
        "temperature": 12.0 + seq % 100 / 10,
        "humidity": 40.0 + seq % 30,
        "pressure": 1013.2,
        "pm1": 4.2,
        "pm2_5": 6.8,
        "pm10": 11.5,
        "co2": 420 + seq % 50,
        "voc_index": 96,
        "battery": 3.912,
    }


class Stations:
    """Nodes behind one bridge, each with its own sequence counter."""

    def __init__(self, first: int, count: int) -> None:
        self.seq = dict.fromkeys(range(first, first + count), 0)
        self._turn = 0

    def records(self, n: int) -> list[tuple[str, bytes]]:
        """The next n readings, the nodes taking turns: (reading id, bytes on the wire)."""
        out = []
        nodes = list(self.seq)
        for _ in range(n):
            node = nodes[self._turn % len(nodes)]
            self._turn += 1
            self.seq[node] += 1
            seq = self.seq[node]
            wire = framing.cobs_encode(frames.encode(node, seq, values(seq)))
            out.append((reading_id(node, seq), wire))
        return out


class Subscriber:
    """A paho client on <prefix>/+/state that waits for a set of reading ids."""

    def __init__(self, port: int) -> None:
        self._lock = threading.Lock()
        self._missing: set[str] = set()
        self.arrived: dict[str, float] = {}  # reading id -> perf_counter() of its first copy
        self.messages = 0  # copies included
        self.done = threading.Event()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-subscriber")
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        wait_until(self._subscribed.is_set, "the subscriber's subscription", timeout=10)

    def _on_connect(self, client: paho.Client, *args: Any) -> None:
        client.subscribe("meteolink/+/state", qos=1)

    def _on_subscribe(self, client: paho.Client, *args: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        rid = json.loads(msg.payload)["id"]
        now = time.perf_counter()
        with self._lock:
            self.messages += 1
            if rid in self._missing:
                self._missing.remove(rid)
                self.arrived[rid] = now
                if not self._missing:
                    self.done.set()

    def expect(self, ids: Iterable[str]) -> None:
        """Wait for these ids from now on (call it before they are sent)."""
        with self._lock:
            self._missing = set(ids)
            self.arrived = {}
            self.messages = 0
            self.done.clear()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class GatewayProcess:
    """`meteolink gateway --config FILE`, started as systemd starts it."""

    def __init__(self, directory: Path, *, port: str, mqtt: str, commit_interval: float) -> None:
        directory.mkdir()
        self.data = directory / "data"
        self.config = directory / "gateway.toml"
        self.config.write_text(
            f'[gateway]\nname = "bench"\ndata = "{self.data}"\n'
            f"commit_interval = {commit_interval}\n"
            'unknown_nodes = "accept"  # a bench: every simulated node is stored\n\n'
            f'[[serial]]\nport = "{port}"\n\n[mqtt]\nurl = "{mqtt}"\n',
            "utf-8",
        )
        self.log_path = directory / "gateway.log"
        self.notify_path = directory / "notify"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._notify: socket.socket | None = None
        self._db: sqlite3.Connection | None = None

    def start(self) -> None:
        # systemd's side of sd_notify: the gateway then pings the watchdog as deployed.
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(self.notify_path))
        self._log = self.log_path.open("ab")
        env = dict(
            os.environ,
            NOTIFY_SOCKET=str(self.notify_path),
            WATCHDOG_USEC=str(WATCHDOG_USEC),
            PYTHONUNBUFFERED="1",
        )
        script = Path(sys.executable).parent / "meteolink"
        self.proc = subprocess.Popen(
            [str(script), "gateway", "--config", str(self.config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_ready(self) -> None:
        """Until the port is open (opening flushes its input) and the broker connected."""

        def ready() -> bool:
            text = self.log()
            return self.running() and " open at " in text and ": connected" in text

        wait_until(ready, "the gateway to open its port and connect", timeout=20)

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    def running(self) -> bool:
        """True while the process runs; leaves the bench if it has stopped."""
        if self.proc is not None and self.proc.poll() is not None:
            sys.exit(f"bench: the gateway exited with status {self.proc.returncode}")
        return True

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User and system time of every thread so far."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # from field 3, the state
        return (int(fields[14 - 3]) + int(fields[15 - 3])) / CLK_TCK

    def peak_rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise RuntimeError("no VmHWM in /proc/<pid>/status")

    def stored(self) -> int:
        """The highest reading id committed, read as a second process would."""
        if self._db is None:
            self._db = sqlite3.connect(f"file:{self.data / 'readings.db'}?mode=ro", uri=True)
        row = self._db.execute("SELECT max(id) FROM readings").fetchone()
        return int(row[0] or 0)

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(20)
        self.proc = None
        return code

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
        for res in (self._db, self._notify, self._log):
            if res is not None:
                res.close()
        self._db = self._notify = self._log = None


def cpu_percent(gw: GatewayProcess, during: Callable[[], None]) -> float:
    """The gateway's CPU while during() runs, in % of one core."""
    cpu, start = gw.cpu_seconds(), time.monotonic()
    during()
    return 100 * (gw.cpu_seconds() - cpu) / (time.monotonic() - start)


def trickle(
    gw: GatewayProcess, line: PseudoTerminal, sub: Subscriber, stations: Stations, seconds: int
) -> list[float]:
    """One frame a second; the latency of each, line to subscriber, in seconds.

    Each at a random moment of its second: nodes keep no step with the
    gateway's commits, and a steady 1 s beat would land every frame just
    before one (or just after).
    """
    records = stations.records(seconds)
    sub.expect(rid for rid, _ in records)
    sent: dict[str, float] = {}
    rng = random.Random(1)
    start = time.perf_counter()
    for i, (rid, wire) in enumerate(records):
        time.sleep(max(0.0, start + i + rng.random() * 0.9 - time.perf_counter()))
        sent[rid] = time.perf_counter()
        line.write(wire)
    time.sleep(max(0.0, start + seconds - time.perf_counter()))  # the last second, quiet
    wait_until(lambda: gw.running() and sub.done.is_set(), "every reading sent at one a second", 30)
    return [sub.arrived[rid] - t for rid, t in sent.items()]


def stream(
    gw: GatewayProcess, line: PseudoTerminal, sub: Subscriber, stations: Stations, n: int
) -> dict[str, float]:
    """n frames as fast as the line takes them; how long until written, stored, delivered."""
    records = stations.records(n)
    blob = b"".join(wire for _, wire in records)
    sub.expect(rid for rid, _ in records)
    base = gw.stored()
    cpu = gw.cpu_seconds()
    log_lines = len(gw.log().splitlines())
    written = 0.0

    def writer() -> None:
        nonlocal written
        with contextlib.suppress(OSError):  # the line closed under it: the bench failed
            line.write(blob)
            written = time.perf_counter()

    thread = threading.Thread(target=writer, name="line writer", daemon=True)
    start = time.perf_counter()
    thread.start()
    # The line is read, checked and committed by the gateway's loop; poll the store.
    wait_until(
        lambda: gw.running() and gw.stored() >= base + n, f"{n:,} readings in the store", 300
    )
    stored = time.perf_counter()
    wait_until(lambda: gw.running() and sub.done.is_set(), f"{n:,} readings at the subscriber", 300)
    delivered = max(sub.arrived.values())
    cpu = gw.cpu_seconds() - cpu
    thread.join()
    return {
        "bytes_per_frame": len(blob) / n,
        "written": n / (written - start),
        "stored": n / (stored - start),
        "delivered": n / (delivered - start),
        "cpu_per_frame": cpu / n,
        "copies": sub.messages - n,
        "log_lines": len(gw.log().splitlines()) - log_lines,
    }


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def megabytes(kb: int) -> float:
    return kb * 1024 / 1e6


def session(
    tmp: Path,
    broker: Broker,
    sub: Subscriber,
    stations: Stations,
    *,
    commit_interval: float,
    full: bool,
) -> None:
    """One gateway, from start to SIGTERM; prints its figures as they come."""
    with contextlib.ExitStack() as stack:
        line = PseudoTerminal()
        stack.callback(line.close)
        gw = GatewayProcess(
            tmp / f"gateway-{commit_interval:g}",
            port=line.path,
            mqtt=broker.url,
            commit_interval=commit_interval,
        )
        stack.callback(gw.close)
        head = f"  commit_interval {commit_interval:g} s"
        if commit_interval == SHIPPED_COMMIT_INTERVAL:
            head += " (shipped)"

        def say(text: str) -> None:
            print(f"{head}: {text}", flush=True)

        try:
            gw.start()
            gw.wait_ready()
            if full:
                time.sleep(SETTLE_SECONDS)
                idle = cpu_percent(gw, lambda: time.sleep(IDLE_SECONDS))
                say(
                    f"CPU idle ({IDLE_SECONDS:g} s, watchdog on): {idle:.2f} % of one core"
                    f" (±{100 / CLK_TCK / IDLE_SECONDS:.2f};"
                    f" goal < {GOAL_CPU:g} %: {verdict(idle < GOAL_CPU)})"
                )
                lat: list[float] = []

                def one_a_second() -> None:
                    lat.extend(trickle(gw, line, sub, stations, TRICKLE_SECONDS))

                busy = cpu_percent(gw, one_a_second)
                say(
                    f"CPU at 1 frame/s ({TRICKLE_SECONDS} s): {busy:.2f} % of one core"
                    f" (±{100 / CLK_TCK / TRICKLE_SECONDS:.2f};"
                    f" goal < {GOAL_CPU:g} %: {verdict(busy < GOAL_CPU)})"
                )
                say(
                    "latency at 1 frame/s, line to subscriber:"
                    f" median {statistics.median(lat) * 1000:,.0f} ms,"
                    f" max {max(lat) * 1000:,.0f} ms"
                )
                mb = megabytes(gw.peak_rss_kb())
                say(
                    f"peak resident memory (VmHWM) so far: {mb:.1f} MB"
                    f" (goal < {GOAL_MB:g} MB: {verdict(mb < GOAL_MB)})"
                )
            r = stream(gw, line, sub, stations, FRAMES)
            line_rate = BAUD / (BITS_PER_BYTE * r["bytes_per_frame"])
            ratio = r["delivered"] / line_rate
            say(
                f"{FRAMES:,} frames end to end: {r['delivered']:,.0f} frames/s"
                f" = {ratio:.1f}× the line (goal ≥ {GOAL_RATIO:g}×: {verdict(ratio >= GOAL_RATIO)})"
            )
            say(
                f"committed to the store: {r['stored']:,.0f} frames/s;"
                f" taken off the line: {r['written']:,.0f} frames/s"
            )
            say(
                f"gateway CPU while streaming: {r['cpu_per_frame'] * 1e6:,.0f} µs per frame;"
                f" {r['log_lines']:,.0f} log lines written"
                + (f"; {r['copies']:,.0f} readings delivered twice" if r["copies"] else "")
            )
            if full:
                mb = megabytes(gw.peak_rss_kb())
                say(
                    f"peak resident memory (VmHWM) after {FRAMES:,} frames: {mb:.1f} MB"
                    f" (goal < {GOAL_MB:g} MB: {verdict(mb < GOAL_MB)})"
                )
            code = gw.stop()
            if code != 0:
                sys.exit(f"bench: the gateway exited with status {code} on SIGTERM, not 0")
        except BaseException:
            if gw.log_path.exists():
                tail = gw.log().splitlines()[-20:]
                print("bench: the gateway's log ends:", *tail, sep="\n  ", file=sys.stderr)
            raise


def main() -> None:
    per_frame = len(Stations(1, 1).records(1)[0][1])
    line_rate = BAUD / (BITS_PER_BYTE * per_frame)
    print(
        "gateway end to end: pty -> `meteolink gateway` -> SQLite -> Mosquitto -> subscriber,"
        f" QoS 1; {STATIONS} nodes, nine values, {per_frame} B a frame on the wire:"
    )
    print(
        f"  a {BAUD}-baud line (8N1) carries {line_rate:,.0f} frames/s;"
        f" the goal, {GOAL_RATIO:g}×, is {GOAL_RATIO * line_rate:,.0f} frames/s",
        flush=True,
    )
    with (
        tempfile.TemporaryDirectory(prefix="meteolink-bench-") as name,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(name)
        # As installed but for a longer queue per client (the default, 1000,
        # drops the subscriber's messages). set_tcp_nodelay stays false,
        # Mosquitto's default, which the gateway meets at any stock broker.
        broker = Broker(
            tmp / "broker", config=["allow_anonymous true", "max_queued_messages 1000000"]
        )
        stack.callback(broker.stop)
        broker.start()
        sub = Subscriber(broker.port)
        stack.callback(sub.close)
        # The shipped setting measured in full; a shorter interval for throughput alone.
        # Each gateway has its own nodes, so that every reading id is new to the subscriber.
        session(
            tmp,
            broker,
            sub,
            Stations(1, STATIONS),
            commit_interval=SHIPPED_COMMIT_INTERVAL,
            full=True,
        )
        session(tmp, broker, sub, Stations(101, STATIONS), commit_interval=0.1, full=False)


if __name__ == "__main__":
    main()
