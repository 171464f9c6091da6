"""Every upstream's progress is part of the gateway's health, and a stop ends in time.

Issue 9, hole 1: an upstream that hung inside its send loop published
nothing more while the watchdog stayed fed (it watched commits only), and a
SIGTERM then hung. Here upstreams that hang in each way meet the real
Gateway on a clock the test turns; the MQTT upstream's own reports are
checked against a real Mosquitto.
"""

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from meteolink.gateway import progress
from meteolink.gateway.config import Config, NodeConfig
from meteolink.gateway.mqtt_upstream import Mqtt, MqttUpstream
from meteolink.gateway.roles import Outbox
from meteolink.gateway.service import Gateway
from meteolink.gateway.stats import NodeStats
from meteolink.gateway.store import Store
from meteolink.tools.gateway_cmd import drop_tasks, loop_exception
from tests.support.broker import Broker
from tests.support.gateway_process import reading
from tests.support.tools import Clock


class Upstream:
    """An upstream whose run() the test writes; it ignores node changes."""

    label = "test upstream"

    def __init__(self, name: str = "test") -> None:
        self.name = name
        self.handed: list[int] = []
        self.outbox: Outbox | None = None

    async def run(self, outbox: Outbox) -> None:
        raise NotImplementedError

    def node_changed(self, stats: NodeStats) -> None:
        pass


class TakesAndHangs(Upstream):
    """Connects, takes a batch, and never confirms it: a send loop that hangs."""

    async def run(self, outbox: Outbox) -> None:
        outbox.connected()
        while not self.handed:
            mark = outbox.mark()
            self.handed = [s.seq for s in await outbox.pending(10)]
            if not self.handed:
                await outbox.wait_for_more(mark, timeout=1.0)
        await asyncio.Event().wait()


class KeepsRetrying(Upstream):
    """A destination that is away: an attempt, a failure, a pause, for ever."""

    attempts = 0

    async def run(self, outbox: Outbox) -> None:
        while True:
            self.attempts += 1
            outbox.retrying("connection refused")
            await asyncio.sleep(0.01)


class IgnoresCancel(Upstream):
    """Swallows its cancellation, as a careless `except BaseException` would."""

    async def run(self, outbox: Outbox) -> None:
        outbox.connected()
        while True:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)


def gateway(tmp_path: Path, up: Upstream, stop_within: float = 10.0) -> tuple[Gateway, Clock]:
    clock = Clock(1_790_000_000.0)
    cfg = Config(data=tmp_path, commit_interval=0.01, nodes={3: NodeConfig(name="roof")})
    return Gateway(cfg, upstreams=[up], clock=clock, stop_within=stop_within), clock


async def settle(condition: Callable[[], object], what: str) -> None:
    try:
        async with asyncio.timeout(10):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def stop(running: asyncio.Task[None]) -> None:
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running


