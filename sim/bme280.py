"""An emulated Bosch BME280 (datasheet BST-BME280-DS002) on the sim I2C bus.

The chip holds a calibration set in its registers and, in forced mode,
produces raw ADC values for its `temperature` (°C), `humidity` (%RH) and
`pressure` (hPa) attributes. The raw values come from inverting the
datasheet's double-precision compensation (section 8.1) by bisection, so
the emulator shares nothing with the firmware's integer code: a mistake in
either shows up as a disagreement.

Timing follows sim.clock. After a power-on reset the status register's
`im_update` bit is set, and the calibration reads 0, for the start-up time
(table 1, 2 ms) while the chip copies its NVM. After a forced-mode write to
ctrl_meas, the status register's `measuring` bit stays set for the
datasheet's maximum measurement time (section 9.1); then the data registers
take the new result and the mode bits fall back to sleep, as on the chip.
ctrl_hum applies from the next ctrl_meas write on (section 5.4.3).
"""

import sim.clock
from sim.i2c import RegisterChip

TYPE_CHECKING = False  # mypy takes this name as True; MicroPython has no typing module
if TYPE_CHECKING:
    from collections.abc import Callable

# T and P from the BMP280 datasheet's worked example (BST-BMP280-DS001
# section 3.12; the BME280 uses the same formulas). The datasheet gives no
# humidity example; H1..H6 are the values a typical BME280 module reports.
CALIBRATION = {
    "T1": 27504,
    "T2": 26435,
    "T3": -1000,
    "P1": 36477,
    "P2": -10685,
    "P3": 3024,
    "P4": 2855,
    "P5": 140,
    "P6": -7,
    "P7": 15500,
    "P8": -14600,
    "P9": 6000,
    "H1": 75,
    "H2": 362,
    "H3": 0,
    "H4": 313,
    "H5": 50,
    "H6": 30,
}

_ID = 0xD0
_RESET = 0xE0
_CTRL_HUM = 0xF2
_STATUS = 0xF3
_CTRL_MEAS = 0xF4
_CONFIG = 0xF5
_DATA = 0xF7  # press 0xF7..0xF9, temp 0xFA..0xFC, hum 0xFD..0xFE
_WRITABLE = (_RESET, _CTRL_HUM, _CTRL_MEAS, _CONFIG)
_SKIPPED_20 = 0x80000
_START_UP_MS = 2  # datasheet table 1: start-up time, during which status.im_update is set
_SKIPPED_16 = 0x8000


def compensate_t(adc_t: int, c: dict[str, int]) -> tuple[float, int]:
    """Datasheet 8.1, bme280_compensate_T_double: (°C, t_fine)."""
    var1 = (adc_t / 16384.0 - c["T1"] / 1024.0) * c["T2"]
    x = adc_t / 131072.0 - c["T1"] / 8192.0
    var2 = x * x * c["T3"]
    return (var1 + var2) / 5120.0, int(var1 + var2)


def compensate_p(adc_p: int, t_fine: int, c: dict[str, int]) -> float:
    """Datasheet 8.1, bme280_compensate_P_double: Pa."""
    var1 = t_fine / 2.0 - 64000.0
    var2 = var1 * var1 * c["P6"] / 32768.0
    var2 = var2 + var1 * c["P5"] * 2.0
    var2 = var2 / 4.0 + c["P4"] * 65536.0
    var1 = (c["P3"] * var1 * var1 / 524288.0 + c["P2"] * var1) / 524288.0
    var1 = (1.0 + var1 / 32768.0) * c["P1"]
    if var1 == 0.0:
        return 0.0
    p = 1048576.0 - adc_p
    p = (p - var2 / 4096.0) * 6250.0 / var1
    var1 = c["P9"] * p * p / 2147483648.0
    var2 = p * c["P8"] / 32768.0
    return p + (var1 + var2 + c["P7"]) / 16.0


