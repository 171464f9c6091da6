"""What every upstream reached by HTTP shares: batches, answers, retries, credentials.

InfluxDB, NGSI-LD context brokers and the public air-quality maps all take
readings as HTTP requests. What differs is how a batch of readings becomes
requests and, a little, what an answer means; what is the same is here:

- Readings come from this upstream's cursor in the store, a batch at a time,
  each as its state message (gateway/messages.py): calibrated values,
  derived values, QC flags and implausible values apart, the node's name and
  place, so that every destination gets a reading the same way.
- A subclass turns a batch of those Items into Deliveries (a request and the
  items it carries). The cursor moves past the batch once every delivery has
  ARRIVED or was refused for good: at least once, in order, resuming from
  the cursor after any outage or kill.
- Each answer is judged (judge(), which a subclass may refine):
    2xx                      delivered
    400, 413, 422            refused for good: a request of several readings
                             is split in two and each half sent again, down to
                             the one reading the destination will never take;
                             that one is counted (outbox.refused: the stats
                             message, the status page, /metrics), logged once
                             per kind, and the cursor moves past it (it stays
                             in the store, and every other upstream gets it);
                             after REFUSALS_IN_DOUBT in a row with none taken,
                             the next is retried as a configuration fault: the
                             readings wait rather than all being passed over
    401, 403                 the credentials are wrong: said as a configuration
                             problem; the readings wait and are tried again
    429, 503 with Retry-After  retried no sooner than the destination asked
    anything else            (a network error, a timeout, 5xx, 404, a redirect)
                             retried with a randomised, capped backoff
- Before each attempt, expired() (which a subclass may give) says whether the
  reading is still worth sending: a public map stamps a value with its
  arrival, so a reading retried through a long outage must not arrive as
  "now". One that is no longer is passed over like a refusal, of kind
  EXPIRED, without a request.
- outbox.connected() once the destination answered a delivery (or the
  subclass's probe), outbox.retrying(reason) at every failed attempt, and
  pending() at least every 30 s while idle: the watchdog's terms
  (gateway/progress.py).

The common keys of every HTTP upstream's section are read by parse_http():
url, token, username, password, ca_file, allow_plain_password, batch,
timeout. A secret over plain http:// to another machine is refused unless
allow_plain_password = true, as for MQTT; a URL is only ever shown without
its password (shown_url). httpx is imported only by the methods that talk to
the destination: config.load() imports every part's module (gateway/parts.py).
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import ipaddress
import logging
import ssl
import time
import urllib.parse
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from meteolink.gateway import messages
from meteolink.gateway.backoff import Backoff
from meteolink.gateway.config import Config, ConfigError, Table
from meteolink.gateway.mqtt_upstream import shown_url
from meteolink.gateway.roles import Outbox
from meteolink.gateway.stats import NodeStats
from meteolink.gateway.store import Stored

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

BATCH = 500  # readings per batch, unless the section says `batch`
TIMEOUT = 10.0  # seconds for a connection, and for each answer
IDLE = 30.0  # seconds between two asks for readings while none come (the watchdog's)
RETRY_AFTER_MAX = 3600.0  # the longest Retry-After honoured: an hour
SAY_EVERY = 60.0  # while waiting to retry, retrying() said again this often (the watchdog)
BODY_SHOWN = 200  # characters of a destination's error answer put in a log line
EXPIRED = "too old"  # the kind a reading passed over by expired() is counted under

__all__ = [
    "BATCH",
    "EXPIRED",
    "Answer",
    "Delivery",
    "HttpSettings",
    "HttpUpstream",
    "Item",
    "Request",
    "Verdict",
    "loopback",
    "parse_http",
    "shown_url",
]


@dataclass(frozen=True)
class HttpSettings:
    """The common keys of an HTTP upstream's section; the url without credentials."""

    section: str  # the TOML section, for messages: "influxdb"
    url: str  # scheme://host[:port][/path], no user or password in it
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    batch: int = BATCH
    timeout: float = TIMEOUT

    @property
    def tls(self) -> bool:
        return self.url.startswith("https:")

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).hostname or ""


