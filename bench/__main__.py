"""Benchmarks: `make bench` (or `python -m bench`) prints the figures.

- decode throughput on CPython, one core, to values in their units as users
  get them, beside the Cayenne LPP decoder of pycayennelpp on the same values;
- heap allocated per encoded frame on MicroPython, after warm-up (gc.mem_alloc);
- the CRC's cost on MicroPython;
- the size of the nine-value reading against Cayenne LPP, like for like: each
  with its integrity code (ours: the MIC; LPP: the LoRaWAN uplink's) and without;
- the node firmware: .mpy sizes, heap and awake time per cycle on the sim
  board, and a battery-life estimate (bench/firmware.py);
- the LoRa bridge on the unix port with micropython-lib's driver: packets per
  second and heap per packet, beside the driver's continuous receive alone
  (bench/lora_bridge.py, `python -m bench.lora_bridge` alone);
- the gateway end to end, serial line to MQTT subscriber: throughput, CPU and
  memory (bench/gateway.py, which `python -m bench.gateway` runs alone);
- `meteolink export` of a year of 50 nodes: time and peak memory beside a
  streaming peer script (bench/export.py, `python -m bench.export` alone);
- `meteolink report` of a month of 50 nodes: time and peak memory beside a peer
  script of daily means (bench/report.py, `python -m bench.report` alone).
- the status page on that year: the overview, /metrics and a node's week from
  the store (bench/web.py, `python -m bench.web` alone).
- a node's status page over that year: render time with and without the index
  readings_node_taken, and the index's cost per commit (bench/status_page.py,
  `python -m bench.status_page` alone).
- each HTTP upstream (InfluxDB, NGSI-LD, the public maps): readings a second
  and CPU a reading, from a store of pending readings to a loopback server
  and to the real databases (bench/upstreams.py, `python -m bench.upstreams`).
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import export, firmware, gateway, lora_bridge, report, status_page, upstreams, web
from meteolink.firmware import frames

try:
    from cayennelpp import LppFrame  # type: ignore[import-untyped]
except ImportError:
    sys.exit("bench: pycayennelpp is not installed (run 'make bench', which installs it)")

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


def per_second(call: Callable[[], object], seconds: float = 2.0) -> float:
    """How many times a second call() runs, on one core."""
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(1000):
            call()
        n += 1000
    return n / (time.perf_counter() - start)


def cayenne_lpp(values: dict[str, float]) -> bytes:
    """The nine values as Cayenne LPP (IPSO types as pycayennelpp reads them)."""
    out = bytearray()
    ch = 1

    def put(kind: int, fmt: str, raw: int) -> None:
        nonlocal ch
        out.extend(struct.pack(">BB" + fmt, ch, kind, raw))
        ch += 1

    put(103, "h", round(values["temperature"] * 10))  # temperature, 0.1 °C
    put(104, "B", round(values["humidity"] * 2))  # humidity, 0.5 %
    put(115, "H", round(values["pressure"] * 10))  # barometer, 0.1 hPa
    for name in ("pm1", "pm2_5", "pm10", "voc_index"):
        put(2, "h", round(values[name] * 100))  # analog input, 0.01 (LPP has no PM type)
    put(116, "H", round(values["battery"] * 100))  # voltage, 0.01 V
    put(125, "H", round(values["co2"]))  # concentration, ppm
    return bytes(out)


def lpp_values(payload: bytes) -> dict[int, float]:
    """A Cayenne LPP payload as a user of pycayennelpp gets it: {channel: value in its unit}."""
    return {d.channel: d.value[0] for d in LppFrame.from_bytes(payload)}


def decode_figures() -> None:
    plain = frames.encode(7, 42, NINE)
    mic = frames.encode(7, 42, NINE, KEY)
    key = frames.Key(KEY)
    lpp = cayenne_lpp(NINE)
    ours = frames.decode(plain).values()
    theirs = lpp_values(lpp)
    assert len(ours) == len(theirs) == len(NINE), (ours, theirs)
    print(f"decode, CPython {sys.version.split()[0]}, one core, the nine-value reading:")
    figures = (
        (
            "meteolink, to values in units (decode().values(), as the gateway,"
            " `meteolink decode` and export get them)",
            lambda: frames.decode(plain).values(),
        ),
        (
            "meteolink, to values, MIC checked (HMAC-SHA256, a keyed node)",
            lambda: frames.decode(mic, key).values(),
        ),
        (
            "Cayenne LPP, to values (pycayennelpp LppFrame.from_bytes; {channel: value})",
            lambda: lpp_values(lpp),
        ),
        (
            "meteolink decode() alone, raw fixed-point integers, no values (not what users get)",
            lambda: frames.decode(plain),
        ),
    )
    for label, call in figures:
        print(f"  {per_second(call):9,.0f} frames/s  {label}")


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
    decode_figures()

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

    size_figures()
    firmware.main()
    lora_bridge.main()
    gateway.main()
    export.main()
    report.main()
    web.main()
    status_page.main()
    print("HTTP upstreams, a store of pending readings delivered to a loopback destination:")
    upstreams.main([])


def size_figures() -> None:
    plain = len(frames.encode(7, 42, NINE))
    mic = len(frames.encode(7, 42, NINE, KEY))
    lpp = len(cayenne_lpp(NINE))
    as_json = len(json.dumps({"node": 7, "seq": 42, **NINE}, separators=(",", ":")).encode())
    print("the nine-value reading, bytes on air, like for like:")
    print("  with an integrity code, the whole radio payload:")
    print(f"    {mic:3} B  meteolink frame: header (node, counter), fields, 4-byte MIC, CRC")
    print(
        f"    {lpp + LORAWAN_OVERHEAD:3} B  Cayenne LPP in a LoRaWAN uplink: MHDR, DevAddr, FCtrl,"
        f" FCnt, FPort ({LORAWAN_OVERHEAD - 4} B), LPP {lpp} B, 4-byte MIC"
    )
    print("  without one:")
    print(f"    {plain:3} B  meteolink frame: header (node, counter), fields, CRC")
    print(f"    {lpp:3} B  Cayenne LPP payload alone: no node id, no counter, no check of its own")
    print(f"    {as_json:3} B  JSON, compact, with node and counter, no check of its own")


if __name__ == "__main__":
    main()
