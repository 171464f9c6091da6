# Runs under the MicroPython unix port (tests/firmware/test_battery.py): the
# battery driver against the sim's emulated ADC, one JSON line per case.

from battery import Battery

from sim.adc import ADC
from tests.firmware.mp_support import emit


def reading(adc, **kw):
    b = Battery(adc, **kw)
    try:
        b.read()
        return b.battery, None, adc.reads
    except OSError as e:
        return b.battery, str(e), adc.reads


# An ESP32 whose raw ADC reads 8 % low: read_uv() is calibrated, read_u16() is not.
mv, err, reads = reading(ADC(volts=1.95, calibrated=True, gain=0.92))
emit("esp32_read_uv", mv=mv, error=err, reads=reads)
mv, err, reads = reading(ADC(volts=1.95, calibrated=False, gain=0.92))
emit("esp32_raw_u16", mv=mv, error=err)

# RP2040: no read_uv(), read_u16() over 3.3 V. A Pico's VSYS/3 on GPIO29.
mv, err, reads = reading(ADC(volts=1.95))
emit("rp2_read_u16", mv=mv, error=err, reads=reads)
mv, err, reads = reading(ADC(volts=1.5), ratio=3.0)
emit("rp2_ratio_3", mv=mv, error=err)

# Ripple of 0.1 V alternating on successive conversions: averaged away.
for samples in (1, 8):
    mv, err, reads = reading(ADC(volts=1.95, calibrated=True, ripple=0.1), samples=samples)
    emit("ripple_%d" % samples, mv=mv, error=err, reads=reads)

# The divider's wiring broken: 0 V at the pin; or no divider: saturated.
for volts in (0.0, 0.1):
    for calibrated in (False, True):
        mv, err, reads = reading(ADC(volts=volts, calibrated=calibrated))
        emit("zero_%s_%s" % (volts, calibrated), mv=mv, error=err)
for calibrated in (False, True):
    mv, err, reads = reading(ADC(volts=4.1, calibrated=calibrated))
    emit("saturated_%s" % calibrated, mv=mv, error=err)

# A failed reading keeps the last good one; start() has nothing to wait for.
adc = ADC(volts=1.9, calibrated=True)
b = Battery(adc)
b.read()
adc.volts = 0.0
try:
    b.read()
    err = None
except OSError as e:
    err = str(e)
emit("after_failure", mv=b.battery, error=err, start=b.start())

try:
    Battery(ADC(volts=1.9), samples=0)
    err = None
except ValueError as e:
    err = str(e)
emit("no_samples", error=err)