def parse_http(
    t: Table,
    section: str,
    url_override: str | None = None,
    *,
    batch: int = BATCH,
    example: str = "https://db.example:8086",
) -> HttpSettings | None:
    """The common keys of [section], read from t (the section's table); None without a url.

    Reads url, token, username, password, ca_file, allow_plain_password, batch
    and timeout; the caller reads its own keys and then calls t.finish(), so a
    misspelt key is an error whether or not a url is given. A user and password
    may be given in the url itself (https://user:password@host). batch: this
    upstream's default batch size; example: a url for the messages.
    """
    url = t.get("url", str, None, f"a URL such as {example}")
    where = f"{t.source}: {t.where}url"
    if url_override:
        url, where = url_override, f"the command line's url for [{section}]"
    token = t.get("token", str, None, "a string")
    username = t.get("username", str, None, "a string")
    password = t.get("password", str, None, "a string")
    ca_file = t.get("ca_file", str, None, "a file path")
    allow_plain = t.get("allow_plain_password", bool, False, "true or false")
    size = int(t.number("batch", batch, low=1, high=100_000))
    if size != t.data.get("batch", size):
        raise t.error("batch", f"{t.data['batch']!r} is not a whole number (give e.g. {batch})")
    timeout = t.number("timeout", TIMEOUT, low=0.1, high=600)
    if url is None:
        return None
    shown = shown_url(url)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as e:  # an unclosed "[" of an IPv6 address, say
        raise ConfigError(f"{where}: {shown!r}: not a URL ({e}; give e.g. {example})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: {shown!r}: give http://host[:port] or https://host[:port]")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ConfigError(f"{where}: {shown!r}: the port is not a number from 1 to 65535")
    if parts.query or parts.fragment:
        raise ConfigError(
            f"{where}: {shown!r}: give the URL without '?' or '#' (the upstream adds its own"
            " query from the other keys)"
        )
    if parts.username is not None:
        if username is not None:
            raise t.error("username", "the url has a user name too (give it in one place)")
        username = urllib.parse.unquote(parts.username)
        if parts.password is not None:
            if password is not None:
                raise t.error("password", "the url has a password too (give it in one place)")
            password = urllib.parse.unquote(parts.password)
    if password is not None and username is None:
        raise t.error("password", "a password needs a username (give username too)")
    if token is not None and username is not None:
        raise t.error("token", "give a token, or a username and password, not both")
    if token is not None and not token.strip():
        raise t.error("token", "empty (give the token, or remove the key)")
    tls = parts.scheme == "https"
    if ca_file is not None and not tls:
        raise t.error(
            "ca_file",
            f"a CA is for https://, and {t.where}url is plain http:// (write https://"
            f"{parts.hostname}, or remove ca_file)",
        )
    if (token or password) and not tls and not loopback(parts.hostname) and not allow_plain:
        secret = "a token" if token else "a password"
        raise ConfigError(
            f"{where}: {secret} over plain http:// to {parts.hostname} travels in clear (use"
            f" https://, or set [{section}] allow_plain_password = true on a network you trust)"
        )
    if ca_file is not None and not Path(ca_file).is_file():
        raise t.error("ca_file", f"{ca_file}: no such file (give the CA certificate's path)")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    bare = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return HttpSettings(
        section=section,
        url=bare,
        token=token,
        username=username,
        password=password,
        ca_file=Path(ca_file) if ca_file else None,
        batch=size,
        timeout=timeout,
    )


class Item(NamedTuple):
    """A pending reading and its state message (gateway/messages.py), made once a batch."""

    stored: Stored
    message: dict[str, Any]


@dataclass(frozen=True)
class Request:
    """One HTTP request; path and params are added to the section's url."""

    method: str
    path: str
    body: bytes = b""
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


class Delivery(NamedTuple):
    """A request and the items it carries: what a refusal of it is a refusal of."""

    request: Request
    items: Sequence[Item]


# Readings refused one after another, with none taken between, before the next refusal
# is taken for a fault of configuration (a destination that refuses everything: a wrong
# measurement, an option the broker does not know) and the readings wait for it to be
# fixed, rather than all of them being passed over.
REFUSALS_IN_DOUBT = 10


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"  # the readings wait; the same request is sent again
    REFUSED = "refused"  # never to be taken: split, or counted and passed over


