"""The sensor.community upstream against a loopback server, through the real gateway process.

What the requests must be is what sensor.community's own firmware sends:
opendata-stuttgart/sensors-software, airrohr-firmware/airrohr-firmware.ino
(release NRZ-2024-135): sendData() posts to /v1/push-sensor-data/ with
Content-Type application/json, X-Sensor (board and chip id) and X-Pin;
sendSensorCommunity() writes {"software_version": ..., "sensordatavalues":
[{"value_type": ..., "value": "..."}]} with the sensor's prefix ("SDS_",
"BME280_") removed; add_Value2Json() (utils.cpp) writes each value as a string,
String(float), two decimals; the BMx280's pressure is readPressure(), pascals.
The pins are ext_def.h's: SDS_API_PIN 1, BMP280_API_PIN 3, DHT_API_PIN 7,
BME280_API_PIN 11, DS18B20_API_PIN 13. The pace, one upload per 145 s, is the
firmware's default cfg::sending_intervall_ms = 145000.
"""

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from meteolink.firmware import frames
from meteolink.gateway import config as config_module
from meteolink.gateway.backoff import Backoff
from meteolink.gateway.config import Config, ConfigError, NodeConfig
from meteolink.gateway.http_upstream import HttpSettings
from meteolink.gateway.sensor_community_upstream import (
    SensorCommunity,
    SensorCommunityUpstream,
    uploads,
)
from meteolink.gateway.service import Gateway
from meteolink.gateway.store import Store
from tests.support.gateway_process import GatewayProcess
from tests.support.http_server import HttpServer, Reply
from tests.support.http_server import Request as Received
from tests.support.lines import Line
from tests.support.tools import wait_until

SENSOR = "raspi-00000000abcdef01"
OTHER = "esp8266-12345678"
AIR = {"pm1": 5.0, "pm2_5": 8.1, "pm10": 12.3, "temperature": 21.5, "humidity": 55.0}


def air(node: int, seq: int, **values: float) -> bytes:
    """A frame with particulate matter and a BME280's three values, changed by values."""
    return frames.encode(node, seq, {**AIR, "pressure": 1013.2, **values})


def section(server: HttpServer, extra: str = "") -> str:
    return f'\n[sensor_community]\nurl = "{server.url}"\n{extra}'


def nodes(**sensors: str | None) -> str:
    """[nodes.N] tables, n7="raspi-..." for a node that opted in, n8=None for one that did not."""
    text = ""
    for key, sensor in sensors.items():
        text += f"\n[nodes.{key[1:]}]\n"
        if sensor is not None:
            text += f'sensor_community_id = "{sensor}"\n'
    return text


def serial(line: Line, extra: str) -> str:
    return f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n' + extra


def values(request: Received) -> dict[str, str]:
    doc = json.loads(request.body)
    return {v["value_type"]: v["value"] for v in doc["sensordatavalues"]}


def by_sensor(server: HttpServer, sensor: str) -> list[Received]:
    return [r for r in server.received() if r.headers.get("x-sensor") == sensor]


def cursor(g: GatewayProcess, server: HttpServer) -> int:
    """The upstream's cursor in the store, read as a second process would: the id of the
    last reading it is done with (sent, or passed over)."""
    path = g.data / "readings.db"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute(
            "SELECT last_id FROM cursors WHERE upstream = ?", (f"sensor.community:{server.url}",)
        ).fetchone()
    except sqlite3.OperationalError:
        row = None
    finally:
        db.close()
    return int(row[0]) if row else 0


# -- what a reading becomes ------------------------------------------------------


def test_particulate_matter_goes_on_pin_1_and_a_bme280s_values_on_pin_11_in_pascals() -> None:
    message = {"id": "7-1", **AIR, "pressure": 1013.2, "dew_point": 12.2, "battery": 3.1}
    assert uploads(message) == [
        (1, [{"value_type": "P0", "value": "5.00"}, {"value_type": "P1", "value": "12.30"},
             {"value_type": "P2", "value": "8.10"}]),
        (11, [{"value_type": "temperature", "value": "21.50"},
              {"value_type": "pressure", "value": "101320.00"},
              {"value_type": "humidity", "value": "55.00"}]),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "pin", "types"),
    [
        ({"temperature": 3.0, "pressure": 990.0}, 3, ["pressure", "temperature"]),  # BMP280
        ({"temperature": 3.0, "humidity": 90.0}, 7, ["temperature", "humidity"]),  # DHT22
        ({"temperature": 3.0}, 13, ["temperature"]),  # DS18B20
        ({"pm2_5": 3.0, "pm10": 4.0}, 1, ["P1", "P2"]),  # SDS011: no P0
    ],
)
def test_the_pin_is_the_airrohr_sensor_that_sends_the_fields_carried(
    fields: dict[str, float], pin: int, types: list[str]
) -> None:
    got = uploads({"id": "7-1", **fields})
    assert [(p, [v["value_type"] for v in vs]) for p, vs in got] == [(pin, types)]


