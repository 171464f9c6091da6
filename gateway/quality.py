"""Quality control, WMO-style: each value checked, flagged, never deleted.

Four checks, after the WMO's "Guidelines on Quality Control Procedures for
Data from Automatic Weather Stations" (I. Zahumenský, CBS/OPAG-IOS ET AWS-3,
Doc. 4(1), 2004, on which the quality control in WMO-No. 8's chapter
"Measurements at automatic weather stations" draws). docs/quality.md has the
limits and their sources; the config's [quality] sections override them.

    range        the plausible value check (gross error limits): a value outside
                 [low, high] for its field ([quality] field = [low, high]).
    step         time consistency, the largest credible change between two
                 consecutive values ([quality.step] field = change per minute).
    persistence  time consistency, the least change a working sensor shows over
                 a window ([quality.persistence] field = [change, minutes]).
    consistency  internal consistency between fields of one reading: dew point
                 <= temperature, PM1 <= PM2.5 <= PM10, gust >= wind speed.

A derived value (gateway/derived.py) carries the flags of the values it was
worked out from (derived.INPUTS): the dew point of a temperature that jumped is
as suspect as the temperature, and is flagged "step" with it.

A flag says "suspect", as the guideline's flags do: the reading is stored
as the node sent it, and a flagged value is published with its flags (a
range failure also apart, under "implausible", so no chart plots it).

Step limits and the time between readings. The guideline's limits are for
consecutive instantaneous (one-minute) values. Our nodes send every 1 to
60 minutes, and a quantity's credible change grows with the time between
two values, but far slower than in proportion (a front brings 3 °C in a
minute, not 180 °C in an hour). Here the limit grows with the square root of
the time, as the spread of a random walk does:

    limit(dt) = limit_per_minute * sqrt(dt / 60 s),  dt at least 60 s

so 3 °C a minute allows 9.5 °C between readings 10 minutes apart and 23 °C
an hour apart. The square root is our choice, not the guideline's.

Gaps. A node silent for offline_after times its interval (the gateway's own
"offline", 3 intervals unless [gateway] says otherwise) starts afresh: the
step and persistence checks restart from its next value rather than compare
it with a value from before the gap. The same bound ends a flagged step: the
previous value a step is measured from is the last one that passed, so a
genuine jump (a sensor replaced, a window opened on an indoor node) is
flagged for at most that long and then accepted.

State is bounded: per node, per field, two numbers and two times; only for
the nodes the gateway stores (those in [nodes], and under unknown_nodes =
"accept" the ACCEPTED_MAX most recently checked others).
"""

import collections
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meteolink.gateway import derived

if TYPE_CHECKING:
    from meteolink.gateway.config import Config

FLAGS = ("range", "step", "persistence", "consistency")

# field name: (lowest, highest) plausible value, in the field's unit. The
# guideline's gross error limits where it gives one (air temperature -80..60 °C,
# RH 0..100 %, station pressure 500..1100 hPa, wind speed 0..75 m/s, solar
# radiation 0..1600 W/m²); air temperature narrowed for a Baltic site.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    # Latvian records: -43.2 °C (Daugavpils, February 1956) and +37.8 °C
    # (Ventspils, 4 August 2014, LVGMC "Weather anomalies in Latvia 2014"),
    # with about 2 °C to spare either side.
    "temperature": (-45.0, 40.0),
    "humidity": (0.0, 100.0),
    "pressure": (500.0, 1100.0),  # station pressure up to 5,500 m; sea-level record 1084
    "pm1": (0.0, 1000.0),  # PMS5003 / SDS011 top of range
    "pm2_5": (0.0, 1000.0),
    "pm10": (0.0, 2000.0),
    "co2": (250.0, 10000.0),  # outdoor air is never below ~400 ppm; SCD4x reads to 40000
    "voc_index": (1.0, 500.0),  # Sensirion's index is 1..500
    "nox_index": (1.0, 500.0),
    "battery": (0.5, 15.0),  # 0 V from a working node is a broken divider
    "wind_speed": (0.0, 75.0),
    "wind_direction": (0.0, 359.0),
    "gust": (0.0, 100.0),
    "uv_index": (0.0, 20.0),
    "solar_radiation": (0.0, 1500.0),  # above the solar constant's ground share
    "soil_moisture": (0.0, 100.0),
    "soil_temperature": (-30.0, 50.0),
    "noise": (20.0, 140.0),
    "snow_depth": (0.0, 5000.0),
    "no2": (0.0, 2000.0),
    "o3": (0.0, 1000.0),
}

# field name: the largest credible change between consecutive one-minute values
# (Zahumenský 2004, time consistency, "maximum allowed variability of an
# instantaneous value"), in the field's unit; scaled for longer intervals above.
STEP: dict[str, float] = {
    "temperature": 3.0,
    "humidity": 10.0,
    "pressure": 0.5,
    "wind_speed": 20.0,
    "solar_radiation": 800.0,
}

