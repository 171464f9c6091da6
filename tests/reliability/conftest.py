"""The reliability suite's fixtures: its figures, and a broker that holds a long backlog.

Every test here carries the `reliability` marker (`pytest -m reliability` runs
them alone; plain `pytest` runs them with the rest). What each measures is
listed at the end of the run and in docs/reliability.md.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.figures import MEASURED, Figures


@pytest.fixture
def figures(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Figures]:
    """The test's measured figures: printed, kept, and listed at the end (tests/support)."""
    f = Figures(request.node.name, tmp_path)
    yield f
    f.finish()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """tests/conftest.py's broker, but one that queues every message for a subscriber away.

    Mosquitto keeps at most 1000 messages for a client that is not connected
    (max_queued_messages) and drops the rest. After an outage the gateway's
    backlog can reach the broker before the test's subscriber is back, and a
    message the broker dropped would look like the gateway's loss.
    """
    directory = tmp_path / "broker"
    b = Broker(
        directory,
        config=[
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {directory}/",
            "autosave_interval 1",
            "max_queued_messages 0",
        ],
    )
    b.start()
    yield b
    b.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Every reliability test's figures, one line each, after the run."""
    if not MEASURED:
        return
    terminalreporter.section("reliability figures")
    for test, values in MEASURED:
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        terminalreporter.write_line(f"{test}: {shown}")
