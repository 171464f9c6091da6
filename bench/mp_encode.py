# Runs under the MicroPython unix port (bench/__main__.py): heap allocated by
# the node's encode path per frame, after warm-up, and the CRC's cost.
import binascii
import gc
import time

import frames
import framing

N = 1000
KEY = bytes(range(16))
RAW = (
    (frames.TEMPERATURE, 2153),
    (frames.HUMIDITY, 4520),
    (frames.PRESSURE, 10132),
    (frames.PM1, 42),
    (frames.PM2_5, 68),
    (frames.PM10, 115),
    (frames.CO2, 432),
    (frames.VOC_INDEX, 96),
    (frames.BATTERY, 3912),
)
VALUES = (21.53, 45.2, 1013.2, 4.2, 6.8, 11.5, 432, 96, 3.912)


def cycle_raw(enc, wire, seq):
    enc.clear()
    for fid, raw in RAW:
        enc.put_raw(fid, raw)
    frame = enc.encode(seq)
    return framing.cobs_encode_into(frame, len(frame), wire)


def cycle_float(enc, wire, seq):
    enc.clear()
    for i in range(len(RAW)):
        enc.put(RAW[i][0], VALUES[i])
    frame = enc.encode(seq)
    return framing.cobs_encode_into(frame, len(frame), wire)


def heap_per_frame(cycle, key):
    enc = frames.Encoder(7, key)
    wire = bytearray(framing.MAX_ENCODED + 2)
    for seq in range(10):  # warm-up
        cycle(enc, wire, seq)
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    for seq in range(N):
        cycle(enc, wire, seq)
    after = gc.mem_alloc()
    gc.enable()
    return (after - before) / N


print("heap_raw", heap_per_frame(cycle_raw, None))
print("heap_float", heap_per_frame(cycle_float, None))
print("heap_raw_mic", heap_per_frame(cycle_raw, KEY))
print("heap_float_mic", heap_per_frame(cycle_float, KEY))

data = bytearray(range(28))
M = 20000
t = time.ticks_us()
for _ in range(M):
    frames.crc16(data, 28)
print("crc16_us", time.ticks_diff(time.ticks_us(), t) / M)
t = time.ticks_us()
for _ in range(M):
    binascii.crc32(data)
print("crc32_us", time.ticks_diff(time.ticks_us(), t) / M)
