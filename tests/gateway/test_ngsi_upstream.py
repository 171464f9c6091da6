"""The NGSI-LD upstream in-process against a loopback broker's upsert: requests and answers.

The gateway is the real one (store, outbox, cursor); the broker is
tests/support/ngsi_broker.py on the loopback HTTP server, answering as ETSI
GS CIM 009 V1.6.1 clause 6.15.3.1 says a batch upsert answers (201, 204,
207 with a BatchOperationResult, 400), and as a broker says it is away (503)
or refuses a token (401).
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from meteolink.firmware import frames
from meteolink.gateway import http_upstream
from meteolink.gateway.backoff import Backoff
from meteolink.gateway.config import Config, ConfigError, NodeConfig, Table
from meteolink.gateway.http_upstream import Item, Verdict
from meteolink.gateway.ngsi_upstream import ERRORS, NgsiLd, NgsiUpstream, parse, plan, rounds
from meteolink.gateway.service import Gateway
from meteolink.gateway.store import Store, Stored
from tests.support.http_server import HttpServer, Reply
from tests.support.ngsi_broker import UPSERT, NgsiBroker

NODES = {
    12: NodeConfig(name="Cēsis skola", latitude=57.3119, longitude=25.2706, exposure="outdoor"),
    13: NodeConfig(name="Priekuļi", latitude=57.3150, longitude=25.3600),
}
WEATHER_12 = "urn:ngsi-ld:WeatherObserved:riga:12"
AIR_12 = "urn:ngsi-ld:AirQualityObserved:riga:12"


def reading(node: int, seq: int) -> bytes:
    values = {"temperature": 2.0 + seq / 10, "humidity": 80.0, "pm2_5": 4.0 + seq}
    return frames.encode(node, seq, values)


async def until(condition: Callable[[], object], what: str, timeout: float = 20) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def settings(url: str, /, **keys: object) -> NgsiLd:
    section = {"url": url, "tenant": "riga", "id_prefix": "riga:", **keys}
    made = parse(Table({"ngsi_ld": section}, "", "gw.toml"), "ngsi_ld", None)
    assert made is not None
    return made


def run(
    tmp_path: Path,
    server: HttpServer,
    script: Callable[[Gateway, NgsiUpstream], Awaitable[None]],
    **keys: object,
) -> NgsiUpstream:
    cfg = Config(data=tmp_path / "data", name="gw", nodes=NODES)
    up = NgsiUpstream(cfg, settings=settings(server.url + "/broker", **keys))
    up._backoff = Backoff(first=0.05, cap=0.2)
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


def cursor(tmp_path: Path, up: NgsiUpstream) -> int:
    store = Store(tmp_path / "data" / "readings.db")
    try:
        return store._cursor(up.name)
    finally:
        store.close()


def upserts(server: HttpServer) -> list[list[dict[str, Any]]]:
    return [json.loads(r.body) for r in server.received("POST", "/broker" + UPSERT)]


def seqs(broker: NgsiBroker, entity: str) -> list[float]:
    """The temperature of each instance of entity the broker took, in order."""
    return [e["temperature"]["value"] for e in broker.taken("riga") if e["id"] == entity]


def test_readings_are_upserted_in_rounds_with_tenant_token_and_ld_json(tmp_path: Path) -> None:
    broker = NgsiBroker(token="s3cret")
    with HttpServer() as server:
        server.then = broker

        async def script(gw: Gateway, up: NgsiUpstream) -> None:
            await until(lambda: server.received("GET"), "the probe")
            for seq in (1, 2, 3):
                gw.receive(reading(12, seq), source="t")
                gw.receive(reading(13, seq), source="t")
            await until(lambda: up.delivered == 6, "six readings delivered")

        up = run(tmp_path, server, script, token="s3cret")
    probe = server.received("GET")[0]
    assert probe.path == "/broker/ngsi-ld/v1/entities"
    assert probe.headers["ngsild-tenant"] == "riga"
    posts = server.received("POST")
    for post in posts:
        assert post.path == "/broker" + UPSERT and post.query == {"options": "update"}
        assert post.headers["content-type"] == "application/ld+json"
        assert post.headers["ngsild-tenant"] == "riga"
        assert post.headers["authorization"] == "Bearer s3cret"
        batch = json.loads(post.body)
        ids = [e["id"] for e in batch]
        assert len(ids) == len(set(ids)), "one request, one instance of each entity"
    # Every reading arrived, each station's in order, as instances of one entity each.
    assert seqs(broker, WEATHER_12) == [2.1, 2.2, 2.3]
    assert [e["pm25"]["value"] for e in broker.taken("riga") if e["id"] == AIR_12] == [5, 6, 7]
    latest = broker.entities[("riga", WEATHER_12)]
    assert latest["temperature"]["value"] == 2.3
    assert latest["temperature"]["observedAt"].endswith("Z")
    assert up.refused == {} and cursor(tmp_path, up) == 6
    assert set(broker.answers) <= {200, 201, 204} and 201 in broker.answers


def test_a_207_refusing_an_entity_passes_over_that_reading_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """BadRequestData for reading 12-2's WeatherObserved: the broker will never take it."""
    broker = NgsiBroker()
    broker.refuse = lambda e: "BadRequestData" if _temperature(e) == 2.2 else None
    with HttpServer() as server:
        server.then = broker

        async def script(gw: Gateway, up: NgsiUpstream) -> None:
            for seq in (1, 2, 3):
                gw.receive(reading(12, seq), source="t")
            await until(lambda: cursor(tmp_path, up) == 3, "the cursor past all three")

        with caplog.at_level(logging.WARNING, logger=http_upstream.__name__):
            up = run(tmp_path, server, script)
    assert seqs(broker, WEATHER_12) == [2.1, 2.3]
    assert 207 in broker.answers
    assert up.refused == {"HTTP 207 BadRequestData": 1}
    said = [r.getMessage() for r in caplog.records if "refused reading" in r.getMessage()]
    assert len(said) == 1 and "12-2" in said[0] and "BadRequestData" in said[0]