def test_a_connected_upstream_that_confirms_nothing_stops_the_watchdog(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    up = TakesAndHangs()
    gw, clock = gateway(tmp_path, up)

    async def main() -> list[bool]:
        running = asyncio.create_task(gw.run())
        gw.receive(reading(3, 0), source="t")
        await settle(lambda: up.handed, "the upstream to take the reading")
        seen = [gw.healthy()]
        clock.now += progress.STALL - 1
        seen.append(gw.healthy())
        clock.now += 2
        seen += [gw.healthy(), gw.healthy()]
        await stop(running)
        return seen

    with caplog.at_level(logging.ERROR, logger="meteolink.gateway.service"):
        seen = asyncio.run(main())
    assert up.handed == [0]
    assert seen == [True, True, False, False]
    stuck = [r.getMessage() for r in caplog.records if "stuck" in r.getMessage()]
    assert len(stuck) == 1, "said once, not at every look"
    assert "test upstream" in stuck[0] and "no reading confirmed" in stuck[0]


def another_attempt(up: KeepsRetrying) -> Callable[[], bool]:
    before = up.attempts
    return lambda: up.attempts > before


def test_an_upstream_retrying_through_a_long_outage_keeps_the_watchdog_fed(
    tmp_path: Path,
) -> None:
    up = KeepsRetrying()
    gw, clock = gateway(tmp_path, up)

    async def main() -> list[bool]:
        running = asyncio.create_task(gw.run())
        gw.receive(reading(3, 0), source="t")  # waits in the store for the whole outage
        seen = []
        for _ in range(30):  # an hour, in two-minute steps
            clock.now += 120
            await settle(another_attempt(up), "another attempt")
            seen.append(gw.healthy())
        await stop(running)
        return seen

    assert all(asyncio.run(main())), "an outage a restart cannot fix restarts nothing"
    assert gw.progress["test"].state == "retrying"
    assert gw.progress["test"].reason == "connection refused"


def test_an_upstream_that_falls_silent_is_taken_as_hung(tmp_path: Path) -> None:
    class TriesOnceThenHangs(Upstream):
        async def run(self, outbox: Outbox) -> None:
            outbox.retrying("timed out")
            await asyncio.Event().wait()

    gw, clock = gateway(tmp_path, TriesOnceThenHangs())

    async def main() -> list[bool]:
        running = asyncio.create_task(gw.run())
        await asyncio.sleep(0.05)
        seen = [gw.healthy()]
        clock.now += progress.SILENCE + 1
        seen.append(gw.healthy())
        await stop(running)
        return seen

    assert asyncio.run(main()) == [True, False]


def test_a_stop_ends_in_time_and_commits_whatever_an_upstream_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gw, _ = gateway(tmp_path, IgnoresCancel("deaf"), stop_within=0.5)

    async def main() -> None:
        running = asyncio.create_task(gw.run())
        await asyncio.sleep(0.05)
        gw.receive(reading(3, 7), source="t")  # queued: the cancel comes before its commit
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            async with asyncio.timeout(5):  # was: for ever
                await running

    # As `meteolink gateway` runs it: asyncio.run() would wait for the deaf task for ever.
    loop = asyncio.new_event_loop()
    with caplog.at_level(logging.ERROR, logger="meteolink.gateway.service"):
        loop.run_until_complete(main())
    drop_tasks(loop, within=0.2)
    loop.close()
    assert any("deaf did not stop within 0.5 s" in r.getMessage() for r in caplog.records)
    store = Store(tmp_path / "readings.db")
    assert [r.seq for r in store.export(0, 2e9)] == [7], "the last commit went ahead"
    store.close()


def test_the_command_drops_a_task_that_will_not_end() -> None:
    loop = asyncio.new_event_loop()

    async def deaf() -> None:
        while True:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

    task = loop.create_task(deaf())
    loop.run_until_complete(asyncio.sleep(0))
    started = time.monotonic()
    drop_tasks(loop, within=0.2)
    loop.close()
    assert not task.done()
    assert time.monotonic() - started < 5, "returned instead of waiting for ever"


def test_the_mqtt_upstream_reports_connected_and_retrying_to_a_real_broker(
    tmp_path: Path, broker: Broker
) -> None:
    cfg = Config(data=tmp_path, commit_interval=0.01, nodes={3: NodeConfig(name="roof")})
    up = MqttUpstream(cfg, mqtt=Mqtt(host="127.0.0.1", port=broker.port))
    gw = Gateway(cfg, upstreams=[up])
    states: list[tuple[str, str]] = []

    async def main() -> None:
        running = asyncio.create_task(gw.run())
        p = gw.progress[up.name]
        await settle(lambda: p.state == "connected", "the upstream to connect")
        states.append((p.state, p.reason))
        gw.receive(reading(3, 0), source="t")
        await settle(lambda: p.cursor is not None and p.handed is None, "the reading confirmed")
        broker.stop()
        await settle(lambda: p.state == "retrying", "the upstream to notice the broker left")
        states.append((p.state, p.reason))
        assert gw.healthy()
        await stop(running)

    asyncio.run(main())
    assert states[0] == ("connected", "")
    assert states[1][0] == "retrying" and states[1][1], "with the reason"


def test_the_socket_closed_under_the_mqtt_client_is_one_quiet_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by tests/reliability: aiomqtt's add_writer on a socket the broker closed
    reached the journal as a traceback through asyncio's default handler."""
    loop = asyncio.new_event_loop()
    raced = OSError(errno.EBADF, "Bad file descriptor")
    other = RuntimeError("a real bug")
    with caplog.at_level(logging.DEBUG):
        loop_exception(loop, {"message": "Exception in callback add_writer(7)", "exception": raced})
        loop_exception(loop, {"message": "Exception in callback f()", "exception": other})
    loop.close()
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert [r.exc_info[1] for r in tracebacks if r.exc_info] == [other], "only the real bug"
    assert any("socket closed" in r.getMessage() for r in caplog.records)


class ForwardsThenIdles(Upstream):
    """The MQTT upstream's loop (_forward): after its first batch it asks for what follows it."""

    async def run(self, outbox: Outbox) -> None:
        outbox.connected()
        last: int | None = None
        while True:
            mark = outbox.mark()
            batch = await outbox.pending(10, after=last)
            if not batch:
                await outbox.wait_for_more(mark, timeout=0.02)
                continue
            await outbox.forwarded(batch[-1].id)
            self.handed += [s.seq for s in batch]
            last = batch[-1].id


def test_a_connected_upstream_with_nothing_to_forward_is_not_taken_as_hung(
    tmp_path: Path,
) -> None:
    """Found in review: an upstream that had forwarded once and then had nothing new (a node
    every 10 minutes, a bridge unplugged) looked silent after 300 s, and the watchdog restarted
    the gateway every five minutes."""
    up = ForwardsThenIdles()
    gw, clock = gateway(tmp_path, up)

    async def main() -> list[bool]:
        running = asyncio.create_task(gw.run())
        gw.receive(reading(3, 0), source="t")
        await settle(lambda: up.handed == [0], "the reading forwarded")
        seen = []
        for _ in range(12):  # an hour without a reading, in five-minute steps
            clock.now += 300
            await asyncio.sleep(0.1)  # the upstream asks again meanwhile
            seen.append(gw.healthy())
        await stop(running)
        return seen

    assert all(asyncio.run(main())), "a quiet hour is not a hang"
