"""The gateway's configuration: one TOML file, checked whole before anything starts.

Every mistake is reported as one ConfigError naming the file, the key and
what to do, because the person reading it is a technician at a terminal
on a Pi, not the author of the file. deploy/gateway.toml is the commented
example; docs/gateway.md explains each section.

The gateway-wide sections, [gateway], [nodes] and [quality], are read here;
[web] by gateway/web/settings.py.
Each input's and upstream's section is read by that part's own module,
found through the tables in gateway/parts.py, with the Table below.
"""

import datetime
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meteolink.firmware import frames
from meteolink.firmware.frames import MeteolinkError
from meteolink.gateway import parts
from meteolink.gateway.calibration import Calibration
from meteolink.gateway.quality import PERSISTENCE, PLAUSIBLE, STEP
from meteolink.gateway.web.settings import WebSettings
from meteolink.gateway.web.settings import parse as parse_web

DEFAULT_PATH = Path("/etc/meteolink/gateway.toml")
DEFAULT_DATA = Path("/var/lib/meteolink")
_NODE_ID = re.compile(r"^(?:[1-9][0-9]*|0[xX][0-9A-Fa-f]+)$")  # [nodes.N]: decimal or 0x hex
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # safe in MQTT topics and Home Assistant ids
# Public air-quality maps (gateway/public_maps.py): a sensor.community sensor is its
# board's kind and chip id ("esp8266-12345678", "raspi-00000000abcdef01"), as the
# X-Sensor header carries it; openSenseMap's ids are MongoDB ObjectIds, 24 hex digits.
_SENSOR_COMMUNITY_ID = re.compile(r"^[a-z][a-z0-9]*-[A-Za-z0-9]{1,40}$")
_OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")


