"""The status page's server against slow and idle clients, over real sockets.

The server (gateway/web/server.py) runs in this process on its own event loop in a
thread, with a one-second head deadline instead of ten (its head_timeout parameter),
so a slowloris client is seen cut off in a second or two. The gateway process around
it is tested in test_web_server.py.
"""

import asyncio
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from meteolink.gateway.web import server
from meteolink.gateway.web.server import Request, Response, Server, plain
from tests.support.tools import wait_until

HEAD = 1.0  # seconds for a whole request head, in these tests
PACE = 0.03  # seconds between two bytes of a slowloris client: a header line in ~0.25 s
LINES = 40  # header lines a slowloris client sends at most: 10 s, ten times HEAD


async def _hello(request: Request) -> Response:
    return plain(200, f"hello {request.path}")


@contextmanager
def serving(s: Server) -> Iterator[tuple[str, int]]:
    """s listening on a free loopback port until the block ends; its address."""
    address: list[tuple[str, int]] = []
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        stop.append(asyncio.Event())
        loops.append(asyncio.get_running_loop())
        listener = await s.start("127.0.0.1", 0)
        address.append(listener.sockets[0].getsockname()[:2])
        ready.set()
        async with listener:
            await stop[0].wait()
        # asyncio.run then cancels the connections still open, and each closes its socket.

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="status-page")
    thread.start()
    try:
        assert ready.wait(10), "the server did not start listening"
        yield address[0]
    finally:
        loops[0].call_soon_threadsafe(stop[0].set)
        thread.join(30)
        assert not thread.is_alive()


def _answer(s: socket.socket) -> bytes:
    """What the server sends until it closes the connection."""
    got = b""
    try:
        while chunk := s.recv(65536):
            got += chunk
    except ConnectionResetError:
        pass  # what came before the reset is in got
    return got


def _one_response(s: socket.socket) -> bytes:
    """One response on a kept-alive connection: its head, then Content-Length bytes."""
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(65536)
        assert chunk, got
        got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def _trickle(s: socket.socket, data: bytes) -> bool:
    """Send data a byte every PACE seconds; False as soon as the server has answered."""
    for i in range(len(data)):
        readable, _, _ = select.select([s], [], [], PACE)
        if readable:
            return False
        s.sendall(data[i : i + 1])
    return True


@pytest.mark.parametrize("kept_alive", [False, True], ids=["first-request", "next-request"])
def test_a_head_trickled_line_by_line_is_cut_off_at_its_total_deadline(kept_alive: bool) -> None:
    # Each header line arrives whole within a quarter of HEAD and the next starts at once:
    # a timeout per line, or per read, would never fire and the client would hold the
    # connection for as long as it likes. Only the deadline on the whole head stops it.
    lines = [b"GET /slow HTTP/1.1\r\n", b"Host: gateway\r\n"]
    lines += [b"X-Pad-%02d: 1\r\n" % i for i in range(LINES)]
    lines.append(b"Connection: close\r\n")  # a server that answers it closes: the test ends
    assert len(lines) - 1 <= server.HEADERS_MAX  # not cut off for having too many fields
    with (
        serving(Server(_hello, head_timeout=HEAD)) as address,
        socket.create_connection(address, timeout=30) as s,
    ):
        if kept_alive:  # a first request answered, then the next one trickled
            s.sendall(b"GET /first HTTP/1.1\r\nHost: gateway\r\n\r\n")
            assert _one_response(s).startswith(b"HTTP/1.1 200 OK\r\n")
        sent = 0  # header lines sent whole
        while sent < len(lines) and _trickle(s, lines[sent]):
            sent += 1
        if sent == len(lines):
            s.sendall(b"\r\n")  # the whole head sent: a server without the deadline answers
        answer = _answer(s)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer[:200]
    assert b"\r\nConnection: close" in head
    assert body == b"request timeout: send the whole request within 1 s\n"
    assert sent < len(lines)  # cut off while it was still sending its head


def test_many_idle_connections_are_dropped_and_the_page_is_served() -> None:
    s = Server(_hello, head_timeout=HEAD)
    with serving(s) as address:
        # From 25 client addresses, 8 each: within each address's own limit, so that the
        # server's limit is what they meet.
        per = server.CONNECTIONS_PER_ADDRESS
        idle = [
            socket.create_connection(
                address, timeout=30, source_address=(f"127.0.0.{10 + i // per}", 0)
            )
            for i in range(200)
        ]
        try:
            # While they are held: a request is answered, never left waiting. The server
            # keeps at most CONNECTIONS_MAX connections; beyond, "busy" (503) at once.
            with socket.create_connection(address, timeout=30) as one:
                one.sendall(b"GET /now HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
                first = _answer(one)
            assert first.split(b" ")[1] in (b"200", b"503"), first[:200]
            # Every idle one is answered and closed by the server: 503 beyond the limit,
            # 408 once the head deadline passes for those it kept. None is held.
            # (At least CONNECTIONS_MAX are kept: a connection the kernel queued late may
            # be let in once the first ones are gone, and see 408 too.)
            statuses = [_answer(c).split(b" ")[1] for c in idle]
            assert set(statuses) == {b"408", b"503"}
            assert statuses.count(b"408") >= server.CONNECTIONS_MAX

            # The idle clients still hold their sockets: the page is served all the same.
            def served() -> bool:
                with socket.create_connection(address, timeout=30) as c:
                    c.sendall(b"GET /later HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
                    return _answer(c).startswith(b"HTTP/1.1 200 OK\r\n")

            wait_until(served, "the page served after the idle connections were dropped")
        finally:
            for c in idle:
                c.close()
