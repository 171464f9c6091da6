# Runs under the MicroPython unix port (tests/firmware/test_sgp40.py): drives
# the real SGP40 driver and VOC Index algorithm against the datasheet's
# argument words and the emulated SGP40, one JSON line per case.
import gc
from binascii import unhexlify

import sgp40
from voc_index import VocIndex

import sim.clock
from sim.i2c import I2C
from sim.sgp40 import SGP40
from tests.firmware.mp_support import ReplayBus, emit, error_of

SERIAL_REPLY = unhexlify("0000810b1ec74f2acc")  # words 0x0000 0x0B1E 0x4F2A, with CRCs
SRAW_REPLY = unhexlify("753008")  # 30000 ticks


def cycle(d):
    sim.clock.skip(d.start())  # the node's nap
    d.read()


# The measure command's argument words: datasheet table 10.
log = []
bus = ReplayBus({0x3682: SERIAL_REPLY, 0x260F: SRAW_REPLY}, log)
d = sgp40.SGP40(bus)
serial = d.serial
d.start()
d.set_compensation(2500, 5000)  # 25 °C, 50 %RH: the defaults
d.start()
d.set_compensation(-4500, 0)  # the minimum
d.start()
d.set_compensation(13000, 10000)  # the maximum
d.start()
d.set_compensation(-6000, 12000)  # beyond: clamped
d.start()
emit("arguments", serial=serial, writes=log)

# No allocation in start()/read()/stop() without an algorithm, heating or not.
bus.log = None
d.read()
gc.collect()
gc.disable()
before = gc.mem_alloc()
for _ in range(3):
    d.start()
    d.read()
    d.start()
    d.read()
    d.stop()
after = gc.mem_alloc()
control = bytearray(16)  # the meter's positive control: this does allocate
after_control = gc.mem_alloc()
gc.enable()
emit("alloc", bytes=after - before, control=after_control - after)

# The emulated chip checks the driver's argument CRCs and sees its words.
chip = SGP40()
d = sgp40.SGP40(I2C(chip))
d.set_compensation(2150, 4512)
cycle(d)
emit("compensation", rh=chip.rh_ticks, t=chip.t_ticks, bad_crc=chip.bad_crc, sraw=d.sraw)

# A wrong argument CRC, sent by hand: the emulator refuses it.
raw = I2C(SGP40())
err = error_of(lambda: raw.writeto(0x59, unhexlify("260f8000a3666693")))
emit("bad_argument_crc", error=err)

# The hotplate: 170 ms and a warm-up measurement when it was off, 30 ms when on.
chip = SGP40(sraw=30000)
d = sgp40.SGP40(I2C(chip))
cold_ms = d.start()
sim.clock.skip(cold_ms)
d.read()
first = d.sraw
hot_ms = d.start()
sim.clock.skip(hot_ms)
d.read()
second = d.sraw
d.stop()
heater_after_stop = chip.heater
again_ms = d.start()
sim.clock.skip(again_ms)
d.read()
# What a driver without the warm-up would read:
raw = I2C(chip)
raw.writeto(0x59, unhexlify("3615"))
sim.clock.skip(1)
raw.writeto(0x59, unhexlify("260f8000a2666693"))
sim.clock.skip(30)
naive = raw.readfrom(0x59, 3)
emit(
    "heater",
    cold_ms=cold_ms,
    hot_ms=hot_ms,
    again_ms=again_ms,
    first=first,
    second=second,
    third=d.sraw,
    heater_after_stop=heater_after_stop,
    naive=naive[0] << 8 | naive[1],
)

# The emulator's VOC model: more VOC, lower SRAW. (The bare commands above
# went behind the driver's back: stop() tells it the heater is off.)
d.stop()
chip.voc = 1.0
sim.clock.skip(d.start())
d.read()
emit("voc_model", sraw=d.sraw)

# A corrupted reply: OSError, and sraw stays the last good one.
chip.voc = 0.0
chip.corrupt = True
sim.clock.skip(d.start())
err = error_of(d.read)
chip.corrupt = False
emit("corrupt", error=err, sraw=d.sraw)

# Self-test: passed, failed, corrupted.
ok = error_of(d.self_test)
chip.self_test_ok = False
failed = error_of(d.self_test)
chip.self_test_ok = True
chip.corrupt = True
corrupted = error_of(d.self_test)
chip.corrupt = False
emit("self_test", ok=ok, failed=failed, corrupted=corrupted)

# Silent mid-life, absent from the start.
chip.silent = True
emit("silent", start=error_of(d.start), read=error_of(d.read), stop=error_of(d.stop))
emit("absent", error=error_of(lambda: sgp40.SGP40(I2C())))

# The VOC Index algorithm at 1 s: blackout, then settling on 100 for a
# constant SRAW; above 100 when SRAW drops (more VOC), below when it rises.
v = VocIndex(1)
steady = [v.process(30000) for _ in range(7200)]
state = v.save()
drop = [v.process(29000) for _ in range(300)]
v = VocIndex(1, state)
rise = [v.process(31000) for _ in range(300)]
emit(
    "algorithm",
    blackout=steady[:46],
    after_blackout=steady[46],
    at_10_min=steady[600],
    at_2_h=steady[-1],
    drop=drop[-1],
    rise=rise[-1],
)

# Save/restore: a run interrupted by "deep sleeps" (a fresh object from the
# saved bytes, every 500 samples) gives the same outputs as an uninterrupted
# one, through the blackout, the start-up phase and an event.
seq = [30000 + (i * 37) % 61 - (900 if 2000 < i < 2600 else 0) for i in range(4000)]
a = VocIndex(1)
whole = [a.process(s) for s in seq]
b = VocIndex(1)
pieces = []
sizes = []
for i, s in enumerate(seq):
    if i % 500 == 0:
        saved = b.save()
        sizes.append(len(saved))
        b = VocIndex(1, saved)
    pieces.append(b.process(s))
emit(
    "save_restore", same=whole == pieces, size=sizes[0], tail=whole[-5:], peak=max(whole[2000:2700])
)

# 10 s sampling; intervals the algorithm is not made for; foreign state.
v = VocIndex(10)
slow = [v.process(30000) for _ in range(720)]
emit(
    "interval",
    blackout10=slow[:5],
    after10=slow[5],
    at_2_h_10=slow[-1],
    too_slow=error_of(lambda: VocIndex(60)),
    zero=error_of(lambda: VocIndex(0)),
    other_interval=error_of(lambda: VocIndex(1, v.save())),
    garbage=error_of(lambda: VocIndex(1, b"\x00" * 10)),
)

# Driver and algorithm together, the heater kept on (the 1 s mode).
chip = SGP40(sraw=30000)
d = sgp40.SGP40(I2C(chip), algorithm=VocIndex(1))
indices = []
for _ in range(120):
    cycle(d)
    indices.append(d.voc_index)
emit("end_to_end", first=indices[:46], later=indices[-1], sraw=d.sraw)
