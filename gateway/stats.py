"""How the nodes and the inputs are doing: tallies, last heard, online or not.

Pure bookkeeping on the gateway's clock, no I/O and no asyncio: acceptance's
decisions go in (record), nodes coming online or going silent come out (to
the upstreams, which publish their availability), and a snapshot feeds the
stats topics and the summary logged at shutdown.

Nodes that are not listed in [nodes], under the default policy, are not
nodes of this gateway: anyone in radio range can send CRC-valid frames from
ids nobody ever provisioned, each free to invent. They get no NodeStats; the
Unlisted table remembers the most recently heard few (UNLISTED_MAX), in
memory only, so that a technician can see a forgotten node and add it, and
ten thousand invented ids cost what a hundred and twenty-eight do.
"""

import collections
import dataclasses
import logging
from dataclasses import dataclass, field

from meteolink.firmware import frames
from meteolink.gateway.accept import Decision, Outcome
from meteolink.gateway.config import Config
from meteolink.gateway.lograte import Throttle
from meteolink.gateway.sequence import SequenceWindow

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 600.0  # seconds between an unlisted node's readings, for offline detection
# Frames turned away that the status page lists with their times (Health.recent):
# the last this many, gateway-wide, some 150 bytes each.
RECENT_REJECTIONS = 200
# Members under plain names for record(), which runs for every frame: Python 3.11 takes
# some 0.1 µs to find Outcome.MALFORMED (gateway/sequence.py says more).
_MALFORMED, _CRC_ERROR, _UNKNOWN = Outcome.MALFORMED, Outcome.CRC_ERROR, Outcome.UNKNOWN
_MIC_FAILED, _REJECTED = Outcome.MIC_FAILED, Outcome.REJECTED
UNLISTED_MAX = 128  # unlisted nodes remembered: the most recently heard


# slots: under unknown_nodes = "accept" there is one per id ever heard, and
# without a __dict__ each costs half as much.
@dataclass(slots=True)
class NodeStats:
    """What the gateway knows of one node, for the status topic and the logs."""

    node: int
    last_seen: float | None = None  # gateway clock of the last frame accepted
    received: int = 0  # frames accepted since the service started
    lost: int = 0  # frames missing from its sequence (from the sequence window)
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
    # Messages the input refused before they held a frame, by reason (Feed.refused):
    # a LoRaWAN uplink on another fPort, or from a device not mapped to a node.
    refused: dict[str, int] = field(default_factory=dict)


@dataclass
class UpstreamStats:
    # Readings the destination refused for good, by kind ("HTTP 400"): passed over by
    # this upstream, kept in the store and sent by every other (gateway/http_upstream.py).
    refused: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rejection:
    """One frame turned away, as the status page lists it ("recent rejections").

    reason: "crc" (the frame's checksum failed: noise, a collision, a weak link),
    "mic" (the checksum held and the MIC did not: forged, or a wrong key) or "replay"
    (a counter the node already used, or one too far behind). node is the id the
    frame's header claims (None when a CRC failure left it unreadable); only a
    replay's node is verified, and only a replay's counter is given (seq).
    """

    time: float  # gateway clock
    source: str  # the input that heard it
    reason: str
    node: int | None = None
    seq: int | None = None
    rssi: int | None = None
    snr: float | None = None

    def as_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class UnlistedNode:
    """A node heard but not listed in [nodes]: nothing of it is stored."""

    node: int  # the id its frames' header claims (nothing verified it)
    source: str  # the input that heard it last
    first_seen: float  # gateway clock, since it last entered the table
    last_seen: float
    frames: int = 0  # frames heard since it entered the table
    rssi: int | None = None  # of the last frame, when the link reports it
    snr: float | None = None

    def as_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class Unlisted:
    """The unlisted nodes heard most recently, at most `size` of them, in memory only.

    An id heard again moves to the front; a new id beyond `size` pushes out
    the one heard longest ago (counted in `forgotten`). Frames from invented
    ids therefore cost a fixed amount, however many ids there are.
    """

    def __init__(self, size: int = UNLISTED_MAX) -> None:
        if size < 1:
            raise ValueError(f"unlisted table: size must be at least 1, got {size}")
        self.size = size
        self.forgotten = 0  # ids pushed out by newer ones: more heard than the table holds
        self._nodes: collections.OrderedDict[int, UnlistedNode] = collections.OrderedDict()

    def heard(
        self, node: int, *, source: str, now: float, rssi: int | None, snr: float | None
    ) -> bool:
        """Count a frame from node; True when node was not in the table."""
        entry = self._nodes.get(node)
        new = entry is None
        if entry is None:
            if len(self._nodes) >= self.size:
                self._nodes.popitem(last=False)
                self.forgotten += 1
            entry = self._nodes[node] = UnlistedNode(node, source, now, now)
        else:
            self._nodes.move_to_end(node)
        entry.frames += 1
        entry.source, entry.last_seen, entry.rssi, entry.snr = source, now, rssi, snr
        return new

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def snapshot(self) -> dict[int, UnlistedNode]:
        """Copies, the most recently heard first."""
        return {n: dataclasses.replace(e) for n, e in reversed(self._nodes.items())}


