"""The bridge's USB cable pulled and put back, again and again, while it sends.

tests/support/lines.py's Line does to the port what a USB unplug does: the
device and its /dev/serial/by-id name go away, and come back as a new
device. Each round sends a burst of frames that ask for acknowledgements and
pulls the cable at a random moment after it, often before the gateway has
read or committed all of them. Pass: the gateway is the same process at the
end; every reading acknowledged is in the store, once; the frames lost in a
pull were never acknowledged. After each pull the node sends again what was
not acknowledged, as a node resends its backlog: stored once all the same.
"""

import random
import time
from collections.abc import Callable

import pytest

from meteolink.firmware import frames, framing
from tests.support.figures import Figures
from tests.support.gateway_process import GatewayProcess, config, reading
from tests.support.lines import Line
from tests.support.tools import wait_until

pytestmark = pytest.mark.reliability

UNPLUGS = 24
KEY = bytes(range(16))
NODE = 51
BACKLOG = 16  # readings a node keeps to send again (firmware/node_config.py)


def gone(g: GatewayProcess, times: int) -> Callable[[], bool]:
    """A condition: the gateway has seen its port go away `times` times."""
    return lambda: g.log().count("port went away") >= times


def test_no_acknowledged_reading_is_lost_across_repeated_unplugs(
    line: Line, gateway: Callable[..., GatewayProcess], figures: Figures
) -> None:
    rng = random.Random(51)
    g = gateway(config(line.link, keys={NODE: KEY}))
    assert g.proc is not None
    pid = g.proc.pid
    deframer = framing.Deframer()
    acked: set[int] = set()
    sent: list[int] = []
    seq = 0
    resent = 0

    def take_acks() -> set[int]:
        """The acknowledgements on the line, decoded: the counters acknowledged so far."""
        for record in deframer.feed(line.read()):
            assert isinstance(record, bytes), record
            ack = frames.decode(record, KEY)
            assert ack.flags & frames.FLAG_ACK and ack.node == NODE, ack
            acked.add(ack.seq)
        return acked

    for unplug in range(UNPLUGS):
        for _ in range(rng.randint(1, 40)):
            seq += 1
            line.send(reading(NODE, seq, key=KEY, flags=frames.FLAG_ACK_REQUEST))
            sent.append(seq)
        time.sleep(rng.choice([0.0, 0.0, rng.uniform(0.0, 0.1)]))
        take_acks()
        line.unplug()
        wait_until(gone(g, unplug + 1), "the gateway to notice the unplug")
        time.sleep(rng.uniform(0.0, 0.3))
        line.plug()
        g.wait_open(unplug + 2)
        # As a node does: what was not acknowledged goes again, its backlog's worth.
        again = [s for s in sent if s not in acked][-BACKLOG:]
        for s in again:
            line.send(reading(NODE, s, key=KEY, flags=frames.FLAG_ACK_REQUEST))
        resent += len(again)
    seq += 1
    line.send(reading(NODE, seq, key=KEY, flags=frames.FLAG_ACK_REQUEST))
    sent.append(seq)
    wait_until(lambda: seq in take_acks(), "the last frame acknowledged")
    stored = [s for n, s in g.stored() if n == NODE]
    assert g.proc is not None and g.proc.pid == pid and g.proc.poll() is None, "same process"
    assert len(set(stored)) == len(stored), "each reading stored once"
    assert acked <= set(stored), f"acknowledged, not stored: {sorted(acked - set(stored))}"
    assert g.stop() == 0
    assert "Traceback" not in g.log()
    figures.record(
        unplugs=UNPLUGS,
        sent=len(sent),
        stored=len(stored),
        acked=len(acked),
        resent=resent,
        lost_in_unplugs=len(sent) - len(stored),
    )
