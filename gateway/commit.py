"""From accepted to stored: batches committed on the store's thread, then acks and news.

Acceptance (gateway/accept.py) queues each new reading here. The committer
writes the queue to SQLite in one transaction per batch, with the sequence
windows that changed; only then is a reading *accepted*: only then do
acknowledgements go back to the nodes that asked, and the upstreams hear
that there is more to forward. A crash before the commit loses nothing a
node was told was safe, and a node that was not acknowledged sends again.

The store runs on one worker thread (StoreThread) so an fsync on a slow SD
card never stalls the loop, whose liveness the systemd watchdog watches.

A full disk (gateway/diskspace.py) pauses the committer: what is queued is
held, neither committed nor acknowledged, the sequence windows with it; new
frames are turned away unjudged (refusing()), so no window marks a counter
seen that is not stored, and their nodes send them again. The reserve is
given back so that upstreams keep forwarding what is stored. watch_space()
notices when space returns, and the held batch is committed first.
"""

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from meteolink.firmware import frames
from meteolink.gateway import diskspace
from meteolink.gateway.diskspace import DiskSpace, mib, said_full
from meteolink.gateway.sequence import SequenceWindow
from meteolink.gateway.store import DiskFull, Reading, Store, Stored

log = logging.getLogger(__name__)

T = TypeVar("T")

BATCH_MAX = 512  # a batch this long is committed at once, without waiting out the interval
BACKLOG_MAX = 2 * BATCH_MAX  # readings awaiting their commit before inputs stop reading
HEALTHY_LAG = 20.0  # seconds a commit may take before the watchdog stops being fed
# Seconds at most before the tallies of frames that store nothing (rejected, a failed
# MIC) are committed: nothing wakes the committer for them, and `meteolink nodes`
# reads them from the store. One write per period under a flood of them, none idle.
TALLIES_EVERY = 5.0

# {node: (epoch, window, key id)}: the windows to commit with a batch
Windows = dict[int, tuple[int, SequenceWindow, str]]


@dataclass(frozen=True)
class Accepted:
    """A reading now in the store, as observers see it."""

    stored: Stored
    frame: frames.Frame
    source: str


class StoreThread:
    """The store, opened here and then used only from one worker thread."""

    def __init__(self, path: Path) -> None:
        self.store = Store(path, check_same_thread=False)
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="store")

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run fn(*args) on the store's thread."""
        return await self.submit(fn, *args)

    def submit(self, fn: Callable[..., T], *args: object) -> "asyncio.Future[T]":
        """Start fn(*args) on the store's thread; its result, once done, in the future."""
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def close(self) -> None:
        await self.call(self.store.close)
        self._pool.shutdown(wait=True)


