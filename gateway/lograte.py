"""Warnings that anyone in radio range can cause, at most one a minute per node and kind.

A forged or replayed frame costs an attacker nothing to send and the gateway
a line in the journal on the Pi's SD card. The first of a kind is said at
once; the rest within the next minute are counted, and the next line said
says how many it stood for.
"""

import logging

PERIOD = 60.0  # seconds between two lines of one kind for one node


class Throttle:
    """Says a logger's warnings at most once per PERIOD for each key."""

    def __init__(self, logger: logging.Logger, period: float = PERIOD) -> None:
        self._log = logger
        self._period = period
        self._last: dict[object, float] = {}  # key -> when its last line was said
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
        self._last[key] = now
        self._log.warning(message, *args)
