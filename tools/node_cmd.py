"""`meteolink node new`: a node's id, key, config.json and [nodes.N] (docs/flashing.md).

What a technician would otherwise do by hand in two files that must agree:

1. the board file (boards/NAME.json) is read and checked as `meteolink flash` reads it;
2. the gateway's configuration is read with the gateway's own loader (gateway/config.py):
   the ids it lists, and its store (the ids it has ever stored), give the next free node
   id, or refuse the one given when it is listed already;
3. a key is drawn with `secrets` (16 bytes, as frames.KEY_SIZE);
4. config.json is made from the board, sensors and transport chosen and checked with the
   node's own check (firmware/node_config.py) and against the board (board_file.check_pair),
   as flash checks it: what this writes, flash takes as it is;
5. config.json is written (never over an existing file: it may hold another node's key),
   then [nodes.N] with the same key, name, place and interval is added to the gateway's
   TOML (tools/gateway_toml.py: every other byte of the file stays), the new file checked
   by the gateway's loader before it replaces the old one. Both files hold the key: both
   get mode 0640 and the gateway's group (tools/key_files.py).

A LoRa bridge (`--role bridge`) gets a config.json alone: it passes frames on and signs
none, so it has no key and no [nodes.N]. Its id only shows in its start-up line; it takes
the highest id, which no node takes before every other is used.
"""

import argparse
import datetime
import json
import math
import re
import secrets
import shlex
import shutil
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meteolink.firmware import frames
from meteolink.firmware import node_config as nodeconfig
from meteolink.gateway import config as gwconfig
from meteolink.gateway.store import Store, StoreError
from meteolink.tools import gateway_toml, key_files
from meteolink.tools.board_file import Board, add_board_argument, check_pair, load_board
from meteolink.tools.cli import Command, CommandError

BRIDGE_ID = frames.MAX_NODE
# The options of a node that mean nothing to a bridge (the dest each sets).
NODE_ONLY = {
    "sensors": "--sensors",
    "transport": "--transport",
    "interval": "--interval",
    "ack": "--ack",
    "name": "--name",
    "location": "--location",
    "config": "--config",
    "group": "--group",
}
# Which option sets each key of config.json, for the node's own check's messages.
OPTION_OF = {
    "node": "--id",
    "interval_s": "--interval",
    "sensors": "--sensors",
    "transport": "--transport",
    "lora.freq_hz": "--freq",
    "lora.sf": "--sf",
    "ack": "--ack",
    "role": "--role",
}
RESTART = "sudo systemctl restart meteolink-gateway"


def _node_id(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a node id (give 1 to 65534)") from None


def _mhz(text: str) -> float:
    try:
        mhz = float(text)
    except ValueError:
        mhz = math.nan
    if not math.isfinite(mhz):  # float() takes "nan" and "inf", which round() refuses
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a frequency in MHz (give 868.1, for example)"
        )
    return mhz


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="node_command", metavar="ACTION", required=True)
    new = sub.add_parser(
        "new",
        help="a new node: its id, key and config.json, and its [nodes.N] in the gateway's TOML",
        description="Create a node: the next free node id (or --id), a new key, its config.json"
        " for meteolink flash, and its [nodes.N] table, with the same key, added to the"
        " gateway's configuration without touching the rest of that file. With --role bridge:"
        " the config.json of a LoRa bridge board (no key, no [nodes.N]).",
        epilog="docs/flashing.md walks through it: new node, flash, mount, check.",
    )
    add_board_argument(new)
    new.add_argument(
        "--role",
        choices=nodeconfig.ROLES,
        default="node",
        help="node (default): a station; bridge: the LoRa board on the gateway's USB",
    )
    new.add_argument(
        "--id", type=_node_id, metavar="N", help="the node id (default: the next free one)"
    )
    new.add_argument(
        "--sensors",
        metavar="LIST",
        help="the sensors wired, by name, comma-separated; bme280@0x77 for another I2C"
        " address (default: bme280 and, if the board measures it, battery)",
    )
    new.add_argument(
        "--transport",
        choices=nodeconfig.TRANSPORTS,
        help="how it sends (default: lora on a board with a radio, else uart)",
    )
    new.add_argument("--freq", type=_mhz, metavar="MHZ", help="LoRa channel in MHz (default 868.1)")
    new.add_argument("--sf", type=_whole, metavar="SF", help="LoRa spreading factor (default 9)")
    new.add_argument(
        "--interval", type=_whole, metavar="SECONDS", help="seconds between readings (default 600)"
    )
    new.add_argument(
        "--ack", action="store_true", help="ask the gateway to acknowledge each reading"
    )
    new.add_argument("--name", help='its name for people, "Cēsis school roof"')
    new.add_argument("--location", help="where it is, as Home Assistant's area")
    new.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"the gateway's configuration (default {gwconfig.DEFAULT_PATH})",
    )
    new.add_argument(
        "--group",
        help=f"the group that may read the key (default {key_files.GATEWAY_GROUP}, the"
        " gateway's, if this machine has it)",
    )
    new.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="where to write its config.json (default node-N.json, bridge-N.json)",
    )
    new.add_argument("--json", action="store_true", help="say what was done as one JSON object")
    new.set_defaults(action=_new)


