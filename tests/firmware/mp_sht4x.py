# Runs under the MicroPython unix port (tests/firmware/test_sht4x.py): drives
# the firmware's SHT4x driver against the emulated chip (sim/sht4x.py) and
# prints one JSON line per case, for pytest to judge.

import sht4x

import sim.clock
import sim.sht4x
from sim.i2c import I2C
from tests.firmware.mp_support import ReplayBus, allocated, emit, error_of, measure

# Raw words straight through the driver: pytest computes what they must give.
chip = sim.sht4x.SHT4x()
d = sht4x.SHT4x(I2C(chip))
special = [0, 1, 2, 3145, 3146, 3147, 13107, 26214, 32768, 55573, 55574, 55575, 55576]
special += [65533, 65534, 65535]
pairs = [(t, t) for t in special] + [(t, 65535 - t) for t in range(0, 65536, 251)]
got = []
for pair in pairs:
    chip.ticks = pair
    measure(d)
    got.append([pair[0], pair[1], d.temperature, d.humidity])
emit("conversions", got=got)

chip = sim.sht4x.SHT4x(serial=0x8BADF00D)
emit("serial", got=sht4x.SHT4x(I2C(chip)).serial, want=chip.serial)

conditions = ((-30.0, 95.0), (21.5, 45.0), (40.0, 10.0), (-40.0, 0.0), (125.0, 100.0))
for precision in (sht4x.LOW, sht4x.MEDIUM, sht4x.HIGH):
    for temperature, humidity in conditions:
        chip = sim.sht4x.SHT4x(temperature=temperature, humidity=humidity)
        d = sht4x.SHT4x(I2C(chip), precision=precision)
        ms = d.start()
        sim.clock.skip(ms)
        d.read()
        emit(
            "condition",
            precision=precision,
            ms=ms,
            want=[temperature, humidity],
            got=[d.temperature, d.humidity],
        )

chip = sim.sht4x.SHT4x()
d = sht4x.SHT4x(I2C(chip))
measure(d)
before = [d.temperature, d.humidity]
chip.corrupt = True
d.start()
sim.clock.skip(9)
emit("corrupt", error=error_of(d.read), kept=[d.temperature, d.humidity] == before)
emit("corrupt_serial", error=error_of(lambda: sht4x.SHT4x(I2C(chip))))

chip = sim.sht4x.SHT4x()
d = sht4x.SHT4x(I2C(chip))
d.start()
early = error_of(d.read)  # at once: the chip is still measuring and NACKs
sim.clock.skip(9)
d.read()
emit("early", error=early, then=[d.temperature, d.humidity], measurements=chip.measurements)
emit("second_read", error=error_of(d.read))  # the reply was read once already

chip = sim.sht4x.SHT4x()
d = sht4x.SHT4x(I2C(chip))
emit("no_start", error=error_of(d.read))
d.start()
chip.silent = True  # lost power or hung between start() and read()
sim.clock.skip(9)
emit("silent_read", error=error_of(d.read))
emit("silent_start", error=error_of(d.start))

emit("absent", error=error_of(lambda: sht4x.SHT4x(I2C())))
emit("other_address", error=error_of(lambda: sht4x.SHT4x(I2C(sim.sht4x.SHT4x()), 0x45)))
emit("bad_precision", error=error_of(lambda: sht4x.SHT4x(I2C(sim.sht4x.SHT4x()), precision=3)))


# Allocation of read(), on a bus that itself allocates nothing: it replays the
# emulated chip's replies to the serial number and measurement commands (the
# sim bus makes bytes objects).
chip = sim.sht4x.SHT4x(temperature=-12.3, humidity=87.6)
chip.write(b"\x89")
serial = chip.read(6)
chip.write(b"\xfd")
sim.clock.skip(9)
d = sht4x.SHT4x(ReplayBus({0x89: serial, 0xFD: chip.read(6)}))
d.start()
d.read()  # warm-up: the attributes exist from here on
reads = []
for _ in range(3):
    d.start()
    reads.append(allocated(d.read))
emit("alloc", read=reads, values=[d.temperature, d.humidity])
