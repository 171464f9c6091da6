"""Firmware figures: .mpy sizes, heap and awake time per cycle, battery life.

Runs whole firmware cycles on the `sim` board under the MicroPython unix
port (bench/mp_cycle.py) and compiles every firmware file with mpy-cross.
The battery-life estimate combines those measurements with datasheet
currents; every assumption is printed next to the figure.
"""

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from meteolink.firmware import airtime, frames
from meteolink.tools import power
from meteolink.tools.pseudo_terminal import PseudoTerminal
from tests.support.ether import HubProcess

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
# The package marker, and the roles' contracts, which only the type checker reads.
NOT_ON_A_NODE = ("__init__.py", "roles.py")

# What an ESP32 LoRa node with a BME280 on the T/RH/P schedule runs (what
# `meteolink flash` copies to it).
TRH_NODE = [
    "main.py",
    "node.py",
    "sensors.py",
    "node_config.py",
    "catalogue.py",
    "counter.py",
    "retained.py",
    "frames.py",
    "framing.py",
    "port_esp32.py",
    "buses.py",
    "bme280.py",
    "battery.py",
    "lora_link.py",
    "dutycycle.py",
    "airtime.py",
]


def tool(name: str) -> str:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=path)
    if found is None:
        sys.exit(f"bench: {name} is not installed (run 'make bench', which installs it)")
    return found


def mpy_sizes(arch: str) -> dict[str, int]:
    out: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for src in sorted(FIRMWARE.glob("*.py")):
            if src.name in NOT_ON_A_NODE:
                continue
            dst = Path(tmp) / (src.stem + ".mpy")
            subprocess.run(
                [tool("mpy-cross"), f"-march={arch}", "-o", str(dst), str(src)], check=True
            )
            out[src.name] = dst.stat().st_size
    return out


