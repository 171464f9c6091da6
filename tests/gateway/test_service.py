"""The service core in-process, on a clock the test turns: what process tests cannot time."""

import asyncio
import contextlib
from pathlib import Path

from meteolink.firmware import frames
from meteolink.gateway.commit import Accepted
from meteolink.gateway.config import Config, NodeConfig
from meteolink.gateway.roles import Outbox
from meteolink.gateway.service import Gateway
from meteolink.gateway.stats import NodeStats, Snapshot
from meteolink.gateway.store import Store
from tests.support.gateway_process import reading
from tests.support.tools import Clock

KEY = bytes(range(16))
NEW_KEY = bytes(range(16, 32))


class Changes:
    """An upstream that only listens to node changes."""

    name = "test"
    label = "test"

    def __init__(self) -> None:
        self.seen: list[tuple[int, bool | None]] = []

    async def run(self, outbox: Outbox) -> None:
        await asyncio.Event().wait()

    def node_changed(self, stats: NodeStats) -> None:
        self.seen.append((stats.node, stats.online))


def make(tmp_path: Path, **nodes: NodeConfig) -> tuple[Gateway, Clock]:
    """A gateway that stores any node (a lab's policy): these tests are not about the policy."""
    clock = Clock(1_790_000_000.0)
    listed = {int(k[1:]): v for k, v in nodes.items()}
    cfg = Config(data=tmp_path, unknown_nodes="accept", nodes=listed)
    return Gateway(cfg, clock=clock), clock


def commit(gw: Gateway) -> int:
    return asyncio.run(gw.commit_once())


def test_a_replaced_node_with_a_new_key_starts_a_new_counter(tmp_path: Path) -> None:
    gw, _ = make(tmp_path, n7=NodeConfig(name="roof", key=KEY))
    for seq in (5000, 5001):
        gw.receive(reading(7, seq, key=KEY), source="t")
    assert commit(gw) == 2
    gw.store.close()
    # The board is replaced: same id and name, a new key, a counter from 0.
    cfg = Config(data=tmp_path, nodes={7: NodeConfig(name="roof", key=NEW_KEY)})
    gw = Gateway(cfg, clock=Clock(1_790_000_000.0))
    gw.receive(reading(7, 0, key=NEW_KEY, flags=frames.FLAG_BOOT), source="t")
    gw.receive(reading(7, 1, key=NEW_KEY), source="t")
    gw.receive(reading(7, 5001, key=KEY), source="t")  # the old key no longer counts
    assert commit(gw) == 2
    assert gw.nodes[7].mic_failures == 1
    rows = gw.store.export(0, 2e9)
    assert [(r.seq, r.epoch) for r in rows] == [(5000, 0), (5001, 0), (0, 1), (1, 1)]


def test_an_unkeyed_node_that_lost_its_counter_is_taken_back_on_its_boot_flag(
    tmp_path: Path,
) -> None:
    gw, _ = make(tmp_path)
    for seq in range(1000, 1300):
        gw.receive(reading(3, seq), source="t")
    gw.receive(reading(3, 2), source="t")  # stale: no boot flag
    gw.receive(reading(3, 0, flags=frames.FLAG_BOOT), source="t")  # reset
    gw.receive(reading(3, 1), source="t")
    assert commit(gw) == 302
    assert gw.nodes[3].rejected == 1
    assert [r.seq for r in gw.store.export(0, 2e9)][-2:] == [0, 1]


def test_statistics_follow_what_arrives(tmp_path: Path) -> None:
    gw, clock = make(tmp_path)
    accepted: list[Accepted] = []
    gw.observers.append(accepted.append)
    gw.receive(frames.encode(4, 10, {"battery": 3.31}), source="lora", rssi=-99, snr=-2.5)
    gw.receive(frames.encode(4, 13, {"battery": 3.3}), source="lora", rssi=-97, snr=1.0)
    gw.receive(frames.encode(4, 13, {"battery": 3.3}), source="lora", rssi=-97, snr=1.0)
    bad = bytearray(frames.encode(4, 14, {"battery": 3.3}))
    bad[-1] ^= 1
    gw.receive(bytes(bad), source="lora")
    gw.receive(b"\x10\x00", source="lora")
    assert commit(gw) == 2
    s = gw.nodes[4]
    assert (s.received, s.lost, s.duplicates, s.rssi, s.snr, s.battery) == (
        2,
        2,
        1,
        -97,
        1.0,
        3.3,
    )
    assert s.last_seen == clock.now
    src = gw.sources["lora"]
    assert (src.frames, src.crc_errors, src.malformed) == (5, 1, 1)
    assert [a.stored.seq for a in accepted] == [10, 13]


