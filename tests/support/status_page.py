"""The status page of a real gateway process, as the tests reach it: its address, raw HTTP."""

import re
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass

from tests.support.gateway_process import GatewayProcess
from tests.support.tools import wait_until

_URL = re.compile(r"status page at (http://\S+)")


def page_url(gateway: GatewayProcess) -> str:
    """The page's address as the gateway logged it (the tests listen on port 0)."""
    wait_until(lambda: _URL.search(gateway.log()), "the status page to listen")
    found = _URL.search(gateway.log())
    assert found is not None
    return found[1]


def address(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("http://").rstrip("/").rpartition(":")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


def get(url: str, *, headers: dict[str, str] | None = None, method: str = "GET") -> Answer:
    """One request through urllib, whatever its status."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=20) as r:
            return Answer(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Answer(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def raw(url: str, data: bytes, *, timeout: float = 20.0, source: str | None = None) -> bytes:
    """Send bytes as they are, and read the answer until the server closes. source: the
    client's own address (another of 127.0.0.0/8: another client, to the server)."""
    bind = None if source is None else (source, 0)
    with socket.create_connection(address(url), timeout=timeout, source_address=bind) as s:
        s.sendall(data)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
        return got


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP answer."""
    first = answer.split(b"\r\n", 1)[0].decode("latin-1")
    assert first.startswith("HTTP/1.1 "), first
    return int(first.split()[1])
