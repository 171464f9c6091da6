"""sd_notify against a real Unix datagram socket, bound where systemd would listen."""

import asyncio
import logging
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from meteolink.gateway.notify import Notifier, keep_alive
from tests.support.tools import systemd_tool

Manager = tuple[str, socket.socket]  # NOTIFY_SOCKET's value, the socket systemd would read


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Manager]:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        yield path, sock


@pytest.fixture
def notifiers() -> Iterator[Callable[[dict[str, str]], Notifier]]:
    """Notifier.from_environ, closing every notifier after the test."""
    made: list[Notifier] = []

    def make(environ: dict[str, str]) -> Notifier:
        made.append(Notifier.from_environ(environ))
        return made[-1]

    yield make
    for notifier in made:
        notifier.close()


def received(sock: socket.socket) -> list[bytes]:
    """The datagrams waiting; a local datagram is queued by the time sendto() returns."""
    out = []
    while True:
        try:
            out.append(sock.recv(4096, socket.MSG_DONTWAIT))
        except BlockingIOError:
            return out


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "meteolink.gateway.notify" and r.levelno == logging.WARNING
    ]


def test_each_notification_is_one_datagram(
    manager: Manager, notifiers: Callable[..., Notifier]
) -> None:
    path, sock = manager
    notifier = notifiers({"NOTIFY_SOCKET": path})
    notifier.ready()
    notifier.ready("listening on /dev/ttyUSB0")
    notifier.watchdog()
    notifier.status("12 nodes, 3 readings queued")
    notifier.stopping()
    assert received(sock) == [
        b"READY=1",
        b"READY=1\nSTATUS=listening on /dev/ttyUSB0",
        b"WATCHDOG=1",
        b"STATUS=12 nodes, 3 readings queued",
        b"STOPPING=1",
    ]


def test_a_status_cannot_smuggle_in_another_assignment(
    manager: Manager, notifiers: Callable[..., Notifier]
) -> None:
    path, sock = manager
    notifiers({"NOTIFY_SOCKET": path}).status("node 7 says\nREADY=1\r\nMAINPID=1")
    assert received(sock) == [b"STATUS=node 7 says READY=1 MAINPID=1"]


@pytest.mark.parametrize(
    ("send", "args"),
    [
        (lambda n: n.ready("up, 2 inputs"), ["--ready", "--status=up, 2 inputs"]),
        (lambda n: n.watchdog(), ["WATCHDOG=1"]),
        (lambda n: n.status("µg/m³ ok"), ["--status=µg/m³ ok"]),
        (lambda n: n.stopping(), ["STOPPING=1"]),
    ],
    ids=["ready", "watchdog", "status", "stopping"],
)
def test_datagrams_match_systemd_notify(
    manager: Manager,
    notifiers: Callable[..., Notifier],
    send: Callable[[Notifier], None],
    args: list[str],
) -> None:
    """The reference client, systemd's own, sends the very same bytes."""
    path, sock = manager
    send(notifiers({"NOTIFY_SOCKET": path}))
    ours = received(sock)
    tool = systemd_tool("systemd-notify")
    env = dict(os.environ, NOTIFY_SOCKET=path)
    subprocess.run([tool, "--no-block", *args], env=env, check=True, timeout=10)
    assert ours == received(sock)


def test_an_abstract_socket_is_reached_through_the_at_sign(
    notifiers: Callable[..., Notifier],
) -> None:
    name = f"meteolink-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        notifier = notifiers({"NOTIFY_SOCKET": "@" + name})
        notifier.ready("abstract")
        notifier.watchdog()
        assert received(sock) == [b"READY=1\nSTATUS=abstract", b"WATCHDOG=1"]


@pytest.mark.parametrize(
    ("extra", "interval"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "thirty"}, None),
        ({}, None),
    ],
    ids=["usec", "our-pid", "another-pid", "zero", "garbage", "none"],
)
def test_the_watchdog_interval_is_half_the_period_systemd_asked_for(
    manager: Manager,
    notifiers: Callable[..., Notifier],
    extra: dict[str, str],
    interval: float | None,
) -> None:
    path, _ = manager
    assert notifiers({"NOTIFY_SOCKET": path, **extra}).watchdog_interval == interval


def test_without_notify_socket_nothing_is_opened_or_sent(
    notifiers: Callable[..., Notifier],
) -> None:
    fds = len(os.listdir("/proc/self/fd"))
    notifier = notifiers({"WATCHDOG_USEC": "30000000"})
    notifier.ready("x")
    notifier.watchdog()
    notifier.status("x")
    notifier.stopping()
    assert notifier.watchdog_interval is None, "nobody to ping"
    assert len(os.listdir("/proc/self/fd")) == fds, "no socket opened"


