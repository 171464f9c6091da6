"""A reading as NGSI-LD entities of the FIWARE Smart Data Models. Pure functions, no I/O.

The NGSI-LD upstream (gateway/ngsi_upstream.py) upserts what this module
makes; the tests validate it against the models' own JSON Schemas. Input is
the reading's state message (gateway/messages.py), never the raw frame, so
that the calibration, the derived values and the quality-control flags a city
platform sees are those every other destination sees.

Two models, each with its own spec (smart-data-models, commits in
../shared/smart-data-models/README.md):

    WeatherObserved     dataModel.Weather, version 0.3.4
    AirQualityObserved  dataModel.Environment, version 0.1.4

A reading becomes a WeatherObserved entity when it has a weather quantity,
and an AirQualityObserved entity when it has a pollutant (PM, CO2, NO2, O3);
a reading with both becomes both, the air-quality one pointing at the weather
one (refWeatherObserved), as the model intends.

One entity per station, not per reading: urn:ngsi-ld:WeatherObserved:<prefix><node>.
A context broker keeps an entity's current state, and (where it has a temporal
store: Orion-LD with TRoE/Mintaka, Scorpio, Stellio) each update as an instance
of its history, every value with its own observedAt. An entity per reading
would make the broker's current-state queries ("the weather at the school
now") useless and its entity table grow by a row a reading forever. The node
id names the station at every gateway (its key goes with it), so two gateways
hearing one reading upsert the same entity with the same values and times:
idempotent, as at-least-once delivery needs.

Normalized NGSI-LD: every attribute is a Property (type, value, observedAt,
unitCode where the model gives a unit), a GeoProperty (location) or a
Relationship (type, object). Units are UN/CEFACT Recommendation 20 common
codes, as the models' normalized examples use ("GQ" for µg/m³). The models
fix some units themselves: relativeHumidity is a fraction 0..1 (the node's
percent / 100), snowHeight is in centimetres (the node's mm / 10).

What a reading carries beside its values: an implausible value (state
message "implausible") is not sent: a city platform must not show 412 °C,
and, with upsert's update mode, the entity keeps the last plausible value
with its own, older observedAt. A value the quality control flagged (state
message "qc") is sent, with the flags as a sub-property qcFlags (a list of
gateway/quality.py's flag names), NGSI-LD's place for what qualifies a value.
"""

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from meteolink.gateway.derived import BANDS

WEATHER = "WeatherObserved"
AIR_QUALITY = "AirQualityObserved"

# Each model's own @context (the URLs its NGSI-LD examples use), then the
# NGSI-LD core context, last, as ETSI GS CIM 009 asks of it. One
# context per entity type: both model contexts define temperature, refDevice
# and more, to different IRIs, so a list of both would make one type's
# attributes the other's.
CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
CONTEXTS: Mapping[str, tuple[str, ...]] = {
    WEATHER: (
        "https://raw.githubusercontent.com/smart-data-models/dataModel.Weather/master/context.jsonld",
        CORE_CONTEXT,
    ),
    AIR_QUALITY: (
        "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld",
        CORE_CONTEXT,
    ),
}

DEVICE = "urn:ngsi-ld:Device:"


class Attribute(NamedTuple):
    """How one state-message field becomes one attribute of a model."""

    field: str  # the state message's name (frames.FIELDS or derived.DERIVED)
    name: str  # the model's attribute
    unit: str | None  # UN/CEFACT Rec. 20 common code; None: the model's is dimensionless
    scale: float = 1.0  # model value = field value * scale
    digits: int | None = None  # decimals to round the scaled value to (None: as it is)


# The node's unit -> the model's. Fields without a row are not sent: rain is the
# node's running total (docs/protocol.md), the models' precipitation an amount
# over a period; battery, soil, noise, water level and the Sensirion indices
# have no attribute in these two models. Sea-level pressure has none either:
# atmosphericPressure is "the atmospheric pressure observed", the station's.
WEATHER_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("temperature", "temperature", "CEL"),  # degree Celsius
    Attribute("humidity", "relativeHumidity", "C62", 0.01, 4),  # "one": the model's 0..1
    Attribute("dew_point", "dewPoint", "CEL"),
    Attribute("pressure", "atmosphericPressure", "A97"),  # hectopascal
    Attribute("wind_speed", "windSpeed", "MTS"),  # metre per second
    Attribute("wind_direction", "windDirection", "DD"),  # degree (angle), 0..360
    Attribute("gust", "gustSpeed", "MTS"),
    Attribute("illuminance", "illuminance", "LUX"),
    Attribute("solar_radiation", "solarRadiation", "D54"),  # watt per square metre
    Attribute("uv_index", "uVIndexMax", None),  # one reading: the maximum of its moment
    Attribute("snow_depth", "snowHeight", "CMT", 0.1, 1),  # the model's centimetres
)

