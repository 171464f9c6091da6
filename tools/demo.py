"""`meteolink demo`: simulated stations on a pseudo-terminal, the real gateway reading it.

No hardware and no broker: three simulated stations encode their readings
with the real codec and write them as serial bytes into a pseudo-terminal,
as a LoRa bridge board would; the line also carries noise, a frame cut
short, a frame heard twice and a forged one. The real gateway service reads
the other end with pyserial, verifies, de-duplicates and commits each
reading to a local SQLite store, and the demo prints them as they are
accepted. Ctrl-C stops it cleanly; --count stops it after that many
readings per station.
"""

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import random
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from meteolink.firmware import frames, framing
from meteolink.gateway.config import NodeConfig
from meteolink.gateway.mqtt_upstream import parse_mqtt_url
from meteolink.tools.cli import Command, CommandError
from meteolink.tools.codec_cmd import frame_json
from meteolink.tools.pseudo_terminal import PseudoTerminal

if TYPE_CHECKING:
    from meteolink.gateway.commit import Accepted
    from meteolink.gateway.service import Gateway

DEMO_KEY = bytes(range(16))  # station 2 signs its frames: a forged one is turned away
NAMES = {1: "Cēsis school roof", 2: "Valmiera bus station", 3: "Gauja meadow mast"}
# (node, what it measures, typical late-November values in rural Latvia)
STATIONS = (
    (1, {"temperature": 2.4, "humidity": 88.0, "pressure": 1008.5, "battery": 3.05}),
    (
        2,
        {
            "temperature": 3.1,
            "humidity": 84.5,
            "pressure": 1008.9,
            "pm1": 4.2,
            "pm2_5": 6.8,
            "pm10": 11.5,
            "co2": 432,
            "voc_index": 96,
            "battery": 3.92,
        },
    ),
    (3, {"temperature": 1.7, "wind_speed": 4.3, "wind_direction": 245, "gust": 8.9, "rain": 12.4}),
)

NOISE_EVERY = 4  # frames between bursts of line noise


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


def _reading(rng: random.Random, base: dict[str, float], step: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in base.items():
        fid = frames.field_id(name)
        if name in ("wind_direction", "co2", "voc_index"):
            out[name] = max(0, round(value + rng.uniform(-10, 10)))
        elif name == "rain":
            out[name] = value + 0.2 * step
        elif name == "battery":
            out[name] = value - 0.001 * step
        else:
            spread = 0.3 if name == "pressure" else abs(value) * 0.004 + 0.1
            out[name] = max(0.0, value + rng.uniform(-spread, spread))
        out[name] = round(out[name] * frames.FIELDS[fid][3]) / frames.FIELDS[fid][3]
    return out


class Simulator:
    """The stations and their line: writes each round's bytes into the pty's master side."""

    def __init__(self, master: int, *, count: int, interval: float, seed: int) -> None:
        self.master = master
        self.count = count
        self.interval = interval
        self.rng = random.Random(seed)
        self.sent = 0  # distinct readings put on the line

    def round(self, step: int) -> bytes:
        rng = self.rng
        line = bytearray()
        for node, base in STATIONS:
            key = DEMO_KEY if node == 2 else None
            frame = frames.encode(node, 100 + step, _reading(rng, base, step), key)
            if node == 1:  # heard over LoRa: the bridge adds RSSI and SNR
                rssi, snr = -80 - rng.randint(0, 40), rng.randint(-40, 40) / 4
                record = framing.radio_record(frame, rssi, snr)
            else:
                record = frame
            line += framing.cobs_encode(record)
            self.sent += 1
            if self.sent % NOISE_EVERY == 0:
                line += rng.randbytes(rng.randint(5, 40))  # noise on the line
            if self.sent == 5:
                cut = framing.cobs_encode(frame)
                line += cut[: len(cut) // 2]  # a frame cut short by a reset
            if self.sent == 7:
                line += framing.cobs_encode(record)  # the same frame heard twice
            if self.sent == 8:
                # Station 2's id without its key: a forgery, turned away.
                forged = frames.encode(2, 100 + step + 50, {"temperature": 35.0})
                line += framing.cobs_encode(forged)
        return bytes(line)

    async def run(self, done: Callable[[], None]) -> None:
        step = 0
        while not self.count or step < self.count:
            await self._write(self.round(step))
            step += 1
            await asyncio.sleep(self.interval)
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
    line = PseudoTerminal()  # the port the gateway opens, as a LoRa bridge's
    port = line.path
    temp = None if args.data else tempfile.TemporaryDirectory(prefix="meteolink-demo-")
    data = Path(args.data) if args.data else Path(temp.name if temp else ".")
    out = sys.stdout
    logging.basicConfig(level=logging.WARNING, format="  gateway: %(message)s")
    nodes = {n: NodeConfig(name=NAMES[n], key=DEMO_KEY if n == 2 else None) for n, _ in STATIONS}
    from meteolink.gateway import config as gwconfig

    cfg = dataclasses.replace(
        gwconfig.load(None, {"serial": [port], "mqtt": args.mqtt, "data": str(data)}),
        name="demo",
        commit_interval=0.2,
        nodes=nodes,
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
