"""The gateway SIGKILLed at random moments, again and again, while readings flow.

A bridge feeds the gateway from three nodes (tests/support/traffic.py: every
frame asks for an acknowledgement, and one not acknowledged is sent again);
the gateway is killed with SIGKILL at a random moment, half the time while
it starts (opening its store, reading its windows back, connecting), half the
time once its port is open, and started again, as systemd would. Pass: every
reading that was committed when a kill came, and every reading acknowledged
to a node, is in the store once and reaches the MQTT subscriber; repeats at
the subscriber (a batch sent again after a kill) are counted.
"""

import random
import signal
import time
from collections.abc import Callable

import pytest

from tests.support.broker import Broker, Subscriber
from tests.support.figures import Figures
from tests.support.gateway_process import GatewayProcess, config
from tests.support.lines import Line
from tests.support.tools import wait_until
from tests.support.traffic import Traffic, delivered, duplicates

pytestmark = pytest.mark.reliability

KILLS = 24
KEY = bytes(range(16))
NODES = {41: KEY, 42: None, 43: None}


def opened(g: GatewayProcess) -> int:
    """How many times the gateway has opened its port, over all its runs (one log)."""
    return g.log().count(" open at ")


def opened_since(g: GatewayProcess, before: int) -> Callable[[], bool]:
    """A condition: the port opened since it had been opened `before` times."""
    return lambda: opened(g) > before


def test_every_committed_reading_is_delivered_across_random_sigkills(
    line: Line,
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    gateway: Callable[..., GatewayProcess],
    figures: Figures,
) -> None:
    rng = random.Random(41)
    sub = subscribe("meteolink/+/state")
    g = gateway(config(line.link, mqtt=broker.url, keys=NODES))
    traffic = Traffic(line, NODES, period=0.01).start()
    committed: set[tuple[int, int]] = set()
    acked_at_kills: set[tuple[int, int]] = set()
    before = 0  # the port's openings before this run
    while_starting = 0
    try:
        for kill in range(KILLS):
            if kill % 2:
                time.sleep(rng.uniform(0.0, 0.8))  # from the start: often before the port opens
            else:
                wait_until(opened_since(g, before), "the port to open")
                time.sleep(rng.uniform(0.05, 1.0))
            while_starting += opened(g) == before
            g.stop(signal.SIGKILL)
            committed |= set(g.stored())
            acked_at_kills |= traffic.snapshot()[1]
            before = opened(g)
            g.start()
        wait_until(opened_since(g, before), "the port to open")
        time.sleep(1.0)  # flowing again; unacknowledged frames resent
    finally:
        traffic.stop()
    sent, acked = traffic.snapshot()
    wait_until(lambda: acked <= set(g.stored()), "every acknowledged reading in the store")
    stored = g.stored()
    assert len(set(stored)) == len(stored), "each reading stored once"
    assert committed <= set(stored), "a reading committed before a kill is still there"
    assert acked_at_kills <= committed, "an acknowledgement came before its commit"
    wait_until(
        lambda: set(stored) <= set(delivered(sub)),
        f"all {len(stored)} stored readings at the subscriber",
        timeout=90,
    )
    got = delivered(sub)
    assert g.stop() == 0
    assert not traffic.bad_acks, traffic.bad_acks[:5]
    figures.record(
        kills=KILLS,
        kills_before_the_port_opened=while_starting,
        sent=len(sent),
        resent=traffic.resent,
        stored=len(stored),
        acked=len(acked),
        committed_at_kills=len(committed),
        delivered=len(set(got)),
        messages=len(got),
        duplicates=duplicates(got),
        dropped_on_line=traffic.dropped,
    )