def _temperature(entity: Mapping[str, Any]) -> object:
    return entity.get("temperature", {}).get("value")


def test_a_207_of_the_brokers_own_failure_is_sent_again_until_taken(tmp_path: Path) -> None:
    broker = NgsiBroker()
    failing = {"left": 3}

    def busy(entity: Mapping[str, Any]) -> bool:
        if entity["type"] == "AirQualityObserved" and failing["left"] > 0:
            failing["left"] -= 1
            return True
        return False

    broker.retry_entity = busy
    with HttpServer() as server:
        server.then = broker

        async def script(gw: Gateway, up: NgsiUpstream) -> None:
            gw.receive(reading(12, 1), source="t")
            await until(lambda: up.delivered == 1, "delivered once the broker takes it")

        up = run(tmp_path, server, script)
    assert broker.answers.count(207) == 3
    assert up.refused == {} and cursor(tmp_path, up) == 1
    assert [e["pm25"]["value"] for e in broker.taken("riga") if e["id"] == AIR_12] == [5]


def test_a_400_is_refused_a_401_waits_and_a_503_is_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = NgsiBroker(token="right")
    with HttpServer() as server:
        server.then = broker

        async def script(gw: Gateway, up: NgsiUpstream) -> None:
            gw.receive(reading(12, 1), source="t")
            await until(lambda: 401 in broker.answers, "a 401")
            await asyncio.sleep(0.5)
            assert up.delivered == 0  # the reading waits for the right token
            broker.token = None
            broker.down = True
            await until(lambda: 503 in broker.answers, "a 503")
            broker.down = False
            await until(lambda: up.delivered == 1, "delivered after the outage")
            # A body no broker takes: refused for good, the next reading goes on.
            server.script(_bad())
            gw.receive(reading(12, 2), source="t")
            gw.receive(reading(12, 3), source="t")
            await until(lambda: cursor(tmp_path, up) == 3, "the cursor past the refused one")

        with caplog.at_level(logging.WARNING, logger=http_upstream.__name__):
            up = run(tmp_path, server, script, token="wrong")
    assert "refused the credentials" in caplog.text and "[ngsi_ld] token" in caplog.text
    answers = broker.answers
    assert answers.index(401) < answers.index(503) < answers.index(201)
    assert seqs(broker, WEATHER_12) == [2.1, 2.3]
    assert up.refused == {"HTTP 400": 1}


