"""Sensirion SCD41: CO2 (photoacoustic), with temperature and humidity, over I2C.

Datasheet: Sensirion SCD4x, version 1.3 (September 2022); section numbers
below are that version's. Every command is 16 bits; argument and reply words
carry a CRC-8 each (sensirion.py).

The node sleeps between cycles, so the chip runs in the SCD41's single-shot
mode (section 3.10): one measure_single_shot per cycle, 5 s later one
read_measurement. Periodic mode would keep it measuring (and drawing
current) every 5 s for nobody. The SCD40 has no single-shot mode.

Pressure matters: the chip compensates CO2 for ambient pressure, assuming
sea level (altitude 0, 1013 hPa) unless told otherwise, and "feeding the
SCD4x with the pressure or altitude enables highest accuracy of the CO2
output signal" (section 3.6). set_pressure() passes the BME280's reading
before each shot.

The first reading after power-up or wake-up. Section 3.10 says that after a
power cycle the initial single-shot reading should be discarded; 3.10.4
says the same of the first reading after wake_up. Two ways to run the chip
between cycles, and what each costs at 3.3 V (section 3.10):

- idle (the default): 0.15 mA typ. (0.2 mA max.) between shots, about
  0.5 mW, and every reading is usable; automatic self-calibration (ASC)
  keeps working, and the datasheet tunes it for one shot every 5 minutes.
- power_down between shots: the idle current goes, but every wake costs a
  discarded shot, 243 mJ typ. (296 mJ max.); and no ASC runs on a chip
  power-cycled between shots (section 3.10). Whether sleeping counts as a
  power cycle there, the datasheet does not say.

243 mJ is what 0.5 mW of idle current spends in about 8 minutes, so for
cycles up to ~8 minutes staying idle costs less energy, and it keeps ASC.
Only a node sampling CO2 far less often gains from power_down=True, and
then it must run one throwaway shot per wake (see `discard`).
"""

import time

from micropython import const
from sensirion import check_words, crc8, word

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from typing import Protocol

    import roles

    class I2C(Protocol):
        """What the driver uses of machine.I2C (the sim's bus has the same)."""

        def writeto(self, addr: int, buf: bytearray, stop: bool = True) -> int: ...
        def readfrom_into(self, addr: int, buf: bytearray, stop: bool = True) -> None: ...


# Commands and their maximum execution times (section 3.4, table 9).
_STOP_PERIODIC_MEASUREMENT = const(0x3F86)  # 500 ms
_SET_AMBIENT_PRESSURE = const(0xE000)  # 1 ms, one argument word: pressure in Pa / 100
_GET_DATA_READY_STATUS = const(0xE4B8)  # 1 ms, one reply word
_READ_MEASUREMENT = const(0xEC05)  # 1 ms, three reply words
_GET_SERIAL_NUMBER = const(0x3682)  # 1 ms, three reply words
_MEASURE_SINGLE_SHOT = const(0x219D)  # 5000 ms (SCD41 only)
_POWER_DOWN = const(0x36E0)  # 1 ms (SCD41 only)
_WAKE_UP = const(0x36F6)  # never acknowledged (section 3.10.4)

_COMMAND_MS = const(1)
_STOP_MS = const(500)  # "the sensor will only respond to other commands after 500 ms"
_SINGLE_SHOT_MS = const(5000)
_WAKE_UP_MS = const(30)  # 20 ms in version 1.3, 30 ms in later revisions: wait the longer

# get_data_ready_status: data is ready when the 11 least significant bits of
# the reply word are not all 0 (section 3.8.2); the other bits mean nothing.
_READY_MASK = const(0x07FF)
# The caller waited start()'s 5000 ms, so the first poll normally finds the
# data. A few more polls cover a slow clock; the chip NACKs while it measures.
_READY_POLLS = const(5)
_READY_POLL_MS = const(100)

# The pressure argument's valid range, 700..1200 hPa, as later datasheet
# revisions state it (version 1.3 gives none). A value outside is clamped.
_PRESSURE_MIN_HPA = const(700)
_PRESSURE_MAX_HPA = const(1200)


