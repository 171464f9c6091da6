"""What the gateway's readings and statistics look like outside it. Pure functions, no I/O.

The MQTT upstream publishes these messages (gateway/mqtt_upstream.py) and
`meteolink export` writes the same state messages as JSON lines or CSV rows
(tools/export_cmd.py), so this module imports no client library: export
runs where no broker was ever configured. docs/gateway.md shows each one.

    state       one reading: id, node, seq, time (when it was taken, UTC),
                gateway, name, location, latitude, longitude and altitude from
                the config, rssi and snr when the link gave them, every
                plausible value by field name (calibrated with the calibration
                in force when the reading was taken), the values derived from
                them (gateway/derived.py), the implausible ones apart under
                "implausible", what calibration changed under "calibrated",
                and the quality-control flags stored with the reading under "qc"
    node stats  a node's tallies (gateway/stats.py NodeStats), as JSON
    gateway stats  every input's tallies, the upstream's count of readings
                the broker confirmed, and the nodes heard but not listed
"""

import datetime
import json
import math
import sys
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from meteolink.firmware import frames
from meteolink.gateway import derived
from meteolink.gateway.calibration import Calibration, in_force
from meteolink.gateway.config import Config
from meteolink.gateway.quality import implausible
from meteolink.gateway.stats import InputStats, NodeStats, UnlistedNode, UpstreamStats
from meteolink.gateway.store import Stored

NOT_PUBLISHED = ("age",)  # folded into "time"


def reading_id(node: int, seq: int) -> str:
    """The id a downstream consumer deduplicates on: the same at every gateway.

    A node's counter never repeats (it jumps ahead after a cold boot, and
    a replaced node comes with a new key), so node and counter name one
    reading wherever it was heard, and however often.
    """
    return f"{node}-{seq}"


def iso_utc(t: float) -> str:
    dt = datetime.datetime.fromtimestamp(t, datetime.UTC)
    return dt.isoformat(timespec="seconds").replace("+00:00", "Z")


# datetime covers years 1..9999; a time outside [0, this) goes to iso_utc as it is.
_YEAR_10000 = 253_402_300_800.0
_SECONDS = tuple(f"{s:02d}Z" for s in range(60))


class IsoUtc:
    """iso_utc(t) for many times in order, each minute's text made once.

    A year of export is millions of readings but half a million minutes: the
    text up to the minute comes from iso_utc once a minute, the seconds from a
    table. Same text as iso_utc for every time: datetime rounds a time to the
    microsecond first, so a time less than a microsecond before a whole second
    (the one case where that rounding changes the second) is left to iso_utc.
    """

    def __init__(self) -> None:
        self._last = (-1, "")  # (minute, its text): one attribute, whole in any thread

    def __call__(self, t: float) -> str:
        if 0.0 <= t < _YEAR_10000:
            second = int(t)
            if (t - second) * 1e6 < 999_999.0:
                minute = second // 60
                last = self._last
                if minute != last[0]:
                    last = self._last = (minute, iso_utc(minute * 60)[:-3])  # "…T14:13:"
                return last[1] + _SECONDS[second - minute * 60]
        return iso_utc(t)


def published_fields(frame: frames.Frame) -> list[str]:
    """The names of the frame's fields that a state message can carry."""
    return [k for k in frame.values() if k not in NOT_PUBLISHED]


# field ids, in a frame's order -> their published names; a node sends the same few
# sets over and over, and the upstream asks for each frame's (issue 9)
_FIELD_SETS: dict[tuple[int, ...], frozenset[str]] = {}


def published_field_set(frame: frames.Frame) -> frozenset[str]:
    """set(published_fields(frame)), without converting a value: from the field ids alone."""
    ids = tuple([fid for fid, _ in frame.fields])
    try:
        return _FIELD_SETS[ids]
    except KeyError:
        pass
    names = frozenset(name for name in map(frames.field_name, ids) if name not in NOT_PUBLISHED)
    if len(_FIELD_SETS) >= _REMEMBERED_BY_GATEWAY:
        _FIELD_SETS.clear()
    _FIELD_SETS[ids] = names
    return names


