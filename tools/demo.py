"""`meteolink demo`: simulated stations on a pseudo-terminal, the real gateway reading it.

No hardware and no broker: three stations of `meteolink simulate` (Cēsis
weather of today, tools/weather.py) encode their readings with the real
codec and write them as serial bytes into a pseudo-terminal, as a LoRa
bridge board would; the line also carries noise, a frame cut short, a frame
heard twice and a forged one, at fixed readings. The real gateway service reads
the other end with pyserial, verifies, de-duplicates and commits each
reading to a local SQLite store, and the demo prints them as they are
accepted. The status page (gateway/web/) serves them at the address printed
(--web). Ctrl-C stops it cleanly; --count stops it after that many
readings per station.
"""

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import json
import logging
import os
import random
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meteolink.firmware import frames
from meteolink.gateway.config import NodeConfig
from meteolink.gateway.mqtt_upstream import parse_mqtt_url
from meteolink.gateway.web.settings import WebSettings, loopback, split_listen
from meteolink.tools import simulate_cmd, weather
from meteolink.tools.cli import Command, CommandError
from meteolink.tools.codec_cmd import frame_json
from meteolink.tools.pseudo_terminal import PseudoTerminal

if TYPE_CHECKING:
    from meteolink.gateway.commit import Accepted
    from meteolink.gateway.service import Gateway

DEMO_KEY = bytes(range(16))  # station 2 signs its frames: a forged one is turned away
NAMES = {1: "Cēsis school roof", 2: "Valmiera bus station", 3: "Cēsis school classroom"}
# (node, what it measures: tools/weather.py's kinds, heard over LoRa through a bridge)
STATIONS = ((1, "weather", True), (2, "air", False), (3, "indoor", False))
# Where they stand, roughly (town centres; altitude of the ground, metres above sea level).
PLACES: dict[int, dict[str, Any]] = {
    1: {"latitude": 57.312, "longitude": 25.271, "altitude": 100.0, "exposure": "outdoor"},
    2: {"latitude": 57.538, "longitude": 25.426, "altitude": 45.0, "exposure": "outdoor"},
    3: {"latitude": 57.312, "longitude": 25.271, "altitude": 100.0, "exposure": "indoor"},
}
FIRST_SEQ = 100
PAGE_WAIT = 5.0  # seconds the status page may take to listen before the stations start
NOISE_EVERY = 4  # readings between bursts of line noise
# The faults of `meteolink simulate`, at fixed readings (0, 1, ... over all stations):
# a frame cut short by a reset (sent whole after), one heard twice, a forged one.
SCHEDULE = {
    "cut": {4},
    "duplicate": {6},
    "forge": {7},
    "noise": set(range(NOISE_EVERY - 1, 10**6, NOISE_EVERY)),
}


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--count",
        type=int,
        default=0,
        help="readings per station, then stop (default: until Ctrl-C)",
    )
    p.add_argument(
        "--interval", type=float, default=2.0, help="seconds between rounds of readings (default 2)"
    )
    p.add_argument("--seed", type=int, default=2026, help="random seed of the simulation")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    p.add_argument("--data", help="keep the store in this directory (default: a temporary one)")
    p.add_argument("--mqtt", metavar="URL", help="also forward to this MQTT broker")
    p.add_argument(
        "--web",
        metavar="HOST:PORT",
        default="127.0.0.1:8080",
        help="serve the status page there (default 127.0.0.1:8080; port 0: any free one;"
        " 'off': none)",
    )


def simulation(seed: int) -> simulate_cmd.Simulation:
    """The demo's stations: Cēsis weather of today, ten simulated minutes a round."""
    rng = random.Random(seed)
    today = datetime.date.today()
    start = datetime.datetime(today.year, today.month, today.day, 12)
    climate = weather.Climate.of_place("cesis")
    nodes = []
    for node, kind, radio in STATIONS:
        station = weather.Station(node, kind, random.Random(rng.random()))
        sim_node = simulate_cmd.SimNode(
            node, station, DEMO_KEY if node == 2 else None, NAMES[node], radio, seq=FIRST_SEQ
        )
        sim_node.rssi = rng.uniform(-115, -80)
        nodes.append(sim_node)
    w = weather.Weather(climate, start, random.Random(rng.random()))
    return simulate_cmd.Simulation(nodes, w, rng, schedule=SCHEDULE)


