"""The frame counter: never repeats, and writes flash once per N frames.

The counter lives in retained (RTC) memory between cycles, which costs
nothing but is lost when power goes. Flash keeps a reservation: a value
above every counter used so far. The node writes a new reservation each
time the counter reaches the old one, N frames later; on a cold boot it
starts from the reservation (a jump of at most N) and reserves N more
before it sends anything. So a counter is never reused, whatever moment
power fails, and flash sees one small write per N frames: at N = 256 and
one frame per 10 minutes, one write every ~43 hours.

The reservation is written to a new file and renamed over the old one:
LittleFS (ESP32, RP2040) renames atomically, so a power cut leaves either
the old reservation or the new one, never a torn file.
"""

import frames
import retained
from micropython import const

PATH = "counter.dat"
_TMP = "counter.new"
_LIMIT = frames.MAX_SEQ + 1


class CounterExhausted(frames.MeteolinkError):
    """No counter left (years of frames, or a huge number of cold boots)."""


class CounterDamaged(frames.MeteolinkError):
    """counter.dat exists but cannot be read: starting anywhere could repeat."""


_ENOENT = const(2)


def _read(path: str) -> int:
    """The reservation in flash; 0 for a node never provisioned."""
    missing = 0
    for name in (path, _TMP):  # a write cut between the two files leaves the new one
        try:
            with open(name) as f:
                return int(f.read())
        except OSError as exc:
            if exc.args[0] == _ENOENT:
                missing += 1
        except ValueError:
            pass
    if missing == 2:
        return 0
    raise CounterDamaged(
        "%s is damaged: no counter can be trusted; write a value above the last frame's "
        "counter into it (the gateway shows it) or reflash with a new node id" % path
    )


def _write(path: str, value: int) -> None:
    import os

    with open(_TMP, "w") as f:
        f.write("%d\n" % value)
    os.rename(_TMP, path)


class FrameCounter:
    """The node's frame counter (the module docstring): `seq` is the next
    frame's; take() hands it out, and reserves more in flash when due."""

    def __init__(
        self,
        mem: "retained.Retained",
        step: int,
        path: str = PATH,
        hint: "tuple[int, int] | None" = None,
    ) -> None:
        self._mem = mem
        self._step = step
        self._path = path
        self.cold = not mem.valid
        if self.cold:
            reserved = _read(path)
            if hint is not None and hint[1] == reserved and hint[0] <= reserved:
                # The counter outlived the reset elsewhere (the RP2040's
                # watchdog scratch registers) and agrees with flash: go on
                # from it, no jump, nothing written.
                mem.put(">I", retained.SEQ, hint[0])
                mem.put(">I", retained.RESERVED, reserved)
                self.cold = False
                return
            # Cold boot: whatever RAM knew is gone. Start at the reservation,
            # and flag the next frame (the flag outlives a crash before it).
            mem.flags |= retained.FLAG_BOOT
            mem.put(">I", retained.SEQ, reserved)
            mem.put(">I", retained.RESERVED, reserved)
            self._reserve(reserved)

    @property
    def boot(self) -> bool:
        """The next frame is the first since the counter jumped."""
        return bool(self._mem.flags & retained.FLAG_BOOT)

    @property
    def seq(self) -> int:
        """The counter the next frame will carry."""
        return self._mem.get(">I", retained.SEQ)

    def _reserve(self, seq: int) -> None:
        if seq >= _LIMIT:
            raise CounterExhausted("frame counter exhausted: reflash with a new node id")
        value = min(seq + self._step, _LIMIT)
        _write(self._path, value)
        self._mem.put(">I", retained.RESERVED, value)

    def take(self) -> int:
        """The counter for a frame about to be sent; the next one is one more."""
        seq = self.seq
        if seq >= self._mem.get(">I", retained.RESERVED):
            self._reserve(seq)
        self._mem.put(">I", retained.SEQ, seq + 1)
        self._mem.flags &= ~retained.FLAG_BOOT
        return seq