# (published field set, the node has an altitude) -> that set with its derived values
_ANNOUNCED: dict[tuple[frozenset[str], bool], frozenset[str]] = {}


def announced_field_set(frame: frames.Frame, *, altitude: bool) -> frozenset[str]:
    """published_field_set(frame) and the derived values its readings carry (altitude:
    the node's config gives one): what Home Assistant is told of."""
    published = published_field_set(frame)
    key = (published, altitude)
    try:
        return _ANNOUNCED[key]
    except KeyError:
        pass
    names = published.union(derived_fields(published, altitude=altitude))
    if len(_ANNOUNCED) >= _REMEMBERED_BY_GATEWAY:
        _ANNOUNCED.clear()
    _ANNOUNCED[key] = names
    return names


class Published(NamedTuple):
    """One field of a frame as a state message carries it."""

    name: str
    value: float | int
    plausible: bool  # False: the message carries it apart, under "implausible"
    item: str  # '"name": value', as the JSON of a message (message_json) has it
    feeds: bool  # a derived value may come from it (and it is plausible)


class Calibrated(NamedTuple):
    """One field of a frame with the calibration in force applied."""

    published: Published  # the calibrated value
    record: dict[str, Any]  # what "calibrated" says of it: raw, offset, factor, from


class Derived(NamedTuple):
    """One derived value as a state message carries it."""

    name: str
    value: float | str
    item: str  # '"name": value'


class Parts(NamedTuple):
    """A reading's values as a state message carries them, before they are written out."""

    good: list[Published]  # plausible values, calibrated, in the frame's order
    bad: list[Published] | None  # implausible ones ("implausible")
    derived: list[Derived]  # in derived.DERIVED's order
    calibrated: dict[str, dict[str, Any]] | None  # field -> raw, offset, factor, from


# The fields derived values come from (derived.derive has the rules).
_FEEDS_DERIVED = frozenset({"temperature", "humidity", "pressure", "pm2_5", "pm10"})
_DEW_POINT = ("dew_point",)
_SEA_LEVEL = ("sea_level_pressure",)
_AQ_BANDS = ("aq_band_pm2_5", "aq_band_pm10", "aq_band")


def derived_fields(fields: Iterable[str], *, altitude: bool) -> list[str]:
    """The derived values readings with these fields can carry, in derived.DERIVED's order
    (altitude: the node's config gives one, which sea-level pressure needs).

    What Home Assistant is told of and export's columns: a reading whose inputs are
    implausible carries fewer (derived.derive has the rules).
    """
    have = set(fields)
    out = []
    if {"temperature", "humidity"} <= have:
        out.append("dew_point")
    if altitude and {"pressure", "temperature"} <= have:
        out.append("sea_level_pressure")
    for pollutant in ("pm2_5", "pm10"):
        if pollutant in have:
            out.append(f"aq_band_{pollutant}")
    if "pm2_5" in have or "pm10" in have:
        out.append("aq_band")
    return out


def _digits(fid: int) -> int:
    """The decimals of a field's resolution (frames.FIELDS scale): 100 -> 2."""
    return max(0, round(math.log10(frames.FIELDS[fid][3]))) if fid < len(frames.FIELDS) else 0


_FLOAT_MAX = sys.float_info.max

# json.dumps(msg, separators=(",", ":")) makes an encoder per call: one, made once.
_COMPACT = json.JSONEncoder(separators=(",", ":")).encode

# A year of a station's readings repeats a few thousand (field, raw value) pairs;
# past this many, StateRows forgets them and starts again (memory stays bounded:
# some 300 bytes a pair). Export's; state_message's, kept for the gateway's life, is
# smaller.
REMEMBERED = 1 << 15
_REMEMBERED_BY_GATEWAY = 1 << 10
# Readings between their acceptance and their state message: a burst's backlog
# (gateway/outbox.py keeps as many decoded frames for the same span).
RECENT = 4096
STALE = 4  # kept parts older than STALE * RECENT readings were never written out


