"""Home Assistant MQTT discovery configs for meteolink nodes. Pure functions, no I/O.

discovery() gives, for one node, the (topic, payload) pairs to publish retained
so that Home Assistant creates one sensor per field the node sends; removal()
gives the empty retained payloads that delete them again. The caller publishes.

Decisions, and the Home Assistant (HA) behaviour behind them:

- Ids come from the node number, never from its name. HA accepts only
  [a-zA-Z0-9_-] in the discovery topic ("Received message on illegal discovery
  topic"), and entity ids must be lowercase slugs; names from the config such
  as "Cēsis skola / jumts" are shown, never parsed. safe_id() is for the one id
  that has no number: a gateway's.
- A node's device names the gateway that announced it as its via_device, so
  Home Assistant shows each station under its gateway ("Connected via"),
  where a technician looks for it. That is the one gateway-specific part of
  a node's configs: retained configs overwrite each other, so with several
  gateways hearing one node the link follows whichever announced it last
  (a change of one device-registry field, on a restart or a birth message,
  never per reading). Nothing else of the gateway (its name in a payload,
  its status topic) goes in. Each gateway gets its own device from
  gateway_discovery().
- RSSI and SNR sensors exist only for a node whose readings carried them
  (heard over a radio: a LoRa bridge, BLE). A node on a UART cable has no
  link figures, and an entity that stays "unknown" forever is noise.
- Availability is the node's topic alone. Listing the gateway's LWT as well
  would, with availability_mode "all", make a node unavailable when any one of
  several gateways hearing it goes down (and which gateway is listed would
  depend on who published last). A gateway that dies is covered by
  expire_after: with no state message for that long HA shows the sensor
  unavailable, whoever was meant to send it.
- A field missing from a state message (a failed sensor, a value moved to
  "implausible") renders as the string None, which the MQTT sensor turns into
  "unknown" (homeassistant/components/mqtt/sensor.py: `payload == PAYLOAD_NONE`;
  core PR #117813, docs PR home-assistant.io#38485). A bare
  `{{ value_json.x }}` would render "" instead, which HA ignores, so the last
  value would stay on screen.
- A unit HA does not accept for a device class makes HA reject the whole
  entity ("The unit of measurement ... is not valid together with device
  class ..."), so device classes are only set where every HA since 2025.4
  accepts the unit (see _SENSORS).
- The values the gateway derives (dew point, sea-level pressure, the EEA
  air-quality bands; gateway/derived.py) are announced like measured ones,
  for a node whose readings carry them. A band is text: HA's enum device
  class with its six states as options, and no state class or unit, which
  HA refuses on an enum sensor.
"""

import functools
import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from meteolink.firmware import frames
from meteolink.gateway import __version__, derived

# Home Assistant publishes BIRTH_PAYLOAD on BIRTH_TOPIC whenever it (re)starts
# (its default; users can move it). Configs are retained, so a restarted HA
# finds them anyway; sending them again on birth also restores them after a
# broker lost its retained messages. Republish node availability then too:
# HA shows an entity unavailable until its availability topic says "online".
BIRTH_TOPIC = "homeassistant/status"
BIRTH_PAYLOAD = "online"

ONLINE = "online"
OFFLINE = "offline"

NOT_SENSORS = frozenset({"status", "age"})  # bits and backlog bookkeeping, not quantities

_FIELD_NAME = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")  # also a valid entity-id slug
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_HA_UNITS = {"%RH": "%", "dB(A)": "dBA"}  # FIELDS unit -> the spelling HA expects


@dataclass(frozen=True)
class _Sensor:
    name: str
    device_class: str | None = None
    state_class: str | None = "measurement"
    diagnostic: bool = False
    unit: str | None = None  # only where the FIELDS table has none, or no row
    precision: int | None = None  # only where the FIELDS table has no row
    options: tuple[str, ...] | None = None  # an enum's states


