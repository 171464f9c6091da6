"""An emulated ADC input with the interface of MicroPython's machine.ADC.

`volts` is the voltage at the pin, after any divider. Conversions are 12
bits, as on the ESP32 and the RP2040, over `full_scale` volts (3.3 V: the
RP2040's reference; about what an ESP32 reads at 11 dB attenuation), and
read_u16() widens the 12-bit code to 16 bits by repeating its top bits, as
both ports do, so a saturated input reads 65535.

`calibrated` decides whether the object has read_uv(), as on an ESP32
(factory-calibrated through eFuse data) but not on an RP2040. `gain` is the
raw converter's error, which read_u16() carries and read_uv() has
calibrated away: an ESP32's ADC reference is 1.1 V nominal but varies from
chip to chip by up to about ±10 %. `ripple` volts alternate + and - on
successive conversions, like noise on the supply, so averaging can be
seen to work. `reads` counts conversions.
"""

_CODES = 4095  # 12 bits


class ADC:
    def __init__(
        self,
        volts: float = 0.0,
        calibrated: bool = False,
        full_scale: float = 3.3,
        gain: float = 1.0,
        ripple: float = 0.0,
    ) -> None:
        self.volts = volts
        self.full_scale = full_scale
        self.gain = gain
        self.ripple = ripple
        self.reads = 0
        if calibrated:
            self.read_uv = self._read_uv

    def _sample(self) -> float:
        self.reads += 1
        sign = 1 if self.reads % 2 else -1
        return self.volts + sign * self.ripple

    def _code(self, volts: float) -> int:
        code = round(volts / self.full_scale * _CODES)
        return min(_CODES, max(0, code))

    def read_u16(self) -> int:
        code = self._code(self._sample() * self.gain)
        return code << 4 | code >> 8

    def _read_uv(self) -> int:
        # The calibrated value still comes from a 12-bit code: it is quantised.
        return round(self._code(self._sample()) * self.full_scale / _CODES * 1e6)

    def read(self) -> int:
        """The deprecated 12-bit read of the ESP32 port."""
        return self.read_u16() >> 4

    def init(self, *args: object, **kwargs: object) -> None:
        pass
