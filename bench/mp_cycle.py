# Runs under the MicroPython unix port (bench/firmware.py), in a sim node's
# flash directory: whole firmware cycles in one process, measured.
#   heap: bytes allocated during one cycle (gc.mem_alloc delta, GC off), less
#         the emulated hardware's and this script's own (see counted())
#   cpu_us: real time of the cycle; the sim skips every nap (conversion
#           waits, the PM warm-up), so this is the awake time without them
#   used: heap in use after a collection, between cycles
import gc
import sys
import time

import node

import sim.adc
import sim.i2c
import sim.uart
from sim import port as sim_port

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20
# gc.mem_alloc() walks the whole heap: timing and heap are measured in
# separate runs, so that the one does not slow the other down.
TIMING = len(sys.argv) > 2 and sys.argv[2] == "time"
# "fit": only whether the cycles run in the heap given (bench/firmware.py's
# smallest_heap): no calibration below, which would take heap of its own.
FIT = len(sys.argv) > 2 and sys.argv[2] == "fit"

port = node.load_port()

# Allocations made inside the emulated hardware (buses, chips, the RTC
# memory file) are counted apart: a real bus allocates little or nothing.
sim_heap = [0]
sim_us = [0]
depth = [0]
# The wrapper below takes *args and **kw: each call to it allocates their
# tuple and dict before it can look at the heap, in the firmware's time. Its
# outermost calls are counted by shape (positional count, keyword count) and
# what a call of each shape costs is measured once (call_cost), so that the
# firmware's heap figure leaves the bench's own allocations out.
SHAPES = 64
calls = [0] * SHAPES


def shape(nargs, nkw):
    return min(nargs, 15) * 4 + min(nkw, 3)


def counted(fn):
    def wrapper(*args, **kw):
        if not depth[0]:
            calls[shape(len(args), len(kw))] += 1
        depth[0] += 1
        before = 0 if TIMING else gc.mem_alloc()
        t = time.ticks_us()
        try:
            return fn(*args, **kw)
        finally:
            depth[0] -= 1
            if not depth[0]:  # the outermost emulated call counts, once
                sim_us[0] += time.ticks_diff(time.ticks_us(), t)
                if not TIMING:
                    sim_heap[0] += gc.mem_alloc() - before

    return wrapper


def count_class(cls):
    for name in dir(cls):
        if not name.startswith("__"):
            attr = getattr(cls, name)
            if callable(attr) and not isinstance(attr, type):
                setattr(cls, name, counted(attr))


count_class(sim.i2c.I2C)
count_class(sim.uart.UART)
count_class(sim_port.Link)
count_class(sim.adc.ADC)
try:  # the radio: a register model behind the sim board's SPI and pins
    import sim.ether
    import sim.machine
    import sim.sx127x

    for cls in (sim.sx127x.SX127x, sim.machine.Pin, sim.machine.SPI, sim.ether.Antenna):
        count_class(cls)
    # micropython-lib's driver waits out each packet's time on air: the
    # radio's time, not the CPU's, as a nap is.
    _start_tx = sim.sx127x.SX127x._start_tx

    def start_tx(chip):
        _start_tx(chip)
        sim_us[0] += chip.airtime_us

    sim.sx127x.SX127x._start_tx = start_tx
except ImportError:
    pass
sim_port.save = counted(sim_port.save)
sim_port.nap = counted(sim_port.nap)


def call_cost():
    """Bytes one outermost call of each shape allocates outside what the wrapper counts."""
    probe = counted(lambda *a, **k: None)
    cost = [0] * SHAPES
    if TIMING or FIT:
        return cost
    for nargs in range(7):
        for nkw in range(3):
            args = ", ".join(str(i) for i in range(nargs))
            kws = ", ".join("k%d=%d" % (i, i) for i in range(nkw))
            call = "probe(%s)" % ", ".join(p for p in (args, kws) if p)
            loop = compile(
                "gc.collect()\ngc.disable()\nsim_heap[0] = 0\nb = gc.mem_alloc()\n"
                "for _ in range(100):\n    %s\nused = gc.mem_alloc() - b - sim_heap[0]\n"
                "gc.enable()\n" % call,
                "<calibration>",
                "exec",
            )
            scope = {"gc": gc, "probe": probe, "sim_heap": sim_heap}
            exec(loop, scope)
            cost[shape(nargs, nkw)] = scope["used"] // 100
    sim_heap[0] = 0
    return cost


cost = call_cost()
cfg = node.configuration.load()
n = node.Node(port, node.load_board(), cfg)
heaps = []
sims = []
times = []
for i in range(N + 3):
    gc.collect()
    sim_heap[0] = 0
    sim_us[0] = 0
    for j in range(SHAPES):
        calls[j] = 0
    before = 0 if TIMING else gc.mem_alloc()
    gc.disable()
    t0 = time.ticks_us()
    sleep = n.cycle()
    dt = time.ticks_diff(time.ticks_us(), t0)
    after = 0 if TIMING else gc.mem_alloc()
    gc.enable()
    port.nap(sleep)
    if i >= 3:  # after warm-up: drivers opened, buffers made
        bench = sum(calls[j] * cost[j] for j in range(SHAPES))
        heaps.append(after - before - sim_heap[0] - bench)
        sims.append(sim_heap[0])
        times.append(dt - sim_us[0])
gc.collect()
times.sort()
print("heap", max(heaps))
print("heap_min", min(heaps))
print("sim_heap", max(sims))
print("cpu_us", times[len(times) // 2])
print("used", gc.mem_alloc())
print("seq", n.counter.seq)
