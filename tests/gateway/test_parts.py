"""A part is one module and one row: proved with an input and an upstream never seen before."""

import asyncio
import contextlib
import importlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from meteolink.gateway import assembly, config
from meteolink.gateway.config import ConfigError
from meteolink.gateway.parts import INPUTS, UPSTREAMS, Part
from meteolink.gateway.store import Store
from meteolink.tools.gateway_cmd import describe
from tests.support.gateway_process import reading

PACKAGE = "throwaway_parts"

# The whole of a new upstream, as someone outside meteolink would write it:
# its settings, the parser of its own [jsonl] section, its plan and create.
# It appends each reading's state message to a file.
JSONL_UPSTREAM = '''
"""Every accepted reading's state message, a JSON line each, appended to a file."""

import json
from dataclasses import dataclass
from pathlib import Path

from meteolink.firmware import frames
from meteolink.gateway import messages
from meteolink.gateway.config import Config, Table
from meteolink.gateway.roles import Outbox, Upstream
from meteolink.gateway.stats import NodeStats


@dataclass(frozen=True)
class JsonLines:
    path: Path


def parse(top: Table, section: str, override: None) -> JsonLines | None:
    t = top.table(section)
    path = t.get("path", str, None, "a file path")
    t.finish()
    return JsonLines(Path(path)) if path else None


def plan(settings: JsonLines) -> list[str]:
    return [f"appends readings to {settings.path}"]


class JsonLinesUpstream:
    def __init__(self, config: Config, path: Path) -> None:
        self.config = config
        self.path = path
        self.name = self.label = f"file:{path}"

    async def run(self, outbox: Outbox) -> None:
        while True:
            mark = outbox.mark()
            batch = await outbox.pending(100)
            if not batch:
                await outbox.wait_for_more(mark, timeout=30.0)
                continue
            with self.path.open("a", encoding="utf-8") as f:
                for stored in batch:
                    frame = frames.decode(stored.frame)
                    f.write(json.dumps(messages.state_message(stored, frame, self.config)[1]))
                    f.write("\\n")
            await outbox.forwarded(batch[-1].id)

    def node_changed(self, stats: NodeStats) -> None:
        pass


def create(config: Config, settings: JsonLines) -> list[Upstream]:
    return [JsonLinesUpstream(config, settings.path)]
'''

# And a new input: frames as hex lines in a file, handed to the gateway once.
HEXFILE_INPUT = '''
"""Frames written as hexadecimal lines in a file, each handed to the gateway once."""

import asyncio
from dataclasses import dataclass
from pathlib import Path

from meteolink.gateway.config import Config, Table
from meteolink.gateway.roles import Feed, Input


@dataclass(frozen=True)
class HexFile:
    path: Path


def parse(top: Table, section: str, override: None) -> HexFile | None:
    t = top.table(section)
    path = t.get("path", str, None, "a file path")
    t.finish()
    return HexFile(Path(path)) if path else None


def plan(settings: HexFile) -> list[str]:
    return [f"replays the frames in {settings.path}"]


class HexFileInput:
    def __init__(self, feed: Feed, path: Path) -> None:
        self.feed = feed
        self.path = path
        self.name = f"hexfile:{path.name}"

    async def run(self) -> None:
        for line in self.path.read_text("utf-8").split():
            await self.feed.room()
            self.feed.receive(bytes.fromhex(line), source=self.name)
        await asyncio.Event().wait()  # until cancelled, as every input


def create(config: Config, settings: HexFile, feed: Feed) -> list[Input]:
    return [HexFileInput(feed, settings.path)]
'''


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A package of parts meteolink has never seen, importable for this test."""
    package = tmp_path / "site" / PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield package
    for name in [m for m in sys.modules if m.partition(".")[0] == PACKAGE]:
        del sys.modules[name]


@pytest.fixture
def hexfile_row(package: Path, monkeypatch: pytest.MonkeyPatch) -> Part:
    """The input's module, and its one row in INPUTS."""
    (package / "hexfile_input.py").write_text(HEXFILE_INPUT, "utf-8")
    importlib.invalidate_caches()
    row = Part(
        module=f"{PACKAGE}.hexfile_input", requires="", install="", turn_off="remove [hexfile]"
    )
    monkeypatch.setitem(INPUTS, "hexfile", row)
    return row


@pytest.fixture
def jsonl_row(package: Path, monkeypatch: pytest.MonkeyPatch) -> Part:
    """The upstream's module, and its one row in UPSTREAMS."""
    (package / "jsonl_upstream.py").write_text(JSONL_UPSTREAM, "utf-8")
    importlib.invalidate_caches()
    row = Part(
        module=f"{PACKAGE}.jsonl_upstream", requires="", install="", turn_off="remove [jsonl] path"
    )
    monkeypatch.setitem(UPSTREAMS, "jsonl", row)
    return row


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(f'[gateway]\ndata = "{tmp_path / "data"}"\n' + text, "utf-8")
    return path