class ConfigError(MeteolinkError):
    """The configuration cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class OpenSenseMapBox:
    """A node's [nodes.N.opensensemap] table: its senseBox, the box's access token, and
    which of the box's sensors takes which of the node's values (gateway/public_maps.py)."""

    box: str  # the senseBox id, 24 hexadecimal digits
    token: str | None = field(default=None, repr=False)  # the box's access_token; a secret
    sensors: tuple[tuple[str, str], ...] = ()  # (meteolink field, openSenseMap sensor id)


@dataclass(frozen=True)
class NodeConfig:
    """One [nodes.N] table: what the gateway knows of node N before it hears it."""

    name: str | None = None
    location: str | None = None
    key: bytes | None = field(default=None, repr=False)  # never in logs or reprs
    interval: float = 600.0  # seconds between the node's readings, for offline detection
    # Station metadata (issue 12): where the sensors are, for people, for formats
    # that carry a position, and for derived values (sea-level pressure needs altitude).
    latitude: float | None = None  # degrees north, WGS 84
    longitude: float | None = None  # degrees east, WGS 84
    altitude: float | None = None  # metres above sea level of the station (its barometer)
    exposure: str | None = None  # "outdoor" or "indoor"
    sensor_height: float | None = None  # metres above the ground
    notes: str | None = None
    # Each field's calibrations, oldest first (gateway/calibration.py).
    calibrations: tuple[Calibration, ...] = ()
    # Public air-quality maps, per node opt-in (issue 13): a node without them is never
    # sent there. sensor.community's X-Sensor; openSenseMap's box, token and sensors.
    sensor_community_id: str | None = None
    opensensemap: OpenSenseMapBox | None = None


@dataclass(frozen=True)
class Config:
    """The gateway-wide settings, and each input's and upstream's by the part's name.

    parts holds what each part's parse() made of its section (gateway/parts.py);
    a part absent or None there is not asked for.
    """

    name: str = "gateway"
    data: Path = DEFAULT_DATA
    # "reject": only nodes listed in [nodes] are stored; the rest are only
    # remembered, a bounded few (gateway/stats.py Unlisted). "accept": any
    # node heard is stored, for a lab (anyone in radio range can add nodes).
    unknown_nodes: str = "reject"
    retention_days: float = 90.0
    commit_interval: float = 0.05  # the shortest time between two commits (gateway/commit.py)
    offline_after: float = 3.0  # node intervals of silence before it is reported offline
    nodes: Mapping[int, NodeConfig] = field(default_factory=dict)
    plausible: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(PLAUSIBLE))
    # Time-consistency limits (gateway/quality.py): the largest change a minute,
    # and the least change (and over how many minutes) a working sensor shows.
    step: Mapping[str, float] = field(default_factory=lambda: dict(STEP))
    persistence: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: dict(PERSISTENCE)
    )
    parts: Mapping[str, object] = field(default_factory=dict)  # name -> that part's settings
    web: WebSettings = field(default_factory=WebSettings)  # the status page; off by default
    source: str = "(defaults)"  # the file it came from, for messages

    def node(self, node: int) -> NodeConfig | None:
        return self.nodes.get(node)


class Table:
    """A TOML table read key by key, so that every error can say which file and key.

    Each part's parse() reads its section with one: get() a value of a kind,
    number() in a range, table() or tables() for what is nested, error() for
    a problem found after reading, and finish() once every key was read, to
    turn a misspelt key into an error rather than a silently ignored setting.
    Every error is one ConfigError, "<file>: <where><key>: <problem>".
    """

    def __init__(self, data: Mapping[str, Any], where: str, source: str) -> None:
        self.data = data
        self.where = where  # the keys' prefix in messages: "" at the top, "mqtt." below
        self.source = source  # the file, for messages
        self.used: set[str] = set()

    def error(self, key: str, problem: str) -> ConfigError:
        """The error to raise for key, problem saying what is wrong and what to give."""
        return ConfigError(f"{self.source}: {self.where}{key}: {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any, what: str) -> Any:
        """key's value, default if absent; what names the kind expected, for the message."""
        self.used.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        # A secret's value is never echoed: a password written as a number, unquoted,
        # would otherwise be in the journal. Its TOML kind says enough.
        problem = f"{_kind(value) if key in SECRET_KEYS else repr(value)} is not {what}"
        if key in SECRET_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
            problem += " (write it in quotes)"
        # TOML booleans are not numbers here, though Python thinks bool is an int.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.error(key, problem)
        if not isinstance(value, kind):
            raise self.error(key, problem)
        return value

    def number(self, key: str, default: float, *, low: float, high: float) -> float:
        """key's value as a float from low to high."""
        value = float(self.get(key, (int, float), default, "a number"))
        if not low <= value <= high:
            raise self.error(key, f"{value:g} is out of range (give {low:g} to {high:g})")
        return value

    def table(self, key: str) -> "Table":
        """The table [key], empty if absent; its errors name "key.<its key>"."""
        value = self.get(key, dict, {}, "a table")
        return Table(value, f"{self.where}{key}.", self.source)

    def tables(self, key: str, what: str) -> list["Table"]:
        """The array of tables [[key]], each one `what` (a port); errors name "key[i]."."""
        entries = self.get(key, list, [], f"a list of [[{key}]] tables")
        found = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise self.error(f"{key}[{i}]", f"write each {what} as a [[{key}]] table")
            found.append(Table(entry, f"{self.where}{key}[{i}].", self.source))
        return found

    def finish(self) -> None:
        """Raise for the first key nobody read: misspelt, or in the wrong section."""
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(
                unknown[0], "unknown key (check its spelling against deploy/gateway.toml)"
            )


# The keys whose values are secrets wherever they are: node keys, passwords, tokens.
SECRET_KEYS = frozenset({"key", "password", "token"})


def _kind(value: object) -> str:
    """What a TOML value is, in words, without the value: for a secret's message."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "a date or time" if not isinstance(value, str) else "a string"


def load(path: Path | None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read the config file (None: defaults only) and apply command-line overrides.

    overrides: "data" (directory), and a part's name for its command-line value,
    given to its parse(): "serial" (list of port paths), "mqtt" (URL).
    Imports every part's module, none of their optional packages.
    """
    source = str(path) if path is not None else "(command line)"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError as e:
            raise ConfigError(f"{path}: no such file (give --config FILE)") from e
        except PermissionError as e:
            raise ConfigError(f"{path}: permission denied (run as the meteolink user)") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from e
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: cannot read it: {e}") from e
    config = _parse(data, source, dict(overrides or {}))
    if path is not None:
        _check_mode(path, data)
    return config


