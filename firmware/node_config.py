"""The node's configuration: config.json on its filesystem, checked at boot.

Runs on the node and in CPython (the provisioning tool checks a file before
it copies it, with this same code). A file that is wrong is refused whole
with one message naming the key, what was expected and what was found:
a technician reads it in mpremote's REPL after the node stayed awake.

The sensors it accepts are the rows of the sensor catalogue (catalogue.py).

Example (only "node" is required):
    {"node": 17, "interval_s": 600, "sensors": ["bme280", "battery"],
     "transport": "lora", "lora": {"freq_hz": 868100000, "sf": 9}}
"""

import json

try:  # CPython: inside the meteolink package
    from meteolink.firmware import catalogue, frames  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # the node
    import catalogue  # type: ignore[import-not-found, no-redef, unused-ignore]
    import frames  # type: ignore[import-not-found, no-redef, unused-ignore]

TYPE_CHECKING = False  # mypy takes this name as True; on the node it costs one global
if TYPE_CHECKING:
    from typing import Any


def _check_channel(freq_hz: int, bw_hz: int) -> None:
    """ValueError unless the channel lies in one EU868 sub-band (dutycycle.py,
    imported only by LoRa nodes, which carry it anyway)."""
    try:
        from meteolink.firmware.dutycycle import band  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        from dutycycle import band  # type: ignore[import-not-found, no-redef, unused-ignore]
    band(freq_hz, bw_hz)


TRANSPORTS = ("uart", "lora", "ble")
ROLES = ("node", "bridge")