def compensate_h(adc_h: int, t_fine: int, c: dict[str, int]) -> float:
    """Datasheet 8.1, bme280_compensate_H_double: %RH, clipped to 0..100."""
    x = t_fine - 76800.0
    h = (adc_h - (c["H4"] * 64.0 + c["H5"] / 16384.0 * x)) * (
        c["H2"] / 65536.0 * (1.0 + c["H6"] / 67108864.0 * x * (1.0 + c["H3"] / 67108864.0 * x))
    )
    h = h * (1.0 - c["H1"] * h / 524288.0)
    return min(100.0, max(0.0, h))


def _nearest(f: "Callable[[int], float]", target: float, top: int, rising: bool) -> int:
    """The k in 0..top whose f(k) is nearest target, f monotonic (bisection)."""
    lo, hi = 0, top  # first k with f(k) on the far side of target, in lo..hi
    while lo < hi:
        mid = (lo + hi) // 2
        v = f(mid)
        if (v >= target) if rising else (v <= target):
            hi = mid
        else:
            lo = mid + 1
    if lo > 0 and abs(f(lo - 1) - target) <= abs(f(lo) - target):
        return lo - 1
    return lo


def _os(code: int) -> int:
    """Oversampling factor of an osrs_x code: 0 skipped, 1..5 = x1..x16."""
    return 0 if code == 0 else 1 << (min(code, 5) - 1)


