"""The durable store: committed readings survive, forwarding resumes, nothing unsent is pruned."""

import dataclasses
import inspect
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meteolink.gateway.sequence import SequenceWindow
from meteolink.gateway.store import (
    SCHEMA_VERSION,
    Reading,
    Store,
    Stored,
    StoreError,
    _window_json,
)
from tests.support.tools import find_tool


def reading(node: int, seq: int, received: float = 1000.0) -> Reading:
    return Reading(
        node=node, seq=seq, received=received, taken=received - 60, frame=bytes([seq % 256])
    )


def test_committed_readings_and_counters_survive_reopening(tmp_path: Path) -> None:
    store = Store(tmp_path / "gw.db")
    c = SequenceWindow(highest=5, since=1, seen=0b101, lost=1, ahead=900, ahead_boot=True)
    added = store.commit([reading(1, 4), reading(1, 5), reading(2, 9)], {1: (0, c, "k1")})
    assert [(s.node, s.seq) for s in added] == [(1, 4), (1, 5), (2, 9)]
    assert len({s.id for s in added}) == 3
    store.close()
    again = Store(tmp_path / "gw.db")
    assert [(r.node, r.seq) for r in again.pending("mqtt")] == [(1, 4), (1, 5), (2, 9)]
    assert again.counters() == {1: (0, c, "k1")}


def test_the_counters_of_many_nodes_are_all_stored_and_updated(tmp_path: Path) -> None:
    # Many nodes' counters go in a few statements (issue 9): every one stored, each
    # made once and then replaced, across more rows than one statement takes.
    store = Store(tmp_path / "gw.db")
    first = {n: (0, SequenceWindow(highest=n, since=1), f"k{n}") for n in range(1, 151)}
    store.commit([], first)
    later = {n: (1, SequenceWindow(highest=n + 7, since=2, lost=n), "") for n in range(100, 201)}
    store.commit([reading(5, 1)], later)
    store.close()
    assert Store(tmp_path / "gw.db").counters() == {**first, **later}


def test_a_committed_reading_comes_back_whole_with_its_id(tmp_path: Path) -> None:
    # Store.commit builds each Stored field by field (issue 9: no asdict per row);
    # every field of a Reading must come back, as the store would read it.
    store = Store(tmp_path / "gw.db")
    r = Reading(7, 41, 1000.5, 940.25, b"\x01\x02", rssi=-97, snr=7.5, epoch=3)
    (added,) = store.commit([r], {})
    assert dataclasses.asdict(added) == {**dataclasses.asdict(r), "id": added.id}
    assert added.id > 0
    assert store.pending("mqtt") == [added]


def test_a_reading_is_stored_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "gw.db")
    assert len(store.commit([reading(1, 4)], {})) == 1
    assert len(store.commit([reading(1, 4), reading(1, 5)], {})) == 1
    assert len(store.commit([Reading(1, 4, 0, 0, b"", epoch=1)], {})) == 1, "new epoch"
    assert len(store.pending("mqtt")) == 3


def test_the_ids_a_commit_returns_are_the_stored_ones_whatever_was_stored_before(
    tmp_path: Path,
) -> None:
    # Rows go in many to a statement (issue 9), their ids worked out from the last
    # one; a batch with readings stored already, or one twice, must still return
    # each new reading once, with the id the store gave it.
    store = Store(tmp_path / "gw.db")
    before = store.commit([reading(1, s) for s in range(0, 300, 3)], {})
    batch = [reading(1, s) for s in range(300)] + [reading(2, 7), reading(2, 7)]
    added = store.commit(batch, {})
    expect = [(1, s) for s in range(300) if s % 3] + [(2, 7)]
    assert [(a.node, a.seq) for a in added] == expect
    rows = store.pending("mqtt", 10_000)
    ids = {(r.node, r.seq): r.id for r in rows}
    assert [a.id for a in added] == [ids[a.node, a.seq] for a in added]
    assert [a.id for a in before] == [ids[1, s] for s in range(0, 300, 3)]
    assert len(rows) == len(before) + len(added)
    assert store.commit(batch, {}) == [], "every one stored already"


