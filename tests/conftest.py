"""Fixtures that run the real tools: the MicroPython unix port and mpy-cross."""

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers import FIRMWARE, ROOT, find_tool

# Speed is measured in bench/, not here: no per-example deadline that a busy
# two-core CI machine could trip.
settings.register_profile("meteolink", deadline=None)
settings.load_profile("meteolink")


@pytest.fixture(scope="session")
def micropython() -> Callable[..., str]:
    """Runs a script under the real MicroPython unix port.

    firmware/ is on its path, as the node's filesystem root, and so is the
    repository root, for the `sim` board's emulated parts (`import sim.i2c`).
    """
    binary = find_tool("micropython")

    def run(script: Path, *args: str, timeout: float = 120) -> str:
        env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:{ROOT}:.frozen")
        proc = subprocess.run(
            [binary, str(script), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        assert proc.returncode == 0, f"micropython failed:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    return run


@pytest.fixture(scope="session")
def mpy_cross() -> str:
    return find_tool("mpy-cross")
