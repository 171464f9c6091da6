"""`meteolink flash --mip-index`: the LoRa driver from a mip index, without the internet.

The index is the tests' setting, as for the drivers the firmware tests install:
$METEOLINK_MIP_INDEX (`make test MIP_INDEX=...`), a URL or a folder, else
micropython-lib's index beside the repository (../shared/micropython-lib/index),
else micropython.org's. flash gets it both ways: as a folder, which flash serves
on 127.0.0.1 itself (a URL setting is first copied into one with `meteolink
mip-index`), and as a URL (a folder setting is served by the test, as a site's
server would serve it). The board is a virtual one (tests/support/virtual_board.py)
reached with the real mpremote, whose mip installs into lib/ in its flash folder.
"""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from meteolink.tools import mip_index
from tests.support.tools import ROOT, find_tool, meteolink
from tests.support.virtual_board import VirtualBoard

LORA = {"node": 17, "sensors": ["bme280", "battery"], "transport": "lora", "maintenance_s": 0}
MPY = 6  # the .mpy version of MicroPython 1.29, whose mpy-cross flash compiles with
SIM_DRIVER = {"__init__.mpy", "modem.mpy", "sync_modem.mpy", "sx127x.mpy"}  # sim is an SX1276


def index_setting() -> str:
    """The index the tests install the LoRa driver from (the module's docstring)."""
    setting = os.environ.get("METEOLINK_MIP_INDEX", "").strip()
    if setting:
        return setting
    shared = ROOT.parent / "shared" / "micropython-lib" / "index"
    return str(shared) if shared.is_dir() else mip_index.DEFAULT_INDEX


def is_url(index: str) -> bool:
    return index.startswith(("http://", "https://"))