# field name: (least change, minutes) a working sensor shows (Zahumenský 2004,
# time consistency, "minimum required variability" over the past 60 minutes).
PERSISTENCE: dict[str, tuple[float, float]] = {
    "temperature": (0.1, 60.0),
    "humidity": (1.0, 60.0),
    "pressure": (0.1, 60.0),
    "wind_direction": (10.0, 60.0),
    "wind_speed": (0.5, 60.0),
}

# Persistence is not suspect in these states, which last for hours in real air:
# calm (wind speed 0; the direction of no wind stays where the vane stopped)
# and fog (a capacitive sensor saturated at the top of its range).
SATURATED_RH = 98.0

# Tolerances of the internal consistency checks, in the fields' units.
DEW_POINT_TOLERANCE = 0.1  # °C: derived.derive() rounds the dew point to 0.1
PM_TOLERANCE = 1.0  # µg/m³: the PMS5003 reports whole µg/m³, so rounding may invert two by 1
GUST_TOLERANCE = 0.1  # m/s: an anemometer's resolution

ACCEPTED_MAX = 1024  # unlisted nodes' state kept under unknown_nodes = "accept"
_MINUTE = 60.0


def implausible(
    values: Mapping[str, float | int], limits: Mapping[str, tuple[float, float]] = PLAUSIBLE
) -> dict[str, float | int]:
    """The values outside their plausible range; fields without limits always pass."""
    out = {}
    for name, value in values.items():
        bounds = limits.get(name)
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            out[name] = value
    return out


def step_limit(per_minute: float, dt: float) -> float:
    """The largest credible change over dt seconds for a field allowed per_minute a minute."""
    return per_minute * math.sqrt(max(dt, _MINUTE) / _MINUTE)


_PM_PAIRS = (("pm1", "pm2_5"), ("pm2_5", "pm10"), ("pm1", "pm10"))


def consistency(values: Mapping[str, float | str]) -> set[str]:
    """The fields of one reading that contradict each other (both of each pair)."""
    numbers = {k: v for k, v in values.items() if v.__class__ is float or v.__class__ is int}
    return _contradicting(numbers, "humidity" in values)


def _contradicting(numbers: Mapping[str, float], humidity: bool) -> set[str]:
    """consistency() of a reading's numbers (not bools, not a band's name); humidity:
    whether the reading has one (the dew point is worked out from it)."""
    bad: set[str] = set()
    get = numbers.get
    t, td = get("temperature"), get("dew_point")
    if t is not None and td is not None and td > t + DEW_POINT_TOLERANCE:
        bad |= {"dew_point", "humidity"} if humidity else {"dew_point"}
    for small, large in _PM_PAIRS:
        a, b = get(small), get(large)
        if a is not None and b is not None and a > b + PM_TOLERANCE:
            bad |= {small, large}
    speed, gust = get("wind_speed"), get("gust")
    if speed is not None and gust is not None and gust < speed - GUST_TOLERANCE:
        bad |= {"wind_speed", "gust"}
    return bad


@dataclass
class _Track:
    """One field of one node: the last value that passed the step check, and the
    value the field last moved away from by more than its persistence limit."""

    value: float
    taken: float
    steady_value: float
    steady_since: float


