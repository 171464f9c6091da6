"""The MQTT upstream in-process against a real Mosquitto: which messages, and how often."""

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from meteolink.gateway import mqtt_upstream
from meteolink.gateway.config import Config, NodeConfig
from meteolink.gateway.mqtt_upstream import Mqtt, MqttUpstream
from meteolink.gateway.service import Gateway
from tests.support.broker import Broker, Subscriber
from tests.support.gateway_process import reading
from tests.support.tools import wait_until


async def until(condition: Callable[[], object], what: str, timeout: float = 20) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def run_gateway(
    tmp_path: Path, broker: Broker, script: Callable[[Gateway], Awaitable[None]]
) -> None:
    """A gateway with the MQTT upstream to the broker, running while script(gateway) runs."""
    cfg = Config(data=tmp_path / "data", name="gw", nodes={7: NodeConfig(name="roof")})
    up = MqttUpstream(cfg, mqtt=Mqtt(host="127.0.0.1", port=broker.port, discovery=False))
    gw = Gateway(cfg, upstreams=[up])

    async def main() -> None:
        running = asyncio.create_task(gw.run())
        try:
            await script(gw)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running

    asyncio.run(main())


def arrived(sub: Subscriber, n: int) -> bool:
    return len(sub.on("/state")) == n


def said(sub: Subscriber) -> list[bytes]:
    """Node 7's availability as the gateway sent it (not the broker's retained copies that a
    subscriber gets again when it subscribes anew)."""
    return [m.payload for m in sub.on("7/availability") if not m.retain]


def test_a_node_is_said_online_once_not_with_every_batch(
    tmp_path: Path, broker: Broker, subscribe: Callable[..., Subscriber]
) -> None:
    """Issue 9: every batch republished a retained "online" for each node in it, as many
    availability messages as readings (20,000 for 20,000 readings from 1,000 nodes)."""
    sub = subscribe("meteolink/#")

    async def script(gw: Gateway) -> None:
        for seq in range(1, 5):  # each its own batch: sent once the last has arrived
            gw.receive(reading(7, seq), source="t")
            await until(functools.partial(arrived, sub, seq), f"reading {seq}")
        broker.stop()  # a new connection says it again: the broker may have lost it
        broker.start()
        await until(lambda: len(said(sub)) == 2, "online said again")
        gw.receive(reading(7, 5), source="t")
        await until(lambda: len(sub.on("/state")) == 5, "reading 5")

    run_gateway(tmp_path, broker, script)
    assert said(sub) == [b"online", b"online"]


