"""Bosch BME280: temperature, humidity and pressure over I2C.

Datasheet BST-BME280-DS002. The driver runs the chip in forced mode with
oversampling x1 for all three quantities and the IIR filter off: the
datasheet's "weather monitoring" setting (section 3.5.1), one conversion per
wake, the chip asleep (0.1 µA) the rest of the time.

Results are compensated with the datasheet's integer formulas (section 4.2.3:
BME280_compensate_T_int32, BME280_compensate_P_int64,
bme280_compensate_H_int32), then converted to the frame's raw units. Python
ints never overflow, so the 64-bit pressure formula is exact here; values
beyond the port's small-int range become heap ints for a moment (see read()).
"""

import time

from micropython import const

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from typing import Protocol

    import roles

    class I2C(Protocol):
        """What the driver uses of machine.I2C (the sim's bus has the same)."""

        def readfrom_mem_into(self, addr: int, memaddr: int, buf: bytearray) -> None: ...
        def writeto_mem(self, addr: int, memaddr: int, buf: bytes) -> None: ...


# Register names as in the datasheet's memory map (section 5.3).
_REG_CALIB00 = const(0x88)  # calib00..calib25: dig_T1..dig_P9, then dig_H1 at 0xA1
_REG_ID = const(0xD0)
_REG_CALIB26 = const(0xE1)  # calib26..calib32: dig_H2..dig_H6 (0xE1..0xE7)
_REG_CTRL_HUM = const(0xF2)
_REG_STATUS = const(0xF3)
_REG_CTRL_MEAS = const(0xF4)
_REG_CONFIG = const(0xF5)
_REG_PRESS_MSB = const(0xF7)  # press 0xF7..0xF9, temp 0xFA..0xFC, hum 0xFD..0xFE

_CHIP_ID = const(0x60)  # a BMP280 answers 0x58 and has no humidity
_STATUS_MEASURING = const(0x08)  # status bit 3: a conversion is running
_STATUS_IM_UPDATE = const(0x01)  # status bit 0: NVM being copied to the calibration registers
_START_UP_MS = const(2)  # table 1: start-up time after power-on, the NVM copy included

# ctrl_hum = osrs_h x1. ctrl_meas = osrs_t x1 (bits 7:5), osrs_p x1 (4:2), then
# mode (1:0): 00 sleep, 01 forced. config = t_sb 0, filter off, no 3-wire SPI.
_CTRL_HUM_X1 = const(0x01)
_CTRL_MEAS_SLEEP = const(0x24)
_CTRL_MEAS_FORCED = const(0x25)
_CONFIG_FILTER_OFF = const(0x00)

# Section 9.1, maximum measurement time: 1.25 + 2.3 * osrs_t
# + (2.3 * osrs_p + 0.575) + (2.3 * osrs_h + 0.575) = 9.3 ms at x1, rounded up.
_MEASURE_MS = const(10)

# A raw value of 0x80000 (T, P) or 0x8000 (H) is what a skipped measurement
# leaves, and what the data registers hold after a reset (section 5.4.7-9).
_SKIPPED_20 = const(0x80000)
_SKIPPED_16 = const(0x8000)


def _u16(b: bytearray, i: int) -> int:
    return b[i] | b[i + 1] << 8


def _s16(b: bytearray, i: int) -> int:
    v = b[i] | b[i + 1] << 8
    return v - 0x10000 if v & 0x8000 else v


def _s12(v: int) -> int:
    """Sign-extend a 12-bit value (dig_H4 and dig_H5 are 12-bit two's complement)."""
    return v - 0x1000 if v & 0x800 else v


