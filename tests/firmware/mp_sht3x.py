# Runs under the MicroPython unix port (tests/firmware/test_sht3x.py): drives
# the firmware's SHT3x driver against the emulated chip (sim/sht3x.py) and
# prints one JSON line per case, for pytest to judge.

import sht3x

import sim.clock
import sim.sht3x
from sim.i2c import I2C
from tests.firmware.mp_support import ReplayBus, allocated, emit, error_of, measure

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
emit("conversions", got=got)

emit("status", got=sht3x.SHT3x(I2C(sim.sht3x.SHT3x())).status)

conditions = ((-30.0, 95.0), (21.5, 45.0), (40.0, 10.0), (-40.0, 0.0), (125.0, 100.0))
for repeatability in (sht3x.LOW, sht3x.MEDIUM, sht3x.HIGH):
    for temperature, humidity in conditions:
        chip = sim.sht3x.SHT3x(temperature=temperature, humidity=humidity)
        d = sht3x.SHT3x(I2C(chip), repeatability=repeatability)
        ms = d.start()
        sim.clock.skip(ms)
        d.read()
        emit(
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
emit("corrupt", error=error_of(d.read), kept=[d.temperature, d.humidity] == before)
emit("corrupt_status", error=error_of(lambda: sht3x.SHT3x(I2C(chip))))

chip = sim.sht3x.SHT3x()
d = sht3x.SHT3x(I2C(chip))
d.start()
early = error_of(d.read)  # at once: the chip is still measuring and NACKs
sim.clock.skip(16)
d.read()
emit("early", error=early, then=[d.temperature, d.humidity], measurements=chip.measurements)
emit("second_read", error=error_of(d.read))  # the reply was read once already

chip = sim.sht3x.SHT3x()
d = sht3x.SHT3x(I2C(chip))
emit("no_start", error=error_of(d.read))
d.start()
chip.silent = True  # lost power or hung between start() and read()
sim.clock.skip(16)
emit("silent_read", error=error_of(d.read))
emit("silent_start", error=error_of(d.start))

emit("absent", error=error_of(lambda: sht3x.SHT3x(I2C())))
emit("other_address", error=error_of(lambda: sht3x.SHT3x(I2C(sim.sht3x.SHT3x()), 0x45)))
emit(
    "bad_repeatability",
    error=error_of(lambda: sht3x.SHT3x(I2C(sim.sht3x.SHT3x()), repeatability=3)),
)


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
emit("alloc", read=reads, values=[d.temperature, d.humidity])
