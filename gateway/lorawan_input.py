"""LoRaWAN input: meteolink frames carried as the FRMPayload of uplinks, from a network server.

A node on a LoRaWAN network (a municipal one, or The Things Network) sends its
ordinary meteolink frame (docs/protocol.md) as the application payload of an
uplink on one fPort. The network server decrypts it and publishes it on its
MQTT integration; this input subscribes there and hands each frame to the
Feed, so it is verified (the node's own MIC), de-duplicated and stored like a
frame from a serial line. Two network servers are understood, each in the JSON
its documentation gives (docs/gateway.md, "LoRaWAN"; gateway/lorawan_uplink.py reads it):

    tts          The Things Stack v3 MQTT server: v3/{application id}@{tenant id}/devices/
                 {device id}/up; end_device_ids.dev_eui, uplink_message.f_port,
                 .frm_payload (base64), .rx_metadata[] (rssi, channel_rssi, snr)
    chirpstack   ChirpStack v4 MQTT integration: application/{application id}/device/
                 {dev eui}/event/up; deviceInfo.devEui, fPort, data (base64),
                 rxInfo[] (rssi, snr); the protobuf JSON mapping of UplinkEvent

An uplink is refused, counted by reason in the input's stats (Feed.refused)
and logged at most once a minute per device and reason (gateway/lograte.py),
when it is not the documented shape, comes on another fPort (the device's
other traffic, or a MAC-only uplink), comes from a device the [[lorawan]]
devices map does not name, carries a payload that is not base64, or one that
is not a meteolink frame, or a frame whose node id is not the one mapped to
the device. The last matters because the network server vouches only for the
device: a device whose key was copied, or mapped by mistake, must not speak
for another node, whose counter it could push ahead and whose readings it
could replace. (The node's MIC, when it has a key, refuses it too; a node
without a key has only this check.)

RSSI and SNR are the best gateway's: the rx metadata entry with the highest
RSSI (a tie goes to the better SNR), its SNR with it, so that the pair
describes one reception, the one the node's delivery depends on.

The MQTT session is persistent (clean_session false, a client id that stays
the same across restarts) and subscribed at QoS 1: a broker that keeps
sessions keeps the uplinks published at QoS 1 while the gateway is away, and
delivers them when it returns. Each uplink is acknowledged to the broker only
once its frame is committed, or judged as nothing to store
(gateway/acks_after_commit.py), so a gateway killed at any moment finds what
it had not committed sent again. What each network server keeps is in
docs/gateway.md: ChirpStack publishes to a broker of your own, at the QoS its
[integration.mqtt] qos says; The Things Stack's MQTT server speaks QoS 0 only,
so it keeps nothing for an absent client. Frames carry sequence counters, so
what is missed shows as lost in the node's stats.

Its section is [[lorawan]], one table per network server connection.
aiomqtt is imported only when the input connects (gateway/parts.py).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from meteolink.gateway import diskspace
from meteolink.gateway.acks_after_commit import (
    AcksAfterCommit,
    FramesTurnedAway,
    persistent_client,
)
from meteolink.gateway.backoff import Backoff
from meteolink.gateway.config import Config, ConfigError, Table
from meteolink.gateway.lograte import Throttle
from meteolink.gateway.lorawan_uplink import Refused, frame_of, read_uplink
from meteolink.gateway.mqtt_upstream import _loopback, parse_mqtt_url
from meteolink.gateway.roles import Feed, Input

if TYPE_CHECKING:
    import aiomqtt

log = logging.getLogger(__name__)

KINDS = ("tts", "chirpstack")
# An application port (1 to 223 are the application's, LoRaWAN 1.0.4 §4.3.2)
# that meteolink frames travel on unless [[lorawan]] fport says otherwise. Any
# free one would do; 10 is what docs/lorawan.md tells a node's modem to use.
DEFAULT_FPORT = 10
TIMEOUT = 10  # seconds the client waits for the broker's answer to a connect
_EUI = re.compile(r"^[0-9A-Fa-f]{16}$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Lorawan:
    """One [[lorawan]] table: a network server's MQTT integration, and its devices."""

    name: str  # the input is "lorawan:<name>" in stats and logs
    kind: str  # "tts" or "chirpstack"
    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    application: str | None = None  # the application id in the topic; None: every one
    fport: int = DEFAULT_FPORT
    devices: Mapping[str, int] = field(default_factory=dict)  # upper-case dev EUI -> node
    client_id: str = ""  # "" takes meteolink-<gateway name>-<name>
    where: str = field(default="", compare=False)  # the file and table, for messages

    @property
    def label(self) -> str:
        """The broker as log lines name it, TLS shown."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    @property
    def topic(self) -> str:
        """The uplink topic subscribed to, as the network server's documentation gives it."""
        app = self.application or "+"
        if self.kind == "tts":
            return f"v3/{app}/devices/+/up"
        return f"application/{app}/device/+/event/up"


