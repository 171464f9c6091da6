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

import contextlib
import errno
import json
import os
import select
import subprocess
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from meteolink.firmware import node_config as nodeconfig
from meteolink.tools.board_file import Board
from meteolink.tools.cli import CommandError
from meteolink.tools.programs import last_line

if TYPE_CHECKING:
    import serial

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

    def stream(
        self, args: Sequence[str], doing: str, heard: Callable[[str], None], then: str = ""
    ) -> str:
        """As run(), with each line mpremote prints handed to heard as it prints it.

        mpremote says `cp FILE :/` as it starts a file, `Up to date: ...` for one it
        skips: flash's progress, file by file, while the copy goes on.
        """
        cmd = [self.mpremote, "connect", self.port, "resume", *args]
        env = dict(os.environ, PYTHONUNBUFFERED="1")  # its lines as it prints them
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert proc.stdout is not None
        deadline = time.monotonic() + MPREMOTE_TIMEOUT_S
        said: list[str] = []
        with proc:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
                    proc.kill()
                    raise CommandError(
                        f"{self.port}: mpremote was still {doing} after {MPREMOTE_TIMEOUT_S} s"
                        " (unplug and replug the board, then run flash again)",
                        status=1,
                    )
                line = proc.stdout.readline()
                if not line:
                    break
                said.append(line)
                heard(line.rstrip("\n"))
            returncode = proc.wait()
        out = "".join(said)
        if returncode != 0:
            done = subprocess.CompletedProcess(cmd, returncode, out, "")
            raise self.failure(done, doing, then or "run flash again; the board waits in its REPL")
        return out

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


# -- the board's console, read after a reset --------------------------------------

# Run on a virtual board in place of machine.reset(), which the unix port lacks: what a
# reset does to a board's Python, the firmware modules forgotten and main.py run from
# the board's root. The pause stands for a board's boot time (flash opens the console
# when mpremote has let it go).
VIRTUAL_RESET = """\
import sys, time
for name in list(sys.modules):
    del sys.modules[name]
time.sleep_ms(500)
import main
"""

CONSOLE_BAUD = 115200  # MicroPython's REPL on every board of boards/ (USB or UART0)


class PortGone(Exception):
    """The port went away: the board reset (native USB), slept, or was unplugged."""


def open_serial(port: str, baud: int = CONSOLE_BAUD) -> "serial.Serial":
    """The port, opened exclusively, with one CommandError line when it cannot be."""
    import serial

    try:
        return serial.Serial(port, baud, timeout=0, exclusive=True)
    except OSError as e:  # serial.SerialException is one, with the errno when there is one
        raise CommandError(port_problem(port, e)) from None
    except ValueError:  # pyserial's word for a speed it cannot set
        raise CommandError(f"--baud {baud}: not a serial speed (e.g. 115200)") from None


def port_problem(port: str, e: OSError) -> str:
    code = e.errno
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return (
            f"{port}: no such port (is the board plugged in with a data cable?"
            " 'mpremote connect list' lists the ports)"
        )
    if code == errno.EACCES:
        return (
            f"{port}: permission denied (add yourself to the dialout group:"
            " sudo usermod -aG dialout $USER, then log in again)"
        )
    if code in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY):
        return (
            f"{port}: in use by another program (close the serial terminal, Thonny or"
            " mpremote that has it open, or stop the gateway: sudo systemctl stop"
            " meteolink-gateway)"
        )
    if code == errno.ENOTTY or "configure port" in str(e):
        return f"{port}: not a serial port (give the board's port, e.g. /dev/ttyUSB0)"
    return f"{port}: cannot open it ({e.strerror or e})"


def _port_missing(port: str) -> bool:
    return port.startswith("/") and not os.path.exists(port)


class Console:
    """A serial port read as it comes: text lines (a board's console) or raw bytes (a link).

    Nothing waits for a buffer to fill: a read returns what the port has. A line that
    has no end yet (the REPL's prompt) is given out after PARTIAL_S of quiet.
    """

    PARTIAL_S = 0.3

    def __init__(self, port: str, baud: int = CONSOLE_BAUD) -> None:
        self.port = port
        self.baud = baud
        self.device = open_serial(port, baud)
        fd = self.device.fileno()
        # As the gateway reads its port: with VMIN=1 and a non-blocking descriptor,
        # "nothing yet" is EAGAIN and a read of nothing is a hang-up.
        attrs = termios.tcgetattr(fd)
        attrs[6][termios.VMIN] = 1
        attrs[6][termios.VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        os.set_blocking(fd, False)
        self._partial = b""
        self._since = 0.0

    def read(self, timeout: float) -> bytes:
        """What the port has, waiting up to timeout s for the first byte; PortGone at a hang-up."""
        fd = self.device.fileno()
        if not select.select([fd], [], [], max(timeout, 0.0))[0]:
            return b""
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return b""
        except OSError as e:
            raise PortGone(e.strerror or str(e)) from None
        if not data:
            raise PortGone("hung up")
        return data

    def lines(self, timeout: float) -> list[str]:
        """The lines that ended within timeout s (and a pending one after a quiet spell)."""
        data = self.read(timeout)
        now = time.monotonic()
        if data:
            self._partial += data
            self._since = now
        *done, self._partial = self._partial.split(b"\n")
        if self._partial and not data and now - self._since >= self.PARTIAL_S:
            done.append(self._partial)
            self._partial = b""
        return [printable(line) for line in done]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.device.close()


def printable(raw: bytes) -> str:
    """A console line as text: carriage returns and the raw REPL's control bytes dropped."""
    text = raw.decode("utf-8", "replace")
    return "".join(c for c in text if c == "\t" or c >= " ").rstrip()


def wait_for_port(port: str, baud: int, deadline: float) -> Console | None:
    """The port opened once it is there (again), or None at the deadline.

    A board on native USB (RP2040, ESP32-S3's USB) drops off the bus when it resets and
    comes back a second later; the same name may be missing or refuse to open meanwhile.
    """
    while True:
        if not _port_missing(port):
            try:
                return Console(port, baud)
            except CommandError:
                pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)
