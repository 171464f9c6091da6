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
    homeassistant/sensor/...           discovery configs (gateway/homeassistant.py)
"""

import asyncio
import collections
import datetime
import json
import logging
import ssl
from typing import TYPE_CHECKING, Any

import aiomqtt

from meteolink.firmware import frames
from meteolink.gateway import homeassistant
from meteolink.gateway.backoff import Backoff
from meteolink.gateway.config import Config, Mqtt
from meteolink.gateway.quality import implausible
from meteolink.gateway.service import NodeStats, reading_id
from meteolink.gateway.store import Stored

if TYPE_CHECKING:
    from meteolink.gateway.service import Gateway

log = logging.getLogger("meteolink.gateway")

BATCH = 200  # readings per round trip; their PUBACKs are awaited together
STATS_EVERY = 60.0
NOT_PUBLISHED = ("age",)  # folded into "time"


def iso_utc(t: float) -> str:
    dt = datetime.datetime.fromtimestamp(t, datetime.UTC)
    return dt.isoformat(timespec="seconds").replace("+00:00", "Z")


def state_message(
    stored: Stored, frame: frames.Frame, config: Config
) -> tuple[str, dict[str, Any]]:
    """The reading as <prefix>/<node>/state carries it; also the export's JSON line."""
    node = config.node(stored.node)
    msg: dict[str, Any] = {
        "id": reading_id(stored.node, stored.seq),
        "node": stored.node,
        "seq": stored.seq,
        "time": iso_utc(stored.taken),
        "gateway": config.name,
    }
    if node is not None and node.name:
        msg["name"] = node.name
    if node is not None and node.location:
        msg["location"] = node.location
    if stored.rssi is not None:
        msg["rssi"] = stored.rssi
    if stored.snr is not None:
        msg["snr"] = stored.snr
    values = {k: v for k, v in frame.values().items() if k not in NOT_PUBLISHED}
    bad = implausible(values, config.plausible)
    for name, value in values.items():
        if name not in bad:
            msg[name] = value
    if bad:
        msg["implausible"] = bad
    return msg["id"], msg