def _secrets(table: Mapping[str, Any], where: str = "") -> list[str]:
    """The keys of a parsed TOML file that hold secrets: node keys, passwords, tokens
    (an HTTP upstream's, an openSenseMap box's), and URLs that carry a password."""
    found = []
    for key, value in table.items():
        if isinstance(value, Mapping):
            found += _secrets(value, f"{where}{key}.")
        elif isinstance(value, list):  # [[lorawan]] tables hold passwords too
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    found += _secrets(item, f"{where}{key}[{i}].")
        elif key in SECRET_KEYS or (
            isinstance(value, str) and re.match(r"^[a-z][a-z0-9+.-]*://[^/@:]*:[^/@]*@", value)
        ):
            found.append(where + key)
    return found


def _check_mode(path: Path, data: Mapping[str, Any]) -> None:
    """Refuse a file with secrets that others may read or change, as ssh does a key.

    Node keys are what make a forged frame fail its MIC; a broker password
    lets anyone publish as the gateway. A file others can write lets them
    change both.
    """
    secrets = _secrets(data)
    if not secrets:
        return
    mode = path.stat().st_mode
    fix = f"chmod 640 {path}; the service reads it through its group: chgrp meteolink {path}"
    if mode & 0o022:
        raise ConfigError(f"{path}: holds {secrets[0]} and others may change it ({fix})")
    if mode & 0o004:
        raise ConfigError(f"{path}: holds {secrets[0]} and every user may read it ({fix})")


def _parse(data: Mapping[str, Any], source: str, overrides: dict[str, Any]) -> Config:
    top = Table(data, "", source)
    gw = top.table("gateway")
    name = gw.get("name", str, "gateway", "a string")
    if not _NAME.match(name):
        raise gw.error("name", f"{name!r}: use 1 to 64 letters, digits, '-' or '_'")
    data_dir = Path(gw.get("data", str, str(DEFAULT_DATA), "a directory path"))
    unknown = gw.get("unknown_nodes", str, "reject", "a string")
    if unknown not in ("accept", "reject"):
        raise gw.error("unknown_nodes", f'{unknown!r}: give "accept" or "reject"')
    retention = gw.number("retention_days", 90.0, low=1, high=36500)
    commit_interval = gw.number("commit_interval", 0.05, low=0.01, high=60)
    offline_after = gw.number("offline_after", 3.0, low=1, high=1000)
    gw.finish()

    # Each input's and upstream's section, read by its own module: the tables
    # are the one list of parts, so a section no row names is an unknown key.
    settings: dict[str, object] = {}
    for part_name, part in (*parts.INPUTS.items(), *parts.UPSTREAMS.items()):
        settings[part_name] = parts.module(part).parse(
            top, part.section or part_name, overrides.get(part_name)
        )
    nodes = _nodes(top)
    plausible, step, persistence = _quality(top)
    web = parse_web(top)
    top.finish()

    if overrides.get("data"):
        data_dir = Path(overrides["data"])
    return Config(
        name=name,
        data=data_dir,
        unknown_nodes=unknown,
        retention_days=retention,
        commit_interval=commit_interval,
        offline_after=offline_after,
        nodes=nodes,
        plausible=plausible,
        step=step,
        persistence=persistence,
        parts=settings,
        web=web,
        source=source,
    )


