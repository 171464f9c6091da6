"""`meteolink nodes`: the nodes a gateway knows, read from its store, as a table or JSON.

What a technician runs after mounting a station: is it heard, how well, since when.
Everything comes from the gateway's store and its configuration (names, intervals), so it
works with the gateway stopped, and beside a running one without getting in its way: the
store is opened read-only, and each look is one short read transaction, which a WAL
database serves from a snapshot while the gateway goes on committing.

A look reads, as quickly for a year of readings as for a day:
- every node's row of the store's counters table: the gateway's own tallies since it first
  heard the node (or its new key), committed with its readings: received, lost, duplicates,
  rejected, frames whose MIC failed, and its newest start (gateway/sequence.py SequenceWindow);
- each node's newest readings, from the index on (node, epoch, counter): when it was last
  heard, the RSSI and SNR of that frame, and the battery of the newest reading that had one.
Online or offline is the gateway's rule: heard within offline_after of its intervals.
"""

import argparse
import dataclasses
import datetime
import json
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from meteolink.firmware import frames
from meteolink.gateway.config import Config
from meteolink.gateway.sequence import SequenceWindow
from meteolink.gateway.stats import DEFAULT_INTERVAL
from meteolink.gateway.store import Store, Stored, StoreError
from meteolink.tools.cli import Command, CommandError
from meteolink.tools.gateway_cmd import add_config_arguments, load_config

WATCH_EVERY = 5.0  # seconds between looks for a bare --watch
# A node's newest readings read for a look: the last it sent and the backlog it may
# resend after it (16 readings on a node), in which to find the last with a battery.
NEWEST = 32
# frames.RESET_*: the reset cause in a reading's `status`, in words.
CAUSES = {
    frames.RESET_POWER_ON: "power-on",
    frames.RESET_WATCHDOG: "watchdog",
    frames.RESET_BROWN_OUT: "brown-out",
    frames.RESET_SOFT: "software reset",
    frames.RESET_PIN: "reset pin",
}
NOT_LISTED = "(not listed)"
WRONG_KEY = "wrong key?"  # frames heard, none with a MIC the key in [nodes.N] makes


@dataclass(frozen=True)
class NodeView:
    """One node as `meteolink nodes` shows it; as_json() is its --json object."""

    node: int
    name: str | None
    location: str | None
    listed: bool  # in the configuration's [nodes]
    status: str  # "online", "offline", "never heard" or WRONG_KEY
    last_seen: float | None  # Unix time the gateway stored its newest reading
    ago: float | None  # seconds since last_seen
    battery: float | None  # volts, of the newest reading that had it
    rssi: int | None  # of the newest reading; None over a cable
    snr: float | None
    received: int  # readings stored since the gateway first heard it (or its new key)
    lost: int  # counters missing from its sequence in that time
    lost_percent: float | None  # lost of lost + received
    duplicates: int
    rejected: int  # replays and stale counters
    mic_failures: int  # frames whose MIC did not match the key in [nodes.N]
    last_boot: float | None  # Unix time of the reading it took when it last started
    last_boot_cause: str | None  # why it started, when its reading said

    def as_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument(
        "--watch",
        nargs="?",
        const=WATCH_EVERY,
        type=float,
        metavar="SECONDS",
        help=f"look again every SECONDS (default {WATCH_EVERY:g}) until Ctrl-C",
    )
    p.add_argument("--json", action="store_true", help="one JSON object (a line each look)")


def open_store(path: Path) -> Store:
    """The store at path, read-only; CommandError saying what is wrong with it."""
    try:
        with path.open("rb"):
            pass  # said here, in words: SQLite says "unable to open database file" for all
    except (FileNotFoundError, NotADirectoryError):
        raise CommandError(
            f"{path}: no store there yet (the gateway makes it when it first starts;"
            " give its --config, or --data DIR)"
        ) from None
    except PermissionError:
        raise CommandError(
            f"{path}: permission denied (run it as the gateway's user:"
            " sudo -u meteolink meteolink nodes ...)"
        ) from None
    except OSError as e:
        raise CommandError(
            f"{path}: cannot read it: {e.strerror} (give --config or --data)"
        ) from None
    try:
        return Store(path, readonly=True)
    except StoreError as e:
        raise CommandError(str(e)) from None


