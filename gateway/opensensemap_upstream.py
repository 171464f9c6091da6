"""The openSenseMap upstream: each opted-in node's latest clean values in its senseBox.

openSenseMap's API (docs.opensensemap.org, "Post multiple new measurements";
the same text is the apidoc of postNewMeasurements in sensebox/openSenseMap-API,
packages/api/lib/controllers/measurementsController.js):

    POST https://api.opensensemap.org/boxes/<senseBoxId>/data
    Content-Type: application/json
    Authorization: <the box's access_token>     (boxes with useAuth, all new ones)
    [{"sensor": "<sensorId>", "value": "21.50", "createdAt": "2026-11-28T14:00:00Z"}, ...]

The JSON array form, each value a decimal string as the documented examples
give them, createdAt the time the reading was TAKEN (RFC 3339), so the map has
its true time even when it is sent late. The token is the box's own, compared
with the whole Authorization header (no "Bearer"): it is per node, in
[nodes.N.opensensemap], never in this section. The API answers 201 when it
saved the measurements; it takes at most 2500 values a request, rejects a
createdAt more than a minute ahead of its clock (packages/models/src/
measurement/decoding/validators.js), and a sensor that is not the box's
(box.js, saveMeasurementsArray).

The API itself has no rate limiter; a public map still wants the air now, not
an archive: one upload per node per [opensensemap] interval (60 s unless
said), its latest reading (public_maps.Pace). Which sensor of the box takes
which value is the node's `sensors` table: docs/gateway.md has an example.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meteolink.gateway.backoff import Backoff
from meteolink.gateway.config import Config, ConfigError, OpenSenseMapBox, Table
from meteolink.gateway.http_upstream import (
    Answer,
    Delivery,
    HttpSettings,
    HttpUpstream,
    Item,
    Request,
    Verdict,
    loopback,
    parse_http,
)
from meteolink.gateway.public_maps import Pace, clean, format_value
from meteolink.gateway.roles import Upstream

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

URL = "https://api.opensensemap.org"
INTERVAL = 60.0  # seconds between two uploads of a node: our choice, a minute
BATCH = 2000
MAX_VALUES = 2500  # the API's limit per request; a node has at most a few dozen


def measurements(message: dict[str, object], box: OpenSenseMapBox) -> list[dict[str, str]]:
    """The JSON array of a reading: one measurement per mapped sensor with a clean value."""
    out = []
    for field, sensor in box.sensors:
        value = clean(message, field)
        if value is not None:
            out.append(
                {"sensor": sensor, "value": format_value(value), "createdAt": str(message["time"])}
            )
    return out[:MAX_VALUES]


@dataclass(frozen=True)
class OpenSenseMap:
    """The [opensensemap] section."""

    http: HttpSettings
    interval: float = INTERVAL


def parse(top: Table, section: str, url_override: str | None) -> OpenSenseMap | None:
    """[opensensemap]: enabled, url (for tests or a self-hosted openSenseMap), interval,
    batch and timeout; None when the section is absent or not enabled."""
    t = top.table(section)
    present = section in top.data
    enabled = t.get("enabled", bool, True, "true or false")
    interval = t.number("interval", INTERVAL, low=1, high=86400)
    if url_override is None and "url" not in t.data:
        url_override = URL
    http = parse_http(t, section, url_override, batch=BATCH, example=URL)
    allow_plain = t.get("allow_plain_password", bool, False, "true or false")
    t.finish()
    if not present or not enabled or http is None:
        return None
    host = urllib.parse.urlsplit(http.url).hostname or ""
    if not http.tls and not loopback(host) and not allow_plain and _box_tokens(top):
        raise ConfigError(
            f"{top.source}: {section}.url: the senseBoxes' tokens ([nodes.N.opensensemap])"
            f" over plain http:// to {host} travel in clear (use https://, or set"
            f" [{section}] allow_plain_password = true on a network you trust)"
        )
    for key in ("token", "username"):
        if key in t.data:
            raise t.error(
                key,
                "each senseBox has its own token: give it as token in [nodes.N.opensensemap]"
                " (remove it here)",
            )
    return OpenSenseMap(http=http, interval=interval)


def _box_tokens(top: Table) -> bool:
    """Whether any [nodes.N.opensensemap] in the file gives a token (read before [nodes] is)."""
    nodes = top.data.get("nodes")
    if not isinstance(nodes, dict):
        return False
    return any(
        isinstance(node, dict)
        and isinstance(node.get("opensensemap"), dict)
        and "token" in node["opensensemap"]
        for node in nodes.values()
    )


def plan(settings: OpenSenseMap) -> list[str]:
    return [
        f"uploads to openSenseMap at {settings.http.url}: each node with [nodes.N.opensensemap],"
        f" its latest clean values every {settings.interval:g} s at most"
    ]


class OpenSenseMapUpstream(HttpUpstream):
    """Nodes with [nodes.N.opensensemap], their latest clean values, a request a node."""

    def __init__(
        self, config: Config, settings: OpenSenseMap, *, backoff: Backoff | None = None
    ) -> None:
        super().__init__(
            config,
            http=settings.http,
            name=f"opensensemap:{settings.http.url}",
            label=f"openSenseMap ({settings.http.url})",
            backoff=backoff,
        )
        self.boxes = {n: c.opensensemap for n, c in config.nodes.items() if c.opensensemap}
        self.pace = Pace(interval=settings.interval, max_age=None, wanted=self.boxes.__contains__)

    def deliveries(self, items: Sequence[Item]) -> list[Delivery]:
        out = []
        sent: dict[int, list[dict[str, str]]] = {}
        for item in items:
            box = self.boxes.get(item.stored.node)
            sent[id(item)] = measurements(item.message, box) if box is not None else []
        for item in self.pace.choose(items, lambda item: sent[id(item)]):
            box = self.boxes[item.stored.node]
            values = sent[id(item)]
            headers = {"Content-Type": "application/json"}
            if box.token is not None:
                headers["Authorization"] = box.token
            body = json.dumps(values, separators=(",", ":")).encode()
            out.append(
                Delivery(Request("POST", f"/boxes/{box.box}/data", body, headers=headers), (item,))
            )
        return out

    def judge(self, response: httpx.Response) -> Answer:
        """As every HTTP upstream, but a refusal of the box (401: its token; 404: no such
        box) concerns one node's settings: that reading is passed over, and the other
        nodes go on."""
        status = response.status_code
        if status == 401:
            return Answer(
                Verdict.REFUSED,
                "openSenseMap refused the box's access token (HTTP 401; check token in the"
                f" node's [nodes.N.opensensemap] in {self.config.source})",
                kind="HTTP 401",
            )
        if status == 404:
            return Answer(
                Verdict.REFUSED,
                "openSenseMap has no such senseBox (HTTP 404; check box in the node's"
                f" [nodes.N.opensensemap] in {self.config.source})",
                kind="HTTP 404",
            )
        return super().judge(response)


def create(config: Config, settings: OpenSenseMap) -> list[Upstream]:
    """The upstream the configuration asks for: [opensensemap]."""
    upstream = OpenSenseMapUpstream(config, settings)
    if not upstream.boxes:
        log.warning(
            "%s: no node has [nodes.N.opensensemap] in %s: nothing will be uploaded",
            upstream.label,
            config.source,
        )
    return [upstream]
