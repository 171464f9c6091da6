"""A node on the `sim` board: the real firmware, one MicroPython process per wake.

Its flash is a directory (config.json, board.json, counter.dat); its world
(air, faults, the serial line, the battery) is a JSON file; its RTC memory
is that file plus ".rtc". Wake it, and read the frames it wrote on its
serial line, a real pseudo-terminal.
"""

import json
import os
import select
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.support.lines import SimLine
from tests.support.lora_drivers import micropypath
from tests.support.tools import ROOT, find_tool

SIM_BOARD = ROOT / "boards" / "sim.json"


def board_file(board: str) -> str:
    """The board file a sim node runs with: the sim board's, with the radio
    of the board named (its chip, its pins, a TCXO), so that a LilyGO T3 or
    a Heltec V3 radio runs on the sim board (its serial link, sensors and
    battery stay the sim board's)."""
    sim = json.loads(SIM_BOARD.read_text("utf-8"))
    if board != "sim":
        real = json.loads((SIM_BOARD.parent / f"{board}.json").read_text("utf-8"))
        sim["radio"] = real["radio"]
        sim["notes"] = f"the sim board with the radio of {board}.json"
    return json.dumps(sim)


class SimNode:
    def __init__(
        self,
        root: Path,
        config: dict[str, Any],
        world: dict[str, Any],
        env: dict[str, str] | None = None,
        board: str = "sim",
    ) -> None:
        self.env = env or {}
        self.flash = root / "flash"
        self.flash.mkdir(parents=True)
        self.world_path = root / "world.json"
        self.rtc_path = root / "world.json.rtc"
        (self.flash / "board.json").write_text(board_file(board), "utf-8")
        self.configure(config)
        self.world = dict(world)
        self.set_world()
        self.binary = find_tool("micropython")

    def configure(self, config: dict[str, Any]) -> None:
        (self.flash / "config.json").write_text(json.dumps(config), "utf-8")

    def set_world(self, **changes: Any) -> None:
        self.world.update(changes)
        self.world_path.write_text(json.dumps(self.world), "utf-8")

    def wake(self, *, code: str = "import node; node.main()", timeout: float = 20) -> str:
        """One wake: runs until the node goes to deep sleep (or fails); its console output."""
        proc = subprocess.run(
            [self.binary, "-c", code],
            cwd=self.flash,
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.returncode = proc.returncode
        return proc.stdout + proc.stderr

    def _env(self) -> dict[str, str]:
        return dict(
            os.environ,
            MICROPYPATH=micropypath(),
            METEOLINK_SIM=str(self.world_path),
            **self.env,
        )

    def start(self) -> "subprocess.Popen[str]":
        """Run the firmware as a long-lived process (the bridge role never sleeps)."""
        return subprocess.Popen(
            [self.binary, "-c", "import node; node.main()"],
            cwd=self.flash,
            env=self._env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def power_off(self) -> None:
        """Pull the battery: RTC memory is gone, flash stays."""
        self.rtc_path.unlink(missing_ok=True)

    def rtc(self) -> dict[str, Any]:
        rtc: dict[str, Any] = json.loads(self.rtc_path.read_text("utf-8"))
        return rtc

    def checkpoint(self) -> int:
        return int((self.flash / "counter.dat").read_text("utf-8"))


class Cable:
    """A null-modem cable between the node's line and a gateway's, both ways.

    Runs in a thread while plugged, so a node waiting for an acknowledgement
    gets it while it waits, as on a real wire.
    """

    def __init__(self, node_line: SimLine, gateway_master: int) -> None:
        self._a = node_line.master
        self._b = gateway_master
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def plug(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def unplug(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._a, self._b], [], [], 0.02)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except (BlockingIOError, OSError):
                    continue
                other = self._b if fd == self._a else self._a
                os.set_blocking(other, True)
                os.write(other, data)
                os.set_blocking(other, False)
