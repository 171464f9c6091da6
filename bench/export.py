"""`meteolink export` of a year of 50 nodes: time and peak memory, beside a peer script.

Builds a store of 50 nodes every ten minutes for a year (2,628,000 readings)
in a temporary directory, in the store's own schema, then runs, one after the
other on the same store:
- `meteolink export` (CSV, then JSON lines), as a user runs it;
- the peer: a 15-line streaming script (sqlite3 cursor -> frames.decode ->
  csv.writer, PEER below) that writes the values without names, quality
  flags or an id; what a user might write instead of the command.
Each runs in a process of its own, started by a small one that reads its peak
resident memory from the kernel (os.wait4). `python -m bench.export` runs it alone.

Then what the store's index on `taken` (schema 2, which spares export a sort of
the whole range) costs: building it when a schema-1 store of that year is
upgraded, and each commit of the gateway, with and without it (commit_cost()).
"""

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from meteolink.firmware import frames
from meteolink.gateway.store import Reading, Store

NODES = 50
INTERVAL_S = 600
DAYS = 365
START = 1_767_225_600  # 2026-01-01T00:00Z
AQ_NODES = 10  # nodes 41..50 also carry PM and CO2; 1..40 are T/RH/P stations

# The peer. Like `meteolink export`, in the order readings were taken.
PEER = """\
import csv, datetime, sqlite3, sys
from meteolink.firmware import frames

names = [f[0] for f in frames.FIELDS if f[0] != "age"]
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
rows = db.execute(
    "SELECT node, seq, taken, frame, rssi, snr FROM readings ORDER BY taken, id"
)
out = csv.writer(sys.stdout, lineterminator="\\n")
out.writerow(["node", "seq", "time", "rssi", "snr", *names])
for node, seq, taken, frame, rssi, snr in rows:
    values = frames.decode(frame).values()
    t = datetime.datetime.fromtimestamp(taken, datetime.UTC).isoformat(timespec="seconds")
    out.writerow([node, seq, t, rssi, snr, *(values.get(n, "") for n in names)])
"""

# Runs argv[1:] with its standard output to argv[1]'s file... see measure().
PEAK_RSS = """
import os, sys, time
out = [(os.POSIX_SPAWN_OPEN, 1, sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ, file_actions=out)
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), time.perf_counter() - start, usage.ru_maxrss,
      usage.ru_utime + usage.ru_stime)
"""


