"""The status page's server inside the real gateway process: bad requests, hostile clients,
basic authentication; after each, the gateway still serves and still stores readings."""

import base64
import json
import socket
from collections.abc import Callable, Iterator

import pytest

from meteolink.gateway.web import server
from tests.support.gateway_process import GatewayProcess, reading
from tests.support.lines import Line
from tests.support.status_page import address, get, page_url, raw, status_of
from tests.support.tools import wait_until

USER, PASSWORD = "staff", "Cēsis-2026 secret"  # RFC 7617 §2.1: UTF-8 user-pass
GOOD = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
HOST = b"Host: gateway\r\n"


def auth_line() -> bytes:
    return f"Authorization: {GOOD}\r\n".encode()


@pytest.fixture
def served(
    gateway: Callable[..., GatewayProcess], line: Line
) -> Iterator[tuple[GatewayProcess, str]]:
    g = gateway(
        f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n\n'
        f'[web]\nlisten = "127.0.0.1:0"\nusername = "{USER}"\npassword = "{PASSWORD}"\n\n'
        '[nodes.4]\nname = "Smiltene"\n'
    )
    url = page_url(g)
    line.send(reading(4, 1))
    wait_until(lambda: g.stored() == [(4, 1)], "node 4's first reading stored")
    yield g, url
    # Whatever the test did to the server, the gateway goes on storing and serving.
    line.send(reading(4, 2))
    wait_until(lambda: (4, 2) in g.stored(), "a reading stored after the test")
    assert get(url + "api/overview", headers={"Authorization": GOOD}).status == 200
    assert "Traceback" not in g.log()


def test_the_right_password_is_let_in_and_a_wrong_one_is_not(
    served: tuple[GatewayProcess, str],
) -> None:
    _, url = served
    ok = get(url, headers={"Authorization": GOOD})
    assert ok.status == 200
    assert "Smiltene" in ok.body.decode()
    for given in (
        None,
        "Basic " + base64.b64encode(f"{USER}:wrong".encode()).decode(),
        "Basic " + base64.b64encode(f"{USER}:{PASSWORD}x".encode()).decode(),
        "Basic " + base64.b64encode(f"other:{PASSWORD}".encode()).decode(),
        "Basic not-base64!",
        "Bearer " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
    ):
        answer = get(url + "metrics", headers={"Authorization": given} if given else {})
        assert answer.status == 401, given
        # RFC 7617 §2: the challenge names the realm, and says UTF-8.
        assert answer.headers["www-authenticate"] == 'Basic realm="meteolink", charset="UTF-8"'
        assert b"Smiltene" not in answer.body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"BLAH\r\n\r\n", 400),
        (b"GET /\r\n\r\n", 400),  # HTTP/0.9: no version
        (b"GET / HTTP/2.0\r\n" + HOST + b"\r\n", 505),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host (RFC 9112 §3.2)
        (b"POST / HTTP/1.1\r\n" + HOST + b"\r\n", 405),
        (b"DELETE / HTTP/1.1\r\n" + HOST + b"\r\n", 405),
        (b"GET / HTTP/1.1\r\n" + HOST + b"Content-Length: 5\r\n\r\nhello", 400),
        (b"GET / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n" + HOST + b"no colon here\r\n\r\n", 400),
        (b"GET http://elsewhere/ HTTP/1.1\r\n" + HOST + b"\r\n", 400),
        (b"GET /\xff HTTP/1.1\r\n" + HOST + b"\r\n", 400),
        (b"GET /" + b"a" * server.LINE_MAX + b" HTTP/1.1\r\n" + HOST + b"\r\n", 414),
        (b"GET / HTTP/1.1\r\n" + HOST + b"X-Big: " + b"b" * 20000 + b"\r\n\r\n", 431),
        (
            b"GET / HTTP/1.1\r\n"
            + HOST
            + b"".join(b"X-%d: 1\r\n" % i for i in range(100))
            + b"\r\n",
            431,
        ),
        (b"GET / HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n", 401),  # no password
        (b"GET /nowhere HTTP/1.1\r\n" + HOST + auth_line() + b"Connection: close\r\n\r\n", 404),
        (b"GET / HTTP/1.1\r\n" + HOST + auth_line() + b"Connection: close\r\n\r\n", 200),
    ],
)
def test_every_bad_request_gets_its_4xx(
    served: tuple[GatewayProcess, str], request_bytes: bytes, status: int
) -> None:
    _, url = served
    answer = raw(url, request_bytes)
    assert status_of(answer) == status, answer[:300]
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"\r\ncontent-length: %d\r\n" % len(body) in head.lower()
    if status == 405:
        assert b"\r\nAllow: GET, HEAD\r\n" in head + b"\r\n"
    if status >= 400:
        assert body.count(b"\n") == 1, body  # one line saying what was wrong


