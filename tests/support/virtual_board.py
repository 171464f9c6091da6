"""A "virtual board": a node in its maintenance window on a pty, as mpremote meets a USB board.

The MicroPython unix port runs the firmware behind a pseudo-terminal made by
socat; its flash is a directory. mpremote connects to the pty's path with
`resume` and drives the REPL exactly as it drives a board.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support.lora_drivers import micropypath
from tests.support.sim_node import SIM_BOARD
from tests.support.tools import find_tool

# Long enough for a test's mpremote commands, short enough to end by itself.
MAINTENANCE: dict[str, object] = {"node": 5, "maintenance_s": 60}


class VirtualBoard:
    """The firmware's node.main() in its maintenance window, on the pty at `tty`.

    config is the node's config.json; world the sim board's world (its serial
    line goes nowhere unless it says); files are put on its flash first.
    """

    def __init__(
        self,
        root: Path,
        *,
        config: dict[str, object] | None = None,
        world: dict[str, object] | None = None,
        files: dict[str, bytes] | None = None,
    ) -> None:
        self.flash = root / "flash"
        self.flash.mkdir()
        (self.flash / "board.json").write_bytes(SIM_BOARD.read_bytes())
        node = MAINTENANCE if config is None else config
        (self.flash / "config.json").write_text(json.dumps(node), "utf-8")
        for name, data in (files or {}).items():
            (self.flash / name).write_bytes(data)
        self.world = root / "world.json"
        self.world.write_text(json.dumps(world or {"link": "/dev/null"}), "utf-8")
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
            env=dict(os.environ, MICROPYPATH=micropypath(), METEOLINK_SIM=str(self.world)),
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not self.tty.exists():
            assert time.monotonic() < deadline, "socat made no pty"
            time.sleep(0.02)
        time.sleep(0.3)  # the firmware is into its window

    def mpremote(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`mpremote connect TTY resume ARGS...`, as a technician would type it."""
        return subprocess.run(
            [find_tool("mpremote"), "connect", str(self.tty), "resume", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def contents(self) -> dict[str, bytes]:
        """The board's flash: file name -> bytes."""
        return {p.name: p.read_bytes() for p in self.flash.iterdir()}

    def close(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(10)
