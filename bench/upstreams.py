"""Each HTTP upstream's throughput: `python -m bench.upstreams [NAME ...]` (part of `make bench`).

For each entry of ENTRIES (all, or the NAMEs given): a store of READINGS
pending readings from 8 listed nodes (temperature, humidity, pressure, PM2.5
and PM10 each, the nodes with a name and an altitude, so that every reading
also carries derived values), made once and copied per entry; then the real
Gateway (store, outbox, cursor) with that upstream alone, in this process,
until the upstream has delivered every reading to its destination on a
loopback port. Printed, a line per entry:

    influxdb-loopback     20000 readings  1.23 s   16,260 readings/s   58 µs CPU a reading

CPU is this process's (time.process_time: the upstream, the event loop, the
store's thread), per reading delivered; the destination runs in a process
of its own and is not counted. The loopback destination
(tests/support/http_server.py run as `python -m tests.support.http_server`)
answers 204 at once: its figure is the upstream's own ceiling. An entry
against a real database gives what that database allows.

Adding an entry: a function that takes a directory, starts the destination
(a context manager) and yields a function config -> the upstream; its name
in ENTRIES.
"""

import asyncio
import contextlib
import dataclasses
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from meteolink.firmware import frames
from meteolink.gateway.config import Config, NodeConfig, OpenSenseMapBox
from meteolink.gateway.http_upstream import HttpSettings, HttpUpstream
from meteolink.gateway.influx_upstream import Influx, InfluxUpstream
from meteolink.gateway.ngsi_upstream import NgsiLd, NgsiUpstream
from meteolink.gateway.opensensemap_upstream import OpenSenseMap, OpenSenseMapUpstream
from meteolink.gateway.sensor_community_upstream import SensorCommunity, SensorCommunityUpstream
from meteolink.gateway.service import Gateway
from meteolink.gateway.store import Reading, Store
from tests.support.influx import InfluxDB, VictoriaMetrics

READINGS = 20_000
NODES = 8
Make = Callable[[Config], HttpUpstream]
Entry = Callable[[Path], contextlib.AbstractContextManager[Make]]


