"""Many nodes at a high rate for minutes: every reading delivered, memory flat.

A bridge carries NODES listed stations (the first frame of each is its first
contact) and then keeps sending round-robin at RATE frames per second, about
a hundred times what a thousand stations reporting every ten minutes send.
The gateway's resident memory (VmRSS) is sampled each second once every node
has been heard. Pass: every reading reaches the subscriber, and memory in the
second half of the run stays within GROWTH of the first half's highest: a
leak per frame or per node would climb steadily, a flat gateway plateaus.

In CI the steady part lasts STEADY_S seconds; METEOLINK_RELIABILITY_SCALE
stretches it (docs/reliability.md names the full run's length).
"""

import time
from collections.abc import Callable

import pytest

from tests.support.broker import Broker, Subscriber
from tests.support.figures import Figures, scale
from tests.support.gateway_process import GatewayProcess, config, reading
from tests.support.lines import Line
from tests.support.tools import memory_kb, wait_until
from tests.support.traffic import delivered, duplicates

pytestmark = pytest.mark.reliability

NODES = 1000
FIRST = 2001  # node ids FIRST .. FIRST + NODES - 1
RATE = 200.0  # frames per second, steadily
STEADY_S = 20.0  # seconds of steady traffic in CI, times the scale
GROWTH_KB = 4096  # what the second half may add to the first half's peak


def test_many_nodes_at_a_high_rate_keep_memory_flat_and_lose_nothing(
    line: Line,
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    gateway: Callable[..., GatewayProcess],
    figures: Figures,
) -> None:
    nodes = list(range(FIRST, FIRST + NODES))
    sub = subscribe("meteolink/+/state")
    g = gateway(config(line.link, mqtt=broker.url, keys=dict.fromkeys(nodes)))
    assert g.proc is not None
    pid = g.proc.pid
    sent: list[tuple[int, int]] = []

    def send(node: int, seq: int) -> None:
        line.send(reading(node, seq))
        sent.append((node, seq))

    # First contact: every node once.
    started = time.monotonic()
    for node in nodes:
        send(node, 0)
        time.sleep(1 / RATE)
    wait_until(lambda: len(set(delivered(sub))) >= NODES, "every node's first reading", 60)
    first_contact_s = time.monotonic() - started

    # Steady traffic, round-robin, memory sampled each second.
    steady_s = STEADY_S * scale()
    samples: list[int] = []
    seq = 1
    i = 0
    start = time.monotonic()
    next_sample = start
    while (now := time.monotonic()) - start < steady_s:
        if now >= next_sample:
            samples.append(memory_kb(pid))
            next_sample += 1.0
        send(nodes[i], seq)
        i += 1
        if i == NODES:
            i, seq = 0, seq + 1
        # Keep to RATE on average: a late loop catches up, an early one waits.
        behind = start + (len(sent) - NODES) / RATE - time.monotonic()
        if behind > 0:
            time.sleep(behind)
    samples.append(memory_kb(pid))
    wait_until(
        lambda: len(set(delivered(sub))) == len(sent), f"all {len(sent)} readings delivered", 120
    )
    got = delivered(sub)
    stored = g.stored()
    assert g.stop() == 0
    assert set(got) == set(sent), "every reading sent reaches the subscriber"
    assert len(set(stored)) == len(stored) == len(sent), "each stored once"
    half = len(samples) // 2
    first_peak, second_peak = max(samples[:half]), max(samples[half:])
    figures.record(
        nodes=NODES,
        rate_per_s=RATE,
        steady_s=round(steady_s, 1),
        first_contact_s=round(first_contact_s, 1),
        sent=len(sent),
        delivered=len(set(got)),
        duplicates=duplicates(got),
        rss_first_half_peak_kb=first_peak,
        rss_second_half_peak_kb=second_peak,
        rss_samples=len(samples),
    )
    assert second_peak - first_peak <= GROWTH_KB, (
        f"memory grew by {second_peak - first_peak} kB in the second half: {samples}"
    )
