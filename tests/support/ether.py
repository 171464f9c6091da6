"""The sim ether in tests: its hub as a process, and scripted radios as processes.

The hub is `python -m sim.ether_hub` (CPython); each radio is
tests/sim/mp_ether_radio.py under the MicroPython unix port or CPython,
driven line by line. Times are CLOCK_MONOTONIC microseconds, which every
process of the host shares (MicroPython's time.ticks_us() on the unix port),
so a test can make two processes transmit at chosen instants.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.tools import FIRMWARE, ROOT, find_tool

RADIO_SCRIPT = ROOT / "tests" / "sim" / "mp_ether_radio.py"


def now_us() -> int:
    return time.monotonic_ns() // 1000


def mod(**settings: Any) -> list[Any]:
    """A modulation (sim.ether.mod()'s settings and defaults), as the JSON list the radio
    script takes."""
    from sim import ether

    return list(ether.mod(**settings))


class HubProcess:
    """`python -m sim.ether_hub` on a free port of 127.0.0.1."""

    def __init__(self, *args: str, log: Path | None = None) -> None:
        cmd = [sys.executable, "-m", "sim.ether_hub", "--port", "0", *args]
        if log is not None:
            cmd += ["--log", str(log)]
        # What it says on stderr goes to a file: a pipe nobody reads would fill.
        self.stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by stop())
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.stderr, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("sim ether hub on "):
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError(f"the hub did not start: {line!r}\n{self.errors()}")
        self.address = line.split()[-1]
        self.port = int(self.address.rsplit(":", 1)[1])

    def control(self, **request: Any) -> dict[str, Any]:
        from sim import ether

        reply: dict[str, Any] = ether.control(request, self.address)
        return reply

    def configure(self, **config: Any) -> None:
        self.control(configure=config)

    def events(self) -> list[dict[str, Any]]:
        """Every event the hub recorded since its last reset."""
        out: list[dict[str, Any]] = []
        while True:
            reply = self.control(events=len(out))
            if not reply["events"]:
                return out
            out += reply["events"]

    def errors(self) -> str:
        """What the hub wrote on stderr so far."""
        self.stderr.seek(0)
        return self.stderr.read()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
        self.stderr.close()


class Radio:
    """One scripted radio in its own process (micropython=True: the unix port)."""

    def __init__(
        self,
        hub: HubProcess,
        name: str,
        *,
        micropython: bool = True,
        position: list[float] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        if micropython:
            cmd = [find_tool("micropython"), str(RADIO_SCRIPT)]
        else:
            cmd = [sys.executable, str(RADIO_SCRIPT)]
        full_env = dict(
            os.environ, MICROPYPATH=f"{FIRMWARE}:{ROOT}", PYTHONPATH=str(ROOT), **(env or {})
        )
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        hello: dict[str, Any] = {"op": "hello", "address": hub.address}
        if name:
            hello["name"] = name
        if position is not None:
            hello["position"] = position
        reply = self.ask(**hello)
        self.name = reply["name"]

    def send(self, **command: Any) -> None:
        """Send a command without waiting for its answer (see result())."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def result(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            out, err = self._end()
            raise AssertionError(f"radio {self.name} died:\n{out}\n{err}")
        try:
            answer: dict[str, Any] = json.loads(line)
        except ValueError:
            out, err = self._end()  # MicroPython prints tracebacks on stdout
            raise AssertionError(f"radio {self.name} said:\n{line}{out}\n{err}") from None
        assert "error" not in answer, answer
        return answer

    def _end(self) -> tuple[str, str]:
        # What it still says as it ends (a traceback); killed if it does not end.
        # (Read through the pipes' buffers: communicate() would skip them.)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        return self.proc.stdout.read(), self.proc.stderr.read()

    def ask(self, **command: Any) -> dict[str, Any]:
        self.send(**command)
        return self.result()

    def listen(self, m: list[Any] | None, at_us: int | None = None) -> int:
        ts: int = self.ask(op="listen", mod=m, at_us=at_us)["ts"]
        return ts

    def transmit(
        self, m: list[Any], payload: bytes, power: int = 14, at_us: int | None = None
    ) -> dict[str, Any]:
        return self.ask(op="transmit", mod=m, payload=payload.hex(), power=power, at_us=at_us)

    def collect(self, ms: int = 1000, most: int | None = None) -> list[dict[str, Any]]:
        command: dict[str, Any] = {"op": "collect", "ms": ms}
        if most is not None:
            command["max"] = most
        heard: list[dict[str, Any]] = self.ask(**command)["heard"]
        for h in heard:
            h["payload"] = bytes.fromhex(h["payload"])
        return heard

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send(op="quit")
                self.proc.communicate(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.communicate()
