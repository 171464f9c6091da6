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
    AHEAD = "ahead"  # more than the window above, unkeyed: store it, but the window waits

    @property
    def accepted(self) -> bool:
        return self in _ACCEPTED


# The members under plain names as well, for the code that runs for every frame: Python
# 3.11 takes some 0.1 µs to find Verdict.NEW, and a frame's verdict was worked out and
# recorded with a dozen such look-ups (issue 9).
_NEW, _LATE, _DUPLICATE = Verdict.NEW, Verdict.LATE, Verdict.DUPLICATE
_REPLAY, _STALE, _RESET, _AHEAD = Verdict.REPLAY, Verdict.STALE, Verdict.RESET, Verdict.AHEAD
_ACCEPTED = (_NEW, _LATE, _RESET, _AHEAD)


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
    # An unkeyed node's frame far above the highest (AHEAD): stored, but the
    # window moves only when a next frame continues from it. Without a key
    # anyone can send a frame; one forged counter must not make every genuine
    # frame after it look stale.
    ahead: int | None = None
    ahead_boot: bool = False
    # Kept with the window because the window is the node's row in the store
    # (`meteolink nodes` reads them there, the gateway stopped or running):
    accepted: int = 0  # readings stored, from the first heard (or the node's new key) on
    mic_failures: int = 0  # frames whose MIC did not match the node's key (accept.py)
    started: float | None = None  # when its newest start's reading was taken (accept.py)
    start_cause: int = 0  # that start's reset cause from `status` (frames.RESET_*), 0: unsaid

    def copy(self) -> "SequenceWindow":
        """A copy to hand the store's thread (dataclasses.replace, at a fifth of the cost:
        one is made for each node heard in each commit)."""
        out = SequenceWindow.__new__(SequenceWindow)
        out.__dict__.update(self.__dict__)
        return out

    def verdict(self, seq: int, *, boot: bool, keyed: bool) -> Verdict:
        """What to do with a frame carrying counter seq; changes nothing."""
        highest = self.highest
        if highest is None:
            return _NEW
        if seq > highest:
            if keyed or seq - highest <= WINDOW or self._continues_ahead(seq):
                return _NEW
            return _DUPLICATE if seq == self.ahead else _AHEAD
        behind = highest - seq
        if behind < WINDOW:
            # A boot frame in the window is one heard again (a second bridge,
            # a bridge's buffer), not a node that lost its counter.
            return _DUPLICATE if self.seen >> behind & 1 else _LATE
        if boot and not keyed:
            # A fresh boot far below the highest: the node lost its counter
            # (its flash wiped). Resent readings carry `age`, and the service
            # passes boot=False for them.
            return _RESET
        return _REPLAY if keyed else _STALE

    def _continues_ahead(self, seq: int) -> bool:
        """seq follows the frame waiting AHEAD: the two together move the window."""
        ahead = self.ahead
        return ahead is not None and ahead < seq <= ahead + WINDOW

    def record(self, seq: int, verdict: Verdict, *, boot: bool) -> None:
        """Remember a verdict once the frame is stored (or turned away)."""
        if verdict.accepted:
            self.accepted += 1
        if verdict is _NEW:
            if self.highest is None:
                self.seen = 1
                self.since = seq
            elif seq - self.highest > WINDOW and self._continues_ahead(seq):
                # The frame that waited AHEAD, confirmed: both are stored.
                ahead = self.ahead
                assert ahead is not None
                gap = seq - ahead
                self.lost += (gap - 1) if self.ahead_boot else (seq - self.highest - 2)
                self.seen = 1 | (1 << gap if gap < WINDOW else 0)
            else:
                gap = seq - self.highest
                if not boot:
                    self.lost += gap - 1
                kept = self.seen << gap if gap < WINDOW else 0
                self.seen = (kept | 1) & ((1 << WINDOW) - 1)
            self.highest = seq
            ahead = self.ahead
            if ahead is not None and ahead <= seq:
                if seq - ahead < WINDOW:
                    self.seen |= 1 << (seq - ahead)  # stored already: a duplicate from now on
                self.ahead = None
                self.ahead_boot = False
        elif verdict is _AHEAD:
            self.ahead = seq
            self.ahead_boot = boot
        elif verdict is _LATE:
            assert self.highest is not None
            self.seen |= 1 << (self.highest - seq)
            if seq > self.since:
                self.lost -= 1
        elif verdict is _RESET:
            self.highest = self.since = seq
            self.seen = 1
            self.ahead = None
            self.ahead_boot = False
        elif verdict is _DUPLICATE:
            self.duplicates += 1
        else:
            self.rejected += 1