def parse(top: Table, section: str, override: None) -> tuple[Lorawan, ...]:
    """The [[lorawan]] tables, every key checked; there is no command-line override."""
    found: list[Lorawan] = []
    for t in top.tables(section, "network server"):
        found.append(_parse_one(top, t, section))
    names = [c.name for c in found]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(
                f"{top.source}: two [[{section}]] tables are named {name!r} (give each its own"
                " name = ...)"
            )
    return tuple(found)


def _parse_one(top: Table, t: Table, section: str) -> Lorawan:
    kind = t.get("kind", str, None, '"tts" or "chirpstack"')
    if kind not in KINDS:
        said = "missing" if kind is None else repr(kind)
        raise t.error("kind", f'{said}: give "tts" for The Things Stack, or "chirpstack"')
    name = t.get("name", str, kind, "a name")
    if not _NAME.match(name):
        raise t.error("name", f"{name!r}: use 1 to 64 letters, digits, '-' or '_'")
    url = t.get("url", str, None, "a URL such as mqtts://eu1.cloud.thethings.network")
    if not url:
        raise t.error("url", "missing (give the network server's MQTT broker, mqtts://host)")
    username = t.get("username", str, None, "a string")
    password = t.get("password", str, None, "a string")
    ca_file = t.get("ca_file", str, None, "a file path")
    allow_plain = t.get("allow_plain_password", bool, False, "true or false")
    application = t.get("application", str, None, "an application id")
    fport = int(t.number("fport", DEFAULT_FPORT, low=1, high=223))
    client_id = t.get("client_id", str, "", "a string")
    raw_devices = t.get("devices", dict, {}, 'a table such as { "70B3D57ED0012345" = 12 }')
    t.finish()
    try:
        host, port, tls, url_user, url_password = parse_mqtt_url(url)
    except ValueError as e:
        raise t.error("url", str(e)) from e
    if ca_file is not None and not tls:
        raise t.error(
            "ca_file", f"a CA is for a TLS broker, and url is plain mqtt:// (write mqtts://{host})"
        )
    if (url_password or password) and not tls and not _loopback(host) and not allow_plain:
        raise t.error(
            "url",
            f"a password over plain mqtt:// to {host} travels in clear (use mqtts://, or set"
            f" allow_plain_password = true in this [[{section}]] on a network you trust)",
        )
    if ca_file is not None and not Path(ca_file).is_file():
        raise t.error("ca_file", f"{ca_file}: no such file (give the CA certificate's path)")
    user = url_user or username
    if application is None and kind == "tts" and user:
        application = user  # The Things Stack: the user name is {application id}@{tenant id}
    if application is not None and (not application or any(c in application for c in "+#/\0")):
        raise t.error("application", f"{application!r}: give an application id, no '+#/'")
    return Lorawan(
        name=name,
        kind=kind,
        host=host,
        port=port,
        tls=tls,
        username=user,
        password=url_password or password,
        ca_file=Path(ca_file) if ca_file else None,
        application=application,
        fport=fport,
        devices=MappingProxyType(_devices(t, raw_devices, top)),
        client_id=client_id,
        where=f"{top.source}: {t.where.rstrip('.')}",
    )


def _devices(t: Table, raw: Mapping[str, Any], top: Table) -> dict[str, int]:
    """The devices map: each dev EUI (16 hex digits, any case) to a meteolink node id."""
    devices: dict[str, int] = {}
    for eui, node in raw.items():
        where = f"devices.{eui}"
        if not _EUI.match(eui):
            raise t.error(where, "a dev EUI is 16 hexadecimal digits, such as 70B3D57ED0012345")
        if isinstance(node, bool) or not isinstance(node, int) or not 1 <= node <= 65534:
            raise t.error(where, f"{node!r}: give the node id, 1 to 65534, as in [nodes.N]")
        key = eui.upper()
        if key in devices:
            raise t.error(where, "this dev EUI is given twice (in another case)")
        devices[key] = node
    return devices


def plan(settings: tuple[Lorawan, ...]) -> list[str]:
    """A line per network server, for `meteolink gateway --check`."""
    return [
        f"reads LoRaWAN uplinks from {s.kind} at {s.label}, topic {s.topic}, fPort {s.fport},"
        f" {len(s.devices)} device{'' if len(s.devices) == 1 else 's'}"
        for s in settings
    ]


def check(settings: tuple[Lorawan, ...]) -> list[str]:
    """What `--check` finds: a connection whose devices map is empty stores nothing."""
    return [
        f"{s.where}: devices is empty, so every uplink is refused (map each device's dev EUI"
        ' to its node: devices = { "70B3D57ED0012345" = 12 })'
        for s in settings
        if not s.devices
    ]


# -- the input ------------------------------------------------------------------------


