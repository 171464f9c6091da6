"""The InfluxDB upstream: against a real InfluxDB 1.6 and a real VictoriaMetrics, through the
real gateway process, and against the loopback server for each kind of answer."""

import asyncio
import contextlib
import datetime
import json
import math
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from meteolink.firmware import frames
from meteolink.gateway import config as gateway_config
from meteolink.gateway.backoff import Backoff
from meteolink.gateway.config import Config, ConfigError, NodeConfig
from meteolink.gateway.http_upstream import HttpSettings
from meteolink.gateway.influx_upstream import (
    Influx,
    InfluxUpstream,
    measurement,
    point,
    string_field,
    tag,
)
from meteolink.gateway.messages import StateRows
from meteolink.gateway.service import Gateway
from tests.support.gateway_process import GatewayProcess
from tests.support.http_server import HttpServer, Reply
from tests.support.influx import InfluxDB, VictoriaMetrics
from tests.support.lines import Line
from tests.support.tools import meteolink, wait_until

NAME = 'Cēsis skola, "jumts"=2'  # a space, a comma, an equals sign and quotes


@pytest.fixture
def influxdb(tmp_path: Path) -> Iterator[InfluxDB]:
    db = InfluxDB(tmp_path / "influxdb")
    db.start()
    db.create_database("meteo")
    yield db
    db.stop()


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    vm = VictoriaMetrics(tmp_path / "victoria")
    vm.start()
    yield vm
    vm.stop()


def weather(node: int, seq: int, *, temperature: float | None = None) -> bytes:
    """A frame of temperature, humidity, pressure and PM2.5 that move with seq, taken
    age(seq) seconds before it is sent: a node's readings are seconds apart, and two
    taken in one second would be one point (the module's docstring)."""
    values = {
        "age": age(seq),
        "temperature": temperature if temperature is not None else 1.5 + seq / 10,
        "humidity": 70.0 + seq % 20,
        "pressure": 1000.0 + seq / 10,
        "pm2_5": 4.0 + seq,
    }
    return frames.encode(node, seq, values, None, 0)


def config_text(line: Line, data: Path, influx: str, *, name: str = "gw") -> str:
    return (
        f'[gateway]\nname = "{name}"\ndata = "{data}"\ncommit_interval = 0.05\n\n'
        f'[[serial]]\nport = "{line.link}"\n\n'
        f"[influxdb]\n{influx}\n\n"
        f'[nodes.7]\nname = "{NAME.replace(chr(34), chr(92) + chr(34))}"\naltitude = 98\n'
    )


def start(tmp_path: Path, line: Line, influx: str, *, name: str = "gw") -> GatewayProcess:
    directory = tmp_path / name
    directory.mkdir()
    path = directory / "gateway.toml"
    path.write_text(config_text(line, directory / "data", influx, name=name), "utf-8")
    path.chmod(0o600)
    g = GatewayProcess(path, directory / "data")
    g.start()
    g.wait_open()
    return g


@pytest.fixture
def processes() -> Iterator[list[GatewayProcess]]:
    made: list[GatewayProcess] = []
    yield made
    for g in made:
        g.kill()


def published(frame: bytes, taken: float) -> dict[str, object]:
    """The state message the gateway makes of frame: what the point must carry."""
    cfg = Config(nodes={7: NodeConfig(name=NAME, altitude=98.0)})
    f = frames.decode(frame)
    return StateRows(cfg).message(7, f.seq, taken, None, None, f.fields)


def age(seq: int) -> int:
    """How long before it was sent reading seq was taken: 4 s apart (the field's step)."""
    return 4 * (60 - seq)


# -- the line protocol -------------------------------------------------------


