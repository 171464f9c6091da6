"""A real Mosquitto broker on a loopback port, for the tests and the benchmark alike, and a
subscriber with a persistent session that misses nothing across a broker restart."""

import getpass
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.tools import find_tool, wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """mosquitto with a listener on 127.0.0.1, plus whatever `config` lines say.

    It logs to mosquitto.log in `directory`, and runs as the current user:
    as root it would drop to user mosquitto, which cannot read our files.
    """

    def __init__(self, directory: Path, *, config: Iterable[str] = ()) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.port = free_port()
        self.conf = directory / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"user {getpass.getuser()}",
            f"log_dest file {directory / 'mosquitto.log'}",
            *config,
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.port2: int | None = None  # a second listener's (from_file)

    @classmethod
    def from_file(
        cls,
        directory: Path,
        path: Path,
        *,
        replace: Mapping[str, Sequence[str]],
        config: Iterable[str] = (),
    ) -> "Broker":
        """mosquitto on a configuration file as it is written, bar what cannot be the same here.

        replace: for a directive (a line's first word), the lines that stand for its
        lines in the file, one each in order: "listener" -> ["listener {port} 127.0.0.1"],
        a file path -> the test's. "{port}" and "{port2}" are this broker's free
        loopback ports. A directive the file does not have as often as given fails:
        the file changed, and the test no longer tries what it says. config: lines
        Debian's own mosquitto.conf would add (persistence), after the file's.
        """
        broker = cls(directory, config=())
        port2 = free_port()
        left = {key: list(lines) for key, lines in replace.items()}
        lines = []
        for line in path.read_text("utf-8").splitlines():
            word = line.split(maxsplit=1)[0] if line.strip() else ""
            if word in left:
                if not left[word]:
                    raise ValueError(f"{path}: more {word!r} lines than the test replaces")
                line = left[word].pop(0).format(port=broker.port, port2=port2)
            lines.append(line)
        unused = [word for word, rest in left.items() if rest]
        if unused:
            raise ValueError(f"{path}: fewer {unused[0]!r} lines than the test replaces")
        own = [f"user {getpass.getuser()}", f"log_dest file {directory / 'mosquitto.log'}"]
        broker.conf.write_text("\n".join([*lines, *own, *config]) + "\n")
        broker.port2 = port2
        return broker

    def start(self, timeout: float = 10.0) -> None:
        """Start it and return once it accepts connections."""
        with (self.directory / "mosquitto.out").open("ab") as out:
            proc = subprocess.Popen(
                [find_tool("mosquitto"), "-c", str(self.conf)], stdout=out, stderr=out
            )
        self.proc = proc
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with status {proc.returncode}:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto not listening on {self.port}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def log(self) -> str:
        return "".join(
            p.read_text("utf-8", errors="replace")
            for p in (self.directory / "mosquitto.out", self.directory / "mosquitto.log")
            if p.exists()
        )


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