def look(store: Store, cfg: Config, now: float) -> list[NodeView]:
    """Every node the configuration lists or the store knows, as they stand now."""
    with store.snapshot():
        counters = store.counters()
        ids = sorted(set(cfg.nodes) | set(counters))
        newest = {node: store.newest(node, NEWEST) for node in ids}
    views = []
    for node in ids:
        listed = cfg.node(node)
        _, w, _ = counters.get(node, (0, SequenceWindow(), ""))
        readings = newest[node]
        last = max(readings, key=lambda r: (r.received, r.id)) if readings else None
        interval = listed.interval if listed is not None else DEFAULT_INTERVAL
        if last is None and w.accepted:  # heard longer ago than the store keeps readings
            status = "offline"
        elif last is None:
            status = WRONG_KEY if w.mic_failures else "never heard"
        elif now - last.received <= interval * cfg.offline_after:
            status = "online"
        else:
            status = "offline"
        heard = w.accepted + w.lost
        views.append(
            NodeView(
                node=node,
                name=listed.name if listed is not None else None,
                location=listed.location if listed is not None else None,
                listed=listed is not None,
                status=status,
                last_seen=last.received if last else None,
                ago=max(0.0, now - last.received) if last else None,
                battery=_battery(readings),
                rssi=last.rssi if last else None,
                snr=last.snr if last else None,
                received=w.accepted,
                lost=w.lost,
                lost_percent=100 * w.lost / heard if heard else None,
                duplicates=w.duplicates,
                rejected=w.rejected,
                mic_failures=w.mic_failures,
                last_boot=w.started,
                last_boot_cause=CAUSES.get(w.start_cause),
            )
        )
    return views


def _battery(readings: list[Stored]) -> float | None:
    """Volts, from the newest of the readings that carries a battery voltage."""
    for r in sorted(readings, key=lambda r: r.taken, reverse=True):
        try:
            raw = frames.decode(r.frame).raw(frames.BATTERY)
        except frames.FrameError:
            continue  # a damaged reading: the gateway sets it aside
        if raw is not None:
            return float(frames.to_value(frames.BATTERY, raw))
    return None


# -- the table ------------------------------------------------------------------

HEADINGS = (
    "NODE",
    "NAME",
    "LAST SEEN",
    "AGO",
    "STATUS",
    "BATTERY",
    "RSSI",
    "SNR",
    "RECEIVED",
    "LOST",
    "DUPLICATES",
    "REJECTED",
    "LAST BOOT",
)
RIGHT = {"NODE", "AGO", "BATTERY", "RSSI", "SNR", "RECEIVED", "LOST", "DUPLICATES"}