def _nodes(top: Table) -> dict[int, NodeConfig]:
    nodes_t = top.table("nodes")
    nodes = {}
    named: dict[int, str] = {}
    for key in list(nodes_t.data):
        # Decimal, or hex with 0x; not the rest of what Python's int() reads
        # ("1_0" is 10, "0b11" is 3), so that two keys cannot name one node unseen.
        node = int(key, 0) if _NODE_ID.match(key) else -1
        if not 1 <= node <= frames.MAX_NODE:
            raise nodes_t.error(
                key,
                f"not a node id (give [nodes.N], N from 1 to {frames.MAX_NODE}, or 0x1 to"
                f" 0x{frames.MAX_NODE:X})",
            )
        if node in named:
            raise nodes_t.error(
                key, f"node {node} is also [nodes.{named[node]}] (give each node once)"
            )
        named[node] = key
        t = nodes_t.table(key)
        hexkey = t.get("key", str, None, "32 hexadecimal digits")
        key_bytes = None
        if hexkey is not None:
            try:
                key_bytes = bytes.fromhex(hexkey)
            except ValueError:
                key_bytes = b""
            if len(key_bytes) != frames.KEY_SIZE:
                # The message must not echo the key, wrong as it may be.
                raise t.error("key", "not 32 hexadecimal digits (copy it from the provisioning)")
        nodes[node] = NodeConfig(
            name=t.get("name", str, None, "a string"),
            location=t.get("location", str, None, "a string"),
            key=key_bytes,
            interval=t.number("interval", 600, low=1, high=7 * 86400),
            latitude=_optional_number(t, "latitude", low=-90, high=90),
            longitude=_optional_number(t, "longitude", low=-180, high=180),
            altitude=_optional_number(t, "altitude", low=-500, high=9000),
            exposure=_exposure(t),
            sensor_height=_optional_number(t, "sensor_height", low=0, high=500),
            notes=t.get("notes", str, None, "a string"),
            calibrations=_calibrations(t),
            sensor_community_id=_sensor_community_id(t),
            opensensemap=_opensensemap(t),
        )
        t.finish()
    nodes_t.finish()
    return nodes


def _sensor_community_id(t: Table) -> str | None:
    """sensor_community_id: the X-Sensor of the sensor registered for this node."""
    found: str | None = t.get("sensor_community_id", str, None, "a string")
    if found is not None and not _SENSOR_COMMUNITY_ID.match(found):
        raise t.error(
            "sensor_community_id",
            f"{found!r} is not a sensor.community sensor (give its board and chip id as"
            ' registered at devices.sensor.community, e.g. "raspi-00000000abcdef01")',
        )
    return found


# What a node may send to an openSenseMap sensor: a number in the state message
# (a measured field, or a numeric derived value). The AQ bands are words.
_NOT_NUMBERS = ("status", "age")
_DERIVED_NUMBERS = ("dew_point", "sea_level_pressure")


def _opensensemap(node: Table) -> OpenSenseMapBox | None:
    """[nodes.N.opensensemap]: box, token and sensors = {field = "sensor id", ...}."""
    if "opensensemap" not in node.data:
        return None
    t = node.table("opensensemap")
    box = t.get("box", str, None, "a senseBox id (24 hexadecimal digits)")
    token = t.get("token", str, None, "the box's access token")
    sensors_t = t.table("sensors")
    t.finish()
    if box is None:
        raise t.error("box", "missing (give the senseBox id from openSenseMap's box page)")
    if not _OBJECT_ID.match(box):
        raise t.error("box", f"{box!r} is not a senseBox id (give its 24 hexadecimal digits)")
    if token is not None and not token.strip():
        raise t.error("token", "empty (give the box's access token, or remove the key)")
    sensors = []
    for name in list(sensors_t.data):
        if name not in _DERIVED_NUMBERS:
            _field(sensors_t, name, name)
            if name in _NOT_NUMBERS:
                raise sensors_t.error(name, "not a measurement (map what a sensor reads)")
        sensor = sensors_t.get(name, str, None, "an openSenseMap sensor id (24 hex digits)")
        if not _OBJECT_ID.match(sensor):
            raise sensors_t.error(
                name, f"{sensor!r} is not a sensor id (give its 24 hexadecimal digits)"
            )
        sensors.append((name, sensor))
    sensors_t.finish()
    if not sensors:
        raise t.error(
            "sensors",
            'missing (map at least one field to a sensor: sensors = {pm2_5 = "<sensor id>"})',
        )
    return OpenSenseMapBox(box=box, token=token, sensors=tuple(sensors))


def _optional_number(t: Table, key: str, *, low: float, high: float) -> float | None:
    """key's value from low to high, None when absent."""
    return t.number(key, 0.0, low=low, high=high) if key in t.data else None


def _exposure(t: Table) -> str | None:
    exposure: str | None = t.get("exposure", str, None, "a string")
    if exposure not in (None, "outdoor", "indoor"):
        raise t.error("exposure", f'{exposure!r}: give "outdoor" or "indoor"')
    return exposure


