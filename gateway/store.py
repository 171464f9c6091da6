"""The durable store: a reading is accepted when it is committed here.

SQLite in WAL mode with synchronous=FULL: a committed transaction survives a
killed process and a power cut. The service commits in batches (one
transaction for every frame that arrived in the last moment) so an SD card
sees one write per batch, not one per frame. Each upstream has a cursor: the
id of the last reading it confirmed; forwarding resumes after it, in id
(arrival) order, which keeps each node's readings in order.

The calibrations table keeps every node's calibrations as the gateway saw
them at each start (gateway/calibration_record.py): an entry the config
changes or drops is kept, marked replaced, beside the one that took its
place. It came without a new schema version: it is made, IF NOT EXISTS,
when first written, and a store without it reads as one with no
calibrations recorded, so schema 3 stores of either kind open in either
meteolink.

A full disk is DiskFull, never a bare SQLite error: gateway/diskspace.py
keeps room so that the WAL (bounded here by WAL_LIMIT) can always be
checkpointed, and the committer waits for space instead of exiting.
"""

import contextlib
import errno
import functools
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from meteolink.firmware.frames import MeteolinkError
from meteolink.gateway.calibration import Calibration
from meteolink.gateway.sequence import SequenceWindow

SCHEMA_VERSION = 3  # 2: readings_taken, the index export reads in (issue 9); 3: readings.qc
# The WAL file is cut back to this after a checkpoint (it is checkpointed at
# SQLite's default of 1000 pages, 4 MiB): a burst never leaves it large.
WAL_LIMIT = 4 << 20
# Readings in one INSERT (Store._insert_rows): 9 parameters each, well inside
# SQLite's 32,766 per statement; the committer's batches (512) take eight.
ROWS_PER_INSERT = 64
# An SQLite error with less than this free on the disk is taken for a full
# disk, whatever its code: opening a store needs room for its -shm and -wal.
_NEARLY_FULL = 64 << 10
_TAKEN_INDEX = "CREATE INDEX IF NOT EXISTS readings_taken ON readings (taken)"
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,       -- arrival order, the order of forwarding
    node INTEGER NOT NULL,
    epoch INTEGER NOT NULL,       -- bumped when an unkeyed node's counter restarts
    seq INTEGER NOT NULL,
    received REAL NOT NULL,       -- gateway clock, Unix seconds
    taken REAL NOT NULL,          -- received less the frame's age
    frame BLOB NOT NULL,          -- the frame as it arrived: decodable again later
    rssi INTEGER,
    snr REAL,
    qc TEXT,                      -- quality-control flags (gateway/quality.py); NULL: none
    UNIQUE (node, epoch, seq)
);
CREATE INDEX IF NOT EXISTS readings_received ON readings (received);
-- Export reads a range in the order readings were taken (ORDER BY taken, id:
-- the index holds the id after taken): without it, SQLite sorts the whole
-- range first, in a temporary file (134 MB for a year of 50 nodes). It costs
-- each commit one more page in the WAL (4 KiB; 4.3 pages instead of 3.3).
{_TAKEN_INDEX};
-- A node's status page reads one node's readings over 24 h and 7 days
-- (gateway/web/reader.py readings()): without it SQLite walks all of the node's
-- year by (node, epoch, seq) and sorts, 53 ms for a year of 50 nodes with the cache
-- warm, and cold it reads nearly every page of the table (each holds some of every
-- node's rows); with it 1.7 ms. It costs each commit 0.6 more WAL pages (5.0 instead
-- of 4.4) and 40 MB for that year (bench/status_page.py).
CREATE INDEX IF NOT EXISTS readings_node_taken ON readings (node, taken);
-- Readings whose stored frame no longer decodes (a damaged card, a hand edit):
-- taken out of every upstream's way, kept here for a person to look at.
CREATE TABLE IF NOT EXISTS set_aside (
    id INTEGER PRIMARY KEY,       -- its id in readings
    node INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    received REAL NOT NULL,
    frame BLOB NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL              -- when it was set aside
);
CREATE TABLE IF NOT EXISTS cursors (
    upstream TEXT PRIMARY KEY,
    last_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    node INTEGER PRIMARY KEY,
    epoch INTEGER NOT NULL,
    state TEXT NOT NULL,
    key_id TEXT NOT NULL DEFAULT ''  -- fingerprint of the key the counter belongs to
);
"""

# Each node's calibrations as the gateway saw them; see the module docstring.
_CALIBRATIONS = """
CREATE TABLE IF NOT EXISTS calibrations (
    node INTEGER NOT NULL,
    field TEXT NOT NULL,
    since REAL NOT NULL,          -- Unix time (UTC) from which it applies
    "offset" REAL NOT NULL,
    factor REAL NOT NULL,
    seen REAL NOT NULL,           -- when a starting gateway first found it in its config
    replaced REAL                 -- when it was changed or dropped; NULL: in the config
)
"""

# The order _stored() reads. The frame as a BLOB whatever its stored type: a
# hand edit of the database can leave text there, which must reach the
# outbox's check (and be set aside) rather than fail the query.
# {qc}: the column, or NULL in a store made before schema 3 and not yet upgraded (read
# by export or the report beside a gateway not yet restarted, or an upgrade that found
# the disk full): its readings read back with no flags.
_COLUMNS = "id, node, seq, received, taken, CAST(frame AS BLOB), rssi, snr, epoch, {qc}"


# Readings taken in [?, ?), in the order they were taken.
_EXPORT_RANGE = "FROM readings WHERE taken >= ? AND taken < ? ORDER BY taken, id"
# (id, node, seq, taken, frame, rssi, snr, qc): one reading as export_rows() gives it.
ExportRow = tuple[int, int, int, float, bytes, int | None, float | None, str | None]


class StoreError(MeteolinkError):
    """The database cannot be opened or used; the message says which file."""


class DiskFull(StoreError):
    """No room left on the store's disk: wait for space, nothing is wrong with the store."""

    def __init__(self, directory: Path, free: int) -> None:
        super().__init__(f"disk full: {directory} has {free} bytes free")
        self.directory = directory
        self.free = free