def test_a_commit_that_fails_part_way_stores_none_of_it(tmp_path: Path) -> None:
    # A commit's readings go in 64 to a statement (issue 9): an error in a later
    # statement (here SQLite's own I/O error, raised by a trigger at the 100th row)
    # must roll back the earlier ones with it, and the counters, and leave the store
    # usable, as one statement per row did.
    store = Store(tmp_path / "gw.db")
    store.commit([reading(1, 0)], {})
    db = sqlite3.connect(tmp_path / "gw.db")
    db.execute(
        "CREATE TRIGGER fail BEFORE INSERT ON readings WHEN NEW.seq = 100"
        " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
    )
    db.commit()
    with pytest.raises(StoreError, match="disk I/O error"):
        store.commit([reading(1, s) for s in range(1, 200)], {1: (0, SequenceWindow(199), "")})
    assert [r.seq for r in store.pending("mqtt", 1000)] == [0]
    assert store.counters() == {}
    db.execute("DROP TRIGGER fail")
    db.commit()
    db.close()
    assert len(store.commit([reading(1, s) for s in range(1, 200)], {})) == 199


def test_a_reading_the_store_cannot_take_is_refused_and_the_next_commit_goes_ahead(
    tmp_path: Path,
) -> None:
    # Rows go in with OR IGNORE (issue 9): a NaN, which SQLite takes for NULL in a NOT
    # NULL column, must not be skipped as if stored already; an integer past 64 bits
    # (not SQLite's error) must not leave the transaction open for the next commit.
    store = Store(tmp_path / "gw.db")
    with pytest.raises(StoreError, match="node 3's reading 5 cannot be stored"):
        store.commit([reading(3, 4), Reading(3, 5, float("nan"), 0.0, b"x")], {})
    with pytest.raises(OverflowError):
        store.commit([reading(3, 6), Reading(3, 7, 0.0, 0.0, b"x", rssi=2**70)], {})
    assert [(a.node, a.seq) for a in store.commit([reading(3, 8)], {})] == [(3, 8)]
    assert [(r.node, r.seq) for r in store.pending("mqtt")] == [(3, 8)]


def test_forwarding_resumes_after_the_last_confirmed_reading(tmp_path: Path) -> None:
    store = Store(tmp_path / "gw.db")
    store.commit([reading(1, s) for s in range(10)], {})
    first = store.pending("mqtt", limit=4)
    store.forwarded("mqtt", first[-1].id)
    store.close()
    store = Store(tmp_path / "gw.db")
    assert [r.seq for r in store.pending("mqtt")] == list(range(4, 10))
    assert [r.seq for r in store.pending("http")] == list(range(10)), "each upstream has its own"
    store.forwarded("mqtt", first[0].id)
    assert store.pending("mqtt")[0].seq == 4, "a cursor never moves back"


def test_prune_keeps_what_an_upstream_has_not_confirmed(tmp_path: Path) -> None:
    store = Store(tmp_path / "gw.db")
    store.commit([reading(1, s, received=100.0 + s) for s in range(10)], {})
    store.forwarded("mqtt", store.pending("mqtt", limit=3)[-1].id)
    assert store.prune(received_before=108, upstreams=["mqtt"]) == 3
    assert [r.seq for r in store.pending("mqtt")] == list(range(3, 10))
    assert store.prune(received_before=108, upstreams=[]) == 5


def test_export_is_by_time_taken(tmp_path: Path) -> None:
    store = Store(tmp_path / "gw.db")
    store.commit([reading(1, 2, received=500), reading(1, 1, received=400)], {})
    assert [r.seq for r in store.export(0, 1e9)] == [1, 2]
    assert [r.seq for r in store.export(400, 1e9)] == [2]


