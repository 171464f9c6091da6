"""The gateway service: inputs -> verification -> durable store -> upstreams.

One asyncio event loop, one TaskGroup of named tasks. Inputs call
Gateway.receive() with each frame they read; it verifies the frame (CRC,
and the MIC for a node with a key), asks the node's sequence counter for a
verdict and queues what is new. The committer writes the queue to SQLite in
one transaction per batch; only then is a reading *accepted*: only then do
acknowledgements go back to the nodes that asked, and the upstreams hear
that there is more to forward. A crash before the commit loses nothing a
node was told was safe, and a node that was not acknowledged sends again.

The store runs on one worker thread so an fsync on a slow SD card never
stalls the loop (whose liveness the systemd watchdog watches).
"""

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from meteolink.firmware import frames
from meteolink.firmware.frames import FrameError
from meteolink.gateway.config import Config
from meteolink.gateway.inputs import Input
from meteolink.gateway.sequence import Counter, Verdict
from meteolink.gateway.store import Reading, Store, Stored

log = logging.getLogger("meteolink.gateway")

T = TypeVar("T")

BATCH_MAX = 512  # a batch this long is committed at once, without waiting out the interval
BACKLOG_MAX = 2 * BATCH_MAX  # readings awaiting their commit before inputs stop reading
HEALTHY_LAG = 20.0  # seconds a commit may take before the watchdog stops being fed
OFFLINE_CHECK = 15.0  # seconds between looks for silent nodes
PRUNE_EVERY = 3600.0


@dataclass
class NodeStats:
    """What the gateway knows of one node, for the status topic and the logs."""

    node: int
    last_seen: float | None = None  # gateway clock of the last frame accepted
    received: int = 0  # frames accepted since the service started
    lost: int = 0  # frames missing from its sequence (from the counter)
    duplicates: int = 0
    rejected: int = 0  # replays and stale counters
    mic_failures: int = 0  # frames whose MIC did not match the node's key
    rssi: int | None = None
    snr: float | None = None
    battery: float | None = None
    online: bool | None = None  # None: not yet judged since the service started

    def as_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass
class InputStats:
    frames: int = 0
    crc_errors: int = 0  # frames whose CRC failed: noise, collisions, a weak link
    malformed: int = 0  # line noise, cut records, bad framing
    unknown: int = 0  # frames from nodes the policy turns away


@dataclass(frozen=True)
class Accepted:
    """A reading now in the store, as observers see it."""

    stored: Stored
    frame: frames.Frame
    source: str


class Upstream(Protocol):
    """Somewhere accepted readings go (MQTT first): run() forwards until cancelled."""

    name: str

    async def run(self, gateway: "Gateway") -> None: ...

    def node_changed(self, stats: NodeStats) -> None:
        """A node came online or went offline."""
        ...


def reading_id(node: int, seq: int) -> str:
    """The id a downstream consumer deduplicates on: the same at every gateway.

    A node's counter never repeats (it jumps ahead after a cold boot, and
    a replaced node comes with a new key), so node and counter name one
    reading wherever it was heard, and however often.
    """
    return f"{node}-{seq}"


def key_id(key: bytes | None) -> str:
    """A fingerprint of a node key, stored beside its counter (never the key)."""
    if key is None:
        return ""
    return hashlib.sha256(b"meteolink key id\0" + key).hexdigest()[:16]


