"""The federation input: frames other gateways heard, from a central MQTT broker.

A central meteolink builds one archive from many sites (docs/gateway.md,
"Many gateways as one"). Each site gateway publishes every reading it
accepted as the frame it heard ([mqtt] frames = true, gateway/mqtt_upstream.py):

    <prefix>/<node>/frame   {"frame": base64, "received": unix time at the site,
                             "rssi": int|null, "snr": float|null,
                             "gateway": the site's [gateway] name, "id": "node-seq"}

and the site's Mosquitto bridges those topics to the central one. This input
subscribes there and hands each frame to the Feed as if it had been heard
here, from source "federation:<site>": the central checks the MIC with its own
[nodes] keys (a site cannot vouch for a frame), and the sequence window and
the store's UNIQUE (node, epoch, seq) keep a reading heard by two sites once.
The reading is dated by the site's clock (`received`), so a frame that
waited in a bridge's queue for an hour still says when it was heard.

The session is persistent (a stable client id, clean_session false, QoS 1):
while the central gateway is down, the broker keeps what arrives for it, up
to its max_queued_messages (deploy/mosquitto/central.conf). Each message is
acknowledged to the broker only once its frame is committed, or judged as
nothing to store (gateway/acks_after_commit.py): a central gateway killed at
any moment finds what it had not committed sent again when it returns.

A message that carries no frame a site could have sent is refused, counted by
reason in the input's stats (Feed.refused; REASONS below) and logged at most
once a minute per reason.

What a message's JSON says about time is not covered by the MIC: a site
clock ahead of the central's is taken as now, and a clock not yet set
(before 2020: a Pi without a real-time clock before NTP) as now too, each
said once per site.

Its section is [[federation]], one table per central broker. aiomqtt is
imported only once the input runs (gateway/parts.py).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meteolink.firmware.frames import FrameError
from meteolink.gateway import diskspace
from meteolink.gateway.acks_after_commit import (
    AcksAfterCommit,
    FramesTurnedAway,
    persistent_client,
)
from meteolink.gateway.backoff import Backoff
from meteolink.gateway.config import Config, ConfigError, Table
from meteolink.gateway.lograte import Throttle
from meteolink.gateway.mqtt_upstream import _loopback, parse_mqtt_url, shown_url
from meteolink.gateway.roles import Feed, Input

if TYPE_CHECKING:
    import aiomqtt

log = logging.getLogger(__name__)

_YEAR_10000 = 253_402_300_800  # Unix time of 10000-01-01T00:00:00Z

SET_CLOCKS = 1577836800.0  # 2020-01-01: a site's received time before it is a clock not set
TIMEOUT = 10  # seconds the client waits for the broker's answer to a connect or subscribe
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a [gateway] name (gateway/config.py)

# Why a message was refused: the key in the input's stats (Feed.refused).
NOT_JSON = "not_json"  # not a JSON object at all
NO_SITE = "no_site"  # no site's gateway name in "gateway"
BAD_BASE64 = "bad_base64"  # no base64 text in "frame"
BAD_FIELD = "bad_field"  # "received", "rssi" or "snr" not what a site writes
REASONS = (NOT_JSON, NO_SITE, BAD_BASE64, BAD_FIELD)


class NotAFrame(FrameError):
    """A message on a federation topic that carries no frame a site could have sent."""

    def __init__(self, reason: str, problem: str) -> None:
        super().__init__("federation", problem)
        self.reason = reason


@dataclass(frozen=True)
class Federation:
    """One [[federation]] table: a central broker and what to take from it."""

    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    topics: tuple[str, ...] = ("meteolink/+/frame",)
    client_id: str | None = None  # None: "meteolink-<gateway name>-federation"

    @property
    def label(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse(top: Table, section: str, override: None) -> tuple[Federation, ...]:
    """The [[federation]] tables, every key checked (no command-line override)."""
    found = []
    for t in top.tables(section, "central broker"):
        url = t.get("url", str, None, "a URL such as mqtts://central.example:8883")
        username = t.get("username", str, None, "a string")
        password = t.get("password", str, None, "a string")
        ca_file = t.get("ca_file", str, None, "a file path")
        allow_plain = t.get("allow_plain_password", bool, False, "true or false")
        topics = t.get("topics", list, ["meteolink/+/frame"], "a list of topic filters")
        client_id = t.get("client_id", str, None, "a string")
        t.finish()
        if not url:
            raise t.error("url", "missing (give the central broker, mqtts://host:8883)")
        where = f"{t.source}: {t.where}url"
        try:
            host, port, tls, url_user, url_password = parse_mqtt_url(url)
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from e
        if not topics or not all(isinstance(x, str) and x and "\0" not in x for x in topics):
            raise t.error("topics", f"{topics!r}: give topic filters such as 'meteolink/+/frame'")
        if client_id is not None and not _NAME.match(client_id):
            raise t.error("client_id", f"{client_id!r}: use 1 to 64 letters, digits, '-' or '_'")
        if ca_file is not None and not tls:
            raise t.error(
                "ca_file", f"a CA is for a TLS broker, and {shown_url(url)} is plain mqtt://"
            )
        if ca_file is not None and not Path(ca_file).is_file():
            raise t.error("ca_file", f"{ca_file}: no such file (give the CA certificate's path)")
        if (url_password or password) and not tls and not _loopback(host) and not allow_plain:
            raise ConfigError(
                f"{where}: a password over plain mqtt:// to {host} travels in clear (use"
                f" mqtts://, or set allow_plain_password = true on a network you trust)"
            )
        found.append(
            Federation(
                host=host,
                port=port,
                tls=tls,
                username=url_user or username,
                password=url_password or password,
                ca_file=Path(ca_file) if ca_file else None,
                topics=tuple(topics),
                client_id=client_id,
            )
        )
    return tuple(found)


def plan(settings: tuple[Federation, ...]) -> list[str]:
    """A line per central broker, for `meteolink gateway --check`."""
    return [
        f"takes other gateways' frames from {f.label}, topics {', '.join(f.topics)}"
        for f in settings
    ]


def frame_of(payload: bytes) -> tuple[bytes, str, float, int | None, float | None]:
    """A site's frame message -> (frame, site, received, rssi, snr); NotAFrame saying why."""
    try:
        msg: Any = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise NotAFrame(NOT_JSON, "not JSON") from e
    if not isinstance(msg, dict):
        raise NotAFrame(NOT_JSON, "not a JSON object")
    site = msg.get("gateway")
    if not isinstance(site, str) or not _NAME.match(site):
        raise NotAFrame(NO_SITE, "no gateway name in 'gateway'")
    text = msg.get("frame")
    if not isinstance(text, str):
        raise NotAFrame(BAD_BASE64, f"from {site}: no base64 text in 'frame'")
    try:
        frame = base64.b64decode(text, validate=True)
    except binascii.Error as e:
        raise NotAFrame(BAD_BASE64, f"from {site}: 'frame' is not base64") from e
    received = msg.get("received")
    if isinstance(received, bool) or not isinstance(received, int | float):
        raise NotAFrame(BAD_FIELD, f"from {site}: no unix time in 'received'")
    # A Unix time a date can be made of (years 1970 to 9999): stored, then written out.
    if not 0 <= received < _YEAR_10000:
        raise NotAFrame(BAD_FIELD, f"from {site}: 'received' is not a time")
    rssi, snr = msg.get("rssi"), msg.get("snr")
    if rssi is not None and (isinstance(rssi, bool) or not isinstance(rssi, int)):
        raise NotAFrame(BAD_FIELD, f"from {site}: 'rssi' is not a whole number")
    # What a bridge's record can carry (firmware/framing.py): 16 bits of dBm. Any whole
    # number once reached the store, and one past 64 bits stopped every commit after it.
    if rssi is not None and not -32768 <= rssi <= 32767:
        raise NotAFrame(BAD_FIELD, f"from {site}: 'rssi' {rssi} is not a radio's dBm")
    if snr is not None and (isinstance(snr, bool) or not isinstance(snr, int | float)):
        raise NotAFrame(BAD_FIELD, f"from {site}: 'snr' is not a number")
    if snr is not None and not -100 <= snr <= 100:  # NaN too
        raise NotAFrame(BAD_FIELD, f"from {site}: 'snr' {snr} is not a radio's dB")
    return frame, site, float(received), rssi, None if snr is None else float(snr)