def test_escaping_follows_the_line_protocol_references_examples() -> None:
    """InfluxDB OSS 1.6 documentation, "Line protocol tutorial", "Special characters and
    keywords": its examples, each element escaped by the function for its place."""
    assert (
        "weather," + tag("location place") + "=us-midwest" == r"weather,location\ place=us-midwest"
    )
    assert "weather,location=" + tag("us,midwest") == r"weather,location=us\,midwest"
    assert tag("temp=rature") + "=82" == r"temp\=rature=82"
    assert "temperature=" + string_field('too"hot"') == r'temperature="too\"hot\""'
    hot_cold = "too hot" + "\\" + "cold"
    assert "temperature_str=" + string_field(hot_cold) == r'temperature_str="too hot\\cold"'
    assert measurement("rain fall,x=1") == r"rain\ fall\,x=1"  # "=" needs no escape here
    assert tag("two\nlines") == r"two\ lines"  # no line break in a tag: said as a space


def test_a_point_has_the_readings_values_its_node_and_own_time() -> None:
    frame = weather(7, 31, temperature=93.0)  # implausible: not a field
    msg = published(frame, 1764328068.9)
    line = point(msg, 1764328068.9, "meteolink", r",name=Cēsis\ skola,node=7")
    head, fields, stamp = line.rsplit(" ", 2)
    assert head == r"meteolink,name=Cēsis\ skola,node=7"
    assert stamp == "1764328068"  # the second it was taken in
    values = dict(f.split("=", 1) for f in fields.split(","))
    assert "temperature" not in values and "dew_point" not in values
    assert values["seq"] == "31i" and values["humidity"] == "81.0"
    # 35 µg/m³ PM2.5 is in the EEA's band 15-50, "moderate" (gateway/derived.py)
    assert values["aq_band_pm2_5"] == '"moderate"' and values["aq_band"] == '"moderate"'
    assert values["pm2_5"] == "35.0"
    assert set(values) == {"humidity", "pressure", "pm2_5", "seq", "aq_band_pm2_5", "aq_band"}
    quiet = point(msg, 0, "m", ",node=7", strings=False)
    assert '"' not in quiet


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        ('url = "http://127.0.0.1:8086"', "database: missing"),
        ('url = "http://127.0.0.1:8086"\napi = "v3"', 'give "v1"'),
        ('url = "http://127.0.0.1:8086"\napi = "v2"\nbucket = "b"', "org: missing"),
        ('url = "http://127.0.0.1:8086"\ndatabase = "m"\nbucket = "b"', 'is for api = "v2"'),
        ('url = "http://127.0.0.1:8086"\ndatabase = "m"\nmeasurment = "x"', "unknown key"),
        # InfluxDB takes a line beginning with '#' as a comment: 204, and nothing written.
        ('url = "http://127.0.0.1:8086"\ndatabase = "m"\nmeasurement = "#m"', "a comment"),
    ],
)
def test_a_mistake_in_the_section_is_one_line_naming_the_key(
    tmp_path: Path, keys: str, error: str
) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(f"[influxdb]\n{keys}\n", "utf-8")
    with pytest.raises(ConfigError) as raised:
        gateway_config.load(path)
    assert error in str(raised.value) and "\n" not in str(raised.value)


# -- through the real gateway, into the real databases -----------------------


def test_readings_on_the_line_arrive_as_points_with_the_published_values(
    tmp_path: Path, line: Line, influxdb: InfluxDB, processes: list[GatewayProcess]
) -> None:
    processes.append(start(tmp_path, line, f'url = "{influxdb.url}"\ndatabase = "meteo"'))
    sent = {seq: weather(7, seq) for seq in range(1, 6)}
    sent[6] = weather(7, 6, temperature=93.0)  # implausible (the plausible top is 40 °C)
    before = time.time()
    for frame in sent.values():
        line.send(frame)
    wait_until(lambda: len(influxdb.query("SELECT * FROM meteolink")) == 6, "six points", 30)
    # The gateway read each frame (its received time) somewhere between the send and now:
    # on a loaded machine, well after line.send returned.
    after = time.time()
    rows = {row["seq"]: row for row in influxdb.query("SELECT * FROM meteolink")}
    assert set(rows) == set(sent)
    for seq, row in rows.items():
        assert row["node"] == "7" and row["name"] == NAME  # escaped, and read back whole
        assert math.floor(before) - age(seq) <= row["time"] <= after - age(seq)
        msg = published(sent[seq], row["time"])
        for key in ("humidity", "pressure", "pm2_5", "sea_level_pressure", "dew_point"):
            assert row[key] == msg.get(key), (seq, key)
        assert row["aq_band"] == msg["aq_band"]
    assert rows[6]["temperature"] is None  # not written: 93 °C is implausible
    assert rows[5]["temperature"] == 2.0