class Committer:
    """Queues readings and acknowledgements; commits them a batch at a time.

    windows: called at each commit for the sequence windows that changed.
    """

    def __init__(
        self,
        db: StoreThread,
        *,
        interval: float,
        windows: Callable[[], Windows],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._interval = interval
        self._windows = windows
        self._clock = clock
        self.observers: list[Callable[[Accepted], None]] = []
        self._batch: list[tuple[Reading, frames.Frame, str]] = []
        self._acks: list[tuple[Callable[[bytes], None], bytes]] = []
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._stored = asyncio.Condition()
        self._committing_since: float | None = None
        self.commits = 0  # commits that stored something: upstreams wait for it to move
        self._space = DiskSpace(db.store.path.parent)
        self.paused = False  # the disk is full: nothing is committed, no frame accepted
        self.turned_away = 0  # frames refused since the disk filled
        self._held_windows: Windows = {}  # windows of a batch that found the disk full

    def add(self, reading: Reading, frame: frames.Frame, source: str) -> None:
        """Queue a reading for the next commit."""
        self._batch.append((reading, frame, source))
        if len(self._batch) >= BATCH_MAX:
            self._full.set()

    def ack(self, reply: Callable[[bytes], None], ack: bytes) -> None:
        """Send ack with reply once what is queued now is committed."""
        self._acks.append((reply, ack))

    def wake(self) -> None:
        """There is something to commit (a reading, an ack, a window)."""
        self._wake.set()

    async def room(self) -> None:
        """Wait while more readings await their commit than memory should hold.

        Inputs call this before each read: in a burst (a bridge emptying its
        buffer on reconnect) the bytes then wait in the kernel's tty buffer
        instead of in the gateway's memory.
        """
        while len(self._batch) >= BACKLOG_MAX:
            await self.wait_stored(self.commits, timeout=1.0)

    def refusing(self) -> bool:
        """True while the disk is full: the caller drops the frame before judging it."""
        if self.paused:
            self.turned_away += 1
        return self.paused

    @property
    def held(self) -> int:
        """Readings queued but not committed (all of them are, unless the disk is full)."""
        return len(self._batch)

    async def commit_once(self) -> int:
        """Commit what is queued; then acknowledge and tell upstreams and observers."""
        if self.paused:
            return 0  # held until watch_space() sees room again
        batch, self._batch = self._batch, []
        acks, self._acks = self._acks, []
        windows = {**self._held_windows, **self._windows()}  # the later copy wins
        self._held_windows = {}
        if not batch and not windows and not acks:
            return 0
        self._committing_since = self._clock()
        work = self._db.submit(self._commit, [r for r, _, _ in batch], windows)
        try:
            await asyncio.wait([work])
        except asyncio.CancelledError:
            # Stopping mid-commit: the transaction under way is finished, not
            # dropped with its batch, and what it stored is acknowledged.
            await asyncio.wait([work])
            await self._settle(work, batch, acks, windows)
            raise
        finally:
            self._committing_since = None
        return await self._settle(work, batch, acks, windows)

    async def _settle(
        self,
        work: "asyncio.Future[list[Stored]]",
        batch: list[tuple[Reading, frames.Frame, str]],
        acks: list[tuple[Callable[[bytes], None], bytes]],
        windows: Windows,
    ) -> int:
        """After a commit: acknowledge and tell observers; or hold it all on a full disk."""
        try:
            stored = work.result()
        except DiskFull as full:
            # Rolled back: hold it all, in order, ahead of what came meanwhile.
            self._batch[:0] = batch
            self._acks[:0] = acks
            self._held_windows = windows
            await self._pause(full)
            return 0
        for reply, ack in acks:
            reply(ack)
        if stored:
            self.commits += 1
            async with self._stored:
                self._stored.notify_all()
            if len(stored) == len(batch):  # every one new: in the batch's order
                pairs = [(s, f, source) for s, (_, f, source) in zip(stored, batch, strict=True)]
            else:
                by_key = {(s.node, s.epoch, s.seq): s for s in stored}
                pairs = []
                for reading, f, source in batch:
                    s = by_key.get((reading.node, reading.epoch, reading.seq))
                    if s is not None:
                        pairs.append((s, f, source))
            for s, f, source in pairs:
                for observer in self.observers:
                    observer(Accepted(s, f, source))
        return len(stored)

    async def run(self) -> None:
        """Commit whenever woken; forever.

        Group commit: a reading that finds the store idle is committed at
        once, and whatever arrives while a commit is under way goes into the
        next one, a single transaction. The interval is the shortest time
        from one commit's start to the next one's: at most one SD-card write
        per interval however fast frames come, and a reading waits at most
        that long for its transaction to start. A batch that fills up goes
        at once. Unwoken, it looks every TALLIES_EVERY seconds for windows
        that changed without a reading (commit_once() does nothing if none).
        """
        loop = asyncio.get_running_loop()
        last = -math.inf
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TALLIES_EVERY):
                    await self._wake.wait()
            self._wake.clear()
            early = last + self._interval - loop.time()
            if early > 0 and len(self._batch) < BATCH_MAX:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(early):
                        await self._full.wait()
            last = loop.time()
            await self.commit_once()

    def _commit(self, readings: list[Reading], windows: Windows) -> list[Stored]:
        """On the store's thread: the commit, unless the disk is too full to try it."""
        if self._space.free() < diskspace.LOW:
            raise self._space.full()
        return self._db.store.commit(readings, windows)

    def _make_room(self) -> None:
        """On the store's thread: give the reserve back, so the WAL can be checkpointed."""
        self._space.release()
        with contextlib.suppress(DiskFull):
            self._db.store.checkpoint()

    async def _pause(self, full: DiskFull) -> None:
        if self.paused:
            return
        self.paused = True
        self.turned_away = 0
        log.error("%s", said_full(full))
        await self._db.call(self._make_room)

    async def watch_space(self) -> None:
        """Pause when the disk fills, resume when space returns; forever.

        The first look is at once: a gateway started on a full disk waits.
        """
        complained = False
        while True:
            try:
                ready = await self._db.call(self._space.ready)
            except DiskFull:
                ready = False  # room by statvfs, none for the reserve (a quota, a race)
            except OSError as e:
                # The reserve cannot be made for another reason: go on without it.
                if not complained:
                    log.warning(
                        "%s: cannot make the space reserve (%s); going on without it",
                        self._space.reserve,
                        e,
                    )
                    complained = True
                ready = await self._db.call(self._space.free) >= diskspace.LOW
            if not ready and not self.paused:
                await self._pause(await self._db.call(self._space.full))
            elif ready and self.paused:
                log.info(
                    "disk space is back: %s has %s free: readings accepted again"
                    " (%d frames turned away meanwhile; their nodes send them again)",
                    self._space.data,
                    mib(await self._db.call(self._space.free)),
                    self.turned_away,
                )
                self.paused = False
                self.wake()  # what was held goes first
            await asyncio.sleep(diskspace.CHECK)

    def healthy(self) -> bool:
        """False when a commit has hung: the watchdog then lets systemd restart us."""
        since = self._committing_since
        return since is None or self._clock() - since < HEALTHY_LAG

    async def wait_stored(self, seen: int, timeout: float) -> None:
        """Return once `commits` has moved past seen, or after timeout seconds."""
        async with self._stored:
            try:
                async with asyncio.timeout(timeout):
                    await self._stored.wait_for(lambda: self.commits > seen)
            except TimeoutError:
                pass
