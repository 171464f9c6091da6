# Runs under the MicroPython unix port (tests/firmware/test_sht3x.py): drives
# the firmware's SHT3x driver against the emulated chip (sim/sht3x.py) and
# prints one JSON line per case, for pytest to judge.
import gc
import json

import sht3x

import sim.clock
import sim.sht3x
from sim.i2c import I2C
from tests.firmware.mp_support import ReplayBus, error_of


def out(case, **kw):
    kw["case"] = case
    print(json.dumps(kw))


def measure(d):
    sim.clock.skip(d.start())  # the node naps start()'s time
    d.read()


# Raw words straight through the driver: pytest computes what they must give.
chip = sim.sht3x.SHT3x()
d = sht3x.SHT3x(I2C(chip))
special = [0, 1, 2, 13107, 26214, 32767, 32768, 65533, 65534, 65535]
pairs = [(t, t) for t in special] + [(t, 65535 - t) for t in range(0, 65536, 251)]
got = []
for pair in pairs:
    chip.ticks = pair
    measure(d)
    got.append([pair[0], pair[1], d.temperature, d.humidity])
out("conversions", got=got)

out("status", got=sht3x.SHT3x(I2C(sim.sht3x.SHT3x())).status)

conditions = ((-30.0, 95.0), (21.5, 45.0), (40.0, 10.0), (-40.0, 0.0), (125.0, 100.0))
for repeatability in (sht3x.LOW, sht3x.MEDIUM, sht3x.HIGH):
    for temperature, humidity in conditions:
        chip = sim.sht3x.SHT3x(temperature=temperature, humidity=humidity)
        d = sht3x.SHT3x(I2C(chip), repeatability=repeatability)
        ms = d.start()
        sim.clock.skip(ms)
        d.read()
        out(
            "condition",
            repeatability=repeatability,
            ms=ms,
            want=[temperature, humidity],
            got=[d.temperature, d.humidity],
        )

chip = sim.sht3x.SHT3x()
d = sht3x.SHT3x(I2C(chip))
measure(d)
before = [d.temperature, d.humidity]
chip.corrupt = True
d.start()
sim.clock.skip(16)
out("corrupt", error=error_of(d.read), kept=[d.temperature, d.humidity] == before)
out("corrupt_status", error=error_of(lambda: sht3x.SHT3x(I2C(chip))))

chip = sim.sht3x.SHT3x()
d = sht3x.SHT3x(I2C(chip))
d.start()
early = error_of(d.read)  # at once: the chip is still measuring and NACKs
sim.clock.skip(16)
d.read()
out("early", error=early, then=[d.temperature, d.humidity], measurements=chip.measurements)
out("second_read", error=error_of(d.read))  # the reply was read once already

chip = sim.sht3x.SHT3x()
d = sht3x.SHT3x(I2C(chip))
out("no_start", error=error_of(d.read))
d.start()
chip.silent = True  # lost power or hung between start() and read()
sim.clock.skip(16)
out("silent_read", error=error_of(d.read))
out("silent_start", error=error_of(d.start))

out("absent", error=error_of(lambda: sht3x.SHT3x(I2C())))
out("other_address", error=error_of(lambda: sht3x.SHT3x(I2C(sim.sht3x.SHT3x()), 0x45)))
out(
    "bad_repeatability",
    error=error_of(lambda: sht3x.SHT3x(I2C(sim.sht3x.SHT3x()), repeatability=3)),
)


def allocated(fn):
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    fn()
    used = gc.mem_alloc() - before
    gc.enable()
    return used


# Allocation of read(), on a bus that itself allocates nothing: it replays the
# emulated chip's replies to the status and measurement commands.
chip = sim.sht3x.SHT3x(temperature=-12.3, humidity=87.6)
chip.write(b"\xf3\x2d")
status = chip.read(3)
chip.write(b"\x24\x00")
sim.clock.skip(16)
d = sht3x.SHT3x(ReplayBus({0xF32D: status, 0x2400: chip.read(6)}))
d.start()
d.read()  # warm-up: the attributes exist from here on
reads = []
for _ in range(3):
    d.start()
    reads.append(allocated(d.read))
out("alloc", read=reads, values=[d.temperature, d.humidity])
