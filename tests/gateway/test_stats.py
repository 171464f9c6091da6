"""Tallies and online/offline from acceptance's decisions, without asyncio or a store."""

from meteolink.firmware import frames
from meteolink.gateway.accept import Acceptor, Decision, Outcome
from meteolink.gateway.config import Config, NodeConfig
from meteolink.gateway.sequence import SequenceWindow, Verdict
from meteolink.gateway.stats import Health
from tests.support.gateway_process import reading

START = 1_790_000_000.0


def test_each_outcome_is_counted_where_it_belongs() -> None:
    cfg = Config(nodes={4: NodeConfig(), 30: NodeConfig(key=bytes(16))})
    a, h = Acceptor(cfg), Health(cfg, started=START)
    came = h.record(
        "lora", a.judge(frames.encode(4, 1, {"battery": 3.3}), source="lora", now=START)
    )
    assert came is not None and came.node == 4 and came.online is True
    assert h.record("lora", a.judge(reading(4, 1), source="lora", now=START)) is None
    h.record("lora", a.judge(reading(30, 1), source="lora", now=START))  # no MIC
    h.record("lora", Decision(Outcome.CRC_ERROR))
    h.record("lora", Decision(Outcome.MALFORMED))
    h.record("lora", Decision(Outcome.UNKNOWN, 9))
    s = h.nodes[4]
    assert (s.received, s.duplicates, s.battery, s.last_seen) == (1, 1, 3.3, START)
    assert h.nodes[30].mic_failures == 1
    src = h.sources["lora"]
    assert (src.frames, src.crc_errors, src.malformed, src.unknown) == (6, 1, 1, 1)
    assert h.summary() == (
        "node 4: 1 received, 0 lost, 1 duplicates, 0 rejected; "
        "node 30: 0 received, 0 lost, 0 duplicates, 1 rejected; "
        "lora: 6 frames, 1 CRC errors, 1 malformed; "
        "1 unlisted nodes heard, none stored"
    )


def test_a_node_never_heard_goes_offline_from_the_start_and_once() -> None:
    cfg = Config(nodes={9: NodeConfig(interval=60)})
    h = Health(cfg, started=START)
    assert h.check_offline(START + 180) == []
    (went,) = h.check_offline(START + 181)
    assert (went.node, went.online) == (9, False)
    assert h.check_offline(START + 500) == []


def test_a_window_from_the_store_carries_its_tallies() -> None:
    window = SequenceWindow()
    window.record(10, Verdict.NEW, boot=False)
    window.record(14, Verdict.NEW, boot=False)
    h = Health(Config(), started=START)
    h.seed(5, window)
    snapshot = h.snapshot()
    assert (snapshot.nodes[5].lost, snapshot.nodes[5].online) == (3, None)
    snapshot.nodes[5].lost = 0
    assert h.nodes[5].lost == 3, "a snapshot is a copy"


def test_silent_nodes_go_offline_by_their_own_interval_and_come_back() -> None:
    nodes = {1: NodeConfig(interval=60), 2: NodeConfig(interval=600)}
    cfg = Config(nodes=nodes, unknown_nodes="accept")
    a, h = Acceptor(cfg), Health(cfg, started=START)
    for node in (1, 2, 5):  # 5 is unlisted, taken in a lab: 600 s by default
        h.record("t", a.judge(reading(node, 1), source="t", now=START))
    h.record("t", a.judge(reading(1, 2), source="t", now=START + 100))
    assert h.check_offline(START + 280) == []
    assert [s.node for s in h.check_offline(START + 281)] == [1]
    h.record("t", a.judge(reading(1, 3), source="t", now=START + 1000))
    assert h.nodes[1].online is True
    assert h.check_offline(START + 1180) == []
    assert [s.node for s in h.check_offline(START + 1181)] == [1]
    assert sorted(s.node for s in h.check_offline(START + 1801)) == [2, 5]
    assert h.check_offline(START + 5000) == []


def test_failed_mics_from_the_store_carry_on_across_a_restart() -> None:
    cfg = Config(nodes={30: NodeConfig(key=bytes(16))})
    a, h = Acceptor(cfg), Health(cfg, started=START)
    h.record("lora", a.judge(reading(30, 1), source="lora", now=START))  # no MIC
    (_, window, kid) = a.take_changed()[30]
    again = Health(cfg, started=START + 60)
    again.seed(30, window)
    assert again.nodes[30].mic_failures == 1
    restarted = Acceptor(cfg, {30: (0, window, kid)})
    again.record("lora", restarted.judge(reading(30, 2), source="lora", now=START + 60))
    assert again.nodes[30].mic_failures == 2