class FederationInput:
    """One central broker's frames, subscribed to for as long as the service runs."""

    def __init__(
        self,
        feed: Feed,
        *,
        settings: Federation,
        gateway: str,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.gateway = gateway  # our own name: our own frames, back from the broker, are skipped
        self.name = f"federation:{settings.label}"
        self.client_id = settings.client_id or f"meteolink-{gateway}-federation"
        self._feed = feed
        self._backoff = backoff or Backoff(first=1.0, cap=60.0)
        self._clock = clock
        self._warn = Throttle(log)
        self.taken = 0  # frames handed to the gateway

    async def run(self) -> None:
        import aiomqtt

        complained = False
        while True:
            try:
                client = self._client()
                acks = AcksAfterCommit(client, self._feed, name=self.name)
                async with client:
                    for topic in self.settings.topics:
                        await client.subscribe(topic, qos=1)
                    log.info("%s: subscribed to %s", self.name, ", ".join(self.settings.topics))
                    complained = False
                    self._backoff.reset()
                    # Cancelled (the service stops): what is not acknowledged yet, the
                    # broker sends again when we return, and the store keeps it once.
                    await acks.run(self._messages(client, acks))
            except aiomqtt.MqttError as e:
                (log.debug if complained else log.warning)(
                    "%s: %s; the broker keeps our frames meanwhile, retrying", self.name, e
                )
                complained = True
            except FramesTurnedAway as e:
                # A line a minute while the disk stays full; the gateway looks for space
                # every diskspace.CHECK seconds, and the broker keeps the frames meanwhile.
                self._warn.warning(("turned away", None), self._clock(), "%s: %s", self.name, e)
                await asyncio.sleep(diskspace.CHECK)
            await self._backoff.sleep()

    async def _messages(self, client: aiomqtt.Client, acks: AcksAfterCommit) -> None:
        async for message in client.messages:
            await self._feed.room()
            handed = self.take(bytes(_payload(message)))
            acks.took(message.mid, message.qos, handed=handed)

    def take(self, payload: bytes) -> bool:
        """One message from the broker, handed on as a frame heard at a site; False when
        it handed nothing in (refused, or our own)."""
        now = self._clock()
        try:
            frame, site, received, rssi, snr = frame_of(payload)
        except NotAFrame as e:
            self._warn.warning(
                (e.reason, None), now, "%s: message refused (%s): %s", self.name, e.reason, e
            )
            self._feed.refused(self.name, e.reason)
            return False
        if site == self.gateway:
            return False  # our own, published by our [mqtt] frames = true: stored already
        if received > now:
            self._warn.warning(
                (site, "ahead"),
                now,
                "%s: %s's clock is %.0f s ahead of ours: its frames are dated on arrival",
                self.name,
                site,
                received - now,
            )
            received = now
        elif received < SET_CLOCKS:
            self._warn.warning(
                (site, "unset"),
                now,
                "%s: %s's clock is not set (it says %.0f): its frames are dated on arrival",
                self.name,
                site,
                received,
            )
            received = now
        self.taken += 1
        self._feed.receive(
            frame, source=f"federation:{site}", rssi=rssi, snr=snr, received=received
        )
        return True

    def _client(self) -> aiomqtt.Client:
        return persistent_client(self.settings, self.client_id, timeout=TIMEOUT, logger=_quiet)


_quiet = logging.Logger(f"{__name__}.client", logging.ERROR)  # paho's per-packet lines unbuilt


def _payload(message: aiomqtt.Message) -> bytes | bytearray:
    payload = message.payload
    if isinstance(payload, str):
        return payload.encode()
    if isinstance(payload, bytes | bytearray):
        return payload
    return b""  # paho hands bytes; anything else is no site's message


def create(config: Config, settings: tuple[Federation, ...], feed: Feed) -> list[Input]:
    """An input per central broker [[federation]] names."""
    return [FederationInput(feed, settings=s, gateway=config.name) for s in settings]
