"""A small HTTP/1.1 server on asyncio streams: GET and HEAD, bounded, optional basic auth.

No framework: the gateway runs on a Pi Zero 2 W under a 60 MB memory goal, and
serves a handful of pages to a few people and one Prometheus. What it must get
right is that no client, slow or hostile, can hurt the gateway it lives in:

- a request line of at most LINE_MAX bytes (414 beyond), at most HEADERS_MAX
  header fields and HEADER_BYTES bytes of them (431 beyond): memory per
  connection is bounded before anything is parsed;
- the whole request head within HEAD_TIMEOUT seconds (408), the next one on a
  kept-alive connection within IDLE_TIMEOUT, a response written within
  WRITE_TIMEOUT: a client that stalls is dropped, never waited on;
- at most CONNECTIONS_MAX connections at once, and CONNECTIONS_PER_ADDRESS from one
  client address: the next is answered 503 and closed, and one client holding
  connections open cannot keep the page from everyone else;
- GET and HEAD only (405 with Allow), no request bodies (a Content-Length
  above 0 or a Transfer-Encoding: 400, and the connection closes since the
  body cannot be skipped safely), HTTP/1.0 and 1.1 only (505), a Host header
  on 1.1 (RFC 9112 §3.2);
- basic authentication (RFC 7617) compared in constant time: both sides are
  hashed first, so neither the content nor the length of the password leaks
  through timing; 401 with a WWW-Authenticate challenge otherwise.

The handler turns a Request into a Response; it runs on the event loop and
must hand anything slow to a thread (gateway/web/site.py does, through
gateway/web/reader.py). A handler's exception is a 500, logged, and the
server goes on.
"""

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

log = logging.getLogger(__name__)

LINE_MAX = 4096  # bytes of the request line (a long query is the only reason for length)
HEADER_BYTES = 16384  # bytes of all header lines together
HEADERS_MAX = 64  # header fields
HEAD_TIMEOUT = 10.0  # seconds for a whole request head to arrive
IDLE_TIMEOUT = 15.0  # seconds a kept-alive connection may wait for its next request
WRITE_TIMEOUT = 30.0  # seconds for a response to be taken by the client
CONNECTIONS_MAX = 32
# From one client address (a browser opens up to six to a host). Behind a reverse proxy
# every client has the proxy's address: the proxy then limits them itself.
CONNECTIONS_PER_ADDRESS = 8
REQUESTS_PER_CONNECTION = 100
REALM = "meteolink"


@dataclass(frozen=True)
class Request:
    method: str  # "GET" or "HEAD"
    path: str  # percent-decoded, without the query
    query: dict[str, str]  # the first value of each name
    headers: dict[str, str]  # names in lower case; repeated fields joined with ", "


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    """The request cannot be answered as asked: its status and a line saying why.

    The connection closes after the answer: what follows the bad part is unknown."""

    def __init__(self, status: HTTPStatus, why: str) -> None:
        super().__init__(why)
        self.status = status


def plain(status: int, text: str, **headers: str) -> Response:
    """A one-line text answer (every error's form)."""
    return Response(status, (text + "\n").encode(), headers=dict(headers))


class Credentials:
    """The one username and password that may read the page, checked in constant time."""

    def __init__(self, username: str, password: str) -> None:
        self._digest = hashlib.sha256(f"{username}:{password}".encode()).digest()

    def allow(self, authorization: str | None) -> bool:
        """Whether an Authorization header carries them (RFC 7617: Basic, UTF-8)."""
        if authorization is None:
            return False
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        # Hashing both sides first: compare_digest is constant-time only for equal lengths.
        return hmac.compare_digest(hashlib.sha256(given).digest(), self._digest)


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


