"""Battery voltage through a resistor divider into an ADC pin.

The divider brings the battery (a Li-ion cell: up to 4.2 V) under the
ADC's range; `ratio` is (R_top + R_bottom) / R_bottom, 2.0 for two equal
resistors, 3.0 for a Pico's VSYS on GPIO29. The result is `battery` in mV.

Where the port has ADC.read_uv() (ESP32) the driver uses it: it converts
with the chip's factory calibration (eFuse), and that matters, because the
ESP32's ADC reference is 1.1 V nominal but varies from chip to chip by up
to about ±10 %; read_u16() carries that error. Elsewhere (RP2040, no
read_uv) read_u16() over the 3.3 V reference is all there is.
"""

from micropython import const

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    import roles

    class ADC(Protocol):
        """What the driver needs of machine.ADC; read_uv() is used when present."""

        def read_u16(self) -> int: ...


_FULL_SCALE = const(65535)  # read_u16() of a saturated input, on ESP32 and RP2040 alike
_REF_MV = const(3300)  # RP2040: ADC_VREF is the 3.3 V supply
# Below 0.5 V at the battery no node is running on it: the divider is open
# or shorted (the gateway's plausibility check uses the same bound).
_MIN_MV = const(500)


class Battery:
    """A battery on `adc` behind a divider of `ratio`; `samples` conversions a reading."""

    def __init__(self, adc: ADC, ratio: float = 2.0, samples: int = 8) -> None:
        if samples < 1:
            raise ValueError("battery: samples must be 1 or more")
        self._adc = adc
        self._samples = samples
        self._read_uv: Callable[[], int] | None = getattr(adc, "read_uv", None)
        # One multiplication per reading turns the sum of the samples into
        # mV at the battery (a float: one small allocation, once a cycle).
        if self._read_uv is not None:
            self._scale = ratio / (1000 * samples)  # µV -> mV
        else:
            self._scale = ratio * _REF_MV / (_FULL_SCALE * samples)
        self.battery: int | None = None

    def compensate(
        self, temperature: int | None, humidity: int | None, pressure: int | None
    ) -> None:
        """Nothing to correct for: a voltage."""

    def start(self) -> int:
        """Nothing to wait for: the divider is always there."""
        return 0

    def read(self) -> bool:
        """Average `samples` conversions; battery in mV, or OSError if implausible.

        True: every reading is a new one.
        """
        adc = self._adc
        # A saturated input reads full scale whatever the battery does: the
        # ratio is too small for it (or the pin sees the battery directly).
        if adc.read_u16() >= _FULL_SCALE:
            raise OSError("battery: ADC saturated, check the divider ratio")
        total = 0
        read_uv = self._read_uv
        if read_uv is not None:
            for _ in range(self._samples):
                total += read_uv()
        else:
            for _ in range(self._samples):
                total += adc.read_u16()
        mv = int(total * self._scale + 0.5)
        if mv < _MIN_MV:
            raise OSError("battery: ADC reads 0 V, check the divider wiring")
        self.battery = mv
        return True

    def stop(self) -> None:
        """Nothing to stop: the divider is always there."""


# The sensor contract (firmware/roles.py), held by the type checker: a driver
# without one of its functions fails `make typecheck`. Gone on the node.
if TYPE_CHECKING:

    def _is_a_sensor(driver: Battery) -> roles.Sensor:
        return driver
