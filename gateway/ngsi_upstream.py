"""The NGSI-LD upstream: every reading upserted to a FIWARE context broker, in batches.

Each reading becomes Smart Data Models entities (gateway/ngsi_entities.py: a
WeatherObserved per station, an AirQualityObserved where it measures air
quality), sent as

    POST {url}/ngsi-ld/v1/entityOperations/upsert?options=update
    Content-Type: application/ld+json        (each entity carries its @context)
    NGSILD-Tenant: {tenant}                  (when [ngsi_ld] tenant is given)
    Authorization: Bearer {token}            (when [ngsi_ld] token is given)

ETSI GS CIM 009 (NGSI-LD API), clause 6.15.3.1. Why update and not the
default, replace: replace would delete every attribute the payload lacks, so
a reading without PM (the sensor failed that cycle) would wipe the station's
PM attributes, and so would anything the platform's staff added to the
entity (an address, a photo); with update each attribute the reading has is
replaced and the rest stay, each with its own observedAt, which tells a
stale value from a fresh one.

One request never carries two instances of one entity: a batch is sent in
rounds, the first reading of each station in the first request, its second
in the next, and so on. The spec processes repeated ids in order (clause
10.3.3), but older brokers refuse them (Orion-LD answered BadRequestData
until 2021); rounds work with every broker and give its temporal store every
reading as an instance of the station's history.

The answers (gateway/http_upstream.py has the common table):

    201, 204        delivered (created; updated)
    207             some entities failed: retried when any failure is the
                    broker's (an InternalError, a 5xx, a context it could not
                    fetch), else refused for good (BadRequestData, a 4xx): the
                    base halves the request down to the one reading refused,
                    counts it and moves on
    400             refused for good, the same way
    401, 403        the token is wrong: a configuration problem; readings wait
    503, 429, 5xx   retried (Retry-After honoured)

Its section is [ngsi_ld]; httpx is imported only by the base's methods that
talk to the broker.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from meteolink.gateway import ngsi_entities
from meteolink.gateway.config import Config, Table
from meteolink.gateway.http_upstream import (
    Answer,
    Delivery,
    HttpSettings,
    HttpUpstream,
    Item,
    Request,
    Verdict,
    parse_http,
)
from meteolink.gateway.roles import Upstream

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

SECTION = "ngsi_ld"
BATCH = 100  # readings per batch: at most 200 entities, some 150 kB a request
UPSERT = "/ngsi-ld/v1/entityOperations/upsert"
ENTITIES = "/ngsi-ld/v1/entities"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
ID_PREFIX = "meteolink:"

# What may follow "urn:ngsi-ld:WeatherObserved:": the models' id pattern, less ':'
# doubled or at the start, and a tenant name as brokers take it.
_ID_PREFIX = re.compile(r"^[\w\-.:]*$")
_TENANT = re.compile(r"^[A-Za-z0-9_\-]{1,50}$")

# ProblemDetails error types (ETSI GS CIM 009's table of them) that say the broker, not the
# entity, failed: the same entity is worth sending again.
_BROKERS_FAULT = frozenset(
    {"InternalError", "LdContextNotAvailable", "OperationNotSupported", "TooManyRequests"}
)


@dataclass(frozen=True)
class NgsiLd:
    """The [ngsi_ld] table."""

    http: HttpSettings
    tenant: str | None = None
    id_prefix: str = ID_PREFIX

    @property
    def name(self) -> str:
        """Its cursor in the store: one per broker and tenant."""
        return f"ngsi-ld:{self.http.url}" + (f"#{self.tenant}" if self.tenant else "")

    @property
    def label(self) -> str:
        tenant = f" (tenant {self.tenant})" if self.tenant else ""
        return f"NGSI-LD {self.http.url}{tenant}"


def parse(top: Table, section: str, url_override: str | None) -> NgsiLd | None:
    """The [ngsi_ld] table, every key checked; None without a url."""
    t = top.table(section)
    http = parse_http(t, section, url_override, batch=BATCH, example="https://broker.example:1026")
    tenant = t.get("tenant", str, None, "a tenant name")
    prefix = t.get("id_prefix", str, ID_PREFIX, "an entity id prefix such as 'riga:'")
    t.finish()
    if tenant is not None and not _TENANT.match(tenant):
        raise t.error("tenant", f"{tenant!r}: give letters, digits, '_' or '-', at most 50")
    if not _ID_PREFIX.match(prefix) or prefix.startswith(":") or "::" in prefix:
        raise t.error(
            "id_prefix",
            f"{prefix!r}: give letters, digits, '_', '-', '.' or ':' (such as 'riga:'), not"
            " starting with ':'",
        )
    if http is None:
        return None
    return NgsiLd(http=http, tenant=tenant, id_prefix=prefix)


def plan(settings: NgsiLd) -> list[str]:
    """The broker's line, for `meteolink gateway --check`."""
    return [
        f"upserts to {settings.label}: urn:ngsi-ld:WeatherObserved:{settings.id_prefix}<node>"
        f" (and AirQualityObserved), {settings.http.batch} readings a batch"
    ]