# Device classes and units as HA's sensor/const.py (DEVICE_CLASS_UNITS,
# DEVICE_CLASS_STATE_CLASSES) has them. Deliberately without a device class:
# - no2, o3 in ppb: HA's nitrogen_dioxide and ozone took only µg/m³ until
#   core PRs #159426 and #159328 (December 2025); older HA would reject the
#   entity. Converting ppb to µg/m³ here would need the air's temperature and
#   pressure.
# - voc_index, nox_index, uv_index: indices; HA has no class for them (aqi is a
#   different index).
# wind_direction and measurement_angle date from core PRs #138714 and #138453
# (HA 2025.4); HA now warns about wind_direction with plain "measurement".
# rain is the node's running total, which wraps and restarts at boot:
# total_increasing reads every drop as a meter reset, which is what it is.
_SENSORS = {
    "temperature": _Sensor("Temperature", "temperature"),
    "humidity": _Sensor("Humidity", "humidity"),
    "pressure": _Sensor("Pressure", "atmospheric_pressure"),
    "pm1": _Sensor("PM1", "pm1"),
    "pm2_5": _Sensor("PM2.5", "pm25"),
    "pm10": _Sensor("PM10", "pm10"),
    "co2": _Sensor("CO2", "carbon_dioxide"),
    "voc_index": _Sensor("VOC index"),
    "battery": _Sensor("Battery voltage", "voltage", diagnostic=True),
    "wind_speed": _Sensor("Wind speed", "wind_speed"),
    "wind_direction": _Sensor("Wind direction", "wind_direction", "measurement_angle"),
    "gust": _Sensor("Wind gust", "wind_speed"),
    "rain": _Sensor("Rain", "precipitation", "total_increasing"),
    "illuminance": _Sensor("Illuminance", "illuminance"),
    "uv_index": _Sensor("UV index", unit="UV index"),  # HA's own UV_INDEX unit string
    "solar_radiation": _Sensor("Solar radiation", "irradiance"),
    "soil_moisture": _Sensor("Soil moisture", "moisture"),
    "soil_temperature": _Sensor("Soil temperature", "temperature"),
    "noise": _Sensor("Noise", "sound_pressure"),
    "nox_index": _Sensor("NOx index"),
    "snow_depth": _Sensor("Snow depth", "distance"),
    "water_level": _Sensor("Water level", "distance"),
    "no2": _Sensor("NO2"),
    "o3": _Sensor("O3"),
}

# The values the gateway derives (gateway/derived.py), announced like measured ones.
# An air-quality band is text: HA's enum device class, its states listed, and no
# state class (HA refuses one on an enum sensor; it keeps no statistics of text).
_DERIVED_SENSORS = {
    "dew_point": _Sensor("Dew point", "temperature", unit="°C", precision=1),
    "sea_level_pressure": _Sensor(
        "Sea-level pressure", "atmospheric_pressure", unit="hPa", precision=1
    ),
    "aq_band_pm2_5": _Sensor("Air quality (PM2.5)", "enum", None, options=derived.BANDS),
    "aq_band_pm10": _Sensor("Air quality (PM10)", "enum", None, options=derived.BANDS),
    "aq_band": _Sensor("Air quality", "enum", None, options=derived.BANDS),
}
_SENSORS.update(_DERIVED_SENSORS)

# Link quality of the frame as the gateway received it, when the link reports it.
_DIAGNOSTICS = {
    "rssi": (_Sensor("RSSI", "signal_strength", diagnostic=True, unit="dBm"), 0),
    "snr": (_Sensor("SNR", "signal_strength", diagnostic=True, unit="dB"), 2),  # 0.25 dB steps
}


# Sorted and compact, so equal configs are equal bytes and re-sending a retained
# config that has not changed changes nothing in HA. One encoder, made once:
# json.dumps makes one per call with these options (a thousand new nodes are
# fifteen thousand configs; issue 9).
_dump = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def safe_id(text: str) -> str:
    """text made fit for a Home Assistant object or unique id: [a-zA-Z0-9_-] only.

    Accents are dropped (ē -> e), every run of other characters becomes one
    "_", and "_" or "-" at either end is stripped. Text with nothing usable
    left becomes "id_" and a hash of it, so the result is never empty.
    Different texts can map to one id ("a b", "a/b"): use it for names that
    are unique anyway, and prefer numbers.
    """
    letters = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    )
    out = _UNSAFE.sub("_", letters).strip("_-")
    return out or "id_" + hashlib.sha256(text.encode()).hexdigest()[:10]


def discovery(
    *,
    node: int,
    name: str | None,
    location: str | None,
    fields: Iterable[str],
    prefix: str = "meteolink",
    discovery_prefix: str = "homeassistant",
    gateway: str,
    expire_after: int,
) -> list[tuple[str, str]]:
    """[(config topic, JSON payload)] for node's sensors, to publish retained, QoS 1.

    fields: the field names the node has sent (pass every one seen so far, or
    an entity disappears when a sensor fails); status and age are skipped;
    "rssi" and "snr" (give them when the node's readings carried them) become
    diagnostics. name and location are shown in HA (location as the suggested
    area) and never enter an id. gateway becomes the device's via_device, the
    device of gateway_discovery() (see the module docstring). expire_after:
    seconds without a state message after which HA shows the sensors
    unavailable; give it a few of the node's longest intervals.

    The result depends only on the arguments, never on the order of fields.
    """
    _check_node(node)
    _check_topic_part("prefix", prefix)
    _check_topic_part("discovery_prefix", discovery_prefix)
    _check_topic_part("gateway", gateway)
    if isinstance(expire_after, bool) or not isinstance(expire_after, int) or expire_after <= 0:
        raise ValueError(f"expire_after must be a positive number of seconds, not {expire_after!r}")
    named = name.strip() if name and name.strip() else None
    area = location.strip() if location and location.strip() else None
    fields = list(fields)
    try:
        wanted = frozenset(fields)
    except TypeError:  # not names at all
        _entities(fields)  # says so
        raise
    made = _node_configs(
        wanted, named is not None, area is not None, prefix, discovery_prefix, gateway, expire_after
    )
    # The node's own text, each as the encoder writes a string's inside.
    own = {_NODE: str(node)}
    if named is not None:
        own[_NAME] = _dump(named)[1:-1]
    if area is not None:
        own[_AREA] = _dump(area)[1:-1]
    return [
        ("".join(own.get(p, p) for p in topic), "".join(own.get(p, p) for p in payload))
        for topic, payload in made
    ]