def run(args: argparse.Namespace) -> int:
    try:
        status: int = args.action(args)
    except CommandError as e:
        e.where = e.where or f"node {args.node_command}"
        raise
    return status


def _sensors(text: str | None, board: Board) -> list[Any]:
    """--sensors as config.json's "sensors" list: names, or {"type", "address"}."""
    if text is None:
        return ["bme280", "battery"] if board.data["battery"] is not None else ["bme280"]
    out: list[Any] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        kind, at, address = item.partition("@")
        if not at:
            out.append(kind)
            continue
        try:
            out.append({"type": kind, "address": int(address, 0)})
        except ValueError:
            raise CommandError(
                f"--sensors: {item!r}: the I2C address is not a number (give bme280@0x77)"
            ) from None
    return out


def _option_error(message: str, key: str) -> CommandError:
    """The node's own check's message, said of the option that set the key."""
    base = re.sub(r"\[\d+\].*$", "", key)
    option = OPTION_OF.get(base) or OPTION_OF.get(base.split(".")[0], "the config")
    prefix = f"config.json: {key}: "
    if message.startswith(prefix) and not key.startswith("sensors["):
        message = message[len(prefix) :]
    else:
        message = message.removeprefix("config.json: ")
    return CommandError(f"{option}: {message}")


def _node_config(args: argparse.Namespace, board: Board, node: int, key: bytes | None) -> Any:
    """config.json's content, checked by the node's code and against the board."""
    bridge = args.role == "bridge"
    transport = "lora" if bridge else args.transport
    if transport is None:
        transport = "lora" if board.data["radio"] is not None else "uart"
    d: dict[str, Any] = {"node": node}
    if key is not None:
        d["key"] = key.hex()
    if not bridge:
        d["interval_s"] = args.interval  # None: the node's default, written out below
    d["sensors"] = [] if bridge else _sensors(args.sensors, board)
    d["transport"] = transport
    lora: dict[str, int] = {}
    if args.freq is not None:
        lora["freq_hz"] = round(args.freq * 1e6)
    if args.sf is not None:
        lora["sf"] = args.sf
    if transport != "lora" and lora:
        raise CommandError(
            f"--freq and --sf are for LoRa, and this node sends by {transport}"
            " (leave them out, or give --transport lora)"
        )
    if transport == "lora":
        d["lora"] = lora
    if args.ack:
        d["ack"] = True
    if bridge:
        d["role"] = "bridge"
    try:
        cfg = nodeconfig.parse(json.dumps({k: v for k, v in d.items() if v is not None}))
    except nodeconfig.ConfigError as e:
        raise _option_error(str(e), e.key) from None
    # The defaults written out, as the node's check took them: the interval (which the
    # gateway's [nodes.N] repeats) and the channel (on which the bridge and its nodes agree).
    if not bridge:
        d["interval_s"] = cfg.interval_s
    if transport == "lora":
        d["lora"] = {"freq_hz": cfg.lora.freq_hz, "sf": cfg.lora.sf}
    if bridge and board.data["radio"] is None:
        raise CommandError(
            f"--role bridge: board {board.name} has no LoRa radio, and a bridge listens on"
            " LoRa (give a LoRa board: meteolink boards list)"
        )
    try:
        check_pair(board, cfg)
    except CommandError as e:
        found = re.match(r"config\.json: ([\w.\[\]]+):", str(e))
        if found is None:
            raise
        raise _option_error(str(e), found.group(1)) from None
    return d