class BME280:
    """One BME280 on an I2C bus.

    After read(): temperature (centi-°C), humidity (centi-%RH) and pressure
    (deci-hPa) as ints. A failed read() raises OSError and leaves the three
    attributes as the last complete reading (None before the first).
    """

    def __init__(self, i2c: I2C, address: int = 0x76) -> None:
        self._i2c = i2c
        self._address = address
        self._reg = bytearray(1)  # one register: id, status
        self._data = bytearray(8)  # the burst read 0xF7..0xFE, reused every read
        self._pending = False  # start() was called and its result not yet read
        self._t_fine = 0  # datasheet's t_fine: temperature carried into P and H
        self.temperature: int | None = None
        self.humidity: int | None = None
        self.pressure: int | None = None
        try:
            i2c.readfrom_mem_into(address, _REG_ID, self._reg)
        except OSError:
            raise OSError("no BME280 at 0x%02x" % address) from None
        if self._reg[0] != _CHIP_ID:
            raise OSError("no BME280 at 0x%02x (chip id 0x%02x)" % (address, self._reg[0]))

        # The forced-mode write start() sends, made once.
        self._forced = bytes((_CTRL_MEAS_FORCED,))
        ready = False
        try:
            # A chip powered up with the node copies its calibration from NVM
            # first (status im_update, section 5.4.4): wait for that, bounded.
            for _ in range(_START_UP_MS + 2):
                i2c.readfrom_mem_into(address, _REG_STATUS, self._reg)
                if not self._reg[0] & _STATUS_IM_UPDATE:
                    ready = True
                    break
                time.sleep_ms(1)
            if ready:
                self._read_calibration()
                # Configure in sleep mode (config is only written reliably
                # there, section 5.4.6). ctrl_hum takes effect only at the
                # next ctrl_meas write (section 5.4.3), so it goes first.
                i2c.writeto_mem(address, _REG_CTRL_HUM, bytes((_CTRL_HUM_X1,)))
                i2c.writeto_mem(address, _REG_CONFIG, bytes((_CONFIG_FILTER_OFF,)))
                i2c.writeto_mem(address, _REG_CTRL_MEAS, bytes((_CTRL_MEAS_SLEEP,)))
        except OSError:
            raise OSError("BME280: no reply at 0x%02x" % address) from None
        if not ready:
            raise OSError("BME280: calibration not ready after %d ms" % (_START_UP_MS + 2))

    def _read_calibration(self) -> None:
        """Calibration (section 4.2.2, table 16), read once into ints.

        Little-endian words, dig_T1 and dig_P1 unsigned, the other words signed.
        """
        i2c, address = self._i2c, self._address
        cal = bytearray(26)
        i2c.readfrom_mem_into(address, _REG_CALIB00, cal)
        self._t1 = _u16(cal, 0)
        self._t2 = _s16(cal, 2)
        self._t3 = _s16(cal, 4)
        self._p1 = _u16(cal, 6)
        self._p2 = _s16(cal, 8)
        self._p3 = _s16(cal, 10)
        self._p4 = _s16(cal, 12)
        self._p5 = _s16(cal, 14)
        self._p6 = _s16(cal, 16)
        self._p7 = _s16(cal, 18)
        self._p8 = _s16(cal, 20)
        self._p9 = _s16(cal, 22)
        self._h1 = cal[25]  # 0xA1, unsigned char (0xA0 is unused)
        cal = bytearray(7)
        i2c.readfrom_mem_into(address, _REG_CALIB26, cal)
        self._h2 = _s16(cal, 0)  # 0xE1/0xE2, signed short
        self._h3 = cal[2]  # 0xE3, unsigned char
        # dig_H4 is 0xE4 (bits 11:4) with 0xE5 bits 3:0; dig_H5 is 0xE6
        # (bits 11:4) with 0xE5 bits 7:4. Both share 0xE5; both are signed.
        self._h4 = _s12(cal[3] << 4 | cal[4] & 0x0F)
        self._h5 = _s12(cal[5] << 4 | cal[4] >> 4)
        self._h6 = cal[6] - 256 if cal[6] & 0x80 else cal[6]  # 0xE7, signed char

    def compensate(
        self, temperature: int | None, humidity: int | None, pressure: int | None
    ) -> None:
        """Nothing to correct for: the chip measures the air itself."""

    def start(self) -> int:
        """Start one forced-mode conversion; returns the ms until read() may run."""
        try:
            self._i2c.writeto_mem(self._address, _REG_CTRL_MEAS, self._forced)
        except OSError:
            raise OSError("BME280: no reply at 0x%02x" % self._address) from None
        self._pending = True
        return _MEASURE_MS

    def read(self) -> bool:
        """Fetch and compensate the conversion start() began; True (a new reading).

        Allocates no buffers: registers are read into self._data. The 64-bit
        pressure formula's intermediates exceed the small-int range (2^62 on a
        64-bit port, 2^30 on ESP32 and RP2040), so a few short-lived heap ints
        are made per read (128 bytes on the unix port), garbage at once.
        """
        if not self._pending:
            # In forced mode the data registers keep the last conversion: reading
            # them again would report an old value as new.
            raise OSError("BME280: read() without start()")
        self._pending = False
        i2c = self._i2c
        busy = True
        try:
            # The caller waited start()'s maximum time, so this normally passes
            # at once. A bounded wait covers an early call; a chip still busy
            # after a second maximum conversion time is faulty.
            for _ in range(_MEASURE_MS + 1):
                i2c.readfrom_mem_into(self._address, _REG_STATUS, self._reg)
                if not self._reg[0] & _STATUS_MEASURING:
                    busy = False
                    break
                time.sleep_ms(1)
            if not busy:
                # One burst read: the chip shadows the data registers during it,
                # so P, T and H come from the same conversion (section 4).
                i2c.readfrom_mem_into(self._address, _REG_PRESS_MSB, self._data)
        except OSError:
            raise OSError("BME280: no reply at 0x%02x" % self._address) from None
        if busy:
            raise OSError("BME280: still measuring after %d ms" % (_MEASURE_MS + 1))
        d = self._data
        adc_p = d[0] << 12 | d[1] << 4 | d[2] >> 4
        adc_t = d[3] << 12 | d[4] << 4 | d[5] >> 4
        adc_h = d[6] << 8 | d[7]
        if adc_t == _SKIPPED_20 or adc_p == _SKIPPED_20 or adc_h == _SKIPPED_16:
            raise OSError("BME280: measurement skipped (chip reset?)")
        t = self._compensate_t(adc_t)  # first: sets t_fine for P and H
        p = self._compensate_p(adc_p)
        h = self._compensate_h(adc_h)
        # To the frame's units, rounding to nearest (half up) by adding half
        # the divisor before dividing: t is 0.01 °C already (the datasheet
        # formula rounds it); p is Pa in Q24.8, deci-hPa = p / 2560; h is %RH
        # in Q22.10, centi-%RH = h * 100 / 1024. p and h are never negative.
        self.temperature = t
        self.pressure = (p + 1280) // 2560
        self.humidity = (h * 100 + 512) >> 10
        return True

    def stop(self) -> None:
        """Nothing to do: after a forced conversion the chip is in sleep mode."""

    # The datasheet's integer compensation (section 4.2.3), variable names
    # kept. Python's >> is arithmetic on negatives, as the reference C assumes.

    def _compensate_t(self, adc_t: int) -> int:
        """Temperature in 0.01 °C (5123 = 51.23 °C); sets t_fine."""
        t1 = self._t1
        var1 = (((adc_t >> 3) - (t1 << 1)) * self._t2) >> 11
        x = (adc_t >> 4) - t1
        var2 = (((x * x) >> 12) * self._t3) >> 14
        self._t_fine = t_fine = var1 + var2
        return (t_fine * 5 + 128) >> 8

    def _compensate_p(self, adc_p: int) -> int:
        """Pressure in Pa as Q24.8 (24674867 = 24674867/256 Pa = 96386.2 Pa)."""
        var1 = self._t_fine - 128000
        var2 = var1 * var1 * self._p6
        var2 = var2 + ((var1 * self._p5) << 17)
        var2 = var2 + (self._p4 << 35)
        var1 = ((var1 * var1 * self._p3) >> 8) + ((var1 * self._p2) << 12)
        var1 = (((1 << 47) + var1) * self._p1) >> 33
        if var1 <= 0:
            # The datasheet returns 0 to avoid dividing by zero; a frame must
            # not carry that, and no sane calibration gets here.
            raise OSError("BME280: bad pressure calibration")
        p = 1048576 - adc_p
        n = ((p << 31) - var2) * 3125
        # C's 64-bit division truncates toward zero; // floors.
        p = n // var1 if n >= 0 else -(-n // var1)
        var1 = (self._p9 * (p >> 13) * (p >> 13)) >> 25
        var2 = (self._p8 * p) >> 19
        return ((p + var1 + var2) >> 8) + (self._p7 << 4)

    def _compensate_h(self, adc_h: int) -> int:
        """Humidity in %RH as Q22.10 (47445 = 47445/1024 %RH = 46.333 %RH)."""
        x = self._t_fine - 76800
        a = (((adc_h << 14) - (self._h4 << 20) - self._h5 * x) + 16384) >> 15
        b = ((x * self._h6) >> 10) * (((x * self._h3) >> 11) + 32768)
        b = (((b >> 10) + 2097152) * self._h2 + 8192) >> 14
        v = a * b
        v -= ((((v >> 15) * (v >> 15)) >> 7) * self._h1) >> 4
        if v < 0:
            v = 0
        elif v > 419430400:  # 100 %RH: 102400 in Q22.10, before the final >> 12
            v = 419430400
        return v >> 12


# The sensor contract (firmware/roles.py), held by the type checker: a driver
# without one of its functions fails `make typecheck`. Gone on the node.
if TYPE_CHECKING:

    def _is_a_sensor(driver: BME280) -> roles.Sensor:
        return driver

    def _takes_a_ports_bus(bus: roles.I2C) -> I2C:
        return bus