def _rows(days: int) -> Iterator[tuple[int, int, float, float, bytes, int | None, float | None]]:
    """(node, seq, received, taken, frame, rssi, snr), in arrival order."""
    encoders = [frames.Encoder(n) for n in range(1, NODES + 1)]
    for step in range(days * 86400 // INTERVAL_S):
        t = START + step * INTERVAL_S
        hour = step // 6 % 24
        for i, enc in enumerate(encoders):
            node = i + 1
            enc.clear()
            enc.put_raw(frames.TEMPERATURE, 500 + 40 * abs(hour - 12) + i)  # 5.00 °C ...
            enc.put_raw(frames.HUMIDITY, 6000 + 100 * hour)
            enc.put_raw(frames.PRESSURE, 10100 + step % 200)
            enc.put_raw(frames.BATTERY, 3900 - step // 5000)
            if node > NODES - AQ_NODES:
                enc.put_raw(frames.PM2_5, 30 + step % 500)
                enc.put_raw(frames.PM10, 60 + step % 700)
                enc.put_raw(frames.CO2, 420 + step % 80)
            frame = bytes(enc.encode(step + 1))
            taken = t + node  # the nodes' clocks are not in step
            if node <= 20:  # LoRa nodes: heard with rssi and snr
                yield node, step + 1, taken + 1.5, taken, frame, -90 - i, 7.5
            else:
                yield node, step + 1, taken + 0.2, taken, frame, None, None


def build_store(directory: Path, days: int) -> int:
    """The store: schema by Store itself, rows by executemany in batches; returns the count."""
    path = directory / "readings.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    rows = _rows(days)
    count = 0
    with db:
        while batch := [row for _, row in zip(range(50_000), rows, strict=False)]:
            db.executemany(
                "INSERT INTO readings (node, seq, received, taken, frame, rssi, snr, epoch)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                batch,
            )
            count += len(batch)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return count


def measure(output: Path, *argv: str) -> dict[str, float]:
    """Wall time, CPU time and peak RSS of argv, with its standard output to output."""
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, str(output), *argv],
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    status, wall, peak, cpu = proc.stdout.split()
    if status != "0":
        sys.exit(f"bench: {' '.join(argv)} exited {status}:\n{proc.stderr}")
    return {"wall": float(wall), "cpu": float(cpu), "peak_mb": int(peak) / 1024}


def _tool(name: str) -> str:
    found = Path(sys.executable).parent / name
    if not found.exists():
        sys.exit(f"bench: {name} is not installed beside {sys.executable} (run 'make bench')")
    return str(found)


def as_schema_1(path: Path) -> None:
    """Make the store at path what meteolink wrote before schema 2: no readings_taken."""
    db = sqlite3.connect(path)
    db.execute("DROP INDEX readings_taken")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.execute("VACUUM")
    db.close()


def commit_cost(directory: Path, commits: int = 200) -> dict[str, tuple[float, float]]:
    """{'with index' / 'without': (ms per commit, WAL pages written per commit)}, the
    faster of two rounds each (the machine is shared).

    The gateway commits about once per reading at this scale (50 nodes every ten
    minutes, a one-second commit interval): one reading a transaction, synchronous=FULL,
    into a store that already holds a month (a copy of directory's, which has the index).
    WAL pages are what an SD card is written (4 KiB each, and an fsync a commit);
    `commits` stays below SQLite's checkpoint at 1,000 pages, so the WAL holds them all.
    """
    out: dict[str, tuple[float, float]] = {}
    for label in ("with index", "without") * 2:
        path = directory / "commit" / "readings.db"
        path.parent.mkdir(exist_ok=True)
        shutil.copy(directory / "readings.db", path)
        store = Store(path)
        if label == "without":  # dropped behind the store's back: opening would upgrade it
            with contextlib.closing(sqlite3.connect(path)) as db:
                db.execute("DROP INDEX readings_taken")
        store.checkpoint()
        wal = Path(f"{path}-wal")
        enc = frames.Encoder(7)
        t = START + 400 * 86400.0
        elapsed = 0.0
        for i in range(commits):
            enc.clear()
            enc.put_raw(frames.TEMPERATURE, 2000 + i)
            r = Reading(7, 10**6 + i, t + 600 * i + 0.2, t + 600 * i, bytes(enc.encode(i + 1)))
            start = time.perf_counter()
            store.commit([r], {})
            elapsed += time.perf_counter() - start
        pages = (wal.stat().st_size - 32) / (4096 + 24)  # WAL header, then frames of a page
        store.close()
        shutil.rmtree(path.parent)
        ms = 1000 * elapsed / commits
        out[label] = min(out.get(label, (float("inf"), 0.0)), (ms, pages / commits))
    return out


def main(days: int = DAYS) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        start = time.perf_counter()
        count = build_store(directory, days)
        built = time.perf_counter() - start
        size = (directory / "readings.db").stat().st_size
        span = "a year" if days == DAYS else f"{days} days (NOT a year)"
        print(
            f"export, {span} of {NODES} nodes every {INTERVAL_S // 60} min: {count:,} readings,"
            f" store {size / 1e6:.0f} MB (built in {built:.0f} s)"
        )
        db = str(directory / "readings.db")
        meteolink = _tool("meteolink")
        ours = measure(directory / "ours.csv", meteolink, "export", "--data", tmp)
        jsonl = measure(
            directory / "ours.jsonl", meteolink, "export", "--data", tmp, "--format", "jsonl"
        )
        (directory / "peer.py").write_text(PEER)
        peer = measure(directory / "peer.csv", sys.executable, str(directory / "peer.py"), db)
        for label, fig, out in (
            ("meteolink export (CSV)", ours, "ours.csv"),
            ("meteolink export (JSONL)", jsonl, "ours.jsonl"),
            ("peer script (15 lines)", peer, "peer.csv"),
        ):
            print(
                f"  {label}: {fig['wall']:5.1f} s wall, {fig['cpu']:5.1f} s CPU,"
                f" {count / fig['wall']:,.0f} rows/s, peak RSS {fig['peak_mb']:.1f} MB,"
                f" output {(directory / out).stat().st_size / 1e6:.0f} MB"
            )
        print(
            "  (ours: id, names and locations, quality flags; the peer: the values alone;"
            " both in taken order, one process each, peak RSS from the kernel)"
        )
        costs = commit_cost(directory)
        as_schema_1(directory / "readings.db")
        start = time.perf_counter()
        Store(directory / "readings.db").close()  # the upgrade to schema 2: builds the index
        upgrade = time.perf_counter() - start
        print(
            f"  the index on taken: upgrading this store to schema 2 took {upgrade:.1f} s;"
            " a commit of one reading "
            + ", ".join(f"{ms:.2f} ms, {n:.1f} WAL pages {k}" for k, (ms, n) in costs.items())
        )


if __name__ == "__main__":
    main(int(os.environ.get("BENCH_EXPORT_DAYS", DAYS)))
