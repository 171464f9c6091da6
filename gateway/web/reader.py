"""What the status pages read: the store, read-only, and the gateway's state at the request.

A page is a plain function of a Reader (gateway/web/overview.py, node_page.py):

    render(reader, config, node, lang, now) -> str      the HTML
    as_json(reader, config, node, now) -> dict          the same data for /api/...

It runs on the web's own worker thread (ReaderThread), never on the event loop:
a query over a year of readings on an SD card may take a second, and in that
second the loop must go on taking frames and feeding the watchdog. The store is
opened read-only there (Store(path, readonly=True)), so the service's commits
are never blocked by a page (WAL: readers and the one writer do not wait for
each other).

What the gateway knows only in memory (each node's tallies since start-up, each
input's, each upstream's state) is copied on the event loop when the request
arrives (GatewayState.capture) and handed to the thread with the request: the
thread never touches a live object of the service.

The same Reader works without a running gateway (GatewayState.offline): the
tallies then come from the store's counters table, as `meteolink nodes` reads
them. That is what tests and benchmarks of a page build on.

Every reading reaches a page as its state message (messages.StateRows.message,
row's qc given): calibration, derived values and quality flags arrive there the
same way they reach MQTT and export, never worked out a second time here.
"""

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from meteolink.firmware import frames
from meteolink.gateway.config import Config
from meteolink.gateway.messages import StateRows
from meteolink.gateway.sequence import SequenceWindow
from meteolink.gateway.stats import InputStats, NodeStats, Rejection, Snapshot
from meteolink.gateway.store import ExportRow, Store, Stored

T = TypeVar("T")


@dataclass(frozen=True)
class UpstreamState:
    """One upstream as the page shows it (a copy of its gateway/progress.py Progress)."""

    name: str  # its cursor in the store
    label: str  # how people know it: "mqtt://broker:1883"
    state: str  # "starting", "connected" or "retrying"
    since: float  # when the state last changed, gateway clock
    reason: str = ""  # why it is retrying
    cursor: int | None = None  # id of the last reading it confirmed; None: none yet
    last_success: float | None = None  # when it last confirmed readings


@dataclass(frozen=True)
class DiskUse:
    """The store's disk: what the page and /metrics show of it."""

    total: int  # bytes
    free: int  # bytes free for the service's user
    store: int  # bytes of the store's files (database, -wal)


@dataclass(frozen=True)
class GatewayState:
    """What the gateway knew in memory when a request came in, copied on the event loop."""

    name: str
    started: float  # gateway clock at start-up: the uptime
    stats: Snapshot  # every node's and input's tallies (copies)
    inputs: tuple[str, ...] = ()  # the inputs' names, in the order they run
    upstreams: tuple[UpstreamState, ...] = ()
    readings_stored: int = 0  # readings committed since start-up
    input_heard: dict[str, float] = field(default_factory=dict)  # input -> its last frame, about
    recent: tuple[Rejection, ...] = ()  # the last frames turned away (stats.Health.recent)
    live: bool = True  # False: no gateway is running (GatewayState.offline)

    @classmethod
    def offline(cls, config: Config) -> "GatewayState":
        """No running gateway: tallies come from the store (Reader.stats)."""
        return cls(config.name, 0.0, Snapshot(nodes={}, inputs={}), live=False)