def test_implausible_and_flagged_values_are_left_out_but_the_sensor_stays_the_same() -> None:
    """412 °C is apart under "implausible"; a step-flagged humidity has "qc": the BME280 is
    still a BME280 (pin 11), sending only its pressure; PM with a consistency flag on PM10."""
    message = {
        "id": "7-1",
        "pm2_5": 8.1,
        "pm10": 7.0,
        "humidity": 55.0,
        "pressure": 1013.2,
        "implausible": {"temperature": 412.0},
        "qc": {"humidity": ["step"], "pm10": ["consistency"], "temperature": ["range"]},
    }
    assert uploads(message) == [
        (1, [{"value_type": "P2", "value": "8.10"}]),
        (11, [{"value_type": "pressure", "value": "101320.00"}]),
    ]
    everything_bad = {"id": "7-2", "implausible": {"temperature": 412.0}, "qc": {}}
    assert uploads(everything_bad) == []


# -- the configuration -----------------------------------------------------------


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "g.toml"
    path.write_text(text, "utf-8")
    path.chmod(0o600)
    return config_module.load(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[nodes.7]\nsensor_community_id = "12345678"\n',
            "nodes.7.sensor_community_id: '12345678'",
        ),
        ('[sensor_community]\ntoken = "x"\n', "sensor_community.token: sensor.community takes no"),
        ("[sensor_community]\ninterval = 0\n", "sensor_community.interval: 0 is out of range"),
        ('[sensor_community]\nurl = "ftp://x"\n', "give http://host[:port]"),
        ("[sensor_community]\nmaxage = 60\n", "sensor_community.maxage: unknown key"),
    ],
)
def test_configuration_mistakes_are_one_line_naming_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_the_section_turns_it_on_with_the_public_url_and_enabled_false_turns_it_off(
    tmp_path: Path,
) -> None:
    on = load(tmp_path, "[sensor_community]\n").parts["sensor_community"]
    assert isinstance(on, SensorCommunity)
    assert on.http.url == "https://api.sensor.community" and on.interval == 145
    assert load(tmp_path, "[sensor_community]\nenabled = false\n").parts["sensor_community"] is None
    assert load(tmp_path, "").parts["sensor_community"] is None


# -- through the real gateway process --------------------------------------------