@contextlib.contextmanager
def loopback() -> Iterator[str]:
    """The loopback server in a process of its own, answering 204 to everything; its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.http_server"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


# -- the entries: one per upstream and destination ---------------------------


@contextlib.contextmanager
def influxdb_loopback(directory: Path) -> Iterator[Make]:
    with loopback() as url:
        http = HttpSettings(section="influxdb", url=url, token="t", batch=1000)
        influx = Influx(http=http, api="v2", org="riga", bucket="meteo")
        yield lambda config: InfluxUpstream(config, influx=influx)


@contextlib.contextmanager
def influxdb_victoria_metrics(directory: Path) -> Iterator[Make]:
    vm = VictoriaMetrics(directory / "victoria")
    vm.start()
    try:
        http = HttpSettings(section="influxdb", url=vm.url, batch=1000)
        influx = Influx(http=http, api="v2", org="riga", bucket="meteo", string_fields=False)
        yield lambda config: InfluxUpstream(config, influx=influx)
    finally:
        vm.stop()


@contextlib.contextmanager
def influxdb_influxdb(directory: Path) -> Iterator[Make]:
    db = InfluxDB(directory / "influxdb")
    db.start()
    db.create_database("meteo")
    try:
        http = HttpSettings(section="influxdb", url=db.url, batch=1000)
        influx = Influx(http=http, api="v1", database="meteo")
        yield lambda config: InfluxUpstream(config, influx=influx)
    finally:
        db.stop()


@contextlib.contextmanager
def ngsi_ld_loopback(directory: Path) -> Iterator[Make]:
    """A broker that takes every upsert at once: the NGSI-LD upstream's own ceiling. A
    request carries at most one reading of each node (gateway/ngsi_upstream.py), so with
    NODES nodes a batch of 1000 readings goes as 1000 / NODES requests."""
    with loopback() as url:
        http = HttpSettings(section="ngsi_ld", url=url, token="t", batch=1000)
        settings = NgsiLd(http=http, tenant="riga", id_prefix="riga:")
        yield lambda config: NgsiUpstream(config, settings=settings)


# The public maps (gateway/public_maps.py) send each node's latest reading, not every
# one: "backlog" is the store of pending readings gone through as after an outage (a
# batch of 2000 at a time, the latest per node of each sent); "every" sends every
# reading (a batch of one, no pace), as a live flow of readings one at a time would,
# so its readings/s is the upload ceiling. max_age is lifted: the bench's readings
# were taken hours ago. sensor.community makes a request per pin (2 a reading here).


def _sensor_community(batch: int) -> Callable[[Path], contextlib.AbstractContextManager[Make]]:
    @contextlib.contextmanager
    def entry(directory: Path) -> Iterator[Make]:
        with loopback() as url:
            http = HttpSettings(section="sensor_community", url=url, batch=batch)
            settings = SensorCommunity(http=http, interval=0.0, max_age=1e9)
            yield lambda config: SensorCommunityUpstream(_opted_in(config), settings)

    return entry


def _opensensemap(batch: int) -> Callable[[Path], contextlib.AbstractContextManager[Make]]:
    @contextlib.contextmanager
    def entry(directory: Path) -> Iterator[Make]:
        with loopback() as url:
            http = HttpSettings(section="opensensemap", url=url, batch=batch)
            settings = OpenSenseMap(http=http, interval=0.0)
            yield lambda config: OpenSenseMapUpstream(_opted_in(config), settings)

    return entry


def _opted_in(config: Config) -> Config:
    """config with every node on both public maps, five sensors of its box mapped."""
    fields = ("temperature", "humidity", "pressure", "pm2_5", "pm10")
    sensors = tuple((f, f"{i:024x}") for i, f in enumerate(fields))
    nodes = {
        n: dataclasses.replace(
            c,
            sensor_community_id=f"raspi-{n:016x}",
            opensensemap=OpenSenseMapBox(box=f"{n:024x}", token=f"token-{n}", sensors=sensors),
        )
        for n, c in config.nodes.items()
    }
    return dataclasses.replace(config, nodes=nodes)


ENTRIES: dict[str, Entry] = {
    "influxdb-loopback": influxdb_loopback,
    "influxdb-influxdb": influxdb_influxdb,  # Debian's InfluxDB 1.6, v1 /write
    "influxdb-victoria-metrics": influxdb_victoria_metrics,  # Debian's, v2 /api/v2/write
    "ngsi-ld-loopback": ngsi_ld_loopback,  # POST /ngsi-ld/v1/entityOperations/upsert
    "sensor-community-backlog": _sensor_community(2000),
    "sensor-community-every": _sensor_community(1),
    "opensensemap-backlog": _opensensemap(2000),
    "opensensemap-every": _opensensemap(1),
}


# -- the measurement ---------------------------------------------------------


def config(data: Path) -> Config:
    nodes = {
        n: NodeConfig(name=f"Station {n}, Cēsis", altitude=90.0 + n, latitude=57.3, longitude=25.3)
        for n in range(1, NODES + 1)
    }
    return Config(name="bench", data=data, nodes=nodes)


def fill(path: Path, count: int) -> None:
    """A store of count readings, a node's every NODES-th, taken a minute apart."""
    store = Store(path)
    start = time.time() - count * 60 / NODES
    batch = []
    for i in range(count):
        node, seq = i % NODES + 1, i // NODES + 1
        values = {
            "temperature": 5.0 + (i % 100) / 10,
            "humidity": 60.0 + i % 30,
            "pressure": 1000.0 + (i % 50) / 10,
            "pm2_5": 3.0 + i % 40,
            "pm10": 6.0 + i % 60,
        }
        taken = start + i * 60 / NODES
        batch.append(Reading(node, seq, taken, taken, frames.encode(node, seq, values), -80, 7.5))
        if len(batch) == 1000:
            store.commit(batch, {})
            batch = []
    store.commit(batch, {})
    store.close()


async def deliver(cfg: Config, make: Make, count: int) -> tuple[float, float, HttpUpstream]:
    """(wall seconds, CPU seconds, the upstream) to deliver count pending readings."""
    up = make(cfg)
    gw = Gateway(cfg, upstreams=[up])
    cpu, wall = time.process_time(), time.perf_counter()
    running = asyncio.create_task(gw.run())
    try:
        # Done once every reading was delivered, refused, or (a public map) passed over:
        # the cursor at the last reading. (delivered counts a reading once a request that
        # carries it: sensor.community's two pins count it twice.)
        while (gw.progress[up.name].cursor or 0) < count:
            if running.done():
                running.result()
            await asyncio.sleep(0.01)
        return time.perf_counter() - wall, time.process_time() - cpu, up
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


def measure(name: str, entry: Entry, template: Path, count: int) -> str:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        directory = Path(tmp)
        data = directory / "data"
        data.mkdir()
        shutil.copy(template, data / "readings.db")
        with entry(directory) as make:
            wall, cpu, up = asyncio.run(deliver(config(data), make, count))
    refused = sum(up.refused.values())
    return (
        f"{name:28} {count} readings {wall:6.2f} s {count / wall:10,.0f} readings/s"
        f" {cpu / count * 1e6:6.0f} µs CPU a reading, {up.requests} requests"
        + (f", {refused} refused" if refused else "")
    )


def main(names: list[str]) -> None:
    unknown = [n for n in names if n not in ENTRIES]
    if unknown:
        sys.exit(f"bench.upstreams: no entry {unknown[0]} (give one of: {', '.join(ENTRIES)})")
    with tempfile.TemporaryDirectory(prefix="bench-upstreams-") as tmp:
        template = Path(tmp) / "readings.db"
        fill(template, READINGS)
        for name in names or list(ENTRIES):
            print(measure(name, ENTRIES[name], template, READINGS), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