def test_a_database_stopped_and_started_again_loses_nothing(
    tmp_path: Path, line: Line, influxdb: InfluxDB, processes: list[GatewayProcess]
) -> None:
    g = start(tmp_path, line, f'url = "{influxdb.url}"\ndatabase = "meteo"')
    processes.append(g)
    for seq in range(1, 11):
        line.send(weather(7, seq))
    wait_until(lambda: len(influxdb.query("SELECT seq FROM meteolink")) == 10, "ten points", 30)
    influxdb.stop()
    for seq in range(11, 31):
        line.send(weather(7, seq))
    wait_until(lambda: len(g.stored()) == 30, "thirty readings stored")
    wait_until(lambda: "readings wait in the store" in g.log(), "the outage noticed")
    influxdb.start()
    wait_until(lambda: len(influxdb.query("SELECT seq FROM meteolink")) == 30, "all 30", 60)
    seqs = sorted(r["seq"] for r in influxdb.query("SELECT seq FROM meteolink"))
    assert seqs == list(range(1, 31))


def test_the_same_readings_from_two_gateways_are_one_point_each(
    tmp_path: Path, influxdb: InfluxDB, processes: list[GatewayProcess]
) -> None:
    """Two gateways hear the same transmissions: a line each, written at once, as two
    radios receive one frame. Each reading's second is the same at both (written early in
    a second), so each is one point: same measurement, tag set and time."""
    lines = [Line(tmp_path / "a-line"), Line(tmp_path / "b-line")]
    try:
        for name, ln in zip(("a", "b"), lines, strict=True):
            influx = f'url = "{influxdb.url}"\ndatabase = "meteo"'
            processes.append(start(tmp_path, ln, influx, name=name))
        for seq in range(1, 6):
            time.sleep(1.1 - time.time() % 1)  # a tenth into the next second
            for ln in lines:
                ln.send(weather(7, seq))
        # Each gateway's cursor reaches its fifth reading: each wrote all five.
        wait_until(
            lambda: all(cursor(g) == 5 for g in processes), "both to write every reading", 30
        )
    finally:
        for ln in lines:
            ln.close()
    rows = influxdb.query("SELECT seq, humidity FROM meteolink")
    assert sorted(r["seq"] for r in rows) == [1, 2, 3, 4, 5]


def cursor(g: GatewayProcess) -> int:
    """The InfluxDB upstream's cursor in the gateway's store, read as a second process would."""
    db = sqlite3.connect(f"file:{g.data / 'readings.db'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT last_id FROM cursors WHERE upstream LIKE 'influxdb:%'").fetchone()
        return int(row[0]) if row else 0
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def test_v2_writes_reach_victoria_metrics(
    tmp_path: Path, line: Line, victoria: VictoriaMetrics, processes: list[GatewayProcess]
) -> None:
    influx = (
        f'url = "{victoria.url}"\napi = "v2"\norg = "riga"\nbucket = "meteo"\n'
        'token = "any"\nstring_fields = false'
    )
    processes.append(start(tmp_path, line, influx))
    sent = {seq: weather(7, seq) for seq in range(1, 4)}
    for frame in sent.values():
        line.send(frame)

    def series() -> dict[str, dict[str, Any]]:
        return {s["metric"]["__name__"]: s for s in victoria.export()}

    wait_until(lambda: len(series().get("meteolink_seq", {}).get("values", [])) == 3, "3", 30)
    found = series()
    assert "meteolink_aq_band" not in found  # no string fields: VictoriaMetrics makes them 0
    seq_series = found["meteolink_seq"]
    assert seq_series["metric"] == {"__name__": "meteolink_seq", "node": "7", "name": NAME}
    assert seq_series["values"] == [1, 2, 3]
    humidity = found["meteolink_humidity"]
    for seq, stamp, value in zip(
        seq_series["values"], humidity["timestamps"], humidity["values"], strict=True
    ):
        msg = published(sent[int(seq)], stamp / 1000)
        assert value == msg["humidity"]
        assert stamp % 1000 == 0  # precision=s


