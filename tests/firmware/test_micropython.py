"""The same codec under the real MicroPython unix port, and for the boards."""

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.tools import FIRMWARE, VECTOR_FILE, VECTORS

HERE = Path(__file__).parent
FLAGS = {"mic": 1, "ack_request": 2, "boot": 4, "ack": 8}


@pytest.fixture(scope="module")
def mp_results(micropython: Callable[..., str]) -> dict[str, Any]:
    out = micropython(HERE / "mp_vectors.py", str(VECTOR_FILE))
    lines = [json.loads(line) for line in out.splitlines()]
    results: dict[str, Any] = {}
    for line in lines:
        results[line.get("name", next(iter(line)))] = line
    return results


def test_crc_and_hmac_check_values_on_micropython(mp_results: dict[str, Any]) -> None:
    assert mp_results["crc"]["crc"] == VECTORS["crc"]["check"]
    assert mp_results["hmac"]["hmac"] == VECTORS["hmac"]["mac"]


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=[v["name"] for v in VECTORS["valid"]])
def test_valid_vector_on_micropython(mp_results: dict[str, Any], vector: dict[str, Any]) -> None:
    got = mp_results[vector["name"]]
    meaning = vector["json"]
    assert (got["node"], got["seq"]) == (meaning["node"], meaning["seq"])
    assert got["flags"] == sum(FLAGS[name] for name in meaning["flags"])
    assert got["mic"] is (True if meaning.get("mic") == "verified" else None)
    names = [k for k in meaning if k not in ("version", "node", "seq", "flags", "mic")]
    assert got["values"] == {k: meaning[k] for k in names}
    assert [raw for _fid, raw in got["raw"]] == list(vector["raw"].values())
    if any(name.startswith("field_") for name in vector["raw"]):
        assert got["encode_error"] == "field"
    elif meaning.get("mic") != "unchecked":
        assert got["encoded"] == vector["hex"], "MicroPython encodes the same bytes"
    if "serial" in vector:
        assert got["serial"] == vector["serial"]
        assert got["deframed"] == [vector["hex"]]


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=[v["name"] for v in VECTORS["invalid"]])
def test_invalid_vector_on_micropython(mp_results: dict[str, Any], vector: dict[str, Any]) -> None:
    assert mp_results[vector["name"]]["reason"] == vector["reason"]


FIRMWARE_FILES = sorted(FIRMWARE.rglob("*.py"))


@pytest.mark.parametrize("arch", ["xtensawin", "armv6m"])
@pytest.mark.parametrize("source", FIRMWARE_FILES, ids=[p.name for p in FIRMWARE_FILES])
def test_firmware_compiles_for_the_boards(
    mpy_cross: str, tmp_path: Path, source: Path, arch: str
) -> None:
    out = tmp_path / source.with_suffix(".mpy").name
    proc = subprocess.run(
        [mpy_cross, f"-march={arch}", "-o", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # .mpy format 6, what MicroPython 1.19 and newer load. Bytecode-only files
    # record no architecture; compiling for the board still checks every construct.
    assert out.read_bytes()[:2] == b"M\x06"