@dataclass
class Reader:
    """The store and the gateway's state, for one request, on the web's thread.

    Every method may be called only on the thread that opened the store.
    """

    store: Store
    config: Config
    gateway: GatewayState
    rows: StateRows = field(init=False)
    _windows: dict[int, SequenceWindow] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.rows = StateRows(self.config)

    # -- readings -----------------------------------------------------------------

    def nodes(self) -> list[int]:
        """The nodes to show: those in [nodes], then any other with tallies, by id."""
        known = set(self.config.nodes) | set(self.gateway.stats.nodes)
        if not self.gateway.live:
            known |= set(self._counters())
        return sorted(known)

    def latest(self, node: int) -> Stored | None:
        """The node's last reading (its highest counter), None before it sent any."""
        newest = self.store.newest(node, 1)
        return newest[0] if newest else None

    def readings(self, node: int, start: float, end: float) -> Iterator[ExportRow]:
        """The node's readings taken in [start, end), in the order they were taken,
        as (id, node, seq, taken, frame, rssi, snr, qc), read as they are used."""
        return self.store.node_rows(node, start, end)

    def message(self, row: ExportRow | Stored) -> dict[str, Any] | None:
        """The reading's state message (messages.StateRows: calibrated, derived values,
        "qc" flags); None for a stored frame that no longer decodes."""
        if isinstance(row, Stored):
            node, seq, taken, frame, rssi, snr, qc = (
                row.node,
                row.seq,
                row.taken,
                row.frame,
                row.rssi,
                row.snr,
                row.qc,
            )
        else:
            _, node, seq, taken, frame, rssi, snr, qc = row
        try:
            decoded = frames.decode(bytes(frame))
        except frames.FrameError:
            return None  # the outbox sets it aside; a page just leaves it out
        return self.rows.message(node, seq, taken, rssi, snr, decoded.fields, qc)

    # -- tallies and health ----------------------------------------------------------

    def stats(self, node: int) -> NodeStats | None:
        """The node's tallies: last seen, received, lost, duplicates, rejected (replays,
        stale counters), MIC failures, RSSI/SNR, battery, online. From the running
        gateway; without one, what the store's counters keep (no last seen, no link)."""
        found = self.gateway.stats.nodes.get(node)
        if found is not None or self.gateway.live:
            return found
        window = self._counters().get(node)
        if window is None:
            return None
        return NodeStats(
            node,
            received=window.accepted,
            lost=window.lost,
            duplicates=window.duplicates,
            rejected=window.rejected,
            mic_failures=window.mic_failures,
        )

    def window(self, node: int) -> SequenceWindow | None:
        """The node's sequence window as last committed (gateway/sequence.py): its
        accepted, lost, duplicate and rejected frames over its whole life, kept across
        restarts; None for a node never stored."""
        return self._counters().get(node)

    def inputs(self) -> dict[str, InputStats]:
        """Each input's tallies (frames, CRC errors, malformed, unknown nodes), by name."""
        found = dict(self.gateway.stats.inputs)
        for name in self.gateway.inputs:
            found.setdefault(name, InputStats())
        return found

    def backlog(self, upstream: UpstreamState) -> int:
        """Readings stored and not yet confirmed by the upstream."""
        cursor = upstream.cursor
        if cursor is None:
            row = (
                self._db()
                .execute("SELECT last_id FROM cursors WHERE upstream = ?", (upstream.name,))
                .fetchone()
            )
            cursor = int(row[0]) if row else 0
        # A range of the rowid: counts without reading a row.
        count = self._db().execute("SELECT count(*) FROM readings WHERE id > ?", (cursor,))
        return int(count.fetchone()[0])

    def disk(self) -> DiskUse:
        """The store's disk: its size, what is free, what the store takes."""
        path = self.store.path
        usage = shutil.disk_usage(path.parent)
        st = os.statvfs(path.parent)
        size = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):  # no -wal: nothing written since a checkpoint
                size += Path(f"{path}{suffix}").stat().st_size
        return DiskUse(total=usage.total, free=st.f_bavail * st.f_frsize, store=size)

    def _db(self) -> sqlite3.Connection:
        return self.store._db

    def _counters(self) -> dict[int, SequenceWindow]:
        """Every node's window, read once per Reader (one request)."""
        if self._windows is None:
            try:
                counters = self.store.counters()
            except sqlite3.Error:
                counters = {}
            self._windows = {node: window for node, (_, window, _) in counters.items()}
        return self._windows


class ReaderThread:
    """The web's worker thread and the read-only store it opened: pages run here."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.path = config.data / "readings.db"
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="web")
        self._store: Store | None = None

    def _open(self) -> Store:
        if self._store is None:  # on this thread: sqlite3 objects stay on theirs
            self._store = Store(self.path, readonly=True)
        return self._store

    def _run(self, page: Callable[[Reader], T], state: GatewayState) -> T:
        store = self._open()
        with store.snapshot():  # one consistent view for the whole page
            return page(Reader(store, self.config, state))

    async def run(self, page: Callable[[Reader], T], state: GatewayState) -> T:
        """page(reader) on the web's thread, the store as it is now, state as given."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, page, state)

    def close(self) -> None:
        """Close the store on its thread and end the thread (waits for a page running)."""

        def close() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        self._pool.submit(close)
        self._pool.shutdown(wait=True)