def test_a_name_ending_in_a_backslash_is_written_not_refused(
    tmp_path: Path, influxdb: InfluxDB
) -> None:
    """A backslash at the end of a tag value or measurement, or before a space, escapes
    what follows it in the line protocol (InfluxDB 1.6 answered 400 "invalid tag format"
    for every point of such a node, which the upstream then refused for good): the
    points arrive, the backslash left out, each node under its own tags."""
    names = {7: "roof" + "\\", 8: "a" + "\\" + " b", 9: "\\"}
    cfg = Config(data=tmp_path / "data", nodes={n: NodeConfig(name=s) for n, s in names.items()})
    http = HttpSettings(section="influxdb", url=influxdb.url, batch=100)
    influx = Influx(http=http, database="meteo", measurement="m" + "\\")
    up = InfluxUpstream(cfg, influx=influx, backoff=Backoff(first=0.05, cap=0.2))
    gw = Gateway(cfg, upstreams=[up])

    async def main() -> None:
        running = asyncio.create_task(gw.run())
        try:
            for seq in (1, 2):
                for node in names:
                    gw.receive(weather(node, seq), source="t")
            await until(lambda: up.delivered + sum(up.refused.values()) == 6, "six answers")
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running

    asyncio.run(main())
    assert up.refused == {}
    rows = influxdb.query('SELECT * FROM "m"')
    assert sorted((r["node"], r["name"] or "", r["seq"]) for r in rows) == [
        ("7", "roof", 1),
        ("7", "roof", 2),
        ("8", "a b", 1),
        ("8", "a b", 2),
        ("9", "", 1),  # a lone backslash: no name tag at all
        ("9", "", 2),
    ]


# -- each kind of answer, against the loopback server ------------------------


async def until(condition: Callable[[], object], what: str, timeout: float = 20) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def run(
    tmp_path: Path,
    server: HttpServer,
    script: Callable[[Gateway, InfluxUpstream], Awaitable[None]],
    api: str = "v2",
) -> InfluxUpstream:
    cfg = Config(data=tmp_path / "data", name="gw", nodes={7: NodeConfig(name="roof")})
    http = HttpSettings(section="influxdb", url=server.url, token="t0ken", batch=100)
    if api == "v2":
        influx = Influx(http=http, api="v2", org="riga", bucket="meteo")
    else:
        influx = Influx(http=http, api="v1", database="meteo", retention_policy="year")
    up = InfluxUpstream(cfg, influx=influx, backoff=Backoff(first=0.05, cap=0.2))
    gw = Gateway(cfg, upstreams=[up])

    async def main() -> None:
        running = asyncio.create_task(gw.run())
        try:
            await script(gw, up)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running

    asyncio.run(main())
    return up


def writes(server: HttpServer) -> list[str]:
    """The lines of every write request, in order."""
    return [line for r in server.received("POST") for line in r.body.decode().splitlines()]


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_204_a_batch_is_one_write_with_the_apis_query_and_credentials(
    tmp_path: Path, api: str
) -> None:
    with HttpServer() as server:

        async def script(gw: Gateway, up: InfluxUpstream) -> None:
            await until(lambda: server.received("GET", "/ping"), "the probe")
            for seq in (1, 2, 3):
                gw.receive(weather(7, seq), source="t")
            await until(lambda: up.delivered == 3, "three points")

        run(tmp_path, server, script, api)
    write = server.received("POST")[0]
    assert write.headers["authorization"] == "Token t0ken"
    assert write.headers["content-type"] == "text/plain; charset=utf-8"
    if api == "v2":
        assert write.path == "/api/v2/write"
        assert write.query == {"org": "riga", "bucket": "meteo", "precision": "s"}
    else:
        assert write.path == "/write"
        assert write.query == {"db": "meteo", "rp": "year", "precision": "s"}
    assert [line.split(" ")[0] for line in writes(server)] == ["meteolink,name=roof,node=7"] * 3