def test_an_unusable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match=str(blocker)):
        Store(blocker / "gw.db")


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from meteolink.gateway.store import Reading, Store
    store = Store(Path(sys.argv[1]))
    seq = 0
    while True:
        batch = [Reading(1, seq + i, 0.0, 0.0, b"x" * 30) for i in range(5)]
        store.commit(batch, {})
        seq += 5
        print(seq, flush=True)  # everything below seq is committed
    """
)


def test_every_committed_reading_survives_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        committed = 0
        deadline = time.monotonic() + 30
        while committed < 200 and time.monotonic() < deadline:
            committed = int(proc.stdout.readline())
        os.kill(proc.pid, signal.SIGKILL)
    assert committed >= 200
    store = Store(db)
    seqs = {r.seq for r in store.pending("mqtt", limit=10**9)}
    store.close()
    assert set(range(committed)) <= seqs


def schema_1_store(path: Path, readings: list[Reading], *, set_aside: bool = True) -> None:
    """A store as meteolink wrote it before schema 2: the same tables, no readings_taken
    nor readings_node_taken (schema 3's), and, before set_aside came in without a new
    version, no set_aside table either."""
    store = Store(path)
    store.commit(readings, {})
    store.close()
    db = sqlite3.connect(path)
    db.execute("DROP INDEX IF EXISTS readings_taken")
    db.execute("DROP INDEX IF EXISTS readings_node_taken")
    if not set_aside:
        db.execute("DROP TABLE set_aside")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()


def schema_of(path: Path) -> tuple[int, list[str]]:
    """(user_version, the names of the readings table's indexes) of the store at path."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    version = db.execute("PRAGMA user_version").fetchone()[0]
    names = [r[1] for r in db.execute("PRAGMA index_list(readings)")]
    db.close()
    return version, sorted(n for n in names if not n.startswith("sqlite_"))


def export_plan(path: Path) -> str:
    """How SQLite runs export's query on the store at path, one step a line."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = db.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM readings"
        " WHERE taken >= ? AND taken < ? ORDER BY taken, id",
        (0, 2e9),
    ).fetchall()
    db.close()
    return "\n".join(r[-1] for r in rows)


def test_a_schema_2_store_gains_the_qc_column_and_keeps_every_reading(tmp_path: Path) -> None:
    """Issue 12: quality-control flags are stored with each reading; a store made before
    has no column for them, and its readings read back with none."""
    path = tmp_path / "gw.db"
    readings = [reading(1, s, received=1000.0 + s) for s in range(20)]
    store = Store(path)
    store.commit(readings, {})
    store.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE readings DROP COLUMN qc")
    db.execute("PRAGMA user_version=2")
    db.commit()
    db.close()

    store = Store(path)
    assert schema_of(path)[0] == SCHEMA_VERSION
    flagged = Reading(1, 20, 1020.0, 1019.0, b"frame", qc='{"temperature":["step"]}')
    store.commit([flagged], {})
    got = store.pending("mqtt", limit=100)
    assert [(r.seq, r.qc) for r in got] == [(s, None) for s in range(20)] + [(20, flagged.qc)]
    assert [row[7] for row in store.export_rows(0, 1e9)][-1] == flagged.qc
    store.close()


def test_a_schema_2_store_is_read_as_it_is_beside_a_gateway_not_yet_restarted(
    tmp_path: Path,
) -> None:
    """Export, the report and the page open a store read-only and never upgrade it: one
    made before schema 3 (no qc column) reads back with no flags, not an SQLite error."""
    path = tmp_path / "gw.db"
    store = Store(path)
    store.commit([reading(1, s, received=1000.0 + s) for s in range(5)], {})
    store.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE readings DROP COLUMN qc")
    db.execute("PRAGMA user_version=2")
    db.commit()
    db.close()

    old = Store(path, readonly=True)
    assert [(row[2], row[7]) for row in old.export_rows(0, 1e9)] == [(s, None) for s in range(5)]
    assert [(row[2], row[7]) for row in old.node_rows(1, 0, 1e9)] == [(s, None) for s in range(5)]
    assert [(r.seq, r.qc) for r in old.newest(1, 2)] == [(4, None), (3, None)]
    assert [r.seq for r in old.export(0, 1e9)] == list(range(5))
    old.close()
    assert schema_of(path)[0] == 2  # read, not changed


def test_export_reads_by_time_taken_without_sorting_the_range(tmp_path: Path) -> None:
    """Issue 9: without an index on taken, SQLite sorted a year (150 MB in /var/tmp)."""
    Store(tmp_path / "gw.db").close()
    assert "readings_taken" in export_plan(tmp_path / "gw.db")
    assert "TEMP B-TREE" not in export_plan(tmp_path / "gw.db")


def test_a_schema_1_store_is_upgraded_on_opening_and_keeps_every_reading(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    readings = [reading(n, s, received=1000.0 + 7 * s - n) for s in range(50) for n in (1, 2)]
    schema_1_store(path, readings)
    assert schema_of(path) == (1, ["readings_received"])
    old = Store(path, readonly=True)  # an export before the gateway's restart: as before
    assert "TEMP B-TREE" in export_plan(path)
    expected = [(r.node, r.seq) for r in sorted(readings, key=lambda r: r.taken)]
    assert [(r.node, r.seq) for r in old.export(0, 1e9)] == expected
    old.close()

    store = Store(path)
    assert schema_of(path) == (
        SCHEMA_VERSION,
        ["readings_node_taken", "readings_received", "readings_taken"],
    )
    assert "TEMP B-TREE" not in export_plan(path)
    assert [(r.node, r.seq) for r in store.export(0, 1e9)] == expected
    assert len(store.pending("mqtt", limit=10**6)) == len(readings)
    store.close()


# Run inside a tmpfs of its own: the schema-1 store at argv[1] is copied in, the
# tmpfs filled but for argv[2] bytes (room for a commit, not for the index), then
# opened, written, and opened again once there is room. Prints what it saw as JSON.
UPGRADE_ON_A_FULL_DISK = """
import json, os, shutil, sys
from pathlib import Path
from meteolink.gateway.store import Reading, Store, free_bytes
here = Path(os.getcwd())
shutil.copy(sys.argv[1], here / "gw.db")
fd = os.open(here / "ballast", os.O_WRONLY | os.O_CREAT)
try:
    while True:
        os.write(fd, bytes(4096))
except OSError:
    pass
os.ftruncate(fd, max(0, os.fstat(fd).st_size - int(sys.argv[2])))
os.close(fd)
free = free_bytes(here)
store = Store(here / "gw.db")
version = store._db.execute("PRAGMA user_version").fetchone()[0]
store.commit([Reading(3, 1, 90000.0, 89000.0, b"new")], {})
seqs = [(r.node, r.seq) for r in store.export(0, 1e9)]
store.close()
(here / "ballast").unlink()
store = Store(here / "gw.db")
again = store._db.execute("PRAGMA user_version").fetchone()[0]
store.close()
print(json.dumps({"free": free, "version": version, "seqs": seqs, "again": again}))
"""


def test_a_disk_without_room_for_the_index_leaves_the_store_usable(tmp_path: Path) -> None:
    """The upgrade needs room for the index (twice: WAL, then database). Without it the
    gateway must still open the store and accept readings, not wait for space."""
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs: run it as root (as CI does)")
    readings = [reading(1, s, received=1000.0 + s) for s in range(40_000)]
    schema_1_store(tmp_path / "gw.db", readings)
    confined = tmp_path / "confined"
    confined.mkdir()
    script = 'mount -t tmpfs -o size=8m meteolink-test "$0" && cd "$0" && exec "$@"'
    unshare = [find_tool("unshare"), "--mount", "--propagation", "private"]
    proc = subprocess.run(
        [
            *unshare,
            "sh",
            "-c",
            script,
            str(confined),
            sys.executable,
            "-c",
            UPGRADE_ON_A_FULL_DISK,
            str(tmp_path / "gw.db"),
            str(256 << 10),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert 128 << 10 < seen["free"] <= 300 << 10, seen["free"]
    assert seen["version"] == 1, "no room for the index: left as it was"
    assert seen["seqs"][0] == [1, 0] and seen["seqs"][-1] == [3, 1] and len(seen["seqs"]) == 40_001
    assert seen["again"] == SCHEMA_VERSION, "upgraded at the first start with room"


def test_an_early_schema_1_store_gets_its_set_aside_table(tmp_path: Path) -> None:
    """Found in review: upgrading ran only the new index, and a store from before set_aside
    then failed on its first damaged row ("no such table"), crash-looping the gateway."""
    path = tmp_path / "gw.db"
    schema_1_store(path, [reading(1, 0)], set_aside=False)
    store = Store(path)
    (row,) = store.pending("mqtt")
    store.set_aside(row.id, "CRC mismatch", 1000.0)
    assert store.pending("mqtt") == []
    store.close()


def test_readings_after_a_silence_longer_than_retention_are_forwarded(tmp_path: Path) -> None:
    """Found in review: retention could empty the store after a long silence (a station
    taken in for the winter); SQLite then numbered new readings from 1 again, below the
    upstream's cursor, and they were never forwarded."""
    store = Store(tmp_path / "gw.db")
    store.commit([reading(1, s, received=1000.0 + s) for s in range(3)], {})
    (last,) = store.pending("mqtt", limit=10)[-1:]
    store.forwarded("mqtt", last.id)
    store.prune(1e9, ["mqtt"])  # everything is old and forwarded
    store.commit([reading(1, 3, received=2e9)], {})
    assert [r.seq for r in store.pending("mqtt", limit=10)] == [3]
    store.close()


def test_a_counters_row_from_before_issue_11_counts_the_readings_it_holds(
    tmp_path: Path,
) -> None:
    """`accepted`, `mic_failures` and the newest start came without a new schema: a row
    without them reads as it is, `accepted` counted from the node's readings of its epoch."""
    store = Store(tmp_path / "gw.db")
    store.commit([reading(1, 4), reading(1, 5), reading(1, 6), reading(2, 1)], {})
    store.commit([Reading(1, 2, 0, 0, b"", epoch=1)], {})
    old = {"highest": 6, "since": 4, "seen": "7", "lost": 0, "duplicates": 2, "rejected": 1}
    store._db.execute(
        "INSERT INTO counters (node, epoch, state, key_id) VALUES (1, 0, ?, '')",
        (json.dumps(old),),
    )
    (epoch, window, _) = store.counters()[1]
    assert (epoch, window.accepted, window.duplicates, window.rejected) == (0, 3, 2, 1)
    assert (window.mic_failures, window.started, window.start_cause) == (0, None, 0)
    window.mic_failures, window.started, window.start_cause = 4, 1000.5, 2
    store.commit([], {1: (0, window, "")})
    assert store.counters()[1][1] == window


def test_newest_gives_a_node_s_highest_counters_of_its_latest_epoch(tmp_path: Path) -> None:
    store = Store(tmp_path / "gw.db")
    store.commit([reading(1, s) for s in (9, 3, 7, 5)], {})
    store.commit([Reading(1, 2, 0, 0, b"", epoch=1), reading(2, 40)], {})
    assert [(r.epoch, r.seq) for r in store.newest(1, 3)] == [(1, 2), (0, 9), (0, 7)]
    assert store.newest(3, 3) == []


_MAYBE = st.one_of(st.none(), st.integers(-(2**70), 2**70))


@given(
    highest=_MAYBE,
    counts=st.lists(st.integers(-(2**40), 2**40), min_size=6, max_size=6),
    seen=st.integers(0, 2**256 - 1),
    ahead=_MAYBE,
    ahead_boot=st.booleans(),
    started=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
)
def test_a_window_is_stored_as_json_dumps_writes_it(
    highest: int | None,
    counts: list[int],
    seen: int,
    ahead: int | None,
    ahead_boot: bool,
    started: float | None,
) -> None:
    # Written by hand for speed (issue 9): the text json.dumps gave, whatever the values.
    since, lost, duplicates, rejected, accepted, cause = counts
    w = SequenceWindow(
        highest,
        since,
        seen,
        lost,
        duplicates,
        rejected,
        ahead,
        ahead_boot,
        accepted,
        mic_failures=rejected,
        started=started,
        start_cause=cause,
    )
    expected = json.dumps(
        {
            "highest": highest,
            "since": since,
            "seen": format(seen, "x"),
            "lost": lost,
            "duplicates": duplicates,
            "rejected": rejected,
            "ahead": ahead,
            "ahead_boot": ahead_boot,
            "accepted": accepted,
            "mic_failures": rejected,
            "started": started,
            "start_cause": cause,
        }
    )
    assert _window_json(w) == expected


@pytest.mark.parametrize("cls", [Reading, Stored])
def test_a_reading_is_made_with_its_fields_in_order_and_stays_as_made(cls: type[Reading]) -> None:
    """Reading and Stored write their __init__ out (for speed): it must take exactly the
    dataclass's fields, in order, with the same defaults, and keep the class frozen."""
    fields = dataclasses.fields(cls)
    params = list(inspect.signature(cls).parameters.values())
    assert [p.name for p in params] == [f.name for f in fields]
    assert [p.default for p in params] == [
        inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default for f in fields
    ]
    values: list[Any] = [7, 300, 1000.5, 940.5, b"\x01\x02", -97, 7.25, 2, '{"t":["step"]}', 41]
    values = values[: len(fields)]
    r = cls(*values)
    assert [getattr(r, f.name) for f in fields] == values
    assert r == cls(**{f.name: v for f, v in zip(fields, values, strict=True)})
    assert hash(r) == hash(cls(*values))
    assert dataclasses.replace(r, qc=None).qc is None and r.qc == '{"t":["step"]}'
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.seq = 301  # type: ignore[misc]
    short = cls(7, 300, 1000.5, 940.5, b"")
    assert (short.rssi, short.snr, short.epoch, short.qc) == (None, None, 0, None)
