"""`meteolink export`: readings from the gateway's store as CSV or JSON lines.

Each row is the reading's MQTT state message (gateway/messages.py StateRows), so the
file and the broker agree: values calibrated with the calibration in force when each
reading was taken, the values derived from them, the quality flags stored with it. No
MQTT client is imported.
"""

import argparse
import csv
import datetime
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from meteolink.firmware import frames
from meteolink.gateway.messages import (
    REMEMBERED,
    Published,
    StateRows,
    derived_fields,
    published_fields,
    reading_id,
)
from meteolink.gateway.quality import flags_from
from meteolink.gateway.store import ExportRow, Store, StoreError
from meteolink.tools.cli import Command, CommandError
from meteolink.tools.gateway_cmd import add_config_arguments, load_config
from meteolink.tools.spreadsheet_safe import text

Decoded = tuple[ExportRow, frames.Frame]
_PLACE = ("latitude", "longitude", "altitude")  # from the node's config, when it has them
FIXED = ("id", "node", "name", "location", *_PLACE, "seq", "time", "gateway", "rssi", "snr")


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


def _decoded(store: Store, start: float, end: float) -> Iterator[Decoded]:
    """The readings of the range in the order they were taken, each with its frame decoded."""
    decode = frames.decode
    for row in store.export_rows(start, end):
        try:
            frame = decode(row[4])
        except frames.FrameError as e:
            # A damaged row (a failing SD card, a hand edit): said, and left out;
            # the rest of the range is still exported.
            print(
                f"meteolink: export: reading {row[0]} (node {row[1]}, counter"
                f" {row[2]}) no longer decodes ({e}): left out",
                file=sys.stderr,
            )
            continue
        yield row, frame


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
    seen: set[bytes | int] = set()
    names: set[str] = set()
    at = frames.HEADER_SIZE
    for frame in store.export_frames(start, end):
        # Most bitmaps are one or two bytes (fields 0..13): then the key is an int,
        # made without a call (millions of readings), else the bitmap's bytes.
        if len(frame) < frames.MIN_FRAME:
            bitmap: bytes | int = frame
        elif frame[at] < 0x80:
            bitmap = frame[at]
        elif frame[at + 1] < 0x80:
            bitmap = frame[at] << 8 | frame[at + 1]
        else:
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


def _write_jsonl(out: IO[str], rows: StateRows, readings: Iterable[Decoded]) -> None:
    """One state message a line, as json.dumps(msg, ensure_ascii=False) writes it."""
    message = rows.message_json
    for (_, node, seq, taken, _, rssi, snr, qc), frame in readings:
        out.write(message(node, seq, taken, rssi, snr, frame.fields, qc) + "\n")


def _qc_cell(qc: str) -> str:
    """The stored flags as a spreadsheet shows them: "humidity:step pm10:range,step"."""
    return " ".join(f"{name}:{','.join(fs)}" for name, fs in sorted(flags_from(qc).items()))