def _bad() -> Reply:
    problem = {"type": "https://uri.etsi.org/ngsi-ld/errors/BadRequestData", "title": "no"}
    return Reply(400, {"Content-Type": "application/json"}, json.dumps(problem).encode())


def test_rounds_keep_each_nodes_readings_apart_and_in_order() -> None:
    def item(node: int, seq: int) -> Item:
        return Item(Stored(node, seq, 0.0, 0.0, b"", None, None, id=seq), {})

    batch = [item(1, 1), item(1, 2), item(2, 3), item(1, 4), item(3, 5), item(2, 6)]
    got = [[(i.stored.node, i.stored.id) for i in r] for r in rounds(batch)]
    assert got == [[(1, 1), (2, 3), (3, 5)], [(1, 2), (2, 6)], [(1, 4)]]


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        ({"tenant": "riga city"}, "ngsi_ld.tenant: 'riga city': give letters, digits"),
        ({"id_prefix": "riga/"}, "ngsi_ld.id_prefix: 'riga/': give letters"),
        ({"id_prefix": ":riga"}, "not starting with ':'"),
        ({"colour": "red"}, "ngsi_ld.colour: unknown key"),
        ({"url": "http://broker.example", "token": "t"}, "a token over plain http://"),
    ],
)
def test_a_mistake_in_the_section_is_one_line_naming_the_key(
    keys: dict[str, object], error: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        settings("https://broker.example", **keys)
    assert error in str(raised.value) and "\n" not in str(raised.value)


def test_the_plan_names_the_broker_tenant_and_entity_ids() -> None:
    s = settings("https://broker.example:1026/", batch=50)
    assert s.name == "ngsi-ld:https://broker.example:1026#riga"
    assert plan(s) == [
        "upserts to NGSI-LD https://broker.example:1026 (tenant riga):"
        " urn:ngsi-ld:WeatherObserved:riga:<node> (and AirQualityObserved), 50 readings a batch"
    ]
    assert parse(Table({}, "", "gw.toml"), "ngsi_ld", None) is None


@pytest.mark.parametrize(
    ("errors", "verdict"),
    [
        ([("BadRequestData", 400)], Verdict.REFUSED),
        ([("InvalidRequest", 400), ("BadRequestData", 400)], Verdict.REFUSED),
        ([("InternalError", 500)], Verdict.RETRY),
        ([("LdContextNotAvailable", 503)], Verdict.RETRY),
        ([("BadRequestData", 400), ("TooManyRequests", 429)], Verdict.RETRY),
        ([("SomethingNew", 502)], Verdict.RETRY),
        ([], Verdict.DELIVERED),
    ],
)
def test_a_207_is_judged_by_the_type_of_each_failure(
    errors: list[tuple[str, int]], verdict: Verdict
) -> None:
    """ETSI GS CIM 009's error types: the entity's fault is refused for good,
    the broker's (or one with a 5xx status) is sent again."""
    up = NgsiUpstream(Config(), settings=settings("https://broker.example"))
    body = {
        "success": ["urn:ngsi-ld:WeatherObserved:riga:1"],
        "errors": [
            {"entityId": f"urn:x:{i}", "error": {"type": ERRORS + kind, "title": kind, "status": s}}
            for i, (kind, s) in enumerate(errors)
        ],
    }
    answer = up.judge(httpx.Response(207, json=body))
    assert answer.verdict is verdict
    if verdict is Verdict.REFUSED:
        assert answer.kind == f"HTTP 207 {sorted(k for k, _ in errors)[0]}"
    if errors and errors[0][0] == "LdContextNotAvailable":
        assert "could not fetch the models' @context" in answer.reason
    garbled = up.judge(httpx.Response(207, content=b"<html>"))
    assert garbled.verdict is Verdict.RETRY
