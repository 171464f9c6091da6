"""The gateway's configuration: one TOML file, checked whole before anything starts.

Every mistake is reported as one ConfigError naming the file, the key and
what to do, because the person reading it is a technician at a terminal
on a Pi, not the author of the file. deploy/gateway.toml is the commented
example; docs/gateway.md explains each section.
"""

import re
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meteolink.firmware import frames
from meteolink.firmware.frames import MeteolinkError
from meteolink.gateway.quality import PLAUSIBLE

DEFAULT_PATH = Path("/etc/meteolink/gateway.toml")
DEFAULT_DATA = Path("/var/lib/meteolink")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # safe in MQTT topics and Home Assistant ids


class ConfigError(MeteolinkError):
    """The configuration cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class SerialPort:
    port: str
    baud: int = 115200


@dataclass(frozen=True)
class Ble:
    enabled: bool = False
    adapter: str | None = None
    company_id: int = 0xFFFF


@dataclass(frozen=True)
class Mqtt:
    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    prefix: str = "meteolink"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"

    @property
    def name(self) -> str:
        """The upstream's name in the store's cursors: one per broker."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def label(self) -> str:
        """The broker as log lines name it, TLS shown."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class NodeConfig:
    """One [nodes.N] table: what the gateway knows of node N before it hears it."""

    name: str | None = None
    location: str | None = None
    key: bytes | None = field(default=None, repr=False)  # never in logs or reprs
    interval: float = 600.0  # seconds between the node's readings, for offline detection


@dataclass(frozen=True)
class Config:
    name: str = "gateway"
    data: Path = DEFAULT_DATA
    unknown_nodes: str = "accept"  # or "reject": only nodes listed in [nodes] are stored
    retention_days: float = 90.0
    commit_interval: float = 1.0
    offline_after: float = 3.0  # node intervals of silence before it is reported offline
    serial: tuple[SerialPort, ...] = ()
    ble: Ble = Ble()
    mqtt: Mqtt | None = None
    nodes: Mapping[int, NodeConfig] = field(default_factory=dict)
    plausible: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(PLAUSIBLE))
    source: str = "(defaults)"  # the file it came from, for messages

    def node(self, node: int) -> NodeConfig | None:
        return self.nodes.get(node)


class _Table:
    """A TOML table read key by key, so that every error can say which key."""

    def __init__(self, data: Mapping[str, Any], where: str, source: str) -> None:
        self.data = data
        self.where = where
        self.source = source
        self.used: set[str] = set()

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.where}{key}: {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any, what: str) -> Any:
        self.used.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        # TOML booleans are not numbers here, though Python thinks bool is an int.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.error(key, f"{value!r} is not {what}")
        if not isinstance(value, kind):
            raise self.error(key, f"{value!r} is not {what}")
        return value

    def number(self, key: str, default: float, *, low: float, high: float) -> float:
        value = float(self.get(key, (int, float), default, "a number"))
        if not low <= value <= high:
            raise self.error(key, f"{value:g} is out of range (give {low:g} to {high:g})")
        return value

    def table(self, key: str) -> "_Table":
        value = self.get(key, dict, {}, "a table")
        return _Table(value, f"{self.where}{key}.", self.source)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(
                unknown[0], "unknown key (check its spelling against deploy/gateway.toml)"
            )


def load(path: Path | None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read the config file (None: defaults only) and apply command-line overrides.

    overrides: "serial" (list of port paths), "mqtt" (URL), "data" (directory).
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
    return _parse(data, source, dict(overrides or {}))


def _parse(data: Mapping[str, Any], source: str, overrides: dict[str, Any]) -> Config:
    top = _Table(data, "", source)
    gw = top.table("gateway")
    name = gw.get("name", str, "gateway", "a string")
    if not _NAME.match(name):
        raise gw.error("name", f"{name!r}: use 1 to 64 letters, digits, '-' or '_'")
    data_dir = Path(gw.get("data", str, str(DEFAULT_DATA), "a directory path"))
    unknown = gw.get("unknown_nodes", str, "accept", "a string")
    if unknown not in ("accept", "reject"):
        raise gw.error("unknown_nodes", f'{unknown!r}: give "accept" or "reject"')
    retention = gw.number("retention_days", 90.0, low=1, high=36500)
    commit_interval = gw.number("commit_interval", 1.0, low=0.01, high=60)
    offline_after = gw.number("offline_after", 3.0, low=1, high=1000)
    gw.finish()

    serial = _serial(top, source)
    ble_t = top.table("ble")
    ble = Ble(
        enabled=ble_t.get("enabled", bool, False, "true or false"),
        adapter=ble_t.get("adapter", str, None, "an adapter name such as hci0"),
        company_id=int(ble_t.number("company_id", 0xFFFF, low=0, high=0xFFFF)),
    )
    ble_t.finish()
    mqtt = _mqtt(top, overrides.get("mqtt"), source)
    nodes = _nodes(top)
    plausible = _quality(top)
    top.finish()

    if overrides.get("serial"):
        serial = tuple(SerialPort(port) for port in overrides["serial"])
    if overrides.get("data"):
        data_dir = Path(overrides["data"])
    return Config(
        name=name,
        data=data_dir,
        unknown_nodes=unknown,
        retention_days=retention,
        commit_interval=commit_interval,
        offline_after=offline_after,
        serial=serial,
        ble=ble,
        mqtt=mqtt,
        nodes=nodes,
        plausible=plausible,
        source=source,
    )


def _serial(top: _Table, source: str) -> tuple[SerialPort, ...]:
    entries = top.get("serial", list, [], "a list of [[serial]] tables")
    ports = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise top.error(f"serial[{i}]", "write each port as a [[serial]] table")
        t = _Table(entry, f"serial[{i}].", source)
        port = t.get("port", str, None, "a device path")
        if not port:
            raise t.error("port", "missing (give a path such as /dev/serial/by-id/...)")
        baud = int(t.number("baud", 115200, low=300, high=4_000_000))
        t.finish()
        ports.append(SerialPort(port, baud))
    return tuple(ports)


def parse_mqtt_url(url: str) -> tuple[str, int, bool, str | None, str | None]:
    """mqtt://[user[:password]@]host[:port] or mqtts://… -> (host, port, tls, user, password)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"{url!r}: give mqtt://host[:port] or mqtts://host[:port]")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as e:
        raise ValueError(f"{url!r}: the port is not a number from 1 to 65535") from e
    user = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    return parts.hostname, port, tls, user, password