def _field(t: Table, key: str, name: object) -> str:
    """name, checked to be a field's name; the error names key."""
    if isinstance(name, str):
        try:
            frames.field_id(name)
            return name
        except frames.MeteolinkError:
            pass
    raise t.error(key, f"{name!r} is not a field name (see `meteolink fields`)")


def _since(t: Table) -> float:
    """The "from" of a calibration: a TOML date (that day, 00:00 UTC) or an offset
    date-time, as Unix time."""
    value = t.get("from", (datetime.date, datetime.datetime), None, "a date (2026-11-01)")
    if value is None:
        raise t.error("from", "missing (give the date it applies from: from = 2026-11-01)")
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise t.error(
                "from", f"{value.isoformat()} has no time zone (add Z for UTC, or +02:00)"
            )
        return value.timestamp()
    return datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC).timestamp()


def _calibrations(node: Table) -> tuple[Calibration, ...]:
    """[[nodes.N.calibration]]: each field's offset and factor from a date, oldest first."""
    found: list[Calibration] = []
    dates: dict[tuple[str, float], int] = {}
    for i, t in enumerate(node.tables("calibration", "calibration")):
        if "field" not in t.data:
            raise t.error("field", 'missing (give the field it corrects: field = "temperature")')
        name = _field(t, "field", t.get("field", str, None, "a field name"))
        if name in ("status", "age"):
            raise t.error("field", f"{name!r} is not a measurement (calibrate what a sensor reads)")
        since = _since(t)
        offset = t.number("offset", 0.0, low=-1e6, high=1e6)
        factor = t.number("factor", 1.0, low=-1e6, high=1e6)
        t.finish()  # a misspelt key is named as such, not as a missing offset
        if "offset" not in t.data and "factor" not in t.data:
            raise t.error(
                "offset", "give offset, factor or both (calibrated = raw * factor + offset)"
            )
        if factor == 0:
            raise t.error("factor", "0 would turn every reading into the offset (give e.g. 1.02)")
        if (name, since) in dates:
            raise t.error(
                "from",
                f"{name} is also calibrated from that time in calibration[{dates[name, since]}]"
                " (give each calibration of a field its own date)",
            )
        dates[name, since] = i
        found.append(Calibration(name, since, offset, factor))
    return tuple(sorted(found, key=lambda c: (c.field, c.since)))


def _quality(
    top: Table,
) -> tuple[dict[str, tuple[float, float]], dict[str, float], dict[str, tuple[float, float]]]:
    """[quality] field = [low, high]; [quality.step] field = change a minute;
    [quality.persistence] field = [change, minutes]. Each overrides the default
    of its field (gateway/quality.py); 0 turns a step or persistence check off."""
    t = top.table("quality")
    step = dict(STEP)
    steps = t.table("step")
    for key in list(steps.data):
        _field(steps, key, key)
        limit = steps.number(key, 0.0, low=0, high=1e6)
        if limit:
            step[key] = limit
        else:
            step.pop(key, None)
    steps.finish()
    persistence = dict(PERSISTENCE)
    stuck = t.table("persistence")
    for key in list(stuck.data):
        _field(stuck, key, key)
        pair = stuck.get(key, list, None, "a list [change, minutes]")
        if (
            len(pair) != 2
            or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in pair)
            or pair[0] < 0
            or not 0 < pair[1] <= 10080
        ):
            raise stuck.error(
                key, f"{pair!r}: give [change, minutes], change 0 or more, 1 to 10080 minutes"
            )
        if pair[0]:
            persistence[key] = (float(pair[0]), float(pair[1]))
        else:
            persistence.pop(key, None)
    stuck.finish()
    limits = dict(PLAUSIBLE)
    for key in list(t.data):
        if key in ("step", "persistence"):
            continue
        bounds = t.get(key, list, None, "a list [low, high]")
        try:
            frames.field_id(key)
        except frames.MeteolinkError:
            raise t.error(key, "not a field name (see `meteolink fields`)") from None
        if (
            len(bounds) != 2
            or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
            or bounds[0] >= bounds[1]
        ):
            raise t.error(key, f"{bounds!r}: give [low, high] with low below high")
        limits[key] = (float(bounds[0]), float(bounds[1]))
    t.finish()
    return limits, step, persistence