# Stand-ins for what differs from one node to the next: its number, its name and
# its place. _node_configs() writes a field set's configs once with these in them,
# and discovery() puts each node's own text in their place (issue 9: a thousand
# new nodes were fifteen thousand configs through the JSON encoder, 160 µs a node).
# Control characters: the encoder writes them escaped, as nothing else it writes.
_NODE, _NAME, _AREA = "\x00node\x00", "\x00name\x00", "\x00area\x00"
_WRITTEN = {_dump(x)[1:-1]: x for x in (_NODE, _NAME, _AREA)}  # as the encoder writes them
_STAND_INS = re.compile("|".join(re.escape(w) for w in (*_WRITTEN, _NODE)))


def _pieces(text: str) -> tuple[str, ...]:
    """text cut at its stand-ins (as written by the encoder, or, in a topic, as is):
    the text between them, and each stand-in as itself."""
    out: list[str] = []
    at = 0
    for m in _STAND_INS.finditer(text):
        out += [text[at : m.start()], _WRITTEN.get(m.group(), m.group())]
        at = m.end()
    out.append(text[at:])
    return tuple(out)


@functools.lru_cache(maxsize=64)
def _node_configs(
    fields: frozenset[str],
    named: bool,
    located: bool,
    prefix: str,
    discovery_prefix: str,
    gateway: str,
    expire_after: int,
) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """The configs of a node with these fields, its number, name and place stand-ins,
    each topic and payload cut into pieces at them (_pieces)."""
    node = _NODE
    device: dict[str, Any] = {
        "identifiers": [f"meteolink_{node}"],
        "manufacturer": "meteolink",
        "model": "meteolink node",
        "name": _NAME if named else f"meteolink node {node}",
    }
    if located:
        device["suggested_area"] = _AREA
    device["via_device"] = _gateway_device(gateway)
    common: dict[str, Any] = {
        # The node's topic only: see the module docstring for why not the gateway's.
        "availability": [
            {
                "payload_available": ONLINE,
                "payload_not_available": OFFLINE,
                "topic": f"{prefix}/{node}/availability",
            }
        ],
        "device": device,
        "expire_after": expire_after,
        "origin": {"name": "meteolink", "sw_version": __version__},
        "qos": 1,  # subscribe at the QoS the gateway publishes with
        "state_topic": f"{prefix}/{node}/state",
    }
    out = []
    for field, sensor, precision in _entities(fields):
        object_id = f"meteolink_{node}_{field}"
        config = dict(common)
        config.update(
            {
                # default_entity_id is what HA 2025.10 and later read (core PR
                # #151775); object_id is what earlier HA reads. HA ignores the
                # key it does not know, and from 2026.4 ignores object_id
                # (core PR #164460), so both go in; Zigbee2MQTT does the same.
                # default_entity_id must name the domain: a bare slug makes HA
                # fall back to sensor.unnamed_device (core issue #155819).
                "default_entity_id": f"sensor.{object_id}",
                "object_id": object_id,
                "name": sensor.name,
                "unique_id": object_id,
                "value_template": "{{ value_json." + field + " | default('None') }}",
            }
        )
        unit = _unit(field, sensor)
        optional = {
            "device_class": sensor.device_class,
            "entity_category": "diagnostic" if sensor.diagnostic else None,
            "options": list(sensor.options) if sensor.options is not None else None,
            "state_class": sensor.state_class,
            "suggested_display_precision": precision,
            "unit_of_measurement": unit,
        }
        config.update({k: v for k, v in optional.items() if v is not None})
        topic = _config_topic(discovery_prefix, node, field)
        out.append((_pieces(topic), _pieces(_dump(config))))
    return tuple(out)


