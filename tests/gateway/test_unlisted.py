"""Issue 9, hole 2: frames from invented node ids.

Anyone in radio range can send CRC-valid frames from ids nobody provisioned.
Under the default policy none is stored and they cost a bounded amount; a
lab that accepts every id still has bounded tables per node, and the
discovery of new ids never holds back the readings of the nodes it knows.
"""

import asyncio
import gc
import json
import logging
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from meteolink.firmware import frames
from meteolink.gateway import accept, lograte
from meteolink.gateway.accept import Acceptor
from meteolink.gateway.config import Config, NodeConfig
from meteolink.gateway.service import Gateway
from meteolink.gateway.stats import UNLISTED_MAX, Health
from tests.support.broker import Broker, Subscriber
from tests.support.gateway_process import GatewayProcess, reading
from tests.support.lines import Line
from tests.support.tools import Clock, wait_until

START = 1_790_000_000.0
INVENTED = range(100, 100 + 11_000)


def test_invented_ids_are_not_stored_and_cost_a_bounded_amount(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(START)
    gw = Gateway(Config(data=tmp_path, nodes={1: NodeConfig(name="roof")}), clock=clock)

    def flood(ids: range) -> None:
        for n in ids:
            gw.receive(reading(n, 1), source="lora", rssi=-110, snr=-7.5)
            clock.now += 0.001  # 11 s for the lot: within one minute
        asyncio.run(gw.commit_once())

    gw.receive(reading(1, 1), source="lora")
    flood(INVENTED[:1000])  # the tables fill up
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        flood(INVENTED[1000:])  # ten thousand more ids
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Accepted, the ten thousand would cost ~6 MB here (and ~8 KB each in the process).
    assert grown < 64 * 1024, f"{grown} bytes more for 10,000 more invented ids"
    assert [r.node for r in gw.store.export(0, 2e9)] == [1], "only the listed node is stored"
    assert set(gw.nodes) == {1} and set(gw.store.counters()) == {1}
    assert gw.sources["lora"].unknown == len(INVENTED)
    unlisted = gw.health.snapshot().unlisted
    assert len(unlisted) == UNLISTED_MAX and gw.health.unlisted.forgotten == len(INVENTED) - 128
    assert list(unlisted)[:2] == [INVENTED[-1], INVENTED[-2]], "the most recently heard first"
    last = unlisted[INVENTED[-1]]
    assert (last.source, last.frames, last.rssi, last.snr) == ("lora", 1, -110, -7.5)
    assert last.first_seen == last.last_seen == pytest.approx(clock.now - 0.001)
    # One line for the lot: ids cost nothing to invent, lines cost the SD card.
    told = [r.getMessage() for r in caplog.records if "not in [nodes]" in r.getMessage()]
    assert told == [
        f"node {INVENTED[0]} heard on lora but not in [nodes]: its readings are not stored"
        f" (if it is yours, add [nodes.{INVENTED[0]}] to a file given with --config and"
        " restart the gateway)"
    ]
    assert gw.summary().endswith(
        f"128 unlisted nodes heard and {len(INVENTED) - 128} more since forgotten, none stored"
    )
    gw.store.close()


def test_an_unlisted_node_heard_again_is_counted_and_the_next_line_says_how_many_waited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = Config(nodes={1: NodeConfig()}, source="/etc/meteolink/gateway.toml")
    a, h = Acceptor(cfg), Health(cfg, started=START)

    def hear(node: int, seq: int, now: float, rssi: int) -> None:
        h.record("lora", a.judge(reading(node, seq), source="lora", now=now), now=now, rssi=rssi)

    hear(5, 1, START, -90)
    hear(6, 1, START + 1, -91)
    hear(5, 2, START + 2, -95)
    entry = h.snapshot().unlisted[5]
    assert (entry.frames, entry.first_seen, entry.last_seen, entry.rssi) == (
        2,
        START,
        START + 2,
        -95,
    )
    assert list(h.snapshot().unlisted) == [5, 6]
    hear(7, 1, START + 61, -92)  # a minute on: said, with the one held back
    told = [r.getMessage() for r in caplog.records if "not in [nodes]" in r.getMessage()]
    assert len(told) == 2
    assert "add [nodes.5] to /etc/meteolink/gateway.toml" in told[0]
    assert told[1].startswith("node 7 heard on lora") and told[1].endswith(
        "; 1 more like it since the last such line"
    )


def test_per_node_throttles_and_duplicate_acks_stay_bounded_under_accept() -> None:
    a = Acceptor(Config(unknown_nodes="accept"))
    for n in range(1, 3001):
        first = frames.encode(n, 1, {"battery": 3.1}, None, frames.FLAG_ACK_REQUEST)
        a.judge(first, source="lora", now=START, can_reply=True)
        again = a.judge(first, source="lora", now=START, can_reply=True)
        assert again.outcome is accept.Outcome.DUPLICATE and again.ack is not None
        # Far ahead of its counter: a warning keyed by the node, anyone's to invent.
        a.judge(reading(n, 100_000), source="lora", now=START)
    assert len(a._warn) <= lograte.KEYS
    assert len(a._duplicate_acks) <= accept.DUPLICATE_NODES


def test_a_throttle_forgets_expired_keys_first_and_says_a_forgotten_key_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("test.throttle")
    t = lograte.Throttle(log, period=60.0, keys=3)
    t.warning("old", START, "old")
    t.warning("a", START + 50, "a")
    t.warning("b", START + 50, "b")
    t.warning("c", START + 70, "c")  # full: "old" is past its minute and goes
    t.warning("a", START + 71, "a again")  # still in its minute: held back
    assert len(t) == 3
    t.warning("d", START + 72, "d")  # full, none expired: the one said longest ago goes
    t.warning("a", START + 73, "a said")  # was "a" dropped? It was: said at once
    said = [r.getMessage() for r in caplog.records if r.name == "test.throttle"]
    assert said == ["old", "a", "b", "c", "d", "a said"]
    assert len(t) == 3


# -- under "accept": discovery beside the readings, never before them ------------------


def test_a_known_node_s_reading_is_not_held_back_by_hundreds_of_new_ids(
    line: Line,
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    gateway: Callable[..., GatewayProcess],
) -> None:
    sub = subscribe("meteolink/+/state", "homeassistant/sensor/#")
    g = gateway(
        'unknown_nodes = "accept"\ncommit_interval = 0.05\n\n'
        f'[[serial]]\nport = "{line.link}"\n\n[mqtt]\nurl = "{broker.url}"\n\n[nodes.1]\n'
    )
    values = {"temperature": 2.5, "humidity": 80.0, "pressure": 1000.0, "battery": 3.1}
    line.send(frames.encode(1, 1, values))
    wait_until(lambda: len(sub.on("/1/state")) == 1, "the known node's first reading")
    new_ids = range(1000, 1400)
    for n in new_ids:
        line.send(frames.encode(n, 1, values))
    line.send(frames.encode(1, 2, values))  # the known node, after all of them

    def config_of_new(topic: str) -> bool:
        return topic.endswith("/config") and int(topic.split("/")[2].split("_")[1]) in new_ids

    # its fields (a node on a cable has no RSSI or SNR sensors) and the dew point (issue 12)
    per_node = 5
    wait_until(
        lambda: (
            sum(config_of_new(m.topic) for m in sub.messages if m.payload)
            == len(new_ids) * per_node
        ),
        "every new id's discovery configs",
        60,
    )
    wait_until(lambda: len(sub.on("/1/state")) == 2, "the known node's second reading")
    order = [m.topic for m in sub.messages]
    second = [i for i, topic in enumerate(order) if topic == "meteolink/1/state"][1]
    last_config = max(i for i, topic in enumerate(order) if config_of_new(topic))
    assert second < last_config, "the known node's reading waited for the discovery of new ids"
    assert json.loads(sub.messages[second].payload)["seq"] == 2
    assert len(sub.on("/state")) == 1 + len(new_ids) + 1
    assert g.stop() == 0