def free_bytes(directory: Path) -> int:
    """Bytes free in directory for the service's user (not root's reserved blocks)."""
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def _disk_full(directory: Path, error: BaseException) -> DiskFull | None:
    """The DiskFull that error means, if it means one."""
    try:
        free = free_bytes(directory)
    except OSError:
        return None
    full = (
        isinstance(error, sqlite3.Error) and (error.sqlite_errorcode & 0xFF) == sqlite3.SQLITE_FULL
    ) or (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT))
    return DiskFull(directory, free) if full or free < _NEARLY_FULL else None


@dataclass(frozen=True, init=False)
class Reading:
    node: int
    seq: int
    received: float
    taken: float
    frame: bytes
    rssi: int | None = None
    snr: float | None = None
    epoch: int = 0
    qc: str | None = None  # the quality-control flags as stored (gateway/quality.py); None: none

    # Written out, not dataclass's: a frozen dataclass's __init__ sets each field through
    # object.__setattr__, three times the cost, and a Reading and a Stored are made for
    # every frame (issue 9). Still frozen; the tests hold the parameters to the fields.
    def __init__(
        self,
        node: int,
        seq: int,
        received: float,
        taken: float,
        frame: bytes,
        rssi: int | None = None,
        snr: float | None = None,
        epoch: int = 0,
        qc: str | None = None,
    ) -> None:
        d = self.__dict__
        d["node"] = node
        d["seq"] = seq
        d["received"] = received
        d["taken"] = taken
        d["frame"] = frame
        d["rssi"] = rssi
        d["snr"] = snr
        d["epoch"] = epoch
        d["qc"] = qc


@dataclass(frozen=True, init=False)
class Stored(Reading):
    id: int = 0

    def __init__(
        self,
        node: int,
        seq: int,
        received: float,
        taken: float,
        frame: bytes,
        rssi: int | None = None,
        snr: float | None = None,
        epoch: int = 0,
        qc: str | None = None,
        id: int = 0,
    ) -> None:
        Reading.__init__(self, node, seq, received, taken, frame, rssi, snr, epoch, qc)
        self.__dict__["id"] = id


@functools.lru_cache(maxsize=ROWS_PER_INSERT)
def _upsert_sql(n: int) -> str:
    """The counters of n nodes in one statement (as the readings: one GIL round trip, not
    n), each node's row made or replaced."""
    rows = ", ".join(["(?, ?, ?, ?)"] * n)
    return (
        f"INSERT INTO counters (node, epoch, state, key_id) VALUES {rows}"
        " ON CONFLICT (node) DO UPDATE SET epoch = excluded.epoch,"
        " state = excluded.state, key_id = excluded.key_id"
    )