class LorawanInput:
    """One network server connection: subscribe, take frames out of uplinks, feed them."""

    def __init__(
        self,
        feed: Feed,
        settings: Lorawan,
        *,
        client_id: str,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not client_id:
            raise ValueError("lorawan input: give a client id that stays the same across restarts")
        self.name = f"lorawan:{settings.name}"
        self.settings = settings
        self.client_id = client_id
        self._feed = feed
        self._backoff = backoff or Backoff(first=1.0, cap=60.0)
        self._clock = clock
        self._warn = Throttle(log)  # a line a minute per device and reason
        self.refused: dict[str, int] = {}  # reason -> uplinks refused since start
        self.delivered = 0  # frames handed to the Feed

    def on_message(self, body: bytes) -> bool:
        """Take one uplink event: its frame to the Feed (True), or refuse it and say why."""
        s = self.settings
        try:
            up = read_uplink(s.kind, body)
            frame = frame_of(up, fport=s.fport, devices=s.devices)
        except Refused as r:
            self.refused[r.reason] = self.refused.get(r.reason, 0) + 1
            self._feed.refused(self.name, r.reason)
            self._warn.warning(
                (r.reason, r.eui),
                self._clock(),
                "%s: uplink from %s refused (%s): %s",
                self.name,
                r.eui or "a device without a dev EUI",
                r.reason,
                r.detail,
            )
            return False
        self.delivered += 1
        self._feed.receive(frame, source=self.name, rssi=up.rssi, snr=up.snr, reply=None)
        return True

    async def run(self) -> None:
        """Subscribe until cancelled; reconnect with backoff whatever the broker does."""
        import aiomqtt

        s = self.settings
        complained = False
        lost_at: float | None = None
        while True:
            try:
                client = self._client()
                acks = AcksAfterCommit(client, self._feed, name=self.name)
                async with client:
                    await client.subscribe(s.topic, qos=1)
                    if lost_at is None:
                        log.info("%s: subscribed to %s at %s", self.name, s.topic, s.label)
                    else:
                        away = time.monotonic() - lost_at
                        log.info("%s: connected again after %.0f s", self.name, away)
                    lost_at, complained = None, False
                    self._backoff.reset()
                    # Cancelled (the service stops): what is not acknowledged yet, the
                    # broker sends again when we return, and the store keeps it once.
                    await acks.run(self._uplinks(client, acks))
            except aiomqtt.MqttError as e:
                (log.debug if complained else log.warning)(
                    "%s: %s; retrying", self.name, self._explain(e)
                )
                complained = True
                if lost_at is None:
                    lost_at = time.monotonic()
            except FramesTurnedAway as e:
                # A line a minute while the disk stays full; the gateway looks for space
                # every diskspace.CHECK seconds, and the broker keeps the frames meanwhile.
                self._warn.warning(("turned away", None), self._clock(), "%s: %s", self.name, e)
                await asyncio.sleep(diskspace.CHECK)
            await self._backoff.sleep()

    async def _uplinks(self, client: aiomqtt.Client, acks: AcksAfterCommit) -> None:
        async for message in client.messages:
            await self._feed.room()
            body = message.payload
            if not isinstance(body, bytes | bytearray):
                body = str(body).encode()  # aiomqtt gives bytes; never trust it
            handed = False
            try:
                handed = self.on_message(bytes(body))
            except Exception:  # one message must not stop the input
                log.exception("%s: an uplink could not be handled", self.name)
            # Acknowledged even when it could not be handled: sent again, it would fail again.
            acks.took(message.mid, message.qos, handed=handed)

    def _client(self) -> aiomqtt.Client:
        return persistent_client(self.settings, self.client_id, timeout=TIMEOUT)

    def _explain(self, e: aiomqtt.MqttError) -> str:
        """What went wrong with the network server's broker, with what to check."""
        text = str(e)
        s = self.settings
        check = f"url in {s.where}"
        number = re.match(r"^\[Errno (-?\d+)\]", text)
        if number is not None and int(number.group(1)) == errno.ECONNREFUSED:
            return f"nothing accepts connections at {s.host}:{s.port} (is {check} right?)"
        from aiomqtt.exceptions import MqttConnectError

        rc = getattr(e, "rc", None)
        code = getattr(rc, "value", rc)  # paho gives a ReasonCode or an int
        if isinstance(e, MqttConnectError) and code in (4, 5, 134, 135):
            return (
                f"the broker refused the user name or password ({text}; for The Things Stack"
                f" the user is {{application id}}@{{tenant id}} and the password an API key:"
                f" check username and password in {s.where})"
            )
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return f"{text} (give ca_file = the broker's CA certificate in {s.where})"
        return text or type(e).__name__


def create(config: Config, settings: tuple[Lorawan, ...], feed: Feed) -> list[Input]:
    """An input per [[lorawan]] table; its client id stays the same across restarts."""
    return [
        LorawanInput(feed, s, client_id=s.client_id or f"meteolink-{config.name}-{s.name}")
        for s in settings
    ]
