"""A reading as FIWARE Smart Data Models entities, held to the models' own schemas offline.

The schemas describe the key-values form, so each normalized entity is
validated as keyValues (NGSI-LD's simplified representation) and, separately, its
normalized structure is checked: every attribute a Property with a value, a
GeoProperty or a Relationship with an object, a unitCode where the model
gives a unit, and every attribute a term of the model's own @context.
"""

from typing import Any

import pytest

from meteolink.firmware import frames
from meteolink.gateway.config import Config, NodeConfig
from meteolink.gateway.derived import BANDS
from meteolink.gateway.messages import StateRows
from meteolink.gateway.ngsi_entities import (
    AIR_QUALITY,
    AIR_QUALITY_ATTRIBUTES,
    CONTEXTS,
    CORE_CONTEXT,
    LEVELS,
    WEATHER,
    WEATHER_ATTRIBUTES,
    entities,
    entity_id,
)
from meteolink.gateway.quality import flags_text
from tests.support.ngsi_broker import (
    context_terms,
    key_values,
    model_file,
    schema_errors,
)

TAKEN = 1_795_604_938.0  # 2026-11-25T11:08:58Z
PREFIX = "meteolink:"
CESIS = NodeConfig(
    name="Cēsis skola",
    location="Rīgas iela 24, jumts",
    latitude=57.3119,
    longitude=25.2706,
    altitude=96.0,
    exposure="outdoor",
)
CONFIG = Config(name="cesis-pi", nodes={12: CESIS, 13: NodeConfig(name="bez vietas")})

EVERYTHING = {
    "temperature": 4.25,
    "humidity": 81.37,
    "pressure": 1003.4,
    "wind_speed": 3.5,
    "wind_direction": 225,
    "gust": 7.25,
    "illuminance": 5400,
    "solar_radiation": 212,
    "uv_index": 1.5,
    "snow_depth": 125,
    "pm1": 6.1,
    "pm2_5": 12.4,
    "pm10": 20.8,
    "co2": 431,
    "no2": 17,
    "o3": 29,
    "battery": 3.712,
    "rain": 12.3,
}


def message(values: dict[str, float | int], node: int = 12, qc: str | None = None) -> Any:
    frame = frames.decode(frames.encode(node, 40, values))
    return StateRows(CONFIG).message(node, 40, TAKEN, -97, 7.5, frame.fields, qc)


def by_type(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    assert len({e["type"] for e in found}) == len(found)
    return {e["type"]: e for e in found}


def test_the_models_own_examples_pass_and_a_percent_humidity_fails() -> None:
    """The validator is the models' schema, refs resolved offline: WeatherObserved's own
    key-values example passes (../shared/smart-data-models/README.md says it does), and
    the mistake the models warn of, relative humidity in percent, is caught."""
    example = model_file("dataModel.Weather/WeatherObserved/examples/example.json")
    assert schema_errors(WEATHER, example) == []
    assert schema_errors(WEATHER, {**example, "relativeHumidity": 81.37}) == [
        "relativeHumidity: 81.37 is greater than the maximum of 1"
    ]
    aq = model_file("dataModel.Environment/AirQualityObserved/examples/example.json")
    # The README: the upstream example's one known inconsistency (tsp is an integer).
    assert schema_errors(AIR_QUALITY, aq) == ["tsp: 73.3 is not of type 'integer'"]


def test_a_full_reading_is_one_weather_and_one_air_quality_entity_that_the_schemas_accept() -> None:
    found = by_type(entities(message(EVERYTHING), prefix=PREFIX, exposure="outdoor"))
    assert set(found) == {WEATHER, AIR_QUALITY}
    for kind, entity in found.items():
        assert schema_errors(kind, key_values(entity)) == [], kind
        assert entity["id"] == f"urn:ngsi-ld:{kind}:meteolink:12"
        assert entity["@context"] == [*CONTEXTS[kind]]
        assert entity["@context"][-1] == CORE_CONTEXT


def test_values_and_units_follow_the_models() -> None:
    msg = message(EVERYTHING)
    found = by_type(entities(msg, prefix=PREFIX, exposure="outdoor"))
    w, aq = found[WEATHER], found[AIR_QUALITY]
    # The model's units where they differ from the node's: a fraction, centimetres.
    assert w["relativeHumidity"]["value"] == 0.8137
    assert w["relativeHumidity"]["unitCode"] == "C62"
    assert w["snowHeight"] == {
        "type": "Property",
        "value": 12.5,
        "observedAt": "2026-11-25T11:08:58Z",
        "unitCode": "CMT",
    }
    assert w["temperature"]["value"] == 4.25 and w["temperature"]["unitCode"] == "CEL"
    assert w["atmosphericPressure"]["value"] == 1003.4
    assert w["atmosphericPressure"]["unitCode"] == "A97"
    assert w["dewPoint"]["value"] == msg["dew_point"]
    assert w["windDirection"]["unitCode"] == "DD"
    assert w["location"] == {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [25.2706, 57.3119]},  # longitude first
    }
    assert w["dateObserved"]["value"] == {"@type": "DateTime", "@value": "2026-11-25T11:08:58Z"}
    assert w["refDevice"] == {"type": "Relationship", "object": "urn:ngsi-ld:Device:meteolink:12"}
    assert w["name"]["value"] == "Cēsis skola"
    assert aq["pm25"] == {
        "type": "Property",
        "value": 12.4,
        "observedAt": "2026-11-25T11:08:58Z",
        "unitCode": "GQ",
    }
    assert (aq["co2"]["unitCode"], aq["no2"]["unitCode"], aq["o3"]["unitCode"]) == (
        "59",
        "61",
        "61",
    )
    assert aq["typeofLocation"]["value"] == "outdoor"
    assert aq["refWeatherObserved"]["object"] == entity_id(WEATHER, PREFIX, 12)
    # Neither model has a place for these: not sent.
    for entity in (w, aq):
        assert not {"rain", "battery", "precipitation", "seaLevelPressure"} & set(entity)


