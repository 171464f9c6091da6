"""`meteolink report` of a month of 50 nodes: time and peak memory, beside a peer script.

Issue 12's goal: a month's report in under 10 s and 100 MB. The store is
bench/export.py's (its build_store(): 50 nodes every ten minutes, ten with PM),
here 31 days of January 2026 (223,200 readings), with a config naming the 50
nodes and a reference CSV of hourly temperatures, so that the run does all a
report does: every table, the hourly means beside the reference for all 50
stations, the fits. Measured, one after the other, each in a process of its
own with its peak resident memory from the kernel (bench/export.py measure()):

- `meteolink report --reference ...` as a user runs it;
- the peer: a 15-line script (PEER below) that reads the same rows in the same
  order, decodes each frame and keeps a daily mean per node and field (UTC days,
  no names, no calibration, no QC, no other statistic, no output files): the
  floor any Python report over these rows stands on.

`python -m bench.report` runs it alone (BENCH_REPORT_DAYS for a shorter month).
"""

import os
import sys
import tempfile
import time
from pathlib import Path

from bench.export import INTERVAL_S, NODES, START, _tool, build_store, measure

DAYS = 31

PEER = """\
import sqlite3, sys
from meteolink.firmware import frames

db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
rows = db.execute("SELECT node, taken, frame FROM readings ORDER BY taken, id")
sums = {}
for node, taken, frame in rows:
    day = int(taken // 86400)
    for name, value in frames.decode(frame).values().items():
        acc = sums.setdefault((node, name, day), [0.0, 0])
        acc[0] += value
        acc[1] += 1
for (node, name, day), (total, n) in sorted(sums.items()):
    print(node, name, day, total / n)
"""


def _config(directory: Path) -> Path:
    lines = ['[gateway]\nname = "bench"\n']
    for node in range(1, NODES + 1):
        lines.append(
            f'[nodes.{node}]\nname = "Station {node}"\ninterval = {INTERVAL_S}\n'
            f"latitude = 56.95\nlongitude = 24.11\naltitude = 7\n"
        )
    path = directory / "gateway.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _reference(directory: Path, days: int) -> Path:
    """Hourly temperatures: bench/export.py's node 1 at the hour, 0.4 K cooler."""
    path = directory / "reference.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write("time;temperature\n")
        for h in range(1, days * 24 + 1):
            hour = (h - 1) % 24  # the hour the mean is of (it ends at h)
            value = (500 + 40 * abs(hour - 12)) / 100 - 0.4
            t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START + 3600 * h))
            f.write(f"{t};{value:.2f}".replace(".", ",") + "\n")
    return path


def main(days: int = DAYS) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        start = time.perf_counter()
        count = build_store(directory, days)
        built = time.perf_counter() - start
        config = _config(directory)
        reference = _reference(directory, days)
        size = (directory / "readings.db").stat().st_size
        span = "a month" if days == DAYS else f"{days} days (NOT a month)"
        print(
            f"report, {span} of {NODES} nodes every {INTERVAL_S // 60} min: {count:,} readings,"
            f" store {size / 1e6:.0f} MB (built in {built:.0f} s)"
        )
        last = time.strftime("%Y-%m-%d", time.gmtime(START + 86400 * (days - 1)))
        first = time.strftime("%Y-%m-%d", time.gmtime(START))
        out = directory / "report.html"
        ours = measure(
            directory / "ours.txt",
            _tool("meteolink"),
            "report",
            "--config",
            str(config),
            "--data",
            tmp,
            "--from",
            first,
            "--to",
            last,
            "--tz",
            "UTC",
            "--reference",
            str(reference),
            "--out",
            str(out),
        )
        (directory / "peer.py").write_text(PEER)
        db = str(directory / "readings.db")
        peer = measure(directory / "peer.txt", sys.executable, str(directory / "peer.py"), db)
        for label, fig in (("meteolink report", ours), ("peer script (daily means)", peer)):
            print(
                f"  {label}: {fig['wall']:5.1f} s wall, {fig['cpu']:5.1f} s CPU,"
                f" {count / fig['wall']:,.0f} rows/s, peak RSS {fig['peak_mb']:.1f} MB"
            )
        print(
            f"  (report: HTML {out.stat().st_size / 1e6:.1f} MB and CSV"
            f" {out.with_suffix('.csv').stat().st_size / 1e6:.1f} MB, every table and the"
            f" reference fit for {NODES} stations; the peer: daily means per node and field"
            " only, printed; goal: under 10 s and 100 MB)"
        )


if __name__ == "__main__":
    main(int(os.environ.get("BENCH_REPORT_DAYS", DAYS)))
