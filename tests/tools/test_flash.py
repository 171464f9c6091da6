"""`meteolink flash` as a technician runs it, against a virtual board.

The virtual board is the one of tests/firmware/test_maintenance.py: the
MicroPython unix port running the firmware on a pseudo-terminal (socat), in
its maintenance window, which `meteolink flash` reaches with the real
mpremote. Its filesystem is a directory; the node flashed there is then run
from that directory alone, so the .mpy files flash compiled are what runs.
"""

import ast
import fcntl
import json
import os
import select
import shlex
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from meteolink.firmware import catalogue
from meteolink.firmware import node_config as nodeconfig
from meteolink.tools import board_file, build
from tests.support.lines import SimLine
from tests.support.sim_node import SIM_BOARD
from tests.support.tools import FIRMWARE, ROOT, find_tool, meteolink
from tests.support.virtual_board import VirtualBoard

# The firmware files every node gets, whatever its board, sensors and transport:
# written out here, not taken from flash's own list, so that a change to that
# list shows in these tests.
EVERY_NODE = [
    "frames",
    "framing",
    "node_config",
    "catalogue",
    "counter",
    "retained",
    "node",
    "sensors",
]

AIR = {"temperature": 21.5, "humidity": 45.0, "pressure": 1013.25}
BME280_UART = {"node": 9, "sensors": ["bme280"], "transport": "uart", "maintenance_s": 0}
LORA = {"node": 17, "sensors": ["bme280", "battery"], "transport": "lora"}


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "node.json"
    # Indented, with a newline: the board must get these very bytes.
    path.write_text(json.dumps(config, indent=2) + "\n", "utf-8")
    return path


def test_flash_copies_what_the_node_needs_and_the_node_then_runs_from_it(
    tmp_path: Path, virtual_board: Callable[..., VirtualBoard]
) -> None:
    # Left from an earlier install: a source node.py, which would shadow
    # node.mpy; the driver of a sensor this node no longer has; the frame
    # counter's reservation and a file of the technician's, which must stay.
    board = virtual_board(
        **{
            "node.py": b"raise ImportError('stale source')\n",
            "pms5003.mpy": b"M\x06\x00\x1f",
            "counter.dat": b"1000\n",
            "notes.txt": b"mast 3, north side\n",
        }
    )
    config = write_config(tmp_path, BME280_UART)
    # --no-reset: the test runs the flashed node itself, below.
    flash = ["flash", "--board", "sim", "--config", str(config), "--port", str(board.tty)]
    proc = meteolink(*flash, "--no-mip", "--no-reset")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "flashed node 9: transport uart, sensors bme280"
    # board.json was already there, identical: mpremote skips it.
    assert "12 files, " in proc.stdout and "1 already up to date" in proc.stdout
    assert "removed node.py, pms5003.mpy" in proc.stdout

    got = board.contents()
    modules = [
        *EVERY_NODE,
        "bme280",
        "uart_link",
    ]  # the one sensor and the transport; no port file on unix
    assert sorted(got) == sorted(
        [f"{m}.mpy" for m in modules]
        + ["main.py", "board.json", "config.json", "counter.dat", "notes.txt"]
    )
    assert all(got[f"{m}.mpy"].startswith(b"M\x06") for m in modules)  # .mpy version 6
    assert got["main.py"] == (FIRMWARE / "main.py").read_bytes()
    assert got["board.json"] == SIM_BOARD.read_bytes()
    assert got["config.json"] == config.read_bytes()
    assert got["counter.dat"] == b"1000\n"

    # The flashed node, started as the board would start it: from its flash
    # alone (the sim package, the board's emulated parts, from the repo).
    line = SimLine()
    try:
        world = tmp_path / "run.json"
        world.write_text(json.dumps({"link": line.path, "air": AIR}), "utf-8")
        env = dict(os.environ, MICROPYPATH=f"{board.flash}:{ROOT}", METEOLINK_SIM=str(world))
        mp = find_tool("micropython")
        check = "import node, frames, bme280, uart_link; print(node.__file__, bme280.__file__)"
        where = subprocess.run(
            [mp, "-c", check], cwd=board.flash, env=env, capture_output=True, text=True, check=False
        )
        assert where.stdout.split() == ["node.mpy", "bme280.mpy"], where.stderr
        run = subprocess.run(
            [mp, "main.py"], cwd=board.flash, env=env, capture_output=True, text=True, timeout=30
        )
        assert run.returncode == 0, run.stdout + run.stderr  # 0: it went to deep sleep
        sent = line.frames()
    finally:
        line.close()
    assert len(sent) == 1
    frame = sent[0]
    # The counter went on from the reservation flash left in place.
    assert (frame.node, frame.seq) == (9, 1000)
    values = frame.values()
    assert values["temperature"] == pytest.approx(21.5, abs=0.05)
    assert values["pressure"] == pytest.approx(1013.2, abs=0.2)
    assert "pm2_5" not in values

    # Flashing the same again copies nothing but what the node itself changed.
    again = meteolink(*flash, "--no-mip", "--no-reset")
    assert again.returncode == 0, again.stderr
    assert "0 files, 0 bytes copied, 13 already up to date" in again.stdout


