"""A few damaged rows among many in the store: set aside, and forwarding goes on.

tests/gateway/test_process.py damages one stored frame; here six rows among
three hundred are damaged in six ways (a flipped byte, a frame cut short, one
with bytes after its end, an empty one, text where a frame should be, a
version nibble changed), at the first row, the last, two side by side, and
on both sides of a 200-reading MQTT batch. Pass: every other reading reaches the
subscriber; exactly the damaged ones are in the set_aside table, each with
its reason; the gateway says so once per row and stops cleanly. The rows are
damaged while the gateway is stopped, as a card fails between two runs.
"""

import sqlite3
from collections.abc import Callable

import pytest

from meteolink.gateway.mqtt_upstream import BATCH
from tests.support.broker import Broker, Subscriber
from tests.support.figures import Figures
from tests.support.gateway_process import GatewayProcess, config, reading
from tests.support.lines import Line
from tests.support.tools import wait_until
from tests.support.traffic import delivered, duplicates

pytestmark = pytest.mark.reliability

NODE = 61
COUNT = 300
# counter -> (how the row is damaged: the new frame as SQL of the old, the reason's word)
DAMAGE = {
    0: ("substr(frame, 1, 5) || x'ff' || substr(frame, 7)", "CRC"),
    7: ("substr(frame, 1, length(frame) - 3)", "cut short"),
    8: ("frame || x'00'", "follow the end"),
    BATCH - 1: ("x''", "cut short"),
    BATCH: ("CAST('not a frame at all' AS TEXT)", "version"),
    COUNT - 1: ("x'21' || substr(frame, 2)", "version"),
}


def test_damaged_rows_are_set_aside_and_every_other_reading_is_delivered(
    line: Line,
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    gateway: Callable[..., GatewayProcess],
    figures: Figures,
) -> None:
    sub = subscribe("meteolink/+/state")
    g = gateway(config(line.link, mqtt=broker.url, keys={NODE: None}))
    broker.stop()  # the readings wait in the store
    for seq in range(COUNT):
        line.send(reading(NODE, seq))
    wait_until(lambda: len(g.stored()) == COUNT, f"{COUNT} readings stored")
    # The card is damaged while the gateway is down (a power cut, a restart):
    # a running gateway forwards what it has just committed from memory, the
    # genuine frame, and reads back only what it did not keep.
    assert g.stop() == 0
    db = sqlite3.connect(g.data / "readings.db")
    with db:
        for seq, (new_frame, _) in DAMAGE.items():
            db.execute(
                f"UPDATE readings SET frame = {new_frame} WHERE node = ? AND seq = ?", (NODE, seq)
            )
    db.close()
    g.start()
    g.wait_open(2)
    broker.start()
    for seq in range(COUNT, COUNT + 20):
        line.send(reading(NODE, seq))
    want = {(NODE, s) for s in range(COUNT + 20) if s not in DAMAGE}
    wait_until(lambda: set(delivered(sub)) >= want, "every reading but the damaged ones", 60)
    got = delivered(sub)
    assert g.stop() == 0, "a clean stop"
    assert set(got) == want, "nothing damaged was published"
    log = g.log()
    assert log.count("set aside") == len(DAMAGE), log
    assert "Traceback" not in log
    db = sqlite3.connect(f"file:{g.data / 'readings.db'}?mode=ro", uri=True)
    kept = {s: reason for n, s, reason in db.execute("SELECT node, seq, reason FROM set_aside")}
    left = {s for (s,) in db.execute("SELECT seq FROM readings WHERE node = ?", (NODE,))}
    db.close()
    assert set(kept) == set(DAMAGE)
    for seq, (_, word) in DAMAGE.items():
        assert word in kept[seq], f"counter {seq}: {kept[seq]!r} does not say {word!r}"
    assert not left & set(DAMAGE), "set aside means out of the readings table"
    figures.record(
        rows=COUNT + 20,
        damaged=len(DAMAGE),
        set_aside=len(kept),
        delivered=len(set(got)),
        duplicates=duplicates(got),
        reasons=sorted(set(kept.values())),
    )