class SCD4x:
    """One SCD41 on an I2C bus, measuring in single-shot mode.

    After read(): co2 (ppm), temperature (centi-°C) and humidity (centi-%RH)
    as ints. Temperature and humidity come from the chip's built-in SHT4x,
    heated by the CO2 sensor itself: for diagnostics, not for the frame's
    air temperature. A failed read() raises OSError and leaves the
    attributes as the last complete reading (None before the first).

    `discard` is True while the next reading is the first since the chip was
    woken up or powered (section 3.10): read() then returns False, and the
    caller runs one more start()/read() and keeps the second reading. read()
    clears it.
    """

    def __init__(
        self, i2c: I2C, address: int = 0x62, *, power_down: bool = False, cold: bool = False
    ) -> None:
        """Find the chip and bring it to idle.

        power_down: stop() puts the chip to sleep (see the module docstring).
        cold: the node has just been powered (or reset), and so has the chip:
        make sure it is idle, and discard its first reading.
        """
        self._i2c = i2c
        self._address = address
        self._power_down = power_down
        self._cmd = bytearray(2)  # a bare command
        self._arg = bytearray(5)  # a command, one argument word and its CRC
        self._word = bytearray(3)  # one reply word and its CRC
        self._data = bytearray(9)  # three reply words, reused by every read()
        self.co2: int | None = None
        self.temperature: int | None = None
        self.humidity: int | None = None
        self.discard = power_down or cold

        try:
            if power_down or cold:
                # A chip put to sleep by the last cycle's stop() answers
                # nothing until woken; wake_up itself is never acknowledged,
                # so its error means nothing.
                try:
                    self._send(_WAKE_UP)
                except OSError:
                    pass
                time.sleep_ms(_WAKE_UP_MS)
            if cold:
                # A chip left in periodic mode (by another firmware, or a
                # debugging session) ignores every command but a few (table
                # 9): stop it first. It answers nothing for 500 ms after
                # that. Only after a cold boot: on a wake from deep sleep the
                # chip is idle where the last cycle left it, and the 530 ms
                # would be spent awake every cycle.
                self._send(_STOP_PERIODIC_MEASUREMENT)
                time.sleep_ms(_STOP_MS)
            # The serial number proves the chip is there and idle (section 3.10.4).
            self._fetch(_GET_SERIAL_NUMBER, self._data)
        except OSError:
            raise OSError("no SCD4x at 0x%02x" % address) from None
        check_words(self._data, 3, "SCD4x")
        d = self._data
        self.serial = word(d, 0) << 32 | word(d, 1) << 16 | word(d, 2)

    def _send(self, cmd: int) -> None:
        b = self._cmd
        b[0] = cmd >> 8
        b[1] = cmd & 0xFF
        self._i2c.writeto(self._address, b)

    def _fetch(self, cmd: int, buf: bytearray) -> None:
        """Send a read command and, after its 1 ms, read the reply into buf."""
        self._send(cmd)
        time.sleep_ms(_COMMAND_MS)
        self._i2c.readfrom_into(self._address, buf)

    def set_pressure(self, deci_hpa: int) -> None:
        """Tell the chip the ambient pressure (deci-hPa, the BME280's unit).

        Held in the chip's RAM until it sleeps or loses power: send it before
        every shot. The argument is Pa / 100, i.e. hPa (section 3.6.5; its
        example: 98 700 Pa is the word 0x03DB, CRC 0x42).
        """
        hpa = (deci_hpa + 5) // 10
        if hpa < _PRESSURE_MIN_HPA:
            hpa = _PRESSURE_MIN_HPA
        elif hpa > _PRESSURE_MAX_HPA:
            hpa = _PRESSURE_MAX_HPA
        a = self._arg
        a[0] = _SET_AMBIENT_PRESSURE >> 8
        a[1] = _SET_AMBIENT_PRESSURE & 0xFF
        a[2] = hpa >> 8
        a[3] = hpa & 0xFF
        a[4] = crc8(a, 2)
        try:
            self._i2c.writeto(self._address, a)
        except OSError:
            raise OSError("SCD4x: no answer") from None
        time.sleep_ms(_COMMAND_MS)

    def compensate(
        self, temperature: int | None, humidity: int | None, pressure: int | None
    ) -> None:
        """Before a shot: pass on the ambient pressure (set_pressure()), if known.

        Temperature and humidity are the chip's own business.
        """
        if pressure:
            self.set_pressure(pressure)

    def start(self) -> int:
        """Start one single-shot measurement; returns the ms until read() may run."""
        try:
            self._send(_MEASURE_SINGLE_SHOT)
        except OSError:
            raise OSError("SCD4x: no answer") from None
        return _SINGLE_SHOT_MS

    def read(self) -> bool:
        """Fetch the single shot's result. Allocates nothing when it succeeds.

        False when this was the reading to throw away (`discard`): start()
        and read() again.

        Every intermediate stays a small int on 32-bit ports too (below 2^30):
        175/65535 is 3500/13107 and 100/65535 is 2000/13107.
        """
        w = self._word
        answered = False  # the chip answered a poll (as opposed to NACKing all)
        ready = False
        for i in range(_READY_POLLS):
            if i:
                time.sleep_ms(_READY_POLL_MS)
            try:
                self._fetch(_GET_DATA_READY_STATUS, w)
            except OSError:
                continue  # still measuring (NACK), or gone
            check_words(w, 1, "SCD4x")
            answered = True
            if word(w, 0) & _READY_MASK:
                ready = True
                break
        if not ready:
            raise OSError(
                "SCD4x: no data ready" if answered else "SCD4x: no data ready (no answer)"
            )
        d = self._data
        try:
            self._fetch(_READ_MEASUREMENT, d)
        except OSError:
            raise OSError("SCD4x: no answer") from None
        check_words(d, 3, "SCD4x")
        # Section 3.5.2: CO2 in ppm as is; T = -45 + 175 * w / 65535 °C;
        # RH = 100 * w / 65535 %. Converted to centi-units, rounding half up.
        self.co2 = word(d, 0)
        self.temperature = -4500 + (word(d, 1) * 3500 + 6553) // 13107
        self.humidity = (word(d, 2) * 2000 + 6553) // 13107
        keep = not self.discard
        self.discard = False
        return keep

    def stop(self) -> None:
        """Leave the chip idle (the default), or put it to sleep with power_down=True."""
        if self._power_down:
            try:
                self._send(_POWER_DOWN)
            except OSError:
                raise OSError("SCD4x: no answer") from None
            time.sleep_ms(_COMMAND_MS)


# The sensor contract (firmware/roles.py), held by the type checker: a driver
# without one of its functions fails `make typecheck`. Gone on the node.
if TYPE_CHECKING:

    def _is_a_sensor(driver: SCD4x) -> roles.Sensor:
        return driver

    def _takes_a_ports_bus(bus: roles.I2C) -> I2C:
        return bus
