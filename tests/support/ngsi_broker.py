"""An NGSI-LD context broker's batch upsert, on loopback; and the Smart Data Models offline.

NgsiBroker answers tests/support/http_server.py's requests as a context broker
answers POST /ngsi-ld/v1/entityOperations/upsert (ETSI GS CIM 009 V1.6.1,
clause 6.15.3.1 "Batch Entity Creation or Update (Upsert)"):

    201 Created       all taken, some entities new: the body lists the new ones' ids
    204 No Content    all taken, every entity already existed (and was updated)
    207 Multi-Status  some failed: {"success": [ids], "errors": [{"entityId": id,
                      "error": {"type": ..., "title": ..., "status": ...}}]}
    400 Bad Request   the payload is no JSON array of entities (type BadRequestData,
                      or InvalidRequest)

with what a test sets: down (503 with Retry-After), a token the Authorization
header must carry (401 otherwise), and refuse (a function: an entity it
returns a ProblemDetails type for fails in a 207). It keeps each tenant's
entities merged as ?options=update merges them (attributes in
the payload replace those of the entity, the rest stay), and every instance
it took, in order, as a temporal store would: what arrived, not only the
latest state. GET /ngsi-ld/v1/entities answers 200 with an empty list, enough
for the upstream's probe.

The models: the FIWARE Smart Data Models' JSON Schemas, contexts and examples
in ../shared/smart-data-models ($METEOLINK_SMART_DATA_MODELS elsewhere), their
$refs resolved to the local files as its README.md says, nothing fetched.
"""

import json
import os
import threading
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.support.http_server import Reply, Request
from tests.support.tools import ROOT

UPSERT = "/ngsi-ld/v1/entityOperations/upsert"
ENTITIES = "/ngsi-ld/v1/entities"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"

MODELS_ENV = "METEOLINK_SMART_DATA_MODELS"
MODEL_DIRS = {
    "WeatherObserved": "dataModel.Weather/WeatherObserved",
    "AirQualityObserved": "dataModel.Environment/AirQualityObserved",
}
CONTEXT_FILES = {
    "WeatherObserved": "dataModel.Weather/context.jsonld",
    "AirQualityObserved": "dataModel.Environment/context.jsonld",
}
# The URLs the schemas $ref, and the local copy of each (the README's table).
_REFERENCED = {
    "https://smart-data-models.github.io/data-models/common-schema.json": (
        "data-models/common-schema.json"
    ),
    "https://smart-data-models.github.io/dataModel.Weather/weather-schema.json": (
        "dataModel.Weather/weather-schema.json"
    ),
    "https://smart-data-models.github.io/dataModel.Environment/Environment-schema.json": (
        "dataModel.Environment/Environment-schema.json"
    ),
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/"
    "Environment-schema.json": "dataModel.Environment/Environment-schema.json",
}


def models_dir() -> Path:
    """The local copy of the Smart Data Models; a test fails, never skips, without it."""
    where = Path(os.environ.get(MODELS_ENV) or ROOT.parent / "shared" / "smart-data-models")
    if not (where / "README.md").is_file():
        pytest.fail(
            f"{where}: no copy of the FIWARE Smart Data Models (set {MODELS_ENV} to a folder"
            " laid out as ../shared/smart-data-models/README.md describes)"
        )
    return where


def model_file(relative: str) -> Any:
    return json.loads((models_dir() / relative).read_text(encoding="utf-8"))


@cache
def validator(kind: str) -> Any:
    """A jsonschema validator of the model's schema (key-values form), refs resolved
    offline."""
    import jsonschema
    from referencing import Registry, Resource

    resources = [
        (url, Resource.from_contents(model_file(path))) for url, path in _REFERENCED.items()
    ]
    # A Registry retrieves nothing unless given a function that does: a $ref to a URL
    # not listed here fails the validation (Unresolvable), it never goes online.
    registry: Registry[Any] = Registry().with_resources(resources)
    schema = model_file(f"{MODEL_DIRS[kind]}/schema.json")
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)


def schema_errors(kind: str, key_values: Mapping[str, Any]) -> list[str]:
    """What the model's schema finds wrong with an entity in key-values form."""
    found = validator(kind).iter_errors(dict(key_values))
    return sorted(
        f"{'/'.join(map(str, e.absolute_path)) or '(entity)'}: {e.message}" for e in found
    )


@cache
def context_terms(kind: str) -> dict[str, str]:
    """The model's own @context: term -> IRI."""
    terms: dict[str, str] = model_file(CONTEXT_FILES[kind])["@context"]
    return terms


