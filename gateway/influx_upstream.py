"""The InfluxDB upstream: every reading as one point of the line protocol, over HTTP.

InfluxDB 1.x takes points at POST /write?db=&rp=&precision=s, InfluxDB 2.x and
3.x at POST /api/v2/write?org=&bucket=&precision=s with `Authorization: Token
...`; VictoriaMetrics serves both. One point per reading (the InfluxDB 1.x
documentation, "Line protocol reference"):

    meteolink,name=Cēsis\\ skola,node=7 temperature=13.57,humidity=50,dew_point=3.3,
        aq_band="good",rssi=-71,snr=9.5,seq=31i,qc="{\\"temperature\\":[\\"step\\"]}" 1764328068

    measurement  [influxdb] measurement, "meteolink" by default
    tags         node (its id) and name (from [nodes.N], when it has one), in that
                 sorted order; nothing else: no gateway tag, so the same reading
                 written by two gateways is the same point (measurement, tag set
                 and time), and the second write overwrites the first
    fields       every plausible value of the state message (gateway/messages.py),
                 calibrated, and the derived numbers (dew_point, sea_level_pressure),
                 each a float; rssi and snr when the link gave them; seq as an
                 integer; and, unless string_fields = false, the air-quality bands
                 as string fields and qc, the QC flags as JSON text, when the
                 reading has any (VictoriaMetrics stores a string field as a series
                 of zeros: give it string_fields = false). Implausible values are not written:
                 a dashboard must not draw a 412 °C (they stay in the store and in
                 the MQTT message under "implausible").
    time         the second the reading was taken (its own time, not its arrival:
                 a node's backlog lands where it belongs), precision=s

Why every number a float: a field's type is fixed by the first point written
to a shard, and InfluxDB refuses (400, "field type conflict") a point whose
field has another type; a value the frame carries as 80 one time and 80.5 the
next would otherwise be an integer, then a float. Only seq is an integer.

Each batch is one request. What each answer means is gateway/http_upstream.py's
(a 400 "partial write" splits the batch down to the point refused).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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

BATCH = 1000  # points a request; InfluxDB's documentation suggests 5,000 at most

# What a state message holds beside the reading's values: said as tags or the time,
# or station metadata that is no measurement.
NOT_FIELDS = frozenset(
    {
        "id",
        "node",
        "seq",
        "time",
        "gateway",
        "name",
        "location",
        "latitude",
        "longitude",
        "altitude",
        "implausible",
        "calibrated",
        "qc",
    }
)

_BLANK = {" ": "\\ ", "\n": "\\ ", "\r": "\\ ", "\t": "\\ "}  # a line break, as a space
_MEASUREMENT = str.maketrans({",": "\\,", **_BLANK})
_TAG = str.maketrans({",": "\\,", "=": "\\=", **_BLANK})
_STRING = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": "\\n"})
# Backslashes InfluxDB would read as escaping what follows them: at the end of a name
# (then the comma or space after it), or before a character escaped here. InfluxDB 1.x
# reads no doubled backslash in a name as one, so they cannot be written: left out.
_UNWRITABLE = re.compile(r"\\+(?=[ ,=\n\r\t]|$)")


def measurement(name: str) -> str:
    """A measurement name escaped: commas and spaces (line protocol, "Special characters").

    A backslash at its end or before a comma or space cannot be written: it is left out.
    """
    return _UNWRITABLE.sub("", name).translate(_MEASUREMENT)


def tag(text: str) -> str:
    """A tag key, tag value or field key escaped: commas, equals signs and spaces.

    A line break cannot be written in one at all: it is said as a space. A backslash
    at its end, or before a comma, equals sign or space, cannot be either (InfluxDB
    takes it as escaping the character after it, "roof\\" as "roof,node=7..."):
    it is left out, so that a node's points are not all refused for its name.
    """
    return _UNWRITABLE.sub("", text).translate(_TAG)


def string_field(text: str) -> str:
    """A string field's value, quoted: double quotes and backslashes escaped."""
    return '"' + text.translate(_STRING) + '"'


@dataclass(frozen=True)
class Influx:
    """The [influxdb] table."""

    http: HttpSettings
    api: str = "v1"  # "v1": /write; "v2": /api/v2/write
    database: str | None = None  # v1
    retention_policy: str | None = None  # v1; None: the database's default
    org: str | None = None  # v2
    bucket: str | None = None  # v2
    measurement: str = "meteolink"
    string_fields: bool = True  # the bands and the QC flags; VictoriaMetrics makes them 0

    @property
    def where(self) -> str:
        """Where points go in the database: a database (and policy), or an org's bucket."""
        if self.api == "v1":
            rp = f".{self.retention_policy}" if self.retention_policy else ""
            return f"database {self.database}{rp}"
        return f"bucket {self.bucket} of org {self.org}"


