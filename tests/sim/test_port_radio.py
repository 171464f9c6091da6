"""The sim board's radio: sim/port.py's spi() and pin() reach the chip model the
board file names, wired by its pin numbers, under micropython-lib's real driver.

mp_port_radio.py runs in a sim node's flash directory with the board file of
the sim board (an SX1276) or of a Heltec V3 (an SX1262 with a TCXO).
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.lora_drivers import micropypath
from tests.support.micropython import named
from tests.support.tools import ROOT, find_tool

SCRIPT = Path(__file__).parent / "mp_port_radio.py"


def run_board(tmp_path: Path, board: str) -> dict[str, object]:
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "board.json").write_text((ROOT / "boards" / f"{board}.json").read_text())
    world = tmp_path / "world.json"
    world.write_text(json.dumps({}))
    proc = subprocess.run(
        [find_tool("micropython"), str(SCRIPT)],
        cwd=flash,
        env=dict(os.environ, MICROPYPATH=micropypath(), METEOLINK_SIM=str(world)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return named(proc.stdout)["radio"]


@pytest.mark.parametrize(
    ("board", "chip", "variant", "wired"),
    [
        (
            "sim",
            "SX127x",
            "sx1276",
            {
                "cs": [18, "nss", True],
                "reset": [14, "reset", True],
                "dio0": [26, "dio0", True],
                "dio1": [35, "dio1", True],
            },
        ),
        (
            "heltec-v3",
            "SX126x",
            "sx1262",
            {
                "cs": [8, "nss", True],
                "reset": [12, "reset", True],
                "dio1": [14, "dio1", True],
                "busy": [13, "busy", True],
            },
        ),
    ],
)
def test_the_board_files_radio_under_the_real_driver(
    tmp_path: Path, board: str, chip: str, variant: str, wired: dict[str, list[object]]
) -> None:
    r = run_board(tmp_path, board)
    assert (r["chip"], r["variant"], r["wired"]) == (chip, variant, wired)
    assert r["tcxo"] is (True if board == "heltec-v3" else None)
    assert r["heard"] == "from the board" and r["got"] == "to the board"
    assert r["parts"] == ["radio"]
    driver = r["driver"]
    assert isinstance(driver, list) and variant.upper() in driver  # the driver's class