def test_head_keep_alive_and_a_slow_client_that_blocks_nobody(
    served: tuple[GatewayProcess, str],
) -> None:
    _, url = served
    # A client that connects and says nothing, and one that stops mid-header: held
    # open while others are served (the server drops them after its timeout).
    silent = socket.create_connection(address(url))
    slow = socket.create_connection(address(url))
    slow.sendall(b"GET / HTTP/1.1\r\nHost: g")
    try:
        get_answer = get(url, headers={"Authorization": GOOD})
        head_answer = get(url, headers={"Authorization": GOOD}, method="HEAD")
        assert head_answer.status == 200
        assert head_answer.body == b""
        assert int(head_answer.headers["content-length"]) > 1000
        assert get_answer.headers["content-type"] == "text/html; charset=utf-8"
        # Two requests on one connection (HTTP/1.1 keeps it open), the second closing it.
        one = b"GET /api/overview HTTP/1.1\r\n" + HOST + auth_line() + b"\r\n"
        two = b"GET /api/overview HTTP/1.1\r\n" + HOST + auth_line() + b"Connection: close\r\n\r\n"
        answers = raw(url, one + two)
        assert answers.count(b"HTTP/1.1 200 OK\r\n") == 2
        body = answers.rpartition(b"\r\n\r\n")[2]
        assert json.loads(body)["nodes"][0]["name"] == "Smiltene"
    finally:
        silent.close()
        slow.close()


def hold(url: str, n: int, source: str) -> list[socket.socket]:
    """n idle connections from the client address source."""
    return [socket.create_connection(address(url), source_address=(source, 0)) for _ in range(n)]


def request() -> bytes:
    return b"GET / HTTP/1.1\r\n" + HOST + auth_line() + b"Connection: close\r\n\r\n"


def test_too_many_connections_get_503_and_the_server_recovers(
    served: tuple[GatewayProcess, str],
) -> None:
    _, url = served
    # Spread over client addresses, each within its own limit: the server's limit is hit.
    per = server.CONNECTIONS_PER_ADDRESS
    held = [
        s for k in range(server.CONNECTIONS_MAX // per) for s in hold(url, per, f"127.0.0.{10 + k}")
    ]
    try:
        # Each of those is counted once the server accepted it: wait until one more is refused.
        def refused() -> bool:
            return status_of(raw(url, request(), source="127.0.0.99")) == 503

        wait_until(refused, "a connection beyond the limit answered 503")
    finally:
        for s in held:
            s.close()
    wait_until(
        lambda: get(url, headers={"Authorization": GOOD}).status == 200,
        "the page served again once the connections closed",
    )


def test_one_client_cannot_take_every_connection(served: tuple[GatewayProcess, str]) -> None:
    """Issue 9's open point: a client that held 32 idle connections (and reopened them as
    they were dropped) kept the page at 503 for everyone. Its own address is limited to
    CONNECTIONS_PER_ADDRESS; another client is still served."""
    _, url = served
    hostile = "127.0.0.2"
    held = hold(url, server.CONNECTIONS_PER_ADDRESS, hostile)
    try:

        def refused() -> bool:
            return status_of(raw(url, request(), source=hostile)) == 503

        wait_until(refused, "the hostile client's next connection answered 503")
        answer = raw(url, request(), source="127.0.0.3")
        assert status_of(answer) == 200
        assert b"too many connections from your address" in raw(url, request(), source=hostile)
    finally:
        for s in held:
            s.close()
