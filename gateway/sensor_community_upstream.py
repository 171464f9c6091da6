"""The sensor.community upstream: each opted-in node's latest clean values on the public map.

sensor.community (formerly luftdaten.info) takes uploads the way its own
airRohr firmware sends them (opendata-stuttgart/sensors-software,
airrohr-firmware/airrohr-firmware.ino, sendData() and sendSensorCommunity(),
release NRZ-2024-135; pin numbers from ext_def.h; the API's own description
is the project wiki's "EN-APIs" page, opendata-stuttgart/meta):

    POST https://api.sensor.community/v1/push-sensor-data/
    Content-Type: application/json
    X-Sensor: <board>-<chip id>      the registered sensor: "esp8266-12345678"
    X-Pin: <n>                       which kind of sensor the values come from
    {"software_version": "...", "sensordatavalues": [
        {"value_type": "P1", "value": "12.30"}, {"value_type": "P2", "value": "8.10"}]}

One request per kind of sensor (X-Pin), each value a decimal string with two
places (the firmware's String(float)); pressure in pascals. A node's frame
does not say which chip measured it, so the pin is chosen from which fields
the frame carries, as the airRohr sensor with that set would send them
(PIN_GROUPS); docs/gateway.md has the table. The map stamps each value with
the time it ARRIVES: so only fresh readings go (public_maps.Pace, max_age),
also when a delivery is retried after an outage.

The airRohr firmware uploads every 145 s by default (cfg::sending_intervall_ms
= 145000); sensor.community publishes no limit of its own, and this upstream
keeps to the firmware's pace per node unless [sensor_community] interval says
otherwise. Its section is [sensor_community]; the url is for tests and mirrors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from meteolink.gateway import __version__
from meteolink.gateway.backoff import Backoff
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
from meteolink.gateway.public_maps import Pace, carried, clean, format_value
from meteolink.gateway.roles import Upstream
from meteolink.gateway.store import Stored

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

URL = "https://api.sensor.community"
PATH = "/v1/push-sensor-data/"
INTERVAL = 145.0  # the airRohr firmware's default sending interval, seconds
MAX_AGE = 600.0  # the oldest reading sent, seconds: the map stamps arrival time
BATCH = 2000  # readings read at once: a backlog's latest per node is chosen from them
SOFTWARE = f"meteolink-{__version__}"


class Value(NamedTuple):
    """One value_type of a group: the meteolink field it comes from, and the scale to the
    unit sensor.community takes."""

    value_type: str
    field: str
    scale: float = 1.0


class PinGroup(NamedTuple):
    """The values one airRohr sensor sends under one X-Pin (ext_def.h *_API_PIN).

    needs: the fields a frame must carry for this group to be the node's; the first
    group of a kind whose needs are met is chosen (so a node with a BME280's three
    values is a BME280, not a DHT22 with pressure left over)."""

    pin: int
    sensor: str  # the airRohr sensor whose upload this imitates, for the docs
    kind: str  # one group per kind per reading
    needs: frozenset[str]
    values: tuple[Value, ...]


_PA = 100.0  # hPa -> Pa: sensor.community takes the BMx280's pressure in pascals
PIN_GROUPS = (
    # Particulate matter, X-Pin 1 (SDS_API_PIN, PMS_API_PIN, SPS30_API_PIN ...):
    # P1 is PM10 and P2 is PM2.5 (the SDS011's naming), P0 is PM1 (PMS, SPS30).
    PinGroup(
        1,
        "SDS011 / PMSx003",
        "pm",
        frozenset({"pm2_5", "pm10"}),
        (Value("P0", "pm1"), Value("P1", "pm10"), Value("P2", "pm2_5")),
    ),
    # Temperature, humidity, pressure: BME280 (X-Pin 11), BMP280 (3), DHT22 or
    # SHT3x (7), DS18B20 (13), in the firmware's order of values.
    PinGroup(
        11,
        "BME280",
        "climate",
        frozenset({"temperature", "humidity", "pressure"}),
        (
            Value("temperature", "temperature"),
            Value("pressure", "pressure", _PA),
            Value("humidity", "humidity"),
        ),
    ),
    PinGroup(
        3,
        "BMP280",
        "climate",
        frozenset({"temperature", "pressure"}),
        (Value("pressure", "pressure", _PA), Value("temperature", "temperature")),
    ),
    PinGroup(
        7,
        "DHT22 / SHT3x",
        "climate",
        frozenset({"temperature", "humidity"}),
        (Value("temperature", "temperature"), Value("humidity", "humidity")),
    ),
    PinGroup(
        13, "DS18B20", "climate", frozenset({"temperature"}), (Value("temperature", "temperature"),)
    ),
)


def uploads(message: dict[str, Any]) -> list[tuple[int, list[dict[str, str]]]]:
    """(X-Pin, sensordatavalues) for each kind of sensor the reading's frame carried,
    each with the reading's clean values only; a group left with none is not sent."""
    out = []
    kinds: set[str] = set()
    for group in PIN_GROUPS:
        if group.kind in kinds or not all(carried(message, f) for f in group.needs):
            continue
        kinds.add(group.kind)
        values = []
        for v in group.values:
            value = clean(message, v.field)
            if value is not None:
                values.append({"value_type": v.value_type, "value": format_value(value, v.scale)})
        if values:
            out.append((group.pin, values))
    return out