@dataclass(frozen=True)
class Snapshot:
    """Copies of every tally at one moment: safe to read while the gateway runs on.

    version: give it as `since` to the next snapshot to get only the nodes
    whose tallies changed in between.
    """

    nodes: dict[int, NodeStats]
    inputs: dict[str, InputStats]
    unlisted: dict[int, UnlistedNode] = field(default_factory=dict)  # most recent first
    version: int = 0
    upstreams: dict[str, UpstreamStats] = field(default_factory=dict)  # by upstream name


class Health:
    """Every node's and every input's tallies, and which nodes are online."""

    def __init__(self, config: Config, *, started: float) -> None:
        self.config = config
        self.started = started  # a node never heard counts as heard at start-up
        self.nodes: dict[int, NodeStats] = {}
        self.sources: dict[str, InputStats] = {}
        self.upstreams: dict[str, UpstreamStats] = {}  # each upstream's own tallies, by name
        self.set_aside = 0  # stored readings found damaged and set aside (gateway/outbox.py)
        self.unlisted = Unlisted()
        # The last frames turned away (CRC, MIC, replay), the most recent last.
        self.recent: collections.deque[Rejection] = collections.deque(maxlen=RECENT_REJECTIONS)
        self._warn = Throttle(log)  # one line a minute, however many ids are invented
        # Each node's last change, the most recent last: a snapshot of what changed
        # since a version costs what changed, not what is known (idle stays idle).
        self.version = 0
        self._changed: dict[int, int] = {}
        # The nodes that may yet go offline, by interval: those not heard since
        # start-up (all due at once), and those heard, the longest silent first.
        # A look for silent nodes then costs what went silent, not what is known.
        self._never_heard: dict[float, dict[int, None]] = {}
        self._by_last_heard: dict[float, dict[int, None]] = {}
        for node in config.nodes:
            self._watch(self._never_heard, node)

    def _interval(self, node: int) -> float:
        cfg = self.config.node(node)
        return cfg.interval if cfg is not None else DEFAULT_INTERVAL

    def _watch(self, groups: dict[float, dict[int, None]], node: int) -> None:
        group = groups.setdefault(self._interval(node), {})
        group.pop(node, None)
        group[node] = None

    def _touch(self, node: int) -> None:
        self.version += 1
        self._changed.pop(node, None)
        self._changed[node] = self.version

    def node(self, node: int) -> NodeStats:
        stats = self.nodes.get(node)
        if stats is None:
            stats = self.nodes[node] = NodeStats(node)
            if node not in self.config.nodes:  # those are watched from the start
                self._watch(self._never_heard, node)
        return stats

    def source(self, name: str) -> InputStats:
        stats = self.sources.get(name)
        if stats is None:
            stats = self.sources[name] = InputStats()
        return stats

    def seed(self, node: int, window: SequenceWindow) -> None:
        """A node known from the store: its window's tallies carry on across restarts."""
        self._tallies(self.node(node), window)
        self._touch(node)

    def record(
        self,
        source: str,
        decision: Decision,
        *,
        now: float | None = None,
        rssi: int | None = None,
        snr: float | None = None,
    ) -> NodeStats | None:
        """Count one frame an input heard; the node's stats when it just came online.

        now, rssi and snr: when and how the frame was heard (now: the gateway's
        clock; the start-up time if not given), for the unlisted table.
        """
        src = self.source(source)
        src.frames += 1
        outcome = decision.outcome
        if outcome is _MALFORMED:
            src.malformed += 1
        elif outcome is _CRC_ERROR:
            src.crc_errors += 1
            self._turned_away(source, "crc", decision, now, rssi, snr)
        elif outcome is _UNKNOWN:
            src.unknown += 1
            assert decision.node is not None
            when = self.started if now is None else now
            if self.unlisted.heard(decision.node, source=source, now=when, rssi=rssi, snr=snr):
                self._first_heard(decision.node, source, when)
        elif outcome is _MIC_FAILED:
            assert decision.node is not None
            self._turned_away(source, "mic", decision, now, rssi, snr)
            stats = self.node(decision.node)
            if decision.window is not None:  # a listed node's: counted there, and stored
                self._tallies(stats, decision.window)
            else:
                stats.mic_failures += 1
            self._touch(decision.node)
        elif decision.window is not None:
            assert decision.node is not None
            if outcome is _REJECTED:
                self._turned_away(source, "replay", decision, now, rssi, snr)
            stats = self.node(decision.node)
            self._tallies(stats, decision.window)
            self._touch(decision.node)
            reading, frame = decision.reading, decision.frame
            if reading is not None and frame is not None:
                return self._heard(stats, reading.received, reading.rssi, reading.snr, frame)
        return None

    def _turned_away(
        self,
        source: str,
        reason: str,
        decision: Decision,
        now: float | None,
        rssi: int | None,
        snr: float | None,
    ) -> None:
        f = decision.frame
        self.recent.append(
            Rejection(
                self.started if now is None else now,
                source,
                reason,
                decision.node,
                f.seq if f is not None else None,
                rssi,
                snr,
            )
        )

    def _heard(
        self, stats: NodeStats, now: float, rssi: int | None, snr: float | None, f: frames.Frame
    ) -> NodeStats | None:
        stats.received += 1
        stats.last_seen = now
        node, interval = stats.node, self._interval(stats.node)
        never = self._never_heard.get(interval)
        if never:
            never.pop(node, None)
        group = self._by_last_heard.get(interval)
        if group is None:
            group = self._by_last_heard[interval] = {}
        group.pop(node, None)  # to the end: the most recently heard last
        group[node] = None
        stats.rssi, stats.snr = rssi, snr
        battery = f.raw(frames.BATTERY)
        if battery is not None:
            stats.battery = float(frames.to_value(frames.BATTERY, battery))
        if stats.online is not True:
            stats.online = True
            return stats
        return None

    def _first_heard(self, node: int, source: str, now: float) -> None:
        """Say what to do about an unlisted node; throttled, since ids cost nothing to invent."""
        where = self.config.source
        if where.startswith("("):  # no file: "(defaults)", "(command line)"
            where = "a file given with --config"
        self._warn.warning(
            "unlisted",
            now,
            "node %d heard on %s but not in [nodes]: its readings are not stored"
            " (if it is yours, add [nodes.%d] to %s and restart the gateway)",
            node,
            source,
            node,
            where,
        )

    @staticmethod
    def _tallies(stats: NodeStats, window: SequenceWindow) -> None:
        stats.lost, stats.duplicates, stats.rejected, stats.mic_failures = (
            window.lost,
            window.duplicates,
            window.rejected,
            window.mic_failures,
        )

    def check_offline(self, now: float) -> list[NodeStats]:
        """The nodes silent for offline_after of their intervals, not yet reported."""
        went: list[NodeStats] = []
        for interval, group in self._never_heard.items():
            if group and now - self.started > interval * self.config.offline_after:
                nodes = list(group)
                group.clear()
                went += self._offline(nodes, now)
        for interval, group in self._by_last_heard.items():
            silent = []
            for node in group:  # the longest silent first: stop at the first still heard
                last = self.nodes[node].last_seen
                if last is not None and now - last <= interval * self.config.offline_after:
                    break
                silent.append(node)
            for node in silent:
                del group[node]
            went += self._offline(silent, now)
        return went

    def _offline(self, nodes: list[int], now: float) -> list[NodeStats]:
        went = []
        for node in nodes:
            stats = self.node(node)
            if stats.online is not False:
                last = stats.last_seen if stats.last_seen is not None else self.started
                stats.online = False
                self._touch(node)
                log.warning("node %d: silent for %.0f s: offline", node, now - last)
                went.append(stats)
        return went

    def shortest_interval(self) -> float:
        return min((n.interval for n in self.config.nodes.values()), default=DEFAULT_INTERVAL)

    def snapshot(self, since: int | None = None) -> Snapshot:
        """Every node's tallies; with since (a snapshot's version), those changed after it."""
        if since is None:
            nodes = self.nodes
        else:
            nodes = {}
            for node, version in reversed(self._changed.items()):
                if version <= since:
                    break
                nodes[node] = self.nodes[node]
        return Snapshot(
            nodes={n: dataclasses.replace(s) for n, s in nodes.items()},
            inputs={
                name: dataclasses.replace(s, refused=dict(s.refused))
                for name, s in self.sources.items()
            },
            unlisted=self.unlisted.snapshot(),
            version=self.version,
            upstreams={n: UpstreamStats(dict(u.refused)) for n, u in self.upstreams.items()},
        )

    def upstream_refused(self, upstream: str, kind: str) -> None:
        """The upstream of that name passed over a reading its destination refused for good."""
        tallies = self.upstreams.setdefault(upstream, UpstreamStats()).refused
        tallies[kind] = tallies.get(kind, 0) + 1

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
                + "".join(f", {n} refused ({why})" for why, n in sorted(src.refused.items()))
            )
        if self.unlisted:
            forgotten = self.unlisted.forgotten
            more = f" and {forgotten} more since forgotten" if forgotten else ""
            parts.append(f"{len(self.unlisted)} unlisted nodes heard{more}, none stored")
        return "; ".join(parts)
