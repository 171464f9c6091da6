"""The committer on a real store: when readings are committed, and which go together."""

import asyncio
import contextlib
import logging
import threading
from pathlib import Path

import pytest

from meteolink.firmware import frames
from meteolink.gateway.commit import Accepted, Committer, StoreThread
from meteolink.gateway.store import Reading
from tests.support.gateway_process import reading


def queue(committer: Committer, node: int, seq: int) -> None:
    wire = reading(node, seq)
    committer.add(Reading(node, seq, 1e9, 1e9, wire), frames.decode(wire), "t")
    committer.wake()


async def committed(committer: Committer, n: int) -> None:
    """Until n commits have stored something; a TimeoutError after 10 s."""
    async with asyncio.timeout(10):
        while committer.commits < n:
            await committer.wait_stored(committer.commits, timeout=1.0)


def test_a_reading_that_finds_the_store_idle_is_committed_at_once(tmp_path: Path) -> None:
    """Issue 9: the committer waited out its whole interval before every commit, so a
    reading at a quiet gateway waited up to commit_interval (p50 520 ms at 50 frames/s)."""
    db = StoreThread(tmp_path / "readings.db")

    async def main() -> None:
        committer = Committer(db, interval=3600, windows=dict)
        running = asyncio.create_task(committer.run())
        queue(committer, 3, 1)
        await committed(committer, 1)
        running.cancel()
        await db.close()

    asyncio.run(main())


def test_what_arrives_during_a_commit_goes_into_the_next_one_together(tmp_path: Path) -> None:
    db = StoreThread(tmp_path / "readings.db")
    seen: list[tuple[int, int]] = []  # (commit, seq)

    async def main() -> None:
        committer = Committer(db, interval=0.01, windows=dict)
        committer.observers.append(lambda a: seen.append((committer.commits, a.stored.seq)))
        running = asyncio.create_task(committer.run())
        gate = threading.Event()
        held = asyncio.ensure_future(db.call(gate.wait))  # a slow SD card: the store is busy
        queue(committer, 3, 1)
        await asyncio.sleep(0.1)  # its commit has started, and waits for the store
        for seq in (2, 3, 4):
            queue(committer, 3, seq)
        gate.set()
        await held
        await committed(committer, 2)
        running.cancel()
        await db.close()

    asyncio.run(main())
    assert seen == [(1, 1), (2, 2), (2, 3), (2, 4)], "one transaction for the three"


def test_observers_hear_what_was_stored_with_its_frame(tmp_path: Path) -> None:
    db = StoreThread(tmp_path / "readings.db")
    heard: list[Accepted] = []

    async def main() -> None:
        committer = Committer(db, interval=0.01, windows=dict)
        committer.observers.append(heard.append)
        queue(committer, 5, 9)
        assert await committer.commit_once() == 1
        await db.close()

    asyncio.run(main())
    (a,) = heard
    assert (a.stored.node, a.stored.seq, a.frame.seq, a.source) == (5, 9, 9, "t")


def test_a_stop_mid_commit_finishes_the_transaction_and_acknowledges_it(tmp_path: Path) -> None:
    """Issue 9: a committer cancelled while its batch waited for the store's thread dropped the
    batch: taken from the queue, never written, and the last commit on the way out had nothing."""

    async def main() -> tuple[list[int], list[bytes]]:
        db = StoreThread(tmp_path / "readings.db")
        committer = Committer(db, interval=0.01, windows=dict)
        busy = threading.Event()
        db.submit(busy.wait)  # the store's thread is busy: the commit waits its turn
        acks: list[bytes] = []
        queue(committer, 3, 1)
        committer.ack(acks.append, b"ack 3/1")
        commit = asyncio.create_task(committer.commit_once())
        await asyncio.sleep(0.05)
        commit.cancel()  # a stop, while the batch waits for the thread
        await asyncio.sleep(0.05)
        busy.set()
        with contextlib.suppress(asyncio.CancelledError):
            await commit
        seqs = await db.call(lambda: [r.seq for r in db.store.export(0, 2e9)])
        await db.close()
        return seqs, acks

    assert asyncio.run(main()) == ([1], [b"ack 3/1"])


def test_a_reserve_that_cannot_be_made_does_not_stop_the_gateway(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found in review: an error making the space reserve escaped watch_space(), and the
    gateway exited into the restart loop the reserve is there to prevent."""
    (tmp_path / "space-reserve.new").mkdir()  # where the reserve is made: not a file

    async def main() -> tuple[bool, bool, int]:
        db = StoreThread(tmp_path / "readings.db")
        committer = Committer(db, interval=0.01, windows=dict)
        watch = asyncio.create_task(committer.watch_space())
        await asyncio.sleep(0.2)
        alive = not watch.done()
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        queue(committer, 3, 1)
        stored = await committer.commit_once()
        await db.close()
        return alive, committer.paused, stored

    with caplog.at_level(logging.WARNING, logger="meteolink.gateway.commit"):
        assert asyncio.run(main()) == (True, False, 1), "still watching, accepting, storing"
    assert any("cannot make the space reserve" in r.getMessage() for r in caplog.records)


def test_tallies_of_frames_that_store_nothing_are_committed_unwoken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11: a rejected frame or a failed MIC changes a window and wakes nobody;
    `meteolink nodes` reads the tallies from the store while the gateway runs."""
    from meteolink.gateway import commit
    from meteolink.gateway.sequence import SequenceWindow

    monkeypatch.setattr(commit, "TALLIES_EVERY", 0.05)
    db = StoreThread(tmp_path / "readings.db")
    changed: dict[int, tuple[int, SequenceWindow, str]] = {}

    def windows() -> dict[int, tuple[int, SequenceWindow, str]]:
        taken = dict(changed)
        changed.clear()
        return taken

    async def main() -> None:
        committer = Committer(db, interval=3600, windows=windows)
        running = asyncio.create_task(committer.run())
        changed[3] = (0, SequenceWindow(mic_failures=1), "k")
        async with asyncio.timeout(10):
            while 3 not in await db.call(db.store.counters):
                await asyncio.sleep(0.02)
        running.cancel()
        await db.close()

    asyncio.run(main())
