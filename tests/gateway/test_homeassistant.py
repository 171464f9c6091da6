"""Home Assistant discovery: ids HA accepts, units it accepts, same bytes from every gateway."""

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meteolink.firmware import frames
from meteolink.gateway.derived import BANDS, DERIVED
from meteolink.gateway.homeassistant import (
    discovery,
    gateway_discovery,
    removal,
    safe_id,
)

# Copied from Home Assistant, whose rules these are; what is tested is that we
# keep to them. homeassistant/components/mqtt/discovery.py, applied to the
# topic after the discovery prefix:
HA_TOPIC = re.compile(
    r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config"
)
# homeassistant/core.py (valid_entity_id), which default_entity_id must pass:
HA_ENTITY_ID = re.compile(r"^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$")
ID = re.compile(r"[a-zA-Z0-9_-]+")

# homeassistant/components/sensor/const.py, DEVICE_CLASS_UNITS and
# DEVICE_CLASS_STATE_CLASSES (2025 releases with measurement_angle), for the
# device classes a meteolink config may use. A unit outside these sets makes HA
# reject the whole entity.
LENGTH = {"km", "m", "cm", "mm", "mi", "nmi", "yd", "ft", "in"}
HA_UNITS = {
    "atmospheric_pressure": {"Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "psi"},
    "carbon_dioxide": {"ppm"},
    "distance": LENGTH,
    "humidity": {"%"},
    "illuminance": {"lx"},
    "irradiance": {"W/m²", "BTU/(h⋅ft²)"},
    "moisture": {"%"},
    "pm1": {"µg/m³"},
    "pm10": {"µg/m³"},
    "pm25": {"µg/m³"},
    "precipitation": {"cm", "in", "mm"},
    "signal_strength": {"dB", "dBm"},
    "sound_pressure": {"dB", "dBA"},
    "temperature": {"°C", "°F", "K"},
    "voltage": {"V", "mV", "µV", "kV", "MV"},
    "wind_direction": {"°"},
    "wind_speed": {"Beaufort", "ft/s", "km/h", "kn", "m/s", "mph"},
}
ALL_STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
HA_STATE_CLASSES = {dc: {"measurement"} for dc in HA_UNITS} | {
    "distance": ALL_STATE_CLASSES,
    "precipitation": ALL_STATE_CLASSES,
    "wind_direction": {"measurement_angle"},
}

# How each field of frames.FIELDS is shown: (unit, device class, state class).
EXPECTED = {
    "temperature": ("°C", "temperature", "measurement"),
    "humidity": ("%", "humidity", "measurement"),
    "pressure": ("hPa", "atmospheric_pressure", "measurement"),
    "pm1": ("µg/m³", "pm1", "measurement"),
    "pm2_5": ("µg/m³", "pm25", "measurement"),
    "pm10": ("µg/m³", "pm10", "measurement"),
    "co2": ("ppm", "carbon_dioxide", "measurement"),
    "voc_index": (None, None, "measurement"),
    "battery": ("V", "voltage", "measurement"),
    "wind_speed": ("m/s", "wind_speed", "measurement"),
    "wind_direction": ("°", "wind_direction", "measurement_angle"),
    "gust": ("m/s", "wind_speed", "measurement"),
    "rain": ("mm", "precipitation", "total_increasing"),
    "illuminance": ("lx", "illuminance", "measurement"),
    "uv_index": ("UV index", None, "measurement"),
    "solar_radiation": ("W/m²", "irradiance", "measurement"),
    "soil_moisture": ("%", "moisture", "measurement"),
    "soil_temperature": ("°C", "temperature", "measurement"),
    "noise": ("dBA", "sound_pressure", "measurement"),
    "nox_index": (None, None, "measurement"),
    "snow_depth": ("mm", "distance", "measurement"),
    "water_level": ("m", "distance", "measurement"),
    # HA before 2026.1 takes only µg/m³ for nitrogen_dioxide and ozone.
    "no2": ("ppb", None, "measurement"),
    "o3": ("ppb", None, "measurement"),
    "rssi": ("dBm", "signal_strength", "measurement"),
    "snr": ("dB", "signal_strength", "measurement"),
}
ALL_FIELDS = [spec[0] for spec in frames.FIELDS]
RADIO = [*ALL_FIELDS, "rssi", "snr"]  # what a node heard through a LoRa bridge has sent
SENSOR_FIELDS = [f for f in ALL_FIELDS if f not in ("status", "age")]

# The example state message of docs/gateway.md §3: pm1 and the rest absent, one value
# judged implausible and moved aside.
STATE = {
    "id": "12-1043",
    "node": 12,
    "name": "school-roof",
    "seq": 1043,
    "time": "2026-11-25T10:00:00Z",
    "gateway": "cesis-pi",
    "rssi": -97,
    "snr": 7.5,
    "humidity": 88.0,
    "pressure": 1008.5,
    "battery": 3.05,
    "implausible": {"temperature": 412.5},
}


def configs(**overrides: Any) -> dict[str, dict[str, Any]]:
    """discovery() with sensible defaults, as {unique_id: parsed payload}."""
    args: dict[str, Any] = {
        "node": 12,
        "name": "school-roof",
        "location": "Cēsis",
        "fields": RADIO,
        "gateway": "cesis-pi",
        "expire_after": 3600,
    }
    args.update(overrides)
    out = {}
    for topic, payload in discovery(**args):
        config = json.loads(payload)
        config["topic"] = topic
        out[config["unique_id"]] = config
    return out


def render(template: str, message: dict[str, Any]) -> str:
    """What HA's Jinja makes of our one template shape for a state message."""
    m = re.fullmatch(r"\{\{ value_json\.([a-z0-9_]+) \| default\('None'\) \}\}", template)
    assert m, f"not the template shape this test knows how to render: {template}"
    value = message.get(m.group(1))
    return "None" if value is None else str(value)


def test_every_sensor_field_and_the_link_quality_get_one_config() -> None:
    got = configs()
    assert sorted(got) == sorted(f"meteolink_12_{f}" for f in [*SENSOR_FIELDS, "rssi", "snr"])
    assert set(EXPECTED) == {*SENSOR_FIELDS, "rssi", "snr"}, "describe every new field above"


def test_topics_and_ids_are_ones_home_assistant_accepts() -> None:
    for uid, c in configs(discovery_prefix="homeassistant").items():
        field = uid.removeprefix("meteolink_12_")
        assert c["topic"] == f"homeassistant/sensor/meteolink_12/{field}/config"
        m = HA_TOPIC.fullmatch(c["topic"].removeprefix("homeassistant/"))
        assert m and m["component"] == "sensor", c["topic"]
        assert ID.fullmatch(uid) and ID.fullmatch(c["object_id"])
        assert HA_ENTITY_ID.match(c["default_entity_id"]), c["default_entity_id"]
        assert c["default_entity_id"] == "sensor." + c["object_id"]
        assert c["state_topic"] == "meteolink/12/state"
        assert c["device"]["identifiers"] == ["meteolink_12"]


@pytest.mark.parametrize("field", list(EXPECTED))
def test_unit_device_class_and_state_class(field: str) -> None:
    c = configs()[f"meteolink_12_{field}"]
    unit, device_class, state_class = EXPECTED[field]
    got = (c.get("unit_of_measurement"), c.get("device_class"), c.get("state_class"))
    assert got == (unit, device_class, state_class)
    if device_class is not None:
        assert unit in HA_UNITS[device_class], f"HA rejects {unit} for {device_class}"
        assert state_class in HA_STATE_CLASSES[device_class]


def test_battery_and_link_quality_are_diagnostics() -> None:
    got = configs()
    diagnostic = {u for u, c in got.items() if c.get("entity_category") == "diagnostic"}
    assert diagnostic == {"meteolink_12_battery", "meteolink_12_rssi", "meteolink_12_snr"}


def test_display_precision_follows_the_resolution_of_the_field() -> None:
    got = configs()
    assert got["meteolink_12_temperature"]["suggested_display_precision"] == 2
    assert got["meteolink_12_pressure"]["suggested_display_precision"] == 1
    assert got["meteolink_12_battery"]["suggested_display_precision"] == 3
    assert got["meteolink_12_co2"]["suggested_display_precision"] == 0


def test_a_value_in_the_message_renders_as_itself_and_a_missing_one_as_None() -> None:
    got = {uid.removeprefix("meteolink_12_"): c for uid, c in configs().items()}
    rendered = {f: render(c["value_template"], STATE) for f, c in got.items()}
    assert rendered["humidity"] == "88.0"
    assert rendered["pressure"] == "1008.5"
    assert rendered["rssi"] == "-97"
    assert rendered["snr"] == "7.5"
    assert rendered["temperature"] == "None", "an implausible value is not shown"
    assert rendered["pm1"] == "None", "a failed sensor shows unknown, not its last value"
    assert got["pm2_5"]["value_template"] == "{{ value_json.pm2_5 | default('None') }}"


def test_status_and_age_are_not_sensors() -> None:
    assert [
        topic
        for topic, _ in discovery(
            node=3,
            name=None,
            location=None,
            fields=["status", "age", "rssi", "snr"],
            gateway="g",
            expire_after=60,
        )
    ] == [
        "homeassistant/sensor/meteolink_3/rssi/config",
        "homeassistant/sensor/meteolink_3/snr/config",
    ]


def test_a_node_on_a_cable_gets_no_link_quality_sensors() -> None:
    """Issue 11: a UART node's RSSI and SNR entities stayed "unknown" for ever."""
    cable = configs(fields=ALL_FIELDS)
    assert sorted(cable) == sorted(f"meteolink_12_{f}" for f in SENSOR_FIELDS)
    ble = configs(fields=[*ALL_FIELDS, "rssi"])  # BLE reports a signal strength, no SNR
    assert "meteolink_12_rssi" in ble and "meteolink_12_snr" not in ble


def test_a_node_is_shown_connected_via_the_gateway_that_announced_it() -> None:
    """Issue 11: the node's device links to the gateway's own device (via_device)."""
    [(_, payload)] = gateway_discovery(gateway="Cēsis pi")
    gateway_device = json.loads(payload)["device"]["identifiers"]
    for c in configs(gateway="Cēsis pi").values():
        assert [c["device"]["via_device"]] == gateway_device


def test_the_micro_sign_stays_the_micro_sign() -> None:
    """Issue 11: µg/m³ with U+00B5, which HA 2025.4 accepts and 2026.x maps to U+03BC;
    U+03BC draws a warning in 2025.4."""
    for field in ("pm1", "pm2_5", "pm10"):
        unit = configs()[f"meteolink_12_{field}"]["unit_of_measurement"]
        assert unit == "\u00b5g/m\u00b3", ascii(unit)


def test_an_unknown_field_gets_a_plain_sensor() -> None:
    c = configs(fields=["field_30"])["meteolink_12_field_30"]
    assert c["name"] == "Field 30"
    assert "unit_of_measurement" not in c and "device_class" not in c
    assert render(c["value_template"], {"field_30": 517}) == "517"


NAMES = ["Cēsis skola / jumts", "Łódź #1 + roof", "a/b/+/#", "  ", "学校", "'; DROP TABLE"]


@pytest.mark.parametrize("name", NAMES)
def test_a_node_name_is_shown_and_never_reaches_an_id_or_topic(name: str) -> None:
    named = configs(name=name, location=name)
    plain = configs(name=None, location=None)
    assert named.keys() == plain.keys()
    for uid, c in named.items():
        ids = [c["topic"], uid, c["object_id"], c["default_entity_id"], *c["device"]["identifiers"]]
        assert ids == [
            plain[uid]["topic"],
            uid,
            plain[uid]["object_id"],
            plain[uid]["default_entity_id"],
            *plain[uid]["device"]["identifiers"],
        ]
        shown = name.strip() or "meteolink node 12"
        assert c["device"]["name"] == shown
        assert c["device"].get("suggested_area") == (name.strip() or None)


def test_without_a_name_or_location_the_device_is_named_by_its_number() -> None:
    c = configs(name=None, location=None)["meteolink_12_temperature"]
    assert c["device"] == {
        "identifiers": ["meteolink_12"],
        "manufacturer": "meteolink",
        "model": "meteolink node",
        "name": "meteolink node 12",
        "via_device": "meteolink_gateway_cesis-pi",
    }


def test_the_same_inputs_give_the_same_bytes_in_any_field_order() -> None:
    args: dict[str, Any] = {
        "node": 7,
        "name": "Cēsis",
        "location": None,
        "gateway": "g",
        "expire_after": 900,
    }
    first = discovery(fields=["temperature", "rain", "snr", "field_40", "rssi", "humidity"], **args)
    assert first == discovery(
        fields=["rssi", "field_40", "humidity", "snr", "rain", "temperature", "rain"], **args
    )
    assert [t.split("/")[3] for t, _ in first] == [
        "temperature",
        "humidity",
        "rain",
        "field_40",
        "rssi",
        "snr",
    ]


def test_payloads_are_compact_json_with_sorted_keys_and_readable_text() -> None:
    for _, payload in discovery(
        node=1, name="Cēsis", location="Cēsis", fields=ALL_FIELDS, gateway="g", expire_after=60
    ):
        parsed = json.loads(payload)
        assert payload == json.dumps(
            parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        assert "Cēsis" in payload


def test_two_gateways_publish_configs_that_differ_only_in_the_via_device() -> None:
    a = discovery(
        node=12, name="x", location=None, fields=RADIO, gateway="cesis-pi", expire_after=600
    )
    b = discovery(
        node=12, name="x", location=None, fields=RADIO, gateway="valmiera-pi", expire_after=600
    )
    assert [t for t, _ in a] == [t for t, _ in b]
    for (_, pa), (_, pb) in zip(a, b, strict=True):
        ca, cb = json.loads(pa), json.loads(pb)
        assert ca["device"].pop("via_device") == "meteolink_gateway_cesis-pi"
        assert cb["device"].pop("via_device") == "meteolink_gateway_valmiera-pi"
        assert ca == cb


def test_every_config_expires_and_follows_the_node_availability_only() -> None:
    for c in configs(expire_after=1800, prefix="town/air").values():
        assert c["expire_after"] == 1800
        assert c["availability"] == [
            {
                "payload_available": "online",
                "payload_not_available": "offline",
                "topic": "town/air/12/availability",
            }
        ]
        assert "availability_mode" not in c and "availability_topic" not in c
        assert c["state_topic"] == "town/air/12/state"
        assert c["qos"] == 1


def test_removal_empties_exactly_the_topics_discovery_fills() -> None:
    fields = ["temperature", "status", "field_33"]
    made = discovery(node=5, name=None, location=None, fields=fields, gateway="g", expire_after=60)
    gone = removal(node=5, fields=fields)
    assert [t for t, _ in gone] == [t for t, _ in made]
    assert {p for _, p in gone} == {""}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"node": 0}, "node must be a node id in 1..65534"),
        ({"node": 65535}, "node must be"),
        ({"node": True}, "node must be"),
        ({"expire_after": 0}, "expire_after must be a positive number of seconds"),
        ({"expire_after": 60.5}, "expire_after must be"),
        ({"fields": ["Temperature"]}, "field name 'Temperature' is not lowercase"),
        ({"fields": ["pm2.5"]}, "field name 'pm2.5'"),
        ({"fields": ["a__b"]}, "field name 'a__b'"),
        ({"prefix": "a/#"}, "prefix must be MQTT topic text"),
        ({"discovery_prefix": "homeassistant/"}, "discovery_prefix must be"),
        ({"gateway": ""}, "gateway must be"),
    ],
)
def test_bad_arguments_are_refused_saying_what_was_expected(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        configs(**change)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cesis-pi", "cesis-pi"),
        ("Cēsis skola / jumts", "Cesis_skola_jumts"),
        ("Łódź #1", "odz_1"),
        ("__x--", "x"),
        ("gw.local:1883", "gw_local_1883"),
    ],
)
def test_safe_id(text: str, expected: str) -> None:
    assert safe_id(text) == expected


