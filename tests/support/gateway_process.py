"""`meteolink gateway` as systemd runs it, and the frames a test sends it."""

import os
import signal
import sqlite3
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from meteolink.firmware import frames
from tests.support.tools import find_tool, wait_until


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

    def kill(self) -> None:
        """Whatever state it is in: SIGKILL, and close the log (the fixture's clean-up)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
        if self._log is not None:
            self._log.close()

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


def reading(node: int, seq: int, *, key: bytes | None = None, flags: int = 0) -> bytes:
    """A plausible frame: temperature and humidity that move with seq."""
    values = {"temperature": 2.0 + (seq % 50) / 10, "humidity": 80.0, "battery": 3.1}
    return frames.encode(node, seq, values, key, flags)


def config(
    port: Path,
    *,
    mqtt: str | None = None,
    keys: Mapping[int, bytes | None] | None = None,
    gateway: str = "",
) -> str:
    """A config after the gateway fixture's [gateway] table: commits every 50 ms, one serial
    port, an MQTT broker's URL if given, and keys {node: key} as [nodes.N] tables (a node
    listed with None has no key). gateway: more [gateway] lines ("unknown_nodes = ...")."""
    text = f'{gateway}commit_interval = 0.05\n\n[[serial]]\nport = "{port}"\n'
    if mqtt is not None:
        text += f'\n[mqtt]\nurl = "{mqtt}"\n'
    for node, key in (keys or {}).items():
        text += f"\n[nodes.{node}]\n" + (f'key = "{key.hex()}"\n' if key else "")
    return text