LINGER = 1.0  # seconds to read what a refused client still sends, before closing


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Close our side, then read (and drop) what the client still sends, briefly.

    Closing a socket with unread bytes in it makes the kernel send a reset, and
    a reset can reach the client before the answer it was sent: it would see
    "connection reset" instead of the 400 or 503 that says what to do.
    """
    with contextlib.suppress(Exception):
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(LINGER):
            while await reader.read(LINE_MAX):
                pass


class Server:
    """Serves handler on one address until cancelled; never raises for a client's doing."""

    def __init__(
        self,
        handler: Handler,
        *,
        credentials: Credentials | None = None,
        head_timeout: float = HEAD_TIMEOUT,
    ) -> None:
        """head_timeout: seconds for a whole request head (the tests give a short one)."""
        if not head_timeout > 0:
            raise ValueError(f"head_timeout must be above 0 seconds, not {head_timeout!r}")
        self.handler = handler
        self.credentials = credentials
        self.head_timeout = head_timeout
        self.connections = 0
        self._by_address: dict[str, int] = {}  # open connections of each client address
        self.served = 0  # responses written, errors included

    async def start(self, host: str, port: int) -> asyncio.Server:
        """Listen on host:port (port 0: any free one); OSError when it cannot."""
        return await asyncio.start_server(
            self._connection, host, port, limit=LINE_MAX, reuse_address=True
        )

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        self.connections += 1
        mine = self._by_address[client] = self._by_address.get(client, 0) + 1
        try:
            busy = None
            if mine > CONNECTIONS_PER_ADDRESS:
                busy = "busy: too many connections from your address, close some and try again"
            elif self.connections > CONNECTIONS_MAX:
                busy = "busy: too many connections, try again"
            if busy is not None:
                await self._send(writer, plain(503, busy), None)
                await _linger(reader, writer)
                return
            for count in range(REQUESTS_PER_CONNECTION):
                last = count + 1 == REQUESTS_PER_CONNECTION
                if not await self._one(reader, writer, count == 0, last=last):
                    return
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            return  # the client went away or stalled: nothing to tell it
        finally:
            self.connections -= 1
            left = self._by_address[client] - 1
            if left:
                self._by_address[client] = left
            else:
                del self._by_address[client]
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _one(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        first_request: bool,
        *,
        last: bool,
    ) -> bool:
        """Read one request and answer it; whether the connection stays open."""
        loop = asyncio.get_running_loop()
        # A new connection's whole head, request line included, within head_timeout;
        # a kept-alive one's next request line within IDLE_TIMEOUT, then its head. One
        # deadline for the whole head, not one per line: a client sending a header line
        # every few seconds (slowloris) would otherwise hold the connection for ever.
        deadline = loop.time() + self.head_timeout
        try:
            try:
                async with asyncio.timeout_at(
                    deadline if first_request else loop.time() + IDLE_TIMEOUT
                ):
                    line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as e:
                if e.partial.strip():
                    raise BadRequest(HTTPStatus.BAD_REQUEST, "the request was cut short") from None
                return False  # closed between requests
            except asyncio.LimitOverrunError:
                raise BadRequest(
                    HTTPStatus.REQUEST_URI_TOO_LONG, f"request line over {LINE_MAX} bytes"
                ) from None
            except TimeoutError:
                if first_request:  # connected and said nothing: tell it, then hang up
                    raise BadRequest(
                        HTTPStatus.REQUEST_TIMEOUT, "send the request as soon as connected"
                    ) from None
                return False  # an idle kept-alive connection: just close it
            if not first_request:
                deadline = loop.time() + self.head_timeout
            try:
                async with asyncio.timeout_at(deadline):
                    request, keep = await self._head(reader, line)
            except TimeoutError:
                raise BadRequest(
                    HTTPStatus.REQUEST_TIMEOUT,
                    f"send the whole request within {self.head_timeout:g} s",
                ) from None
        except BadRequest as e:
            await self._send(writer, plain(e.status, f"{e.status.phrase.lower()}: {e}"), None)
            await _linger(reader, writer)
            return False
        response = await self._answer(request)
        keep = keep and not last
        response.headers.setdefault("Connection", "keep-alive" if keep else "close")
        await self._send(writer, response, request)
        return keep

    async def _head(self, reader: asyncio.StreamReader, first: bytes) -> tuple[Request, bool]:
        """Parse the request line and the header fields; BadRequest for anything amiss."""
        try:
            line = first.decode("ascii").rstrip("\r\n")
        except UnicodeDecodeError:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "request line is not ASCII") from None
        parts = line.split(" ")
        if len(parts) != 3 or not all(parts):
            raise BadRequest(HTTPStatus.BAD_REQUEST, "give METHOD /path HTTP/1.1")
        method, target, version = parts
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            if not version.startswith("HTTP/"):
                raise BadRequest(HTTPStatus.BAD_REQUEST, "give METHOD /path HTTP/1.1")
            raise BadRequest(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "use HTTP/1.1")
        headers: dict[str, str] = {}
        size = 0
        count = 0
        while True:
            try:
                raw = await reader.readuntil(b"\n")
            except asyncio.LimitOverrunError:
                raise BadRequest(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    f"a header line over {LINE_MAX} bytes",
                ) from None
            size += len(raw)
            if raw in (b"\r\n", b"\n"):
                break
            count += 1
            if count > HEADERS_MAX or size > HEADER_BYTES:
                raise BadRequest(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    f"over {HEADERS_MAX} header fields or {HEADER_BYTES} bytes of them",
                )
            text = raw.decode("latin-1").rstrip("\r\n")
            name, colon, value = text.partition(":")
            if not colon or not name or name != name.strip() or " " in name:
                raise BadRequest(HTTPStatus.BAD_REQUEST, "a header line without 'name: value'")
            key = name.lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        if version == "HTTP/1.1" and "host" not in headers:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "no Host header (HTTP/1.1 needs one)")
        if "transfer-encoding" in headers or headers.get("content-length", "0") != "0":
            raise BadRequest(HTTPStatus.BAD_REQUEST, "this server takes no request body")
        if method not in ("GET", "HEAD"):
            # A well-formed request the connection can go on after: nothing to skip.
            raise BadRequest(HTTPStatus.METHOD_NOT_ALLOWED, f"{method}: only GET and HEAD")
        if not target.startswith("/"):
            raise BadRequest(HTTPStatus.BAD_REQUEST, "give a path starting with /")
        split = urllib.parse.urlsplit(target)
        query = {
            k: v[0] for k, v in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()
        }
        request = Request(method, urllib.parse.unquote(split.path), query, headers)
        connection = headers.get("connection", "").lower()
        keep = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
        return request, keep

    async def _answer(self, request: Request) -> Response:
        if self.credentials is not None and not self.credentials.allow(
            request.headers.get("authorization")
        ):
            return plain(
                401,
                "unauthorized: give the username and password of [web] in the gateway's config",
                **{"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
            )
        try:
            return await self.handler(request)
        except Exception:
            log.exception("status page: %s %s failed", request.method, request.path)
            return plain(500, "internal error: the gateway's log says more")

    async def _send(
        self, writer: asyncio.StreamWriter, response: Response, request: Request | None
    ) -> None:
        status = HTTPStatus(response.status)
        headers = {
            "Content-Type": response.content_type,
            "Content-Length": str(len(response.body)),
            **SECURITY_HEADERS,
            **response.headers,
        }
        if request is None or status == HTTPStatus.METHOD_NOT_ALLOWED:
            headers.setdefault("Connection", "close")
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            headers["Allow"] = "GET, HEAD"
        head = f"HTTP/1.1 {status.value} {status.phrase}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()
        )
        writer.write(head.encode("latin-1") + b"\r\n")
        if request is None or request.method != "HEAD":
            writer.write(response.body)
        async with asyncio.timeout(WRITE_TIMEOUT):
            await writer.drain()
        self.served += 1
