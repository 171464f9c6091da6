"""A loopback HTTP server for the HTTP upstreams' tests: records every request, answers
from a script.

It runs the standard library's http.server on a thread of its own, on
127.0.0.1 and a free port. Each request (method, path with its query, headers,
body) is recorded in order; each answer is the next Reply of the script,
or, once the script is used up, `then` (a Reply, or a function of the
Request returning one). So a test says exactly what the destination answers
(a 204, then a 400, then a 429 with Retry-After) and checks exactly what the
upstream sent and how often.

    with HttpServer() as server:
        server.script(Reply(500), Reply(503, {"Retry-After": "1"}))
        server.then = Reply(204)
        ... url = server.url ...
        server.wait_for(lambda reqs: len(reqs) >= 3, "three requests")
"""

import http.server
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

from tests.support.tools import wait_until


@dataclass(frozen=True)
class Request:
    """One request as the server received it."""

    method: str
    target: str  # the path and query, as sent: "/write?db=meteo&precision=s"
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    at: float = 0.0  # time.monotonic() when it arrived: whether a client waited as asked

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        """The query's parameters (each given once)."""
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.target).query))


@dataclass(frozen=True)
class Reply:
    """An answer: status, headers, body."""

    status: int = 204
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


Answerer = Reply | Callable[[Request], Reply]


class HttpServer:
    """The server; a context manager that stops it on leaving."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._script: list[Answerer] = []
        self.then: Answerer = Reply(204)
        self.record = True  # False: answer without keeping requests (a benchmark's millions)
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real destinations do

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    time.monotonic(),
                )
                reply = server._answer(request)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

            def log_message(self, format: str, *args: object) -> None:
                pass  # the requests are recorded; nothing for stderr

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="test http server", daemon=True
        )
        self._thread.start()

    def script(self, *replies: Answerer) -> None:
        """Answer the next requests with these, in order, before `then`."""
        with self._lock:
            self._script.extend(replies)

    def _answer(self, request: Request) -> Reply:
        with self._lock:
            if self.record:
                self.requests.append(request)
            answerer = self._script.pop(0) if self._script else self.then
        return answerer if isinstance(answerer, Reply) else answerer(request)

    def received(self, method: str | None = None, path: str | None = None) -> list[Request]:
        """The requests so far, those of a method and path if given."""
        with self._lock:
            found = list(self.requests)
        return [
            r
            for r in found
            if (method is None or r.method == method) and (path is None or r.path == path)
        ]

    def wait_for(
        self, condition: Callable[[list[Request]], object], what: str, timeout: float = 15.0
    ) -> None:
        wait_until(lambda: condition(self.received()), what, timeout)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> "HttpServer":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def main() -> None:
    """`python -m tests.support.http_server`: answer 204 to everything until killed, printing
    the URL first (bench/upstreams.py runs it so that its CPU is not the bench's)."""
    server = HttpServer()
    server.then = Reply(204)
    server.record = False
    print(server.url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