@pytest.mark.parametrize("text", ["", "学校", "病院", "/// ", "-_-"])
def test_safe_id_is_never_empty_and_tells_unusable_texts_apart(text: str) -> None:
    got = safe_id(text)
    assert ID.fullmatch(got)
    assert got == safe_id(text)
    others = {safe_id(t) for t in ["", "学校", "病院", "/// ", "-_-"] if t != text}
    assert got not in others


def test_a_gateway_gets_its_own_connectivity_sensor_on_its_lwt_topic() -> None:
    [(topic, payload)] = gateway_discovery(gateway="Cēsis Pi-2", prefix="meteolink")
    c = json.loads(payload)
    assert topic == "homeassistant/binary_sensor/meteolink_gateway_Cesis_Pi-2/status/config"
    assert HA_TOPIC.fullmatch(topic.removeprefix("homeassistant/"))
    assert c["state_topic"] == "meteolink/gateway/Cēsis Pi-2/status"
    assert (c["payload_on"], c["payload_off"]) == ("online", "offline")
    assert c["device_class"] == "connectivity"
    assert ID.fullmatch(c["unique_id"])
    assert HA_ENTITY_ID.match(c["default_entity_id"]), c["default_entity_id"]
    assert c["device"]["name"] == "meteolink gateway Cēsis Pi-2"


