# Runs under the MicroPython unix port (tests/firmware/test_sensirion_rht.py):
# drives the firmware's SHT3x or SHT4x driver (argv[1]: sht3x or sht4x, both on
# sensirion_rht.py) against its emulated chip (sim/sht3x.py, sim/sht4x.py) and
# prints one JSON line per case, for pytest to judge.
import sys

import sim.clock
from sim.i2c import I2C
from tests.firmware.mp_support import ReplayBus, allocated, emit, error_of, measure

# kind: (class, the constructor's level keyword, the identification command and
# the attribute it fills, the chip's keywords for a known identity, the
# high-level measurement command)
CHIPS = {
    "sht4x": ("SHT4x", "precision", b"\x89", "serial", {"serial": 0x8BADF00D}, b"\xfd"),
    "sht3x": ("SHT3x", "repeatability", b"\xf3\x2d", "status", {}, b"\x24\x00"),
}
kind = sys.argv[1]
name, level_keyword, ident_command, ident_attribute, ident_chip, measure_command = CHIPS[kind]
driver = __import__(kind)
Driver = getattr(driver, name)
Chip = getattr(__import__("sim." + kind, None, None, [name]), name)
LATE = 20  # ms: past every measurement's duration, on either chip


def command(b):
    return b[0] if len(b) == 1 else b[0] << 8 | b[1]


# Raw words straight through the driver: pytest computes what they must give.
chip = Chip()
d = Driver(I2C(chip))
special = [0, 1, 2, 3145, 3146, 3147, 13107, 26214, 32767, 32768]
special += [55573, 55574, 55575, 55576, 65533, 65534, 65535]
pairs = [(t, t) for t in special] + [(t, 65535 - t) for t in range(0, 65536, 251)]
got = []
for pair in pairs:
    chip.ticks = pair
    measure(d)
    got.append([pair[0], pair[1], d.temperature, d.humidity])
emit("conversions", got=got)

emit("identity", got=getattr(Driver(I2C(Chip(**ident_chip))), ident_attribute))

conditions = ((-30.0, 95.0), (21.5, 45.0), (40.0, 10.0), (-40.0, 0.0), (125.0, 100.0))
for level in (driver.LOW, driver.MEDIUM, driver.HIGH):
    for temperature, humidity in conditions:
        chip = Chip(temperature=temperature, humidity=humidity)
        d = Driver(I2C(chip), **{level_keyword: level})
        ms = d.start()
        sim.clock.skip(ms)
        d.read()
        emit(
            "condition",
            level=level,
            ms=ms,
            want=[temperature, humidity],
            got=[d.temperature, d.humidity],
        )

chip = Chip()
d = Driver(I2C(chip))
measure(d)
before = [d.temperature, d.humidity]
chip.corrupt = True
d.start()
sim.clock.skip(LATE)
emit("corrupt", error=error_of(d.read), kept=[d.temperature, d.humidity] == before)
emit("corrupt_identity", error=error_of(lambda: Driver(I2C(chip))))

chip = Chip()
d = Driver(I2C(chip))
d.start()
early = error_of(d.read)  # at once: the chip is still measuring and NACKs
sim.clock.skip(LATE)
d.read()
emit("early", error=early, then=[d.temperature, d.humidity], measurements=chip.measurements)
emit("second_read", error=error_of(d.read))  # the reply was read once already

chip = Chip()
d = Driver(I2C(chip))
emit("no_start", error=error_of(d.read))
d.start()
chip.silent = True  # lost power or hung between start() and read()
sim.clock.skip(LATE)
emit("silent_read", error=error_of(d.read))
emit("silent_start", error=error_of(d.start))

emit("absent", error=error_of(lambda: Driver(I2C())))
emit("other_address", error=error_of(lambda: Driver(I2C(Chip()), 0x45)))
emit("bad_level", error=error_of(lambda: Driver(I2C(Chip()), **{level_keyword: 3})))

# Allocation of read(), on a bus that itself allocates nothing: it replays the
# emulated chip's replies to the identification and measurement commands (the
# sim bus makes bytes objects).
chip = Chip(temperature=-12.3, humidity=87.6)
chip.write(ident_command)
ident = chip.read(6)
chip.write(measure_command)
sim.clock.skip(LATE)
replies = {command(ident_command): ident, command(measure_command): chip.read(6)}
d = Driver(ReplayBus(replies))
d.start()
d.read()  # warm-up: the attributes exist from here on
reads = []
for _ in range(3):
    d.start()
    reads.append(allocated(d.read))
emit("alloc", read=reads, values=[d.temperature, d.humidity])