class _Node(NamedTuple):
    """What the config says of a node that its messages need, looked up once."""

    items: dict[str, Any]  # gateway, name, location, latitude, longitude, altitude
    calibrations: tuple[Calibration, ...]  # empty: none, the fast way
    calibrated_fields: frozenset[str]
    altitude: float | None


class StateRows:
    """The state messages of many readings under one config: what state_message gives,
    with what repeats from one reading to the next (a node's part of the message, a
    field's value and quality, a derived value, the time's minute) worked out once.

    The one definition of a state message; export's CSV rows are made from its parts,
    its JSON lines by message_json().
    """

    def __init__(
        self, config: Config, *, remember: int = REMEMBERED, wire: bool = False, recent: int = 0
    ) -> None:
        """wire: message_json() writes the text as MQTT carries it (compact()), not as
        json.dumps(ensure_ascii=False) writes it (export's JSON lines). recent: the parts()
        of the last so many readings are kept for message_json() of the same reading (the
        gateway's: acceptance works them out, the MQTT upstream writes them; issue 9)."""
        self.config = config
        self.remember = remember
        self._recent_max = recent
        # (node, taken) -> (fields, their parts, the count of keep_parts() then)
        self._recent: dict[tuple[int, float], tuple[object, Parts, int]] = {}
        self._keeping = False  # from the first message_json(): someone writes them out
        self._made = 0
        self.time = IsoUtc()
        self._fields: dict[tuple[int, int], Published | None] = {}
        self._calibrated: dict[tuple[tuple[int, int], Calibration], Calibrated] = {}
        self._derived: dict[tuple[Any, ...], list[Derived]] = {}  # see derived()
        self._nodes: dict[int, _Node] = {}
        self._node_items: dict[int, tuple[str, float | None]] = {}
        if wire:
            self._json = _COMPACT
            self._colon, self._comma = ":", ","
        else:
            self._json = json.JSONEncoder(ensure_ascii=False).encode
            self._colon, self._comma = ": ", ", "

    def field(self, pair: tuple[int, int]) -> Published | None:
        """A frame's (field id, raw integer) as published, uncalibrated; None for one that
        is not (age)."""
        try:
            return self._fields[pair]
        except KeyError:
            pass
        fid, raw = pair
        name = frames.field_name(fid)
        out = None
        if name not in NOT_PUBLISHED:
            out = self._published(name, frames.to_value(fid, raw))
        if len(self._fields) >= self.remember:
            self._fields.clear()
        self._fields[pair] = out
        return out

    def _published(self, name: str, value: float | int) -> Published:
        plausible = not implausible({name: value}, self.config.plausible)
        feeds = plausible and name in _FEEDS_DERIVED
        return Published(name, value, plausible, self._item(name, value), feeds)

    def calibrated_field(self, pair: tuple[int, int], cal: Calibration) -> Calibrated:
        """A frame's (field id, raw integer) with cal applied, rounded to the field's
        resolution; the range check sees the calibrated value."""
        key = (pair, cal)
        try:
            return self._calibrated[key]
        except KeyError:
            pass
        fid, raw = pair
        name = frames.field_name(fid)
        value = frames.to_value(fid, raw)
        digits = _digits(fid)
        fixed = round(cal.apply(value), digits)
        out = Calibrated(
            self._published(name, int(fixed) if digits == 0 else fixed),
            {"raw": value, "offset": cal.offset, "factor": cal.factor, "from": iso_utc(cal.since)},
        )
        if len(self._calibrated) >= self.remember:
            self._calibrated.clear()
        self._calibrated[key] = out
        return out

    def _item(self, key: str, value: object) -> str:
        """'"key": value' as message_json() writes a dict's item."""
        return f"{self._json(key)}{self._colon}{self._json(value)}"

    def _node(self, node: int) -> _Node:
        try:
            return self._nodes[node]
        except KeyError:
            pass
        items: dict[str, Any] = {"gateway": self.config.name}
        conf = self.config.node(node)
        cals: tuple[Calibration, ...] = ()
        altitude = None
        if conf is not None:
            if conf.name:
                items["name"] = conf.name
            if conf.location:
                items["location"] = conf.location
            for key in ("latitude", "longitude", "altitude"):
                if getattr(conf, key) is not None:
                    items[key] = getattr(conf, key)
            cals = conf.calibrations
            altitude = conf.altitude
        out = _Node(items, cals, frozenset(c.field for c in cals), altitude)
        if len(self._nodes) >= self.remember:
            self._nodes.clear()
        self._nodes[node] = out
        return out

    def calibrated(self, node: int) -> bool:
        """Whether the config gives node calibrations (its values then depend on the time)."""
        return bool(self._node(node).calibrations)

    def node_fields(self, node: int) -> dict[str, Any]:
        """What the config adds to a node's messages: the gateway, the node's name,
        location, latitude, longitude and altitude when it has them, in that order."""
        return self._node(node).items

    def derived(self, values: Mapping[str, float | int], altitude: float | None) -> list[Derived]:
        """The values derived from a reading's plausible (calibrated) values, in
        derived.DERIVED's order: a value out of range derives nothing, so no chart plots
        the dew point of a 412 °C afternoon. altitude: the node's, for sea-level pressure.

        Worked out per group of inputs (derived.derive decides what each allows), each
        group's own inputs the key of what is remembered: a year of a station repeats a
        few thousand (temperature, humidity) pairs, but not of the whole reading.
        """
        out: list[Derived] = []
        t = values.get("temperature")
        rh = values.get("humidity")
        if t is not None and rh is not None:
            out += self._group(_DEW_POINT, None, ("temperature", t), ("humidity", rh))
        p = values.get("pressure")
        if p is not None and t is not None and altitude is not None:
            pt = (("pressure", p), ("temperature", t))
            humid = [("humidity", rh)] if rh is not None else []
            out += self._group(_SEA_LEVEL, altitude, *pt, *humid)
        pm25 = values.get("pm2_5")
        pm10 = values.get("pm10")
        if pm25 is not None or pm10 is not None:
            pms = [("pm2_5", pm25), ("pm10", pm10)]
            out += self._group(_AQ_BANDS, None, *[(n, v) for n, v in pms if v is not None])
        return out

    def _group(
        self, outputs: tuple[str, ...], altitude: float | None, *inputs: tuple[str, float | int]
    ) -> list[Derived]:
        key = (outputs, altitude, *inputs)
        try:
            return self._derived[key]
        except KeyError:
            pass
        made = derived.derive(dict(inputs), altitude)
        got = [Derived(n, made[n], self._item(n, made[n])) for n in outputs if n in made]
        if len(self._derived) >= self.remember:
            self._derived.clear()
        self._derived[key] = got
        return got

    def parts(self, node: int, taken: float, fields: Iterable[tuple[int, int]]) -> Parts:
        """A reading's values as its state message carries them."""
        info = self._node(node)
        good: list[Published] = []
        bad: list[Published] | None = None
        calibrated: dict[str, dict[str, Any]] | None = None
        known = self._fields  # field()'s memory, looked in here first: this runs for every field
        calibrated_fields = info.calibrated_fields
        for pair in fields:
            try:
                f = known[pair]
            except KeyError:
                f = self.field(pair)
            if f is None:
                continue
            if calibrated_fields and f.name in calibrated_fields:
                cal = in_force(info.calibrations, f.name, taken)
                if cal is not None:
                    c = self.calibrated_field(pair, cal)
                    f = c.published
                    if calibrated is None:
                        calibrated = {}
                    calibrated[f.name] = c.record
            if f.plausible:
                good.append(f)
            elif bad is None:
                bad = [f]
            else:
                bad.append(f)
        feeding = {f.name: f.value for f in good if f.feeds}
        made = self.derived(feeding, info.altitude) if feeding else []
        return Parts(good, bad, made, calibrated)

    def keep_parts(self, node: int, taken: float, fields: list[tuple[int, int]]) -> Parts:
        """parts(), kept for message_json() of the same reading (acceptance's, for the MQTT
        upstream's state_json; issue 9). Kept only once message_json() has been asked
        for, and for at most `recent` readings: once that many wait, newer ones are not
        kept, as the upstream takes the oldest first and each it takes makes room. One
        never written out (its commit found it stored already; the gateway stopped with
        it held on a full disk) would stay: once the oldest kept is STALE times `recent`
        readings old, they are all let go."""
        out = self.parts(node, taken, fields)
        if self._keeping:
            self._made += 1
            recent = self._recent
            if len(recent) >= self._recent_max:
                if self._made - next(iter(recent.values()))[2] < STALE * self._recent_max:
                    return out  # a burst's upstream behind: the oldest wait for it
                recent.clear()
            recent[node, taken] = (fields, out, self._made)
        return out

    def message(
        self,
        node: int,
        seq: int,
        taken: float,
        rssi: int | None,
        snr: float | None,
        fields: list[tuple[int, int]],
        qc: str | None = None,
    ) -> dict[str, Any]:
        """The state message of the reading; fields as frames.Frame.fields, qc the
        quality-control flags as stored (Reading.qc)."""
        msg: dict[str, Any] = {
            "id": reading_id(node, seq),
            "node": node,
            "seq": seq,
            "time": self.time(taken),
        }
        msg.update(self.node_fields(node))
        if rssi is not None:
            msg["rssi"] = rssi
        if snr is not None:
            msg["snr"] = snr
        good, bad, made, calibrated = self.parts(node, taken, fields)
        for f in good:
            msg[f.name] = f.value
        for d in made:
            msg[d.name] = d.value
        if bad:
            msg["implausible"] = {f.name: f.value for f in bad}
        if calibrated:
            msg["calibrated"] = calibrated
        if qc:
            msg["qc"] = json.loads(qc)
        return msg

    def message_json(
        self,
        node: int,
        seq: int,
        taken: float,
        rssi: int | None,
        snr: float | None,
        fields: list[tuple[int, int]],
        qc: str | None = None,
    ) -> str:
        """json.dumps(self.message(...), ensure_ascii=False), or compact(self.message(...))
        for wire=True, the same text made faster: from items the encoder wrote once (a
        node's, each field value's, each derived value's), joined as it joins them.
        Export writes millions, the MQTT upstream every reading: 2.3 µs a message here,
        6.1 through the encoder. A node with calibrations, or a reading with flags, takes
        the encoder's way (the rare case, and the one with nested objects)."""
        kept = None
        if self._recent_max:
            self._keeping = True
            if self._recent:  # taken whatever way it is written: each is written once
                kept = self._recent.pop((node, taken), None)
        if node.__class__ is not int or seq.__class__ is not int or qc:
            # a hand-edited store, or flags to carry: the encoder's way
            return self._json(self.message(node, seq, taken, rssi, snr, fields, qc))
        known = self._node_items.get(node)
        if known is None:
            info = self._node(node)
            if info.calibrations:
                return self._json(self.message(node, seq, taken, rssi, snr, fields, qc))
            if len(self._node_items) >= self.remember:
                self._node_items.clear()
            text = self._comma.join(self._item(k, v) for k, v in info.items.items())
            known = self._node_items[node] = (text, info.altitude)
        node_items, altitude = known
        c, sep = self._colon, self._comma
        # The id is digits and a dash, the time digits and -T:Z: nothing to escape.
        items = [
            f'"id"{c}"{reading_id(node, seq)}"{sep}"node"{c}{node}{sep}"seq"{c}{seq}{sep}'
            f'"time"{c}"{self.time(taken)}"{sep}{node_items}'
        ]
        # An int is written as str() writes it, a finite float as repr(): the encoder's
        # own rules, for the two types SQLite gives these columns.
        if rssi is not None:
            items.append(f'"rssi"{c}{rssi}' if rssi.__class__ is int else self._item("rssi", rssi))
        if snr is not None:
            finite = snr.__class__ is float and -_FLOAT_MAX <= snr <= _FLOAT_MAX
            items.append(f'"snr"{c}{snr!r}' if finite else self._item("snr", snr))
        bad = None
        feeding = None
        field = self.field
        if kept is not None and kept[0] is fields:  # this reading's, from parts(): no loop
            good, bad_parts, made, _ = kept[1]
            items += [f.item for f in good]
            items += [d.item for d in made]
            if bad_parts:
                items.append(f'"implausible"{c}{{' + sep.join(f.item for f in bad_parts) + "}")
            return "{" + sep.join(items) + "}"
        for pair in fields:
            f = field(pair)
            if f is None:
                continue
            if f.plausible:
                items.append(f.item)
                if f.feeds:
                    if feeding is None:
                        feeding = {f.name: f.value}
                    else:
                        feeding[f.name] = f.value
            elif bad is None:
                bad = [f.item]
            else:
                bad.append(f.item)
        if feeding is not None:
            for d in self.derived(feeding, altitude):
                items.append(d.item)
        if bad:
            items.append(f'"implausible"{c}{{' + sep.join(bad) + "}")
        return "{" + sep.join(items) + "}"