def test_the_air_quality_level_is_the_eea_band_of_the_reading() -> None:
    """EEA European Air Quality Index, 2024 bands (ETC HE Report 2024/17): PM2.5 of
    12.4 µg/m³ is above 5 and at most 15, "fair"; PM10 of 20.8 is "fair" too."""
    aq = by_type(entities(message({"pm2_5": 12.4, "pm10": 20.8}), prefix=PREFIX))[AIR_QUALITY]
    assert aq["airQualityLevel"]["value"] == "fair"
    very = by_type(entities(message({"pm2_5": 100.0}), prefix=PREFIX))[AIR_QUALITY]
    assert very["airQualityLevel"]["value"] == "veryPoor"
    assert sorted(LEVELS) == sorted(BANDS)


def test_every_attribute_is_normalized_with_the_models_unit_and_term() -> None:
    units = {a.name: a.unit for a in (*WEATHER_ATTRIBUTES, *AIR_QUALITY_ATTRIBUTES)}
    found = entities(message(EVERYTHING), prefix=PREFIX, exposure="outdoor")
    for entity in found:
        terms = context_terms(entity["type"])
        assert entity["type"] in terms
        for name, attr in entity.items():
            if name in ("id", "type", "@context"):
                continue
            # Its own model's context names it: the broker expands it to the model's IRI.
            assert name in terms, f"{entity['type']}.{name} is not in the model's @context"
            if attr["type"] == "Relationship":
                assert set(attr) == {"type", "object"}
                assert attr["object"].startswith("urn:ngsi-ld:")
            elif attr["type"] == "GeoProperty":
                assert set(attr) == {"type", "value"}
            else:
                assert attr["type"] == "Property", name
                assert "value" in attr and "object" not in attr
                if name in units:
                    assert attr.get("unitCode") == units[name], name
                    assert attr["observedAt"] == "2026-11-25T11:08:58Z"


def test_an_implausible_value_is_left_out_and_a_flagged_one_carries_its_flags() -> None:
    qc = flags_text({"pressure": ["step"], "humidity": []})
    msg = message({"temperature": 99.5, "humidity": 81.37, "pressure": 1003.4}, qc=qc)
    assert msg["implausible"] == {"temperature": 99.5}
    w = by_type(entities(msg, prefix=PREFIX))[WEATHER]
    assert "temperature" not in w and "dewPoint" not in w  # nor what it would derive
    assert w["atmosphericPressure"]["qcFlags"] == {"type": "Property", "value": ["step"]}
    assert "qcFlags" not in w["relativeHumidity"]
    assert schema_errors(WEATHER, key_values(w)) == []


def test_a_node_without_coordinates_gets_no_location_and_only_that_fails_the_schema() -> None:
    w = by_type(entities(message({"temperature": 1.5}, node=13), prefix=PREFIX))[WEATHER]
    assert "location" not in w
    assert schema_errors(WEATHER, key_values(w)) == ["(entity): 'location' is a required property"]


@pytest.mark.parametrize(
    ("values", "kinds"),
    [
        ({"pm2_5": 3.0, "battery": 3.6}, [AIR_QUALITY]),
        ({"temperature": 1.0}, [WEATHER]),
        ({"battery": 3.6, "status": 0}, []),
    ],
)
def test_a_reading_becomes_the_entities_of_what_it_measured(
    values: dict[str, float], kinds: list[str]
) -> None:
    found = entities(message(values), prefix=PREFIX)
    assert [e["type"] for e in found] == kinds
    for entity in found:
        assert "refWeatherObserved" not in entity
        assert schema_errors(entity["type"], key_values(entity)) == []


def test_the_same_reading_from_two_gateways_is_the_same_entity() -> None:
    """The id is the station's, not the gateway's: two gateways upsert one entity."""
    frame = frames.decode(frames.encode(12, 40, EVERYTHING))
    other = Config(name="valmiera-pi", nodes=CONFIG.nodes)
    one = StateRows(CONFIG).message(12, 40, TAKEN, -97, 7.5, frame.fields)
    two = StateRows(other).message(12, 40, TAKEN, -60, 9.0, frame.fields)
    assert one["gateway"] != two["gateway"]
    assert entities(one, prefix=PREFIX) == entities(two, prefix=PREFIX)