def key_values(entity: Mapping[str, Any]) -> dict[str, Any]:
    """A normalized NGSI-LD entity in the simplified (keyValues) form, the form the
    models' JSON Schemas describe (ETSI GS CIM 009's simplified representation): each attribute its
    value, a Relationship its object, a DateTime its text; sub-properties dropped."""
    out: dict[str, Any] = {}
    for key, attr in entity.items():
        if key in ("id", "type", "@context"):
            out[key] = attr
        elif attr["type"] == "Relationship":
            out[key] = attr["object"]
        else:
            value = attr["value"]
            if isinstance(value, dict) and value.get("@type") == "DateTime":
                value = value["@value"]
            out[key] = value
    return out


def _problem(kind: str, title: str, status: int) -> dict[str, Any]:
    return {"type": ERRORS + kind, "title": title, "status": status}


def _json(status: int, body: object, content_type: str = "application/json") -> Reply:
    return Reply(status, {"Content-Type": content_type}, json.dumps(body).encode())


class NgsiBroker:
    """The answering side: give it as HttpServer.then."""

    def __init__(self, *, token: str | None = None) -> None:
        self.token = token
        self.down = False  # True: every request gets 503 with Retry-After: 1
        self.refuse: Callable[[Mapping[str, Any]], str | None] = lambda entity: None
        self.retry_entity: Callable[[Mapping[str, Any]], bool] = lambda entity: False
        self.entities: dict[tuple[str, str], dict[str, Any]] = {}  # (tenant, id) -> merged
        self.instances: list[tuple[str, dict[str, Any]]] = []  # (tenant, entity) as taken
        self.answers: list[int] = []  # the status of each answer, in order
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        reply = self._answer(request)
        with self._lock:
            self.answers.append(reply.status)
        return reply

    def taken(self, tenant: str = "") -> list[dict[str, Any]]:
        """Every entity instance the broker took for tenant, oldest first."""
        with self._lock:
            return [e for t, e in self.instances if t == tenant]

    def _answer(self, request: Request) -> Reply:
        if self.down:
            body = _problem("InternalError", "the broker is restarting", 503)
            return Reply(
                503,
                {"Retry-After": "1", "Content-Type": "application/json"},
                json.dumps(body).encode(),
            )
        if (
            self.token is not None
            and request.headers.get("authorization") != f"Bearer {self.token}"
        ):
            return _json(401, _problem("UnauthorizedRequest", "no valid token", 401))
        # The broker may sit under a path of a reverse proxy's: /broker/ngsi-ld/v1/...
        if request.method == "GET" and request.path.endswith(ENTITIES):
            return _json(200, [])
        if request.method != "POST" or not request.path.endswith(UPSERT):
            return _json(404, _problem("ResourceNotFound", request.path, 404))
        if request.headers.get("content-type") != "application/ld+json":
            return _json(415, _problem("InvalidRequest", "give application/ld+json", 415))
        try:
            batch = json.loads(request.body)
        except ValueError:
            return _json(400, _problem("InvalidRequest", "the body is no JSON", 400))
        if not isinstance(batch, list) or not all(isinstance(e, dict) for e in batch):
            return _json(400, _problem("BadRequestData", "give an array of entities", 400))
        tenant = request.headers.get("ngsild-tenant", "")
        update = request.query.get("options") == "update"
        created: list[str] = []
        updated: list[str] = []
        errors: list[dict[str, Any]] = []
        with self._lock:
            for entity in batch:
                eid = entity.get("id")
                if not isinstance(eid, str) or "type" not in entity or "@context" not in entity:
                    problem = _problem("BadRequestData", "id, type and @context needed", 400)
                    errors.append({"entityId": str(eid), "error": problem})
                    continue
                if self.retry_entity(entity):
                    problem = _problem("InternalError", "database busy", 500)
                    errors.append({"entityId": eid, "error": problem})
                    continue
                refused = self.refuse(entity)
                if refused is not None:
                    errors.append({"entityId": eid, "error": _problem(refused, "refused", 400)})
                    continue
                key = (tenant, eid)
                attrs = {k: v for k, v in entity.items() if k != "@context"}
                if key in self.entities:
                    updated.append(eid)
                    if update:
                        self.entities[key].update(attrs)
                    else:
                        self.entities[key] = attrs
                else:
                    created.append(eid)
                    self.entities[key] = dict(attrs)
                self.instances.append((tenant, entity))
        if errors:
            return _json(207, {"success": created + updated, "errors": errors})
        if created:
            return _json(201, created)
        return Reply(204)