# state_message's and state_json's StateRows, for the config each was last given (the
# gateway has one).
_ROWS: dict[tuple[int, bool], StateRows] = {}


def _rows(config: Config, *, wire: bool) -> StateRows:
    rows = _ROWS.get((id(config), wire))
    if rows is None or rows.config is not config:
        for key in [k for k in _ROWS if k[1] == wire]:
            del _ROWS[key]
        recent = RECENT if wire else 0
        rows = _ROWS[id(config), wire] = StateRows(
            config, remember=_REMEMBERED_BY_GATEWAY, wire=wire, recent=recent
        )
    return rows


def wire_rows(config: Config) -> StateRows:
    """The StateRows behind state_json(): a reading's parts() worked out here (at
    acceptance, gateway/acceptance_quality.py) are written out by state_json() without
    being worked out again."""
    return _rows(config, wire=True)


def state_message(
    stored: Stored, frame: frames.Frame, config: Config
) -> tuple[str, dict[str, Any]]:
    """(reading id, the reading as <prefix>/<node>/state carries it); also export's row."""
    msg = _rows(config, wire=False).message(
        stored.node, stored.seq, stored.taken, stored.rssi, stored.snr, frame.fields, stored.qc
    )
    return msg["id"], msg


def state_json(stored: Stored, frame: frames.Frame, config: Config) -> str:
    """compact(state_message(...)[1]), the text <prefix>/<node>/state carries, made from
    pieces written once (StateRows.message_json): the MQTT upstream's, for every reading."""
    return _rows(config, wire=True).message_json(
        stored.node, stored.seq, stored.taken, stored.rssi, stored.snr, frame.fields, stored.qc
    )


def compact(msg: Mapping[str, Any]) -> str:
    """A message as the wire carries it: JSON without spaces."""
    return _COMPACT(msg)


def node_stats_message(stats: NodeStats) -> str:
    """<prefix>/<node>/stats."""
    return json.dumps(stats.as_json())


def gateway_stats_message(
    inputs: Mapping[str, InputStats],
    published: int,
    unlisted: Mapping[int, UnlistedNode] | None = None,
    upstreams: Mapping[str, UpstreamStats] | None = None,
) -> str:
    """<prefix>/gateway/<name>/stats: each input's tallies, the readings confirmed, the
    nodes heard but not listed in [nodes] (the most recently heard first, a bounded few),
    and each upstream's own tallies (the readings its destination refused for good, by
    kind), by upstream name."""
    return json.dumps(
        {
            "inputs": {n: vars(s) for n, s in inputs.items()},
            "published": published,
            "unlisted": [u.as_json() for u in (unlisted or {}).values()],
            "upstreams": {n: vars(u) for n, u in (upstreams or {}).items()},
        }
    )