def test_derived_values_are_announced_like_measured_ones() -> None:
    """Issue 12: dew point and sea-level pressure with the device classes and units HA
    accepts for them; the air-quality bands as HA's enum sensors, whose states are the
    band names the state message carries (derived.BANDS)."""
    got = configs(fields=["temperature", "humidity", "pressure", "pm10", *DERIVED])
    dew = got["meteolink_12_dew_point"]
    slp = got["meteolink_12_sea_level_pressure"]
    for c, unit, device_class in ((dew, "°C", "temperature"), (slp, "hPa", "atmospheric_pressure")):
        assert (c["unit_of_measurement"], c["device_class"], c["state_class"]) == (
            unit,
            device_class,
            "measurement",
        )
        assert unit in HA_UNITS[device_class]
        assert c["suggested_display_precision"] == 1  # derived.derive rounds to 0.1
    for name in ("aq_band_pm2_5", "aq_band_pm10", "aq_band"):
        c = got[f"meteolink_12_{name}"]
        assert c["device_class"] == "enum" and c["options"] == list(BANDS)
        # HA refuses an enum sensor with a state class or a unit
        assert {"state_class", "unit_of_measurement", "suggested_display_precision"}.isdisjoint(c)
        assert render(c["value_template"], {name: "fair"}) == "fair"
    order = [uid.removeprefix("meteolink_12_") for uid in got]
    assert order[-len(DERIVED) :] == list(DERIVED), "after the measured fields"


