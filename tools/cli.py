"""The `meteolink` command: one table of commands, one handler shape.

Every handler takes the parsed arguments and returns the exit status. A user
mistake raises CommandError, printed once by main() as
`meteolink: COMMAND: what was wrong (what to do)` with exit status 2.
"""

import argparse
import difflib
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from meteolink.firmware.frames import MeteolinkError
from meteolink.gateway import __version__


class CommandError(MeteolinkError):
    """A mistake the user can fix; the message says what and how."""

    def __init__(self, message: str, status: int = 2, where: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.where = where


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake as one CommandError line."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("meteolink").strip()
        raise CommandError(f"{message} (see '{self.prog} --help')", where=where)


# Which module of meteolink.tools holds each command, in the order `meteolink
# --help` lists them. Only the module of the command given is imported: every
# module imported costs memory in every process, and the gateway runs for months
# (importing them all made `meteolink gateway` 17 MB larger).
_WHERE = {
    "encode": "codec_cmd",
    "decode": "codec_cmd",
    "fields": "codec_cmd",
    "gateway": "gateway_cmd",
    "export": "export_cmd",
    "report": "report_cmd",
    "nodes": "nodes_cmd",
    "node": "node_cmd",
    "flash": "flash_cmd",
    "mip-index": "mip_index",
    "boards": "boards_cmd",
    "plan": "plan_cmd",
    "monitor": "monitor_cmd",
    "logs": "logs_cmd",
    "simulate": "simulate_cmd",
    "demo": "demo",
}


def _commands(only: str | None = None) -> list[Command]:
    """The commands: only the one named `only` when it is one, else every one."""
    # Imported here so that `meteolink --help` stays fast and a command's
    # optional dependencies load only when that command runs.
    names = [_WHERE[only]] if only in _WHERE else dict.fromkeys(_WHERE.values())
    out: list[Command] = []
    for name in names:
        module = importlib.import_module(f"meteolink.tools.{name}")
        out.extend(c for c in module.COMMANDS if only not in _WHERE or c.name == only)
    return out


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for argv: with only its command's module imported, when it names one."""
    words = sys.argv[1:] if argv is None else argv
    given = next((w for w in words if not w.startswith("-")), None)
    parser = _Parser(
        prog="meteolink",
        description="Firmware and gateway toolkit for low-power weather stations.",
    )
    parser.add_argument("--version", action="version", version=f"meteolink {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for cmd in _commands(given):
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.arguments(p)
        p.set_defaults(run=cmd.run, command_parser=p)
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """parser.parse_args(argv), but what no option matched is blamed on its command.

    argparse hands a subcommand's leftovers up to the top parser, which says
    "meteolink: unrecognized arguments: --frm" and points at `meteolink --help`:
    neither the command nor the help that lists its options.
    """
    args, extras = parser.parse_known_args(argv)
    if not extras:
        return args
    command: argparse.ArgumentParser = getattr(args, "command_parser", None) or parser
    where = command.prog.removeprefix("meteolink").strip()
    word = extras[0]
    see = f"see '{command.prog} --help'"
    if not word.startswith("-") or word == "-":
        raise CommandError(f"unexpected argument {word!r} ({see})", where=where)
    name = word.partition("=")[0]
    options = [o for a in command._actions for o in a.option_strings if o.startswith("--")]
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? {see}" if close else see
    raise CommandError(f"unknown option {name!r} ({hint})", where=where)


def main(argv: Sequence[str] | None = None) -> int:
    command = ""
    try:
        args = parse(build_parser(argv), argv)
        if args.command is None:
            raise CommandError("no command given (see 'meteolink --help')")
        command = args.command
        status: int = args.run(args)
        return status
    except CommandError as e:
        where = e.where or command
        print(f"meteolink: {where}: {e}" if where else f"meteolink: {e}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `meteolink export | head`: the reader has what it wanted.
        sys.stderr.close()
        return 0