class MqttUpstream:
    def __init__(
        self, config: Config, *, mqtt: Mqtt, backoff: Backoff | None = None, batch: int = BATCH
    ) -> None:
        if batch < 1:
            raise ValueError(f"mqtt upstream: batch must be at least 1, got {batch}")
        self.config = config
        self.mqtt = mqtt
        self.name = mqtt.name
        self.batch = batch
        self._backoff = backoff or Backoff(first=1.0, cap=60.0)
        prefix = mqtt.prefix
        self.status_topic = f"{prefix}/gateway/{config.name}/status"
        self._changed: asyncio.Queue[NodeStats] = asyncio.Queue()
        self._fields: dict[int, set[str]] = {}  # what each node has sent since we started
        self._announced: dict[int, set[str]] = {}  # what Home Assistant has been told
        self.published = 0  # state messages confirmed by the broker

    # -- the service's interface ---------------------------------------------

    def node_changed(self, stats: NodeStats) -> None:
        self._changed.put_nowait(stats)

    async def run(self, gateway: "Gateway") -> None:
        complained = False
        while True:
            try:
                async with self._client() as client:
                    log.info("%s: connected", self.mqtt.label)
                    complained = False
                    self._backoff.reset()
                    self._announced.clear()  # retained, but the broker may be a new one
                    await client.publish(self.status_topic, "online", qos=1, retain=True)
                    if self.mqtt.discovery:
                        await self._announce_gateway(client)
                        await client.subscribe(f"{self.mqtt.discovery_prefix}/status", qos=1)
                    try:
                        async with asyncio.TaskGroup() as tg:
                            tg.create_task(self._forward(client, gateway), name="mqtt forward")
                            tg.create_task(self._listen(client), name="mqtt listen")
                            tg.create_task(self._statuses(client, gateway), name="mqtt status")
                    except asyncio.CancelledError:
                        await self._goodbye(client)
                        raise
            except* aiomqtt.MqttError as group:
                (log.debug if complained else log.warning)(
                    "%s: %s; readings wait in the store, retrying",
                    self.mqtt.label,
                    self._explain(group.exceptions[0]),
                )
                complained = True
            await self._backoff.sleep()

    def _explain(self, e: BaseException) -> str:
        """The broker's refusal, with what to change in the config."""
        text = str(e)
        where = self.config.source
        rc = getattr(e, "rc", None)
        code = getattr(rc, "value", rc)  # paho gives a ReasonCode or an int
        if isinstance(e, aiomqtt.MqttCodeError) and code in (4, 5, 134, 135):
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
            timeout=10,
            max_inflight_messages=2 * self.batch,
        )
        # A whole batch is published at once by design; aiomqtt would log a
        # warning for each publish past 10 pending (19,000 lines per 20,000
        # frames in the benchmark, all to the journal on the SD card).
        client.pending_calls_threshold = 4 * self.batch
        return client

    async def _forward(self, client: aiomqtt.Client, gateway: "Gateway") -> None:
        # Two batches in flight: the next is on the wire while the broker
        # acknowledges the last. The cursor still moves only in order, once a
        # batch and every batch before it are confirmed.
        inflight: collections.deque[asyncio.Task[None]] = collections.deque()
        last_sent: int | None = None
        try:
            while True:
                seen = gateway.commits
                if last_sent is None:
                    batch = await gateway.pending(self.name, self.batch)
                else:
                    batch = await gateway.pending_after(last_sent, self.batch)
                if not batch:
                    if inflight:
                        await inflight.popleft()
                    else:
                        await gateway.wait_stored(seen, timeout=30.0)
                    continue
                publishes = await self._send(client, batch)
                previous = inflight[-1] if inflight else None
                inflight.append(
                    asyncio.create_task(self._settle(client, gateway, batch, publishes, previous))
                )
                last_sent = batch[-1].id
                if len(inflight) >= 2:
                    await inflight.popleft()
        finally:
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)

    async def _send(
        self, client: aiomqtt.Client, batch: list[Stored]
    ) -> list[asyncio.Future[None]]:
        """Start publishing a batch; the futures complete with the PUBACKs."""
        messages = []
        for stored in batch:
            frame = frames.decode(stored.frame)  # checked on arrival; the MIC needs no key now
            _, msg = state_message(stored, frame, self.config)
            messages.append((f"{self.mqtt.prefix}/{stored.node}/state", msg))
            self._fields.setdefault(stored.node, set()).update(
                k for k in frame.values() if k not in NOT_PUBLISHED
            )
        if self.mqtt.discovery:
            await self._announce(client, {s.node for s in batch})
        return [
            asyncio.ensure_future(
                client.publish(topic, json.dumps(msg, separators=(",", ":")), qos=1)
            )
            for topic, msg in messages
        ]

    async def _settle(
        self,
        client: aiomqtt.Client,
        gateway: "Gateway",
        batch: list[Stored],
        publishes: list[asyncio.Future[None]],
        previous: "asyncio.Task[None] | None",
    ) -> None:
        try:
            await asyncio.gather(*publishes)
        finally:
            for p in publishes:
                p.cancel()
        if previous is not None:
            await previous
        # Each node heard is online: said again with every batch, so that a
        # second gateway that lost the node cannot leave it marked offline.
        await asyncio.gather(
            *(
                client.publish(self._availability(n), "online", qos=1, retain=True)
                for n in {s.node for s in batch}
            )
        )
        await gateway.forwarded(self.name, batch[-1].id)
        self.published += len(batch)

    async def _announce(self, client: aiomqtt.Client, nodes: set[int]) -> None:
        """Send discovery configs for fields Home Assistant has not been told about."""
        for node in sorted(nodes):
            fields = self._fields.get(node, set())
            if fields <= self._announced.get(node, set()):
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
            await asyncio.gather(*(client.publish(t, p, qos=1, retain=True) for t, p in configs))
            self._announced[node] = set(fields)

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
                await self._announce(client, set(self._fields))

    async def _statuses(self, client: aiomqtt.Client, gateway: "Gateway") -> None:
        for stats in gateway.nodes.values():  # what was judged before this connection
            if stats.online is not None:
                self._changed.put_nowait(stats)
        loop = asyncio.get_running_loop()
        next_stats = loop.time()
        while True:
            try:
                async with asyncio.timeout(max(0.0, next_stats - loop.time())):
                    stats = await self._changed.get()
                state = "online" if stats.online else "offline"
                await client.publish(self._availability(stats.node), state, qos=1, retain=True)
            except TimeoutError:
                next_stats = loop.time() + STATS_EVERY
                await self._publish_stats(client, gateway)

    async def _publish_stats(self, client: aiomqtt.Client, gateway: "Gateway") -> None:
        prefix = self.mqtt.prefix
        for node, stats in list(gateway.nodes.items()):
            await client.publish(
                f"{prefix}/{node}/stats", json.dumps(stats.as_json()), qos=1, retain=True
            )
        inputs = {name: vars(s) for name, s in gateway.sources.items()}
        await client.publish(
            f"{prefix}/gateway/{self.config.name}/stats",
            json.dumps({"inputs": inputs, "published": self.published}),
            qos=1,
            retain=True,
        )

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """A clean stop says "offline" itself: the broker sends the will only on a loss."""
        try:
            async with asyncio.timeout(2.0):
                await client.publish(self.status_topic, "offline", qos=1, retain=True)
        except (aiomqtt.MqttError, TimeoutError):
            pass
