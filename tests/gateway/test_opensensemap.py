"""The openSenseMap upstream against a loopback server, through the real gateway process.

What a request must be is openSenseMap's API documentation, "Post multiple new
measurements" (docs.opensensemap.org; its source is the apidoc comment of
postNewMeasurements in sensebox/openSenseMap-API, packages/api/lib/controllers/
measurementsController.js): POST /boxes/:senseBoxId/data, content-type
application/json, the JSON array form [{"sensor", "value", "createdAt"}] with
createdAt an RFC 3339 time, the box's access_token as the Authorization header
(compared whole with box.access_token there), 201 "Measurements saved in box"
on success, at most 2500 values a request.
"""

import datetime
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from meteolink.firmware import frames
from meteolink.gateway import config as config_module
from meteolink.gateway import derived
from meteolink.gateway.config import ConfigError
from meteolink.gateway.public_maps import clean
from tests.support.gateway_process import GatewayProcess
from tests.support.http_server import HttpServer, Reply
from tests.support.http_server import Request as Received
from tests.support.lines import Line
from tests.support.tools import wait_until

BOX = "5f0a1b2c3d4e5f6a7b8c9d0e"
OTHER_BOX = "5f0a1b2c3d4e5f6a7b8c9dff"
TOKEN = "b3c1e0f0a1d2c3b4a5968778695a4b3c2d1e0f9e8d7c6b5a4938271605f4e3d2"
BAD_TOKEN = "not-the-token-5ec2e7"
# What the API answers a wrong token (UnauthorizedError in measurementsController.js).
UNAUTHORIZED = b'{"code":"Unauthorized","message":"Box access token not valid!"}'
PM25 = "5f0a1b2c3d4e5f6a7b8c9d01"
TEMP = "5f0a1b2c3d4e5f6a7b8c9d02"
DEW = "5f0a1b2c3d4e5f6a7b8c9d03"


def air(node: int, seq: int, **values: float) -> bytes:
    base = {"pm2_5": 8.1, "pm10": 12.3, "temperature": 21.5, "humidity": 55.0}
    return frames.encode(node, seq, {**base, **values})


def serial(line: Line, server: HttpServer, extra: str = "") -> str:
    return (
        f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n'
        f'\n[opensensemap]\nurl = "{server.url}"\n' + extra
    )


def box(node: int, box_id: str = BOX, token: str | None = TOKEN) -> str:
    text = f'\n[nodes.{node}]\n[nodes.{node}.opensensemap]\nbox = "{box_id}"\n'
    if token is not None:
        text += f'token = "{token}"\n'
    return text + f'sensors = {{ pm2_5 = "{PM25}", temperature = "{TEMP}", dew_point = "{DEW}" }}\n'


def cursor(g: GatewayProcess, server: HttpServer) -> int:
    """The upstream's cursor in the store, read as a second process would."""
    db = sqlite3.connect(f"file:{g.data / 'readings.db'}?mode=ro", uri=True)
    try:
        row = db.execute(
            "SELECT last_id FROM cursors WHERE upstream = ?", (f"opensensemap:{server.url}",)
        ).fetchone()
    except sqlite3.OperationalError:
        row = None
    finally:
        db.close()
    return int(row[0]) if row else 0


def measurements(request: Received) -> list[dict[str, str]]:
    doc = json.loads(request.body)
    assert isinstance(doc, list)
    return doc


