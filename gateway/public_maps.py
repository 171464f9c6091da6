"""What a public air-quality map gets: each opted-in node's latest clean values, at its pace.

sensor.community and openSenseMap (gateway/sensor_community_upstream.py,
gateway/opensensemap_upstream.py) show the air now, to anyone; they are not
an archive, and they ask uploaders for a modest pace. So, unlike MQTT or a
database, which get every reading, a public map gets:

- only nodes that opted in ([nodes.N] sensor_community_id, [nodes.N.opensensemap]);
- per node, the LATEST of the readings pending, and no more than one per
  `interval` seconds (Pace): a node heard every minute uploads every 145 s or
  so, a backlog after an outage is one upload per node, not hours of them;
- where the map stamps a value with the time it arrives (sensor.community),
  nothing older than `max_age` seconds, even after an outage: a map that
  showed this morning's smog as now would be wrong;
- only values a city would stand behind (clean()): a value out of its
  plausible range is apart under "implausible" in the state message and never
  sent, and a value with any QC flag ("qc": step, persistence, consistency) is
  left out too. The rest of that reading still goes.

Readings passed over this way are done with for this upstream: its cursor
moves past them once the readings chosen from the same batch have arrived,
as the HTTP upstream base does (gateway/http_upstream.py). They stay in the
store, and every other upstream gets them.
"""

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar


class Reading(Protocol):
    """What Pace needs of a pending reading: http_upstream.Item has it."""

    @property
    def stored(self) -> Any: ...  # store.Stored: node, taken, id

    @property
    def message(self) -> dict[str, Any]: ...  # its state message (gateway/messages.py)


# The inputs of each numeric derived value (gateway/derived.py): the gateway derives
# from any plausible value, flagged or not; a map gets none made from a flagged one.
DERIVED_FROM = {
    "dew_point": ("temperature", "humidity"),
    "sea_level_pressure": ("pressure", "temperature", "humidity"),
}


def clean(message: Mapping[str, Any], field: str) -> float | int | None:
    """The value of field in a state message, or None: absent, implausible (kept apart
    under "implausible", so never at the top), flagged by quality control, derived from
    a flagged value, or no number."""
    value = message.get(field)
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value):
        return None
    flagged = message.get("qc", {})
    if field in flagged or any(f in flagged for f in DERIVED_FROM.get(field, ())):
        return None
    return value


def carried(message: Mapping[str, Any], field: str) -> bool:
    """Whether the reading's frame carried field at all, clean or not: what says which
    sensor a node has, whatever this reading's quality."""
    return field in message or field in message.get("implausible", {})


R = TypeVar("R", bound=Reading)


class Pace:
    """Which pending readings go: per node, the latest, at most one per interval.

    interval: the least seconds between two uploads of a node (the map's pace);
    max_age: the oldest reading (seconds since it was taken) worth sending, None
    for no limit; wanted(node): whether the node opted in. The clock is the
    gateway's (time.monotonic) for the pace and the wall clock for a reading's age,
    both replaceable for tests.
    """

    def __init__(
        self,
        *,
        interval: float,
        max_age: float | None,
        wanted: Callable[[int], bool],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.interval = interval
        self.max_age = max_age
        self.wanted = wanted
        self.clock = clock
        self.wall = wall
        self._last: dict[int, float] = {}  # node -> clock() of its last upload
        self.not_opted_in = 0  # readings of nodes that did not opt in
        self.superseded = 0  # readings with a later one of the same node pending
        self.too_old = 0  # readings older than max_age
        self.too_soon = 0  # readings within interval of the node's last upload
        self.nothing_clean = 0  # readings with no value fit for a public map

    def choose(self, readings: Sequence[R], worth: Callable[[R], object] = bool) -> list[R]:
        """The readings to upload now, in the order given; the others are passed over
        (counted by why). worth(reading): whether it has anything clean to send; one that
        has not neither goes nor takes its node's turn. A node's upload counts from the
        moment it is chosen."""
        latest: dict[int, R] = {}
        for r in readings:
            node = r.stored.node
            if not self.wanted(node):
                self.not_opted_in += 1
                continue
            if not worth(r):
                self.nothing_clean += 1
                continue
            before = latest.get(node)
            if before is not None:
                self.superseded += 1
                if (r.stored.taken, r.stored.id) < (before.stored.taken, before.stored.id):
                    continue  # a late copy of an older reading: the newer one stays
            latest[node] = r
        now = self.clock()
        wall = self.wall()
        chosen = []
        for node, r in latest.items():
            if self.max_age is not None and wall - r.stored.taken > self.max_age:
                self.too_old += 1
                continue
            last = self._last.get(node)
            if last is not None and now - last < self.interval:
                self.too_soon += 1
                continue
            self._last[node] = now
            chosen.append(r)
        order = {id(r): i for i, r in enumerate(readings)}
        return sorted(chosen, key=lambda r: order[id(r)])

    def expired(self, taken: float) -> bool:
        """Whether a reading taken at `taken` is now too old to send (while retrying)."""
        return self.max_age is not None and self.wall() - taken > self.max_age

    def passed_over(self) -> dict[str, int]:
        """The readings not sent, by why: for the docs' words and the tests."""
        return {
            "not opted in": self.not_opted_in,
            "superseded": self.superseded,
            "too old": self.too_old,
            "too soon": self.too_soon,
            "nothing clean": self.nothing_clean,
        }


def format_value(value: float, scale: float = 1.0) -> str:
    """A value as the maps' documented examples write it: a decimal string, two places
    ("12.30"), as the airrohr firmware's String(float) does; scale converts the unit."""
    return f"{value * scale:.2f}"


def nodes_with(nodes: Mapping[int, Any], attribute: str) -> Iterable[int]:
    """The node ids whose NodeConfig gives attribute (opted in to a map)."""
    return [n for n, c in nodes.items() if getattr(c, attribute, None) is not None]
