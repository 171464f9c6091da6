"""A node's status page over a year of 50 nodes: time to render it, with and without its index.

The goal (issue 12): a node's 7-day chart page in under 500 ms on this machine,
with a year of readings from 50 nodes at ten-minute intervals (2,628,000). The
store is bench/export.py's (build_store), in a temporary directory. Timed, each
the best of ROUNDS after a first call (the first printed apart: the first
request after a start):
- node_page.render, the whole page (24 h and 7 d charts of every field, the
  link and battery, tallies, gaps) for an air-quality node (7 fields) and a
  weather node (4), in English and Latvian; node_page.as_json;
- the query alone (Reader.readings) for 24 h and for 7 days;
- the same without the index readings_node_taken, dropped behind the store's
  back, and what the index costs each commit of the gateway (export.commit_cost,
  run once without it and once with it; its "with index" is readings_taken's).
`python -m bench.status_page` runs it alone.
"""

import contextlib
import functools
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import export
from meteolink.gateway.config import Config
from meteolink.gateway.store import Store
from meteolink.gateway.web import node_page
from meteolink.gateway.web.reader import GatewayState, Reader

ROUNDS = 5
AQ_NODE = export.NODES  # the last nodes carry PM and CO2 too
WEATHER_NODE = 7
NOW = export.START + export.DAYS * 86400.0  # the end of the year: 7 full days behind it


def timed(call: Callable[[], object]) -> tuple[float, float]:
    """(first call, best of ROUNDS after it), in ms."""
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return 1000 * first, 1000 * best


def pages(path: Path, label: str) -> None:
    config = Config()
    store = Store(path, readonly=True)
    reader = Reader(store, config, GatewayState.offline(config))
    print(f"  {label}:")
    for node in (AQ_NODE, WEATHER_NODE):
        for lang in ("en", "lv"):
            first, best = timed(
                functools.partial(node_page.render, reader, config, node, lang, NOW)
            )
            size = len(node_page.render(reader, config, node, lang, NOW).encode())
            print(
                f"    render node {node} ({lang}): {best:6.1f} ms"
                f" (first {first:.1f} ms), page {size / 1000:.0f} kB"
            )
    first, best = timed(lambda: node_page.as_json(reader, config, AQ_NODE, NOW))
    print(f"    as_json node {AQ_NODE}: {best:6.1f} ms (first {first:.1f} ms)")
    for span, name in ((86400.0, "24 h"), (7 * 86400.0, "7 d")):
        first, best = timed(functools.partial(_query, reader, span))
        print(f"    the query alone, {name}: {best:6.2f} ms (first {first:.2f} ms)")
    store.close()


def _query(reader: Reader, span: float) -> list[object]:
    return list(reader.readings(AQ_NODE, NOW - span, NOW))


def main(days: int = export.DAYS) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        start = time.perf_counter()
        count = export.build_store(directory, days)
        built = time.perf_counter() - start
        path = directory / "readings.db"
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("VACUUM")  # sizes with and without the index, each packed alike
        size = path.stat().st_size
        print(
            f"status page, node {AQ_NODE} and {WEATHER_NODE} of {export.NODES} nodes every"
            f" {export.INTERVAL_S // 60} min for {days} days: {count:,} readings,"
            f" store {size / 1e6:.0f} MB (built in {built:.0f} s); best of {ROUNDS}"
        )
        pages(path, "with readings_node_taken (schema 3)")
        with_cost = export.commit_cost(directory)
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("DROP INDEX readings_node_taken")
            db.execute("VACUUM")
        smaller = path.stat().st_size
        pages(path, "without it")
        without_cost = export.commit_cost(directory)
        print(
            f"  the index takes {(size - smaller) / 1e6:.0f} MB of the store; a commit of one"
            f" reading with it {_cost(with_cost)}, without it {_cost(without_cost)}"
        )


def _cost(costs: dict[str, tuple[float, float]]) -> str:
    ms, pages_ = costs["with index"]
    return f"{ms:.2f} ms, {pages_:.1f} WAL pages"


if __name__ == "__main__":
    main()