class Simulator:
    """The stations and their line: writes each round's bytes into the pty's master side."""

    def __init__(self, master: int, *, count: int, interval: float, seed: int) -> None:
        self.master = master
        self.count = count
        self.interval = interval
        self.sim = simulation(seed)

    def round(self, step: int) -> bytes:
        return b"".join(p.line_bytes() for p in self.sim.round())

    async def run(self, done: Callable[[], None]) -> None:
        step = 0
        while not self.count or step < self.count:
            await self._write(self.round(step))
            step += 1
            await asyncio.sleep(self.interval)
        await self._write(b"\x00")  # ends a cut record still pending
        done()

    async def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            view = view[n:]


def _text(accepted: "Accepted") -> str:
    obj = frame_json(accepted.frame)
    s = accepted.stored
    parts = [f"{NAMES.get(obj['node'], obj['node'])} seq {obj['seq']}:"]
    for name, unit, *_ in frames.FIELDS:
        if name in obj:
            parts.append(f"{name} {obj[name]} {unit}".rstrip())
    if s.rssi is not None:
        parts.append(f"(LoRa {s.rssi} dBm, SNR {s.snr:g} dB)")
    return "  ".join(parts)


def run(args: argparse.Namespace) -> int:
    from meteolink.tools.gateway_cmd import serve

    if not 0 <= args.count <= 100000:
        raise CommandError(f"--count {args.count}: give 0 (no end) to 100000 readings per station")
    if not 0 <= args.interval <= 3600:
        raise CommandError(f"--interval {args.interval}: give 0 to 3600 seconds")
    if args.mqtt:
        try:
            parse_mqtt_url(args.mqtt)
        except ValueError as e:
            raise CommandError(f"--mqtt {e}") from None
    web = WebSettings()
    if args.web != "off":
        try:
            host, web_port = split_listen(args.web)
        except ValueError as e:
            raise CommandError(f"--web {args.web}: {e}") from None
        if not loopback(host):
            raise CommandError(
                f"--web {args.web}: the demo serves its page on this machine only"
                " (give 127.0.0.1:PORT)"
            )
        web = WebSettings(host, web_port)
    line = PseudoTerminal()  # the port the gateway opens, as a LoRa bridge's
    port = line.path
    temp = None if args.data else tempfile.TemporaryDirectory(prefix="meteolink-demo-")
    data = Path(args.data) if args.data else Path(temp.name if temp else ".")
    out = sys.stdout
    logging.basicConfig(level=logging.WARNING, format="  gateway: %(message)s")
    # Their interval is the demo's: a station the demo stops turns late, then offline.
    interval = max(1.0, args.interval)
    nodes = {
        n: NodeConfig(
            name=NAMES[n],
            key=DEMO_KEY if n == 2 else None,
            interval=interval,
            **PLACES[n],
        )
        for n, *_ in STATIONS
    }
    from meteolink.gateway import config as gwconfig

    cfg = dataclasses.replace(
        gwconfig.load(None, {"serial": [port], "mqtt": args.mqtt, "data": str(data)}),
        name="demo",
        commit_interval=0.2,
        nodes=nodes,
        web=web,
        source="(demo)",
    )
    sim = Simulator(line.master, count=args.count, interval=args.interval, seed=args.seed)
    heard: list[int] = []
    seen: list[Gateway] = []

    def show(accepted: "Accepted") -> None:
        heard.append(accepted.stored.id)
        if args.json:
            print(json.dumps(frame_json(accepted.frame), ensure_ascii=False), flush=True)
        else:
            print(_text(accepted), flush=True)

    async def simulate(gateway: "Gateway", stop: Callable[[], None]) -> None:
        gateway.observers.append(show)
        seen.append(gateway)
        page = gateway.status_page
        if page is not None:  # its address before the first reading (a port taken: logged)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PAGE_WAIT):
                    await page.listening.wait()
                print(f"status page: {page.url}", file=info, flush=True)
        expected = len(STATIONS) * args.count

        def finished() -> None:
            if len(heard) >= expected:
                stop()

        await sim.run(lambda: None)
        # Every reading is on the line; stop once the gateway has stored them.
        for _ in range(200):
            finished()
            await asyncio.sleep(0.05)
        stop()

    info = sys.stderr if args.json else out
    print(f"simulated stations writing to {port}; the gateway stores to {data}", file=info)
    print("Ctrl-C stops" if not args.count else f"{args.count} readings per station", file=info)
    try:
        serve(cfg, extra=[simulate])
    finally:
        line.close()
    print(f"{len(heard)} readings accepted and stored", file=info)
    if seen:
        print(seen[0].summary().replace("; ", "\n"), file=info)
    if temp is not None:
        temp.cleanup()
    if args.count and len(heard) != len(STATIONS) * args.count:
        return 1
    return 0


COMMANDS = [Command("demo", "simulated stations -> pty -> the real gateway", _arguments, run)]
