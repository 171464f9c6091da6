# Runs under the MicroPython unix port (bench/firmware.py), in a sim node's
# flash directory: whole firmware cycles in one process, measured.
#   heap: bytes allocated during one cycle (gc.mem_alloc delta, GC off)
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

port = node.load_port()

# Allocations made inside the emulated hardware (buses, chips, the RTC
# memory file) are counted apart: a real bus allocates little or nothing.
sim_heap = [0]
sim_us = [0]
depth = [0]


def counted(fn):
    def wrapper(*args, **kw):
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
try:
    import sim.lora

    count_class(sim.lora.SX1276)
except ImportError:
    pass
sim_port.save = counted(sim_port.save)
sim_port.nap = counted(sim_port.nap)
cfg = node.configuration.load()
n = node.Node(port, node.load_board(), cfg)
heaps = []
sims = []
times = []
for i in range(N + 3):
    gc.collect()
    sim_heap[0] = 0
    sim_us[0] = 0
    before = 0 if TIMING else gc.mem_alloc()
    gc.disable()
    t0 = time.ticks_us()
    sleep = n.cycle()
    dt = time.ticks_diff(time.ticks_us(), t0)
    after = 0 if TIMING else gc.mem_alloc()
    gc.enable()
    port.nap(sleep)
    if i >= 3:  # after warm-up: drivers opened, buffers made
        heaps.append(after - before - sim_heap[0])
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
