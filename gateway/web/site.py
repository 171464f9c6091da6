"""The status page's routes, and the task that serves them in the running gateway.

    /                 the overview (gateway/web/overview.py), HTML
    /api/overview     the same data as JSON
    /metrics          the gateway's health for Prometheus (gateway/web/metrics.py)
    /nodes/<id>       one node's page (gateway/web/node_page.py), HTML
    /api/nodes/<id>   the same as JSON

Site answers requests: it copies the gateway's state on the event loop
(capture), then runs the page on the web's thread (reader.py), so a page's
queries never hold the loop. StatusPage is the service's task "web": it
listens where [web] says, keeps listening through errors (a port taken at
start is tried again, with backoff, and the gateway goes on storing readings
meanwhile), and notes when each input last heard a frame.
"""

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from meteolink.gateway import labels
from meteolink.gateway.backoff import Backoff
from meteolink.gateway.config import Config
from meteolink.gateway.web import metrics, node_page, overview
from meteolink.gateway.web.reader import GatewayState, Reader, ReaderThread, UpstreamState
from meteolink.gateway.web.server import Credentials, Request, Response, Server, plain

if TYPE_CHECKING:
    from meteolink.gateway.commit import Accepted
    from meteolink.gateway.service import Gateway

log = logging.getLogger(__name__)

SAMPLE_EVERY = 5.0  # seconds between looks at the inputs' frame counts
_NODE = re.compile(r"^/(api/)?nodes/([0-9]{1,10})/?$")
JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"
# The per-node page's style and SVG are its own, inline: nothing from elsewhere. It has
# no script, so none may run (default-src 'none'): markup that ever slipped past the
# escaping could not act.
NODE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:;"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class Site:
    """Turns a Request into a Response; pages run on the reader's thread."""

    def __init__(
        self,
        config: Config,
        reader: ReaderThread,
        capture: Callable[[], GatewayState],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.reader = reader
        self.capture = capture
        self.clock = clock

    async def handle(self, request: Request) -> Response:
        lang = labels.language(request.headers.get("accept-language"))
        state = self.capture()
        now = self.clock()
        path = request.path
        if path == "/":
            sort = request.query.get("sort", "station")
            order = request.query.get("order", "asc")

            def page(r: Reader) -> str:
                return overview.render(overview.data(r, now), lang, sort, order)

            text = await self.reader.run(page, state)
            headers = {"Content-Security-Policy": overview.CSP, "Vary": "Accept-Language"}
            return Response(200, text.encode(), HTML, headers)
        if path == "/api/overview":
            found = await self.reader.run(lambda r: overview.data(r, now), state)
            return _json(found)
        if path == "/metrics":
            body = await self.reader.run(lambda r: metrics.exposition(r, now), state)
            return Response(200, body, metrics.CONTENT_TYPE)
        match = _NODE.match(path)
        if match:
            return await self._node(int(match[2]), api=bool(match[1]), lang=lang, now=now)
        return plain(404, f"not found: {path} (the overview is at /)")

    async def _node(self, node: int, *, api: bool, lang: str, now: float) -> Response:
        config = self.config

        def page(r: Reader) -> Any:
            if node not in r.nodes():
                return None
            if api:
                return node_page.as_json(r, config, node, now)
            return node_page.render(r, config, node, lang, now)

        found = await self.reader.run(page, self.capture())
        if found is None:
            return plain(404, f"not found: no node {node} at this gateway (the overview is at /)")
        if api:
            return _json(found)
        headers = {"Content-Security-Policy": NODE_CSP, "Vary": "Accept-Language"}
        return Response(200, str(found).encode(), HTML, headers)


def _json(data: object) -> Response:
    return Response(200, json.dumps(data, ensure_ascii=False).encode(), JSON)


class StatusPage:
    """The service's task "web": the status page of a running gateway."""

    def __init__(self, gateway: "Gateway") -> None:
        self.gateway = gateway
        self.settings = gateway.config.web
        self.clock = gateway.clock
        self.reader = ReaderThread(gateway.config)
        self.site = Site(gateway.config, self.reader, self.capture, clock=gateway.clock)
        s = self.settings
        credentials = Credentials(s.username, s.password) if s.username and s.password else None
        self.server = Server(self.site.handle, credentials=credentials)
        self.url: str | None = None  # once listening
        self.listening = asyncio.Event()
        self.stored = 0  # readings committed since start-up
        self._frames: dict[str, int] = {}  # input -> its frame count at the last look
        self._heard: dict[str, float] = {}  # input -> when its count was last seen to grow
        gateway.observers.append(self._committed)

    def _committed(self, accepted: "Accepted") -> None:
        self.stored += 1

    def capture(self) -> GatewayState:
        """The gateway's state now, copied (on the event loop, where it changes)."""
        gw = self.gateway
        self._sample()
        upstreams = tuple(
            UpstreamState(p.name, p.label, p.state, p.since, p.reason, p.cursor, p.forwarded_at)
            for p in gw.progress.values()
        )
        return GatewayState(
            name=gw.config.name,
            started=gw.health.started,
            stats=gw.health.snapshot(),
            inputs=tuple(inp.name for inp in gw.inputs),
            upstreams=upstreams,
            readings_stored=self.stored,
            input_heard=dict(self._heard),
            recent=tuple(gw.health.recent),
        )

    def _sample(self) -> None:
        now = self.clock()
        for name, tallies in self.gateway.sources.items():
            if tallies.frames != self._frames.get(name, 0):
                self._frames[name] = tallies.frames
                self._heard[name] = now

    async def run(self) -> None:
        """Listen and serve until cancelled; never fails the gateway."""
        host, port = self.settings.host, self.settings.port
        assert host is not None, "StatusPage made for a config without [web] listen"
        backoff = Backoff(first=1.0, cap=60.0)
        try:
            while True:
                try:
                    server = await self.server.start(host, port)
                except OSError as e:
                    log.error(
                        "status page: cannot listen on %s:%d: %s (give [web] listen another"
                        " address, or stop what uses it); trying again",
                        host,
                        port,
                        e.strerror or e,
                    )
                    await backoff.sleep()
                    continue
                async with server:
                    bound = server.sockets[0].getsockname()[1]
                    self.url = self.settings.url(bound)
                    log.info("status page at %s", self.url)
                    self.listening.set()
                    while True:
                        self._sample()
                        await asyncio.sleep(SAMPLE_EVERY)
        finally:
            await asyncio.shield(asyncio.to_thread(self.reader.close))