def _clock(t: float) -> str:
    """A Unix time as the Pi's local date and time."""
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def how_long(seconds: float) -> str:
    """12 s, 5 min, 3 h, 2 days: as a person says how long ago."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 120 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _rejected(v: NodeView) -> str:
    said = []
    if v.mic_failures:
        said.append(f"{v.mic_failures} MIC")
    if v.rejected:
        said.append(f"{v.rejected} replay")
    return ", ".join(said) or "0"


def _row(v: NodeView) -> tuple[str, ...]:
    def unit(value: float | None, form: str) -> str:
        return "-" if value is None else form.format(value)

    boot = "-"
    if v.last_boot is not None:
        boot = _clock(v.last_boot)[:16] + (f" {v.last_boot_cause}" if v.last_boot_cause else "")
    lost = str(v.lost) if v.lost_percent is None else f"{v.lost} ({v.lost_percent:.1f} %)"
    return (
        str(v.node),
        (v.name or "-") if v.listed else NOT_LISTED,
        "-" if v.last_seen is None else _clock(v.last_seen),
        "-" if v.ago is None else how_long(v.ago),
        v.status,
        unit(v.battery, "{:.2f} V"),
        unit(v.rssi, "{} dBm"),
        unit(v.snr, "{:.1f} dB"),
        str(v.received),
        lost,
        str(v.duplicates),
        _rejected(v),
        boot,
    )


def notes(cfg: Config, views: list[NodeView]) -> list[str]:
    """What the table means for a technician, where it says something is wrong."""
    said = []
    for v in views:
        if v.status == WRONG_KEY:
            said.append(
                f"node {v.node}: none of its frames passed the MIC check: the key in"
                f" [nodes.{v.node}] of {cfg.source} is not the node's (or someone is"
                " sending frames in its name)"
            )
    if not views:
        where = "(give the gateway's --config)" if cfg.source.startswith("(") else cfg.source
        said.append(f"no nodes: none listed in [nodes] {where}, none in the store")
    return said


def table(cfg: Config, store: Path, views: list[NodeView], now: float) -> str:
    """The table, under a line saying which gateway, which store and when."""
    when = datetime.datetime.fromtimestamp(now).astimezone()
    lines = [f"gateway {cfg.name}, store {store}, {when.strftime('%Y-%m-%d %H:%M:%S %Z')}", ""]
    rows = [HEADINGS, *(_row(v) for v in views)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADINGS))]
    for row in rows:
        cells = [
            cell.rjust(w) if heading in RIGHT else cell.ljust(w)
            for cell, w, heading in zip(row, widths, HEADINGS, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    said = notes(cfg, views)
    if said:
        lines += ["", *said]
    return "\n".join(lines)


def document(cfg: Config, store: Path, views: list[NodeView], now: float) -> str:
    """The --json object of one look."""
    return json.dumps(
        {
            "gateway": cfg.name,
            "store": str(store),
            "time": now,
            "nodes": [v.as_json() for v in views],
        },
        ensure_ascii=False,
    )


# -- running -----------------------------------------------------------------------


def _looks(
    store: Store, cfg: Config, clock: Callable[[], float]
) -> Iterator[tuple[float, list[NodeView]]]:
    while True:
        now = clock()
        try:
            yield now, look(store, cfg, now)
        except sqlite3.Error as e:
            # A store whose tables are not a meteolink store's, or damaged on the card.
            raise CommandError(f"{store.path}: {e} (is it a meteolink store?)") from None


def run(args: argparse.Namespace) -> int:
    every = args.watch
    if every is not None and not 0.5 <= every <= 86400:
        raise CommandError(f"--watch {every:g}: give the seconds between looks, 0.5 to 86400")
    cfg = load_config(args)
    path = cfg.data / "readings.db"
    store = open_store(path)
    out: IO[str] = sys.stdout
    clear = every is not None and not args.json and out.isatty()
    try:
        for n, (now, views) in enumerate(_looks(store, cfg, time.time)):
            if args.json:
                out.write(document(cfg, path, views, now) + "\n")
            elif clear:
                # The terminal's top, cleared: the table is drawn again in place.
                out.write("\x1b[H\x1b[J" + table(cfg, path, views, now) + "\n")
                out.write(f"\nlooking again every {every:g} s; Ctrl-C to stop\n")
            else:  # a file or a pipe: one table after the other
                out.write(("\n" if n else "") + table(cfg, path, views, now) + "\n")
            out.flush()
            if every is None:
                return 0
            time.sleep(every)
    except KeyboardInterrupt:
        return 0  # how --watch is meant to end
    finally:
        store.close()
    return 0


COMMANDS = [
    Command(
        "nodes",
        "the nodes a gateway knows: heard or not, battery, signal, losses",
        _arguments,
        run,
    )
]