def test_400_refuses_one_reading_the_cursor_moves_and_the_next_batch_goes(
    tmp_path: Path,
) -> None:
    """InfluxDB answers 400 (a field type conflict, say) for a batch with a point it will
    never take: the rest of that batch and the next batch arrive."""

    def answer(request: object) -> Reply:
        body = getattr(request, "body", b"")
        if b"seq=2i" in body:
            return Reply(
                400, {"Content-Type": "application/json"}, b'{"error":"field type conflict"}'
            )
        return Reply(204)

    with HttpServer() as server:
        server.then = answer

        async def script(gw: Gateway, up: InfluxUpstream) -> None:
            for seq in (1, 2, 3):
                gw.receive(weather(7, seq), source="t")
            await until(lambda: up.delivered == 2, "two of three")
            gw.receive(weather(7, 4), source="t")
            await until(lambda: up.delivered == 3, "the next batch")

        up = run(tmp_path, server, script)
    assert up.refused == {"HTTP 400": 1}
    taken = [r for r in server.received("POST") if b"seq=2i" not in r.body]
    seqs = sorted(
        int(p.split("seq=")[1].split("i")[0]) for r in taken for p in r.body.decode().splitlines()
    )
    assert seqs == [1, 3, 4]


def test_401_waits_and_says_the_token_is_wrong(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with HttpServer() as server:
        server.script(Reply(204), Reply(401, body=b'{"code":"unauthorized"}'))  # ping, write

        async def script(gw: Gateway, up: InfluxUpstream) -> None:
            await until(lambda: server.received("GET", "/ping"), "the probe")
            gw.receive(weather(7, 1), source="t")
            await until(lambda: up.delivered == 1, "delivered once taken")

        with caplog.at_level("WARNING"):
            up = run(tmp_path, server, script)
    assert len(server.received("POST")) == 2  # the same batch again, not passed over
    assert up.refused == {}
    assert any(
        "refused the credentials (HTTP 401" in r.getMessage()
        and "check [influxdb] token" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize(
    "reply",
    [
        Reply(429, {"Retry-After": "1"}),
        Reply(503, {"Retry-After": "1"}),
        Reply(500),
        Reply(503),
    ],
)
def test_429_500_and_503_are_retried_429_no_sooner_than_asked(tmp_path: Path, reply: Reply) -> None:
    with HttpServer() as server:
        server.script(Reply(204), reply)

        async def script(gw: Gateway, up: InfluxUpstream) -> None:
            await until(lambda: server.received("GET", "/ping"), "the probe")
            gw.receive(weather(7, 1), source="t")
            await until(lambda: up.delivered == 1, "delivered")

        up = run(tmp_path, server, script)
    first, second = server.received("POST")
    assert first.body == second.body
    if "Retry-After" in reply.headers:
        assert second.at - first.at >= 1.0
    assert up.refused == {}


def test_json_of_qc_flags_is_a_string_field() -> None:
    msg = {"seq": 1, "humidity": 50.0, "qc": {"temperature": ["step"]}}
    line = point(msg, 1.0, "m", ",node=1")
    assert line == r'm,node=1 humidity=50.0,seq=1i,qc="{\"temperature\":[\"step\"]}" 1'
    assert json.loads(line.split('qc="')[1][:-3].replace('\\"', '"')) == msg["qc"]


def test_the_docs_point_is_what_the_docs_state_message_becomes() -> None:
    """docs/gateway.md: section 8's point is section 3's example reading, as written."""
    doc = (Path(__file__).parents[2] / "docs" / "gateway.md").read_text("utf-8")
    example = doc.split("whose temperature rose")[1].split("```json")[1].split("```")[0]
    message = json.loads(example)
    shown = next(ln for ln in doc.splitlines() if ln.startswith("meteolink,name="))
    taken = datetime.datetime.fromisoformat(message["time"]).timestamp()
    assert point(message, taken, "meteolink", ",name=" + tag(message["name"]) + ",node=7") == shown


def test_while_idle_the_ping_says_whether_the_database_is_there(tmp_path: Path) -> None:
    with HttpServer() as server:
        server.script(Reply(503, body=b"starting"))  # the first /ping

        async def script(gw: Gateway, up: InfluxUpstream) -> None:
            progress = gw.progress[up.name]
            await until(lambda: progress.state == "retrying", "retrying")
            assert "unavailable (HTTP 503: starting)" in progress.reason
            gw.receive(weather(7, 1), source="t")  # a delivery says it is back
            await until(lambda: progress.state == "connected", "connected")

        run(tmp_path, server, script)
    assert [r.method for r in server.received()][:2] == ["GET", "POST"]


def test_check_names_the_database_and_a_token_in_clear_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(
        '[[serial]]\nport = "/dev/null"\n\n[influxdb]\nurl = "http://127.0.0.1:8086"\n'
        'database = "meteo"\n',
        "utf-8",
    )
    done = meteolink("gateway", "--config", str(path), "--check")
    assert (
        "writes points to InfluxDB (v1) at http://127.0.0.1:8086, database meteo,"
        " measurement meteolink"
    ) in done.stdout
    path.write_text(
        '[[serial]]\nport = "/dev/null"\n\n[influxdb]\nurl = "http://db.example.lv:8086"\n'
        'api = "v2"\norg = "riga"\nbucket = "meteo"\ntoken = "s3cret"\n',
        "utf-8",
    )
    path.chmod(0o600)
    refused = meteolink("gateway", "--config", str(path), "--check")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "s3cret" not in refused.stderr
    assert "a token over plain http:// to db.example.lv travels in clear" in refused.stderr


def test_a_file_with_a_token_that_every_user_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(
        '[influxdb]\nurl = "https://db.example.lv"\napi = "v2"\norg = "o"\nbucket = "b"\n'
        'token = "s3cret"\n',
        "utf-8",
    )
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"holds influxdb\.token and every user may read it"):
        gateway_config.load(path)


def test_a_wrong_password_waits_and_the_right_one_delivers_everything(
    tmp_path: Path, line: Line, processes: list[GatewayProcess]
) -> None:
    """InfluxDB with auth-enabled answers 401 to a wrong password: the readings wait, the log
    says which keys to check, and with the password corrected (a restart) every one arrives."""
    db = InfluxDB(tmp_path / "influxdb", auth=True)
    db.start()
    try:
        db.create_admin("admin", "r1ght")
        db.create_database("meteo")
        keys = 'url = "{url}"\ndatabase = "meteo"\nusername = "admin"\npassword = "{pw}"'
        g = start(tmp_path, line, keys.format(url=db.url, pw="wr0ng"))
        processes.append(g)
        for seq in range(1, 4):
            line.send(weather(7, seq))
        wait_until(lambda: "refused the credentials" in g.log(), "the refusal said")
        said = next(ln for ln in g.log().splitlines() if "refused the credentials" in ln)
        assert "HTTP 401" in said and "check [influxdb] username and password" in said
        assert "wr0ng" not in g.log()
        assert db.query("SELECT seq FROM meteolink") == []
        g.stop()
        (g.config).write_text(
            config_text(line, g.data, keys.format(url=db.url, pw="r1ght")), "utf-8"
        )
        g.start()
        wait_until(lambda: len(db.query("SELECT seq FROM meteolink")) == 3, "all three", 30)
    finally:
        db.stop()


def test_a_database_that_does_not_exist_is_said_and_the_readings_wait_for_it(
    tmp_path: Path, line: Line, processes: list[GatewayProcess]
) -> None:
    db = InfluxDB(tmp_path / "influxdb")
    db.start()
    try:
        g = start(tmp_path, line, f'url = "{db.url}"\ndatabase = "meteo"')
        processes.append(g)
        line.send(weather(7, 1))
        wait_until(lambda: "InfluxDB has no database meteo" in g.log(), "the database missed")
        said = next(ln for ln in g.log().splitlines() if "InfluxDB has no database" in ln)
        assert "create it: influx -execute 'CREATE DATABASE meteo'" in said
        db.create_database("meteo")
        wait_until(lambda: len(db.query("SELECT seq FROM meteolink")) == 1, "the reading", 90)
    finally:
        db.stop()
