"""Accepting a frame: bytes in, a decision out. No I/O, no asyncio, no clock of its own.

An input hands the gateway a frame's bytes; Acceptor.judge() says what they
are (docs/protocol.md §2 and §4):

1. The header's node id, not yet verified, finds the node's configuration
   and key; a node the policy turns away stops here (UNKNOWN).
2. The frame is decoded and checked: the CRC, and the MIC for a node with a
   key. A MIC that fails behind a good CRC names the node: someone sent its
   id without its key, or the keys disagree (MIC_FAILED).
3. Another gateway's acknowledgement, heard on the air, is nobody's reading.
4. The node's sequence window gives a verdict (gateway/sequence.py): new or
   late readings are ACCEPTED, with the reading to store; a counter heard
   before is a DUPLICATE; a replay or a stale counter is REJECTED.
5. An accepted or duplicate frame that asked for it gets an acknowledgement,
   which the gateway sends only once the reading is committed.

The acceptor remembers each node's window (and the epoch that tells a
restarted counter's readings apart) as it judges; the committer takes the
windows that changed into the same transaction as the readings
(take_changed), so that the store never knows a counter without its reading.
"""

import enum
import hashlib
import logging
from collections.abc import Mapping
from typing import NamedTuple

from meteolink.firmware import frames
from meteolink.firmware.frames import FrameError
from meteolink.gateway.config import Config
from meteolink.gateway.lograte import Throttle
from meteolink.gateway.sequence import SequenceWindow, Verdict
from meteolink.gateway.store import Reading

log = logging.getLogger(__name__)

# Duplicates acknowledged again per node and interval: a node resends at most
# its backlog (16, firmware/node_config.py) and the reading of the cycle.
DUPLICATE_ACKS = 17
# Nodes whose acknowledged duplicates are remembered at most: under
# unknown_nodes = "accept" the ids are anyone's to invent.
DUPLICATE_NODES = 1024


class Outcome(enum.Enum):
    ACCEPTED = "accepted"  # new to the store: queue the reading
    DUPLICATE = "duplicate"  # stored already: store nothing, acknowledge again
    REJECTED = "rejected"  # a replay or a stale counter: neither stored nor acknowledged
    HEARD_ACK = "heard_ack"  # another gateway's acknowledgement, heard on the air
    UNKNOWN = "unknown"  # a node the policy turns away
    MIC_FAILED = "mic_failed"  # the CRC held and the MIC did not: forged, or a wrong key
    CRC_ERROR = "crc_error"  # noise, a collision, a weak link
    MALFORMED = "malformed"  # not a frame at all


class Decision(NamedTuple):
    """What one frame is, and what to do with it.

    (A named tuple, not a frozen dataclass: one is made for every frame heard,
    and it is a quarter of the cost.)
    """

    outcome: Outcome
    node: int | None = None  # verified, but for UNKNOWN and MIC_FAILED (the header's claim)
    frame: frames.Frame | None = None
    reading: Reading | None = None  # ACCEPTED: what to store
    ack: bytes | None = None  # to send back once the reading is committed
    window: SequenceWindow | None = None  # the node's window after this frame (its tallies)
    error: FrameError | None = None  # why a frame was not decoded
    verdict: Verdict | None = None  # the sequence window's, for a frame that reached it


# Members under plain names for _sequence(), which runs for every frame: Python 3.11
# takes some 0.1 µs to find Verdict.RESET (gateway/sequence.py says more).
_RESET, _AHEAD, _DUPLICATE = Verdict.RESET, Verdict.AHEAD, Verdict.DUPLICATE
_ACCEPTED = Outcome.ACCEPTED


def key_id(key: bytes | None) -> str:
    """A fingerprint of a node key, stored beside its window (never the key)."""
    if key is None:
        return ""
    return hashlib.sha256(b"meteolink key id\0" + key).hexdigest()[:16]


