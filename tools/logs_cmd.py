"""`meteolink logs PORT`: a node's console while it is awake; and the check flash makes with it.

A node says little, and only while it is awake: after a reset, its start-up line
(`meteolink: node 17 starts in 5 s (Ctrl-C: REPL)`, node.maintenance()), a
config it refuses, a cycle that failed. `logs` prints those lines as they come,
with the time, and waits when the port goes away (a board on native USB drops
off the bus when it sleeps or resets). It only reads: it sends no Ctrl-C, so
the node goes on as it would without it. Ctrl-C ends it.

watch_start() is what `meteolink flash` does after its reset: read the console
for the start-up line, and, for a UART node wired to this computer, the link for
the node's first frame, decoded and its MIC checked with the config's key.
"""

import argparse
import contextlib
import datetime
import re
import time
from collections.abc import Iterator

from meteolink.firmware import frames, framing
from meteolink.firmware import node_config as nodeconfig
from meteolink.firmware.frames import FrameError
from meteolink.tools.board_file import Board
from meteolink.tools.cli import Command, CommandError
from meteolink.tools.transport import CONSOLE_BAUD, Console, PortGone, wait_for_port

BOOT_S = 20  # from the reset to the start-up line: a board boots in 1-3 s
FRAME_S = 60  # after the maintenance window, for the first reading and its frame
STARTS = re.compile(r"meteolink: node (\d+) starts in (\d+) s")
HELD = "meteolink: maintenance button held"


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("port", metavar="PORT", help="the board's serial port, e.g. /dev/ttyUSB0")
    p.add_argument(
        "--baud", type=int, default=CONSOLE_BAUD, help=f"default {CONSOLE_BAUD}, the REPL's"
    )


def run(args: argparse.Namespace) -> int:
    port: str = args.port
    console = Console(port, args.baud)
    _note(f"{port}: the node's console; Ctrl-C ends (press the board's reset button to see it")
    _note("start: a node says little, and only while it is awake)")
    try:
        while True:
            try:
                while True:
                    for line in console.lines(1.0):
                        print(f"{_clock()}  {line}", flush=True)
            except PortGone:
                console.close()
                _note(f"{port} went away (the node sleeps, resets or was unplugged); waiting")
                again = None
                while again is None:
                    again = wait_for_port(port, args.baud, time.monotonic() + 1.0)
                console = again
                _note(f"{port} is back")
    except KeyboardInterrupt:
        console.close()
        return 0


def _clock() -> str:
    return datetime.datetime.now().strftime("%H:%M:%S")


def _note(text: str) -> None:
    """About the watching, not from the node: in brackets, so the two are told apart."""
    print(f"{_clock()}  [{text}]", flush=True)


# -- after flash's reset ------------------------------------------------------------


def watch_start(
    port: str, cfg: nodeconfig.Config, board: Board, link: Console | None
) -> Iterator[str]:
    """Lines saying the node started (and its first frame); CommandError when it did not."""
    if cfg.maintenance_s == 0 and link is None:
        yield (
            "not watched: with maintenance_s 0 the node says nothing when it starts"
            f" ('meteolink logs {port}' shows errors, if any)"
        )
        return
    deadline = time.monotonic() + BOOT_S
    console = wait_for_port(port, CONSOLE_BAUD, deadline)
    if console is None:
        raise CommandError(
            f"{port}: the port did not come back within {BOOT_S} s of the reset (unplug and"
            f" replug the board, then watch it start with 'meteolink logs {port}')",
            status=1,
        )
    try:
        window = None
        if cfg.maintenance_s:
            window = _started(console, cfg, deadline)
            if window is None:
                yield "started: the maintenance button is held, so the node waits in its REPL"
                return
            yield f"started: node {cfg.node} starts in {window} s (its console on {port})"
        if link is not None and cfg.transport == "uart":
            wait = (window or 0) + FRAME_S
            yield _first_frame(link, console, cfg, board, time.monotonic() + wait, wait)
    finally:
        console.close()


