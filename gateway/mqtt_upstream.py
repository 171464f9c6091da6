"""The MQTT upstream: every accepted reading, at least once, in order, QoS 1.

Forwarding reads the store from this upstream's cursor, publishes a batch,
waits for every PUBACK, and only then moves the cursor. A broker that goes
away mid-batch, or a gateway killed mid-batch, means the batch is sent
again: consumers see at most a few repeats, each with the same `id`, and
never a gap. Topics (prefix "meteolink" by default):

    <prefix>/<node>/state              one JSON message per reading
    <prefix>/<node>/availability       "online" / "offline", retained
    <prefix>/<node>/stats              counters of the node's link, retained
    <prefix>/gateway/<name>/status     "online" / "offline", retained; the last will
    <prefix>/gateway/<name>/stats      per-input counters, retained
    <prefix>/<node>/frame              the reading's frame as heard, with frames = true
                                       (for a central gateway: gateway/federation_input.py)
    homeassistant/sensor/...           discovery configs (gateway/homeassistant.py)

What the messages carry is gateway/messages.py, shared with `meteolink export`.

Its section is [mqtt]; `--mqtt URL` replaces its url. aiomqtt is imported
only by the methods that talk to the broker: config.load() imports this
module to read the section, and `meteolink export` must not need aiomqtt
(gateway/parts.py).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import errno
import ipaddress
import itertools
import json
import logging
import math
import re
import socket
import ssl
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from meteolink.firmware import frames
from meteolink.gateway import homeassistant, messages, mqtt_wire
from meteolink.gateway.backoff import Backoff
from meteolink.gateway.config import Config, ConfigError, Table
from meteolink.gateway.mqtt_acks import Acks
from meteolink.gateway.roles import Outbox, Upstream
from meteolink.gateway.stats import NodeStats
from meteolink.gateway.store import Stored

if TYPE_CHECKING:
    import aiomqtt

log = logging.getLogger(__name__)

BATCH = 200  # readings per round trip; their PUBACKs are awaited together
# Batches on the wire at once. Each batch's round trip takes a few turns of the
# event loop, and each turn may go to the serial input's readings first: with
# two, a burst's upstream fell thousands behind the store and delivered a
# quarter less than it could (issue 9); a broker confirms what it has in order.
IN_FLIGHT = 4
STATS_EVERY = 60.0
ONLINE_AGAIN = 60.0  # seconds before a node's reading says "online" once more
CHUNK = 500  # stats or availability messages in flight at once (memory, not speed)
DISCOVER_AT_ONCE = 50  # nodes whose discovery configs are sent, then confirmed, together
DISCOVERY_WAIT = 5.0  # seconds a chunk of discovery configs waits for forwarding to catch up
# Seconds forwarding must stay caught up before a chunk of discovery configs goes: a
# pause in the readings, not the moment between two reads of a burst (issue 9).
DISCOVERY_LULL = 0.25
_RSSI = frozenset({"rssi"})
_SNR = frozenset({"snr"})
TIMEOUT = 10  # seconds the client waits for the broker's answer to a connect or a publish

# paho's codes for a connection that is gone: lost, or not there to publish on.
_LOST_CODES = (4, 7)  # MQTT_ERR_NO_CONN, MQTT_ERR_CONN_LOST
_LOST_TEXTS = ("Disconnected during message iteration", "Unexpected disconnection")
_ERRNO = re.compile(r"^\[Errno (-?\d+)\]")  # how aiomqtt passes on a socket's OSError


@dataclass(frozen=True)
class Mqtt:
    """The [mqtt] table, its url taken apart."""

    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    prefix: str = "meteolink"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    with_frames: bool = False  # also publish each reading's frame as heard (_frame_messages)

    @property
    def name(self) -> str:
        """The upstream's name in the store's cursors: one per broker."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def label(self) -> str:
        """The broker as log lines name it, TLS shown."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> tuple[str, int, bool, str | None, str | None]:
    """mqtt://[user[:password]@]host[:port] or mqtts://… -> (host, port, tls, user, password).

    A ValueError's message shows the URL with its password as *** (shown_url).
    """
    shown = shown_url(url)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as e:  # an unclosed "[" of an IPv6 address, say
        raise ValueError(f"{shown!r}: not a URL ({e}; give mqtt://host[:port])") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"{shown!r}: give mqtt://host[:port] or mqtts://host[:port]")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port
    except ValueError as e:
        raise ValueError(f"{shown!r}: the port is not a number from 1 to 65535") from e
    if port is None:
        port = 8883 if tls else 1883
    elif port == 0:  # urllib reads ":0" as a port; no broker listens there
        raise ValueError(f"{shown!r}: the port is not a number from 1 to 65535")
    user = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    return parts.hostname, port, tls, user, password


# Query parameters that carry a secret in the URLs people paste (InfluxDB 1's u/p, API keys).
_SECRET_PARAMETERS = frozenset(
    ("p", "password", "pass", "pwd", "token", "key", "apikey", "api_key")
)


def shown_url(url: str) -> str:
    """url as it may be printed: a password in it, or in its query, replaced by ***.

    Also for a string urllib cannot read as a URL (an unclosed "[" of an IPv6
    address): whatever sits between "//" and "@" after a ":" is hidden all the same.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return re.sub(r"(//[^/@:]*):[^@]*@", r"\1:***@", url)
    if parts.query:
        pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if any(name.lower() in _SECRET_PARAMETERS for name, _ in pairs):
            query = "&".join(
                f"{name}=***" if name.lower() in _SECRET_PARAMETERS else f"{name}={value}"
                for name, value in pairs
            )
            parts = parts._replace(query=query)
            url = urllib.parse.urlunsplit(parts)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def _loopback(host: str) -> bool:
    """A broker on this machine: a password to it never crosses a network."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse(top: Table, section: str, url_override: str | None) -> Mqtt | None:
    """The [mqtt] table, every key checked; None without a url (from the file or --mqtt)."""
    t = top.table(section)
    url = t.get("url", str, None, "a URL such as mqtt://broker.example:1883")
    if url_override:
        url, where = url_override, "--mqtt"
    else:
        where = f"{top.source}: {t.where}url"
    username = t.get("username", str, None, "a string")
    password = t.get("password", str, None, "a string")
    ca_file = t.get("ca_file", str, None, "a file path")
    prefix = t.get("prefix", str, "meteolink", "a topic prefix")
    discovery = t.get("discovery", bool, True, "true or false")
    discovery_prefix = t.get("discovery_prefix", str, "homeassistant", "a topic prefix")
    allow_plain = t.get("allow_plain_password", bool, False, "true or false")
    with_frames = t.get("frames", bool, False, "true or false")
    t.finish()
    for key, value in (("prefix", prefix), ("discovery_prefix", discovery_prefix)):
        if not value or any(c in value for c in "+#\0") or value.startswith("/"):
            raise t.error(key, f"{value!r}: give a topic prefix without '+', '#' or a leading '/'")
    if url is None:
        return None
    try:
        host, port, tls, url_user, url_password = parse_mqtt_url(url)
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from e
    if ca_file is not None and not tls:
        # Whoever gave a CA meant TLS: without it the password would go in clear.
        raise t.error(
            "ca_file",
            f"a CA is for a TLS broker, and {t.where}url is plain mqtt:// (write mqtts://"
            f"{host}, or remove ca_file)",
        )
    if (url_password or password) and not tls and not _loopback(host) and not allow_plain:
        raise ConfigError(
            f"{where}: a password over plain mqtt:// to {host} travels in clear (use mqtts://,"
            f" or set [{section}] allow_plain_password = true on a network you trust)"
        )
    if ca_file is not None and not Path(ca_file).is_file():
        raise t.error("ca_file", f"{ca_file}: no such file (give the CA certificate's path)")
    return Mqtt(
        host=host,
        port=port,
        tls=tls,
        username=url_user or username,
        password=url_password or password,
        ca_file=Path(ca_file) if ca_file else None,
        prefix=prefix.rstrip("/"),
        discovery=discovery,
        discovery_prefix=discovery_prefix.rstrip("/"),
        with_frames=with_frames,
    )


def plan(mqtt: Mqtt) -> list[str]:
    """The broker's line, for `meteolink gateway --check`."""
    tls = " with TLS" if mqtt.tls else ""
    return [f"forwards to {mqtt.label}{tls}, topics {mqtt.prefix}/<node>/state"]