def _gateway(path: Path) -> tuple[gwconfig.Config, bytes]:
    """The gateway's configuration as the gateway reads it, and the file's bytes."""
    if not path.exists():
        raise CommandError(
            f"{path}: no such file (give --config FILE, the gateway's configuration, where"
            " the node's [nodes.N] goes)"
        )
    key_files.check_writable(path)
    try:
        cfg = gwconfig.load(path)
    except gwconfig.ConfigError as e:
        raise CommandError(str(e)) from None
    return cfg, path.read_bytes()


def _stored_nodes(cfg: gwconfig.Config) -> set[int]:
    """The nodes the gateway's store has ever counted, if this machine has the store."""
    path = cfg.data / "readings.db"
    try:
        if not path.is_file():
            return set()
        store = Store(path, readonly=True)
    except (OSError, StoreError):
        return set()
    try:
        return set(store.counters())
    except (sqlite3.Error, ValueError):  # another schema, a damaged row: only a hint here
        return set()
    finally:
        store.close()


def _pick_id(given: int | None, cfg: gwconfig.Config, path: Path) -> int:
    listed = set(cfg.nodes)
    taken = listed | _stored_nodes(cfg)
    free = next((n for n in range(1, frames.MAX_NODE + 1) if n not in taken), None)
    if given is None:
        if free is None:
            raise CommandError(f"{path}: every node id is taken; give --id")
        return free
    if given in listed:
        name = cfg.nodes[given].name
        called = f' ("{name}")' if name else ""
        then = f"; leave --id out for the next free one, {free}" if free is not None else ""
        raise CommandError(
            f"node {given} is already in {path} as [nodes.{given}]{called}: give another --id{then}"
        )
    return given


def _new_key(cfg: gwconfig.Config) -> bytes:
    taken = {n.key for n in cfg.nodes.values() if n.key is not None}
    while True:
        key = secrets.token_bytes(frames.KEY_SIZE)
        if key not in taken:  # 2^-128: but a key two nodes share is no key
            return key


