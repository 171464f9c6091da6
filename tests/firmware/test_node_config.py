"""config.json checking: the one message a technician gets for each mistake.

The same code runs at the node's boot (MicroPython; see test_node.py) and
in `meteolink flash` (CPython, here).
"""

import json
from typing import Any

import pytest

from meteolink.firmware import node_config as config


def parse(**d: Any) -> config.Config:
    return config.parse(json.dumps({"node": 7, **d}))


def test_defaults_give_a_working_weather_node() -> None:
    c = parse()
    assert (c.interval_s, c.transport, [s.kind for s in c.sensors]) == (
        600,
        "uart",
        ["bme280", "battery"],
    )
    assert [s.address for s in c.sensors] == [0x76, None]
    assert c.ack is False and c.backlog == 0 and c.checkpoint_every == 256


def test_hungry_sensors_are_skipped_on_low_battery_by_default() -> None:
    c = parse(sensors=["bme280", "scd41", "pms5003", "battery"], low_battery_mv=2300)
    assert c.low_battery_skip == ["scd41", "pms5003"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{}", "config.json: node: missing: an integer 1..65534 is required"),
        ('{"node": 0}', "config.json: node: expected an integer 1..65534, got 0"),
        ('{"node": true}', "config.json: node: expected an integer 1..65534, got True"),
        ("[7]", "config.json: (file): expected a JSON object {...}"),
        ("{node: 7}", "config.json: (file): not valid JSON"),
        ('{"node": 7, "intervall_s": 60}', "config.json: intervall_s: unknown key"),
        (
            '{"node": 7, "interval_s": 5}',
            "config.json: interval_s: expected an integer 30..86400 s, got 5",
        ),
        ('{"node": 7, "key": "abc"}', "config.json: key: expected 32 hex digits, or null"),
        ('{"node": 7, "sensors": "bme280"}', "config.json: sensors: expected a list"),
        ('{"node": 7, "sensors": ["bme281"]}', "config.json: sensors[0]: unknown sensor 'bme281'"),
        (
            '{"node": 7, "sensors": ["bme280", "bme280"]}',
            "config.json: sensors[1]: bme280 is listed twice",
        ),
        (
            '{"node": 7, "sensors": ["pms5003", "sds011"]}',
            "config.json: sensors[1]: one PM sensor per node",
        ),
        (
            '{"node": 7, "sensors": [{"type": "bme280", "address": 200}]}',
            "config.json: sensors[0].address: expected an integer 8..119, got 200",
        ),
        (
            '{"node": 7, "sensors": [{"type": "battery", "address": 50}]}',
            "config.json: sensors[0].address: battery is not an I2C sensor",
        ),
        (
            '{"node": 7, "transport": "wifi"}',
            "config.json: transport: expected one of uart, lora, ble",
        ),
        ('{"node": 7, "lora": [868]}', "config.json: lora: expected {"),
        (
            '{"node": 7, "lora": {"sf": 13}}',
            "config.json: lora.sf: expected an integer 7..12, got 13",
        ),
        (
            '{"node": 7, "lora": {"bw_khz": 200}}',
            "config.json: lora.bw_khz: expected 125, 250 or 500",
        ),
        (
            '{"node": 7, "lora": {"power_dbm": 20}}',
            "config.json: lora.power_dbm: expected an integer 2..14 dBm",
        ),
        (
            '{"node": 7, "transport": "lora", "lora": {"freq_hz": 868100500}}',
            "config.json: lora.freq_hz: the radio takes whole kHz, got 868100500 Hz",
        ),
        (
            '{"node": 7, "transport": "lora", "lora": {"freq_hz": 868500000, "bw_khz": 250}}',
            "config.json: lora.freq_hz: a 250000 Hz wide channel at 868500000 Hz does not fit",
        ),
        (
            '{"node": 7, "transport": "lora", "lora": {"freq_hz": 869300000}}',
            "does not fit in one EU868 sub-band",
        ),
        (
            '{"node": 7, "transport": "ble", "ack": true}',
            "config.json: ack: a BLE node cannot hear",
        ),
        ('{"node": 7, "role": "bridge"}', "config.json: role: a bridge listens on LoRa"),
        ('{"node": 7, "backlog": 40}', "config.json: backlog: expected an integer 0..16, got 40"),
    ],
)
def test_each_mistake_gets_one_line_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.parse(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_channel_inside_a_sub_band_is_accepted_for_a_lora_node() -> None:
    c = parse(transport="lora", lora={"freq_hz": 869525000, "sf": 12, "bw_khz": 125})
    assert (c.lora.freq_hz, c.lora.sf, c.lora.max_wait_s) == (869525000, 12, 60)