class MqttUpstream:
    def __init__(
        self, config: Config, *, mqtt: Mqtt, backoff: Backoff | None = None, batch: int = BATCH
    ) -> None:
        if batch < 1:
            raise ValueError(f"mqtt upstream: batch must be at least 1, got {batch}")
        self.config = config
        self.mqtt = mqtt
        self.name = mqtt.name
        self.label = mqtt.label
        self.batch = batch
        self._backoff = backoff or Backoff(first=1.0, cap=60.0)
        prefix = mqtt.prefix
        self.status_topic = f"{prefix}/gateway/{config.name}/status"
        self._changed: asyncio.Queue[NodeStats] = asyncio.Queue()
        # What each node has sent since we started, and what Home Assistant has
        # been told. Most nodes send the same fields: each set is kept once
        # (_field_sets) and shared, a few bytes per node however many there are.
        self._fields: dict[int, frozenset[str]] = {}
        self._announced: dict[int, frozenset[str]] = {}
        self._field_sets: dict[frozenset[str], frozenset[str]] = {}
        # Nodes owed their discovery configs, in the order they became owed
        # (a dict as an ordered set); _discover sends them beside the readings.
        self._owed: dict[int, None] = {}
        self._owe_more = asyncio.Event()
        self._caught_up = asyncio.Event()  # set while nothing waits to be forwarded
        self._batches_sent = 0  # batches of readings forwarded: _lull() sees one go out
        self._paused_at = -1  # _batches_sent when the last pause in the readings began
        self._said_online: dict[int, float] = {}  # node -> monotonic time "online" was queued
        self._stats_version: int | None = None  # of the stats last published; None: none yet
        self.published = 0  # state messages confirmed by the broker
        # This connection's own QoS 1 path (gateway/mqtt_wire.py); None: aiomqtt's.
        self._lane: mqtt_wire.Lane | None = None

    # -- the service's interface ---------------------------------------------

    def node_changed(self, stats: NodeStats) -> None:
        self._say_status(stats)

    def _say_status(self, stats: NodeStats) -> None:
        """Queue the node's availability for _statuses; an "online" counts as said from now."""
        if stats.online:
            self._said_online[stats.node] = time.monotonic()
        else:
            self._said_online.pop(stats.node, None)
        self._changed.put_nowait(stats)

    async def run(self, outbox: Outbox) -> None:
        import aiomqtt

        complained = False
        lost_at: float | None = None  # monotonic time the broker was first missed
        while True:
            try:
                async with self._client() as client:
                    if lost_at is None:
                        log.info("%s: connected", self.mqtt.label)
                    else:
                        away = time.monotonic() - lost_at
                        log.info("%s: connected again after %.0f s", self.mqtt.label, away)
                    lost_at = None
                    self._lane = mqtt_wire.lane(client)
                    outbox.connected()
                    complained = False
                    self._backoff.reset()
                    # Retained, but the broker may be a new one: say it all again.
                    self._announced.clear()
                    self._said_online.clear()
                    self._stats_version = None
                    await client.publish(self.status_topic, "online", qos=1, retain=True)
                    if self.mqtt.discovery:
                        await self._announce_gateway(client)
                        await client.subscribe(f"{self.mqtt.discovery_prefix}/status", qos=1)
                    try:
                        async with asyncio.TaskGroup() as tg:
                            cursor = Cursor()
                            tg.create_task(
                                self._forward(client, outbox, cursor), name="mqtt forward"
                            )
                            tg.create_task(cursor.write(outbox), name="mqtt cursor")
                            tg.create_task(self._listen(client), name="mqtt listen")
                            tg.create_task(self._discover(client), name="mqtt discovery")
                            tg.create_task(self._statuses(client, outbox), name="mqtt status")
                    except asyncio.CancelledError:
                        await self._goodbye(client)
                        raise
            except* aiomqtt.MqttError as group:
                reason = self._explain(group.exceptions[0])
                outbox.retrying(reason)
                (log.debug if complained else log.warning)(
                    "%s: %s; readings wait in the store, retrying", self.mqtt.label, reason
                )
                complained = True
                if lost_at is None:
                    lost_at = time.monotonic()
            await self._backoff.sleep()

    def _explain(self, e: BaseException) -> str:
        """What went wrong with the broker, in the gateway's words, with what to change.

        aiomqtt says it as the socket or paho did ("[Errno 111] Connection refused",
        "Disconnected during message iteration", "[code:7] The connection was lost."):
        the common cases are said here as a technician needs them.
        """
        from aiomqtt.exceptions import MqttConnectError

        text = str(e)
        where = self.config.source
        rc = getattr(e, "rc", None)
        code = getattr(rc, "value", rc)  # paho gives a ReasonCode or an int
        host, port = self.mqtt.host, self.mqtt.port
        check = f"[mqtt] url in {where}"
        if (code in _LOST_CODES and not isinstance(e, MqttConnectError)) or text in _LOST_TEXTS:
            return "the connection to the broker was lost"
        if text == "Operation timed out":
            return f"the broker did not answer within {TIMEOUT} s"
        number = _ERRNO.match(text)
        if number is not None:
            n = int(number.group(1))
            if n == errno.ECONNREFUSED:
                return (
                    f"nothing accepts connections at {host}:{port} (is the broker running,"
                    f" and is {check} right?)"
                )
            if n in (socket.EAI_NONAME, socket.EAI_AGAIN, getattr(socket, "EAI_NODATA", n)):
                return f"no address found for {host} (is the network up, and is {check} right?)"
            if n in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return f"no route to {host} (is the network up?)"
            if n == errno.ETIMEDOUT:
                return f"no answer from {host}:{port} (a firewall, or is {check} wrong?)"
            if n in (errno.ECONNRESET, errno.EPIPE):
                return "the connection to the broker was lost"
        # Only a CONNACK refuses credentials: paho's own code 4 on a publish
        # (MQTT_ERR_NO_CONN, the broker just went away) is no refusal.
        if isinstance(e, MqttConnectError) and code in (4, 5, 134, 135):
            return (
                f"the broker refused the user name or password ({text}; check [mqtt] username"
                f" and password in {where})"
            )
        if "CERTIFICATE_VERIFY_FAILED" in text:
            if self.mqtt.ca_file is None:
                hint = "give [mqtt] ca_file = the broker's CA certificate"
            else:
                hint = f"the broker's certificate is not for {self.mqtt.host} or not signed by"
                hint += f" {self.mqtt.ca_file}"
            return f"{text} ({hint} in {where})"
        return text

    # -- inside one connection -------------------------------------------------

    def _client(self) -> aiomqtt.Client:
        import aiomqtt

        m = self.mqtt
        tls = None
        if m.tls:
            tls = ssl.create_default_context(cafile=str(m.ca_file) if m.ca_file else None)
        client = aiomqtt.Client(
            m.host,
            m.port,
            username=m.username,
            password=m.password,
            identifier=f"meteolink-{self.config.name}",
            will=aiomqtt.Will(self.status_topic, "offline", qos=1, retain=True),
            tls_context=tls,
            keepalive=30,
            timeout=TIMEOUT,
            # What paho and aiomqtt log, said in the gateway's words (_InOurWords).
            logger=_library_logger(self.mqtt.label),
            # Unlimited in paho: what is in flight is bounded here (IN_FLIGHT
            # batches of readings, and the discovery and availability that go
            # with them), and paho's own limit scans every message on each PUBACK.
            max_inflight_messages=0,
        )
        # A whole batch is published at once by design; aiomqtt would log a
        # warning for each publish past 10 pending (19,000 lines per 20,000
        # frames in the benchmark, all to the journal on the SD card).
        client.pending_calls_threshold = 4 * self.batch
        return client

    async def _forward(self, client: aiomqtt.Client, outbox: Outbox, cursor: Cursor) -> None:
        # IN_FLIGHT batches on the wire: the next go out while the broker
        # acknowledges the first. The cursor still moves only in order, once a
        # batch and every batch before it are confirmed; its writes to the
        # store (cursor.write) never hold the next batch back.
        inflight: collections.deque[asyncio.Task[None]] = collections.deque()
        last_sent: int | None = None
        try:
            while True:
                mark = outbox.mark()
                batch = await outbox.pending(self.batch, after=last_sent)
                if not batch:
                    if inflight:
                        await inflight.popleft()
                    else:
                        self._caught_up.set()  # discovery's turn (_discover)
                        await outbox.wait_for_more(mark, timeout=30.0)
                    continue
                self._caught_up.clear()
                self._batches_sent += 1
                acks = await self._send(client, outbox, batch)
                previous = inflight[-1] if inflight else None
                inflight.append(
                    asyncio.create_task(self._settle(client, batch, acks, previous, cursor))
                )
                last_sent = batch[-1].id
                if len(inflight) >= IN_FLIGHT:
                    await inflight.popleft()
        finally:
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)

    async def _send(self, client: aiomqtt.Client, outbox: Outbox, batch: list[Stored]) -> Acks:
        """Start publishing a batch; its Acks complete with the PUBACKs."""
        states = []
        for stored in batch:
            frame = outbox.frame(stored)  # decoded on arrival, or when read back and checked
            msg = messages.state_json(stored, frame, self.config)
            states.append((f"{self.mqtt.prefix}/{stored.node}/state", msg))
            self._heard_fields(stored, frame)
        if self.mqtt.discovery:
            self._owe(sorted({s.node for s in batch}))  # sent by _discover, not in the way
        acks = Acks(client, self._lane)
        for topic, msg in states:
            acks.publish(topic, msg)
        if self.mqtt.with_frames:  # awaited with the states: the cursor moves once both arrived
            for topic, payload in _frame_messages(self.mqtt.prefix, self.config.name, batch):
                acks.publish(topic, payload)
        return acks

    async def _settle(
        self,
        client: aiomqtt.Client,
        batch: list[Stored],
        acks: Acks,
        previous: asyncio.Task[None] | None,
        cursor: Cursor,
    ) -> None:
        await acks.wait()
        if previous is not None:
            await previous
        # Each node heard is online: said when it comes online (_statuses),
        # and again with its reading once a minute has passed since, so that
        # a second gateway that lost the node cannot leave it marked offline
        # for long; not with every batch, which doubled the messages.
        now = time.monotonic()
        again = [
            n
            for n in {s.node for s in batch}
            if now - self._said_online.get(n, -math.inf) >= ONLINE_AGAIN
        ]
        said = Acks(client, self._lane)
        for n in again:
            self._said_online[n] = now
            said.publish(self._availability(n), "online", retain=True)
        await said.wait()
        cursor.advance(batch[-1].id)
        self.published += len(batch)

    def _heard_fields(self, stored: Stored, frame: frames.Frame) -> None:
        node = stored.node
        have = self._fields.get(node, frozenset())
        conf = self.config.node(node)  # and what the readings derive (issue 12)
        altitude = conf is not None and conf.altitude is not None
        fields = messages.announced_field_set(frame, altitude=altitude)
        # Link figures only from a radio: a UART node gets no RSSI or SNR sensors.
        if stored.rssi is not None and "rssi" not in have:
            fields = fields | _RSSI
        if stored.snr is not None and "snr" not in have:
            fields = fields | _SNR
        if not have.issuperset(fields):
            grown = have.union(fields)
            self._fields[node] = self._field_sets.setdefault(grown, grown)

    def _owe(self, nodes: list[int]) -> None:
        """Queue discovery configs for nodes with fields Home Assistant was not told about."""
        for node in nodes:
            if not self._fields.get(node, frozenset()) <= self._announced.get(node, frozenset()):
                self._owed[node] = None
                self._owe_more.set()

    async def _discover(self, client: aiomqtt.Client) -> None:
        """Send owed discovery configs beside the readings, never in a batch's path.

        A new node's up to 63 retained configs (and, under unknown_nodes =
        "accept", hundreds of new ids at once) must not hold back the readings
        of nodes already known: each chunk goes in a pause of the readings
        (_lull), or after DISCOVERY_WAIT under a flood that never pauses.
        The price: Home Assistant may see a new node's first reading before
        the node's configs, and shows it from the next one.
        """
        while True:
            await self._owe_more.wait()
            self._owe_more.clear()
            while self._owed:
                # Readings first: a chunk of configs waits for a pause in them, or
                # DISCOVERY_WAIT at most under a steady flood.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(DISCOVERY_WAIT):
                        await self._lull()
                nodes = list(itertools.islice(self._owed, DISCOVER_AT_ONCE))
                await self._announce(client, nodes)  # stay owed if the connection fails
                for node in nodes:
                    del self._owed[node]
                self._owe(nodes)  # fields that arrived meanwhile: owed again, at the end

    async def _lull(self) -> None:
        """Until forwarding has been caught up for DISCOVERY_LULL, no batch sent meanwhile;
        at once while the pause in which the last chunk went goes on.

        Caught up alone came many times a second in a burst (between two reads of
        the line), and each time a chunk of 50 nodes' configs, some 550 messages,
        went out among the burst's readings: 36 to 3,956 of them in a benchmark
        stream of 20,000 readings, as the timing fell.
        """
        while True:
            await self._caught_up.wait()
            sent = self._batches_sent
            if sent == self._paused_at:
                return  # no reading forwarded since the last chunk: the pause goes on
            await asyncio.sleep(DISCOVERY_LULL)
            if self._caught_up.is_set() and self._batches_sent == sent:
                self._paused_at = sent
                return

    async def _announce(
        self, client: aiomqtt.Client, nodes: Iterable[int], acks: Acks | None = None
    ) -> None:
        """Send discovery configs for fields Home Assistant has not been told about.

        Every node's at once, their PUBACKs awaited together (awaited node by
        node, a thousand new nodes held forwarding to a round trip each); with
        acks, not awaited here but added to what the caller awaits.
        """
        own = acks is None
        acks = Acks(client, self._lane) if acks is None else acks
        for node in sorted(nodes):
            fields = self._fields.get(node, frozenset())
            if fields <= self._announced.get(node, frozenset()):
                continue
            cfg = self.config.node(node)
            interval = cfg.interval if cfg is not None else 600.0
            configs = homeassistant.discovery(
                node=node,
                name=cfg.name if cfg is not None else None,
                location=cfg.location if cfg is not None else None,
                fields=sorted(fields),
                prefix=self.mqtt.prefix,
                discovery_prefix=self.mqtt.discovery_prefix,
                gateway=self.config.name,
                expire_after=int(interval * self.config.offline_after),
            )
            # Link sensors of a node heard without them (a UART node; SNR over BLE)
            # are cleared: meteolink 0.1.0 announced them for every node.
            missing = [f for f in ("rssi", "snr") if f not in fields]
            configs += homeassistant.removal(
                node=node, fields=missing, discovery_prefix=self.mqtt.discovery_prefix
            )
            for topic, payload in configs:
                acks.publish(topic, payload, retain=True)
            self._announced[node] = fields
            if acks.unconfirmed >= CHUNK:
                # A thousand new nodes are eleven thousand configs: what is in
                # flight (and the memory it holds) stays bounded.
                await acks.wait()
        if own:
            await acks.wait()

    def _availability(self, node: int) -> str:
        return f"{self.mqtt.prefix}/{node}/availability"

    async def _announce_gateway(self, client: aiomqtt.Client) -> None:
        for topic, payload in homeassistant.gateway_discovery(
            gateway=self.config.name,
            prefix=self.mqtt.prefix,
            discovery_prefix=self.mqtt.discovery_prefix,
        ):
            await client.publish(topic, payload, qos=1, retain=True)

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if message.topic.matches(f"{self.mqtt.discovery_prefix}/status") and (
                message.payload in (b"online", "online")
            ):
                # Home Assistant restarted: it forgets non-retained state,
                # and may have lost retained configs too.
                log.info("%s: Home Assistant came online; sending discovery", self.name)
                self._announced.clear()
                await self._announce_gateway(client)
                self._owe(sorted(self._fields))

    async def _statuses(self, client: aiomqtt.Client, outbox: Outbox) -> None:
        while not self._changed.empty():  # said below, as things stand now
            self._changed.get_nowait()
        for stats in outbox.stats().nodes.values():  # what was judged before this connection
            if stats.online is not None:
                self._say_status(stats)
        loop = asyncio.get_running_loop()
        next_stats = loop.time()
        while True:
            try:
                async with asyncio.timeout(max(0.0, next_stats - loop.time())):
                    stats = await self._changed.get()
                # What else is queued goes with it (up to CHUNK), awaited together.
                said = Acks(client, self._lane)
                queued = [stats]
                while len(queued) < CHUNK and not self._changed.empty():
                    queued.append(self._changed.get_nowait())
                for stats in queued:
                    state = "online" if stats.online else "offline"
                    said.publish(self._availability(stats.node), state, retain=True)
                await said.wait()
            except TimeoutError:
                next_stats = loop.time() + STATS_EVERY
                await self._publish_stats(client, outbox)

    async def _publish_stats(self, client: aiomqtt.Client, outbox: Outbox) -> None:
        """Each node's stats that changed since they were last published, and the gateway's.

        Retained: a node's last message stands until it has news. Idle, with
        thousands of nodes known, a round is then one message, not one per node.
        """
        prefix = self.mqtt.prefix
        snapshot = outbox.stats(since=self._stats_version)
        changed = list(snapshot.nodes.values())
        for start in range(0, len(changed), CHUNK):
            acks = Acks(client, self._lane)
            for s in changed[start : start + CHUNK]:
                acks.publish(
                    f"{prefix}/{s.node}/stats", messages.node_stats_message(s), retain=True
                )
            await acks.wait()
        self._stats_version = snapshot.version
        await client.publish(
            f"{prefix}/gateway/{self.config.name}/stats",
            messages.gateway_stats_message(
                snapshot.inputs, self.published, snapshot.unlisted, snapshot.upstreams
            ),
            qos=1,
            retain=True,
        )

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """A clean stop says "offline" itself: the broker sends the will only on a loss."""
        import aiomqtt

        try:
            async with asyncio.timeout(2.0):
                await client.publish(self.status_topic, "offline", qos=1, retain=True)
        except (aiomqtt.MqttError, TimeoutError):
            pass