def _started(console: Console, cfg: nodeconfig.Config, deadline: float) -> int | None:
    """The window the start-up line gives (None: the button is held), or CommandError."""
    port = console.port
    traceback = False
    while time.monotonic() < deadline:
        try:
            lines = console.lines(0.2)
        except PortGone:
            again = wait_for_port(port, console.baud, deadline)
            if again is None:
                break
            console.device = again.device  # the same console, come back
            continue
        for line in lines:
            started = STARTS.search(line)
            if started:
                return int(started[2])
            if HELD in line:
                return None
            if line.startswith("Traceback"):
                traceback = True
            elif traceback and line and not line.startswith(" "):
                raise _not_started(port, f"main.py stopped with {line}")
            elif line.startswith("meteolink: "):
                raise _not_started(port, f"it says '{line}'")
    raise CommandError(
        f"{port}: the node did not say it started within {BOOT_S} s of its reset (check that"
        f" main.py is on the board: 'mpremote connect {port} resume fs ls'; then watch it with"
        f" 'meteolink logs {port}' and press its reset button)",
        status=1,
    )


def _not_started(port: str, what: str) -> CommandError:
    return CommandError(
        f"{port}: the node did not start: {what} (fix what it names and run flash again;"
        f" 'meteolink logs {port}' shows the whole message)",
        status=1,
    )


def _first_frame(
    link: Console,
    console: Console,
    cfg: nodeconfig.Config,
    board: Board,
    deadline: float,
    wait: float,
) -> str:
    """The node's first frame on its link, decoded with the config's key."""
    deframer = framing.Deframer()
    problem = ""
    listening = True
    while time.monotonic() < deadline:
        if listening:
            try:
                for line in console.lines(0):
                    if line.startswith("meteolink: ") and not STARTS.search(line):
                        raise _not_started(console.port, f"it says '{line}'")
            except PortGone:
                listening = False  # asleep: a board on native USB leaves the bus
        try:
            data = link.read(0.1)
        except PortGone:
            raise CommandError(
                f"{link.port}: the link's port went away while waiting for the first frame"
                " (is the USB-serial adapter plugged in?)",
                status=1,
            ) from None
        for record in deframer.feed(data):
            if isinstance(record, FrameError):
                problem = str(record)
                continue
            try:
                frame = frames.decode(framing.split_record(record)[0], cfg.key)
            except FrameError as e:
                if e.reason == "mic":
                    raise CommandError(
                        f"{link.port}: the node's first frame has a MIC that does not match the"
                        " key of its config.json: the gateway would refuse it (give the node"
                        " the key the gateway has for it, and flash again)",
                        status=1,
                    ) from None
                problem = str(e)  # noise at power-up, say: the next frame tells
                continue
            if frame.node != cfg.node:
                raise CommandError(
                    f"{link.port}: a frame from node {frame.node}, not node {cfg.node} (is"
                    " --link-port the line of this node?)",
                    status=1,
                )
            mic = "MIC checked" if frame.mic else "no key, no MIC"
            shown = {k: v for k, v in frame.values().items() if k != "status"}
            values = ", ".join(_value(name, v) for name, v in shown.items())
            return f"first frame on {link.port}: node {frame.node} #{frame.seq}: {values} ({mic})"
    link_cfg = board.data["link"]
    wiring = (
        f"the node's TX (GPIO {link_cfg['tx']}) to the adapter's RX, its RX (GPIO"
        f" {link_cfg['rx']}) to TX, GND to GND, {link_cfg['baud']} baud"
    )
    heard = f"; heard only what does not decode: {problem}" if problem else ""
    raise CommandError(
        f"{link.port}: no frame from node {cfg.node} within {wait:.0f} s of its reset{heard}"
        f" (check the wiring: {wiring})",
        status=1,
    )


def _value(name: str, value: float | int) -> str:
    unit = ""
    with contextlib.suppress(frames.EncodeError):
        unit = frames.FIELDS[frames.field_id(name)][1]
    shown = int(value) if isinstance(value, float) and value.is_integer() else value
    return f"{name} {shown} {unit}".rstrip()


COMMANDS = [
    Command("logs", "show a node's console while it is awake (Ctrl-C ends)", _arguments, run)
]