class Acceptor:
    """Judges frames and keeps each node's sequence window.

    windows: {node: (epoch, window, key id)} as the store last committed them.
    """

    def __init__(
        self,
        config: Config,
        windows: Mapping[int, tuple[int, SequenceWindow, str]] | None = None,
    ) -> None:
        self.config = config
        self._windows: dict[int, tuple[int, SequenceWindow]] = {}
        self._keys: dict[int, str] = {}
        for node, (epoch, window, kid) in (windows or {}).items():
            self._windows[node] = (epoch, window)
            self._keys[node] = kid
        self._changed: set[int] = set()
        # Forged and replayed frames cost nothing to send: their lines are throttled.
        self._warn = Throttle(log)
        # Keyed nodes whose frames fail the MIC: said once, then counted here until one
        # passes (only listed nodes have keys, so this stays as small as [nodes]).
        self._mic_failing: dict[int, int] = {}
        # node -> when, within its interval; the node acknowledged longest ago first
        self._duplicate_acks: dict[int, list[float]] = {}

    def judge(
        self,
        data: bytes,
        *,
        source: str,
        now: float,
        rssi: int | None = None,
        snr: float | None = None,
        can_reply: bool = False,
        received: float | None = None,
    ) -> Decision:
        """Decide what data is; now dates an accepted reading (the gateway's clock).

        can_reply: the link can carry an acknowledgement back (BLE advertising cannot).
        received: when the frame was heard, if not now: another gateway's clock, for a
        frame it passed on (gateway/federation_input.py); the reading's received time,
        and its age counts back from it. now still rates the warnings and acks.
        """
        try:
            _, _, node, _ = frames.header(data)  # not yet verified: used only to find the key
        except FrameError as e:
            return Decision(Outcome.MALFORMED, error=e)
        cfg = self.config.node(node)
        if cfg is None and self.config.unknown_nodes == "reject":
            return Decision(Outcome.UNKNOWN, node)
        key = cfg.key if cfg is not None else None
        try:
            f = frames.decode(data, key)
        except FrameError as e:
            if e.reason in ("mic", "no_mic"):
                self._say_mic_failed(node, e)
                return Decision(
                    Outcome.MIC_FAILED, node, error=e, window=self._mic_failed(node, key)
                )
            if e.reason == "crc":
                return Decision(Outcome.CRC_ERROR, error=e)
            return Decision(Outcome.MALFORMED, error=e)
        if key is not None and self._mic_failing:
            self._mic_passed(node)
        if f.flags & frames.FLAG_ACK:
            return Decision(Outcome.HEARD_ACK, f.node, f)
        heard = now if received is None else received
        return self._sequence(f, data, now, heard, rssi, snr, key, can_reply)

    def _say_mic_failed(self, node: int, error: FrameError) -> None:
        """Say a node's frames fail the MIC once, not with every frame: a node flashed
        with another key sends one a cycle for as long as nobody comes, and a forger as
        many as they like. Said again once a frame of the node has passed."""
        failed = self._mic_failing.get(node)
        self._mic_failing[node] = (failed or 0) + 1
        if failed is not None:
            return
        if error.reason == "no_mic":
            why = f"it has no MIC, and [nodes.{node}] has a key"
        else:
            why = f"its MIC does not match the key in [nodes.{node}]"
        log.warning(
            "node %d: frame rejected: %s (forged, or a wrong key); said once, until a frame"
            " of node %d passes the check again",
            node,
            why,
            node,
        )

    def _mic_passed(self, node: int) -> None:
        failed = self._mic_failing.pop(node, None)
        if failed is not None:
            log.info(
                "node %d: its frames pass the MIC check again, after %d that failed it",
                node,
                failed,
            )

    def _sequence(
        self,
        f: frames.Frame,
        data: bytes,
        now: float,
        heard: float,
        rssi: int | None,
        snr: float | None,
        key: bytes | None,
        can_reply: bool,
    ) -> Decision:
        node = f.node
        known = self._windows.get(node)
        epoch, window = known if known is not None else (0, SequenceWindow())
        kid = key_id(key)
        if self._keys.get(node, kid) != kid:
            # A new key: the node was replaced (or re-provisioned), and its
            # counter starts again. Its name and topics stay the same.
            log.info("node %d: new key; its sequence counter starts afresh", node)
            epoch, window = epoch + 1, SequenceWindow()
        self._keys[node] = kid
        # A reading resent from the backlog (it has an age) keeps its boot
        # flag but is no new boot.
        age = f.raw(frames.AGE)
        boot = bool(f.flags & frames.FLAG_BOOT) and age is None
        verdict = window.verdict(f.seq, boot=boot, keyed=key is not None)
        if verdict is _RESET:
            epoch += 1
            log.info("node %d: counter restarted at %d after a cold boot", node, f.seq)
        elif verdict is _AHEAD:
            self._warn.warning(
                (node, verdict),
                now,
                "node %d: counter %d is far above the highest (%s): stored; the window moves"
                " when the next frame follows it (a long silence, or a forged frame)",
                node,
                f.seq,
                window.highest,
            )
        window.record(f.seq, verdict, boot=boot)
        self._windows[node] = (epoch, window)
        self._changed.add(node)
        if not verdict.accepted and verdict is not Verdict.DUPLICATE:
            self._warn.warning(
                (node, verdict),
                now,
                "node %d: counter %d is %s (highest %s): rejected",
                node,
                f.seq,
                verdict.value,
                window.highest,
            )
            return Decision(Outcome.REJECTED, node, f, window=window, verdict=verdict)
        # Sent only after the commit that makes the reading safe; a duplicate
        # is acknowledged again (the first ack may be lost), but only as often
        # as a node could need it.
        ack = None
        if (
            can_reply
            and f.flags & frames.FLAG_ACK_REQUEST
            and (verdict is not Verdict.DUPLICATE or self._ack_again(node, now))
        ):
            ack = frames.encode_ack(node, f.seq, key)
        if verdict is _DUPLICATE:
            return Decision(Outcome.DUPLICATE, node, f, ack=ack, window=window, verdict=verdict)
        taken = heard - (frames.to_value(frames.AGE, age) if age is not None else 0)
        _started(window, f, taken)
        reading = Reading(node, f.seq, heard, taken, bytes(data), rssi, snr, epoch)
        return Decision(_ACCEPTED, node, f, reading, ack, window, verdict=verdict)

    def _mic_failed(self, node: int, key: bytes | None) -> SequenceWindow | None:
        """Count a frame whose MIC failed in its node's window, stored with it; the window.

        Only a listed node has a key, so this keeps no more windows than there are
        listed nodes. A node never heard gets its window here (the key it will be
        judged by): a node mounted with the wrong key shows in `meteolink nodes`.
        """
        if self.config.node(node) is None:
            return None
        epoch, window = self._windows.get(node) or (0, SequenceWindow())
        window.mic_failures += 1
        self._windows[node] = (epoch, window)
        # The key id the window belongs to stays as it was: a new key's first good
        # frame must still find the old one and start the counter afresh.
        self._keys.setdefault(node, key_id(key))
        self._changed.add(node)
        return window

    def _ack_again(self, node: int, now: float) -> bool:
        """Whether a duplicate of node's may be acknowledged again now.

        A node resends, in one interval, at most its backlog and the reading
        of the cycle (DUPLICATE_ACKS); more duplicates than that are replays,
        and each acknowledgement would spend the LoRa bridge's duty cycle.
        """
        cfg = self.config.node(node)
        interval = cfg.interval if cfg is not None else 600.0
        times = [t for t in self._duplicate_acks.pop(node, ()) if now - t < interval]
        self._remember_acks(node, times)
        if len(times) >= DUPLICATE_ACKS:
            self._warn.warning(
                (node, "ack"),
                now,
                "node %d: %d duplicates acknowledged in the last %.0f s: no more"
                " acknowledgements of duplicates until fewer (replayed frames?)",
                node,
                len(times),
                interval,
            )
            return False
        times.append(now)
        return True

    def _remember_acks(self, node: int, times: list[float]) -> None:
        """Keep node's acknowledgement times, last in the order; at most DUPLICATE_NODES.

        Forgetting a node only lets its next duplicates be acknowledged again:
        the nodes dropped are those acknowledged longest ago.
        """
        acks = self._duplicate_acks
        while len(acks) >= DUPLICATE_NODES:
            del acks[next(iter(acks))]
        acks[node] = times  # the caller appends to it

    def take_changed(self) -> dict[int, tuple[int, SequenceWindow, str]]:
        """Copies of the windows changed since the last call, for the next commit."""
        changed = {
            n: (self._windows[n][0], self._windows[n][1].copy(), self._keys[n])
            for n in self._changed
        }
        self._changed = set()
        return changed


def _started(window: SequenceWindow, f: frames.Frame, taken: float) -> None:
    """Note the reading a node took when it started, if f is one: its `boot` flag (a cold
    boot: the counter jumped) or a reset cause in its `status` (a watchdog, a brown-out:
    any start that was not a wake from deep sleep). A backlog reading resent later keeps
    both, and its own time: the newest start is kept, whatever the order they arrive in."""
    status = f.raw(frames.STATUS)
    cause = status & frames.STATUS_RESET_MASK if status is not None else frames.RESET_SLEEP
    if not (cause or f.flags & frames.FLAG_BOOT):
        return
    if window.started is None or taken >= window.started:
        window.started, window.start_cause = taken, cause