def _gateway_entry(args: argparse.Namespace, config: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if args.name is not None:
        entry["name"] = args.name
    if args.location is not None:
        entry["location"] = args.location
    entry["interval"] = config["interval_s"]
    entry["key"] = config["key"]
    return entry


def _check_added(node: int, key: bytes) -> Callable[[Path], None]:
    """The check of the new file, before it replaces the old: the gateway's loader reads it
    (tomllib, every section's rules, the file's mode) and finds the node's key there."""

    def check(path: Path) -> None:
        try:
            loaded = gwconfig.load(path)
        except gwconfig.ConfigError as e:
            raise CommandError(
                f"the gateway would not read the file with [nodes.{node}] ({e})"
            ) from None
        got = loaded.node(node)
        if got is None or got.key != key:
            raise CommandError(f"the gateway would not find [nodes.{node}]'s key in the file")

    return check


def _new(args: argparse.Namespace) -> int:
    bridge = args.role == "bridge"
    if bridge:
        wrong = [option for dest, option in NODE_ONLY.items() if getattr(args, dest)]
        if wrong:
            raise CommandError(
                f"{', '.join(wrong)}: not for a bridge, which has no sensors, key or [nodes.N]"
                " (a bridge takes --board, --id, --freq, --sf and --output)"
            )
    board = load_board(args.board)
    if bridge:
        node = args.id if args.id is not None else BRIDGE_ID
        config = _node_config(args, board, node, None)
        output: Path = args.output or Path(f"bridge-{node}.json")
        _check_output(output)
        written = key_files.create(output, _json(config), None, key_files.sudo_user())
        return _said(args, board, config, written, None, None, None)

    path: Path = args.config or gwconfig.DEFAULT_PATH
    group = key_files.gateway_group(args.group)
    gateway, was = _gateway(path)
    node = _pick_id(args.id, gateway, path)
    key = _new_key(gateway)
    config = _node_config(args, board, node, key)
    output = args.output or Path(f"node-{node}.json")
    _check_output(output)
    entry = _gateway_entry(args, config)
    try:
        text = was.decode("utf-8")
        today = datetime.date.today().isoformat()
        new_text, _ = gateway_toml.add_node(
            text, node, entry, f"{today}: meteolink node new (its config.json: {output.name})"
        )
    except (UnicodeDecodeError, gateway_toml.TomlEditError) as e:
        raise CommandError(f"{path}: {e}") from None
    written = key_files.create(output, _json(config), group, key_files.sudo_user())
    try:
        toml = key_files.replace(
            path.resolve(), new_text.encode("utf-8"), group, _check_added(node, key), was
        )
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    toml = key_files.Written(path, toml.mode, toml.owner, toml.group)
    return _said(args, board, config, written, toml, entry, group)


def _check_output(output: Path) -> None:
    if output.is_dir():
        raise CommandError(f"--output {output} is a directory: give a file name, node-17.json")
    if output.exists():
        raise key_files.taken(output)
    if not output.parent.is_dir():
        raise CommandError(f"--output {output}: no such directory {output.parent}")


def _json(config: dict[str, Any]) -> bytes:
    return (json.dumps(config, indent=2) + "\n").encode("utf-8")


def _said(
    args: argparse.Namespace,
    board: Board,
    config: dict[str, Any],
    written: key_files.Written,
    toml: key_files.Written | None,
    entry: dict[str, Any] | None,
    group: key_files.Group | None,
) -> int:
    node = config["node"]
    flash = shlex.join([_program(), "flash", "--board", args.board, "--config", str(written.path)])
    if args.json:
        out: dict[str, Any] = {
            "role": args.role,
            "node": node,
            "name": (entry or {}).get("name"),
            "location": (entry or {}).get("location"),
            "board": board.name,
            "transport": config["transport"],
            "lora": config.get("lora"),
            "sensors": config["sensors"],
            "interval_s": config.get("interval_s"),
            "config": _file_json(written),
            "gateway_config": None,
            "next": [flash],
        }
        if toml is not None:
            out["gateway_config"] = {**_file_json(toml), "table": f"nodes.{node}"}
            out["next"].append(RESTART)
        print(json.dumps(out, ensure_ascii=False))
        return 0
    how = config["transport"]
    if how == "lora":
        how = f"LoRa {config['lora']['freq_hz'] / 1e6:g} MHz SF{config['lora']['sf']}"
    if toml is None:
        print(
            "\n".join(
                [
                    f"bridge {node}: board {board.name}, listens on {how} (its nodes must use"
                    " the same channel)",
                    f"wrote {written.path}, its config.json (no key: a bridge signs nothing,"
                    f" it passes frames on): {written.said()}",
                    f"next: {flash}",
                    "then: plug it into the gateway's USB and give its /dev/serial/by-id/ path"
                    " as [[serial]] port in the gateway's configuration",
                ]
            )
        )
        return 0
    assert entry is not None
    named = f' "{entry["name"]}"' if "name" in entry else ""
    place = f" in {entry['location']}" if "location" in entry else ""
    sensors = ", ".join(s if isinstance(s, str) else s["type"] for s in config["sensors"])
    group_note = ""
    if group is None:
        group_note = (
            f" (this machine has no group {key_files.GATEWAY_GROUP}, the gateway's: copied"
            f" to its Pi, the file needs chgrp {key_files.GATEWAY_GROUP})"
        )
    print(
        "\n".join(
            [
                f"node {node}{named}{place}: board {board.name}, sends by {how}, sensors"
                f" {sensors or 'none'}, a reading every {config['interval_s']} s",
                f"wrote {written.path}, its config.json with a new key: {written.said()}",
                f"added [nodes.{node}] with the same key to {toml.path}, the rest of the file as"
                f" it was: {toml.said()}{group_note}",
                f"next: {flash}",
                f"then: {RESTART} (the gateway reads [nodes] when it starts)",
            ]
        )
    )
    return 0


def _program() -> str:
    """How to run meteolink again: `meteolink` where that is this one on PATH, else the path
    this one was run by (/opt/meteolink/bin/meteolink under sudo, which is not on its PATH)."""
    me = Path(sys.argv[0])
    if me.name != "meteolink":
        return "meteolink"
    found = shutil.which("meteolink")
    if found is not None and Path(found).resolve() == me.resolve():
        return "meteolink"
    return str(me.absolute())


def _file_json(w: key_files.Written) -> dict[str, Any]:
    return {"path": str(w.path), "mode": f"{w.mode:04o}", "owner": w.owner, "group": w.group}


COMMANDS = [
    Command("node", "provision a node: its id, key, config.json and gateway entry", _arguments, run)
]
