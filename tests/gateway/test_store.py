"""The durable store: committed readings survive, forwarding resumes, nothing unsent is pruned."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from meteolink.gateway.sequence import SequenceWindow
from meteolink.gateway.store import Reading, Store, StoreError


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


def test_a_reading_is_stored_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "gw.db")
    assert len(store.commit([reading(1, 4)], {})) == 1
    assert len(store.commit([reading(1, 4), reading(1, 5)], {})) == 1
    assert len(store.commit([Reading(1, 4, 0, 0, b"", epoch=1)], {})) == 1, "new epoch"
    assert len(store.pending("mqtt")) == 3


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
