"""What `meteolink flash` shows while and after it copies, `meteolink logs`, and --micropython.

Against a virtual board (tests/support/virtual_board.py): the firmware under the
MicroPython unix port on a pty that the real mpremote drives. Its UART link, where a
UART node writes its frames, is one end of a socat pty pair; the other end is what
`--link-port` names, as a USB-serial adapter wired to the node would be.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from meteolink.firmware import frames, framing
from meteolink.firmware import node_config as nodeconfig
from meteolink.tools import board_file, flash_cmd, logs_cmd
from meteolink.tools.cli import CommandError
from meteolink.tools.pseudo_terminal import PseudoTerminal
from meteolink.tools.transport import VIRTUAL_RESET, Console, Target
from tests.support.tools import find_tool, meteolink
from tests.support.virtual_board import VirtualBoard

KEY = "000102030405060708090a0b0c0d0e0f"
UART_NODE = {"node": 9, "sensors": ["bme280"], "transport": "uart", "maintenance_s": 1}
AIR = {"temperature": 21.5, "humidity": 45.0, "pressure": 1013.25}


def write_config(tmp_path: Path, config: dict[str, object], name: str = "node.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config, indent=2) + "\n", "utf-8")
    return path


@pytest.fixture
def cable(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A serial cable: the node's end (its UART link) and this computer's (--link-port)."""
    node_end, our_end = tmp_path / "node-uart", tmp_path / "ttyUSB1"
    proc = subprocess.Popen(
        [
            find_tool("socat"),
            f"pty,raw,echo=0,link={node_end}",
            f"pty,raw,echo=0,link={our_end}",
        ]
    )
    deadline = time.monotonic() + 10
    while not (node_end.exists() and our_end.exists()):
        assert time.monotonic() < deadline, "socat made no pty pair"
        time.sleep(0.02)
    yield node_end, our_end
    proc.terminate()
    proc.wait(10)


def on_a_terminal(*args: str, timeout: float = 60) -> list[tuple[float, str]]:
    """`meteolink ARGS` with its output on a terminal: each line with when it came."""
    master, slave = os.openpty()
    proc = subprocess.Popen([find_tool("meteolink"), *args], stdout=slave, stderr=slave)
    os.close(slave)
    got: list[tuple[float, str]] = []
    pending = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the program ended and the terminal with it
                break
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            got += [(time.monotonic(), line.decode().rstrip("\r")) for line in lines]
    finally:
        os.close(master)
        assert proc.wait(10) == 0, got
    return got


# -- progress while copying ------------------------------------------------------------

NAMES = [
    "frames.mpy", "framing.mpy", "node_config.mpy", "catalogue.mpy", "counter.mpy",
    "retained.mpy", "node.mpy", "sensors.mpy", "bme280.mpy", "uart_link.mpy", "main.py",
    "board.json", "config.json",
]  # fmt: skip


def test_flash_on_a_terminal_shows_each_file_with_its_size_as_it_is_copied(
    tmp_path: Path, virtual_board: Callable[..., VirtualBoard]
) -> None:
    board = virtual_board()
    config = write_config(tmp_path, UART_NODE)
    lines = [
        text
        for _, text in on_a_terminal(
            "flash",
            "--board",
            "sim",
            "--config",
            str(config),
            "--port",
            str(board.tty),
            "--no-reset",
        )
    ]
    [start] = [n for n, line in enumerate(lines) if line.startswith("copying 13 files (")]
    total = sum((board.flash / name).stat().st_size for name in NAMES)
    assert lines[start] == f"copying 13 files ({total / 1000:.1f} kB) to {board.tty}..."
    progress = lines[start + 1 : lines.index("flashed node 9: transport uart, sensors bme280")]
    shown = [line for line in progress if "/13 " in line]
    assert [line.split()[1] for line in shown] == NAMES
    for n, line in enumerate(shown, 1):
        name = line.split()[1]
        size = (board.flash / name).stat().st_size
        assert line.startswith(f"  {n}/13 {name} ({size} bytes)"), line
    # board.json was on the board already, the same bytes: mpremote skips it, and says so.
    assert "    board.json: already on the board, unchanged..." in progress