def removal(
    *, node: int, fields: Iterable[str], discovery_prefix: str = "homeassistant"
) -> list[tuple[str, str]]:
    """[(config topic, "")]: publish these retained to delete what discovery() made.

    An empty retained payload both clears the broker's copy and tells HA to
    remove the entity. Give the same fields as to discovery().
    """
    _check_node(node)
    _check_topic_part("discovery_prefix", discovery_prefix)
    return [(_config_topic(discovery_prefix, node, f), "") for f, _, _ in _entities(fields)]


def gateway_discovery(
    *, gateway: str, prefix: str = "meteolink", discovery_prefix: str = "homeassistant"
) -> list[tuple[str, str]]:
    """[(config topic, JSON payload)] for a connectivity sensor showing gateway's LWT.

    Each gateway has its own device, so this config, unlike a node's, names
    the gateway; it is the place to see a gateway that is down, since node
    availability leaves gateways out.
    """
    _check_topic_part("gateway", gateway)
    _check_topic_part("prefix", prefix)
    _check_topic_part("discovery_prefix", discovery_prefix)
    gid = safe_id(gateway)
    object_id = f"meteolink_gateway_{gid}_status"
    config = {
        "default_entity_id": "binary_sensor." + re.sub("[-_]+", "_", object_id.lower()),
        "device": {
            "identifiers": [_gateway_device(gateway)],
            "manufacturer": "meteolink",
            "model": "meteolink gateway",
            "name": f"meteolink gateway {gateway}",
        },
        "device_class": "connectivity",
        "entity_category": "diagnostic",
        "name": "Status",
        "object_id": object_id,
        "origin": {"name": "meteolink", "sw_version": __version__},
        "payload_off": OFFLINE,
        "payload_on": ONLINE,
        "qos": 1,
        "state_topic": f"{prefix}/gateway/{gateway}/status",
        "unique_id": object_id,
    }
    topic = f"{discovery_prefix}/binary_sensor/meteolink_gateway_{gid}/status/config"
    return [(topic, _dump(config))]


def _gateway_device(gateway: str) -> str:
    """The identifier of a gateway's device: a node's via_device."""
    return f"meteolink_gateway_{safe_id(gateway)}"


def _entities(fields: Iterable[str]) -> list[tuple[str, _Sensor, int | None]]:
    """(field, how to show it, display precision), in a fixed order: the FIELDS
    table's, then other names sorted, then the diagnostics among fields."""
    wanted = set()
    for field in fields:
        if not isinstance(field, str) or not _FIELD_NAME.fullmatch(field):
            raise ValueError(
                f"field name {field!r} is not lowercase letters and digits joined by single _"
            )
        wanted.add(field)
    links = [(f, spec) for f, spec in _DIAGNOSTICS.items() if f in wanted]
    wanted -= NOT_SENSORS | _DIAGNOSTICS.keys()
    order = {spec[0]: i for i, spec in enumerate(frames.FIELDS)}
    for name in derived.DERIVED:  # the derived values after the measured ones
        order.setdefault(name, len(order))
    out = []
    for field in sorted(wanted, key=lambda f: (order.get(f, len(order)), f)):
        sensor = _SENSORS.get(field, _Sensor(field.replace("_", " ").capitalize()))
        if field in order and order[field] < len(frames.FIELDS):
            scale = frames.FIELDS[order[field]][3]
            precision: int | None = max(0, round(math.log10(scale)))
        elif sensor.options is not None:
            precision = None  # text
        elif sensor.precision is not None:
            precision = sensor.precision
        else:
            precision = 0  # unknown ids arrive as raw integers
        out.append((field, sensor, precision))
    out.extend((field, sensor, precision) for field, (sensor, precision) in links)
    return out


def _unit(field: str, sensor: _Sensor) -> str | None:
    if sensor.unit is not None:
        return sensor.unit
    for spec in frames.FIELDS:
        if spec[0] == field:
            return _HA_UNITS.get(spec[1], spec[1]) or None
    return None


def _config_topic(discovery_prefix: str, node: int | str, field: str) -> str:
    return f"{discovery_prefix}/sensor/meteolink_{node}/{field}/config"


def _check_node(node: int) -> None:
    if isinstance(node, bool) or not isinstance(node, int) or not 1 <= node <= frames.MAX_NODE:
        raise ValueError(f"node must be a node id in 1..{frames.MAX_NODE}, not {node!r}")


def _check_topic_part(what: str, value: str) -> None:
    if (
        not isinstance(value, str)
        or not value
        or any(c in value for c in "+#\0")
        or value.startswith("/")
        or value.endswith("/")
        or "//" in value
    ):
        raise ValueError(
            f"{what} must be MQTT topic text without +, #, empty levels or a leading or"
            f" trailing /, not {value!r}"
        )
