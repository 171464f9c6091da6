"""The HTTP upstream base in-process against the loopback server: what each answer means.

A small subclass sends each batch as JSON lines of the state messages; the
gateway is the real one (store, outbox, cursor), the destination the loopback
server of tests/support/http_server.py answering from a script.
"""

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from meteolink.gateway import http_upstream, messages
from meteolink.gateway.backoff import Backoff
from meteolink.gateway.config import Config, ConfigError, NodeConfig, Table
from meteolink.gateway.http_upstream import (
    Delivery,
    HttpSettings,
    HttpUpstream,
    Item,
    Request,
    parse_http,
    retry_after,
)
from meteolink.gateway.service import Gateway
from meteolink.gateway.store import Store
from tests.support.gateway_process import GatewayProcess, reading
from tests.support.http_server import HttpServer, Reply
from tests.support.http_server import Request as Received
from tests.support.lines import Line
from tests.support.status_page import get, page_url
from tests.support.tools import wait_until


class JsonLines(HttpUpstream):
    """Each batch as one POST /in of JSON lines, a reading's state message each."""

    def deliveries(self, items: Sequence[Item]) -> list[Delivery]:
        body = "".join(json.dumps(i.message) + "\n" for i in items).encode()
        return [Delivery(Request("POST", "/in", body), items)]


def ids(server: HttpServer) -> list[str]:
    """The reading ids in every request the server received, in order."""
    return [
        json.loads(line)["id"]
        for r in server.received("POST", "/base/in")
        for line in r.body.decode().splitlines()
    ]


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
    script: Callable[[Gateway, JsonLines], Awaitable[None]],
    *,
    batch: int = 100,
    token: str | None = None,
) -> JsonLines:
    cfg = Config(data=tmp_path / "data", name="gw", nodes={7: NodeConfig(name="roof")})
    http = HttpSettings(section="test", url=server.url + "/base", batch=batch, token=token)
    up = JsonLines(
        cfg,
        http=http,
        name="test:" + server.url,
        label="test",
        backoff=Backoff(first=0.05, cap=0.2),
    )
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


def cursor(tmp_path: Path, up: JsonLines) -> int:
    store = Store(tmp_path / "data" / "readings.db")
    try:
        return store._cursor(up.name)
    finally:
        store.close()


def test_a_batch_is_one_post_of_state_messages_and_moves_the_cursor(tmp_path: Path) -> None:
    with HttpServer() as server:

        async def script(gw: Gateway, up: JsonLines) -> None:
            for seq in (1, 2, 3):
                gw.receive(reading(7, seq), source="t")
            await until(lambda: len(ids(server)) == 3, "three readings")
            await until(lambda: up.delivered == 3, "three delivered")

        up = run(tmp_path, server, script, token="s3cret")
    first = server.received("POST", "/base/in")[0]
    assert first.path == "/base/in"
    assert first.headers["authorization"] == "Bearer s3cret"
    message = json.loads(first.body.decode().splitlines()[0])
    assert message["id"] == "7-1" and message["name"] == "roof"  # the state message
    assert ids(server) == ["7-1", "7-2", "7-3"]
    assert cursor(tmp_path, up) == 3


def test_a_refused_batch_is_split_down_to_the_reading_refused_which_is_passed_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """400 for any request carrying reading 7-3: the rest arrive, 7-3 is counted once."""

    def answer(request: Received) -> Reply:
        return Reply(400, body=b"bad point") if b'"7-3"' in request.body else Reply(204)

    stats: list[dict[str, object]] = []  # the gateway's stats message, as MQTT carries it
    with HttpServer() as server:
        server.then = answer

        async def script(gw: Gateway, up: JsonLines) -> None:
            for seq in range(1, 6):
                gw.receive(reading(7, seq), source="t")
            await until(lambda: up.delivered == 4, "four delivered")
            gw.receive(reading(7, 6), source="t")  # the next batch goes
            await until(lambda: up.delivered == 5, "the next batch")
            s = gw.health.snapshot()
            said = messages.gateway_stats_message(s.inputs, 0, s.unlisted, s.upstreams)
            stats.append(json.loads(said))

        with caplog.at_level(logging.WARNING, logger=http_upstream.__name__):
            up = run(tmp_path, server, script)
    assert up.refused == {"HTTP 400": 1}
    first = server.received("POST", "/base/in")[0].body.decode().splitlines()
    assert len(first) == 5  # one batch, split down to the one reading refused
    delivered = [
        json.loads(line)["id"]
        for r in server.received("POST", "/base/in")
        if b'"7-3"' not in r.body
        for line in r.body.decode().splitlines()
    ]
    assert sorted(delivered) == ["7-1", "7-2", "7-4", "7-5", "7-6"]
    assert cursor(tmp_path, up) == 6
    refusals = [r for r in caplog.records if "refused reading 7-3" in r.getMessage()]
    assert len(refusals) == 1 and "bad point" in refusals[0].getMessage()
    (message,) = stats
    assert message["upstreams"] == {up.name: {"refused": {"HTTP 400": 1}}}


