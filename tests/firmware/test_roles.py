"""The roles' contracts bite: an implementation missing a function fails the type check.

firmware/roles.py holds every port and link up against its Protocol, and
each sensor driver holds itself to roles.Sensor at its end. Here a copy of
the firmware loses one function at a time and mypy, run as `make typecheck`
runs it (ESP32 stubs), must name what is missing, where it is checked.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from meteolink.firmware import catalogue
from tests.support.tools import FIRMWARE, ROOT

STUBS = ROOT / ".stubs" / "esp32"


def typecheck(tree: Path, *files: str) -> subprocess.CompletedProcess[str]:
    if not STUBS.is_dir():
        pytest.fail("the MicroPython stubs are missing: run 'make typecheck' first")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--explicit-package-bases",
            "--config-file",
            "firmware/mypy.ini",
            "--custom-typeshed-dir",
            str(STUBS),
            "--cache-dir",
            str(tree / ".mypy_cache"),
            "firmware/roles.py",
            *files,
        ],
        cwd=tree,
        env={"MYPYPATH": f"{STUBS}:firmware", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(FIRMWARE, tmp_path / "firmware", ignore=ignore)
    shutil.copytree(ROOT / "sim", tmp_path / "sim", ignore=ignore)
    return tmp_path


def test_every_implementation_satisfies_its_role(tree: Path) -> None:
    drivers = [f"firmware/{row[catalogue.MODULE]}.py" for row in catalogue.CATALOGUE]
    proc = typecheck(tree, *drivers)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize(
    ("path", "function", "role"),
    [
        ("firmware/port_esp32.py", "now_s", "Port"),
        ("firmware/port_rp2.py", "sleep_until_next_cycle", "Port"),
        ("sim/port.py", "nap", "Port"),
        ("firmware/uart_link.py", "poll_ack", "Link"),
        ("firmware/lora_link.py", "sleep", "Link"),
        ("firmware/bme280.py", "stop", "Sensor"),
        ("firmware/battery.py", "compensate", "Sensor"),
    ],
)
def test_a_missing_function_fails_the_type_check(
    tree: Path, path: str, function: str, role: str
) -> None:
    source = tree / path
    text, n = re.subn(rf"\bdef {function}\(", f"def {function}_gone(", source.read_text("utf-8"))
    assert n >= 1
    source.write_text(text, "utf-8")
    proc = typecheck(tree, path)
    assert proc.returncode == 1
    # A port or link fails where roles.py holds it; a driver, at its own end.
    checked = re.escape(path if role == "Sensor" else "firmware/roles.py")
    assert re.search(rf'{checked}:\d+: error: .*"{role}"', proc.stdout), proc.stdout
    assert f'is missing following "{role}" protocol member:' in proc.stdout, proc.stdout
    assert re.search(rf"note: +{function}$", proc.stdout, re.MULTILINE), proc.stdout
