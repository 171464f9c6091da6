"""The status page on a year of 50 nodes: how long the overview, /metrics and a node's week take.

Builds bench/export.py's store (50 nodes every ten minutes for a year, 2,628,000
readings), then times, each several times over and the median printed:
- the overview: overview.data() (each node's latest reading and its state
  message, the counters, the disk) and render() (the HTML), as a request runs them;
- /metrics: the exposition of the same state;
- the reader's part of a node's 7-day chart: readings(node, a week) and each
  one's state message (what node_page.py builds its charts from).
Issue 12's goals on this machine: the overview under 200 ms, a node's 7-day chart
under 500 ms. `python -m bench.web` runs it alone.
"""

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import export
from meteolink.gateway.config import Config, NodeConfig
from meteolink.gateway.store import Store
from meteolink.gateway.web import metrics, overview
from meteolink.gateway.web.reader import GatewayState, Reader

DAYS = 365
RUNS = 7


def median_ms(call: Callable[[], object], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(days: int = DAYS) -> None:
    with tempfile.TemporaryDirectory(prefix="meteolink-bench-web-") as tmp:
        directory = Path(tmp)
        start = time.perf_counter()
        count = export.build_store(directory, days)
        built = time.perf_counter() - start
        nodes = {n: NodeConfig(name=f"station {n}", interval=600) for n in range(1, 51)}
        config = Config(data=directory, nodes=nodes)
        store = Store(directory / "readings.db", readonly=True)
        reader = Reader(store, config, GatewayState.offline(config))
        end = export.START + days * 86400
        now = end + 300

        def page() -> str:
            fresh = Reader(store, config, reader.gateway)  # one request: its own reader
            return overview.render(overview.data(fresh, now), "lv")

        def week() -> int:
            fresh = Reader(store, config, reader.gateway)
            n = 0
            for row in fresh.readings(25, end - 7 * 86400, end):
                if fresh.message(row) is not None:
                    n += 1
            return n

        print(
            f"status page, a year of 50 nodes ({count:,} readings; store built in {built:.0f} s):"
        )
        print(f"  overview (data + HTML, Latvian):  {median_ms(page):.0f} ms (goal: < 200 ms)")
        ms = median_ms(lambda: metrics.exposition(Reader(store, config, reader.gateway), now))
        print(f"  /metrics:                         {ms:.0f} ms")
        readings = week()
        print(
            f"  a node's week, read and decoded:  {median_ms(week):.0f} ms"
            f" ({readings} readings; the chart's goal: < 500 ms in all)"
        )
        store.close()


if __name__ == "__main__":
    main()