def test_an_opted_in_node_uploads_as_the_firmware_does_and_others_send_nothing(
    tmp_path: Path, line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    with HttpServer() as server:
        g = gateway(serial(line, section(server) + nodes(n8=None, n7=SENSOR)))
        line.send(air(8, 1))  # listed, stored, not opted in: before node 7's, in the cursor
        line.send(air(7, 1))
        server.wait_for(lambda reqs: len(reqs) >= 2, "node 7's two uploads")
        g.stop()
    sent = server.received()
    assert len(sent) == 2 and g.stored() == [(8, 1), (7, 1)]
    for request in sent:
        assert request.method == "POST" and request.target == "/v1/push-sensor-data/"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-sensor"] == SENSOR
        doc = json.loads(request.body)
        assert doc["software_version"].startswith("meteolink-")
    assert [(r.headers["x-pin"], values(r)) for r in sent] == [
        ("1", {"P0": "5.00", "P1": "12.30", "P2": "8.10"}),
        ("11", {"temperature": "21.50", "pressure": "101320.00", "humidity": "55.00"}),
    ]


def test_one_upload_per_node_per_interval_and_a_backlog_is_its_latest_reading(
    tmp_path: Path, line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    """A backlog (stored while the upstream was not configured) is one upload per node,
    the newest reading; a reading within the interval of the node's last is passed over."""
    plain = serial(line, nodes(n7=SENSOR, n9=OTHER))
    g = gateway(plain)
    for seq in range(1, 6):
        line.send(air(7, seq, temperature=20.0 + seq))
    line.send(air(9, 1))
    wait_until(lambda: len(g.stored()) == 6, "six readings stored")
    g.stop()
    with HttpServer() as server:
        (tmp_path / "gateway.log").unlink()
        g = gateway(serial(line, section(server, "interval = 3600\n") + nodes(n7=SENSOR, n9=OTHER)))
        server.wait_for(lambda reqs: len(reqs) >= 4, "the backlog's uploads")
        line.send(air(7, 6, temperature=30.0))  # within the hour: passed over
        line.send(air(9, 2))  # within the hour too
        wait_until(lambda: cursor(g, server) == 8, "the upstream past the new readings")
        g.stop()
    assert [(r.headers["x-sensor"], r.headers["x-pin"]) for r in server.received()] == [
        (SENSOR, "1"), (SENSOR, "11"), (OTHER, "1"), (OTHER, "11")
    ]  # fmt: skip
    assert values(server.received()[1])["temperature"] == "25.00"  # reading 5, the latest


def test_a_5xx_is_retried_until_taken_and_a_400_is_passed_over(
    tmp_path: Path, line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    """The same request again after 500 and 503; a 400 (a value the map will never take)
    is counted and logged, and the reading's other pin and the next readings go on."""
    with HttpServer() as server:
        server.script(Reply(500), Reply(503))

        def answer(r: Received) -> Reply:
            if r.headers["x-sensor"] == OTHER and r.headers["x-pin"] == "1":
                return Reply(400, body=b"invalid value_type")
            return Reply(200)

        server.then = answer
        g = gateway(serial(line, section(server) + nodes(n7=SENSOR, n9=OTHER)))
        line.send(air(7, 1))
        server.wait_for(lambda reqs: len(reqs) >= 4, "node 7's uploads, retried")
        line.send(air(9, 1))
        wait_until(lambda: cursor(g, server) == 2, "the upstream past node 9's reading")
        g.stop()
    sent = [(r.headers["x-sensor"], r.headers["x-pin"], r.body) for r in server.received()]
    assert [s[:2] for s in sent] == [
        (SENSOR, "1"), (SENSOR, "1"), (SENSOR, "1"), (SENSOR, "11"), (OTHER, "1"), (OTHER, "11")
    ]  # fmt: skip
    assert sent[0][2] == sent[1][2] == sent[2][2]  # the same reading, sent again
    assert "refused reading 9-1 for good" in g.log()
    assert "HTTP 400: invalid value_type" in g.log()


def test_a_refused_sensor_is_that_nodes_problem_and_the_other_nodes_go_on(
    tmp_path: Path, line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    with HttpServer() as server:
        server.then = lambda r: Reply(403) if r.headers["x-sensor"] == SENSOR else Reply(200)
        g = gateway(serial(line, section(server) + nodes(n7=SENSOR, n9=OTHER)))
        line.send(air(7, 1))
        line.send(air(9, 1))
        wait_until(lambda: cursor(g, server) == 2, "the upstream past both readings")
        g.stop()
    assert len(by_sensor(server, OTHER)) == 2
    assert "is the node's sensor_community_id registered" in g.log()


def test_a_reading_older_than_max_age_is_not_sent(
    tmp_path: Path, line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    """The map stamps a value with its arrival: a reading taken an hour ago (its frame's
    age) would be shown as now."""
    with HttpServer() as server:
        g = gateway(serial(line, section(server, "max_age = 600\n") + nodes(n7=SENSOR, n9=OTHER)))
        line.send(air(7, 1, age=3600))
        line.send(air(9, 1))
        wait_until(lambda: cursor(g, server) == 2, "the upstream past both readings")
        g.stop()
    assert by_sensor(server, SENSOR) == [] and len(by_sensor(server, OTHER)) == 2


async def until(condition: Callable[[], object], what: str, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def test_a_reading_that_grows_too_old_while_retried_is_given_up(tmp_path: Path) -> None:
    """In-process, the wall clock the upstream judges age by moved on while the map was
    away: the retried reading is dropped (once per request: pins 1 and 11), the next goes."""
    with HttpServer() as server:
        server.then = Reply(503)
        cfg = Config(
            data=tmp_path / "data", name="gw", nodes={7: NodeConfig(sensor_community_id=SENSOR)}
        )
        http = HttpSettings(section="sensor_community", url=server.url)
        settings = SensorCommunity(http=http, interval=0.01, max_age=600)
        up = SensorCommunityUpstream(cfg, settings, backoff=Backoff(first=0.05, cap=0.1))
        late = [0.0]
        up.pace.wall = lambda: time.time() + late[0]
        gw = Gateway(cfg, upstreams=[up])

        async def main() -> None:
            running = asyncio.create_task(gw.run())
            try:
                gw.receive(air(7, 1), source="t")
                await until(lambda: len(server.received()) >= 2, "the reading retried")
                late[0] = 601.0
                await until(lambda: up.refused["too old"] == 2, "the reading given up")
                late[0] = 0.0
                server.then = Reply(200)
                gw.receive(air(7, 2), source="t")
                await until(lambda: up.delivered == 2, "the next reading's two uploads")
            finally:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running

        asyncio.run(main())
    assert [r.headers["x-pin"] for r in server.received()[-2:]] == ["1", "11"]
    store = Store(tmp_path / "data" / "readings.db")
    try:
        assert store._cursor(up.name) == 2
    finally:
        store.close()