def _frame_messages(prefix: str, gateway: str, batch: list[Stored]) -> list[tuple[str, str]]:
    """Each reading's frame as this gateway heard it, for a central gateway to judge again.

    The frame's bytes, untouched, so that the central checks its MIC with the
    node's key and stores it once however many sites heard it; when and how
    well it was heard here, which the frame itself cannot say; the gateway
    and the reading id for people watching the topic. QoS 1, not retained
    (docs/gateway.md, "Many gateways as one"; gateway/federation_input.py).
    """
    return [
        (
            f"{prefix}/{s.node}/frame",
            json.dumps(
                {
                    "frame": base64.b64encode(s.frame).decode("ascii"),
                    "received": s.received,
                    "rssi": s.rssi,
                    "snr": s.snr,
                    "gateway": gateway,
                    "id": messages.reading_id(s.node, s.seq),
                },
                separators=(",", ":"),
            ),
        )
        for s in batch
    ]


class Cursor:
    """How far forwarding has got on one connection, written to the store a write at a time.

    Batches are confirmed in order (_settle), each moving `confirmed` on; the
    writer writes the newest each time it is free. A write (on the store's
    thread, behind whatever commit is under way) then never holds the next
    batch back, and batches confirmed during one write cost one write
    together. What was confirmed last is written on the way out too: an
    outage or a stop resends no more than it must.
    """

    def __init__(self) -> None:
        self.confirmed: int | None = None  # the last reading of the last batch confirmed
        self._moved = asyncio.Event()

    def advance(self, last_id: int) -> None:
        self.confirmed = last_id
        self._moved.set()

    async def write(self, outbox: Outbox) -> None:
        """Write `confirmed` whenever it moves; forever (until cancelled, then once more)."""
        written: int | None = None
        try:
            while True:
                await self._moved.wait()
                self._moved.clear()
                target = self.confirmed
                if target is not None and target != written:
                    await outbox.forwarded(target)
                    written = target
        finally:
            target = self.confirmed
            if target is not None and target != written:
                await outbox.forwarded(target)