def serve(folder: Path) -> tuple["subprocess.Popen[str]", str]:
    """The folder on 127.0.0.1 as a site's server would serve it: Python's, on a free port."""
    server = [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"]
    proc = subprocess.Popen(
        [*server, "--directory", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    said = proc.stdout.readline()  # Serving HTTP on 127.0.0.1 port 41234 (http://...) ...
    found = re.search(r" port (\d+) ", said)
    assert found, said
    return proc, f"http://127.0.0.1:{found[1]}"


@pytest.fixture
def served() -> Iterator[Callable[[Path], str]]:
    started: list[subprocess.Popen[str]] = []

    def start(folder: Path) -> str:
        proc, url = serve(folder)
        started.append(proc)
        return url

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.fixture
def index_folder(tmp_path: Path) -> Path:
    """The index as a folder: the setting's, or one `meteolink mip-index` fills from its URL."""
    setting = index_setting()
    if not is_url(setting):
        return Path(setting)
    folder = tmp_path / "carried-index"
    proc = meteolink("mip-index", str(folder), "--from", setting)
    assert proc.returncode == 0, proc.stderr
    return folder


@pytest.fixture
def index_url(index_folder: Path, served: Callable[[Path], str]) -> str:
    """The index as a URL: the setting's, or its folder served on 127.0.0.1 by the test."""
    setting = index_setting()
    return setting if is_url(setting) else served(index_folder)


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "node.json"
    path.write_text(json.dumps(config) + "\n", "utf-8")
    return path


def flash(board: str, config: Path, *args: str) -> "subprocess.CompletedProcess[str]":
    return meteolink("flash", "--board", board, "--config", str(config), *args)


def free_port() -> int:
    """A port nothing listens on: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def driver_hashes(index: str, packages: list[str]) -> dict[str, str]:
    """What mip puts on the board for the packages: path under lib/ -> short SHA-256."""
    source = mip_index.from_option(index)
    hashes = {}
    for path, data in mip_index.walk(source, MPY, packages):
        if path.startswith("package/"):
            hashes.update(dict(json.loads(data).get("hashes", [])))
    return hashes


# A MicroPython script run from the flashed board's folder: the firmware's own
# make_modem() loads the driver flash installed in lib/ and starts on the radio,
# up to its first SPI transfer (the register-level radio is sim/'s, not this test's).
IMPORT_CHECK = """\
import json, sys
import lora_link

class Reached(Exception):
    pass

class Spi:
    def write_readinto(self, out, into):
        raise Reached()

class Pin:
    def __init__(self, n):
        pass
    def init(self, *args, **kw):
        pass
    def irq(self, *args, **kw):
        pass
    def __call__(self, *args):
        pass

radio = json.load(open("board.json"))["radio"]
try:
    lora_link.make_modem(radio, Spi(), Pin, module="lora")
except Reached:
    pass
mods = sorted(m for m in sys.modules if m == "lora" or m.startswith("lora."))
print(json.dumps([sys.modules[m].__file__ for m in mods]))
"""

# machine.Pin for the driver's `from machine import Pin` on the unix port, whose
# machine has none (the sim board's own comes with its register-level radios):
# last on the path, so that any machine module before it wins.
MACHINE_PIN = """\
from umachine import *

class Pin:
    IN = 0
    OUT = 1
    IRQ_RISING = 1
"""


def imports_from_the_board(board: VirtualBoard, tmp_path: Path) -> list[str]:
    shim = tmp_path / "machine-pin"
    shim.mkdir(exist_ok=True)
    (shim / "machine.py").write_text(MACHINE_PIN, "utf-8")
    script = tmp_path / "import_check.py"
    script.write_text(IMPORT_CHECK, "utf-8")
    env = dict(os.environ, MICROPYPATH=f"{board.flash / 'lib'}:{board.flash}:{ROOT}:{shim}")
    proc = subprocess.run(
        [find_tool("micropython"), str(script)],
        cwd=board.flash,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files: list[str] = json.loads(proc.stdout)
    return files


@pytest.mark.parametrize("given", ["folder", "url"])
def test_flash_installs_the_lora_driver_from_the_index_and_the_firmware_loads_it(
    tmp_path: Path,
    virtual_board: Callable[..., VirtualBoard],
    index_folder: Path,
    index_url: str,
    given: str,
) -> None:
    board = virtual_board()
    config = write_config(tmp_path, LORA)
    index = str(index_folder) if given == "folder" else index_url
    # --no-reset: the board is flashed again below, which a reset node in its cycle would miss.
    proc = flash("sim", config, "--port", str(board.tty), "--mip-index", index, "--no-reset")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0] == "flashed node 17: transport lora 868.1 MHz SF9, sensors bme280, battery"
    assert f"installed lora-sync lora-sx127x with mip from {index}" in out

    # lib/lora/*.mpy, each the file the index holds for it (mip checks none: flash did).
    lib = board.flash / "lib" / "lora"
    assert {p.name for p in lib.iterdir()} == SIM_DRIVER
    hashes = driver_hashes(index, ["lora-sync", "lora-sx127x"])
    assert sorted(hashes) == sorted(f"lora/{name}" for name in SIM_DRIVER)
    for name in SIM_DRIVER:
        data = (lib / name).read_bytes()
        assert data.startswith(b"M\x06")
        assert hashlib.sha256(data).hexdigest().startswith(hashes[f"lora/{name}"])

    # The flashed firmware finds the flashed driver and runs it.
    files = imports_from_the_board(board, tmp_path)
    assert files == [str(lib / name) for name in sorted(SIM_DRIVER)]  # lora, lora.modem, ...

    # Flashed again without mip: the board has its driver, and flash says nothing of it.
    again = flash("sim", config, "--port", str(board.tty), "--no-mip")
    assert again.returncode == 0, again.stderr
    assert "LoRa driver" not in again.stdout and "mip" not in again.stdout


def test_dry_run_prints_the_commands_that_serve_the_folder_and_install_from_it(
    tmp_path: Path, virtual_board: Callable[..., VirtualBoard], index_folder: Path
) -> None:
    board = virtual_board()
    config = write_config(tmp_path, LORA)
    folder = index_folder.resolve()
    proc = flash(
        "sim", config, "--port", str(board.tty), "--mip-index", str(index_folder), "--dry-run"
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    checked = "lora-sync, lora-sx127x, lora (every file checked)"
    assert f"LoRa driver from {index_folder}: {checked}" in lines
    plan = lines[lines.index("would run:") + 1 :]
    serve_line, mip_line, kill_line, logs_line = plan[2:]
    port = re.fullmatch(
        rf"  python3 -m http.server (\d+) --bind 127.0.0.1 --directory {re.escape(str(folder))}"
        r" &  # flash serves the folder on 127.0.0.1 while mip runs",
        serve_line,
    )
    assert port, serve_line
    assert mip_line == (
        f"  mpremote connect {board.tty} resume mip install --index http://127.0.0.1:{port[1]}"
        " --target ./lib lora-sync lora-sx127x"
    )
    assert kill_line == "  kill $!  # and stops serving it"
    assert logs_line == f"  meteolink logs {board.tty}  # watch it start; Ctrl-C ends"
    assert not (board.flash / "lib").exists()

    # Typed into a shell as printed, they install the driver (a technician
    # types the second once the first is serving; the test waits for that).
    wait = f"until (echo > /dev/tcp/127.0.0.1/{port[1]}) 2>/dev/null; do sleep 0.05; done"
    script = "\n".join([serve_line, wait, mip_line, kill_line, "wait"])
    bin_dir = Path(find_tool("mpremote")).parent
    env = dict(os.environ, PATH=f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}")
    ran = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert ran.returncode in (0, 143), ran.stdout + ran.stderr  # 143: the server, killed
    assert {p.name for p in (board.flash / "lib" / "lora").iterdir()} == SIM_DRIVER


def test_mip_index_fills_a_folder_to_carry_that_flash_takes(
    tmp_path: Path, index_url: str, virtual_board: Callable[..., VirtualBoard]
) -> None:
    folder = tmp_path / "usb-stick" / "meteolink-index"
    proc = meteolink("mip-index", str(folder), "--from", index_url)
    assert proc.returncode == 0, proc.stderr
    packages = ["lora-sync", "lora-sx126x", "lora-sx127x"]
    assert sorted(p.name for p in (folder / "package" / str(MPY)).iterdir()) == sorted(
        ["lora", *packages]
    )
    # What mip reads for every board of meteolink, and nothing else.
    expected = dict(mip_index.walk(mip_index.from_option(index_url), MPY, packages))
    got = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert got == expected
    size = sum(len(data) for data in expected.values())
    first, second = proc.stdout.splitlines()
    assert first == (
        f"{folder}: lora-sync, lora-sx126x, lora-sx127x, lora for MicroPython's .mpy version"
        f" {MPY}, from {index_url}: {len(expected)} files ({len(expected)} new),"
        f" {size} bytes in the folder"
    )
    assert second == f"at the site: meteolink flash --mip-index {folder} --board ... --config ..."

    # Again: nothing new.
    again = meteolink("mip-index", str(folder), "--from", index_url)
    assert f"{len(expected)} files (0 new)" in again.stdout

    # And flash takes it, for both radio families.
    config = write_config(tmp_path, LORA)
    for board_name, chip in (("heltec-v3", "lora-sx126x"), ("lilygo-t3-v1.6", "lora-sx127x")):
        plan = flash(board_name, config, "--dry-run", "--mip-index", str(folder))
        assert plan.returncode == 0, plan.stderr
        assert f"LoRa driver from {folder}: lora-sync, {chip}, lora (every file checked)" in (
            plan.stdout
        )


def damaged(index_folder: Path, tmp_path: Path, how: str) -> tuple[Path, str]:
    """A copy of the index folder with one thing wrong, and the message flash gives for it."""
    folder = tmp_path / "index-copy"
    shutil.copytree(index_folder, folder)
    latest = folder / "package" / str(MPY) / "lora-sx126x" / "latest.json"
    (target, short), *_ = json.loads(latest.read_bytes())["hashes"]
    blob = folder / "file" / short[:2] / short
    fill = "fill the folder again while online: meteolink mip-index FOLDER (docs/flashing.md)"
    where = f"meteolink: flash: --mip-index {folder}"
    if how == "no package":
        latest.unlink()
        return folder, (
            f"{where}: has no lora-sx126x for MicroPython's .mpy version {MPY}"
            f" (no package/{MPY}/lora-sx126x/latest.json): {fill}"
        )
    if how == "no file":
        blob.unlink()
        return (
            folder,
            f"{where}: file/{short[:2]}/{short} ({target} of lora-sx126x) is missing: " + fill,
        )
    blob.write_bytes(blob.read_bytes()[:-1])  # cut short, as a full USB stick leaves it
    return folder, (
        f"{where}: file/{short[:2]}/{short} ({target} of lora-sx126x) is damaged (its SHA-256"
        f" does not start with {short}): {fill}"
    )


@pytest.mark.parametrize("how", ["no package", "no file", "damaged file"])
def test_an_incomplete_or_damaged_folder_is_named_with_what_to_do(
    tmp_path: Path, index_folder: Path, how: str
) -> None:
    folder, message = damaged(index_folder, tmp_path, how)
    config = write_config(tmp_path, LORA)
    proc = flash("heltec-v3", config, "--dry-run", "--mip-index", str(folder))
    assert proc.returncode == 2
    assert proc.stderr == message + "\n"
    assert proc.stdout == ""


def test_an_index_that_is_not_one_is_named_with_what_to_do(
    tmp_path: Path, served: Callable[[Path], str]
) -> None:
    config = write_config(tmp_path, LORA)
    (tmp_path / "empty").mkdir()
    refused = f"http://127.0.0.1:{free_port()}"
    elsewhere = served(tmp_path / "empty")
    cases = {
        str(tmp_path / "empty"): (
            "not a mip index (it has no package/ folder): give a folder filled with 'meteolink"
            " mip-index FOLDER' (docs/flashing.md), or the http:// URL of an index"
        ),
        str(tmp_path / "nowhere"): (
            "no such folder (give the path of a folder filled with 'meteolink mip-index"
            " FOLDER', or the http:// URL of an index)"
        ),
        refused: (
            "cannot reach it (Connection refused): check the address and that its server runs"
            " and this computer reaches it, or carry the index in a folder (docs/flashing.md)"
        ),
        elsewhere: (
            f"has no lora-sync for MicroPython's .mpy version {MPY} (no"
            f" package/{MPY}/lora-sync/latest.json): is it the address of a mip index?"
            " docs/flashing.md"
        ),
        "ftp://127.0.0.1/index": (
            "mip reads an index over http:// or https:// only (give such a URL, or the path of"
            " a folder)"
        ),
    }
    for given, says in cases.items():
        proc = flash("heltec-v3", config, "--dry-run", "--mip-index", given)
        assert proc.returncode == 2, given
        assert proc.stderr == f"meteolink: flash: --mip-index {given}: {says}\n"
        assert proc.stdout == ""
    both = flash("heltec-v3", config, "--dry-run", "--mip-index", elsewhere, "--no-mip")
    assert both.returncode == 2
    assert both.stderr == (
        "meteolink: flash: argument --no-mip: not allowed with argument --mip-index"
        " (see 'meteolink flash --help')\n"
    )
    source = meteolink("mip-index", str(tmp_path / "to-fill"), "--from", refused)
    assert source.returncode == 2
    assert source.stderr.startswith(f"meteolink: mip-index: --from {refused}: cannot reach it (")
    assert not (tmp_path / "to-fill").exists()


def test_an_unreachable_index_stops_flash_before_it_touches_the_board(
    tmp_path: Path, virtual_board: Callable[..., VirtualBoard]
) -> None:
    board = virtual_board()
    before = board.contents()
    config = write_config(tmp_path, LORA)
    url = f"http://127.0.0.1:{free_port()}"
    proc = flash("sim", config, "--port", str(board.tty), "--mip-index", url)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"meteolink: flash: --mip-index {url}: cannot reach it (")
    assert board.contents() == before
