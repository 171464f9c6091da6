"""`meteolink report`: a period's readings as one self-contained HTML file and a CSV.

    meteolink report --from 2026-11-01 --to 2026-11-30 --lang lv --out november.html
        [--reference lvgmc.csv] [--tz Europe/Riga] [--config FILE] [--data DIR]

Reads the store read-only, in one streaming pass (tools/report/statistics.py),
each reading as the state message the gateway publishes: calibrated, with derived
values and quality-control flags. docs/report.md explains every table.
"""

import argparse
import datetime
import sqlite3
import sys
from pathlib import Path

from meteolink.firmware import frames
from meteolink.gateway import __version__
from meteolink.gateway.config import Config
from meteolink.gateway.messages import StateRows
from meteolink.gateway.store import Store, StoreError
from meteolink.tools.cli import Command, CommandError
from meteolink.tools.export_cmd import store_path
from meteolink.tools.gateway_cmd import add_config_arguments, load_config
from meteolink.tools.report import csv_tables, html, reference, tables
from meteolink.tools.report.comparison import Comparison, compare
from meteolink.tools.report.period import DEFAULT_TZ, Period, PeriodError, period
from meteolink.tools.report.statistics import Accumulator, Summary
from meteolink.tools.report.words import LANGUAGES, word


def _arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument(
        "--from", dest="start", required=True, help="first day (2026-11-01) or date-time"
    )
    p.add_argument(
        "--to",
        dest="end",
        required=True,
        help="last day, included (2026-11-30); or a date-time, the end, not included",
    )
    p.add_argument(
        "--tz",
        default=DEFAULT_TZ,
        help=f"time zone of the days (default {DEFAULT_TZ}: a frost night is a local night)",
    )
    p.add_argument("--lang", choices=LANGUAGES, default="en", help="en (default) or lv")
    p.add_argument("--out", help="the HTML file (default: report-FROM-TO.html here)")
    p.add_argument("--csv", help="the CSV of its tables (default: the HTML file's, as .csv)")
    p.add_argument(
        "--reference",
        type=Path,
        metavar="FILE.csv",
        help="a reference station's hourly readings, to compare and fit calibrations",
    )


def _comparisons(summary: Summary, ref: reference.Reference) -> list[Comparison]:
    out = []
    for (node, field), hours in sorted(summary.beside_reference.items()):
        need = summary.stations[node].needed_per_hour()
        pairs = [(s / n, ref.hours[k][field]) for k, (s, n) in sorted(hours.items()) if n >= need]
        c = compare(node, field, pairs)
        if c is not None:
            out.append(c)
    return out


def _summary(cfg: Config, store: Store, when: Period, ref: reference.Reference | None) -> Summary:
    acc = Accumulator(cfg, when, ref)
    rows = StateRows(cfg)
    decode = frames.decode
    with store.snapshot():
        for _, node, seq, taken, frame, rssi, snr, qc in store.export_rows(when.start, when.end):
            try:
                fields = decode(frame).fields
            except frames.FrameError as e:
                print(
                    f"meteolink: report: reading of node {node}, counter {seq} no longer"
                    f" decodes ({e}): left out",
                    file=sys.stderr,
                )
                continue
            acc.add(node, taken, rows.message(node, seq, taken, rssi, snr, fields, qc))
    return acc.finish()


def _write(path: Path, text: str, option: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise CommandError(
            f"{path}: {e.strerror} (give a file you can write with {option})"
        ) from None


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    try:
        when = period(args.start, args.end, args.tz)
    except PeriodError as e:
        raise CommandError(str(e)) from None
    path = store_path(cfg.data)
    ref = None
    if args.reference is not None:
        try:
            ref = reference.read(args.reference, when.tz, when.start, when.end)
        except reference.ReferenceError as e:
            raise CommandError(str(e)) from None
    out = Path(args.out or f"report-{when.days[0]}-{when.days[-1]}.html")
    csv_path = Path(args.csv) if args.csv else out.with_suffix(".csv")
    try:
        store = Store(path, readonly=True)
    except StoreError as e:
        raise CommandError(str(e), status=1) from None
    try:
        summary = _summary(cfg, store, when, ref)
    except sqlite3.Error as e:  # a damaged file, or one another program locked or changed
        message = f"{path}: cannot be read: {e} (is it a meteolink store?)"
        raise CommandError(message, status=1) from None
    finally:
        store.close()
    span = f"{when.days[0]} {word('to', 'en')} {when.days[-1]}"
    if summary.readings == 0:
        raise CommandError(
            f"no readings taken from {span} ({args.tz}) in {path} (give dates the store"
            " holds: `meteolink export` lists them)"
        )
    lang = args.lang
    sections = [
        tables.stations_section(summary, lang, cfg.offline_after),
        tables.frost_section(summary, lang),
    ]
    if summary.pm_hours:
        sections.append(tables.pm_sections(summary, lang))
    sections.append(tables.link_section(summary, lang))
    if ref is not None:
        sections.append(
            tables.reference_section(
                _comparisons(summary, ref), summary, lang, ref.path.name, len(ref.hours)
            )
        )
    sections += [tables.quality_section(summary, lang), tables.daily_section(summary, lang)]
    made = datetime.datetime.now(when.tz).strftime("%Y-%m-%d %H:%M")
    lines = [
        f"{word('period', lang)}: {when.days[0]} {word('to', lang)} {when.days[-1]}."
        f" {word('days_local', lang).format(tz=args.tz)}",
        word("made", lang).format(version=__version__, when=made),
    ]
    _write(out, html.page(lang, word("title", lang), lines, sections), "--out")
    try:
        with csv_path.open("w", encoding="utf-8", newline="") as f:
            csv_tables.write(f, sections)
    except OSError as e:
        raise CommandError(
            f"{csv_path}: {e.strerror} (give a file you can write with --csv)"
        ) from None
    for s in sections:
        if s.code:
            print(s.code, end="")
    print(
        f"wrote {out} and {csv_path}: {summary.readings} readings, {len(summary.stations)}"
        " stations",
        file=sys.stderr,
    )
    return 0


COMMANDS = [Command("report", "write a period's report: one HTML file and a CSV", _arguments, run)]
