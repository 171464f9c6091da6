"""The gateway service: inputs -> acceptance -> durable store -> upstreams.

One asyncio event loop, one set of named tasks: the committer, the
watch for silent nodes, retention, every input and upstream, and the status
page when [web] asks for it (gateway/web/). The jobs
themselves live in their own modules; Gateway wires them and runs them:

    gateway/accept.py   frame -> decision (verdict, reading, acknowledgement)
    gateway/acceptance_quality.py  an accepted reading's quality flags, stored with it
    gateway/stats.py    tallies per node and input, online and offline
    gateway/commit.py   batches into the store, then acks and observers
    gateway/outbox.py   what an upstream sees: its pending readings
    gateway/progress.py whether each upstream gets on, for the watchdog
    gateway/roles.py    the Input and Upstream contracts

gateway/assembly.py builds a Gateway from the configuration.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from meteolink.firmware.frames import FrameError
from meteolink.gateway import calibration_record, framelog
from meteolink.gateway.accept import Acceptor, Outcome
from meteolink.gateway.acceptance_quality import AcceptanceQuality
from meteolink.gateway.commit import Accepted, Committer, StoreThread
from meteolink.gateway.config import Config
from meteolink.gateway.outbox import StoreOutbox
from meteolink.gateway.progress import Progress
from meteolink.gateway.roles import Feed, Input, Upstream
from meteolink.gateway.stats import Health, InputStats, NodeStats
from meteolink.gateway.store import DiskFull

if TYPE_CHECKING:
    from meteolink.gateway.web.site import StatusPage

log = logging.getLogger(__name__)
# Accepted and duplicate frames (acknowledged again) go on to the committer; a tuple made
# once: Python 3.11 takes some 0.1 µs to find each member (gateway/sequence.py).
_KEPT = (Outcome.ACCEPTED, Outcome.DUPLICATE)

OFFLINE_CHECK = 15.0  # seconds between looks for silent nodes
PRUNE_EVERY = 3600.0
# Seconds the inputs and upstreams get to stop once asked, before the last
# commit goes ahead without them; TimeoutStopSec=20 in the unit leaves the
# rest for that commit.
STOP_WITHIN = 10.0


class Gateway:
    """The service: a Feed for its inputs, an Outbox for each upstream."""

    def __init__(
        self,
        config: Config,
        *,
        inputs: list[Input] | None = None,
        upstreams: list[Upstream] | None = None,
        clock: Callable[[], float] = time.time,
        stop_within: float = STOP_WITHIN,
    ) -> None:
        self.config = config
        self.inputs: list[Input] = list(inputs or [])
        self.upstreams: list[Upstream] = list(upstreams or [])
        self.clock = clock
        self.stop_within = stop_within
        started = clock()
        self.progress = {
            up.name: Progress(up.name, up.label, since=started) for up in self.upstreams
        }
        self._stuck: set[str] = set()  # upstreams whose hang has been logged
        self.status_page: StatusPage | None = None  # [web] (gateway/web/site.py): task "web"
        self._db = StoreThread(config.data / "readings.db")
        self.store = self._db.store
        windows = self.store.counters()
        calibration_record.note(self.store, config, clock())  # a past date changed: said
        self.quality = AcceptanceQuality(config)  # each reading's flags, before its commit
        self.acceptor = Acceptor(config, windows)
        self.framelog = framelog.FrameLog(config)  # -v: a line for every frame
        self.health = Health(config, started=clock())
        for node, (_, window, _) in windows.items():
            self.health.seed(node, window)
        self._turned_away = 0  # frames refused unjudged on a full disk, since the start
        self.committer = Committer(
            self._db,
            interval=config.commit_interval,
            windows=self.acceptor.take_changed,
            clock=clock,
        )

    @property
    def nodes(self) -> dict[int, NodeStats]:
        return self.health.nodes

    @property
    def sources(self) -> dict[str, InputStats]:
        return self.health.sources

    @property
    def observers(self) -> list[Callable[[Accepted], None]]:
        """Called with each reading once it is committed (the demo prints them)."""
        return self.committer.observers

    # -- the Feed: called by inputs for every frame they read ----------------

    def receive(
        self,
        frame: bytes,
        /,
        *,
        source: str,
        rssi: int | None = None,
        snr: float | None = None,
        reply: Callable[[bytes], None] | None = None,
        received: float | None = None,
    ) -> None:
        if self.committer.refusing():
            self._turned_away += 1  # settled() says so to the inputs that ask
            return  # the disk is full: unjudged, unacknowledged, so the node sends it again
        now = self.clock()
        decision = self.acceptor.judge(
            frame,
            source=source,
            now=now,
            rssi=rssi,
            snr=snr,
            can_reply=reply is not None,
            received=received,
        )
        if framelog.enabled():
            self.framelog.decision(source, decision, now=now, rssi=rssi, snr=snr)
        came_online = self.health.record(source, decision, now=now, rssi=rssi, snr=snr)
        if came_online is not None:
            self._node_changed(came_online)
        if decision.outcome not in _KEPT:
            return
        if decision.reading is not None and decision.frame is not None:
            reading = self.quality.flag(decision.reading, decision.frame)
            self.committer.add(reading, decision.frame, source)
        if reply is not None and decision.ack is not None:
            self.committer.ack(reply, decision.ack)
        self.committer.wake()

    def noise(self, source: str, error: FrameError) -> None:
        self.health.source(source).malformed += 1
        if framelog.enabled():
            self.framelog.noise(source, error, now=self.clock())

    def refused(self, source: str, reason: str) -> None:
        tallies = self.health.source(source).refused
        tallies[reason] = tallies.get(reason, 0) + 1

    async def room(self) -> None:
        await self.committer.room()

    def mark(self) -> int:
        return self._turned_away

    async def settled(self, mark: int) -> bool:
        if self._turned_away != mark:
            return False  # no need to wait for the disk: what was turned away must come again
        # An acknowledgement like a node's (Committer.ack): sent once what is queued
        # now, and whatever commit is under way, is in the store; on a full disk, held.
        done = asyncio.get_running_loop().create_future()

        def settle(_: bytes) -> None:
            if not done.done():
                done.set_result(None)

        self.committer.ack(settle, b"")
        self.committer.wake()
        await done
        return True

    # -- committing, and what upstreams see of it --------------------------------

    async def commit_once(self) -> int:
        return await self.committer.commit_once()

    def healthy(self) -> bool:
        """Whether the pipeline moves: the watchdog's question (gateway/notify.py).

        No when a commit hangs, or when an upstream's task hangs
        (gateway/progress.py); each hang is logged once, with why.
        """
        healthy = self.committer.healthy()
        now = self.clock()
        for name, progress in self.progress.items():
            why = progress.stuck(now)
            if why is None:
                self._stuck.discard(name)
                continue
            healthy = False
            if name not in self._stuck:
                self._stuck.add(name)
                log.error(
                    "%s: stuck: %s; the watchdog will restart the gateway", progress.label, why
                )
        return healthy

    def outbox(self, upstream: str) -> StoreOutbox:
        """What the upstream of that name sees of the gateway."""
        progress = self.progress.get(upstream)
        if progress is None:
            progress = self.progress[upstream] = Progress(upstream, upstream, since=self.clock())
        return StoreOutbox(
            upstream, self._db, self.committer, self.health, progress, clock=self.clock
        )

    # -- nodes going quiet, old readings going away ----------------------------

    def _node_changed(self, stats: NodeStats) -> None:
        for up in self.upstreams:
            up.node_changed(stats)

    def check_offline(self) -> None:
        for stats in self.health.check_offline(self.clock()):
            self._node_changed(stats)

    async def _watch_nodes(self) -> None:
        # Look a few times per shortest silence that counts, at most every 15 s.
        shortest = self.health.shortest_interval()
        period = min(OFFLINE_CHECK, max(0.2, shortest * self.config.offline_after / 4))
        while True:
            await asyncio.sleep(period)
            self.check_offline()

    async def _retention(self) -> None:
        names = [up.name for up in self.upstreams]
        while True:
            cutoff = self.clock() - self.config.retention_days * 86400
            try:
                removed = await self._db.call(self.store.prune, cutoff, names)
            except DiskFull:
                removed = 0  # said by the committer; pruned at the next round
            if removed:
                log.info(
                    "retention: removed %d readings forwarded and older than %g days",
                    removed,
                    self.config.retention_days,
                )
            await asyncio.sleep(PRUNE_EVERY)

    # -- running ------------------------------------------------------------------

    async def run(
        self, *, extra: list[Callable[[], Coroutine[Any, Any, None]]] | None = None
    ) -> None:
        """Run every task until cancelled, or until one fails; then commit what is queued.

        Once cancelled, the tasks get stop_within seconds to stop; one that
        has not (an upstream waiting on a peer that never answers) is left
        behind and named in the log, and the last commit goes ahead anyway,
        so a stop always ends within the unit's TimeoutStopSec.
        """
        for inp in self.inputs:  # in the stats from the first message on, heard or not
            self.health.source(inp.name)
        jobs = [(self.committer.run(), "committer"), (self.committer.watch_space(), "disk space")]
        jobs += [(self._watch_nodes(), "offline"), (self._retention(), "retention")]
        jobs += [(inp.run(), inp.name) for inp in self.inputs]
        jobs += [(up.run(self.outbox(up.name)), up.name) for up in self.upstreams]
        if self.status_page is not None:
            jobs.append((self.status_page.run(), "web"))
        jobs += [(make(), "extra") for make in extra or []]
        tasks = [asyncio.create_task(job, name=name) for job, name in jobs]
        inputs = tasks[4 : 4 + len(self.inputs)]
        try:
            waiting = set(tasks)
            while waiting:  # a task that returns is done (keep_alive without a watchdog)
                done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    error = None if task.cancelled() else task.exception()
                    if error is not None:
                        log.error("%s failed: %r", task.get_name(), error)
                        raise error
        finally:
            await asyncio.shield(self._stop(inputs, tasks))

    async def _stop(
        self, inputs: list[asyncio.Task[None]], tasks: list[asyncio.Task[None]]
    ) -> None:
        # The inputs first, while the committer still runs: an input that tells its
        # sender what is safe (Feed.settled) says so for what it took, on its way out.
        loop = asyncio.get_running_loop()
        started = loop.time()
        for task in inputs:
            task.cancel()
        if inputs:
            await asyncio.wait(inputs, timeout=self.stop_within / 4)
        for task in tasks:
            task.cancel()
        left = self.stop_within - (loop.time() - started)
        _, hanging = await asyncio.wait(tasks, timeout=left)
        for task in hanging:
            name, within = task.get_name(), self.stop_within
            log.error("%s did not stop within %g s; stopping without it", name, within)
        await self._final_commit()

    async def _final_commit(self) -> None:
        try:
            n = await self.commit_once()
            if n:
                log.info("committed %d readings on the way out", n)
            if self.committer.held:
                log.info(
                    "%d readings not committed (the disk is full): never acknowledged,"
                    " their nodes send them again",
                    self.committer.held,
                )
        finally:
            await self._db.close()

    def summary(self) -> str:
        return self.health.summary()


if TYPE_CHECKING:
    # The gateway is what every input's create() is handed as its Feed: the
    # type checker holds it to that contract (gateway/roles.py) here.
    def _is_a_feed(gateway: Gateway) -> Feed:
        return gateway