AIR_QUALITY_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("pm1", "pm1", "GQ"),  # microgram per cubic metre
    Attribute("pm2_5", "pm25", "GQ"),
    Attribute("pm10", "pm10", "GQ"),
    Attribute("co2", "co2", "59"),  # part per million
    # The node's gas sensors give ppb, and so does this: converting to µg/m³
    # needs the air's temperature and pressure, which a city platform can apply
    # as it prefers (the EU's 20 °C, 1013 hPa convention, or the reading's own).
    Attribute("no2", "no2", "61"),  # part per billion
    Attribute("o3", "o3", "61"),
)

# derived.BANDS (the EEA index's words) as the models write such levels:
# lowerCamelCase, as WeatherObserved's visibility enum ("veryPoor").
LEVELS: Mapping[str, str] = {
    band: band.split("_")[0] + "".join(w.capitalize() for w in band.split("_")[1:])
    for band in BANDS
}


def entity_id(kind: str, prefix: str, node: int) -> str:
    """The station's entity of one model: the same at every gateway."""
    return f"urn:ngsi-ld:{kind}:{prefix}{node}"


def device_id(prefix: str, node: int) -> str:
    """The Device entity refDevice points at: the node itself (not created here)."""
    return f"{DEVICE}{prefix}{node}"


def _property(
    value: object, observed: str, unit: str | None, flags: Sequence[str]
) -> dict[str, Any]:
    attr: dict[str, Any] = {"type": "Property", "value": value, "observedAt": observed}
    if unit is not None:
        attr["unitCode"] = unit
    if flags:
        attr["qcFlags"] = {"type": "Property", "value": list(flags)}
    return attr


def _values(msg: Mapping[str, Any], table: Sequence[Attribute], observed: str) -> dict[str, Any]:
    """The model's attributes for the message's plausible values in table."""
    qc: Mapping[str, Sequence[str]] = msg.get("qc") or {}
    out: dict[str, Any] = {}
    for a in table:
        value = msg.get(a.field)
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if a.scale != 1.0:
            value = value * a.scale
        if a.digits is not None:
            value = round(value, a.digits)
        out[a.name] = _property(value, observed, a.unit, qc.get(a.field, ()))
    return out


def _common(kind: str, msg: Mapping[str, Any], prefix: str, observed: str) -> dict[str, Any]:
    """What both models' entities of a reading begin with."""
    node = int(msg["node"])
    entity: dict[str, Any] = {
        "id": entity_id(kind, prefix, node),
        "type": kind,
        "dateObserved": {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": observed},
        },
    }
    lat, lon = msg.get("latitude"), msg.get("longitude")
    if lat is not None and lon is not None:
        # GeoJSON: longitude first (RFC 7946, section 3.1.1). Two coordinates:
        # not every broker's geo index takes an altitude.
        entity["location"] = {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [lon, lat]},
        }
    if msg.get("name"):
        entity["name"] = {"type": "Property", "value": msg["name"]}
    if msg.get("location"):
        entity["description"] = {"type": "Property", "value": msg["location"]}
    entity["refDevice"] = {"type": "Relationship", "object": device_id(prefix, node)}
    return entity


def entities(
    msg: Mapping[str, Any], *, prefix: str, exposure: str | None = None
) -> list[dict[str, Any]]:
    """The reading's entities, normalized NGSI-LD with their @context: a WeatherObserved
    and an AirQualityObserved, either, or none (a reading of battery and status only).

    msg is the state message (messages.StateRows.message); prefix the id prefix of
    [ngsi_ld]; exposure the node's ("outdoor", "indoor") for typeofLocation.
    A node without latitude and longitude gives entities without location (the
    models require it; the upstream says so once per node, docs/gateway.md).
    """
    observed = str(msg["time"])
    out: list[dict[str, Any]] = []
    weather = _values(msg, WEATHER_ATTRIBUTES, observed)
    if weather:
        entity = _common(WEATHER, msg, prefix, observed)
        entity.update(weather)
        entity["@context"] = list(CONTEXTS[WEATHER])
        out.append(entity)
    air = _values(msg, AIR_QUALITY_ATTRIBUTES, observed)
    if air:
        entity = _common(AIR_QUALITY, msg, prefix, observed)
        entity.update(air)
        band = msg.get("aq_band")
        if isinstance(band, str) and band in LEVELS:
            entity["airQualityLevel"] = {
                "type": "Property",
                "value": LEVELS[band],
                "observedAt": observed,
            }
        if exposure in ("indoor", "outdoor"):
            entity["typeofLocation"] = {"type": "Property", "value": exposure}
        if weather:
            entity["refWeatherObserved"] = {
                "type": "Relationship",
                "object": entity_id(WEATHER, prefix, int(msg["node"])),
            }
        entity["@context"] = list(CONTEXTS[AIR_QUALITY])
        out.append(entity)
    return out