def test_a_bad_config_is_refused_and_nothing_is_copied(
    tmp_path: Path, virtual_board: Callable[..., VirtualBoard]
) -> None:
    board = virtual_board()
    before = board.contents()
    bad = {"node": 9, "interval_s": 5}
    config = write_config(tmp_path, bad)
    with pytest.raises(nodeconfig.ConfigError) as error:
        nodeconfig.parse(json.dumps(bad))
    proc = meteolink("flash", "--board", "sim", "--config", str(config), "--port", str(board.tty))
    assert proc.returncode == 2
    assert proc.stderr == f"meteolink: flash: {error.value} (in {config})\n"
    assert "config.json: interval_s: expected an integer 30..86400 s, got 5" in proc.stderr
    assert proc.stdout == ""
    assert board.contents() == before


def test_the_wrong_board_file_for_the_board_on_the_port_copies_nothing(
    tmp_path: Path, virtual_board: Callable[..., VirtualBoard]
) -> None:
    board = virtual_board()
    before = board.contents()
    config = write_config(tmp_path, {"node": 9, "sensors": ["bme280"]})
    proc = meteolink(
        "flash", "--board", "heltec-v2", "--config", str(config), "--port", str(board.tty)
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        f"meteolink: flash: {board.tty}: this board runs MicroPython for linux, and board"
        " heltec-v2 is for esp32 (check --board; docs/boards.md)\n"
    )
    assert board.contents() == before


def test_a_port_in_use_is_named_with_what_to_do(
    tmp_path: Path, virtual_board: Callable[..., VirtualBoard]
) -> None:
    board = virtual_board()
    before = board.contents()
    config = write_config(tmp_path, BME280_UART)
    # What a serial terminal or the gateway does: pyserial's exclusive lock.
    fd = os.open(board.tty, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = meteolink(
            "flash", "--board", "sim", "--config", str(config), "--port", str(board.tty)
        )
    finally:
        os.close(fd)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"meteolink: flash: {board.tty}: in use by another program (")
    assert "systemctl stop meteolink-gateway" in proc.stderr
    assert board.contents() == before


def test_a_board_that_does_not_answer_says_how_to_reach_its_maintenance_window(
    tmp_path: Path,
) -> None:
    # A port with nothing answering behind it: a node in deep sleep behind
    # its USB-serial chip. What mpremote writes is drained, as the chip would.
    # The port is named by a link, as /dev/ttyUSB0 would be: mpremote reads a
    # /dev/pts/N name without a timeout; any other port, it gives up after 10 s.
    master, slave = os.openpty()
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            if select.select([master], [], [], 0.05)[0]:
                os.read(master, 1024)

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    try:
        config = write_config(tmp_path, {**BME280_UART, "maintenance_s": 7})
        port = str(tmp_path / "ttyUSB0")
        os.symlink(os.ttyname(slave), port)
        proc = meteolink("flash", "--board", "sim", "--config", str(config), "--port", port)
    finally:
        stop.set()
        drainer.join(5)
        os.close(master)
        os.close(slave)
    assert proc.returncode == 1
    assert proc.stderr == (
        f"meteolink: flash: {port}: the board does not answer (asleep between measurements, or"
        " without MicroPython): reset it while holding its maintenance button or jumper"
        " (GPIO 0, docs/boards.md) and run flash again, or power-cycle it and run flash within"
        " its maintenance window (7 s after power-up)\n"
    )