def test_a_backlog_reading_is_dated_by_its_age(tmp_path: Path) -> None:
    gw, _ = make(tmp_path)
    gw.receive(frames.encode(8, 1, {"temperature": 1.0, "age": 3600}), source="t")
    commit(gw)
    (row,) = gw.store.export(0, 2e9)
    assert row.received - row.taken == 3600


def test_a_silent_node_is_reported_offline_and_back(tmp_path: Path) -> None:
    gw, clock = make(tmp_path, n9=NodeConfig(interval=60))
    up = Changes()
    gw.upstreams.append(up)
    gw.receive(reading(9, 1), source="t")
    clock.now += 179
    gw.check_offline()
    assert up.seen == [(9, True)]
    clock.now += 2
    gw.check_offline()
    gw.check_offline()
    assert up.seen == [(9, True), (9, False)]
    gw.receive(reading(9, 2), source="t")
    assert up.seen[-1] == (9, True)


def test_retention_removes_only_old_forwarded_readings(tmp_path: Path) -> None:
    gw, clock = make(tmp_path)
    gw.upstreams.append(Changes())
    for seq in range(4):
        gw.receive(reading(2, seq), source="t")
        commit(gw)
        clock.now += 86400 * 50
    gw.store.forwarded("test", 2)  # the upstream has the first two

    async def one_round() -> None:
        task = asyncio.create_task(gw._retention())
        await asyncio.sleep(0.1)
        task.cancel()

    asyncio.run(one_round())
    # Kept 90 days: readings 0, 1 and 2 are older, but 2 has not been forwarded.
    assert [r.seq for r in gw.store.export(0, 2e9)] == [2, 3]


def test_inputs_wait_for_room_while_a_burst_awaits_its_commit(tmp_path: Path) -> None:
    from meteolink.gateway.commit import BACKLOG_MAX

    gw, _ = make(tmp_path)

    async def burst() -> tuple[bool, bool]:
        for seq in range(BACKLOG_MAX):
            gw.receive(reading(6, seq), source="t")
        waiting = asyncio.create_task(gw.room())
        await asyncio.sleep(0.05)
        blocked = not waiting.done()
        await gw.commit_once()
        await asyncio.wait_for(waiting, 2)
        return blocked, waiting.done()

    assert asyncio.run(burst()) == (True, True)


class Forwarder:
    """An upstream that forwards through its outbox, two readings at a time."""

    name = "forwarder"
    label = "forwarder"

    def __init__(self, want: int) -> None:
        self.want = want
        self.got: list[int] = []
        self.done = asyncio.Event()
        self.snapshot: Snapshot | None = None

    async def run(self, outbox: Outbox) -> None:
        while len(self.got) < self.want:
            mark = outbox.mark()
            batch = await outbox.pending(2)
            if not batch:
                await outbox.wait_for_more(mark, timeout=5.0)
                continue
            self.got += [s.seq for s in batch]
            await outbox.forwarded(batch[-1].id)
        self.snapshot = outbox.stats()
        self.done.set()
        await asyncio.Event().wait()

    def node_changed(self, stats: NodeStats) -> None:
        pass


def test_an_upstream_forwards_through_its_outbox_and_its_cursor_stays(tmp_path: Path) -> None:
    cfg = Config(data=tmp_path, unknown_nodes="accept", commit_interval=0.01)
    up = Forwarder(5)
    gw = Gateway(cfg, upstreams=[up])

    async def main() -> None:
        running = asyncio.create_task(gw.run())
        await asyncio.sleep(0.05)  # the forwarder waits for more
        for seq in range(5):
            gw.receive(reading(3, seq), source="t")
        async with asyncio.timeout(10):
            await up.done.wait()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    asyncio.run(main())
    assert up.got == [0, 1, 2, 3, 4]
    assert up.snapshot is not None and up.snapshot.nodes[3].received == 5
    assert up.snapshot.inputs["t"].frames == 5
    up.snapshot.nodes[3].received = 0
    assert gw.nodes[3].received == 5, "a snapshot is a copy"
    store = Store(tmp_path / "readings.db")
    assert store.pending("forwarder") == [], "the cursor was moved"
    assert [r.seq for r in store.pending("another")] == [0, 1, 2, 3, 4]
    store.close()
