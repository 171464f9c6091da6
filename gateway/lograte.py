"""Warnings that anyone in radio range can cause, at most one a minute per node and kind.

A forged or replayed frame costs an attacker nothing to send and the gateway
a line in the journal on the Pi's SD card. The first of a kind is said at
once; the rest within the next minute are counted, and the next line said
says how many it stood for.

The keys are the attacker's to choose too (a node id, invented), so the
throttle remembers at most KEYS of them: past that, the keys whose minute
is over go first, then the ones said longest ago. A key forgotten only
means its next line is said at once, and its count of lines held back is
lost; the memory stays bounded.
"""

import logging

PERIOD = 60.0  # seconds between two lines of one kind for one node
KEYS = 1024  # keys remembered at most


class Throttle:
    """Says a logger's warnings at most once per PERIOD for each key."""

    def __init__(self, logger: logging.Logger, period: float = PERIOD, keys: int = KEYS) -> None:
        if keys < 1:
            raise ValueError(f"throttle: keys must be at least 1, got {keys}")
        self._log = logger
        self._period = period
        self._keys = keys
        self._last: dict[object, float] = {}  # key -> when its last line was said; oldest first
        self._held: dict[object, int] = {}  # key -> lines not said since

    def warning(self, key: object, now: float, message: str, *args: object) -> None:
        last = self._last.get(key)
        if last is not None and now - last < self._period:
            self._held[key] = self._held.get(key, 0) + 1
            return
        held = self._held.pop(key, 0)
        if held:
            message += "; %d more like it since the last such line"
            args = (*args, held)
        self._last.pop(key, None)  # to the end: the order is the order said
        if len(self._last) >= self._keys:
            self._forget(now)
        self._last[key] = now
        self._log.warning(message, *args)

    def __len__(self) -> int:
        """The keys remembered."""
        return len(self._last)

    def _forget(self, now: float) -> None:
        """Make room for one key: drop those whose period is over, else the oldest."""
        # Oldest first: the expired keys are at the front, and one is dropped
        # whatever its time, so the loop ends at the first key still in its period.
        while self._last:
            key, said = next(iter(self._last.items()))
            if now - said < self._period and len(self._last) < self._keys:
                return
            del self._last[key]
            self._held.pop(key, None)