@dataclass(frozen=True)
class Answer:
    """What an answer means. reason: in the gateway's words, for retrying() and the log;
    wait: the least seconds before the next attempt (Retry-After); kind: a refusal's
    kind, each logged once."""

    verdict: Verdict
    reason: str = ""
    wait: float = 0.0
    kind: str = ""


def retry_after(value: str | None, now: float | None = None) -> float:
    """Seconds a Retry-After header asks for (delay-seconds or an HTTP-date, RFC 9110
    §10.2.3), at most RETRY_AFTER_MAX; 0 when absent or unreadable."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_MAX)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:  # "-0000": a time with no zone is no moment to wait for
        return 0.0
    now = time.time() if now is None else now
    return min(max(0.0, when.timestamp() - now), RETRY_AFTER_MAX)


def said(response: httpx.Response) -> str:
    """The start of what a destination said in an error answer, on one line."""
    try:
        text = response.text
    except (UnicodeDecodeError, LookupError):
        text = ""
    text = " ".join(text.split())
    return text if len(text) <= BODY_SHOWN else text[: BODY_SHOWN - 1] + "…"


class HttpUpstream:
    """An upstream whose destination takes readings by HTTP. Subclasses give name, label
    and deliveries(); they may refine judge() and give a probe()."""

    token_scheme = "Bearer"  # Authorization: <scheme> <token>; InfluxDB v2 says "Token"

    def __init__(
        self,
        config: Config,
        *,
        http: HttpSettings,
        name: str,
        label: str,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self.http = http
        self.name = name
        self.label = label
        self._backoff = backoff or Backoff(first=1.0, cap=60.0)
        self.delivered = 0  # readings the destination took
        self.refused: Counter[str] = Counter()  # readings refused for good, by kind
        # Readings refused one by one since the destination last took one: past
        # REFUSALS_IN_DOUBT, refusing is taken for a configuration fault (ours or the
        # destination's), and the readings wait instead of being passed over.
        self._refused_in_a_row = 0
        self.requests = 0  # requests sent, answered or not
        self._lost_at: float | None = None  # time.monotonic() the destination was first missed

    # -- what a subclass gives -----------------------------------------------

    def deliveries(self, items: Sequence[Item]) -> list[Delivery]:
        """The requests that carry items; an item in none is passed over (not for here)."""
        raise NotImplementedError

    def probe(self) -> Request | None:
        """A cheap request whose 2xx says the destination is there, sent every IDLE seconds
        while nothing is pending, so that the status page says whether it is reachable
        before the next reading; None: no such request (the state waits for a delivery)."""
        return None

    def expired(self, stored: Stored) -> str | None:
        """Why the reading is no longer worth sending, in the gateway's words, or None
        while it is (always, unless a subclass says otherwise). Asked before each attempt,
        so a reading that waited through an outage can go stale: it is then passed over
        (counted and logged as a refusal of kind EXPIRED) and the cursor moves on. The
        subclass judges by its own clock. A delivery of several readings expires when its
        first does."""
        return None

    def judge(self, response: httpx.Response) -> Answer:
        """What an answer means, by its status code (the module's table)."""
        status = response.status_code
        if 200 <= status < 300:
            return Answer(Verdict.DELIVERED)
        text = said(response)
        what = f"HTTP {status}" + (f": {text}" if text else "")
        where = self.config.source
        section = self.http.section
        if status in (400, 413, 422):
            return Answer(Verdict.REFUSED, what, kind=f"HTTP {status}")
        if status in (401, 403):
            if self.http.token is not None:
                keys = "token"
            elif self.http.username is not None:
                keys = "username and password"
            else:
                keys = "token (or username and password): none is given"
            return Answer(
                Verdict.RETRY,
                f"the destination refused the credentials ({what}; check [{section}] {keys}"
                f" in {where}); readings wait",
            )
        if status == 429 or status == 503:
            wait = retry_after(response.headers.get("retry-after"))
            busy = "too many requests" if status == 429 else "unavailable"
            later = f", asked to wait {wait:.0f} s" if wait else ""
            return Answer(Verdict.RETRY, f"the destination is {busy} ({what}{later})", wait=wait)
        if status == 404:
            return Answer(
                Verdict.RETRY,
                f"the destination has no {response.request.url.path} ({what}; check"
                f" [{section}] in {where})",
            )
        if 300 <= status < 400:
            to = response.headers.get("location", "elsewhere")
            return Answer(
                Verdict.RETRY,
                f"the destination redirects to {shown_url(to)} ({what}; give that URL in"
                f" [{section}] url in {where})",
            )
        return Answer(Verdict.RETRY, what)

    # -- the service's interface ---------------------------------------------

    def node_changed(self, stats: NodeStats) -> None:
        """Nothing to say: a database or a platform learns of a node from its readings."""

    async def run(self, outbox: Outbox) -> None:
        async with self._client() as client:
            await self._forward(client, outbox)

    # -- the work ------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        import httpx

        # httpx logs every request at info level, and httpcore every step at debug:
        # a line per batch in the service's log says nothing the upstream does not.
        for chatty in ("httpx", "httpcore"):
            logging.getLogger(chatty).setLevel(logging.WARNING)

        headers = {"User-Agent": "meteolink"}
        if self.http.token is not None:
            headers["Authorization"] = f"{self.token_scheme} {self.http.token}"
        auth = None
        if self.http.username is not None:
            auth = httpx.BasicAuth(self.http.username, self.http.password or "")
        verify: ssl.SSLContext | bool = True
        if self.http.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(self.http.ca_file))
        return httpx.AsyncClient(
            base_url=self.http.url,
            headers=headers,
            auth=auth,
            verify=verify,
            timeout=self.http.timeout,
            follow_redirects=False,
        )

    async def _forward(self, client: httpx.AsyncClient, outbox: Outbox) -> None:
        probe_at = 0.0  # time.monotonic() of the next probe while nothing is pending
        while True:
            mark = outbox.mark()
            batch = await outbox.pending(self.http.batch)
            if not batch:
                probe = self.probe()
                if probe is not None and time.monotonic() >= probe_at:
                    # Idle, the status page still says whether the destination is there.
                    probe_at = time.monotonic() + IDLE
                    answer = await self._send(client, probe)
                    if answer.verdict is Verdict.DELIVERED:
                        self._reached(outbox)
                    else:
                        self._missed(outbox, answer.reason or "the probe was refused")
                await outbox.wait_for_more(mark, timeout=IDLE)
                continue
            items = [
                Item(s, messages.state_message(s, outbox.frame(s), self.config)[1]) for s in batch
            ]
            queue = self.deliveries(items)
            while queue:
                delivery = queue.pop(0)
                if await self._until_taken(client, outbox, delivery):
                    continue
                if len(delivery.items) > 1:
                    # Which reading is refused? Halves, each sent again, down to the one.
                    half = len(delivery.items) // 2
                    queue[:0] = self.deliveries(delivery.items[:half]) + self.deliveries(
                        delivery.items[half:]
                    )
            probe_at = time.monotonic() + IDLE  # a delivery says as much as a probe
            await outbox.forwarded(batch[-1].id)

    async def _until_taken(
        self, client: httpx.AsyncClient, outbox: Outbox, delivery: Delivery
    ) -> bool:
        """Send delivery until it is delivered (True) or refused for good (False)."""
        while True:
            why = self.expired(delivery.items[0].stored) if delivery.items else None
            if why is not None:
                # Nothing was sent: the destination's state stays as the last attempt left it.
                self._refused(delivery, Answer(Verdict.REFUSED, why, kind=EXPIRED), outbox)
                return False
            answer = await self._send(client, delivery.request)
            if answer.verdict is Verdict.REFUSED and len(delivery.items) == 1:
                if self._refused_in_a_row >= REFUSALS_IN_DOUBT:
                    answer = Answer(
                        Verdict.RETRY,
                        f"the destination refused the last {self._refused_in_a_row} readings"
                        f" one by one, and now this one too ({answer.reason}): a fault of"
                        f" configuration, its or [{self.http.section}]'s, not of the readings",
                    )
                else:
                    self._refused_in_a_row += 1
            if answer.verdict is not Verdict.RETRY:
                self._reached(outbox)
                if answer.verdict is Verdict.DELIVERED:
                    self.delivered += len(delivery.items)
                    self._refused_in_a_row = 0
                    return True
                self._refused(delivery, answer, outbox)
                return False
            self._missed(outbox, answer.reason)
            await self._wait(max(self._backoff.delay(), answer.wait), answer.reason, outbox)

    def _reached(self, outbox: Outbox) -> None:
        """The destination answered as it should: connected, said once after an outage."""
        outbox.connected()
        self._backoff.reset()
        if self._lost_at is not None:
            away = time.monotonic() - self._lost_at
            log.info("%s: delivering again after %.0f s", self.label, away)
            self._lost_at = None

    def _missed(self, outbox: Outbox, reason: str) -> None:
        """An attempt failed: retrying(reason), a warning the first time of an outage."""
        outbox.retrying(reason)
        first = self._lost_at is None
        (log.warning if first else log.debug)(
            "%s: %s; readings wait in the store, retrying", self.label, reason
        )
        if first:
            self._lost_at = time.monotonic()

    def _refused(self, delivery: Delivery, answer: Answer, outbox: Outbox) -> None:
        if len(delivery.items) != 1:
            return  # split by the caller until one reading is left
        first = answer.kind not in self.refused
        self.refused[answer.kind] += 1
        outbox.refused(answer.kind)
        reading = delivery.items[0].message.get("id", "?")
        (log.warning if first else log.debug)(
            "%s: refused reading %s for good (%s); it stays in the store and goes to every"
            " other upstream%s",
            self.label,
            reading,
            answer.reason,
            "; more refusals of this kind are counted, not logged" if first else "",
        )

    async def _send(self, client: httpx.AsyncClient, request: Request) -> Answer:
        import httpx

        self.requests += 1
        try:
            response = await client.request(
                request.method,
                request.path,
                content=request.body,
                params=dict(request.params),
                headers=dict(request.headers),
            )
        except httpx.HTTPError as e:
            return Answer(Verdict.RETRY, self._explain(e))
        return self.judge(response)

    def _explain(self, e: Exception) -> str:
        """A failed request in the gateway's words, with what to check."""
        import httpx

        parts = urllib.parse.urlsplit(self.http.url)
        at = f"{parts.hostname}:{parts.port or (443 if self.http.tls else 80)}"
        check = f"[{self.http.section}] url in {self.config.source}"
        text = str(e) or type(e).__name__
        if isinstance(e, httpx.TimeoutException):
            return f"no answer from {at} within {self.http.timeout:g} s"
        if "CERTIFICATE_VERIFY_FAILED" in text:
            hint = (
                f"give [{self.http.section}] ca_file = its CA certificate"
                if self.http.ca_file is None
                else f"it is not for {parts.hostname} or not signed by {self.http.ca_file}"
            )
            return f"the destination's certificate was not accepted ({hint})"
        if isinstance(e, httpx.ConnectError):
            if "Name or service not known" in text or "Temporary failure" in text:
                host = parts.hostname
                return f"no address found for {host} (is the network up, and is {check} right?)"
            if "refused" in text.lower():
                return f"nothing accepts connections at {at} (is it running, and is {check} right?)"
            return f"cannot connect to {at}: {text}"
        if isinstance(e, httpx.RemoteProtocolError):
            return f"the connection to {at} was closed before an answer ({text})"
        return f"the request to {at} failed: {text}"

    async def _wait(self, seconds: float, reason: str, outbox: Outbox) -> None:
        """Sleep before the next attempt, saying retrying() again now and then: a long
        Retry-After must not look like a hung task to the watchdog."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(left, SAY_EVERY))
            if end - time.monotonic() > 0:
                outbox.retrying(reason)


def loopback(host: str) -> bool:
    """A destination on this machine: a secret sent to it never crosses a network."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