@given(
    node=st.integers(1, frames.MAX_NODE),
    name=st.one_of(st.none(), st.text(max_size=12)),
    location=st.one_of(st.none(), st.text(max_size=12)),
    other=st.integers(1, frames.MAX_NODE),
)
def test_each_node_gets_its_own_number_name_and_place_whatever_they_are(
    node: int, name: str | None, location: str | None, other: int
) -> None:
    """Issue 9: a field set's configs are written once and each node's number, name and
    place put into them. Any text, a stand-in's own included, must come out as the
    node's, in the node's configs only."""
    for n, got in ((other, configs(node=other)), (node, configs(node=node, name=name))):
        assert len(got) == len(SENSOR_FIELDS) + 2  # and RSSI, SNR
        for unique_id, config in got.items():
            assert unique_id.startswith(f"meteolink_{n}_")
            assert config["state_topic"] == f"meteolink/{n}/state"
            assert config["device"]["identifiers"] == [f"meteolink_{n}"]
    device = configs(node=node, name=name, location=location)[f"meteolink_{node}_temperature"][
        "device"
    ]
    shown = name.strip() if name and name.strip() else f"meteolink node {node}"
    assert device["name"] == shown
    assert device.get("suggested_area") == (
        location.strip() if location and location.strip() else None
    )
