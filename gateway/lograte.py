"""Warnings that anyone in radio range can cause, at most one a minute per node and kind.

A forged or replayed frame costs an attacker nothing to send and the gateway
a line in the journal on the Pi's SD card. The first of a kind is said at
once; the rest within the next minute are counted, and the next line said
says how many it stood for.

`meteolink gateway -v` says a line for every frame (gateway/framelog.py), at
most VERBOSE_BURST a minute of each kind from each input: more than a town's
stations send, far fewer than a flood.

The keys are the attacker's to choose too (a node id, invented), so the
throttle remembers at most KEYS of them: past that, the keys whose minute
is over go first, then the ones said longest ago. A key forgotten only
means its next line is said at once, and its count of lines held back is
lost; the memory stays bounded.
"""

import logging

PERIOD = 60.0  # seconds between two lines of one kind for one node
KEYS = 1024  # keys remembered at most
VERBOSE_BURST = 120  # lines of one kind from one input per PERIOD at -v


class Throttle:
    """Says a logger's lines at most `burst` times per PERIOD for each key.

    The period starts with the first line said; once it is over, the next line
    starts another, and says how many were held back in between.
    """

    def __init__(
        self,
        logger: logging.Logger,
        period: float = PERIOD,
        keys: int = KEYS,
        *,
        burst: int = 1,
        level: int = logging.WARNING,
    ) -> None:
        if keys < 1:
            raise ValueError(f"throttle: keys must be at least 1, got {keys}")
        if burst < 1:
            raise ValueError(f"throttle: burst must be at least 1, got {burst}")
        self._log = logger
        self._period = period
        self._keys = keys
        self._burst = burst
        self._level = level
        # key -> (when its period began, lines said in it); the oldest period first
        self._last: dict[object, tuple[float, int]] = {}
        self._held: dict[object, int] = {}  # key -> lines not said since

    def warning(self, key: object, now: float, message: str, *args: object) -> None:
        """Say message % args at the throttle's level (a warning unless told otherwise)."""
        last = self._last.get(key)
        if last is not None and now - last[0] < self._period:
            if last[1] >= self._burst:
                self._held[key] = self._held.get(key, 0) + 1
                return
            self._last[key] = (last[0], last[1] + 1)
            self._log.log(self._level, message, *args)
            return
        held = self._held.pop(key, 0)
        if held:
            message += "; %d more like it since the last such line"
            args = (*args, held)
        self._last.pop(key, None)  # to the end: the order is the order said
        if len(self._last) >= self._keys:
            self._forget(now)
        self._last[key] = (now, 1)
        self._log.log(self._level, message, *args)

    say = warning  # the name for a throttle whose level is not a warning's

    def __len__(self) -> int:
        """The keys remembered."""
        return len(self._last)

    def _forget(self, now: float) -> None:
        """Make room for one key: drop those whose period is over, else the oldest."""
        # Oldest first: the expired keys are at the front, and one is dropped
        # whatever its time, so the loop ends at the first key still in its period.
        while self._last:
            key, (said, _) = next(iter(self._last.items()))
            if now - said < self._period and len(self._last) < self._keys:
                return
            del self._last[key]
            self._held.pop(key, None)