def _mqtt(top: _Table, url_override: str | None, source: str) -> Mqtt | None:
    t = top.table("mqtt")
    url = t.get("url", str, None, "a URL such as mqtt://broker.example:1883")
    if url_override:
        url, where = url_override, "--mqtt"
    else:
        where = f"{source}: mqtt.url"
    username = t.get("username", str, None, "a string")
    password = t.get("password", str, None, "a string")
    ca_file = t.get("ca_file", str, None, "a file path")
    prefix = t.get("prefix", str, "meteolink", "a topic prefix")
    discovery = t.get("discovery", bool, True, "true or false")
    discovery_prefix = t.get("discovery_prefix", str, "homeassistant", "a topic prefix")
    t.finish()
    for key, value in (("prefix", prefix), ("discovery_prefix", discovery_prefix)):
        if not value or any(c in value for c in "+#\0") or value.startswith("/"):
            raise t.error(key, f"{value!r}: give a topic prefix without '+', '#' or a leading '/'")
    if url is None:
        return None
    try:
        host, port, tls, url_user, url_password = parse_mqtt_url(url)
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from e
    if ca_file is not None and not Path(ca_file).is_file():
        raise t.error("ca_file", f"{ca_file}: no such file (give the CA certificate's path)")
    return Mqtt(
        host=host,
        port=port,
        tls=tls,
        username=url_user or username,
        password=url_password or password,
        ca_file=Path(ca_file) if ca_file else None,
        prefix=prefix.rstrip("/"),
        discovery=discovery,
        discovery_prefix=discovery_prefix.rstrip("/"),
    )


def _nodes(top: _Table) -> dict[int, NodeConfig]:
    nodes_t = top.table("nodes")
    nodes = {}
    for key in list(nodes_t.data):
        try:
            node = int(key, 0)
        except ValueError:
            node = -1
        if not 1 <= node <= frames.MAX_NODE:
            raise nodes_t.error(
                key, f"not a node id (give [nodes.N], N from 1 to {frames.MAX_NODE})"
            )
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
        )
        t.finish()
    nodes_t.finish()
    return nodes


def _quality(top: _Table) -> dict[str, tuple[float, float]]:
    t = top.table("quality")
    limits = dict(PLAUSIBLE)
    for key in list(t.data):
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
    return limits
