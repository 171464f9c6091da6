"""Per-node sequence windows: new, late, duplicate, replay (docs/protocol.md §2).

Pure bookkeeping, no I/O: acceptance (gateway/accept.py) asks for a verdict
before a frame is queued for the store and records it at once; the window is
written to the store in the same transaction as the readings it let through,
so after a crash the store never remembers a counter as seen without its
reading. (The node's own counter is firmware/node.py's Counter.)
"""

import enum
from dataclasses import dataclass

WINDOW = 256  # counters below the highest that are remembered as seen


class Verdict(enum.Enum):
    NEW = "new"  # above every counter seen: store it
    LATE = "late"  # inside the window and not seen: a resent backlog reading; store it
    DUPLICATE = "duplicate"  # seen already: store nothing, acknowledge again
    REPLAY = "replay"  # below the window from a keyed node: reject
    STALE = "stale"  # below the window from an unkeyed node, no boot flag: reject
    RESET = "reset"  # below the window, unkeyed, boot flag: the node lost its counter

    @property
    def accepted(self) -> bool:
        return self in (Verdict.NEW, Verdict.LATE, Verdict.RESET)


@dataclass
class SequenceWindow:
    """What the gateway remembers of one node's sequence counter: the highest
    heard, the WINDOW counters below it as a bitmap, and the tallies."""

    highest: int | None = None
    since: int = 0  # loss is counted from this counter on (the first one heard)
    seen: int = 0  # bit i set: counter highest - i was accepted
    lost: int = 0  # frames missing from the sequence so far
    duplicates: int = 0
    rejected: int = 0  # replays and stale frames

    def verdict(self, seq: int, *, boot: bool, keyed: bool) -> Verdict:
        """What to do with a frame carrying counter seq; changes nothing."""
        if self.highest is None or seq > self.highest:
            return Verdict.NEW
        behind = self.highest - seq
        if boot and not keyed and behind > 0:
            # A fresh boot below the highest: the node lost its counter
            # (reflashed). Taking it for a duplicate would acknowledge and
            # drop readings never stored. (Resent readings carry `age`, and
            # the service passes boot=False for them.)
            return Verdict.RESET
        if behind < WINDOW:
            return Verdict.DUPLICATE if self.seen >> behind & 1 else Verdict.LATE
        return Verdict.REPLAY if keyed else Verdict.STALE

    def record(self, seq: int, verdict: Verdict, *, boot: bool) -> None:
        """Remember a verdict once the frame is stored (or turned away)."""
        if verdict is Verdict.NEW:
            if self.highest is None:
                self.seen = 1
                self.since = seq
            else:
                gap = seq - self.highest
                if not boot:
                    self.lost += gap - 1
                kept = self.seen << gap if gap < WINDOW else 0
                self.seen = (kept | 1) & ((1 << WINDOW) - 1)
            self.highest = seq
        elif verdict is Verdict.LATE:
            assert self.highest is not None
            self.seen |= 1 << (self.highest - seq)
            if seq > self.since:
                self.lost -= 1
        elif verdict is Verdict.RESET:
            self.highest = self.since = seq
            self.seen = 1
        elif verdict is Verdict.DUPLICATE:
            self.duplicates += 1
        else:
            self.rejected += 1
