"""`meteolink export`: its output byte for byte, and its memory, whatever the store's size."""

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from meteolink.firmware import frames
from meteolink.gateway.store import Reading, Store
from tests.support.tools import ROOT, find_tool, meteolink

GOLDEN = ROOT / "tests" / "tools" / "golden"
T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z

CONFIG = """\
[gateway]
name = "roof-pi"

[nodes.1]
name = "Cēsis school roof"
location = "Cēsis"

[nodes.2]
name = 'Valmiera, "north" mast'

[quality]
temperature = [-45, 45]
"""


def unknown_field_frame(node: int, seq: int) -> bytes:
    """A frame carrying field 40, which this codec has no name for (a newer node's)."""
    body = bytes([frames.VERSION << 4, node >> 8, node & 0xFF, 0, 0, seq])
    body += bytes([0x81, 0x80, 0x80, 0x80, 0x80, 0x20])  # temperature, and 7 * 5 + 5
    body += (2150).to_bytes(2, "big") + (1234).to_bytes(2, "big")
    crc = frames.crc16(body, len(body))
    return body + crc.to_bytes(2, "big")


def small_store(directory: Path) -> Path:
    """A store with something of every kind export meets; returns the config's path."""
    readings = []
    for i in range(6):  # a LoRa T/RH/P node, heard with rssi and snr
        values = {"temperature": 21.5 - i, "humidity": 45.25, "pressure": 1013.2, "battery": 3.9}
        if i == 3:
            values["temperature"] = 46.0  # implausible by this config's [quality]
        readings.append(
            Reading(
                1,
                100 + i,
                T0 + 600 * i + 2,
                T0 + 600 * i,
                frames.encode(1, 100 + i, values),
                rssi=-97 - i,
                snr=7.25,
            )
        )
    for i in range(4):  # an air-quality node on a UART: no rssi, a name to quote in CSV
        values = {"pm1": 3.1, "pm2_5": 5.5 + i, "pm10": 9.0, "co2": 432 + i, "voc_index": 0}
        readings.append(
            Reading(
                2, 7 + i, T0 + 300 + 600 * i, T0 + 300 + 600 * i, frames.encode(2, 7 + i, values)
            )
        )
    # Heard late (an age of two minutes): stored after, taken before, node 2's first.
    status = {"temperature": -3.25, "status": 0x11, "age": 120}
    readings.append(Reading(3, 1, T0 + 320, T0 + 200, frames.encode(3, 1, status)))
    readings.append(Reading(4, 1, T0 + 900, T0 + 900, unknown_field_frame(4, 1)))
    readings.append(Reading(4, 2, T0 + 1500, T0 + 1500, frames.encode(4, 2, {"rain": 0.2})))
    store = Store(directory / "readings.db")
    # Committed one by one, in arrival order, as the service would.
    for r in sorted(readings, key=lambda r: r.received):
        store.commit([r], {})
    store.close()
    db = sqlite3.connect(directory / "readings.db")
    # Node 4's rain frame damaged on the card (its value, not its field bitmap): left
    # out with a line on stderr, and no rain column for it.
    with db:
        db.execute(
            "UPDATE readings SET frame = substr(frame, 1, 9) || x'ff' || substr(frame, 11)"
            " WHERE node = 4 AND seq = 2"
        )
    db.close()
    config = directory / "gateway.toml"
    config.write_text(CONFIG, encoding="utf-8")
    return config


EXPORTS = {
    "export-all.csv": (),
    "export-all.jsonl": ("--format", "jsonl"),
    "export-range.csv": ("--from", "2026-09-21T14:18:00Z", "--to", "2026-09-21T14:43:20"),
}


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_export_output_is_as_it_was_byte_for_byte(tmp_path: Path, name: str) -> None:
    """The golden files were written by export before it streamed (issue 9); issue 12
    added the derived values (dew point, air-quality bands) and the CSV's columns for
    them, for the node's place, for what was calibrated and for the quality flags."""
    config = small_store(tmp_path)
    out = tmp_path / name
    args = ("--config", str(config), "--data", str(tmp_path), "-o", str(out))
    proc = meteolink("export", *args, *EXPORTS[name])
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == (GOLDEN / name).read_bytes()
    # Node 4's damaged reading is in every range here: one line, then the rest.
    assert proc.stderr.startswith(
        "meteolink: export: reading 9 (node 4, counter 2) no longer decodes (CRC mismatch"
    )
    assert proc.stderr.endswith("): left out\n") and proc.stderr.count("\n") == 1


def store_of(directory: Path, count: int) -> None:
    """count readings of 50 T/RH/P/PM nodes every ten minutes, committed through the store."""
    readings = []
    for i in range(count):
        node, seq = i % 50 + 1, i // 50
        values = {"temperature": (i % 400) / 10 - 5, "humidity": 60, "pm2_5": i % 90 / 2}
        taken = T0 + 600 * seq + node
        readings.append(Reading(node, seq, taken + 1, taken, frames.encode(node, seq, values)))
    store = Store(directory / "readings.db")
    store.commit(readings, {})
    store.close()


# Runs argv[1:] with its standard output to /dev/null; prints its exit status and
# its peak resident memory in KiB. A small process of its own, because Linux counts
# into a child's peak the memory of the process it was forked from (here pytest's).
PEAK_RSS = """
import os, sys
out = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=out)
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_rss_kib(*args: str) -> int:
    """The highest resident memory of `meteolink *args`, from the kernel."""
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, find_tool("meteolink"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    status, peak = proc.stdout.split()
    assert status == "0", f"meteolink {' '.join(args)} exited {status}: {proc.stderr}"
    return int(peak)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two stores, of 10,000 and 200,000 readings."""
    out = []
    for count in (10_000, 200_000):
        data = tmp_path_factory.mktemp(f"store{count}")
        store_of(data, count)
        out.append(data)
    return out


@pytest.mark.parametrize("form", ["csv", "jsonl"])
def test_export_memory_does_not_grow_with_the_range(stores: list[Path], form: str) -> None:
    """Issue 9: export held every row (240 MB for a month of 50 nodes); now it streams.

    Twenty times the readings may cost SQLite's page cache and sorter a little
    more, never a share of each row: 190,000 more rows held were ~100 MB.
    """
    peaks = [peak_rss_kib("export", "--data", str(data), "--format", form) for data in stores]
    assert peaks[1] - peaks[0] < 8 * 1024, f"peak RSS {peaks[0]} KiB, then {peaks[1]} KiB"


def test_export_passes_see_one_snapshot_while_the_gateway_commits(tmp_path: Path) -> None:
    """CSV's two passes must agree: a reading committed between them (with a field the
    first pass never saw) would have had no column."""
    writer = Store(tmp_path / "readings.db")
    writer.commit([Reading(1, 1, T0, T0, frames.encode(1, 1, {"temperature": 20}))], {})
    reader = Store(tmp_path / "readings.db", readonly=True)
    with reader.snapshot():
        first = list(reader.export_frames(0, 2e9))
        writer.commit([Reading(1, 2, T0 + 1, T0 + 1, frames.encode(1, 2, {"rain": 0.2}))], {})
        second = [stored.seq for stored in reader.export(0, 2e9)]
    assert len(first) == 1 and second == [1]
    assert [stored.seq for stored in reader.export(0, 2e9)] == [1, 2]
    reader.close()
    writer.close()
