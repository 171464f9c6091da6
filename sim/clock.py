"""The sim board's clock: real time, plus the time the node spent asleep.

A node sleeps for seconds to minutes (a PM fan warming up, an SCD41
single-shot measurement, the wait until the next cycle). The sim does not
wait those out: the firmware's long naps call skip(), which moves this
clock forward at once. Short real waits inside drivers (a few ms for a
conversion) still pass in real time, so both count.
"""

import time

_skipped = 0  # ms skipped by naps since this process started
_base = 0  # ms of sim time at process start, restored from the RTC memory file


def ticks_ms() -> int:
    """Milliseconds of sim time: only differences are meaningful."""
    return _base + _skipped + time.ticks_ms()  # type: ignore[operator]


def skip(ms: int) -> None:
    """Let ms of sim time pass without waiting for them."""
    global _skipped
    _skipped += ms


def set_base(ms: int) -> None:
    """Continue the sim time of an earlier wake (after a simulated deep sleep)."""
    global _base
    _base = ms - _skipped - time.ticks_ms()  # type: ignore[operator]
