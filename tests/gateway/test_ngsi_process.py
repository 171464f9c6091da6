"""The NGSI-LD upstream in the real gateway process: serial in, entities out, an outage survived.

`meteolink gateway` as systemd runs it, a pseudo-terminal as the LoRa bridge,
and tests/support/ngsi_broker.py on loopback as the context broker.
"""

import json
import time
from collections.abc import Callable
from typing import Any

from meteolink.firmware import frames
from tests.support.gateway_process import GatewayProcess
from tests.support.http_server import HttpServer
from tests.support.lines import Line
from tests.support.ngsi_broker import NgsiBroker, key_values, schema_errors
from tests.support.tools import wait_until

WEATHER = "urn:ngsi-ld:WeatherObserved:cesis:12"
AIR = "urn:ngsi-ld:AirQualityObserved:cesis:12"


def config(line: Line, url: str) -> str:
    return f"""commit_interval = 0.05

[[serial]]
port = "{line.link}"

[ngsi_ld]
url = "{url}"
tenant = "cesis"
token = "s3cret"
id_prefix = "cesis:"
batch = 20

[nodes.12]
name = "Cēsis skola"
latitude = 57.3119
longitude = 25.2706
altitude = 96
exposure = "outdoor"

[nodes.14]
name = "bez koordinātām"
"""


def values(seq: int) -> dict[str, float]:
    """Each reading's values name it: temperature seq/10 °C, PM2.5 seq µg/m³."""
    return {"temperature": seq / 10, "humidity": 40.0 + seq / 10, "pressure": 1001.5, "pm2_5": seq}


def instances(broker: NgsiBroker, entity: str) -> list[dict[str, Any]]:
    return [e for e in broker.taken("cesis") if e["id"] == entity]


def temperatures(broker: NgsiBroker) -> set[float]:
    return {e["temperature"]["value"] for e in instances(broker, WEATHER)}


def test_readings_arrive_as_entities_and_an_outage_loses_nothing(
    line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    broker = NgsiBroker(token="s3cret")
    with HttpServer() as server:
        server.then = broker
        g = gateway(config(line, server.url))
        for seq in range(30):
            line.send(frames.encode(12, seq, values(seq)))
        line.send(frames.encode(14, 1, {"temperature": 3.5}))
        wait_until(lambda: len(instances(broker, WEATHER)) >= 30, "the first 30 readings", 30)

        broker.down = True  # 503 with Retry-After: 1, for a while
        for seq in range(30, 80):
            line.send(frames.encode(12, seq, values(seq)))
        wait_until(lambda: len(g.stored()) == 81, "readings stored while the broker is down")
        wait_until(lambda: broker.answers.count(503) >= 2, "the upstream to try again")
        time.sleep(2)
        broker.down = False
        for seq in range(80, 100):
            line.send(frames.encode(12, seq, values(seq)))
        every = {seq / 10 for seq in range(100)}
        wait_until(lambda: every <= temperatures(broker), "every reading at the broker", 60)
        log = g.log()
        g.stop()

    # Each station's readings in order: a reading first arrives after every earlier one.
    seen = [round(e["temperature"]["value"] * 10) for e in instances(broker, WEATHER)]
    assert list(dict.fromkeys(seen)) == list(range(100))
    assert {e["pm25"]["value"] for e in instances(broker, AIR)} == set(range(100))

    latest = broker.entities[("cesis", WEATHER)]
    assert latest["temperature"]["value"] == 9.9 and latest["temperature"]["unitCode"] == "CEL"
    assert latest["relativeHumidity"]["value"] == 0.499  # 49.9 %, as the model's fraction
    assert latest["atmosphericPressure"] == {
        "type": "Property",
        "value": 1001.5,
        "observedAt": latest["dateObserved"]["value"]["@value"],
        "unitCode": "A97",
    }
    assert latest["location"]["value"]["coordinates"] == [25.2706, 57.3119]
    assert latest["refDevice"]["object"] == "urn:ngsi-ld:Device:cesis:12"
    air = broker.entities[("cesis", AIR)]
    assert air["pm25"]["value"] == 99 and air["pm25"]["unitCode"] == "GQ"
    # EEA European Air Quality Index, 2024 bands (ETC HE Report 2024/17): PM2.5 above
    # 90 and at most 140 µg/m³ is "very poor".
    assert air["airQualityLevel"]["value"] == "veryPoor"
    for entity in (*instances(broker, WEATHER)[-1:], *instances(broker, AIR)[-1:]):
        assert schema_errors(entity["type"], key_values(entity)) == []

    # The node without coordinates: its entity, without location, and a line saying so.
    unplaced = broker.entities[("cesis", "urn:ngsi-ld:WeatherObserved:cesis:14")]
    assert "location" not in unplaced and unplaced["temperature"]["value"] == 3.5
    assert log.count("node 14 has no latitude and longitude in [nodes.14]") == 1
    assert "unavailable (HTTP 503" in log
    assert "Traceback" not in log
    # What the broker got, as JSON: UTF-8, the node's name as written.
    assert json.dumps(unplaced["name"]["value"], ensure_ascii=False) == '"bez koordinātām"'