def create(config: Config, settings: NgsiLd) -> list[Upstream]:
    return [NgsiUpstream(config, settings=settings)]


def rounds(items: Sequence[Item]) -> list[list[Item]]:
    """items split so that no two of one node share a list, each node's in order:
    the n-th reading of each node in the n-th list."""
    out: list[list[Item]] = []
    seen: dict[int, int] = {}
    for item in items:
        n = seen.get(item.stored.node, 0)
        seen[item.stored.node] = n + 1
        if n == len(out):
            out.append([])
        out[n].append(item)
    return out


class NgsiUpstream(HttpUpstream):
    def __init__(self, config: Config, *, settings: NgsiLd) -> None:
        super().__init__(config, http=settings.http, name=settings.name, label=settings.label)
        self.settings = settings
        self._headers = {"Content-Type": "application/ld+json"}
        if settings.tenant:
            self._headers["NGSILD-Tenant"] = settings.tenant
        self._unplaced: set[int] = set()  # nodes said to have no coordinates
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def deliveries(self, items: Sequence[Item]) -> list[Delivery]:
        out = []
        for group in rounds(items):
            carried: list[Item] = []
            batch: list[dict[str, Any]] = []
            for item in group:
                made = self._entities(item)
                if made:
                    carried.append(item)
                    batch.extend(made)
            if batch:
                body = self._encode(batch).encode()
                request = Request(
                    "POST", UPSERT, body, params={"options": "update"}, headers=self._headers
                )
                out.append(Delivery(request, carried))
        return out

    def _entities(self, item: Item) -> list[dict[str, Any]]:
        node = item.stored.node
        conf = self.config.node(node)
        msg = item.message
        if ("latitude" not in msg or "longitude" not in msg) and node not in self._unplaced:
            self._unplaced.add(node)
            log.warning(
                "%s: node %d has no latitude and longitude in [nodes.%d] of %s: its entities go"
                " without the location the Smart Data Models require (add both)",
                self.label,
                node,
                node,
                self.config.source,
            )
        exposure = conf.exposure if conf is not None else None
        return ngsi_entities.entities(msg, prefix=self.settings.id_prefix, exposure=exposure)

    def probe(self) -> Request:
        """Any entity query: a 200 says the broker is there and takes the token and tenant."""
        headers = {k: v for k, v in self._headers.items() if k != "Content-Type"}
        params = {"type": ngsi_entities.WEATHER, "limit": "1"}
        return Request("GET", ENTITIES, params=params, headers=headers)

    def judge(self, response: httpx.Response) -> Answer:
        if response.status_code != 207:
            return super().judge(response)
        failed = failures(response)
        if not failed:
            return Answer(Verdict.DELIVERED)
        kinds = sorted({f.kind for f in failed})
        what = (
            f"{len(failed)} entities failed ({', '.join(kinds)}), first {failed[0].entity}:"
            f" {failed[0].title}"
        )
        if any(f.kind in _BROKERS_FAULT or f.status >= 500 for f in failed):
            if "LdContextNotAvailable" in kinds:
                what += " (the broker could not fetch the models' @context: it needs the internet)"
            return Answer(Verdict.RETRY, f"the broker took part of a batch: {what}")
        return Answer(Verdict.REFUSED, f"the broker refused {what}", kind=f"HTTP 207 {kinds[0]}")


class Failure(NamedTuple):
    """One entry of a 207's BatchOperationResult errors."""

    entity: str
    kind: str  # the ProblemDetails type without ERRORS: "BadRequestData"
    title: str
    status: int  # 0 when the broker gave none


def failures(response: httpx.Response) -> list[Failure]:
    """The errors of a 207's BatchOperationResult; an answer that is not
    one is taken as the broker's fault (an InternalError), to be sent again."""
    try:
        out = []
        for e in response.json()["errors"]:
            err = e.get("error") or {}
            kind = str(err.get("type") or "").removeprefix(ERRORS) or "unknown"
            status = err.get("status")
            out.append(
                Failure(
                    str(e.get("entityId", "?")),
                    kind,
                    str(err.get("title") or err.get("detail") or ""),
                    status if isinstance(status, int) else 0,
                )
            )
        return out
    except (ValueError, KeyError, TypeError, AttributeError):
        return [Failure("?", "InternalError", "the answer is no BatchOperationResult", 0)]