def _write_csv(
    out: IO[str], rows: StateRows, fields: list[str], readings: Iterable[Decoded]
) -> None:
    """A row a reading: the state message's values in columns (FIXED, then fields, then
    the derived values), an implausible value in its column too with its name in
    "implausible", the calibrated fields' names in "calibrated", the stored quality
    flags in "qc". Text cells (names and locations from the config, flags from the
    store) go through spreadsheet_safe.text, numbers are written as they are: a name
    opens as text in a spreadsheet, never as a formula, and -12.5 °C stays a number."""
    writer = csv.writer(out, lineterminator="\n")
    altitude = any(n.altitude is not None for n in rows.config.nodes.values())
    derivable = derived_fields(fields, altitude=altitude)
    writer.writerow([*FIXED, *fields, *derivable, "implausible", "calibrated", "qc"])
    column = {name: i for i, name in enumerate([*fields, *derivable], len(FIXED))}
    blank = [""] * (len(fields) + len(derivable) + 3)
    # What a node's rows share, and each (field id, raw) pair as its column, its value,
    # its name if implausible and whether it feeds a derived value: from rows (one
    # definition), looked up once. A node with calibrations goes the long way, by
    # rows.parts(): its values depend on the time.
    nodes: dict[int, tuple[list[Any], float | None, bool]] = {}
    cells_of: dict[tuple[int, int], tuple[int | None, Published] | None] = {}
    time = rows.time
    parts = rows.parts
    gateway = text(rows.config.name)
    for (_, node, seq, taken, _, rssi, snr, qc), frame in readings:
        fixed = nodes.get(node)
        if fixed is None:
            f = rows.node_fields(node)
            fixed = nodes[node] = (
                [
                    text(v) if isinstance(v, str) else v
                    for v in (f.get(k, "") for k in ("name", "location", *_PLACE))
                ],
                f.get("altitude"),
                rows.calibrated(node),
            )
        cells = [
            reading_id(node, seq),
            node,
            *fixed[0],
            seq,
            time(taken),
            gateway,
            rssi,  # None is written as an empty cell
            snr,
            *blank,
        ]
        bad = None
        if fixed[2]:
            good, implausible, made, calibrated = parts(node, taken, frame.fields)
            for p in [*good, *(implausible or ())]:
                at = column.get(p.name)
                if at is not None:
                    cells[at] = p.value
            if implausible:
                bad = [p.name for p in implausible]
            if calibrated:
                cells[-2] = text(" ".join(sorted(calibrated)))
        else:
            feeding = None
            for pair in frame.fields:
                try:
                    cell = cells_of[pair]
                except KeyError:
                    if len(cells_of) >= REMEMBERED:
                        cells_of.clear()
                    p = rows.field(pair)
                    cell = cells_of[pair] = p and (column.get(p.name), p)
                if cell is None:
                    continue  # not published (age)
                at, p = cell
                if at is not None:
                    cells[at] = p.value
                if not p.plausible:
                    bad = [p.name] if bad is None else [*bad, p.name]
                elif p.feeds:
                    if feeding is None:
                        feeding = {p.name: p.value}
                    else:
                        feeding[p.name] = p.value
            made = rows.derived(feeding, fixed[1]) if feeding is not None else []
        for d in made:
            cells[column[d.name]] = d.value
        if bad:
            cells[-3] = text(" ".join(sorted(bad)))
        if qc:
            cells[-1] = text(_qc_cell(qc))
        writer.writerow(cells)


def _open(path: str | None) -> IO[str]:
    if path is None or path == "-":
        return sys.stdout
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as e:
        raise CommandError(f"{path}: {e.strerror} (give a file you can write with -o)") from None


def store_path(data: Path) -> Path:
    """data's readings.db, once it is there and this user may read it; else CommandError.

    Under systemd the store belongs to the service's user (UMask=0077): whoever
    else runs export meets a PermissionError, which sqlite would only call
    "unable to open database file".
    """
    path = data / "readings.db"
    try:
        if not path.exists():
            raise CommandError(f"{path}: no store there (give the gateway's --data or --config)")
        path.open("rb").close()
    except PermissionError:
        denied = path if os.access(data, os.X_OK) else data
        raise CommandError(
            f"{denied}: permission denied (the store is the gateway's: run the command as"
            " its user, sudo -u meteolink meteolink export ...)"
        ) from None
    except OSError as e:
        raise CommandError(
            f"{path}: {e.strerror} (give the gateway's --data or --config)"
        ) from None
    return path


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    start = parse_time(args.start, "--from") if args.start else 0.0
    end = parse_time(args.end, "--to") if args.end else datetime.datetime.now().timestamp() + 1
    if end <= start:
        raise CommandError("--to is not after --from (give a later --to)")
    path = store_path(cfg.data)
    try:
        store = Store(path, readonly=True)
    except StoreError as e:
        raise CommandError(str(e), status=1) from None
    out = _open(args.output)
    try:
        # Written as read, a chunk of rows at a time: memory stays the same for a
        # day or a year (issue 9: a year of 50 nodes held in a list took 2.55 GB).
        with store.snapshot():
            rows = StateRows(cfg)
            if args.format == "jsonl":
                _write_jsonl(out, rows, _decoded(store, start, end))
            else:
                # The columns are the fields present in the range: a first pass
                # finds them, over the same snapshot of the store as the rows.
                fields = _fields(store, start, end)
                _write_csv(out, rows, fields, _decoded(store, start, end))
    except sqlite3.Error as e:  # a damaged file, or a table that is not meteolink's
        message = f"{path}: cannot be read: {e} (is it a meteolink store?)"
        raise CommandError(message, status=1) from None
    finally:
        store.close()
        if out is not sys.stdout:
            out.close()
    return 0


COMMANDS = [Command("export", "write stored readings as CSV or JSON lines", _arguments, run)]
