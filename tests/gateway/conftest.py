"""Real parts for the gateway's tests: a Mosquitto broker, pseudo-terminals, the service process."""

import os
import signal
import sqlite3
import subprocess
import threading
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from meteolink.firmware import frames, framing
from tests.helpers import find_tool
from tests.mosquitto import Broker


def wait_until(condition: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    directory = tmp_path / "broker"
    # Persistent sessions survive a broker restart, as the outage test needs.
    b = Broker(
        directory,
        config=[
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {directory}/",
            "autosave_interval 1",
        ],
    )
    b.start()
    yield b
    b.stop()


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool


class Subscriber:
    """A paho client with a persistent session: it misses nothing across a broker restart."""

    def __init__(self, port: int, topics: list[str], *, name: str = "test-subscriber") -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self.topics = topics
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=name, clean_session=False)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        self.connected = threading.Event()
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        wait_until(self.connected.is_set, "the test subscriber to connect")

    def _on_connect(self, client: paho.Client, *args: Any) -> None:
        for topic in self.topics:
            client.subscribe(topic, qos=1)
        self.connected.set()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain)))

    def on(self, topic_suffix: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.topic.endswith(topic_suffix)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def subscribe(broker: Broker) -> Iterator[Callable[..., Subscriber]]:
    made: list[Subscriber] = []

    def make(*topics: str, name: str = "test-subscriber") -> Subscriber:
        s = Subscriber(broker.port, list(topics), name=name)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


class Line:
    """A serial line: the far end of a pseudo-terminal, reached by a by-id-like symlink."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master = self.slave = -1
        self.plug()

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        if self.link.is_symlink():
            self.link.unlink()
        self.link.symlink_to(os.ttyname(self.slave))

    def unplug(self) -> None:
        """As a USB unplug: the device goes away and so does its /dev/serial/by-id name."""
        self.link.unlink()
        os.close(self.master)
        os.close(self.slave)
        self.master = self.slave = -1

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.master, view) :]
            except BlockingIOError:
                time.sleep(0.005)

    def send(self, frame: bytes, *, rssi: int | None = None, snr: float = 0.0) -> None:
        record = frame if rssi is None else framing.radio_record(frame, rssi, snr)
        self.write(framing.cobs_encode(record))

    def read(self) -> bytes:
        try:
            return os.read(self.master, 4096)
        except (BlockingIOError, OSError):
            return b""

    def close(self) -> None:
        if self.master >= 0:
            self.unplug()


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Line]:
    by_id = tmp_path / "dev" / "serial" / "by-id"
    by_id.mkdir(parents=True)
    ln = Line(by_id / "usb-meteolink_LoRa_bridge_0001-if00")
    yield ln
    ln.close()


class GatewayProcess:
    """`meteolink gateway` as systemd would run it."""

    def __init__(self, config: Path, data: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.data = data
        self.env = env or {}
        self.log_path = config.parent / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [find_tool("meteolink"), "gateway", "--config", str(self.config), "--verbose"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )

    def wait_open(self, times: int = 1) -> None:
        """Until the serial port has been opened `times` times (opening flushes its input)."""
        wait_until(lambda: self.log().count(" open at ") >= times, "the serial port to open")

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(20)
        self.proc = None
        assert self._log is not None
        self._log.close()
        return code

    def stored(self) -> list[tuple[int, int]]:
        """(node, seq) of every committed reading, read as a second process would."""
        path = self.data / "readings.db"
        if not path.exists():
            return []
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return [(n, s) for n, s in db.execute("SELECT node, seq FROM readings ORDER BY id")]
        except sqlite3.OperationalError:
            return []
        finally:
            db.close()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    made: list[GatewayProcess] = []

    def make(config_text: str, env: dict[str, str] | None = None) -> GatewayProcess:
        data = tmp_path / "data"
        path = tmp_path / "gateway.toml"
        path.write_text(f'[gateway]\nname = "test-gw"\ndata = "{data}"\n' + config_text, "utf-8")
        g = GatewayProcess(path, data, env)
        g.start()
        made.append(g)
        if "[[serial]]" in config_text:
            g.wait_open()
        return g

    yield make
    for g in made:
        if g.proc is not None:
            g.proc.kill()
            g.proc.wait(10)
        if g._log is not None:
            g._log.close()


def reading(node: int, seq: int, *, key: bytes | None = None, flags: int = 0) -> bytes:
    """A plausible frame: temperature and humidity that move with seq."""
    values = {"temperature": 2.0 + (seq % 50) / 10, "humidity": 80.0, "battery": 3.1}
    return frames.encode(node, seq, values, key, flags)