def test_a_node_whose_stats_did_not_change_is_not_published_again(
    tmp_path: Path,
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 9: every 60 s, one retained stats message per known node, changed or not:
    idle work grew with the number of nodes."""
    monkeypatch.setattr(mqtt_upstream, "STATS_EVERY", 0.2)
    sub = subscribe("meteolink/#")

    async def script(gw: Gateway) -> None:
        gw.receive(reading(7, 1), source="t")
        await until(lambda: sub.on("7/stats"), "the node's stats")
        rounds = len(sub.on("gateway/gw/stats"))
        await until(lambda: len(sub.on("gateway/gw/stats")) >= rounds + 3, "three more rounds")
        gw.receive(reading(7, 2), source="t")  # news: published in the next round
        await until(lambda: len(sub.on("7/stats")) == 2, "the node's new stats")

    run_gateway(tmp_path, broker, script)
    first, second = (m.payload for m in sub.on("7/stats"))
    assert b'"received": 1' in first and b'"received": 2' in second


def node_config(topic: str) -> int | None:
    """The node a Home Assistant discovery topic configures, or None (the gateway's own)."""
    parts = topic.split("/")
    if len(parts) == 5 and parts[4] == "config" and parts[1] == "sensor":
        object_id = parts[2].removeprefix("meteolink_")
        return int(object_id) if object_id.isdigit() else None
    return None


@pytest.fixture
def roomy_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker that queues all of a burst for a subscriber (Mosquitto drops past 1000)."""
    broker = Broker(tmp_path / "roomy", config=["allow_anonymous true", "max_queued_messages 0"])
    broker.start()
    yield broker
    broker.stop()


def new_nodes_in_parts(
    tmp_path: Path, broker: Broker, parts: list[range], gap: float = 0.0
) -> list[str]:
    """Each part's nodes (new to a gateway under unknown_nodes = "accept") send a reading,
    a part once the one before has arrived and `gap` seconds more; then every node's
    discovery configs are awaited. The topics, in the order the subscriber got them."""
    sub = Subscriber(broker.port, ["meteolink/+/state", "homeassistant/#"])
    nodes = {n for part in parts for n in part}
    cfg = Config(data=tmp_path / "data", name="gw", unknown_nodes="accept")
    up = MqttUpstream(cfg, mqtt=Mqtt(host="127.0.0.1", port=broker.port))
    gw = Gateway(cfg, upstreams=[up])

    def configured() -> set[int]:
        return {n for m in sub.on("/config") if (n := node_config(m.topic)) is not None}

    async def main() -> None:
        running = asyncio.create_task(gw.run())
        await until(lambda: gw.progress[up.name].state == "connected", "the upstream to connect")
        sent = 0
        for part in parts:
            for node in part:
                gw.receive(reading(node, 0), source="t")
            sent += len(part)
            await until(functools.partial(arrived, sub, sent), f"{sent} readings", 90)
            await asyncio.sleep(gap)
        await until(lambda: configured() == nodes, "discovery of every node", 90)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    try:
        asyncio.run(main())
    finally:
        sub.close()
    return [m.topic for m in sub.messages]


def readings_before_configs(order: list[str]) -> bool:
    """Whether every state message came before the first node's discovery config."""
    last_state = max(i for i, t in enumerate(order) if t.endswith("/state"))
    first_config = min(i for i, t in enumerate(order) if node_config(t) is not None)
    return last_state < first_config


def test_discovery_waits_until_the_readings_are_forwarded(
    tmp_path: Path, roomy_broker: Broker
) -> None:
    """Issue 9: 1,000 nodes heard for the first time went at 1.2-2.3 times the line rate, as
    each new node's discovery configs went out beside the readings. Readings first: a burst of
    new nodes' readings is forwarded whole before any of their configs is sent."""
    # five MQTT batches: more than are in flight at a time
    order = new_nodes_in_parts(tmp_path, roomy_broker, [range(100, 1100)])
    assert readings_before_configs(order), "a node's discovery went ahead of another's reading"


def test_discovery_waits_for_a_pause_in_the_readings_not_a_gap_between_reads(
    tmp_path: Path, roomy_broker: Broker
) -> None:
    """Issue 9: forwarding caught up for a moment many times a second in a burst, between
    two reads of the line, and each time a chunk of 50 new nodes' configs (some 550
    messages) went out among the burst's readings. A burst in five parts, 50 ms apart,
    forwarding caught up in each gap: no config before its last reading."""
    parts = [range(100 + 60 * k, 160 + 60 * k) for k in range(5)]
    order = new_nodes_in_parts(tmp_path, roomy_broker, parts, gap=0.05)
    assert readings_before_configs(order), "discovery went out in a gap of the burst"


def test_link_quality_sensors_only_for_nodes_heard_over_a_radio(
    tmp_path: Path, broker: Broker
) -> None:
    """Issue 11: RSSI and SNR entities were announced for UART nodes too, where they stay
    "unknown" for ever. Node 7 is on a cable, node 8 behind a LoRa bridge, node 9 on BLE."""
    # What meteolink 0.1.0 left retained for the UART node: an RSSI sensor.
    stale = "homeassistant/sensor/meteolink_7/rssi/config"
    old = Subscriber(broker.port, [], name="meteolink-0.1.0")
    old.client.publish(stale, '{"name": "RSSI"}', qos=1, retain=True).wait_for_publish(10)
    old.close()
    sub = Subscriber(broker.port, ["homeassistant/#"])
    cfg = Config(data=tmp_path / "data", name="gw", unknown_nodes="accept")
    up = MqttUpstream(cfg, mqtt=Mqtt(host="127.0.0.1", port=broker.port))
    gw = Gateway(cfg, upstreams=[up])

    def sensors(node: int) -> set[str]:
        return {
            m.topic.split("/")[3]
            for m in sub.on("/config")
            if node_config(m.topic) == node and m.payload and not m.retain
        }

    async def main() -> None:
        running = asyncio.create_task(gw.run())
        gw.receive(reading(7, 1), source="uart")
        gw.receive(reading(8, 1), source="bridge", rssi=-97, snr=7.5)
        gw.receive(reading(9, 1), source="ble", rssi=-70)
        await until(lambda: all(sensors(n) for n in (7, 8, 9)), "discovery of the three nodes")
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    try:
        asyncio.run(main())
        values = {"temperature", "humidity", "battery", "dew_point"}  # derived (issue 12)
        assert sensors(7) == values
        assert sensors(8) == values | {"rssi", "snr"}
        assert sensors(9) == values | {"rssi"}
        gateway_config = [m for m in sub.on("/config") if "binary_sensor" in m.topic]
        assert gateway_config, "the gateway's own device is announced"
    finally:
        sub.close()
    # What a Home Assistant starting now would find retained for node 7.
    after = Subscriber(broker.port, ["homeassistant/sensor/meteolink_7/#"], name="later")
    try:
        wait_until(lambda: after.on("/temperature/config"), "node 7's retained configs")
        kept = {m.topic.split("/")[3] for m in after.messages if m.payload}
        assert kept == {"temperature", "humidity", "battery", "dew_point"}, "no stale RSSI sensor"
    finally:
        after.close()
