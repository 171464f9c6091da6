"""`meteolink boards`: the board files meteolink knows, and a check of one's own.

`meteolink boards check FILE...` runs the rules `meteolink flash` runs (board_rules.py) on
board files, by path or by name, and prints one line per mistake, naming the file, the key
and what to write instead:

    meteolink: boards check: my-board.json: uart.tx: GPIO34 is input-only (write a free ...)

Exit status 0 when every file is right, 1 when one is not (a mistake in it, or a file that
is not there, not readable or not JSON), 2 for a mistake on the command line.
"""

import argparse
import sys
from pathlib import Path

from meteolink.tools import board_file
from meteolink.tools.cli import Command, CommandError

# A check reports every mistake, not the first: each line is printed here, in the form
# main() gives the one CommandError of the other commands.
WHERE = "meteolink: boards check"


def _arguments(p: argparse.ArgumentParser) -> None:
    known = ", ".join(board_file.known_boards())
    sub = p.add_subparsers(dest="boards_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check",
        help="check board files against the rules of their chip",
        description="Check board files against the schema and the pin rules of their chip,"
        " as meteolink flash does. One line per mistake, with what to write instead.",
        epilog=f"the boards of meteolink: {known}",
    )
    check.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="the path of a board file, or the name of one of meteolink's (heltec-v3)",
    )
    check.set_defaults(action=_check)
    listing = sub.add_parser(
        "list",
        help="the boards of meteolink: name, chip, radio, Bluetooth",
        description="The board files of meteolink (docs/boards.md), for flash --board NAME.",
    )
    listing.set_defaults(action=_list)


def _check(args: argparse.Namespace) -> int:
    wrong = 0
    for name in args.files:
        # A file given is checked even where flash would take its name for one of ours.
        given = Path(name).is_file() or (board_file.is_path(name) and Path(name).exists())
        try:
            path = Path(name) if given else board_file.find(name)
            data, _, found = board_file.check(path)
        except CommandError as e:
            print(f"{WHERE}: {e}", file=sys.stderr)
            wrong += 1
            continue
        shown = str(path) if given or path.parent != board_file.boards_dir() else name
        for problem in found:
            print(f"{WHERE}: {shown}: {problem}", file=sys.stderr)
        if found:
            wrong += 1
        else:
            print(f"{shown}: ok ({data['name']})")
    return 1 if wrong else 0


def _list(args: argparse.Namespace) -> int:
    rows = [("NAME", "MCU", "RADIO", "BLE", "BOARD")]
    for name in board_file.known_boards():
        board = board_file.load_board(name)
        radio = board.data["radio"]
        rows.append(
            (
                name,
                board.data["mcu"],
                radio["chip"] if radio else "-",
                "yes" if board.data["ble"] else "no",
                board.data["name"],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]  # the last runs on
    for row in rows:
        print("".join(cell.ljust(w + 2) for cell, w in zip(row[:4], widths, strict=True)) + row[-1])
    return 0


def run(args: argparse.Namespace) -> int:
    status: int = args.action(args)
    return status


COMMANDS = [
    Command("boards", "the board files meteolink knows, and a check of your own", _arguments, run)
]