def _window_json(c: SequenceWindow) -> str:
    """json.dumps of the window's fields (the counters table's `state`), written here:
    a commit writes one for each node heard in it, and with a thousand nodes the
    encoder's way was a third of the store thread's time (issue 9). The tests hold it
    to json.dumps's text."""
    return (
        f'{{"highest": {_number(c.highest)}, "since": {_number(c.since)},'
        f' "seen": "{c.seen:x}", "lost": {_number(c.lost)},'
        f' "duplicates": {_number(c.duplicates)}, "rejected": {_number(c.rejected)},'
        f' "ahead": {_number(c.ahead)}, "ahead_boot": {"true" if c.ahead_boot else "false"},'
        f' "accepted": {_number(c.accepted)}, "mic_failures": {_number(c.mic_failures)},'
        f' "started": {_number(c.started)}, "start_cause": {_number(c.start_cause)}}}'
    )


def _number(x: float | None) -> str:
    """A number, or None, as json.dumps writes it."""
    if x.__class__ is int:
        return str(x)
    if x is None:
        return "null"
    if x.__class__ is float and x - x == 0:  # finite: as float.__repr__, as json.dumps
        return repr(x)
    return json.dumps(x)


def _window_from(text: str, stored: Callable[[], int]) -> SequenceWindow:
    """The window of a counters row; stored() counts the node's readings in the store,
    for a row written before `accepted` was kept (issue 11)."""
    d = json.loads(text)
    # The keys after `ahead_boot` came without a new schema: a store without them is
    # read as it is, and an earlier meteolink reads past them.
    return SequenceWindow(
        highest=d["highest"],
        since=d["since"],
        seen=int(d["seen"], 16),
        lost=d["lost"],
        duplicates=d["duplicates"],
        rejected=d["rejected"],
        # Absent from a store written before the AHEAD rule (issue 9): nothing waits.
        ahead=d.get("ahead"),
        ahead_boot=d.get("ahead_boot", False),
        accepted=d["accepted"] if "accepted" in d else stored(),
        mic_failures=d.get("mic_failures", 0),
        started=d.get("started"),
        start_cause=d.get("start_cause", 0),
    )