def test_a_port_that_does_not_exist(tmp_path: Path) -> None:
    config = write_config(tmp_path, BME280_UART)
    port = str(tmp_path / "ttyUSB9")
    proc = meteolink("flash", "--board", "sim", "--config", str(config), "--port", port)
    assert proc.returncode == 2
    assert proc.stderr == (
        f"meteolink: flash: {port}: no such port (is the board plugged in with a data cable?"
        " 'mpremote connect list' lists the ports)\n"
    )


def test_an_unknown_board_lists_the_known_ones(tmp_path: Path) -> None:
    config = write_config(tmp_path, BME280_UART)
    proc = meteolink("flash", "--board", "heltec-v4", "--config", str(config), "--dry-run")
    assert proc.returncode == 2
    known = ", ".join(sorted(p.stem for p in (ROOT / "boards").glob("*.json")))
    assert proc.stderr == (
        f"meteolink: flash: unknown board 'heltec-v4' (known: {known}; or give the path of a"
        " board file)\n"
    )


def test_a_board_file_that_breaks_its_chips_rules_is_refused_with_its_first_problem(
    tmp_path: Path,
) -> None:
    board = json.loads((ROOT / "boards" / "heltec-v3.json").read_text("utf-8"))
    board["uart"]["rx"] = 30  # the ESP32-S3's flash
    board["led"] = 23  # no such GPIO
    path = tmp_path / "my-heltec.json"
    path.write_text(json.dumps(board), "utf-8")
    config = write_config(tmp_path, LORA)
    proc = meteolink("flash", "--board", str(path), "--config", str(config), "--dry-run")
    assert proc.returncode == 2
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"meteolink: flash: {path}: uart.rx: GPIO30 is the SPI flash/PSRAM (")
    assert line.endswith(f"; 1 more: meteolink boards check {path}")


@pytest.mark.parametrize(
    ("board", "config", "message"),
    [
        ("esp32-devkitc", LORA, 'transport: "lora" needs a LoRa radio and board esp32-devkitc'),
        ("pico", {"node": 3, "transport": "ble"}, 'transport: "ble" needs Bluetooth'),
        # Left out, "sensors" is bme280 and battery: the DevKitC has no battery ADC.
        ("esp32-devkitc", {"node": 3, "transport": "ble"}, "sensors[1]: battery: board"),
        (
            "heltec-v3",
            {**LORA, "lora": {"freq_hz": 868650000}},
            "lora.freq_hz: a 125000 Hz wide channel at 868650000 Hz does not fit",
        ),
        (
            "heltec-v3",
            {**LORA, "lora": {"freq_hz": 868100500}},
            "lora.freq_hz: the radio takes whole kHz, got 868100500 Hz",
        ),
    ],
)
def test_a_config_the_board_cannot_serve_is_refused(
    tmp_path: Path, board: str, config: dict[str, Any], message: str
) -> None:
    path = write_config(tmp_path, config)
    proc = meteolink("flash", "--board", board, "--config", str(path), "--dry-run")
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"meteolink: flash: config.json: {message}")
    assert proc.stdout == ""


