"""Board files: found by name in meteolink.boards or by path, read, and checked.

The board files of meteolink are the package data of meteolink.boards (boards/*.json),
found with importlib.resources; a user's own is given by its path. Reading one runs the
rules of board_schema.py and board_rules.py: a file that passes them is one the node can
build its buses, radio and pins from. check_pair then holds a node's config.json against
the board.
"""

import argparse
import importlib.resources
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meteolink.firmware import catalogue
from meteolink.firmware import node_config as nodeconfig
from meteolink.tools.board_rules import problems
from meteolink.tools.board_schema import VIRTUAL_PORT, Problem
from meteolink.tools.cli import CommandError

LORA_SYNC = "lora-sync"  # the driver's blocking API, which lora_link.py uses


@dataclass(frozen=True)
class Board:
    """A board file that passed the rules: its name (the file name without .json),
    content and bytes (copied to the node as they are)."""

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
        return self.port == VIRTUAL_PORT

    @property
    def root(self) -> str:
        """The node's filesystem root on the board: the cwd of a virtual board."""
        return "." if self.virtual else "/"

    def remote(self, name: str = "") -> str:
        """A path in the node's filesystem root, as mpremote's fs takes it."""
        return (":./" if self.virtual else ":/") + name

    @property
    def lib(self) -> str:
        """Where mip installs packages: /lib, on MicroPython's sys.path on a board; on a
        virtual board lib/ in its flash folder (to put on MICROPYPATH, as sys.path has /lib)."""
        return "./lib" if self.virtual else "/lib"

    def mip_packages(self, cfg: nodeconfig.Config) -> tuple[str, ...]:
        """The packages mip installs for this node: the LoRa driver, on a virtual board too."""
        radio = self.data["radio"]
        if cfg.transport != "lora" or radio is None:
            return ()
        return (LORA_SYNC, str(radio["package"]))


def add_board_argument(p: argparse.ArgumentParser) -> None:
    """--board, as every command that takes a board names it."""
    p.add_argument(
        "--board",
        required=True,
        metavar="NAME_OR_PATH",
        help="a board file of boards/ by name (heltec-v3), or the path of one",
    )


def boards_dir() -> Path:
    """The board files: the package data of meteolink.boards."""
    return Path(str(importlib.resources.files("meteolink.boards")))


def known_boards() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.json"))


def is_path(name_or_path: str) -> bool:
    """my-board.json and ./my-board are paths; heltec-v3 is the name of a board of ours."""
    return name_or_path.endswith(".json") or "/" in name_or_path or os.sep in name_or_path


def find(name_or_path: str) -> Path:
    """A board of meteolink by name (heltec-v3), or the path of a board file."""
    if is_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise CommandError(f"{path}: no such board file")
        return path
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
    return path


def read(path: Path) -> tuple[Any, bytes]:
    """The parsed JSON and the bytes of a board file; CommandError if it has none."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CommandError(f"{path}: cannot read it ({e.strerror})") from None
    try:
        return json.loads(raw), raw
    except ValueError as e:  # UnicodeDecodeError too
        raise CommandError(f"{path}: not valid JSON ({e})") from None


def check(path: Path) -> tuple[Any, bytes, list[Problem]]:
    """Read a board file and run the rules on it."""
    data, raw = read(path)
    return data, raw, problems(data)


def load_board(name_or_path: str) -> Board:
    """The board, or CommandError naming the first problem of its file."""
    path = find(name_or_path)
    data, raw, found = check(path)
    if found:
        more = len(found) - 1
        also = f"; {more} more: meteolink boards check {path}" if more else ""
        raise CommandError(f"{path}: {found[0]}{also}")
    return Board(path.stem, path, data, raw)


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
        bus = catalogue.SENSORS[sensor.kind][catalogue.BUS]
        if bus == "uart" and b["uart"] is None:
            raise CommandError(f"{where} needs a sensor UART and board {board.name} has none")
        if bus == "adc" and b["battery"] is None:
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
