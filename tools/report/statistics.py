"""One pass over a period's readings: what every table of the report is made from.

Readings come in the order they were taken (Store.export_rows), as state
messages (gateway/messages.py StateRows): calibrated, with derived values and
quality-control flags. Nothing is kept per reading; what is kept grows with
stations x fields x days (a month of 50 stations: some 10,000 daily entries),
not with the readings. A value flagged by quality control ("qc", or apart under
"implausible") is left out of every statistic and counted per station and field.

Data-quality rule (Directive 2008/50/EC, Annex XI, section A, "criteria for
checking validity"): an hour's mean counts when it has at least 75 % of the
hour's expected readings; a day's mean (the mean of its valid hourly means)
when at least 18 of its hours are valid (75 %). The same rule decides which
hours are compared with a reference station.
"""

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from meteolink.firmware import frames
from meteolink.gateway.calibration import Calibration, in_force
from meteolink.gateway.config import Config
from meteolink.tools.report.period import LocalClock, Period
from meteolink.tools.report.reference import Reference

# What the report takes statistics of: every measured field a number can stand for,
# the link's figures, and the derived numbers (gateway/derived.py; aq bands are words).
MEASURED: frozenset[str] = frozenset(
    [f[0] for f in frames.FIELDS if f[0] not in ("status", "age")]
    + ["rssi", "snr", "dew_point", "sea_level_pressure"]
)
PM = ("pm2_5", "pm10")
VALID_SHARE = 0.75  # of an hour's expected readings; of a day's hours (2008/50/EC Annex XI A)
VALID_HOURS = 18  # 75 % of 24
NIGHT_STARTS, NIGHT_ENDS = 18, 6  # local hours: a night runs 18:00 to 06:00
HOUR = 3600
DEFAULT_INTERVAL = 600.0  # a node heard but not listed in [nodes]: the config's default


@dataclass
class Station:
    """One station over the period: who it is, and how much of it the gateway heard."""

    node: int
    name: str
    interval: float  # seconds between readings, from its [nodes.N]
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None
    exposure: str | None = None
    listed: bool = True  # in the config's [nodes]
    received: int = 0
    first: float | None = None
    last: float | None = None
    offline: float = 0.0  # seconds the gateway would have shown it offline
    flagged: dict[str, int] = field(default_factory=dict)  # field -> values left out

    def per_hour(self) -> float:
        return HOUR / self.interval

    def needed_per_hour(self) -> int:
        """Readings an hour needs to count (75 % of those expected; at least one)."""
        return max(1, math.ceil(VALID_SHARE * self.per_hour() - 1e-9))


# A day's statistics of one field: [lowest, highest, sum, count, time of the lowest]
Day = list[float]


@dataclass
class Summary:
    period: Period
    now: float  # the end of what could have been heard: min(period end, the time of the run)
    stations: dict[int, Station]
    # (node, field) -> {local day index: Day}
    daily: dict[tuple[int, str], dict[int, Day]]
    # node -> {night index (the local day its evening is on): [lowest, its time]}
    nights: dict[int, dict[int, list[float]]]
    # (node, pollutant) -> {local day index: {UTC hour: [sum, count]}}
    pm_hours: dict[tuple[int, str], dict[int, dict[int, list[float]]]]
    # (node, field) -> {reference hour key: [sum, count]}, the values under the
    # calibration in force at the period's end (Accumulator.compared_under)
    beside_reference: dict[tuple[int, str], dict[int, list[float]]]
    readings: int = 0
    # (node, field) -> the calibration the compared values are under (None: raw)
    compared_under: dict[tuple[int, str], Calibration | None] = field(default_factory=dict)

    def expected(self, station: Station) -> float:
        """Readings the station would have sent from the period's start to `now`."""
        return max(0.0, self.now - self.period.start) / station.interval

    def fields(self) -> list[str]:
        """Every field with a statistic, in the codec's order, then the rest."""
        order = [f[0] for f in frames.FIELDS] + ["dew_point", "sea_level_pressure", "rssi", "snr"]
        names = {name for _, name in self.daily}
        return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))

    def pm_day_means(self, node: int, pollutant: str) -> dict[int, tuple[float | None, int]]:
        """{day index: (the day's mean of valid hourly means or None when under the
        data-quality rule, its valid hours)} for each day with readings."""
        station = self.stations[node]
        need = station.needed_per_hour()
        out: dict[int, tuple[float | None, int]] = {}
        for day, hours in self.pm_hours.get((node, pollutant), {}).items():
            means = [s / n for s, n in hours.values() if n >= need]
            out[day] = (sum(means) / len(means) if len(means) >= VALID_HOURS else None, len(means))
        return out


def stations_of(config: Config) -> dict[int, Station]:
    out = {}
    for node, conf in sorted(config.nodes.items()):
        out[node] = Station(
            node,
            conf.name or f"node {node}",
            conf.interval,
            conf.latitude,
            conf.longitude,
            conf.altitude,
            conf.exposure,
        )
    return out


