# Runs under the MicroPython unix port (tests/firmware/test_scd4x.py): drives
# the real SCD4x driver against the datasheet's example bytes and against the
# emulated SCD41, printing one JSON line per case for pytest to judge.
import gc
from binascii import unhexlify

import scd4x
import sensirion

import sim.clock
from sim.i2c import I2C
from sim.scd4x import ASLEEP, IDLE, SCD41
from tests.firmware.mp_support import ReplayBus, emit, error_of

# The datasheet's examples (SCD4x v1.3): get_serial_number (section 3.9.2)
# and read_measurement, 500 ppm, 25 °C, 37 %RH (section 3.5.2).
SERIAL_REPLY = unhexlify("f896319f07c23bbe89")
MEASUREMENT_REPLY = unhexlify("01f4336667a25eb93c")
READY_REPLY = unhexlify("800604")  # 0x8006: the 11 low bits not all 0


def attrs(d):
    return [d.co2, d.temperature, d.humidity]


def cycle(d, pressure=None):
    if pressure is not None:
        d.set_pressure(pressure)
    ms = d.start()
    sim.clock.skip(ms)  # the node's nap
    d.read()
    return ms


# CRC: the datasheets' check value, and the example replies' CRCs.
emit(
    "crc",
    beef=sensirion.crc8(b"\xbe\xef"),
    serial_ok=error_of(lambda: sensirion.check_words(SERIAL_REPLY, 3, "SCD4x")),
    measurement_ok=error_of(lambda: sensirion.check_words(MEASUREMENT_REPLY, 3, "SCD4x")),
)

# The datasheet's example bytes through the driver.
log = []
bus = ReplayBus({0x3682: SERIAL_REPLY, 0xE4B8: READY_REPLY, 0xEC05: MEASUREMENT_REPLY}, log)
d = scd4x.SCD4x(bus, cold=True)
d.set_pressure(9870)  # 987.0 hPa: the datasheet's 98 700 Pa
ms = d.start()
d.read()
emit("datasheet", serial=d.serial, values=attrs(d), start_ms=ms, writes=log)
log2 = []
bus.log = log2
scd4x.SCD4x(bus)
emit("warm_start", writes=log2)

# Zero allocation in read() (and the rest of the hot path) after a warm-up.
bus.log = None
d.read()
gc.collect()
gc.disable()
before = gc.mem_alloc()
for _ in range(3):
    d.set_pressure(10132)
    d.start()
    d.read()
after = gc.mem_alloc()
control = bytearray(16)  # the meter's positive control: this does allocate
after_control = gc.mem_alloc()
gc.enable()
emit("alloc", bytes=after - before, control=after_control - after)

# Round trip through the emulated SCD41 at several levels.
chip = SCD41()
d = scd4x.SCD4x(I2C(chip))
cases = []
for co2, t, rh in ((400, 20.0, 50.0), (415, -10.0, 90.0), (1000, 0.0, 0.0), (2500, 21.5, 45.12)):
    chip.co2, chip.temperature, chip.humidity = co2, t, rh
    cycle(d, 10132)
    cases.append([co2, round(t * 100), round(rh * 100), d.co2, d.temperature, d.humidity])
for co2 in (5000, 40000):
    chip.co2 = co2
    cycle(d)
    cases.append([co2, None, None, d.co2, None, None])
emit("round_trip", cases=cases, pressure=chip.ambient_pressure, bad_crc=chip.bad_crc)

# A corrupted reply: OSError, and the last good values stay.
chip.co2 = 777
d.start()
sim.clock.skip(5000)
chip.corrupt = True
err = error_of(d.read)
chip.corrupt = False
emit("corrupt", error=err, co2=d.co2)

# read() too early: the chip NACKs while it measures. read() without start():
# the chip answers "not ready".
d.start()
err_early = error_of(d.read)
sim.clock.skip(5000)
d.read()
err_no_start = error_of(d.read)
emit("not_ready", early=err_early, no_start=err_no_start, co2=d.co2)

# A wrong argument CRC is refused by the emulator (the driver's are checked
# above: bad_crc stayed 0).
raw = I2C(SCD41())
emit("bad_argument_crc", error=error_of(lambda: raw.writeto(0x62, unhexlify("e00003db43"))))

# The chip stops answering mid-life.
chip.silent = True
emit(
    "silent",
    start=error_of(d.start),
    read=error_of(d.read),
    pressure=error_of(lambda: d.set_pressure(10132)),
)

# No chip at all.
emit("absent", error=error_of(lambda: scd4x.SCD4x(I2C())))

# A chip left in periodic mode ignores get_serial_number; the driver stops
# it first and works.
left = SCD41(periodic=True)
bus = I2C(left)
bus.writeto(0x62, b"\x36\x82")
ignored = error_of(lambda: bus.readfrom(0x62, 9))
# On a wake from deep sleep the driver trusts the chip to be idle (it left it
# so) and does not spend 530 ms making sure; after a cold boot it does.
warm = error_of(lambda: scd4x.SCD4x(bus))
d = scd4x.SCD4x(bus, cold=True)
mode = left.mode
left.co2 = 650
cycle(d)
emit("periodic_left", ignored=ignored, warm=warm, mode=mode, co2=d.co2)

# power_down: stop() puts the chip to sleep, the next wake's driver wakes it
# and flags the first reading for discarding.
chip = SCD41(co2=500)
d = scd4x.SCD4x(I2C(chip), power_down=True)
first = d.discard
cycle(d)
after_read = d.discard
d.stop()
slept = chip.mode
d = scd4x.SCD4x(I2C(chip), power_down=True)  # the next wake
emit(
    "power_down",
    first=first,
    after_read=after_read,
    slept=slept == ASLEEP,
    woke=chip.mode == IDLE,
    discard=d.discard,
    default=scd4x.SCD4x(I2C(SCD41())).discard,
    cold=scd4x.SCD4x(I2C(SCD41()), cold=True).discard,
)