def test_each_line_mpremote_says_is_handed_on_as_it_says_it(tmp_path: Path) -> None:
    # An mpremote that copies slowly: a line, a second of work, the next line.
    fake = tmp_path / "mpremote"
    fake.write_text(
        f"#!{sys.executable}\nimport time\n"
        "print('cp /tmp/x/frames.mpy :/')\ntime.sleep(1)\nprint('cp /tmp/x/node.mpy :/')\n",
        "utf-8",
    )
    fake.chmod(0o755)
    target = Target("/dev/null", board_file.load_board("sim"), nodeconfig.parse('{"node": 1}'))
    target.mpremote = str(fake)
    heard: list[tuple[float, str]] = []
    t0 = time.monotonic()
    out = target.stream(
        ["fs", "cp"], "copying", lambda line: heard.append((time.monotonic(), line))
    )
    assert [line for _, line in heard] == ["cp /tmp/x/frames.mpy :/", "cp /tmp/x/node.mpy :/"]
    assert heard[0][0] - t0 < 0.8  # not held back until mpremote ends
    assert heard[1][0] - heard[0][0] > 0.8
    assert out == "cp /tmp/x/frames.mpy :/\ncp /tmp/x/node.mpy :/\n"


# -- after the copy: a reset, and the node seen starting ----------------------------------