class Gateway:
    def __init__(
        self,
        config: Config,
        *,
        inputs: list[Input] | None = None,
        upstreams: list[Upstream] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.inputs: list[Input] = list(inputs or [])
        self.upstreams: list[Upstream] = list(upstreams or [])
        self.observers: list[Callable[[Accepted], None]] = []
        self.clock = clock
        self.nodes: dict[int, NodeStats] = {}
        self.sources: dict[str, InputStats] = {}
        self.started = clock()
        self._db_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="store")
        self.store = Store(config.data / "readings.db", check_same_thread=False)
        self._counters: dict[int, tuple[int, Counter]] = {}
        self._keys: dict[int, str] = {}
        for node, (epoch, counter, kid) in self.store.counters().items():
            self._counters[node] = (epoch, counter)
            self._keys[node] = kid
            stats = self._stats(node)
            stats.lost, stats.duplicates = counter.lost, counter.duplicates
            stats.rejected = counter.rejected
        self._batch: list[tuple[Reading, frames.Frame, str]] = []
        self._acks: list[tuple[Callable[[bytes], None], bytes]] = []
        self._dirty: set[int] = set()
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._stored = asyncio.Condition()
        self._last_commit = clock()
        self._committing_since: float | None = None
        self.commits = 0  # commits that stored something: upstreams wait for it to move

    # -- the input side: called by inputs for every frame they read ----------

    def receive(
        self,
        frame: bytes,
        /,
        *,
        source: str,
        rssi: int | None = None,
        snr: float | None = None,
        reply: Callable[[bytes], None] | None = None,
    ) -> None:
        src = self.sources.setdefault(source, InputStats())
        src.frames += 1
        if len(frame) < 3:
            src.malformed += 1
            return
        node = frame[1] << 8 | frame[2]  # not yet verified: used only to find the key
        cfg = self.config.node(node)
        if cfg is None and self.config.unknown_nodes == "reject":
            src.unknown += 1
            log.debug("%s: frame from unlisted node %d turned away", source, node)
            return
        key = cfg.key if cfg is not None else None
        try:
            f = frames.decode(frame, key)
        except FrameError as e:
            if e.reason in ("mic", "no_mic"):
                # The CRC held, so the node id is what was sent: someone sent
                # this node's id without its key, or the keys disagree.
                self._stats(node).mic_failures += 1
                log.warning("node %d: frame rejected: %s (forged, or a wrong key)", node, e)
            elif e.reason == "crc":
                src.crc_errors += 1
            else:
                src.malformed += 1
                log.debug("%s: bad frame: %s", source, e)
            return
        if f.flags & frames.FLAG_ACK:
            return  # another gateway's acknowledgement, heard on the air
        self._accept(f, frame, source, rssi, snr, reply, key)

    def _accept(
        self,
        f: frames.Frame,
        frame: bytes,
        source: str,
        rssi: int | None,
        snr: float | None,
        reply: Callable[[bytes], None] | None,
        key: bytes | None,
    ) -> None:
        node = f.node
        epoch, counter = self._counters.get(node, (0, Counter()))
        kid = key_id(key)
        if self._keys.get(node, kid) != kid:
            # A new key: the node was replaced (or re-provisioned), and its
            # counter starts again. Its name and topics stay the same.
            log.info("node %d: new key; its sequence counter starts afresh", node)
            epoch, counter = epoch + 1, Counter()
        self._keys[node] = kid
        # A reading resent from the backlog (it has an age) keeps its boot
        # flag but is no new boot.
        boot = bool(f.flags & frames.FLAG_BOOT) and f.raw(frames.AGE) is None
        verdict = counter.verdict(f.seq, boot=boot, keyed=key is not None)
        if verdict is Verdict.RESET:
            epoch += 1
            log.info("node %d: counter restarted at %d after a cold boot", node, f.seq)
        counter.record(f.seq, verdict, boot=boot)
        self._counters[node] = (epoch, counter)
        self._dirty.add(node)
        stats = self._stats(node)
        stats.lost, stats.duplicates, stats.rejected = (
            counter.lost,
            counter.duplicates,
            counter.rejected,
        )
        if not verdict.accepted:
            if verdict is not Verdict.DUPLICATE:
                log.warning(
                    "node %d: counter %d is %s (highest %s): rejected",
                    node,
                    f.seq,
                    verdict.value,
                    counter.highest,
                )
                return
        else:
            now = self.clock()
            age = f.raw(frames.AGE)
            taken = now - (frames.to_value(frames.AGE, age) if age is not None else 0)
            reading = Reading(node, f.seq, now, taken, bytes(frame), rssi, snr, epoch)
            self._batch.append((reading, f, source))
            stats.received += 1
            stats.last_seen = now
            stats.rssi, stats.snr = rssi, snr
            battery = f.raw(frames.BATTERY)
            if battery is not None:
                stats.battery = float(frames.to_value(frames.BATTERY, battery))
            if stats.online is not True:
                stats.online = True
                self._node_changed(stats)
            if len(self._batch) >= BATCH_MAX:
                self._full.set()
        if reply is not None and f.flags & frames.FLAG_ACK_REQUEST:
            # Sent only after the commit that makes the reading safe; a
            # duplicate is acknowledged again (the first ack may be lost).
            self._acks.append((reply, frames.encode_ack(node, f.seq, key)))
        self._wake.set()

    async def room(self) -> None:
        """Wait while more readings await their commit than memory should hold.

        Inputs call this before each read: in a burst (a bridge emptying its
        buffer on reconnect) the bytes then wait in the kernel's tty buffer
        instead of in the gateway's memory.
        """
        while len(self._batch) >= BACKLOG_MAX:
            await self.wait_stored(self.commits, timeout=1.0)

    def _stats(self, node: int) -> NodeStats:
        stats = self.nodes.get(node)
        if stats is None:
            stats = self.nodes[node] = NodeStats(node)
        return stats

    def on_noise(self, source: str, error: FrameError) -> None:
        self.sources.setdefault(source, InputStats()).malformed += 1

    # -- the store side ------------------------------------------------------

    async def in_store(self, fn: Callable[..., T], *args: object) -> T:
        """Run fn(*args) on the store's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, fn, *args)

    def _take_batch(
        self,
    ) -> tuple[
        list[tuple[Reading, frames.Frame, str]],
        dict[int, tuple[int, Counter, str]],
        list[tuple[Callable[[bytes], None], bytes]],
    ]:
        batch, self._batch = self._batch, []
        acks, self._acks = self._acks, []
        counters = {
            n: (self._counters[n][0], dataclasses.replace(self._counters[n][1]), self._keys[n])
            for n in self._dirty
        }
        self._dirty = set()
        return batch, counters, acks

    async def commit_once(self) -> int:
        """Commit what is queued; then acknowledge and tell upstreams and observers."""
        batch, counters, acks = self._take_batch()
        if not batch and not counters and not acks:
            return 0
        self._committing_since = self.clock()
        stored = await self.in_store(self.store.commit, [r for r, _, _ in batch], counters)
        self._committing_since = None
        self._last_commit = self.clock()
        for reply, ack in acks:
            reply(ack)
        if stored:
            self.commits += 1
            async with self._stored:
                self._stored.notify_all()
            by_key = {(s.node, s.epoch, s.seq): s for s in stored}
            for reading, f, source in batch:
                s = by_key.get((reading.node, reading.epoch, reading.seq))
                if s is not None:
                    for observer in self.observers:
                        observer(Accepted(s, f, source))
        return len(stored)

    async def _committer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if len(self._batch) < BATCH_MAX:
                # Gather what else arrives in the next moment into the same
                # transaction: one SD-card write per batch, not per frame;
                # a batch that fills up goes at once.
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.commit_interval):
                        await self._full.wait()
            await self.commit_once()

    def healthy(self) -> bool:
        """False when a commit has hung: the watchdog then lets systemd restart us."""
        since = self._committing_since
        return since is None or self.clock() - since < HEALTHY_LAG

    async def wait_stored(self, seen: int, timeout: float) -> None:
        """Return once `commits` has moved past seen, or after timeout seconds."""
        async with self._stored:
            try:
                async with asyncio.timeout(timeout):
                    await self._stored.wait_for(lambda: self.commits > seen)
            except TimeoutError:
                pass

    async def pending(self, upstream: str, limit: int) -> list[Stored]:
        return await self.in_store(self.store.pending, upstream, limit)

    async def pending_after(self, after_id: int, limit: int) -> list[Stored]:
        return await self.in_store(self.store.pending_after, after_id, limit)

    async def forwarded(self, upstream: str, last_id: int) -> None:
        await self.in_store(self.store.forwarded, upstream, last_id)

    # -- nodes going quiet, old readings going away ----------------------------

    def _node_changed(self, stats: NodeStats) -> None:
        for up in self.upstreams:
            up.node_changed(stats)

    def check_offline(self) -> None:
        now = self.clock()
        known = set(self.nodes) | set(self._counters) | set(self.config.nodes)
        for node in known:
            cfg = self.config.node(node)
            interval = cfg.interval if cfg is not None else 600.0
            stats = self._stats(node)
            last = stats.last_seen if stats.last_seen is not None else self.started
            if stats.online is not False and now - last > interval * self.config.offline_after:
                stats.online = False
                log.warning("node %d: silent for %.0f s: offline", node, now - last)
                self._node_changed(stats)

    async def _watch_nodes(self) -> None:
        # Look a few times per shortest silence that counts, at most every 15 s.
        shortest = min((n.interval for n in self.config.nodes.values()), default=600.0)
        period = min(OFFLINE_CHECK, max(0.2, shortest * self.config.offline_after / 4))
        while True:
            await asyncio.sleep(period)
            self.check_offline()

    async def _retention(self) -> None:
        names = [up.name for up in self.upstreams]
        while True:
            cutoff = self.clock() - self.config.retention_days * 86400
            removed = await self.in_store(self.store.prune, cutoff, names)
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
        """Run every task until cancelled; then commit what is queued."""
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._committer(), name="committer")
                tg.create_task(self._watch_nodes(), name="offline")
                tg.create_task(self._retention(), name="retention")
                for inp in self.inputs:
                    tg.create_task(inp.run(), name=inp.name)
                for up in self.upstreams:
                    tg.create_task(up.run(self), name=up.name)
                for make in extra or []:
                    tg.create_task(make())
        finally:
            await asyncio.shield(self._final_commit())

    async def _final_commit(self) -> None:
        try:
            n = await self.commit_once()
            if n:
                log.info("committed %d readings on the way out", n)
        finally:
            await self.in_store(self.store.close)
            self._db_thread.shutdown(wait=True)

    def summary(self) -> str:
        parts = []
        for node in sorted(self.nodes):
            s = self.nodes[node]
            parts.append(
                f"node {node}: {s.received} received, {s.lost} lost, "
                f"{s.duplicates} duplicates, {s.rejected + s.mic_failures} rejected"
            )
        for name, src in sorted(self.sources.items()):
            parts.append(
                f"{name}: {src.frames} frames, {src.crc_errors} CRC errors, "
                f"{src.malformed} malformed"
            )
        return "; ".join(parts)
