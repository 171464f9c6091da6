"""Benchmarks: `make bench` (or `python -m bench`) prints the figures.

- decode throughput on CPython, one core;
- heap allocated per encoded frame on MicroPython, after warm-up (gc.mem_alloc);
- the CRC's cost on MicroPython;
- the size of the nine-value reading against Cayenne LPP on LoRaWAN and JSON;
- the node firmware: .mpy sizes, heap and awake time per cycle on the sim
  board, and a battery-life estimate (bench/firmware.py);
- the gateway end to end, serial line to MQTT subscriber: throughput, CPU and
  memory (bench/gateway.py, which `python -m bench.gateway` runs alone).
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

from bench import firmware, gateway
from meteolink.firmware import frames

ROOT = Path(__file__).resolve().parent.parent
NINE = {
    "temperature": 21.53,
    "humidity": 45.2,
    "pressure": 1013.2,
    "pm1": 4.2,
    "pm2_5": 6.8,
    "pm10": 11.5,
    "co2": 432,
    "voc_index": 96,
    "battery": 3.912,
}
KEY = bytes(range(16))
LORAWAN_OVERHEAD = 13  # MHDR 1, DevAddr 4, FCtrl 1, FCnt 2, FPort 1, MIC 4


def decode_throughput(seconds: float = 2.0) -> float:
    data = frames.encode(7, 42, NINE)
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(1000):
            frames.decode(data)
        n += 1000
    return n / (time.perf_counter() - start)


def cayenne_lpp(values: dict[str, float]) -> bytes:
    """The nine values as Cayenne LPP (with the extended concentration type)."""
    out = bytearray()
    ch = 1

    def put(kind: int, fmt: str, raw: int) -> None:
        nonlocal ch
        out.extend(struct.pack(">BB" + fmt, ch, kind, raw))
        ch += 1

    put(103, "h", round(values["temperature"] * 10))  # temperature, 0.1 °C
    put(104, "B", round(values["humidity"] * 2))  # humidity, 0.5 %
    put(115, "H", round(values["pressure"] * 10))  # barometer, 0.1 hPa
    for name in ("pm1", "pm2_5", "pm10", "voc_index", "battery"):
        put(2, "h", round(values[name] * 100))  # analog input, 0.01
    put(125, "H", round(values["co2"]))  # concentration, ppm
    return bytes(out)


def micropython_figures() -> dict[str, float]:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    binary = shutil.which("micropython", path=path)
    if binary is None:
        sys.exit("bench: micropython is not installed (run 'make bench', which installs it)")
    proc = subprocess.run(
        [binary, str(ROOT / "bench" / "mp_encode.py")],
        env=dict(os.environ, MICROPYPATH=str(ROOT / "firmware")),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return {k: float(v) for k, v in (line.split() for line in proc.stdout.splitlines())}


def main() -> None:
    rate = decode_throughput()
    print(f"decode, CPython {sys.version.split()[0]}, one core: {rate:,.0f} frames/s")

    mp = micropython_figures()
    print("encode heap per frame, MicroPython unix port, after warm-up (gc.mem_alloc delta):")
    print(f"  put_raw() (the node's path), no MIC:  {mp['heap_raw']:.0f} B")
    print(f"  put_raw() (the node's path), MIC:     {mp['heap_raw_mic']:.0f} B")
    print(f"  put() from floats, no MIC:            {mp['heap_float']:.0f} B")
    print(f"  put() from floats, MIC:               {mp['heap_float_mic']:.0f} B")
    print(
        f"CRC of a 28-byte frame on MicroPython: CRC-16 in bytecode {mp['crc16_us']:.2f} µs, "
        f"binascii.crc32 in C {mp['crc32_us']:.2f} µs"
    )

    plain = len(frames.encode(7, 42, NINE))
    mic = len(frames.encode(7, 42, NINE, KEY))
    lpp = len(cayenne_lpp(NINE)) + LORAWAN_OVERHEAD
    as_json = json.dumps({"node": 7, "seq": 42, **NINE}, separators=(",", ":"))
    print("the nine-value reading on air:")
    print(f"  meteolink frame:                  {plain} B")
    print(f"  meteolink frame with MIC:         {mic} B")
    print(f"  Cayenne LPP in a LoRaWAN uplink:  {lpp} B")
    print(f"  JSON (compact, no link header):   {len(as_json.encode())} B")

    firmware.main()
    gateway.main()


if __name__ == "__main__":
    main()
