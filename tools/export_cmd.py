"""`meteolink export`: readings from the gateway's store as CSV or JSON lines.

Each row is the reading's MQTT state message (gateway/messages.py), so the
file and the broker agree; no MQTT client is imported.
"""

import argparse
import csv
import datetime
import json
import sys
from collections.abc import Iterable, Iterator
from itertools import repeat
from typing import IO, Any

from meteolink.firmware import frames
from meteolink.gateway.config import Config
from meteolink.gateway.messages import published_fields, state_message
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


def _bitmap(frame: bytes) -> bytes:
    """The frame's field bitmap: after the 6-byte header, bytes up to one whose bit 7 is clear
    (docs/protocol.md). Frames with the same bitmap carry the same fields."""
    for end in range(frames.HEADER_SIZE, min(len(frame), frames.HEADER_SIZE + 9)):
        if not frame[end] & 0x80:
            return frame[frames.HEADER_SIZE : end + 1]
    return frame[frames.HEADER_SIZE :]


def _fields(store: Store, start: float, end: float) -> list[str]:
    """The CSV's value columns: every field a decodable reading in the range carries.

    A first pass, before any row is written. A year of 50 nodes is 2.6 million
    readings but a handful of field bitmaps: one reading of each bitmap is decoded
    (until one decodes: a damaged reading contributes no column), the rest skipped.
    """
    seen: set[bytes] = set()
    names: set[str] = set()
    for frame in store.export_frames(start, end):
        bitmap = _bitmap(frame)
        if bitmap in seen:
            continue
        try:
            decoded = frames.decode(frame)
        except frames.FrameError:
            continue  # said in the second pass, where the reading is left out
        seen.add(bitmap)
        names.update(published_fields(decoded))
    order = [f[0] for f in frames.FIELDS]
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


def _write_csv(out: IO[str], fields: list[str], rows: Iterable[dict[str, Any]]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*FIXED, *fields, "implausible"])
    columns = [*FIXED, *fields]
    for row in rows:
        # An implausible value stays in its column; its name goes in the last.
        bad = row.get("implausible")
        if bad:
            row = {**bad, **row}
        cells = list(map(row.get, columns, repeat("")))
        cells.append(" ".join(sorted(bad)) if bad else "")
        writer.writerow(cells)


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
        # Written as read, a chunk of rows at a time: memory stays the same for a
        # day or a year (issue 9: a year of 50 nodes held in a list took 2.55 GB).
        with store.snapshot():
            if args.format == "jsonl":
                for msg in _messages(store, cfg, start, end):
                    out.write(json.dumps(msg, ensure_ascii=False) + "\n")
            else:
                # The columns are the fields present in the range: a first pass
                # finds them, over the same snapshot of the store as the rows.
                _write_csv(out, _fields(store, start, end), _messages(store, cfg, start, end))
    finally:
        store.close()
        if out is not sys.stdout:
            out.close()
    return 0


COMMANDS = [Command("export", "write stored readings as CSV or JSON lines", _arguments, run)]
