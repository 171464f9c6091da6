"""Paths, the test vectors, and the real tools the tests run.

A tool the tests need (micropython, mpy-cross, mosquitto, systemd-analyze) that
is missing makes the test fail, never skip: `make test` installs all of them.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
VECTOR_FILE = ROOT / "docs" / "frame-vectors.json"
VECTORS: dict[str, Any] = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))


def key_of(vector: dict[str, Any]) -> bytes | None:
    return bytes.fromhex(vector["key"]) if vector["key"] else None


def find_tool(name: str) -> str:
    """The path of a command-line tool, looked up beside this Python first.

    The sbin directories are searched too: Debian puts mosquitto there.
    """
    dirs = [str(Path(sys.executable).parent), os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]
    path = os.pathsep.join(dirs)
    found = shutil.which(name, path=path)
    if found is None:
        pytest.fail(f"{name} is not installed: run the tests with 'make test', which installs it")
    return found


class Clock:
    """A clock that stands still until the test moves it: `clock.now += 60`."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def systemd_tool(name: str) -> str:
    """systemd-analyze or systemd-notify: from the systemd package, not from pip."""
    if shutil.which(name) is None:
        pytest.fail(f"{name} is not installed: apt-get install systemd")
    return find_tool(name)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def meteolink(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """The installed `meteolink` script, run as a user runs it; never a traceback."""
    proc = subprocess.run(
        [find_tool("meteolink"), *args],
        input=stdin.decode("latin-1"),
        capture_output=True,
        text=True,
        encoding="latin-1",
        timeout=60,
        check=False,
    )
    assert "Traceback" not in proc.stderr
    return proc


def meteolink_bytes(*args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    """The same, with bytes in and out (binary captures)."""
    return subprocess.run(
        [find_tool("meteolink"), *args], input=stdin, capture_output=True, timeout=60, check=False
    )


def memory_kb(pid: int, key: str = "VmRSS") -> int:
    """A process's memory from /proc/PID/status in kB: VmRSS (resident now) or VmHWM (its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")