def test_a_destination_that_refuses_every_reading_makes_them_wait_not_pass_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 13 review: a 400 for everything (a wrong option, a measurement the database
    will not take) is a fault of configuration; after REFUSALS_IN_DOUBT readings refused in
    a row the rest wait in the store until the destination takes them."""
    limit = http_upstream.REFUSALS_IN_DOUBT
    taking = False

    def answer(request: Received) -> Reply:
        return Reply(204) if taking else Reply(400, body=b"unknown option")

    with HttpServer() as server:
        server.then = answer

        async def script(gw: Gateway, up: JsonLines) -> None:
            nonlocal taking
            for seq in range(1, limit + 6):
                gw.receive(reading(7, seq), source="t")
            await until(lambda: sum(up.refused.values()) == limit, "the first refusals")
            await until(lambda: len(server.received()) > limit + 2, "the next one tried again")
            assert sum(up.refused.values()) == limit and up.delivered == 0
            taking = True  # the configuration fixed
            await until(lambda: up.delivered == 5, "the rest delivered")

        with caplog.at_level(logging.WARNING, logger=http_upstream.__name__):
            up = run(tmp_path, server, script, batch=1)
    assert up.refused == {"HTTP 400": limit}
    assert ids(server)[-5:] == [f"7-{seq}" for seq in range(limit + 1, limit + 6)]
    assert cursor(tmp_path, up) == limit + 5
    said = [r.getMessage() for r in caplog.records]
    assert any(f"refused the last {limit} readings one by one" in m for m in said)


def test_a_reading_expired_is_passed_over_without_a_request(tmp_path: Path) -> None:
    """The expired() hook, asked before each attempt: a reading no longer worth sending
    costs no request, is counted as a refusal of kind EXPIRED, and the cursor moves on."""
    with HttpServer() as server:

        async def script(gw: Gateway, up: JsonLines) -> None:
            up.expired = lambda stored: "stale" if stored.seq == 2 else None  # type: ignore[method-assign]
            for seq in (1, 2, 3):
                gw.receive(reading(7, seq), source="t")
            await until(lambda: up.delivered == 2, "two delivered")

        up = run(tmp_path, server, script, batch=1)
    assert ids(server) == ["7-1", "7-3"]
    assert up.refused == {http_upstream.EXPIRED: 1}
    assert cursor(tmp_path, up) == 3


def test_a_refused_credential_waits_and_says_which_key_to_check(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with HttpServer() as server:
        server.script(Reply(401, body=b"unauthorized"), Reply(403))

        async def script(gw: Gateway, up: JsonLines) -> None:
            gw.receive(reading(7, 1), source="t")
            await until(lambda: up.delivered == 1, "delivered once the token is taken")

        with caplog.at_level(logging.WARNING, logger=http_upstream.__name__):
            up = run(tmp_path, server, script, token="wrong")
    assert ids(server) == ["7-1", "7-1", "7-1"]  # the same reading, kept until taken
    assert up.refused == {}
    said = caplog.records[0].getMessage()
    assert "refused the credentials (HTTP 401: unauthorized; check [test] token" in said


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_waited_for(tmp_path: Path, status: int) -> None:
    with HttpServer() as server:
        server.script(Reply(status, {"Retry-After": "1"}))

        async def script(gw: Gateway, up: JsonLines) -> None:
            gw.receive(reading(7, 1), source="t")
            await until(lambda: up.delivered == 1, "delivered after the wait")

        run(tmp_path, server, script)
    first, second = server.received("POST", "/base/in")
    assert second.at - first.at >= 1.0


@pytest.mark.parametrize("status", [500, 502, 404])
def test_a_server_error_is_retried_until_taken(tmp_path: Path, status: int) -> None:
    with HttpServer() as server:
        server.script(Reply(status), Reply(status))

        async def script(gw: Gateway, up: JsonLines) -> None:
            gw.receive(reading(7, 1), source="t")
            gw.receive(reading(7, 2), source="t")
            await until(lambda: up.delivered == 2, "delivered")

        up = run(tmp_path, server, script)
    assert ids(server)[-2:] == ["7-1", "7-2"] and len(server.received()) == 3
    assert up.refused == {}


def test_retry_after_reads_seconds_and_http_dates() -> None:
    """RFC 9110 §10.2.3 gives both forms; its example date is Fri, 31 Dec 1999 23:59:59 GMT."""
    assert retry_after("120") == 120.0
    assert retry_after("Fri, 31 Dec 1999 23:59:59 GMT", now=946684799 - 30) == 30.0
    assert retry_after("Fri, 31 Dec 1999 23:59:59 GMT", now=946684799 + 30) == 0.0
    assert retry_after("soon") == 0.0 and retry_after(None) == 0.0
    assert retry_after("99999999") == http_upstream.RETRY_AFTER_MAX


def section(text: dict[str, object]) -> Table:
    return Table(text, "test.", "gw.toml")


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        ({"url": "ftp://x"}, "give http://host[:port] or https://host[:port]"),
        ({"url": "http://db.example:0"}, "the port is not a number"),
        ({"url": "http://db.example?db=x"}, "without '?' or '#'"),
        (
            {"url": "http://db.example", "token": "t"},
            "a token over plain http:// to db.example travels in clear",
        ),
        (
            {"url": "http://u:pw@db.example"},
            "a password over plain http:// to db.example travels in clear",
        ),
        ({"url": "https://db.example", "token": "t", "username": "u"}, "not both"),
        ({"url": "https://db.example", "password": "p"}, "a password needs a username"),
        ({"url": "http://db.example", "ca_file": "/x"}, "a CA is for https://"),
        ({"url": "https://db.example", "ca_file": "/nonexistent"}, "no such file"),
        ({"url": "https://db.example", "batch": 0}, "out of range"),
        ({"url": "https://db.example", "batch": 2.5}, "not a whole number"),
    ],
)
def test_a_mistake_in_the_common_keys_is_one_line_naming_the_key(
    keys: dict[str, object], error: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_http(section(keys), "test")
    assert error in str(raised.value) and "\n" not in str(raised.value)
    assert "pw" not in str(raised.value)  # a password is never shown


def test_the_common_keys_keep_credentials_out_of_the_url() -> None:
    http = parse_http(
        section({"url": "http://me:pw@127.0.0.1:8086/x/", "batch": 50, "timeout": 3}), "test"
    )
    assert http is not None
    assert (http.url, http.username, http.password) == ("http://127.0.0.1:8086/x", "me", "pw")
    assert (http.batch, http.timeout) == (50, 3.0)
    assert "pw" not in repr(http)
    allowed = parse_http(
        section({"url": "http://db.lan", "token": "t", "allow_plain_password": True}), "test"
    )
    assert allowed is not None and allowed.token == "t"
    assert parse_http(section({}), "test") is None


def test_a_reading_refused_for_good_is_counted_on_the_status_page_and_in_metrics(
    line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    """The real gateway process, its InfluxDB upstream and the loopback server answering
    400 for any write that carries reading 7-2 (its seq field, seq=2i)."""

    def answer(request: Received) -> Reply:
        if request.path == "/write" and b"seq=2i" in request.body:
            return Reply(400, body=b'{"error":"partial write: field type conflict"}')
        return Reply(204)

    with HttpServer() as server:
        server.then = answer
        g = gateway(
            f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n\n'
            f'[web]\nlisten = "127.0.0.1:0"\n\n[influxdb]\nurl = "{server.url}"\n'
            'database = "meteo"\n\n[nodes.7]\nname = "roof"\n'
        )
        url = page_url(g)
        for seq in (1, 2, 3):
            line.send(reading(7, seq))

        def upstream() -> dict[str, Any]:
            (up,) = json.loads(get(url + "api/overview").body)["gateway"]["upstreams"]
            return dict(up)

        wait_until(
            lambda: len(g.stored()) == 3 and upstream()["backlog"] == 0,
            "every reading stored, then written or passed over",
        )
        assert upstream()["refused"] == {"HTTP 400": 1}
        taken = b"".join(
            r.body for r in server.received("POST", "/write") if answer(r).status < 300
        )
        assert b"seq=1i" in taken and b"seq=3i" in taken and b"seq=2i" not in taken
        page = get(url, headers={"Accept-Language": "en"}).body.decode()
        assert "<th>Refused for good</th>" in page
        said = "<td class=n>1<br><small><span class=reason>1 HTTP 400</span></small></td>"
        assert said in page
        metrics = get(url + "metrics").body.decode()
        (counted,) = re.findall(r"^meteolink_upstream_refused_readings_total\{.*", metrics, re.M)
        assert counted.endswith("} 1.0") and server.url.removeprefix("http://") in counted