def test_a_good_flash_is_seen_starting_and_its_first_frame_decodes_with_the_key(
    tmp_path: Path, virtual_board: Callable[..., VirtualBoard], cable: tuple[Path, Path]
) -> None:
    node_end, our_end = cable
    board = virtual_board(world={"link": str(node_end), "air": AIR})
    config = write_config(tmp_path, {**UART_NODE, "key": KEY})
    proc = meteolink(
        "flash", "--board", "sim", "--config", str(config), "--port", str(board.tty),
        "--link-port", str(our_end),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "flashed node 9: transport uart, sensors bme280"
    assert lines[-2] == f"started: node 9 starts in 1 s (its console on {board.tty})"
    first = lines[-1]
    assert first.startswith(f"first frame on {our_end}: node 9 #")
    units = "temperature 21.5 °C, humidity 45 %RH, pressure 1013.2 hPa"
    assert units.encode().decode("latin-1") in first  # meteolink() reads its output as latin-1
    assert first.endswith("(MIC checked)")


def test_a_node_whose_main_py_is_broken_is_said_not_to_start(
    virtual_board: Callable[..., VirtualBoard],
) -> None:
    # What a damaged copy or a hand edit leaves: flash's own main.py is always the good one,
    # so the broken one is put on the board here, and the same reset and check run.
    board = virtual_board(**{"main.py": b"import node\nnode.start()\n"})
    cfg = nodeconfig.parse(json.dumps(UART_NODE))
    target = Target(str(board.tty), board_file.load_board("sim"), cfg)
    target.mpremote = find_tool("mpremote")
    target.run(["exec", "--no-follow", VIRTUAL_RESET], "restarting the node")
    with pytest.raises(CommandError) as error:
        list(logs_cmd.watch_start(str(board.tty), cfg, target.board, None))
    assert str(error.value) == (
        f"{board.tty}: the node did not start: main.py stopped with AttributeError: module"
        " 'node' has no attribute 'start' (fix what it names and run flash again;"
        f" 'meteolink logs {board.tty}' shows the whole message)"
    )
    assert error.value.status == 1


def test_a_node_that_says_nothing_after_its_reset_names_what_to_check(
    virtual_board: Callable[..., VirtualBoard], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs_cmd, "BOOT_S", 2)
    board = virtual_board(**{"main.py": b"import time\ntime.sleep(30)\n"})
    cfg = nodeconfig.parse(json.dumps(UART_NODE))
    target = Target(str(board.tty), board_file.load_board("sim"), cfg)
    target.mpremote = find_tool("mpremote")
    target.run(["exec", "--no-follow", VIRTUAL_RESET], "restarting the node")
    with pytest.raises(CommandError) as error:
        list(logs_cmd.watch_start(str(board.tty), cfg, target.board, None))
    assert str(error.value) == (
        f"{board.tty}: the node did not say it started within 2 s of its reset (check that"
        f" main.py is on the board: 'mpremote connect {board.tty} resume fs ls'; then watch it"
        f" with 'meteolink logs {board.tty}' and press its reset button)"
    )


def _check_with(
    monkeypatch: pytest.MonkeyPatch, config: dict[str, object], frame: bytes | None
) -> CommandError:
    """The first-frame check against a console that says the node started and a link
    that carries frame (None: nothing)."""
    monkeypatch.setattr(logs_cmd, "FRAME_S", 1)
    console, link = PseudoTerminal(), PseudoTerminal()

    def node() -> None:  # once the check has opened both ports (opening one empties it)
        time.sleep(0.5)
        console.write(b"meteolink: node 9 starts in 0 s (Ctrl-C: REPL)\r\n")
        if frame is not None:
            link.write(framing.cobs_encode(frame))

    talking = threading.Thread(target=node)
    talking.start()
    try:
        cfg = nodeconfig.parse(json.dumps(config))
        board = board_file.load_board("sim")
        reading = Console(link.path)
        try:
            with pytest.raises(CommandError) as error:
                list(logs_cmd.watch_start(console.path, cfg, board, reading))
        finally:
            reading.close()
    finally:
        talking.join()
        console.close()
        link.close()
    return error.value


def test_a_first_frame_under_another_key_is_refused_as_the_gateway_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = bytes(range(16, 32))
    frame = frames.encode(9, 1, {"temperature": 20.0}, key=other, flags=frames.FLAG_BOOT)
    error = _check_with(monkeypatch, {**UART_NODE, "key": KEY}, frame)
    assert "the node's first frame has a MIC that does not match the key of its config.json" in (
        str(error)
    )


def test_no_frame_on_the_link_names_the_wiring_to_check(monkeypatch: pytest.MonkeyPatch) -> None:
    error = _check_with(monkeypatch, UART_NODE, None)
    assert str(error).endswith(
        "no frame from node 9 within 1 s of its reset (check the wiring: the node's TX (GPIO 0)"
        " to the adapter's RX, its RX (GPIO 0) to TX, GND to GND, 115200 baud)"
    )


def test_link_port_is_refused_for_a_node_without_a_uart_link(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"node": 17, "transport": "lora"})
    proc = meteolink(
        "flash", "--board", "heltec-v3", "--config", str(config), "--link-port", "/dev/ttyUSB1",
        "--dry-run",
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == (
        "meteolink: flash: --link-port: node 17 has no UART link (it sends by lora):"
        " leave --link-port out\n"
    )


# -- meteolink logs ----------------------------------------------------------------------


def test_logs_prints_the_console_as_it_comes_and_ends_cleanly_at_ctrl_c() -> None:
    console = PseudoTerminal()
    try:
        proc = subprocess.Popen(
            [find_tool("meteolink"), "logs", console.path],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert "the node's console; Ctrl-C ends" in proc.stdout.readline()
        proc.stdout.readline()
        console.write(b"meteolink: node 17 starts in 5 s (Ctrl-C: REPL)\r\n")
        line = proc.stdout.readline()
        assert line.rstrip().endswith("  meteolink: node 17 starts in 5 s (Ctrl-C: REPL)")
        assert line[2] == ":" and line[5] == ":"  # HH:MM:SS first
        console.write(b">>> ")  # a prompt: no end of line, shown after a quiet spell
        assert proc.stdout.readline().rstrip().endswith("  >>>")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        console.close()
    assert proc.returncode == 0
    assert err == ""


def test_logs_on_a_port_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    port = str(tmp_path / "ttyUSB7")
    proc = meteolink("logs", port)
    assert proc.returncode == 2
    assert proc.stderr == (
        f"meteolink: logs: {port}: no such port (is the board plugged in with a data cable?"
        " 'mpremote connect list' lists the ports)\n"
    )


def test_logs_on_a_file_that_is_not_a_serial_port_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "capture.bin"
    path.write_bytes(b"")
    proc = meteolink("logs", str(path))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"meteolink: logs: {path}: not a serial port (")


# -- --micropython -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("board", "chip", "offset"),
    [("heltec-v3", "esp32s3", "0x0"), ("esp32-devkitc", "esp32", "0x1000")],
)
def test_micropython_dry_run_prints_esptools_documented_command(
    tmp_path: Path, board: str, chip: str, offset: str
) -> None:
    image = tmp_path / "ESP32_GENERIC-20250415-v1.29.0.bin"
    image.write_bytes(b"\xe9" + bytes(255))
    config = write_config(tmp_path, {"node": 3, "sensors": ["bme280"], "transport": "ble"})
    proc = meteolink(
        "flash", "--board", board, "--config", str(config), "--micropython", str(image),
        "--port", "/dev/ttyUSB0", "--dry-run",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # As esptool's documentation writes it (esptool v5: write-flash; -z: compressed).
    documented = f"esptool --chip {chip} --port /dev/ttyUSB0 write-flash -z {offset} {image}"
    assert lines[lines.index("would run:") + 1] == f"  {documented}"
    # Runnable as printed: esptool's own parser takes it (its --help stops before any port).
    help_run = subprocess.run(
        [find_tool("esptool"), *documented.split()[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert help_run.returncode == 0, help_run.stdout + help_run.stderr
    assert "Write a binary blob to flash" in help_run.stdout


def test_micropython_for_an_rp2040_says_the_uf2_steps(tmp_path: Path) -> None:
    image = tmp_path / "RPI_PICO-20250415-v1.29.0.uf2"
    image.write_bytes(b"UF2\n")
    config = write_config(tmp_path, {"node": 3, "sensors": ["bme280"]})
    proc = meteolink(
        "flash", "--board", "pico", "--config", str(config), "--micropython", str(image),
        "--port", "/dev/ttyACM0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "hold its BOOTSEL button while you plug it in" in proc.stdout
    assert f"cp {image} /media/$USER/RPI-RP2/" in proc.stdout
    assert proc.stdout.splitlines()[-1] == (
        f"then put the node on it: meteolink flash --board pico --config {config}"
        " --port /dev/ttyACM0"
    )


@pytest.mark.parametrize(
    ("board", "name", "message"),
    [
        (
            "heltec-v3",
            "missing.bin",
            "--micropython {image}: no such file (download it from"
            " https://micropython.org/download/ESP32_GENERIC_S3/)",
        ),
        (
            "pico",
            "RPI_PICO.bin",
            "--micropython {image}: board pico takes a .uf2 file, not .bin (download the .uf2"
            " of https://micropython.org/download/RPI_PICO/)",
        ),
        (
            "sim",
            "x.bin",
            "--micropython: board sim is the MicroPython unix port, which is installed, not"
            " flashed: leave --micropython out",
        ),
    ],
)
def test_micropython_mistakes_are_one_line(
    tmp_path: Path, board: str, name: str, message: str
) -> None:
    image = tmp_path / name
    if name != "missing.bin":
        image.write_bytes(b"\0")
    config = write_config(tmp_path, {"node": 3, "sensors": ["bme280"]})
    proc = meteolink(
        "flash", "--board", board, "--config", str(config), "--micropython", str(image),
        "--dry-run",
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == f"meteolink: flash: {message.format(image=image)}\n"


def test_a_missing_esptool_is_one_line_naming_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # esptool is an optional dependency: a Python without it, as find_spec sees it.
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "esptool" else real(name, *a)
    )
    image = flash_cmd.EspImage(tmp_path / "fw.bin", "esp32", "0x1000")
    with pytest.raises(CommandError) as error:
        flash_cmd.write_image(image, "/dev/ttyUSB0", lambda text: None)
    assert str(error.value) == (
        "--micropython needs esptool, which is not installed (pip install 'meteolink[esptool]'"
        " or pip install esptool)"
    )
    assert error.value.status == 2


def test_the_esptool_extra_is_declared() -> None:
    import tomllib

    from tests.support.tools import ROOT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    assert any(d.startswith("esptool") for d in project["optional-dependencies"]["esptool"])