class Store:
    """One SQLite database file; not shared between threads."""

    def __init__(
        self, path: Path, *, check_same_thread: bool = True, readonly: bool = False
    ) -> None:
        self.path = path
        if readonly:
            # For export, beside a running service: no schema set-up, no
            # writes, no -wal file left behind owned by whoever ran it.
            try:
                self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                self._db.execute("SELECT count(*) FROM readings LIMIT 1")
                self._columns()
            except sqlite3.Error as e:
                raise StoreError(f"{path}: {e} (is it a meteolink store?)") from e
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The service hands the store to one worker thread after opening it.
            self._db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=check_same_thread
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{path}: made by a newer meteolink (schema {version}); upgrade meteolink"
                )
            # A store of this schema opens without a single write (a full disk).
            if version == 0:  # a new store
                self._db.executescript(SCHEMA)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                self._upgrade()
            self._columns()
        except (sqlite3.Error, OSError) as e:
            full = _disk_full(path.parent, e) if path.parent.is_dir() else None
            if full is not None:
                raise full from e
            raise StoreError(f"{path}: {e} (check the --data directory and its permissions)") from e

    def _columns(self) -> None:
        """What this store's readings table has: qc from schema 3 on."""
        names = {row[1] for row in self._db.execute("PRAGMA table_info(readings)")}
        self._qc = "qc" if "qc" in names else "NULL"
        self._select = _COLUMNS.format(qc=self._qc)
        # INSERTs by number of rows (_insert_sql); the flags are not kept until the
        # upgrade has room (gateway/diskspace.py)
        self._inserts: dict[int, str] = {}

    def _upgrade(self) -> None:
        """Bring a store made by an earlier meteolink to this schema.

        Schema 2 -> 3 adds the column readings.qc (no rewrite of the table: SQLite only
        changes the table's definition). Schema 1 -> 2 adds readings_taken: about 1 s for a
        year of 50 nodes on the benchmark's machine (bench/export.py; more on a Pi's SD
        card), and room for the index twice (the WAL, then the database; 34 MB each for that
        year). Without the room the store is used as it is (export then sorts, as before)
        and the upgrade is tried again at the next start: a missing index is no reason to
        accept no readings.
        """
        db = self._db
        try:
            # Every table and index of this schema, each IF NOT EXISTS: an early
            # schema-1 store also lacks set_aside, which came without a version.
            db.executescript(SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(readings)")}
            if "qc" not in columns:
                db.execute("ALTER TABLE readings ADD COLUMN qc TEXT")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as e:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if _disk_full(self.path.parent, e) is None:
                raise
            return
        with contextlib.suppress(sqlite3.Error):  # the index's pages out of the WAL now
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self._db.close()

    def commit(
        self, readings: Iterable[Reading], counters: dict[int, tuple[int, SequenceWindow, str]]
    ) -> list[Stored]:
        """Store readings and the counters {node: (epoch, window, key id)} in one transaction.

        A reading already stored (same node, epoch and counter) is skipped.
        Returns the readings that were new, with their ids.
        """
        db = self._db
        added: list[Stored] = []
        rows = list(readings)
        try:
            db.execute("BEGIN IMMEDIATE")
            for start in range(0, len(rows), ROWS_PER_INSERT):
                added += self._insert_rows(rows[start : start + ROWS_PER_INSERT])
            windows = [(node, e, _window_json(c), kid) for node, (e, c, kid) in counters.items()]
            for start in range(0, len(windows), ROWS_PER_INSERT):
                some = windows[start : start + ROWS_PER_INSERT]
                db.execute(_upsert_sql(len(some)), [v for row in some for v in row])
            db.execute("COMMIT")
        except sqlite3.Error as e:
            raise self._failed(e) from e
        except BaseException:
            # Not SQLite's (an integer past 64 bits, a reading it cannot take): the
            # transaction is rolled back whole, or the next commit could not begin.
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return added

    def _insert_rows(self, rows: list[Reading]) -> list[Stored]:
        """Insert rows with one statement; those that were new, with their ids.

        One statement for many rows, not one each: SQLite's work on a row is
        short, and the sqlite3 module lets go of the GIL around each statement,
        so a statement per row handed the GIL back and forth with the event loop
        hundreds of times a commit (issue 9). Rows one statement inserts get
        consecutive ids in their order (one above the highest, each), so the
        ids follow from the last one; when some were already stored (skipped),
        the new ones are read back. OR IGNORE, not ON CONFLICT DO NOTHING: a
        statement of many rows that could stop half way gets a statement journal
        (a temporary file, written page by page); one that skips cannot.
        """
        if self._qc == "qc":
            values = [
                v
                for r in rows
                for v in (r.node, r.epoch, r.seq, r.received, r.taken, r.frame, r.rssi, r.snr, r.qc)
            ]
        else:  # a store not yet upgraded to keep the flags (no room for it yet)
            values = [
                v
                for r in rows
                for v in (r.node, r.epoch, r.seq, r.received, r.taken, r.frame, r.rssi, r.snr)
            ]
        cur = self._db.execute(self._insert_sql(len(rows)), values)
        inserted, last = cur.rowcount, cur.lastrowid or 0
        if inserted == len(rows):
            ids: list[int | None] = list(range(last - inserted + 1, last + 1))
        else:  # some were stored already: the new ones are the last `inserted` rows
            new = {
                (node, epoch, seq): i
                for i, node, epoch, seq in self._db.execute(
                    "SELECT id, node, epoch, seq FROM readings ORDER BY id DESC LIMIT ?",
                    (max(inserted, 0),),
                )
            }
            ids = [new.pop((r.node, r.epoch, r.seq), None) for r in rows]  # once each
            for r, i in zip(rows, ids, strict=True):
                if i is None and not self._stored(r):  # not skipped as stored: refused
                    raise StoreError(
                        f"{self.path}: node {r.node}'s reading {r.seq} cannot be stored"
                        " (a value SQLite takes for NULL, such as NaN)"
                    )
        # Field by field: dataclasses.asdict deep-copies every row, on this thread
        # but holding the GIL the event loop needs (issue 9).
        return [
            Stored(r.node, r.seq, r.received, r.taken, r.frame, r.rssi, r.snr, r.epoch, r.qc, i)
            for r, i in zip(rows, ids, strict=True)
            if i is not None
        ]

    def _stored(self, r: Reading) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM readings WHERE node = ? AND epoch = ? AND seq = ?",
            (r.node, r.epoch, r.seq),
        ).fetchone()
        return row is not None

    def _insert_sql(self, n: int) -> str:
        """INSERT of n readings, each skipped if stored already (one text per n, cached)."""
        sql = self._inserts.get(n)
        if sql is None:
            columns = "node, epoch, seq, received, taken, frame, rssi, snr"
            marks = "?, ?, ?, ?, ?, ?, ?, ?"
            if self._qc == "qc":
                columns, marks = columns + ", qc", marks + ", ?"
            row = f"({marks})"
            sql = self._inserts[n] = (
                f"INSERT OR IGNORE INTO readings ({columns}) VALUES {', '.join([row] * n)}"
            )
        return sql

    def calibrations(self) -> list[tuple[int, Calibration]]:
        """The (node, calibration) pairs last recorded as in the config, by node, field
        and date; none from a store that never recorded any (or a read-only one made
        before the table was)."""
        try:
            rows = self._db.execute(
                'SELECT node, field, since, "offset", factor FROM calibrations'
                " WHERE replaced IS NULL ORDER BY node, field, since"
            ).fetchall()
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return []
            raise StoreError(f"{self.path}: {e}") from e
        return [(n, Calibration(f, since, o, k)) for n, f, since, o, k in rows]

    def record_calibrations(
        self,
        replaced: Iterable[tuple[int, Calibration]],
        added: Iterable[tuple[int, Calibration]],
        at: float,
    ) -> None:
        """Mark the recorded entries replaced (changed or dropped) and record the added
        ones as in the config, in one transaction; at: now."""
        db = self._db
        try:
            db.execute(_CALIBRATIONS)
            db.execute("BEGIN IMMEDIATE")
            for node, c in replaced:
                db.execute(
                    "UPDATE calibrations SET replaced = ? WHERE replaced IS NULL"
                    ' AND node = ? AND field = ? AND since = ? AND "offset" = ? AND factor = ?',
                    (at, node, c.field, c.since, c.offset, c.factor),
                )
            db.executemany(
                'INSERT INTO calibrations (node, field, since, "offset", factor, seen)'
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(node, c.field, c.since, c.offset, c.factor, at) for node, c in added],
            )
            db.execute("COMMIT")
        except sqlite3.Error as e:
            raise self._failed(e) from e

    def set_aside(self, reading_id: int, reason: str, at: float) -> None:
        """Move one reading out of readings into set_aside, in one transaction."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT OR IGNORE INTO set_aside"
                " (id, node, epoch, seq, received, frame, reason, at) SELECT id, node, epoch,"
                " seq, received, CAST(frame AS BLOB), ?, ? FROM readings WHERE id = ?",
                (reason, at, reading_id),
            )
            db.execute("DELETE FROM readings WHERE id = ?", (reading_id,))
            db.execute("COMMIT")
        except sqlite3.Error as e:
            raise self._failed(e) from e

    def _failed(self, error: sqlite3.Error) -> StoreError:
        """The transaction rolled back, and the error to raise for it."""
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        return _disk_full(self.path.parent, error) or StoreError(f"{self.path}: {error}")

    def checkpoint(self) -> None:
        """Copy the WAL into the database and cut it back (room permitting)."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as e:
            raise self._failed(e) from e

    def counters(self) -> dict[int, tuple[int, SequenceWindow, str]]:
        """Every node's (epoch, counter, key id) as last committed."""
        rows = self._db.execute("SELECT node, epoch, state, key_id FROM counters").fetchall()
        return {
            node: (epoch, _window_from(state, functools.partial(self._count, node, epoch)), kid)
            for node, epoch, state, kid in rows
        }

    def _count(self, node: int, epoch: int) -> int:
        """The readings of one node's epoch in the store (its index alone: 1 ms for 13,000)."""
        row = self._db.execute(
            "SELECT count(*) FROM readings WHERE node = ? AND epoch = ?", (node, epoch)
        ).fetchone()
        return int(row[0])

    def newest(self, node: int, limit: int) -> list[Stored]:
        """A node's readings with the highest counters, its latest epoch first: the last
        it sent, and the backlog it may resend after them (16 readings on a node).
        From the index on (node, epoch, seq): as quick for a year of readings as for one."""
        rows = self._db.execute(
            f"SELECT {self._select} FROM readings WHERE node = ?"
            " ORDER BY epoch DESC, seq DESC LIMIT ?",
            (node, limit),
        )
        return [_stored(row) for row in rows]

    def pending(self, upstream: str, limit: int = 100) -> list[Stored]:
        """The next readings the upstream has not confirmed, oldest first."""
        rows = self._db.execute(
            f"SELECT {self._select} FROM readings"
            " WHERE id > COALESCE((SELECT last_id FROM cursors WHERE upstream = ?), 0)"
            " ORDER BY id LIMIT ?",
            (upstream, limit),
        )
        return [_stored(row) for row in rows]

    def pending_after(self, after_id: int, limit: int = 100) -> list[Stored]:
        """The next readings after id after_id, oldest first (batches already on their way)."""
        rows = self._db.execute(
            f"SELECT {self._select} FROM readings WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [_stored(row) for row in rows]

    def forwarded(self, upstream: str, last_id: int) -> None:
        """The upstream has confirmed every reading up to last_id."""
        # No fsync for a cursor: lost in a power cut, it only means a batch
        # is sent again, and consumers deduplicate on the reading's id.
        # (0.9 ms -> 0.1 ms per batch on the benchmark's disk; more on SD.)
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            self._db.execute(
                "INSERT INTO cursors (upstream, last_id) VALUES (?, ?) ON CONFLICT (upstream)"
                " DO UPDATE SET last_id = max(last_id, excluded.last_id)",
                (upstream, last_id),
            )
        except sqlite3.Error as e:
            raise self._failed(e) from e
        finally:
            self._db.execute("PRAGMA synchronous=FULL")

    def prune(self, received_before: float, upstreams: Iterable[str]) -> int:
        """Delete readings received before a time that every upstream has confirmed."""
        names = list(upstreams)
        floor = min((self._cursor(name) for name in names), default=2**63 - 1)
        # The newest reading stays, however old: SQLite numbers a new row one past
        # the highest there is, and a store emptied by retention (a site silent for
        # longer than retention_days) would number new readings from 1 again, below
        # every upstream's cursor, and they would never be forwarded.
        try:
            cur = self._db.execute(
                "DELETE FROM readings WHERE received < ? AND id <= ?"
                " AND id < (SELECT max(id) FROM readings)",
                (received_before, floor),
            )
        except sqlite3.Error as e:
            raise self._failed(e) from e
        return cur.rowcount

    def _cursor(self, upstream: str) -> int:
        row = self._db.execute(
            "SELECT last_id FROM cursors WHERE upstream = ?", (upstream,)
        ).fetchone()
        return int(row[0]) if row else 0

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see the store as it was at the first of them (WAL), whatever
        the service commits meanwhile: export's passes over a range see the same rows."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def export_frames(self, start: float, end: float, chunk: int = 1000) -> Iterator[bytes]:
        """The frames of the readings taken in [start, end), in no order, fetched
        `chunk` rows at a time: memory does not grow with the range."""
        cursor = self._db.execute(
            "SELECT CAST(frame AS BLOB) FROM readings WHERE taken >= ? AND taken < ?",
            (start, end),
        )
        while rows := cursor.fetchmany(chunk):
            for (frame,) in rows:
                yield bytes(frame)

    def export(self, start: float, end: float) -> Iterator[Stored]:
        """Readings taken in [start, end), in the order they were taken."""
        rows = self._db.execute(f"SELECT {self._select} {_EXPORT_RANGE}", (start, end))
        for row in rows:
            yield _stored(row)

    def node_rows(self, node: int, start: float, end: float) -> Iterator[ExportRow]:
        """One node's readings taken in [start, end), in the order they were taken, as
        export_rows() gives them (the index readings_node_taken: the status page's charts)."""
        return self._db.execute(
            f"SELECT id, node, seq, taken, CAST(frame AS BLOB), rssi, snr, {self._qc}"
            " FROM readings WHERE node = ? AND taken >= ? AND taken < ? ORDER BY taken, id",
            (node, start, end),
        )

    def export_rows(self, start: float, end: float) -> Iterator[ExportRow]:
        """export(), for millions of readings: (id, node, seq, taken, frame, rssi, snr, qc)
        tuples as SQLite gives them, read as they are written out (memory does not grow
        with the range). In the order of readings_taken: nothing is sorted first."""
        return self._db.execute(
            f"SELECT id, node, seq, taken, CAST(frame AS BLOB), rssi, snr, {self._qc}"
            f" {_EXPORT_RANGE}",
            (start, end),
        )


def _stored(
    row: tuple[int, int, int, float, float, bytes, int | None, float | None, int, str | None],
) -> Stored:
    rid, node, seq, received, taken, frame, rssi, snr, epoch, qc = row
    return Stored(
        node=node,
        seq=seq,
        received=received,
        taken=taken,
        frame=bytes(frame),
        rssi=rssi,
        snr=snr,
        epoch=epoch,
        qc=qc,
        id=rid,
    )