class BME280(RegisterChip):
    """The chip at `address`, measuring the air its attributes describe.

    Set `conversion_ms` to override the datasheet's conversion time (1e9: a
    chip that never finishes); power_on_reset() is a brown-out.
    """

    def __init__(
        self,
        address: int = 0x76,
        *,
        temperature: float = 21.5,
        humidity: float = 45.0,
        pressure: float = 1013.25,
        chip_id: int = 0x60,
        calibration: dict[str, int] | None = None,
    ) -> None:
        super().__init__(address)
        self.temperature = temperature
        self.humidity = humidity
        self.pressure = pressure
        self.conversion_ms: float | None = None
        self.cal = dict(CALIBRATION)
        if calibration:
            self.cal.update(calibration)
        self.conversions = 0  # forced conversions completed, for tests
        self.corrupt = False  # no effect: the BME280 sends no CRC, a bit error goes unseen
        self._reset_at = 0  # sim.clock tick of the last power-on reset
        self._started: int | None = None  # sim.clock tick of the forced-mode write
        self._osrs_h = 0  # ctrl_hum as latched by the last ctrl_meas write
        self.regs[_ID] = chip_id
        self._store_calibration()
        self.power_on_reset()

    def power_on_reset(self) -> None:
        """Control and data registers to their reset values (section 5.3)."""
        for reg in range(_CTRL_HUM, 0x100):
            self.regs[reg] = 0
        self.regs[_DATA] = self.regs[_DATA + 3] = self.regs[_DATA + 6] = 0x80
        self._started = None
        self._osrs_h = 0
        self._reset_at = sim.clock.ticks_ms()
        self.regs[_STATUS] = 0x01  # im_update: NVM is being copied for the start-up time

    def _store_calibration(self) -> None:
        c, r = self.cal, self.regs
        for i, name in enumerate(("T1", "T2", "T3", "P1", "P2", "P3", "P4", "P5", "P6", "P7")):
            self._word(0x88 + 2 * i, c[name])
        self._word(0x9C, c["P8"])
        self._word(0x9E, c["P9"])
        r[0xA1] = c["H1"]
        self._word(0xE1, c["H2"])
        r[0xE3] = c["H3"]
        h4, h5 = c["H4"] & 0xFFF, c["H5"] & 0xFFF
        r[0xE4] = h4 >> 4
        r[0xE5] = (h5 & 0x0F) << 4 | h4 & 0x0F
        r[0xE6] = h5 >> 4
        r[0xE7] = c["H6"] & 0xFF

    def _word(self, reg: int, value: int) -> None:
        self.regs[reg] = value & 0xFF
        self.regs[reg + 1] = (value >> 8) & 0xFF

    def _duration_ms(self) -> float:
        if self.conversion_ms is not None:
            return self.conversion_ms
        meas = self.regs[_CTRL_MEAS]
        t, p, h = _os(meas >> 5), _os((meas >> 2) & 7), _os(self._osrs_h)
        ms = 1.25 + 2.3 * t  # section 9.1, maximum
        if p:
            ms += 2.3 * p + 0.575
        if h:
            ms += 2.3 * h + 0.575
        return ms

    def on_write(self, reg: int, value: int) -> None:
        if reg not in _WRITABLE:
            return  # id, calibration, status and data are read-only
        if reg == _RESET:
            if value == 0xB6:
                self.power_on_reset()
            return
        self._settle()
        self.regs[reg] = value
        if reg == _CTRL_MEAS:
            self._osrs_h = self.regs[_CTRL_HUM] & 7  # ctrl_hum applies from here on
            if value & 3 in (1, 2):  # forced mode
                self._started = sim.clock.ticks_ms()
                self.regs[_STATUS] |= 0x08

    def read(self, n: int) -> bytes | None:
        self._settle()  # the whole burst sees one state: the chip shadows its data registers
        return super().read(n)

    def on_read(self, reg: int) -> int:
        if self.regs[_STATUS] & 0x01 and (0x88 <= reg <= 0xA1 or 0xE1 <= reg <= 0xE7):
            return 0  # the NVM copy is not done: the calibration is not there yet
        return self.regs[reg]

    def _settle(self) -> None:
        """Finish a forced conversion whose time has passed."""
        if self.regs[_STATUS] & 0x01 and sim.clock.ticks_ms() - self._reset_at >= _START_UP_MS:
            self.regs[_STATUS] &= 0xFE
        if self._started is None:
            return
        if sim.clock.ticks_ms() - self._started < self._duration_ms():
            return
        self._started = None
        meas = self.regs[_CTRL_MEAS]
        self.regs[_CTRL_MEAS] = meas & 0xFC  # back to sleep mode
        self.regs[_STATUS] &= ~0x08 & 0xFF
        self._store_result(meas >> 5, (meas >> 2) & 7, self._osrs_h)
        self.conversions += 1

    def _store_result(self, osrs_t: int, osrs_p: int, osrs_h: int) -> None:
        c = self.cal
        # Resolution with the filter off is 16 + (osrs - 1) bits of the 20-bit
        # value (sections 3.4.2-3): at x1 the low 4 bits read 0.
        adc_t = _SKIPPED_20
        t_fine = compensate_t(_SKIPPED_20, c)[1]
        if osrs_t:
            step = 1 << (5 - min(osrs_t, 5))
            k = _nearest(
                lambda k: compensate_t(k * step, c)[0], self.temperature, 0xFFFFF // step, True
            )
            adc_t = k * step
            t_fine = compensate_t(adc_t, c)[1]
        adc_p = _SKIPPED_20
        if osrs_p:
            step = 1 << (5 - min(osrs_p, 5))
            pa = self.pressure * 100.0
            k = _nearest(lambda k: compensate_p(k * step, t_fine, c), pa, 0xFFFFF // step, False)
            adc_p = k * step
        adc_h = _SKIPPED_16
        if osrs_h:
            adc_h = _nearest(lambda k: compensate_h(k, t_fine, c), self.humidity, 0xFFFF, True)
        self._put20(_DATA, adc_p)
        self._put20(_DATA + 3, adc_t)
        self.regs[_DATA + 6], self.regs[_DATA + 7] = adc_h >> 8, adc_h & 0xFF

    def _put20(self, reg: int, adc: int) -> None:
        """A 20-bit value as msb, lsb, xlsb (bits 7:4), section 5.4.7-8."""
        self.regs[reg], self.regs[reg + 1], self.regs[reg + 2] = (
            adc >> 12,
            (adc >> 4) & 0xFF,
            (adc & 0x0F) << 4,
        )


# The sim board's part for this sensor (sim/port.py): the chip, and which of
# the world's air quantities it measures (its constructor's keywords).
PART = (BME280, ("temperature", "humidity", "pressure"))
