"""An upstream's view of the gateway (the Outbox of gateway/roles.py), over the store.

Each upstream has a cursor in the store under its name: the id of the last
reading it confirmed. Pending readings are those after it, in id (arrival)
order, which keeps each node's readings in order; the cursor moves only when
the upstream says a batch has arrived, so a gateway killed mid-batch sends
that batch again after a restart, and never leaves a gap.

A reading whose stored frame no longer decodes (a damaged SD card, a hand
edit) is set aside before any upstream sees it: moved to the store's
set_aside table, counted, and logged once. Every upstream can then decode
what it is given, and one bad row never stops forwarding.

Readings committed while the upstream keeps up are not read back: the outbox
keeps the tail of what was committed since it was made (the committer hands
it each reading, checked on arrival), and serves pending readings from there
while its cursor is inside that tail. Only a lagging or restarted upstream
reads the store, and only those rows are decoded to check them. Either way
the decoded frame is kept for frame(): each reading is decoded once.
"""

import bisect
import contextlib
import logging
import time
from collections.abc import Callable

from meteolink.firmware import frames
from meteolink.firmware.frames import FrameError
from meteolink.gateway.commit import BACKLOG_MAX, Accepted, Committer, StoreThread
from meteolink.gateway.progress import Progress
from meteolink.gateway.stats import Health, Snapshot
from meteolink.gateway.store import DiskFull, Stored

log = logging.getLogger(__name__)

# Readings kept for an upstream behind the committer; one further behind reads
# the store. In a burst (a bridge emptying its buffer, the bench's 20,000 frames)
# the committer runs ahead of the broker's round trips by thousands: read back,
# each batch waited on the store's thread behind a commit and its fsync, and
# forwarding fell further behind (issue 9). A row is a few hundred bytes.
TAIL_MAX = 16_384
# Decoded frames kept beside them, fewer: a decoded frame is about a kilobyte,
# and one not kept is decoded again from its row (microseconds, on this thread).
# Once this many are kept, newer ones are not: the upstream asks for the oldest
# first, and frees one with each it takes (clearing them all, as before, left a
# burst's upstream decoding nearly every frame again; issue 9).
FRAMES_MAX = 4 * BACKLOG_MAX


class StoreOutbox:
    """The Outbox of the upstream `name`."""

    def __init__(
        self,
        name: str,
        db: StoreThread,
        committer: Committer,
        health: Health,
        progress: Progress,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._db = db
        self._committer = committer
        self._health = health
        self._progress = progress
        self._clock = clock
        # Every reading committed after id _tail_after, in id order; None: not known yet.
        self._tail: list[Stored] = []
        self._tail_after: int | None = None
        self._frames: dict[int, frames.Frame] = {}  # reading id -> its frame, until frame()
        committer.observers.append(self._committed)

    def _committed(self, accepted: Accepted) -> None:
        stored = accepted.stored
        if self._tail_after is None:
            # Ids are handed out in order: every earlier reading is in the store already.
            self._tail_after = stored.id - 1
        self._tail.append(stored)
        self._keep(stored.id, accepted.frame)
        if len(self._tail) > TAIL_MAX:  # the upstream is far behind: it reads the store
            drop = len(self._tail) - TAIL_MAX // 2
            self._tail_after = self._tail[drop - 1].id
            del self._tail[:drop]

    def _keep(self, reading_id: int, frame: frames.Frame) -> None:
        if len(self._frames) < FRAMES_MAX:  # else an upstream far behind: decoded again
            self._frames[reading_id] = frame

    def frame(self, stored: Stored) -> frames.Frame:
        kept = self._frames.pop(stored.id, None)
        return kept if kept is not None else frames.decode(stored.frame)

    def mark(self) -> int:
        return self._committer.commits

    async def pending(self, limit: int, *, after: int | None = None) -> list[Stored]:
        rows = await self._pending(limit, after)
        # Every answer is news of the upstream's loop (gateway/progress.py): an
        # idle one asks every 30 s and must not look silent.
        if rows:
            self._progress.handed_out(self._clock())
        else:
            self._progress.asked(self._clock(), caught_up=after is None)
        return rows

    async def _pending(self, limit: int, after: int | None) -> list[Stored]:
        tail_after = self._tail_after
        if after is not None and tail_after is not None and after >= tail_after:
            start = bisect.bisect_right(self._tail, after, key=lambda r: r.id)
            return self._tail[start : start + limit]
        store = self._db.store
        if after is None:
            rows = await self._db.call(store.pending, self.name, limit)
        else:
            rows = await self._db.call(store.pending_after, after, limit)
        good = []
        for row in rows:
            try:
                frame = frames.decode(row.frame)  # the MIC was checked on arrival; CRC and form
            except FrameError as e:
                with contextlib.suppress(DiskFull):  # kept out of the way; set aside later
                    await self._set_aside(row, e)
                continue
            self._keep(row.id, frame)
            good.append(row)
        return good

    async def _set_aside(self, row: Stored, error: FrameError) -> None:
        await self._db.call(self._db.store.set_aside, row.id, str(error), time.time())
        self._health.set_aside += 1
        log.warning(
            "reading %d (node %d, counter %d) no longer decodes (%s): set aside in the store's"
            " set_aside table; forwarding goes on (a failing SD card? see docs/gateway.md)",
            row.id,
            row.node,
            row.seq,
            error,
        )

    async def forwarded(self, last_id: int) -> None:
        # On a full disk the cursor stays behind: after a restart those
        # readings go again, and consumers deduplicate on the reading's id.
        with contextlib.suppress(DiskFull):
            await self._db.call(self._db.store.forwarded, self.name, last_id)
        if self._tail_after is not None and last_id > self._tail_after:
            del self._tail[: bisect.bisect_right(self._tail, last_id, key=lambda r: r.id)]
            self._tail_after = last_id
        kept = self._frames
        if len(kept) >= FRAMES_MAX and next(iter(kept)) <= last_id:
            # Some were never asked for (set aside, pruned): kept no longer.
            self._frames = {i: f for i, f in kept.items() if i > last_id}
        self._progress.forwarded(last_id, self._clock())  # it got there, stored cursor or not

    async def wait_for_more(self, mark: int, timeout: float) -> None:
        await self._committer.wait_stored(mark, timeout)

    def connected(self) -> None:
        self._progress.connected(self._clock())

    def retrying(self, reason: str) -> None:
        self._progress.retrying(reason, self._clock())

    def refused(self, kind: str) -> None:
        self._health.upstream_refused(self.name, kind)

    def stats(self, *, since: int | None = None) -> Snapshot:
        return self._health.snapshot(since)