def body(values: list[dict[str, str]]) -> bytes:
    """The request body, as the firmware writes it (data_first_part in the .ino)."""
    doc = {"software_version": SOFTWARE, "sensordatavalues": values}
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass(frozen=True)
class SensorCommunity:
    """The [sensor_community] section."""

    http: HttpSettings
    interval: float = INTERVAL
    max_age: float = MAX_AGE


def parse(top: Table, section: str, url_override: str | None) -> SensorCommunity | None:
    """[sensor_community]: enabled, url (for tests or a mirror), interval, max_age, and the
    HTTP keys batch and timeout; None when the section is absent or not enabled."""
    t = top.table(section)
    present = section in top.data
    enabled = t.get("enabled", bool, True, "true or false")
    interval = t.number("interval", INTERVAL, low=1, high=86400)
    max_age = t.number("max_age", MAX_AGE, low=10, high=86400)
    if url_override is None and "url" not in t.data:
        url_override = URL
    http = parse_http(t, section, url_override, batch=BATCH, example=URL)
    t.finish()
    if not present or not enabled or http is None:
        return None
    for key in ("token", "username"):
        if key in t.data:
            raise t.error(
                key, "sensor.community takes no credentials: a node is its X-Sensor (remove it)"
            )
    return SensorCommunity(http=http, interval=interval, max_age=max_age)


def plan(settings: SensorCommunity) -> list[str]:
    return [
        f"uploads to sensor.community at {settings.http.url}: each node with"
        f" sensor_community_id, its latest clean values every {settings.interval:g} s at"
        f" most, none older than {settings.max_age:g} s"
    ]


class SensorCommunityUpstream(HttpUpstream):
    """Nodes with sensor_community_id, their latest clean values, one X-Pin a request."""

    def __init__(
        self, config: Config, settings: SensorCommunity, *, backoff: Backoff | None = None
    ) -> None:
        super().__init__(
            config,
            http=settings.http,
            name=f"sensor.community:{settings.http.url}",
            label=f"sensor.community ({settings.http.url})",
            backoff=backoff,
        )
        self.sensors = {
            n: c.sensor_community_id for n, c in config.nodes.items() if c.sensor_community_id
        }
        self.pace = Pace(
            interval=settings.interval, max_age=settings.max_age, wanted=self.sensors.__contains__
        )

    def deliveries(self, items: Sequence[Item]) -> list[Delivery]:
        out = []
        groups: dict[int, list[tuple[int, list[dict[str, str]]]]] = {}

        def worth(item: Item) -> object:
            found = groups[id(item)] = uploads(item.message)  # of opted-in nodes only
            return found

        for item in self.pace.choose(items, worth):
            sensor = self.sensors[item.stored.node]
            for pin, values in groups[id(item)]:
                headers = {
                    "Content-Type": "application/json",
                    "X-Sensor": sensor,
                    "X-Pin": str(pin),
                }
                request = Request("POST", PATH, body(values), headers=headers)
                out.append(Delivery(request, (item,)))
        return out

    def judge(self, response: httpx.Response) -> Answer:
        """As every HTTP upstream, but a refusal of the sensor (401, 403) concerns one
        node's registration: that reading is passed over, and the other nodes go on."""
        status = response.status_code
        if status in (401, 403):
            return Answer(
                Verdict.REFUSED,
                f"sensor.community refused the sensor (HTTP {status}; is the node's"
                f" sensor_community_id registered at devices.sensor.community, in"
                f" {self.config.source}?)",
                kind=f"HTTP {status}",
            )
        return super().judge(response)

    def expired(self, stored: Stored) -> str | None:
        """A reading retried through an outage must still be fresh: the map would show it
        as now. Judged by the pace's wall clock, before each attempt."""
        if not self.pace.expired(stored.taken):
            return None
        return (
            f"older than {self.pace.max_age:g} s before sensor.community could take it"
            " (the map stamps a value with its arrival: only fresh readings go)"
        )


def create(config: Config, settings: SensorCommunity) -> list[Upstream]:
    """The upstream the configuration asks for: [sensor_community]."""
    upstream = SensorCommunityUpstream(config, settings)
    if not upstream.sensors:
        log.warning(
            "%s: no [nodes.N] gives sensor_community_id in %s: nothing will be uploaded",
            upstream.label,
            config.source,
        )
    return [upstream]