def compile_tree(lib: Path) -> None:
    """firmware/ and sim/ as bytecode .mpy files, as a node gets them from the flash tool.

    Importing .py source makes MicroPython compile on the node, which takes
    far more RAM than running the compiled code: boards run .mpy.
    """
    for src in [*FIRMWARE.glob("*.py"), *ROOT.glob("sim/**/*.py")]:
        if src.name == "main.py" or (src.parent == FIRMWARE and src.name in NOT_ON_A_NODE):
            continue
        rel = src.relative_to(FIRMWARE if src.parent == FIRMWARE else ROOT)
        dst = lib / rel.with_suffix(".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([tool("mpy-cross"), "-o", str(dst), str(src)], check=True)


def _drain(line: PseudoTerminal, stop: threading.Event) -> None:
    """Read and drop what the node writes, as the gateway would take it off the line."""
    while not stop.is_set():
        select.select([line.master], [], [], 0.05)
        line.read()


def cycle_figures(
    sensors: list[str],
    cycles: int = 20,
    heapsize: int | None = None,
    lora: bool = False,
    mode: str = "heap",
) -> dict[str, float]:
    """Run `cycles` firmware cycles on the sim board; the node's uart line is drained.

    With heapsize, MicroPython gets a heap of that many bytes; {} means the
    cycles did not fit in it.
    """
    line = PseudoTerminal()
    hub: HubProcess | None = None
    stop = threading.Event()
    drain = threading.Thread(target=_drain, args=(line, stop), daemon=True)
    drain.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            flash = Path(tmp) / "flash"
            flash.mkdir()
            shutil.copy(ROOT / "boards" / "sim.json", flash / "board.json")
            config: dict[str, object] = {"node": 7, "sensors": sensors, "maintenance_s": 0}
            if lora:  # the sim radio: an SX1276 model, on an ether hub of its own, unheard
                config.update(transport="lora", lora={"sf": SF, "bw_khz": BW_KHZ, "cr": CR})
            (flash / "config.json").write_text(json.dumps(config))
            world = Path(tmp) / "world.json"
            world_cfg: dict[str, object] = {"link": line.path, "battery_v": 3.0}
            if lora:
                hub = HubProcess()
                world_cfg["radio"] = {"ether": hub.address, "name": "bench-node"}
            world.write_text(json.dumps(world_cfg))
            lib = Path(tmp) / "lib"
            compile_tree(lib)
            if lora:  # micropython-lib's driver, as `meteolink flash` installs it
                from tests.support.lora_drivers import InstallError, install

                try:
                    install(lib)
                except InstallError as e:
                    sys.exit(f"bench: {e}")
            heap = ["-X", f"heapsize={heapsize}"] if heapsize else []
            proc = subprocess.run(
                [
                    tool("micropython"),
                    *heap,
                    str(ROOT / "bench" / "mp_cycle.py"),
                    str(cycles),
                    mode,
                ],
                cwd=flash,
                env=dict(os.environ, MICROPYPATH=str(lib), METEOLINK_SIM=str(world)),
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
    finally:
        if hub is not None:
            hub.stop()
        stop.set()
        drain.join(1)
        line.close()
    if proc.returncode and heapsize and "MemoryError" in proc.stdout + proc.stderr:
        return {}
    if proc.returncode:
        sys.exit(f"bench: the firmware cycle failed:\n{proc.stdout}{proc.stderr}")
    return {k: float(v) for k, v in (line.split() for line in proc.stdout.splitlines())}


def smallest_heap(sensors: list[str], lora: bool = False) -> int:
    """The smallest MicroPython heap (to 1 KiB) in which 10 cycles run, GC on."""
    low, high = 8 * 1024, 1024 * 1024
    while high - low > 1024:
        mid = (low + high) // 2 // 1024 * 1024
        if cycle_figures(sensors, 10, heapsize=mid, lora=lora, mode="fit"):
            high = mid
        else:
            low = mid
    return high


# Battery life of a T/RH/P node: 2 x AA, every 10 minutes, LoRa SF9. Every input is
# printed with the figure, with its source or "assumed"; change them here.
CELLS = "2 x AA alkaline in series"
NOMINAL_MAH = 2500  # assumed: makers' typical AA alkaline figure at a few mA, to 0.8 V/cell
# The pack voltage below which the regulator no longer holds the ESP32's 3.3 V. 2 x AA
# give 3.2 V fresh, below a 3.3 V LDO's input (3.3 V + dropout): this design has a
# buck-boost converter, running down to 1.0 V per cell.
CUTOFF_V = 2.0  # assumed (a buck-boost converter with a 1.8-2.0 V minimum input)
USABLE_SHARE = 0.80  # assumed: of the nominal, what an alkaline cell gives above 1.0 V
MEAN_PACK_V = 2.5  # assumed: the pack's mean voltage between fresh and the cut-off
CONVERTER_EFFICIENCY = 0.85  # assumed, buck-boost at mA loads
V_OUT = 3.3
SELF_DISCHARGE = 0.03  # per year, alkaline (assumed)
INTERVAL_S = 600  # the firmware's default interval_s (firmware/node_config.py)
SF, BW_KHZ, CR = 9, 125, 5
# The chips' figures are tools/power.py's, the ones `meteolink plan` uses, with their sources.
_ESP32, _SX1276, _BME280 = power.MCUS["ESP32"], power.RADIOS["sx1276"], power.SENSORS["bme280"]
# ESP32 deep sleep, RTC timer (ESP32 datasheet: 10 µA) + SX1276 sleep (datasheet: 0.2 µA)
# + BME280 sleep (datasheet: 0.1 µA) + the converter's quiescent current and leakage
# (assumed: 1 µA); the battery divider is switched off while asleep.
I_SLEEP_UA = _ESP32.sleep_ua.value + _SX1276.sleep_ua.value + _BME280.idle_ua.value + 1
BOOT_MS = _ESP32.boot_ms.value  # assumed: ESP32 wake from deep sleep into main.py
I_BOOT_MA = _ESP32.active_ma.value  # assumed: as running the firmware
I_ACTIVE_MA = _ESP32.active_ma.value  # ESP32 at 160 MHz, radio off (datasheet: 27-44 mA)
# SX1276 PA_BOOST at +17 dBm (datasheet IDDT: 87 mA) + the ESP32 idling meanwhile (assumed 20 mA)
I_TX_MA = _SX1276.tx_ma.value + 20
I_CONVERT_MA = _ESP32.nap_ma.value  # ESP32 light sleep during the BME280's conversion
# assumed: bytecode on a 160 MHz Xtensa vs the unix port on x86-64 (docs/protocol.md: 50-100)
CPU_SLOWDOWN = 60
BME280_CONVERT_MS = _BME280.measure_ms  # forced mode, x1 oversampling (datasheet: 9.3 ms max)


def battery_life(cpu_us: float, frame_len: int) -> dict[str, float]:
    """The estimate, with tools/power.py's arithmetic (the same as `meteolink plan`'s)."""
    airtime_ms = airtime.time_on_air_us(frame_len, SF, BW_KHZ, CR) / 1000
    cpu_ms = cpu_us / 1000 * CPU_SLOWDOWN
    loads = [
        power.Load("boot", BOOT_MS, I_BOOT_MA),
        power.Load("firmware", cpu_ms, I_ACTIVE_MA),
        power.Load("measurement", BME280_CONVERT_MS, I_CONVERT_MA),
        power.Load("transmitting", airtime_ms, I_TX_MA),
    ]
    awake_ms = sum(load.ms for load in loads)
    load_ua = power.average_ua(loads, awake_ms, I_SLEEP_UA, INTERVAL_S)  # at 3.3 V
    # The converter draws from the pack what the load takes at 3.3 V, scaled by the
    # voltages and its losses.
    pack_ua = power.Supply("switching", MEAN_PACK_V, CONVERTER_EFFICIENCY).battery_ua(load_ua)
    usable_mah = NOMINAL_MAH * USABLE_SHARE
    return {
        "airtime_ms": airtime_ms,
        "cpu_ms": cpu_ms,
        "awake_ms": awake_ms,
        "load_ua": load_ua,
        "pack_ua": pack_ua,
        "usable_mah": usable_mah,
        "years": power.life_years(usable_mah, pack_ua, SELF_DISCHARGE),
    }


def main() -> None:
    sizes = {arch: mpy_sizes(arch) for arch in ("xtensawin", "armv6m")}
    x, a = sizes["xtensawin"], sizes["armv6m"]
    print("firmware bytecode (.mpy), xtensawin / armv6m:")
    for name in sorted(x):
        print(f"  {name:18} {x[name]:6,} / {a[name]:6,} B")
    trh = [n for n in TRH_NODE if n in x]
    print(
        f"  all files: {sum(x.values()):,} B; a LoRa T/RH/P node's set ({len(trh)} files): "
        f"{sum(x[n] for n in trh):,} B"
    )

    trh_fig = cycle_figures(["bme280", "battery"], lora=True)
    trh_fig["cpu_us"] = cycle_figures(["bme280", "battery"], lora=True, mode="time")["cpu_us"]
    aq_fig = cycle_figures(["bme280", "scd41", "pms5003", "battery"])
    aq_fig["cpu_us"] = cycle_figures(["bme280", "scd41", "pms5003", "battery"], mode="time")[
        "cpu_us"
    ]
    trh_fig["smallest"] = smallest_heap(["bme280", "battery"], lora=True)
    aq_fig["smallest"] = smallest_heap(["bme280", "scd41", "pms5003", "battery"])
    for label, fig in (
        (f"T/RH/P + battery over LoRa SF{SF}", trh_fig),
        (
            "T/RH/P + CO2 + PM + battery over UART; awake time includes the PM sensor's "
            "9600-baud exchanges, line time on a board too",
            aq_fig,
        ),
    ):
        print(f"firmware cycle on the sim board, MicroPython unix port ({label}):")
        print(
            f"  heap allocated per cycle by the firmware: {fig['heap']:.0f} B "
            f"(min {fig['heap_min']:.0f} B); by the emulated hardware: {fig['sim_heap']:.0f} B"
        )
        print(
            f"  smallest heap that runs 10 cycles (GC on, emulation inside it): "
            f"{fig['smallest'] / 1024:.0f} KiB; in use after a collection between cycles: "
            f"{fig['used'] / 1024:.1f} KiB"
        )
        print(
            f"  awake time per cycle without conversion waits (x86-64): {fig['cpu_us']:,.0f} µs "
            "(the emulated hardware's own time taken out)"
        )

    frame_len = len(
        frames.encode(7, 1, {"temperature": 21.5, "humidity": 45, "pressure": 1013, "battery": 3})
    )
    est = battery_life(trh_fig["cpu_us"], frame_len)
    for line in battery_lines(est, frame_len):
        print(line)


def battery_lines(est: dict[str, float], frame_len: int) -> list[str]:
    """The estimate, every input it rests on first, each with its source or "assumed"."""
    factor = V_OUT / (MEAN_PACK_V * CONVERTER_EFFICIENCY)
    return [
        f"battery life, T/RH/P + battery every {INTERVAL_S // 60} min over LoRa SF{SF}/{BW_KHZ}"
        " kHz, ESP32 + SX1276 module design; inputs (bench/firmware.py):",
        f"  cells:          {CELLS}, {NOMINAL_MAH} mAh nominal (assumed)",
        f"  regulator:      buck-boost to {V_OUT} V, cut-off {CUTOFF_V} V for the pack"
        f" ({CUTOFF_V / 2:.1f} V/cell) (assumed; a 3.3 V LDO would need more than 2 x AA's"
        " 3.2 V fresh)",
        f"  usable share:   {USABLE_SHARE:.0%} of nominal above the cut-off ="
        f" {est['usable_mah']:.0f} mAh (assumed)",
        f"  conversion:     {V_OUT} V from a {MEAN_PACK_V} V mean pack at"
        f" {CONVERTER_EFFICIENCY:.0%} efficiency: x{factor:.2f} the load's current (assumed)",
        f"  interval:       {INTERVAL_S} s (the firmware's default interval_s)",
        f"  boot per wake:  {BOOT_MS} ms at {I_BOOT_MA} mA (assumed; not measured on a board)",
        f"  firmware:       {est['cpu_ms']:.1f} ms at {I_ACTIVE_MA} mA (x86 time measured above"
        f" x {CPU_SLOWDOWN}, assumed; current from the ESP32 datasheet)",
        f"  measurement:    {BME280_CONVERT_MS} ms at {I_CONVERT_MA} mA (BME280 datasheet time;"
        " light-sleep current assumed)",
        f"  radio:          {frame_len} B frame, {est['airtime_ms']:.1f} ms airtime at {I_TX_MA} mA"
        " (SX1276 datasheet 87 mA at +17 dBm + ESP32 idle 20 mA, assumed)",
        f"  sleep:          {I_SLEEP_UA:.1f} µA (ESP32 10, SX1276 0.2, BME280 0.1 µA: datasheets;"
        " converter and leakage 1 µA: assumed)",
        f"  self-discharge: {SELF_DISCHARGE:.0%} a year (assumed)",
        f"  -> awake {est['awake_ms']:.0f} ms per cycle; average {est['load_ua']:.1f} µA at"
        f" {V_OUT} V, {est['pack_ua']:.1f} µA from the pack -> about {est['years']:.1f} years",
        "  not this: dev boards (LILYGO, Heltec) draw 1-10 mA asleep through USB-serial chips"
        " and LDOs, which alone cuts this to weeks-months",
    ]


if __name__ == "__main__":
    main()
