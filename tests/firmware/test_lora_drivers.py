"""The real LoRa drivers in the tests: installed with mip from a package index.

tests/support/lora_drivers.py installs micropython-lib's lora, lora-sync,
lora-async, lora-sx127x and lora-sx126x once per session (the `lora_drivers`
fixture); firmware under test finds them first on its MICROPYPATH.
"""

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import lora_drivers
from tests.support.tools import find_tool


def test_the_drivers_are_installed_with_mip(
    lora_drivers: Path, micropython: Callable[..., str], tmp_path: Path
) -> None:
    got = sorted(p.name for p in (lora_drivers / "lora").iterdir())
    assert got == sorted(f"{m}.mpy" for m in lora_drivers_modules())
    assert all((lora_drivers / "lora" / n).read_bytes()[:2] == b"M\x06" for n in got)
    script = tmp_path / "probe.py"
    script.write_text(
        # The unix port's machine has no Pin: the sim board's (sim/machine.py) first.
        "import json, sim.machine, lora\n"
        "print(json.dumps({'file': lora.__file__, 'classes': sorted(n for n in dir(lora)"
        " if n.startswith(('SX', 'AsyncSX')))}))\n"
    )
    probe = json.loads(micropython(script))
    # The package mip installed, not anything of meteolink's, is what `import lora` finds.
    assert probe["file"] == str(lora_drivers / "lora" / "__init__.mpy")
    for chip in ("SX1261", "SX1262", "SX1276", "SX1277", "SX1278", "SX1279"):
        assert chip in probe["classes"] and "Async" + chip in probe["classes"]


def lora_drivers_modules() -> tuple[str, ...]:
    return lora_drivers.MODULES


def test_the_index_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lora_drivers.ENV, "http://127.0.0.1:8765")
    assert lora_drivers.index_setting() == "http://127.0.0.1:8765"
    monkeypatch.delenv(lora_drivers.ENV)
    expected = (
        str(lora_drivers.LOCAL_INDEX)
        if lora_drivers.LOCAL_INDEX.is_dir()
        else lora_drivers.DEFAULT_INDEX
    )
    assert lora_drivers.index_setting() == expected


def tiny_index(root: Path) -> Path:
    """A mip index (micropython-lib's v2 layout) of one package, "probe", of one file."""
    source = b"VALUE = 42\n"
    digest = hashlib.sha256(source).hexdigest()[:8]
    (root / "file" / digest[:2]).mkdir(parents=True)
    (root / "file" / digest[:2] / digest).write_bytes(source)
    package = root / "package" / "6" / "probe"
    package.mkdir(parents=True)
    latest = {"v": 1, "hashes": [["probe.py", digest]], "version": "1.0"}
    (package / "latest.json").write_text(json.dumps(latest))
    return root


def test_a_directory_index_is_served_on_loopback(tmp_path: Path) -> None:
    index = tiny_index(tmp_path / "index")
    with lora_drivers.served(str(index)) as url:
        assert url.startswith("http://127.0.0.1:")
        target = tmp_path / "lib"
        proc = subprocess.run(
            [
                find_tool("micropython"),
                *("-m", "mip", "install", "--index", url, "--target", str(target), "probe"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (target / "probe.py").read_bytes() == b"VALUE = 42\n"


def test_a_failed_install_says_why(tmp_path: Path) -> None:
    with pytest.raises(lora_drivers.InstallError) as nowhere:
        lora_drivers.install(tmp_path / "a", str(tmp_path / "nowhere"))
    assert "METEOLINK_MIP_INDEX" in str(nowhere.value)
    assert "neither a URL nor a directory" in str(nowhere.value)
    # An index without the LoRa packages: mip fails, and the error says so.
    index = tiny_index(tmp_path / "index")
    with pytest.raises(lora_drivers.InstallError) as empty:
        lora_drivers.install(tmp_path / "b", str(index))
    message = str(empty.value)
    assert message.startswith(f"mip could not install {' '.join(lora_drivers.PACKAGES)}")
    assert "missing lora/__init__" in message and "make test MIP_INDEX=" in message
