"""The broker stopped and started again, over and over, while readings keep arriving.

A real Mosquitto (tests/support/broker.py) goes away five times while a
bridge feeds the gateway from three nodes; readings wait in the store and go
out when the broker is back. Pass: every reading in the store reaches the
subscriber, at least once; the repeats (a batch cut by an outage is sent
again, with the same reading id) are counted, not forbidden.

In CI each outage lasts 1.5 to 3 s; METEOLINK_RELIABILITY_SCALE stretches
them (docs/reliability.md: the full run's outages last minutes).
"""

import random
import time
from collections.abc import Callable

import pytest

from tests.support.broker import Broker, Subscriber
from tests.support.figures import Figures, scale
from tests.support.gateway_process import GatewayProcess, config
from tests.support.lines import Line
from tests.support.tools import wait_until
from tests.support.traffic import Traffic, delivered, duplicates

pytestmark = pytest.mark.reliability

OUTAGES = 5
NODES = {31: bytes(range(16)), 32: None, 33: None}


def more_than(g: GatewayProcess, n: int) -> Callable[[], bool]:
    """A condition: more than n readings in g's store."""
    return lambda: len(g.stored()) > n


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
        for outage in range(OUTAGES):
            wait_until(lambda: len(g.stored()) > 0, "readings stored")
            time.sleep(rng.uniform(0.5, 2.0))  # up, forwarding
            stored_before = len(g.stored())
            broker.stop()
            down = rng.uniform(1.5, 3.0) * scale()
            down_for.append(round(down, 1))
            time.sleep(down)
            wait_until(more_than(g, stored_before), f"readings stored in outage {outage + 1}")
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
    assert "Traceback" not in g.log()
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
    )
