"""mpremote reaches a node in its maintenance window: the node on a virtual board.

The virtual board is the MicroPython unix port running the firmware on a
pseudo-terminal (socat), which mpremote drives as it drives a USB board.
"""

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.firmware.simnode import SIM_BOARD
from tests.helpers import FIRMWARE, ROOT, find_tool


class VirtualBoard:
    def __init__(self, root: Path, config: dict[str, object], world: dict[str, object]) -> None:
        self.flash = root / "flash"
        self.flash.mkdir()
        (self.flash / "board.json").write_text(SIM_BOARD.read_text("utf-8"), "utf-8")
        (self.flash / "config.json").write_text(json.dumps(config), "utf-8")
        self.world = root / "world.json"
        self.world.write_text(json.dumps(world), "utf-8")
        self.tty = root / "tty"
        mp = find_tool("micropython")
        # The node's side of the pty keeps ISIG, as a board's USB console
        # does for Ctrl-C, and has no output processing (mpremote wants the
        # REPL's bytes as they are).
        self.proc = subprocess.Popen(
            [
                find_tool("socat"),
                f"pty,raw,echo=0,link={self.tty}",
                f"EXEC:{mp} -i -c 'import node; node.main()',"
                "pty,echo=0,icanon=0,opost=0,setsid,ctty",
            ],
            cwd=self.flash,
            env=dict(os.environ, MICROPYPATH=f"{FIRMWARE}:{ROOT}", METEOLINK_SIM=str(self.world)),
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not self.tty.exists():
            assert time.monotonic() < deadline, "socat made no pty"
            time.sleep(0.02)
        time.sleep(0.3)  # the firmware is into its window

    def mpremote(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [find_tool("mpremote"), "connect", str(self.tty), "resume", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def close(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(10)


@pytest.fixture
def board(tmp_path: Path) -> Iterator[list[VirtualBoard]]:
    made: list[VirtualBoard] = []
    yield made
    for b in made:
        b.close()


def test_mpremote_gets_in_during_the_window_and_the_node_sends_nothing(
    tmp_path: Path, board: list[VirtualBoard]
) -> None:
    b = VirtualBoard(tmp_path, {"node": 5, "maintenance_s": 20}, {"link": "/dev/null"})
    board.append(b)
    got = b.mpremote("exec", "import os; print(sorted(os.listdir()))")
    assert got.returncode == 0, got.stderr
    assert "'config.json'" in got.stdout
    # Interrupted, the node stays in the REPL: no counter was reserved.
    assert not (b.flash / "counter.dat").exists()
    again = b.mpremote("fs", "cat", "config.json")
    assert again.returncode == 0 and '"maintenance_s": 20' in again.stdout


def test_a_held_maintenance_button_keeps_the_node_in_the_repl(
    tmp_path: Path, board: list[VirtualBoard]
) -> None:
    b = VirtualBoard(
        tmp_path, {"node": 5, "maintenance_s": 0}, {"link": "/dev/null", "maintenance_pin": True}
    )
    board.append(b)
    got = b.mpremote("exec", "print('reached')")
    assert got.returncode == 0 and "reached" in got.stdout, got.stderr
    assert not (b.flash / "counter.dat").exists()