class Accumulator:
    """add() each reading's message in the order taken; summary() at the end."""

    def __init__(
        self,
        config: Config,
        period: Period,
        reference: Reference | None = None,
        *,
        now: float | None = None,
    ) -> None:
        self.config = config
        self.period = period
        self.clock = LocalClock(period)
        self.reference = reference
        self.ref_fields = frozenset(reference.fields) if reference else frozenset()
        now = time.time() if now is None else now
        self.summary = Summary(
            period, min(period.end, max(period.start, now)), stations_of(config), {}, {}, {}, {}
        )
        self._offline_after = config.offline_after

    def _station(self, node: int) -> Station:
        st = self.summary.stations.get(node)
        if st is None:
            st = self.summary.stations[node] = Station(
                node, f"node {node}", DEFAULT_INTERVAL, listed=False
            )
        return st

    def _seen(self, st: Station, taken: float) -> None:
        before = self.period.start if st.last is None else st.last
        gap = taken - before
        threshold = self._offline_after * st.interval
        if gap > threshold:
            st.offline += gap - threshold
        if st.first is None:
            st.first = taken
        st.last = taken
        st.received += 1

    def add(self, node: int, taken: float, msg: Mapping[str, Any]) -> None:
        s = self.summary
        s.readings += 1
        st = self._station(node)
        self._seen(st, taken)
        day, hour = self.clock(taken)
        bad: set[str] = set()
        if "qc" in msg:
            bad.update(msg["qc"])
        if "implausible" in msg:
            bad.update(msg["implausible"])
        for name in bad:
            st.flagged[name] = st.flagged.get(name, 0) + 1
        ref_key = None
        for name, value in msg.items():
            if name not in MEASURED or name in bad or value.__class__ not in (int, float):
                continue
            days = s.daily.get((node, name))
            if days is None:
                days = s.daily[node, name] = {}
            d = days.get(day)
            if d is None:
                days[day] = [value, value, value, 1, taken]
            else:
                if value < d[0]:
                    d[0] = value
                    d[4] = taken
                if value > d[1]:
                    d[1] = value
                d[2] += value
                d[3] += 1
            if name == "temperature":
                night = day if hour >= NIGHT_STARTS else day - 1 if hour < NIGHT_ENDS else None
                if night is not None and night >= 0:
                    nights = s.nights.setdefault(node, {})
                    low = nights.get(night)
                    if low is None or value < low[0]:
                        nights[night] = [value, taken]
            elif name in PM:
                hours = s.pm_hours.setdefault((node, name), {}).setdefault(day, {})
                acc = hours.get(int(taken // HOUR))
                if acc is None:
                    hours[int(taken // HOUR)] = [value, 1]
                else:
                    acc[0] += value
                    acc[1] += 1
            if name in self.ref_fields and self.reference is not None:
                if ref_key is None:
                    ref_key = self.reference.hour_key(taken)
                wanted = self.reference.hours.get(ref_key)
                if wanted is not None and name in wanted:
                    x = self._under_end(node, name, value, msg)
                    pairs = s.beside_reference.setdefault((node, name), {})
                    acc = pairs.get(ref_key)
                    if acc is None:
                        pairs[ref_key] = [x, 1]
                    else:
                        acc[0] += x
                        acc[1] += 1

    def compared_under(self, node: int, name: str) -> Calibration | None:
        """The calibration a field's values are compared with the reference under: the
        one in force at the period's end, the one the printed entry is composed with."""
        key = (node, name)
        under = self.summary.compared_under
        if key not in under:
            conf = self.config.node(node)
            cals = conf.calibrations if conf is not None else ()
            under[key] = in_force(cals, name, self.period.end)
        return under[key]

    def _under_end(self, node: int, name: str, value: float, msg: Mapping[str, Any]) -> float:
        """value as the calibration in force at the period's end would have published it.

        A calibration that changed within the period leaves some of its readings under
        an earlier one; fitted together, they would give an entry composed with the
        wrong calibration (comparison.calibration_lines). The raw value is in the
        message's "calibrated" record when a calibration was applied."""
        end = self.compared_under(node, name)
        record = (msg.get("calibrated") or {}).get(name)
        if record is None:
            return value if end is None else end.apply(value)
        if end is not None and (record["offset"], record["factor"]) == (end.offset, end.factor):
            return value  # the same calibration: as published
        raw = float(record["raw"])
        return raw if end is None else end.apply(raw)

    def finish(self) -> Summary:
        """The summary, each station's silence up to the end counted as offline time."""
        s = self.summary
        for st in s.stations.values():
            before = s.period.start if st.last is None else st.last
            gap = s.now - before
            threshold = self._offline_after * st.interval
            if gap > threshold:
                st.offline += gap - threshold
        return s