class _InOurWords(logging.Filter):
    """The MQTT client's own log lines, said again as the upstream's, in its words.

    paho and aiomqtt log to the logger they are given: a line per packet at debug
    level, and at warning or error level things said in their terms ("failed to
    receive on socket: ...", "There are 11 pending publish calls.") that the
    upstream also says when they matter. Each is said here, through this module's
    logger with the broker's label, then dropped.
    """

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def filter(self, record: logging.LogRecord) -> bool:
        level, text = _in_our_words(record.levelno, record.getMessage())
        log.log(level, "%s: %s", self.label, text)
        return False


_PENDING = re.compile(r"^There are (\d+) pending publish calls\.$")


def _in_our_words(level: int, text: str) -> tuple[int, str]:
    """(level, line) for one of the MQTT client's log lines."""
    for lost in ("failed to receive on socket: ", "timeout on socket: "):
        if text.startswith(lost):
            # Said by the upstream itself when it reconnects ("...; retrying").
            return logging.DEBUG, f"connection lost ({text.removeprefix(lost)})"
    if text.startswith("Message queue is full"):
        return logging.WARNING, "a message from the broker was dropped (the client's queue is full)"
    pending = _PENDING.match(text)
    if pending is not None:
        return logging.DEBUG, f"{pending.group(1)} messages wait for the broker's acknowledgement"
    if text.startswith("Could not gracefully disconnect"):
        return logging.DEBUG, "the connection was gone before it could be closed"
    if text.startswith("Caught exception in") or level >= logging.ERROR:
        return logging.ERROR, f"the MQTT client failed: {text}"
    return level, f"the MQTT client says: {text}"


def _library_logger(label: str) -> logging.Logger:
    """A logger for the MQTT client alone, at warning level (paho's per-packet lines
    never built), whose every line goes through _InOurWords; outside the logging tree,
    so nothing else sees the client's words."""
    logger = logging.Logger(f"{__name__}.client", logging.WARNING)
    logger.addFilter(_InOurWords(label))
    return logger


def create(config: Config, mqtt: Mqtt) -> list[Upstream]:
    """The upstreams the configuration asks for: one broker, [mqtt]."""
    return [MqttUpstream(config, mqtt=mqtt)]