class ConfigError(frames.MeteolinkError):  # type: ignore[misc, unused-ignore]
    """config.json is wrong; the message says where and what to write."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__("config.json: %s: %s" % (key, problem))
        self.key = key


def _int(
    d: "dict[str, Any]",
    key: str,
    low: int,
    high: int,
    default: int | None,
    unit: str = "",
    where: str = "",
) -> int:
    v = d.get(key, default)
    if v is None:
        raise ConfigError(
            where + key, "missing: an integer %d..%d%s is required" % (low, high, unit)
        )
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise ConfigError(
            where + key, "expected an integer %d..%d%s, got %r" % (low, high, unit, v)
        )
    return v


def _choice(d: "dict[str, Any]", key: str, choices: "tuple[str, ...]", default: str) -> str:
    v = d.get(key, default)
    if v not in choices:
        raise ConfigError(key, "expected one of %s, got %r" % (", ".join(choices), v))
    return str(v)


def _bool(d: "dict[str, Any]", key: str, default: bool) -> bool:
    v = d.get(key, default)
    if not isinstance(v, bool):
        raise ConfigError(key, "expected true or false, got %r" % (v,))
    return v


def _only(d: "dict[str, Any]", allowed: "tuple[str, ...]", where: str) -> None:
    for k in d:
        if k not in allowed:
            raise ConfigError(
                where + k, "unknown key (known: %s); check its spelling" % ", ".join(allowed)
            )


class Sensor:
    """One configured sensor: its type and, for I2C ones, its address."""

    def __init__(self, kind: str, address: int | None) -> None:
        self.kind = kind
        self.address = address


def _sensors(value: object) -> list[Sensor]:
    if not isinstance(value, list):
        raise ConfigError("sensors", 'expected a list such as ["bme280", "battery"]')
    out: list[Sensor] = []
    for i, item in enumerate(value):
        where = "sensors[%d]" % i
        if isinstance(item, str):
            item = {"type": item}
        if not isinstance(item, dict):
            raise ConfigError(where, 'expected a sensor name or {"type": ..., "address": ...}')
        _only(item, ("type", "address"), where + ".")
        kind = item.get("type")
        if kind not in catalogue.SENSORS:
            raise ConfigError(
                where,
                "unknown sensor %r (known: %s)" % (kind, ", ".join(sorted(catalogue.SENSORS))),
            )
        row = catalogue.SENSORS[kind]
        default = row[catalogue.ADDRESS]
        address = None
        if default is not None:
            address = _int(item, "address", 0x08, 0x77, default, "", where + ".")
        elif "address" in item:
            raise ConfigError(where + ".address", "%s is not an I2C sensor" % kind)
        if any(s.kind == kind for s in out):
            raise ConfigError(where, "%s is listed twice" % kind)
        if row[catalogue.BUS] == "uart" and any(
            catalogue.SENSORS[s.kind][catalogue.BUS] == "uart" for s in out
        ):
            raise ConfigError(where, "one PM sensor per node: the board has one UART for it")
        out.append(Sensor(str(kind), address))
    return out


class Lora:
    """Radio settings. EU868: the frequency must lie in a sub-band the
    duty-cycle limiter knows, which the limiter itself checks at boot."""

    def __init__(self, d: "dict[str, Any]") -> None:
        _only(d, ("freq_hz", "sf", "bw_khz", "cr", "power_dbm", "max_wait_s"), "lora.")
        self.freq_hz = _int(d, "freq_hz", 863000000, 870000000, 868100000, " Hz (EU868)", "lora.")
        self.sf = _int(d, "sf", 7, 12, 9, "", "lora.")
        self.bw_khz = _int(d, "bw_khz", 125, 500, 125, " kHz", "lora.")
        if self.bw_khz not in (125, 250, 500):
            raise ConfigError("lora.bw_khz", "expected 125, 250 or 500, got %d" % self.bw_khz)
        self.cr = _int(d, "cr", 5, 8, 5, " (coding rate 4/5..4/8)", "lora.")
        # 14 dBm is the most a 25 mW ERP sub-band allows with a 0 dBi antenna.
        self.power_dbm = _int(d, "power_dbm", 2, 14, 14, " dBm", "lora.")
        self.max_wait_s = _int(d, "max_wait_s", 0, 3600, 60, " s", "lora.")
        if self.freq_hz % 1000:
            raise ConfigError("lora.freq_hz", "the radio takes whole kHz, got %d Hz" % self.freq_hz)

    def check_channel(self) -> None:
        try:
            # The whole channel must lie in one EU868 sub-band, or the node's
            # duty-cycle limiter refuses every frame.
            _check_channel(self.freq_hz, self.bw_khz * 1000)
        except ValueError as exc:
            raise ConfigError("lora.freq_hz", "%s (see docs/lora.md)" % exc)


class Config:
    """The checked configuration. Build it with parse() or load()."""

    def __init__(self, d: "dict[str, Any]") -> None:
        _only(
            d,
            (
                "node",
                "key",
                "interval_s",
                "sensors",
                "transport",
                "lora",
                "ack",
                "backlog",
                "low_battery_mv",
                "low_battery_factor",
                "low_battery_skip",
                "checkpoint_every",
                "maintenance_s",
                "role",
            ),
            "",
        )
        self.node = _int(d, "node", 1, frames.MAX_NODE, None)
        key = d.get("key")
        self.key: bytes | None = None
        if key is not None:
            try:
                self.key = bytes.fromhex(key)
            except (TypeError, ValueError):
                self.key = b""
            if len(self.key) != frames.KEY_SIZE:
                raise ConfigError("key", "expected %d hex digits, or null" % (2 * frames.KEY_SIZE))
        self.interval_s = _int(d, "interval_s", 30, 86400, 600, " s")
        self.sensors = _sensors(d.get("sensors", ["bme280", "battery"]))
        self.transport = _choice(d, "transport", TRANSPORTS, "uart")
        lora = d.get("lora") or {}
        if not isinstance(lora, dict):
            raise ConfigError("lora", 'expected {"freq_hz": ..., "sf": ...}, got %r' % (lora,))
        self.lora = Lora(lora)
        if self.transport == "lora":
            self.lora.check_channel()
        self.ack = _bool(d, "ack", False)
        if self.ack and self.transport == "ble":
            raise ConfigError("ack", "a BLE node cannot hear acknowledgements: set false")
        # Readings kept for resending while no acknowledgement comes back.
        self.backlog = _int(d, "backlog", 0, 16, 8 if self.ack else 0)
        self.low_battery_mv = _int(d, "low_battery_mv", 0, 20000, 0, " mV (0: never)")
        self.low_battery_factor = _int(d, "low_battery_factor", 1, 24, 3)
        skip = d.get("low_battery_skip")
        if skip is None:
            skip = [s.kind for s in self.sensors if catalogue.SENSORS[s.kind][catalogue.HUNGRY]]
        if not isinstance(skip, list) or any(k not in catalogue.SENSORS for k in skip):
            raise ConfigError("low_battery_skip", "expected a list of sensor names")
        self.low_battery_skip = skip
        # Frames between counter checkpoints in flash, and the jump ahead
        # after a cold boot: flash is written once per this many frames.
        self.checkpoint_every = _int(d, "checkpoint_every", 16, 4096, 256)
        self.maintenance_s = _int(d, "maintenance_s", 0, 60, 5, " s")
        self.role = _choice(d, "role", ROLES, "node")
        if self.role == "bridge" and self.transport != "lora":
            raise ConfigError("role", 'a bridge listens on LoRa: set "transport": "lora"')


def parse(text: str) -> Config:
    try:
        d = json.loads(text)
    except ValueError as exc:
        raise ConfigError("(file)", "not valid JSON (%s)" % exc)
    if not isinstance(d, dict):
        raise ConfigError("(file)", "expected a JSON object {...}")
    return Config(d)


def load(path: str = "config.json") -> Config:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError("(file)", "cannot read %s (%s): provision the node" % (path, exc))
    return parse(text)