def parse(top: Table, section: str, url_override: str | None) -> Influx | None:
    """The [influxdb] table, every key checked; None without a url."""
    t = top.table(section)
    http = parse_http(t, section, url_override, batch=BATCH, example="http://127.0.0.1:8086")
    api = t.get("api", str, "v1", '"v1" or "v2"')
    database = t.get("database", str, None, "a database name")
    rp = t.get("retention_policy", str, None, "a retention policy's name")
    org = t.get("org", str, None, "an organisation's name")
    bucket = t.get("bucket", str, None, "a bucket's name")
    name = t.get("measurement", str, "meteolink", "a measurement name")
    strings = t.get("string_fields", bool, True, "true or false")
    t.finish()
    if api not in ("v1", "v2"):
        raise t.error("api", f'{api!r}: give "v1" (InfluxDB 1.x: /write) or "v2" (/api/v2/write)')
    if not name.strip():
        raise t.error("measurement", "empty (give a name, or remove the key for meteolink)")
    if name.startswith("#"):
        raise t.error(
            "measurement",
            f"{name!r}: a line beginning with '#' is a comment to InfluxDB, and nothing would"
            " be written (give a name without it)",
        )
    v1 = {"database": database, "retention_policy": rp}
    v2 = {"org": org, "bucket": bucket}
    for key, value in (v2 if api == "v1" else v1).items():
        if value is not None:
            other = "v2" if api == "v1" else "v1"
            raise t.error(key, f'is for api = "{other}" (this section says api = "{api}")')
    if http is None:
        return None
    if api == "v1" and not database:
        raise t.error("database", 'missing (give the database points go to: database = "meteo")')
    if api == "v2":
        for key, value in v2.items():
            if not value:
                raise t.error(
                    key,
                    f"missing (InfluxDB 2 needs org and bucket; VictoriaMetrics takes any {key})",
                )
    if api == "v2" and http.username is not None:
        raise t.error("username", 'api = "v2" takes a token (give token = "...")')
    return Influx(
        http=http,
        api=api,
        database=database,
        retention_policy=rp,
        org=org,
        bucket=bucket,
        measurement=name,
        string_fields=strings,
    )


def plan(influx: Influx) -> list[str]:
    """The destination's line, for `meteolink gateway --check`."""
    return [
        f"writes points to InfluxDB ({influx.api}) at {influx.http.url}, {influx.where},"
        f" measurement {influx.measurement}"
    ]


def point(
    message: dict[str, Any],
    taken: float,
    measurement_escaped: str,
    node_tags: str,
    *,
    strings: bool = True,
) -> str:
    """One reading's line: measurement_escaped and node_tags (",name=...,node=7") made once
    per node; message is its state message, taken its own time; strings: write the string
    fields (the bands, qc)."""
    fields = []
    for key, value in message.items():
        if key in NOT_FIELDS:
            continue
        cls = value.__class__
        if cls is float:
            if math.isfinite(value):
                fields.append(f"{tag(key)}={value!r}")
        elif cls is int:
            fields.append(f"{tag(key)}={value}")
        elif cls is str and strings:
            fields.append(f"{tag(key)}={string_field(value)}")
    fields.append(f"seq={message['seq']}i")
    qc = message.get("qc")
    if qc and strings:
        fields.append("qc=" + string_field(json.dumps(qc, sort_keys=True, separators=(",", ":"))))
    return f"{measurement_escaped}{node_tags} {','.join(fields)} {math.floor(taken)}"


class InfluxUpstream(HttpUpstream):
    """Points to one InfluxDB (or VictoriaMetrics) database or bucket."""

    def __init__(self, config: Config, *, influx: Influx, **kwargs: Any) -> None:
        where = influx.database if influx.api == "v1" else f"{influx.org}/{influx.bucket}"
        super().__init__(
            config,
            http=influx.http,
            # The cursor: one per database (a new one gets every reading the store has).
            name=f"influxdb:{influx.http.url}/{where}",
            label=f"influxdb {influx.http.url} {influx.where}",
            **kwargs,
        )
        self.influx = influx
        self.token_scheme = "Token"  # InfluxDB's own: v2, and v1 from 1.8 (user:password)
        self._measurement = measurement(influx.measurement)
        self._tags: dict[int, str] = {}
        if influx.api == "v1":
            params = {"db": influx.database or "", "precision": "s"}
            if influx.retention_policy:
                params["rp"] = influx.retention_policy
            self._write = ("/write", params)
        else:
            params = {"org": influx.org or "", "bucket": influx.bucket or "", "precision": "s"}
            self._write = ("/api/v2/write", params)

    def node_tags(self, node: int) -> str:
        """ ",name=<name>,node=<id>": tags sorted by key, as InfluxDB prefers them."""
        tags = self._tags.get(node)
        if tags is None:
            conf = self.config.node(node)
            # A name with nothing writable in it (a lone backslash) is no tag: InfluxDB
            # refuses an empty tag value, and with it the point.
            name = tag(conf.name) if conf is not None and conf.name else ""
            tags = (f",name={name}" if name else "") + f",node={node}"
            self._tags[node] = tags
        return tags

    def deliveries(self, items: Sequence[Item]) -> list[Delivery]:
        lines = [
            point(
                i.message,
                i.stored.taken,
                self._measurement,
                self.node_tags(i.stored.node),
                strings=self.influx.string_fields,
            )
            for i in items
        ]
        path, params = self._write
        body = ("\n".join(lines) + "\n").encode()
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        return [Delivery(Request("POST", path, body, params, headers), items)]

    def judge(self, response: httpx.Response) -> Answer:
        """The base's meaning, and InfluxDB 1.x's 404 for a database that does not exist
        said with how to make it (InfluxDB 1.x does not make one on the first write)."""
        if response.status_code == 404 and "database not found" in response.text:
            db = self.influx.database
            return Answer(
                Verdict.RETRY,
                f"InfluxDB has no database {db} (create it: influx -execute 'CREATE DATABASE"
                f" {db}', or check [influxdb] database in {self.config.source})",
            )
        return super().judge(response)

    def probe(self) -> Request | None:
        # /ping answers 204 on InfluxDB 1.x and 2.x, and on VictoriaMetrics.
        return Request("GET", "/ping")


def create(config: Config, influx: Influx) -> list[Upstream]:
    """The upstreams the configuration asks for: one database, [influxdb]."""
    return [InfluxUpstream(config, influx=influx)]