def test_a_bad_notify_socket_is_ignored_with_a_warning(
    notifiers: Callable[..., Notifier], caplog: pytest.LogCaptureFixture
) -> None:
    notifier = notifiers({"NOTIFY_SOCKET": "vsock:2:9999", "WATCHDOG_USEC": "30000000"})
    notifier.ready()
    assert notifier.watchdog_interval is None
    assert warnings_logged(caplog) == [
        "NOTIFY_SOCKET ignored: notify socket must be an absolute path or '@' and an "
        "abstract name, got 'vsock:2:9999'"
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"address": "run/notify"}, "absolute path"),
        ({"address": "@"}, "no abstract name"),
        ({"address": "/run/notify", "watchdog_interval": 0.0}, "positive number of seconds"),
    ],
)
def test_options_are_checked_at_construction(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Notifier(**options)  # type: ignore[arg-type]


def test_a_vanished_socket_is_logged_once_and_survived(
    manager: Manager, notifiers: Callable[..., Notifier], caplog: pytest.LogCaptureFixture
) -> None:
    path, sock = manager
    notifier = notifiers({"NOTIFY_SOCKET": path})
    sock.close()
    os.unlink(path)
    notifier.ready()
    notifier.watchdog()
    notifier.status("still here")
    assert len(warnings_logged(caplog)) == 1
    assert path in warnings_logged(caplog)[0]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as again:
        again.bind(path)
        notifier.watchdog()
        assert received(again) == [b"WATCHDOG=1"], "delivery resumes once the socket is back"
    notifier.watchdog()
    assert len(warnings_logged(caplog)) == 2, "a new outage is logged again"


def test_nothing_is_sent_after_close(manager: Manager) -> None:
    path, sock = manager
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    notifier.close()
    notifier.close()
    notifier.watchdog()
    assert received(sock) == []


def run_keep_alive(notifier: Notifier, script: list[bool]) -> list[float]:
    """Run keep_alive while healthy() answers from script; the times it was asked."""
    asked: list[float] = []

    async def main() -> None:
        done = asyncio.Event()

        def healthy() -> bool:
            asked.append(time.monotonic())
            if len(asked) == len(script):
                done.set()
            return script[len(asked) - 1]

        async with asyncio.timeout(5), asyncio.TaskGroup() as tasks:
            task = tasks.create_task(keep_alive(notifier, healthy))
            await done.wait()
            task.cancel()

    asyncio.run(main())
    return asked


def test_keep_alive_pings_at_the_interval_while_healthy(
    manager: Manager, notifiers: Callable[..., Notifier], caplog: pytest.LogCaptureFixture
) -> None:
    path, sock = manager
    notifier = notifiers({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})
    assert notifier.watchdog_interval == 0.05
    asked = run_keep_alive(notifier, [True, True, True, True])
    assert received(sock) == [b"WATCHDOG=1"] * 4
    gaps = [b - a for a, b in pairwise(asked)]
    assert min(gaps) >= 0.049, gaps
    assert warnings_logged(caplog) == []


def test_keep_alive_withholds_pings_while_unhealthy(
    manager: Manager, notifiers: Callable[..., Notifier], caplog: pytest.LogCaptureFixture
) -> None:
    path, sock = manager
    notifier = notifiers({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})
    run_keep_alive(notifier, [True, False, False, False, True, False])
    assert received(sock) == [b"WATCHDOG=1"] * 2
    assert len(warnings_logged(caplog)) == 2, "one warning each time the pipeline gets stuck"


@pytest.mark.parametrize(
    "extra",
    [{}, {"WATCHDOG_USEC": "100000", "WATCHDOG_PID": str(os.getpid() + 1)}],
    ids=["no-watchdog", "another-pid"],
)
def test_keep_alive_returns_at_once_without_a_watchdog(
    manager: Manager, notifiers: Callable[..., Notifier], extra: dict[str, str]
) -> None:
    path, sock = manager
    notifier = notifiers({"NOTIFY_SOCKET": path, **extra})

    def healthy() -> bool:
        pytest.fail("healthy() asked although systemd wants no pings")

    async def main() -> None:
        async with asyncio.timeout(1):
            await keep_alive(notifier, healthy)

    asyncio.run(main())
    assert received(sock) == []