class Checker:
    """Checks readings as they come, node by node, remembering what it needs."""

    def __init__(self, config: "Config") -> None:
        self.config = config
        self._nodes: collections.OrderedDict[int, dict[str, _Track]] = collections.OrderedDict()
        # The unlisted ones among them, least recently checked first: the one to forget
        # when ACCEPTED_MAX are kept (a scan of every node for it was O(n) a new node).
        self._unlisted: collections.OrderedDict[int, None] = collections.OrderedDict()
        self._plausible = config.plausible
        # field: (step limit, persistence limit), for the fields with either
        self._timed = {
            name: (config.step.get(name), config.persistence.get(name))
            for name in sorted({*config.step, *config.persistence})
        }

    def _gap(self, node: int) -> float:
        """Seconds of silence after which a node's checks start afresh."""
        cfg = self.config.node(node)
        interval = cfg.interval if cfg is not None else 600.0
        return self.config.offline_after * interval

    def _tracks(self, node: int) -> dict[str, _Track] | None:
        tracks = self._nodes.get(node)
        if tracks is not None:
            self._nodes.move_to_end(node)
            if node in self._unlisted:
                self._unlisted.move_to_end(node)
            return tracks
        listed = self.config.node(node) is not None
        if not listed and self.config.unknown_nodes != "accept":
            return None  # not stored, so not remembered
        if not listed:
            if len(self._unlisted) >= ACCEPTED_MAX:
                oldest, _ = self._unlisted.popitem(last=False)
                del self._nodes[oldest]
            self._unlisted[node] = None
        tracks = self._nodes[node] = {}
        return tracks

    def check(
        self, node: int, taken: float, values: Mapping[str, float | str]
    ) -> dict[str, list[str]]:
        """The flags of each flagged field of node's reading taken then (Unix time).

        values: calibrated, derived ones included (the air-quality bands, being
        names, are checked by nothing). Returns {field: [flag, ...]}, flags
        in FLAGS order, only for flagged fields. Readings of a node come in the
        order taken; one older than the last seen is checked without the time checks.
        """
        # The numbers (not bools, not a band's name), each range-checked on the way:
        # implausible() in the one pass a reading's check makes over its values.
        numbers: dict[str, float] = {}
        flags: dict[str, set[str]] = {}
        plausible = self._plausible
        for k, v in values.items():
            kind = v.__class__
            if kind is float or kind is int:
                x = numbers[k] = float(v)
                bounds = plausible.get(k)
                if bounds is not None and not bounds[0] <= x <= bounds[1]:
                    flags[k] = {"range"}
        ranged = set(flags) if flags else ()  # gross errors, which move no reference
        for name in _contradicting(numbers, "humidity" in values):
            flags.setdefault(name, set()).add("consistency")
        tracks = self._tracks(node)
        if tracks is not None:
            gap = self._gap(node)
            # Only the fields with a step or persistence limit: a few of a reading's.
            for name, (step, persistence) in self._timed.items():
                value = numbers.get(name)
                if value is None or name in ranged:
                    continue
                failed = self._time_checks(
                    tracks, name, value, taken, gap, numbers, step, persistence
                )
                if failed:
                    flags.setdefault(name, set()).update(failed)
        if not flags:
            return {}
        # A derived value is as suspect as what it came from. Not "range": a value out
        # of range derives nothing (messages.StateRows.derived).
        for name, inputs in derived.INPUTS.items():
            if name in values:
                for source in inputs:
                    if source in flags:
                        flags.setdefault(name, set()).update(flags[source] - {"range"})
        return {name: [f for f in FLAGS if f in fs] for name, fs in sorted(flags.items()) if fs}

    def _time_checks(
        self,
        tracks: dict[str, _Track],
        name: str,
        value: float,
        taken: float,
        gap: float,
        numbers: Mapping[str, float],
        step: float | None,
        persistence: tuple[float, float] | None,
    ) -> set[str] | None:
        track = tracks.get(name)
        if track is None or taken - track.taken > gap:
            tracks[name] = _Track(value, taken, value, taken)
            return None
        dt = taken - track.taken
        if dt < 0:
            return None  # out of order: nothing to compare with
        failed = None
        # step_limit(step, dt), written out: this runs for most fields of every reading
        if step is not None and abs(value - track.value) > step * math.sqrt(
            (dt if dt > _MINUTE else _MINUTE) / _MINUTE
        ):
            failed = {"step"}
        else:
            track.value, track.taken = value, taken
        if persistence is not None:
            change, minutes = persistence
            if abs(value - track.steady_value) > change or (
                name in _EXEMPTIBLE and _exempt(name, value, numbers)
            ):
                track.steady_value, track.steady_since = value, taken
            elif taken - track.steady_since >= minutes * _MINUTE:
                if failed is None:
                    failed = {"persistence"}
                else:
                    failed.add("persistence")
        return failed

    def forget(self, node: int) -> None:
        """Drop node's state (a node removed from the config, or replaced)."""
        self._nodes.pop(node, None)
        self._unlisted.pop(node, None)


_EXEMPTIBLE = frozenset({"humidity", "wind_speed", "wind_direction"})  # _exempt()'s fields


def _exempt(name: str, value: float, numbers: Mapping[str, float]) -> bool:
    """States in which an unchanging value is real air, not a stuck sensor."""
    if name == "humidity":
        return value >= SATURATED_RH
    if name == "wind_speed":
        return value == 0
    if name == "wind_direction":
        return numbers.get("wind_speed") == 0
    return False


def flags_text(flags: Mapping[str, list[str]]) -> str | None:
    """The stored form of a reading's flags: compact JSON, keys sorted; None for none."""
    kept = {name: list(fs) for name, fs in flags.items() if fs}
    if not kept:
        return None
    return json.dumps(kept, sort_keys=True, separators=(",", ":"))


def flags_from(text: str | None) -> dict[str, list[str]]:
    """The flags stored as flags_text() wrote them; {} for None."""
    if not text:
        return {}
    loaded = json.loads(text)
    return {str(k): [str(f) for f in v] for k, v in loaded.items()}
