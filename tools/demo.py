"""`meteolink demo`: simulated nodes -> serial bytes with noise -> decoded readings.

No hardware: three simulated stations encode their readings with the real
codec, the frames travel as one serial byte stream into which the demo
mixes line noise and a frame cut short, and the real deframer and decoder
read them back.
"""

import argparse
import json
import random
import sys

from meteolink.cli import Command, CommandError
from meteolink.codec_cmd import frame_json
from meteolink.firmware import frames, serial_link
from meteolink.firmware.frames import FrameError

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
    p.add_argument("--count", type=int, default=4, help="frames per station (default 4)")
    p.add_argument("--seed", type=int, default=2026, help="random seed of the simulation")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of text")


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
            spread = abs(value) * 0.004 + 0.1
            out[name] = max(0.0, value + rng.uniform(-spread, spread))
        out[name] = round(out[name] * frames.FIELDS[fid][3]) / frames.FIELDS[fid][3]
    return out


def line_stream(count: int, seed: int) -> tuple[bytes, int]:
    """The serial bytes of count frames per station, noise included."""
    rng = random.Random(seed)
    stream = bytearray()
    sent = 0
    for step in range(count):
        for node, base in STATIONS:
            frame = frames.encode(node, 100 + step, _reading(rng, base, step))
            stream += serial_link.cobs_encode(frame)
            sent += 1
            if sent % NOISE_EVERY == 0:
                stream += rng.randbytes(rng.randint(5, 40))  # noise on the line
            if sent == 5:
                cut = serial_link.cobs_encode(frame)
                stream += cut[: len(cut) // 2]  # a frame cut short by a reset
    return bytes(stream), sent


def _text(obj: dict[str, object]) -> str:
    parts = [f"node {obj['node']:<2} seq {obj['seq']:<4}"]
    for name, unit, *_ in frames.FIELDS:
        if name in obj:
            parts.append(f"{name} {obj[name]} {unit}".rstrip())
    return "  ".join(parts)


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.count <= 10000:
        raise CommandError(f"--count {args.count}: give 1 to 10000 frames per station")
    stream, sent = line_stream(args.count, args.seed)
    log = sys.stderr if args.json else sys.stdout
    print(
        f"{sent} frames from {len(STATIONS)} simulated stations, {len(stream)} bytes on the line",
        file=log,
    )
    decoded = rejected = 0
    deframer = serial_link.Deframer()
    for record in deframer.feed(stream):
        try:
            if isinstance(record, FrameError):
                raise record
            frame, _rssi, _snr = serial_link.split_record(record)
            obj = frame_json(frames.decode(frame))
        except FrameError as e:
            rejected += 1
            if not args.json:
                print(f"  rejected: {e}")
            continue
        decoded += 1
        print(json.dumps(obj, ensure_ascii=False) if args.json else _text(obj))
    print(f"{decoded} of {sent} frames decoded; {rejected} stretches of noise rejected", file=log)
    return 0 if decoded == sent else 1


COMMANDS = [Command("demo", "simulated stations through the real codec", _arguments, run)]