def test_dry_run_on_a_lora_board_prints_the_plan_compiled_for_its_chip(
    tmp_path: Path, mpy_cross: str
) -> None:
    config = write_config(tmp_path, LORA)
    proc = meteolink("flash", "--board", "heltec-v3", "--config", str(config), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "mpy-cross -march=xtensawin" in out
    assert "node 17: transport lora 868.1 MHz SF9, sensors bme280, battery" in out
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    modules = [*EVERY_NODE, "port_esp32", "buses"]
    modules += ["bme280", "battery", "lora_link", "dutycycle", "airtime"]
    assert sorted(sizes) == sorted(
        [f"{m}.mpy" for m in modules] + ["main.py", "board.json", "config.json"]
    )
    # What was listed is what mpy-cross makes for the ESP32-S3.
    ref = tmp_path / "node.mpy"
    subprocess.run(
        [mpy_cross, "-march=xtensawin", "-s", "node.py", "-o", str(ref), str(FIRMWARE / "node.py")],
        check=True,
    )
    assert sizes["node.mpy"] == ref.stat().st_size
    assert sizes["config.json"] == config.stat().st_size
    assert f"{len(sizes)} files, {sum(sizes.values())} bytes" in out
    # Without --port, no command is printed with a placeholder in it.
    assert out.splitlines()[-1] == (
        "--port is needed to print runnable commands (e.g. --port /dev/ttyUSB0;"
        " 'mpremote connect list' lists the ports)"
    )
    assert "would run" not in out and "<" not in out
    with_port = meteolink(
        "flash",
        "--board",
        "heltec-v3",
        "--config",
        str(config),
        "--dry-run",
        "--port",
        "/dev/ttyUSB0",
    )
    assert with_port.returncode == 0, with_port.stderr
    plan = with_port.stdout.splitlines()
    commands = plan[plan.index("would run:") + 1 :]
    assert commands[0].startswith("  mpremote connect /dev/ttyUSB0 resume exec 'import sys, os;")
    copy = shlex.split(commands[1])
    assert copy[:5] == ["mpremote", "connect", "/dev/ttyUSB0", "resume", "exec"]
    cp = copy[copy.index("cp") + 1 :]
    assert [Path(f).name for f in cp[:-1]] == list(sizes) and cp[-1] == ":/"
    assert all(Path(f).stat().st_size == sizes[Path(f).name] for f in cp[:-1])  # kept to run
    assert commands[2:] == [
        "  mpremote connect /dev/ttyUSB0 resume mip install lora-sync lora-sx126x + reset",
        "  meteolink logs /dev/ttyUSB0  # watch it start; Ctrl-C ends",
    ]

    # On a terminal, progress lines come first.
    args = ["flash", "--board", "heltec-v3", "--config", str(config), "--dry-run"]
    master, slave = os.openpty()
    try:
        subprocess.run([find_tool("meteolink"), *args], stdout=slave, check=True, timeout=60)
        shown = os.read(master, 65536).decode()
    finally:
        os.close(master)
        os.close(slave)
    assert shown.startswith("compiling 15 firmware files for xtensawin...\r\ndry run:")

    no_mip = meteolink(*args, "--no-mip", "--port", "/dev/ttyUSB0")
    assert "mip install" not in no_mip.stdout
    assert ":/ + reset\n" in no_mip.stdout


# Which firmware files a node needs: the table in tools/build.py against the imports
# of the firmware itself, so that a new import cannot leave a node without its
# file (node.py's imports of a transport or a port, and sensors.py's of the
# drivers, are the table's choices).


# Imports made only on a LoRa node, inside a function (node_config.py checks the
# channel with dutycycle.py, which every LoRa node carries).
LORA_ONLY_IMPORTS = {"node_config": {"dutycycle"}}


def firmware_imports(module: str) -> set[str]:
    tree = ast.parse((FIRMWARE / f"{module}.py").read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    ours = {p.stem for p in FIRMWARE.glob("*.py")}
    return names & ours - {"roles"}  # read by the type checker only, never on a node


def test_the_module_table_knows_every_transport() -> None:
    # Sensors need no table here: flash copies the files of their catalogue row.
    assert set(build.TRANSPORT_MODULES) == set(nodeconfig.TRANSPORTS)


@pytest.mark.parametrize(
    "config",
    [{"sensors": [kind]} for kind in catalogue.SENSORS]
    + [{"sensors": [], "transport": t} for t in nodeconfig.TRANSPORTS]
    + [{"sensors": [], "transport": "lora", "role": "bridge"}],
)
@pytest.mark.parametrize("board_name", ["heltec-v3", "pico-w", "sim"])
def test_every_module_a_node_gets_finds_its_imports(
    board_name: str, config: dict[str, Any]
) -> None:
    board = board_file.load_board(board_name)
    cfg = nodeconfig.parse(json.dumps({"node": 1, **config}))
    modules = build.modules_for(board, cfg)
    assert len(modules) == len(set(modules))
    for module in modules:
        if module not in ("node", "sensors"):  # their imports are the table's choices
            missing = firmware_imports(module) - set(modules)
            if cfg.transport != "lora":
                missing -= LORA_ONLY_IMPORTS.get(module, set())
            assert not missing, f"{module} imports {missing}, which flash leaves out"