def test_an_upstream_added_by_one_module_and_one_row_is_parsed_planned_built_and_fed(
    tmp_path: Path, jsonl_row: Part
) -> None:
    out = tmp_path / "readings.jsonl"
    cfg = config.load(write(tmp_path, f'[jsonl]\npath = "{out}"\n[nodes.4]\n'))
    assert describe(cfg).splitlines()[2:5] == [
        f"appends readings to {out}",
        "status page: off (give [web] listen to serve it)",
        '1 node listed, 0 with keys; unlisted nodes are turned away (unknown_nodes = "reject")',
    ]
    gw = assembly.build(cfg)
    (up,) = gw.upstreams
    assert up.name == f"file:{out}"

    async def main() -> None:
        running = asyncio.create_task(gw.run())
        for seq in range(3):
            gw.receive(reading(4, seq), source="test")
        async with asyncio.timeout(10):
            while not out.exists() or len(out.read_text("utf-8").splitlines()) < 3:
                await asyncio.sleep(0.02)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    asyncio.run(main())
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [(m["id"], m["temperature"]) for m in lines] == [
        ("4-0", 2.0),
        ("4-1", 2.1),
        ("4-2", 2.2),
    ]
    store = Store(tmp_path / "data" / "readings.db")
    assert store.pending(f"file:{out}") == [], "its cursor moved"
    store.close()


def test_an_input_added_by_one_module_and_one_row_feeds_the_gateway(
    tmp_path: Path, hexfile_row: Part, jsonl_row: Part
) -> None:
    frames_file = tmp_path / "frames.txt"
    frames_file.write_text("\n".join(reading(6, seq).hex() for seq in range(3)), "utf-8")
    out = tmp_path / "readings.jsonl"
    cfg = config.load(
        write(
            tmp_path,
            f'[hexfile]\npath = "{frames_file}"\n[jsonl]\npath = "{out}"\n[nodes.6]\n',
        )
    )
    assert describe(cfg).splitlines()[2:4] == [
        f"replays the frames in {frames_file}",
        f"appends readings to {out}",
    ]
    gw = assembly.build(cfg)
    assert [i.name for i in gw.inputs] == ["hexfile:frames.txt"]

    async def main() -> None:
        running = asyncio.create_task(gw.run())
        async with asyncio.timeout(10):
            while not out.exists() or len(out.read_text("utf-8").splitlines()) < 3:
                await asyncio.sleep(0.02)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    asyncio.run(main())
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [m["id"] for m in lines] == ["6-0", "6-1", "6-2"]
    assert gw.sources["hexfile:frames.txt"].frames == 3


def test_the_new_part_s_section_is_checked_by_its_own_parser(
    tmp_path: Path, jsonl_row: Part
) -> None:
    path = write(tmp_path, "[jsonl]\npath = 3\n")
    with pytest.raises(ConfigError) as bad:
        config.load(path)
    assert str(bad.value) == f"{path}: jsonl.path: 3 is not a file path"
    path = write(tmp_path, '[jsonl]\noutput = "/tmp/x"\n')
    with pytest.raises(ConfigError) as bad:
        config.load(path)
    assert str(bad.value).startswith(f"{path}: jsonl.output: unknown key")
    # Asking for nothing leaves it out.
    cfg = config.load(write(tmp_path, "[jsonl]\n"))
    assert cfg.parts["jsonl"] is None
    assert assembly.plan(cfg, UPSTREAMS) == []


def test_a_section_without_a_row_is_an_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[jsonl]\npath = "/tmp/x"\n')
    with pytest.raises(ConfigError) as bad:
        config.load(path)
    assert str(bad.value) == (
        f"{path}: jsonl: unknown key (check its spelling against deploy/gateway.toml)"
    )


# Reads and plans a config asking for every part, in a fresh interpreter:
# what that imported.
LOAD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from meteolink.gateway import assembly, config
    cfg = config.load(Path(sys.argv[1]))
    print(json.dumps({
        "plan": assembly.plan(cfg, assembly.INPUTS) + assembly.plan(cfg, assembly.UPSTREAMS),
        "imported": sorted(m for m in ("bleak", "aiomqtt", "serial") if m in sys.modules),
    }))
    """
)


def test_reading_and_planning_every_part_imports_none_of_their_packages(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[serial]]\nport = "/dev/x"\n[ble]\nenabled = true\n[mqtt]\nurl = "mqtts://b"\n',
    )
    proc = subprocess.run(
        [sys.executable, "-c", LOAD, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "plan": [
            "reads /dev/x at 115200 baud",
            "reads BLE adverts with company id 0xFFFF",
            "forwards to mqtts://b:8883 with TLS, topics meteolink/<node>/state",
        ],
        "imported": [],
    }


@pytest.mark.parametrize("name", [*INPUTS, *UPSTREAMS])
def test_each_row_s_module_has_the_whole_contract(name: str) -> None:
    part = {**INPUTS, **UPSTREAMS}[name]
    module = importlib.import_module(part.path())
    assert all(callable(getattr(module, f, None)) for f in ("parse", "plan", "create"))
