"""`meteolink export`: readings from the gateway's store as CSV or JSON lines.

Each row is the reading's MQTT state message (gateway/messages.py), so the
file and the broker agree; no MQTT client is imported.
"""

import argparse
import csv
import datetime
import json
import sys
from collections.abc import Iterator
from typing import IO, Any

from meteolink.firmware import frames
from meteolink.gateway.config import Config
from meteolink.gateway.messages import state_message
from meteolink.gateway.store import Store, StoreError
from meteolink.tools.cli import Command, CommandError
from meteolink.tools.gateway_cmd import add_config_arguments, load_config

FIXED = ("id", "node", "name", "location", "seq", "time", "gateway", "rssi", "snr")


def parse_time(text: str, option: str) -> float:
    """An ISO 8601 date or date-time; without an offset it is UTC."""
    try:
        dt = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            f"{option} {text!r} is not a date (give 2026-11-01 or 2026-11-01T06:00+02:00)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.UTC)
    return dt.timestamp()


def _arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--from", dest="start", help="first time, ISO 8601 (default: the beginning)")
    p.add_argument("--to", dest="end", help="end time, not included (default: now)")
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="default csv")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")


def _messages(store: Store, cfg: Config, start: float, end: float) -> Iterator[dict[str, Any]]:
    for stored in store.export(start, end):
        try:
            frame = frames.decode(stored.frame)
        except frames.FrameError as e:
            # A damaged row (a failing SD card, a hand edit): said, and left out;
            # the rest of the range is still exported.
            print(
                f"meteolink: export: reading {stored.id} (node {stored.node}, counter"
                f" {stored.seq}) no longer decodes ({e}): left out",
                file=sys.stderr,
            )
            continue
        yield state_message(stored, frame, cfg)[1]


def _write_csv(out: IO[str], rows: list[dict[str, Any]]) -> None:
    names = {k for row in rows for k in row if k not in FIXED and k != "implausible"}
    for row in rows:
        names.update(row.get("implausible", {}))
    order = [f[0] for f in frames.FIELDS]
    fields = sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*FIXED, *fields, "implausible"])
    for row in rows:
        bad = row.get("implausible", {})
        values = [row.get(f, bad.get(f, "")) for f in fields]
        writer.writerow([row.get(k, "") for k in FIXED] + values + [" ".join(sorted(bad))])


def _open(path: str | None) -> IO[str]:
    if path is None or path == "-":
        return sys.stdout
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as e:
        raise CommandError(f"{path}: {e.strerror} (give a file you can write with -o)") from None


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    start = parse_time(args.start, "--from") if args.start else 0.0
    end = parse_time(args.end, "--to") if args.end else datetime.datetime.now().timestamp() + 1
    if end <= start:
        raise CommandError("--to is not after --from (give a later --to)")
    path = cfg.data / "readings.db"
    if not path.exists():
        raise CommandError(f"{path}: no store there (give the gateway's --data or --config)")
    try:
        store = Store(path, readonly=True)
    except StoreError as e:
        raise CommandError(str(e), status=1) from None
    out = _open(args.output)
    try:
        if args.format == "jsonl":
            for msg in _messages(store, cfg, start, end):
                out.write(json.dumps(msg, ensure_ascii=False) + "\n")
        else:
            # Columns are the fields present in the range, so two passes' worth
            # is held: a year of one station every ten minutes is 52,560 rows.
            _write_csv(out, list(_messages(store, cfg, start, end)))
    finally:
        store.close()
        if out is not sys.stdout:
            out.close()
    return 0


COMMANDS = [Command("export", "write stored readings as CSV or JSON lines", _arguments, run)]
