"""The bridge on the unix port with the real driver: packets per second and heap per packet.

`python -m bench.lora_bridge` runs bench/mp_bridge.py under the MicroPython unix
port, with firmware/ and sim/ compiled to .mpy (as a node gets them) and
micropython-lib's lora drivers installed by mip (from the index the tests use,
$METEOLINK_MIP_INDEX). For an SX1276 and an SX1262 bridge: firmware/bridge.py's
own loop, run() itself, on the register model of its chip, with its 20 ms sleep
between turns replaced by the bench putting the next packet on air, already
ended; beside it, in the same process, the peer: the real driver's continuous
receive alone (poll_recv() once per packet, no framing, no serial line).
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.firmware import ROOT, compile_tree, tool

N = 1000
TURN_MS = 20  # firmware/bridge.py's _TURN_MS: one packet per turn at most
CHIPS = ("sx1276", "sx1262")
RUNS = 3


def figures(lib: Path, chip: str, n: int = N) -> dict[str, float]:
    proc = subprocess.run(
        [
            tool("micropython"),
            "-X",
            "heapsize=64M",
            str(ROOT / "bench" / "mp_bridge.py"),
            chip,
            str(n),
        ],
        env=dict(os.environ, MICROPYPATH=str(lib)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode:
        sys.exit(f"bench: the bridge bench failed:\n{proc.stdout}{proc.stderr}")
    return {k: float(v) for k, v in (line.split() for line in proc.stdout.splitlines())}


def main() -> None:
    from tests.support.lora_drivers import InstallError, install

    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "lib"
        compile_tree(lib)
        try:
            install(lib)
        except InstallError as e:
            sys.exit(f"bench: {e}")
        results = {}
        for chip in CHIPS:  # the fastest of three runs: the least disturbed by the machine
            runs = [figures(lib, chip) for _ in range(RUNS)]
            results[chip] = {k: min(r[k] for r in runs) for k in runs[0]}
    frame = int(results[CHIPS[0]]["frame_bytes"])
    print(
        f"the bridge, MicroPython unix port, micropython-lib's driver on the sim chip models,"
        f" {N} packets of {frame} B, one core, the fastest of {RUNS} runs:"
    )
    print(f"  {'':8} {'bridge loop':>22} {'peer: driver alone':>22} {'bridge own':>12}")
    for chip, r in results.items():
        print(
            f"  {chip:8} {1e6 / r['bridge_us']:8,.0f} pkt/s {r['bridge_heap']:6.0f} B/pkt"
            f" {1e6 / r['peer_us']:8,.0f} pkt/s {r['peer_heap']:6.0f} B/pkt"
            f" {r['bridge_us'] - r['peer_us']:+5.0f} µs {r['bridge_heap'] - r['peer_heap']:+4.0f} B"
        )
    print(
        f"  (work per packet, the chip model's SPI included; the bridge sleeps {TURN_MS} ms a"
        f" turn and takes one packet a turn: {1000 // TURN_MS} packets/s at most on air)"
    )


if __name__ == "__main__":
    main()