def test_a_box_gets_its_sensors_values_with_the_time_taken_and_its_token(
    tmp_path: Path, line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    with HttpServer() as server:
        server.then = Reply(201, body=b"Measurements saved in box")
        g = gateway(serial(line, server, "\n[nodes.8]\n" + box(7)))
        line.send(air(8, 1))  # listed, not opted in: before node 7's in the cursor
        line.send(air(7, 1, age=120))  # taken two minutes before it was heard
        server.wait_for(lambda reqs: len(reqs) >= 1, "node 7's upload")
        wait_until(lambda: cursor(g, server) == 2, "the upstream past both readings")
        g.stop()
    (request,) = server.received()
    assert request.method == "POST" and request.target == f"/boxes/{BOX}/data"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == TOKEN  # the token itself, no scheme
    sent = measurements(request)
    # The dew point as the gateway derives it (gateway/derived.py, held to WMO-No. 8 there).
    dew = derived.derive({"temperature": 21.5, "humidity": 55.0}, None)["dew_point"]
    assert [(m["sensor"], m["value"]) for m in sent] == [
        (PM25, "8.10"), (TEMP, "21.50"), (DEW, f"{dew:.2f}")
    ]  # fmt: skip
    times = {m["createdAt"] for m in sent}
    assert len(times) == 1
    taken = datetime.datetime.fromisoformat(times.pop().replace("Z", "+00:00"))
    assert taken.tzinfo is not None  # RFC 3339: with its offset
    heard = datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(seconds=100) < heard - taken < datetime.timedelta(seconds=200)


def test_implausible_and_flagged_values_stay_off_the_map(
    tmp_path: Path, line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    """85 °C (a DS18B20's fault value) is implausible, and no dew point is derived from it;
    PM2.5 above PM10 is flagged "consistency" by quality control: nothing of that reading
    is sent. The other node's clean PM2.5 goes."""
    with HttpServer() as server:
        server.then = Reply(201)
        g = gateway(serial(line, server, "interval = 3600\n" + box(7) + box(9, OTHER_BOX)))
        line.send(air(7, 1, temperature=85.0, pm2_5=30.0, pm10=12.0))
        line.send(air(9, 1, temperature=85.0))
        wait_until(lambda: cursor(g, server) == 2, "the upstream past both readings")
        line.send(air(7, 2))  # clean: node 7's turn was not taken by the reading sent nothing
        wait_until(lambda: cursor(g, server) == 3, "the upstream past node 7's next")
        g.stop()
    requests = server.received()
    assert [r.target for r in requests] == [f"/boxes/{OTHER_BOX}/data", f"/boxes/{BOX}/data"]
    assert [m["sensor"] for m in measurements(requests[0])] == [PM25]  # node 9: PM2.5 only


def test_a_refused_token_is_that_boxs_problem_and_5xx_is_retried(
    tmp_path: Path, line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    """401 (the box's token) passes that node's reading over with a line saying what to
    check, and the token never in the log; 500 is retried until the map takes it."""
    with HttpServer() as server:

        def answer(r: Received) -> Reply:
            if r.path == f"/boxes/{BOX}/data":
                return Reply(
                    401, body=b'{"code":"Unauthorized","message":"Box access token not valid!"}'
                )
            return Reply(201)

        server.script(Reply(500))  # node 9's first attempt, before node 7's
        server.then = answer
        g = gateway(serial(line, server, box(9, OTHER_BOX) + box(7, token=BAD_TOKEN)))
        line.send(air(9, 1))
        server.wait_for(lambda reqs: len(reqs) >= 2, "node 9's reading retried")
        line.send(air(7, 1))
        wait_until(lambda: cursor(g, server) == 2, "the upstream past both readings")
        g.stop()
    targets = [r.target for r in server.received()]
    assert targets == [f"/boxes/{OTHER_BOX}/data"] * 2 + [f"/boxes/{BOX}/data"]
    assert server.received()[0].body == server.received()[1].body
    log = g.log()
    assert "refused reading 7-1 for good" in log and "check token in the node's" in log
    assert BAD_TOKEN not in log


def test_one_upload_per_node_per_interval(
    tmp_path: Path, line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    with HttpServer() as server:
        server.then = Reply(201)
        g = gateway(serial(line, server, "interval = 3600\n" + box(7) + box(9, OTHER_BOX)))
        line.send(air(7, 1))
        server.wait_for(lambda reqs: len(reqs) >= 1, "node 7's first upload")
        line.send(air(7, 2))  # within the hour: passed over
        line.send(air(9, 1))
        wait_until(lambda: cursor(g, server) == 3, "the upstream past all three")
        g.stop()
    assert [r.target for r in server.received()] == [
        f"/boxes/{BOX}/data",
        f"/boxes/{OTHER_BOX}/data",
    ]


def load(tmp_path: Path, text: str) -> config_module.Config:
    path = tmp_path / "g.toml"
    path.write_text(text, "utf-8")
    path.chmod(0o600)
    return config_module.load(path)


NODE = "[nodes.7.opensensemap]\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (NODE + 'box = "nope"\nsensors = {}\n', "nodes.7.opensensemap.box: 'nope' is not a"),
        (NODE + f'box = "{BOX}"\n', "nodes.7.opensensemap.sensors: missing"),
        (NODE + f'box = "{BOX}"\nsensors = {{ pm25 = "{PM25}" }}\n', "sensors.pm25: 'pm25' is"),
        (NODE + f'box = "{BOX}"\nsensors = {{ pm2_5 = "x" }}\n', "sensors.pm2_5: 'x' is not a"),
        (NODE + f'box = "{BOX}"\ntoken = ""\nsensors = {{ pm2_5 = "{PM25}" }}\n', "token: empty"),
        (NODE + f'sensors = {{ pm2_5 = "{PM25}" }}\n', "nodes.7.opensensemap.box: missing"),
        ('[opensensemap]\ntoken = "x"\n', "opensensemap.token: each senseBox has its own token"),
        # Issue 13 review: a box's token is a secret like any other.
        (
            '[opensensemap]\nurl = "http://osm.example.lv"\n'
            + NODE
            + f'box = "{BOX}"\ntoken = "t0ken"\nsensors = {{ pm2_5 = "{PM25}" }}\n',
            "opensensemap.url: the senseBoxes' tokens ([nodes.N.opensensemap]) over plain",
        ),
    ],
)
def test_configuration_mistakes_are_one_line_naming_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_the_box_token_is_a_secret_the_file_must_keep_and_check_never_prints(
    tmp_path: Path,
) -> None:
    path = tmp_path / "g.toml"
    path.write_text("[opensensemap]\n" + box(7), "utf-8")
    path.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        config_module.load(path)
    assert "holds nodes.7.opensensemap.token and every user may read it" in str(caught.value)
    path.chmod(0o600)
    node = config_module.load(path).nodes[7]
    assert node.opensensemap is not None and node.opensensemap.token == TOKEN
    assert TOKEN not in repr(node)


def test_a_derived_value_made_from_a_flagged_one_is_not_clean() -> None:
    """The gateway derives a dew point from a step-flagged temperature (the flag says
    "suspect", gateway/quality.py); a public map gets neither."""
    message = {"temperature": 21.5, "humidity": 55.0, "dew_point": 12.1, "qc": {}}
    assert clean(message, "dew_point") == 12.1
    message["qc"] = {"temperature": ["step"]}
    assert clean(message, "dew_point") is None and clean(message, "humidity") == 55.0
