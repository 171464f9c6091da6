"""The broker stopped and started again, over and over, while readings keep arriving.

A real Mosquitto (tests/support/broker.py) goes away five times while a
bridge feeds the gateway from three nodes; readings wait in the store and go
out when the broker is back. Twice it goes away again the moment the gateway
has reconnected, while the backlog is on its way. Pass: every reading in the
store reaches the subscriber, at least once; the repeats (a batch cut by an
outage is sent again, with the same reading id) are counted, not forbidden.

An outage in the middle of a batch showed two faults, both fixed and both
still counted as figures: a traceback that asyncio logged for aiomqtt
(KNOWN_TRACEBACK), and a lost connection explained as a refused password (the
test at the end holds _explain() to it).

In CI each outage lasts 1.5 to 3 s; METEOLINK_RELIABILITY_SCALE stretches
them (docs/reliability.md: the full run's outages last minutes).
"""

import random
import re
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt_client
import pytest

from meteolink.gateway.config import Config
from meteolink.gateway.mqtt_upstream import Mqtt, MqttUpstream
from tests.support.broker import Broker, Subscriber
from tests.support.figures import Figures, scale
from tests.support.gateway_process import GatewayProcess, config
from tests.support.lines import Line
from tests.support.tools import wait_until
from tests.support.traffic import Traffic, delivered, duplicates

pytestmark = pytest.mark.reliability

# aiomqtt 2.5.1 hands add_writer(fd) to the loop from paho's callback; when the
# broker has closed the socket by the time it runs, asyncio logs this traceback
# (the gateway goes on: the upstream reconnects and loses nothing).
KNOWN_TRACEBACK = re.compile(
    r"[^\n]*ERROR Exception in callback BaseSelectorEventLoop\.add_writer\(.*?"
    r"\nOSError: \[Errno 9\] Bad file descriptor\n",
    re.DOTALL,
)

OUTAGES = 5
NODES = {31: bytes(range(16)), 32: None, 33: None}


def more_than(g: GatewayProcess, n: int) -> Callable[[], bool]:
    """A condition: more than n readings in g's store."""
    return lambda: len(g.stored()) > n


def connected(g: GatewayProcess, broker: Broker, before: int) -> Callable[[], bool]:
    """A condition: the gateway connected to the broker more than `before` times."""
    return lambda: g.log().count(f"{broker.url}: connected") > before


def test_every_stored_reading_reaches_the_broker_across_repeated_outages(
    line: Line,
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    gateway: Callable[..., GatewayProcess],
    figures: Figures,
) -> None:
    rng = random.Random(31)
    sub = subscribe("meteolink/+/state")
    g = gateway(config(line.link, mqtt=broker.url, keys=NODES))
    traffic = Traffic(line, NODES, period=0.02).start()
    down_for = []
    try:
        connections = 0
        for outage in range(OUTAGES):
            if outage % 2:
                # Gone again the moment the gateway is back: its backlog in flight.
                wait_until(connected(g, broker, connections), "the gateway back", 90)
            else:
                wait_until(lambda: len(g.stored()) > 0, "readings stored")
                time.sleep(rng.uniform(0.5, 2.0))  # up, forwarding
            stored_before = len(g.stored())
            broker.stop()
            down = rng.uniform(1.5, 3.0) * scale()
            down_for.append(round(down, 1))
            time.sleep(down)
            wait_until(more_than(g, stored_before), f"readings stored in outage {outage + 1}")
            connections = g.log().count(f"{broker.url}: connected")
            broker.start()
    finally:
        traffic.stop()
    sent, acked = traffic.snapshot()
    stored = g.stored()
    wait_until(
        lambda: set(stored) <= set(delivered(sub)),
        f"all {len(stored)} stored readings at the subscriber",
        timeout=60 + 10 * scale(),
    )
    got = delivered(sub)
    assert g.stop() == 0
    assert len(set(g.stored())) == len(g.stored()), "each reading stored once"
    assert acked <= set(stored), "every acknowledged reading stored"
    # In order per node: each reading first arrives after every earlier one of its node.
    for node in NODES:
        firsts = list(dict.fromkeys(s for n, s in got if n == node))
        assert firsts == sorted(firsts), f"node {node}'s readings out of order"
    assert not traffic.bad_acks, traffic.bad_acks[:5]
    log = g.log()
    known = KNOWN_TRACEBACK.findall(log)
    assert "Traceback" not in log, "a broker going away is said in a line, never a traceback"
    figures.record(
        outages=OUTAGES,
        down_s=down_for,
        sent=len(sent),
        stored=len(stored),
        acked=len(acked),
        delivered=len(set(got)),
        messages=len(got),
        duplicates=duplicates(got),
        dropped_on_line=traffic.dropped,
        # Findings, counted here, held to account in the tests below or in the report:
        aiomqtt_add_writer_tracebacks=len(known),
        lost_connection_blamed_on_password=log.count("refused the user name or password"),
    )
    assert "refused the user name or password" not in log, "a lost connection is no refusal"


def test_a_connection_lost_mid_publish_is_not_blamed_on_the_password() -> None:
    import aiomqtt
    from aiomqtt.exceptions import MqttConnectError

    upstream = MqttUpstream(Config(source="gateway.toml"), mqtt=Mqtt(host="127.0.0.1"))
    refused = MqttConnectError(5)  # the broker's CONNACK: not authorised
    assert "password" in upstream._explain(refused)
    lost = aiomqtt.MqttCodeError(mqtt_client.MQTT_ERR_NO_CONN, "Could not publish message")
    assert "password" not in upstream._explain(lost), upstream._explain(lost)
