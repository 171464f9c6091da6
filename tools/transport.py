"""The link to a board: `mpremote connect PORT resume ...`, and what the board says it runs.

`resume` on every call: mpremote otherwise soft-resets the board when it first enters the
raw REPL, which ends the unix port of a virtual board. With it, mpremote's Ctrl-C only
interrupts the node, which waits for exactly that in its maintenance window after a cold
boot (node.maintenance()). Between the calls the board waits at its REPL.

Every call is bounded (MPREMOTE_TIMEOUT_S), and every failure becomes one CommandError that
says what to do: a port that is not there or not ours, one in use by another program, a
board that does not answer (asleep, or without MicroPython), MicroPython for another chip,
a release that cannot load the .mpy files.
"""

import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from meteolink.firmware import node_config as nodeconfig
from meteolink.tools.board_file import Board
from meteolink.tools.cli import CommandError
from meteolink.tools.programs import last_line

PLATFORMS = {"esp32": "esp32", "rp2": "rp2", "unix": "linux"}  # board port -> sys.platform

# Copying 60 kB at 115200 baud takes seconds, mip's download a few more: two
# minutes per step is generous, and a hung line ends in an error, not forever.
MPREMOTE_TIMEOUT_S = 120

# Run on the board: what it runs and what its filesystem root holds, as JSON.
_PROBE_MARK = "meteolink-flash-probe"
_PROBE = """\
import os, sys, json
try:
    lora = "lora" in os.listdir("%s")
except OSError:
    lora = False
v = sys.implementation
print("%s", json.dumps([sys.platform, getattr(v, "_mpy", 0),
    ".".join(str(n) for n in v.version[:3]), os.listdir("%s"), lora]))
"""


@dataclass
class Target:
    """The serial port of the board and what to say when it does not answer."""

    port: str
    board: Board
    cfg: nodeconfig.Config
    mpremote: str = ""

    def check_port(self) -> None:
        """Before mpremote opens it: missing or not ours to open (paths only: COM3 is not)."""
        if not self.port.startswith("/"):
            return
        if not os.path.exists(self.port):
            raise CommandError(
                f"{self.port}: no such port (is the board plugged in with a data cable?"
                " 'mpremote connect list' lists the ports)"
            )
        if not os.access(self.port, os.R_OK | os.W_OK):
            raise CommandError(
                f"{self.port}: permission denied (add yourself to the dialout group:"
                " sudo usermod -aG dialout $USER, then log in again)"
            )

    def run(self, args: Sequence[str], doing: str, then: str = "") -> str:
        """`mpremote connect PORT resume ARGS`: its output, or CommandError.

        doing: what mpremote does, for the messages; then: what to do when it
        fails for another reason than the port or a board that does not answer.
        """
        cmd = [self.mpremote, "connect", self.port, "resume", *args]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=MPREMOTE_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise CommandError(
                f"{self.port}: mpremote was still {doing} after {MPREMOTE_TIMEOUT_S} s"
                " (unplug and replug the board, then run flash again)",
                status=1,
            ) from None
        if proc.returncode != 0:
            raise self.failure(proc, doing, then or "run flash again; the board waits in its REPL")
        return proc.stdout

    def failure(
        self, proc: "subprocess.CompletedProcess[str]", doing: str, then: str
    ) -> CommandError:
        said = proc.stderr + proc.stdout
        if "failed to access" in said:
            self.check_port()  # gone, or permissions changed, since the first check
            return CommandError(
                f"{self.port}: in use by another program (close the serial terminal, Thonny or"
                " mpremote that has it open, or stop the gateway: sudo systemctl stop"
                " meteolink-gateway)"
            )
        if "could not enter raw repl" in said or "timeout waiting for" in said:
            return CommandError(self.not_answering(), status=1)
        return CommandError(f"{self.port}: {doing} failed: {last_line(proc)} ({then})", status=1)

    def not_answering(self) -> str:
        # The window is that of the config on the board, which this one most
        # likely repeats: a technician reflashing a node rarely changes it.
        pin = self.board.data["maintenance_pin"]
        window = self.cfg.maintenance_s
        when = f" ({window} s after power-up)" if window else ""
        return (
            f"{self.port}: the board does not answer (asleep between measurements, or without"
            " MicroPython): reset it while holding its maintenance button or jumper"
            f" (GPIO {pin}, docs/boards.md) and run flash again, or power-cycle it and run"
            f" flash within its maintenance window{when}"
        )


@dataclass(frozen=True)
class BoardState:
    platform: str
    mpy: int
    version: str
    files: list[str]
    lora: bool


def probe(target: Target) -> BoardState:
    board = target.board
    out = target.run(["exec", _PROBE % (board.lib, _PROBE_MARK, board.root)], "asking the board")
    for line in out.splitlines():
        if line.startswith(_PROBE_MARK + " "):
            p, mpy, version, files, lora = json.loads(line[len(_PROBE_MARK) + 1 :])
            return BoardState(str(p), int(mpy), str(version), [str(f) for f in files], bool(lora))
    raise CommandError(
        f"{target.port}: the board answered, but not as MicroPython does (is it the node?)",
        status=1,
    )


def check_state(target: Target, state: BoardState, sample: Path) -> None:
    """The board runs MicroPython for this board's port and loads these .mpy files."""
    board = target.board
    want = PLATFORMS[board.port]
    if state.platform != want:
        raise CommandError(
            f"{target.port}: this board runs MicroPython for {state.platform}, and board"
            f" {board.name} is for {board.port} (check --board; docs/boards.md)"
        )
    # The .mpy header: b"M", version, features (sub-version and arch, set only
    # when the file holds native code; bytecode loads on any sub-version).
    header = sample.read_bytes()[:3]
    version, features = header[1], header[2]
    mpy = state.mpy
    fits = mpy & 0xFF == version
    if features:
        fits = fits and (mpy >> 8) & 3 == features & 3 and mpy >> 10 == features >> 2
    if not fits:
        raise CommandError(
            f"{target.port}: MicroPython {state.version} on the board cannot load the .mpy"
            f" files this mpy-cross makes (version {version}, the board's {mpy & 0xFF}):"
            " install the MicroPython release of mpy-cross on the board (docs/flashing.md)"
        )
