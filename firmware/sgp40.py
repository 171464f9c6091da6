"""Sensirion SGP40: a MOX gas sensor's raw VOC signal over I2C, and the VOC Index.

Datasheet: Sensirion SGP40, version 1.0 (July 2020) and later revisions,
which renamed the commands (sgp4x_*) and added get_serial_number; section
and table numbers are version 1.0's. Every command is 16 bits; argument and
reply words carry a CRC-8 each (sensirion.py).

The chip gives SRAW_VOC, a raw signal in ticks proportional to the log of
the sensing layer's resistance: more VOC, lower resistance, lower SRAW. It
means nothing on its own; Sensirion's VOC Index algorithm (voc_index.py)
turns a steady series of it into 1..500, 100 being the usual air. Attach
one and read() feeds it. The algorithm needs a sample every 1 s, or every
10 s at most (see voc_index.py): a node that measures VOC wakes that often.

The hotplate. sgp40_measure_raw_signal turns it on and measures; heater off
(stop()) returns the chip to idle, 34 µA typ. instead of 2.6 mA. A plate
that has just been switched on gives wrong readings: Sensirion's low-power
recipe (the 10 s example of its Gas Index Algorithm library) sends one
measurement to heat the plate, ignores its result, waits 170 ms from that
command, measures again, then turns the heater off. start() and read() do
exactly that when the heater was off; a node that keeps the heater on (1 s
mode, never calling stop()) gets one plain 30 ms measurement per start().

Humidity compensation: the measure command carries relative humidity and
temperature (datasheet table 10); set_compensation() takes them from the
node's BME280 or SHT4x. Without it the driver sends table 10's defaults (50 %RH,
25 °C), which leave the compensation off.
"""

import time

from micropython import const
from sensirion import check_words, crc8, word

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from typing import Protocol

    import roles
    from voc_index import VocIndex

    class I2C(Protocol):
        """What the driver uses of machine.I2C (the sim's bus has the same)."""

        def writeto(self, addr: int, buf: bytearray, stop: bool = True) -> int: ...
        def readfrom_into(self, addr: int, buf: bytearray, stop: bool = True) -> None: ...


# Commands and their maximum durations (table 8; get_serial_number from later revisions).
_SGP40_MEASURE_RAW_SIGNAL = const(0x260F)  # 30 ms; two argument words (RH, T)
_SGP40_EXECUTE_SELF_TEST = const(0x280E)  # 320 ms (250 in version 1.0); one reply word
_SGP4X_TURN_HEATER_OFF = const(0x3615)  # 1 ms
_SGP4X_GET_SERIAL_NUMBER = const(0x3682)  # 1 ms; three reply words

_MEASURE_MS = const(30)
_SELF_TEST_MS = const(320)
_COMMAND_MS = const(1)
_HEAT_UP_MS = const(170)  # from the heating measurement to the real one (low-power recipe)
_SELF_TEST_PASSED = const(0xD400)  # 0x4B00: one or more tests failed

# Table 10's defaults: 50 %RH = 0x8000, 25 °C = 0x6666.
_RH_DEFAULT = const(0x8000)
_T_DEFAULT = const(0x6666)


class SGP40:
    """One SGP40 on an I2C bus.

    After read(): sraw (ticks) and, with an algorithm attached, voc_index
    (1..500; 0 while the algorithm is in its start-up blackout). A failed
    read() raises OSError and feeds the algorithm nothing.
    """

    def __init__(self, i2c: I2C, address: int = 0x59, algorithm: VocIndex | None = None) -> None:
        self._i2c = i2c
        self._address = address
        self.algorithm = algorithm
        self._cmd = bytearray(2)
        self._measure = bytearray(8)  # the measure command with its two argument words
        self._measure[0] = _SGP40_MEASURE_RAW_SIGNAL >> 8
        self._measure[1] = _SGP40_MEASURE_RAW_SIGNAL & 0xFF
        self._set_words(_RH_DEFAULT, _T_DEFAULT)
        self._word = bytearray(3)  # one reply word and its CRC, reused by every read()
        # After power-up, and after the last cycle's stop(), the heater is off.
        # If a crashed cycle left it on, a heating measurement costs 170 ms.
        self._hot = False
        self._heating = False  # start() sent a heating measurement
        self.sraw: int | None = None
        self.voc_index: int | None = None
        serial = bytearray(9)
        try:
            self._send(_SGP4X_GET_SERIAL_NUMBER)
            time.sleep_ms(_COMMAND_MS)
            i2c.readfrom_into(address, serial)
        except OSError:
            raise OSError("no SGP40 at 0x%02x" % address) from None
        check_words(serial, 3, "SGP40")
        self.serial = word(serial, 0) << 32 | word(serial, 1) << 16 | word(serial, 2)

    def _send(self, cmd: int) -> None:
        b = self._cmd
        b[0] = cmd >> 8
        b[1] = cmd & 0xFF
        self._i2c.writeto(self._address, b)

    def _set_words(self, rh: int, t: int) -> None:
        m = self._measure
        m[2] = rh >> 8
        m[3] = rh & 0xFF
        m[4] = crc8(m, 2)
        m[5] = t >> 8
        m[6] = t & 0xFF
        m[7] = crc8(m, 5)

    def set_compensation(self, temperature_centi: int, humidity_centi: int) -> None:
        """Compensate the next measurements for this air (centi-°C, centi-%RH).

        Table 10: RH ticks = RH * 65535 / 100, T ticks = (T + 45) * 65535 / 175,
        clamped to the words' range (0..100 %RH, -45..130 °C). In centi-units,
        65535/17500 is 13107/3500: every product stays a small int below 2^30.
        """
        h = humidity_centi
        h = 0 if h < 0 else 10000 if h > 10000 else h
        t = temperature_centi + 4500
        t = 0 if t < 0 else 17500 if t > 17500 else t
        self._set_words((h * 65535 + 5000) // 10000, (t * 13107 + 1750) // 3500)

    def compensate(
        self, temperature: int | None, humidity: int | None, pressure: int | None
    ) -> None:
        """Before a measurement: set_compensation() from the node's air, if known.

        Otherwise the last compensation stays (table 10's defaults at first).
        """
        if temperature is not None and humidity is not None:
            self.set_compensation(temperature, humidity)

    def start(self) -> int:
        """Start a measurement; returns the ms until read() may run.

        30 ms with the heater on; 170 ms with it off, the first measurement
        only heating the plate (read() then measures again).
        """
        try:
            self._i2c.writeto(self._address, self._measure)
        except OSError:
            raise OSError("SGP40: no answer") from None
        self._heating = not self._hot
        self._hot = True
        return _HEAT_UP_MS if self._heating else _MEASURE_MS

    def read(self) -> bool:
        """Fetch SRAW and feed the algorithm; True (a new reading). No buffer
        allocated (the algorithm's float arithmetic makes short-lived floats)."""
        w = self._word
        try:
            if self._heating:
                # The plate is hot now. Fetch the heating measurement's result
                # and drop it, as Sensirion's recipe does, then measure again.
                self._heating = False
                self._i2c.readfrom_into(self._address, w)
                self._i2c.writeto(self._address, self._measure)
                time.sleep_ms(_MEASURE_MS)
            self._i2c.readfrom_into(self._address, w)
        except OSError:
            raise OSError("SGP40: no answer") from None
        check_words(w, 1, "SGP40")
        sraw = word(w, 0)
        self.sraw = sraw
        if self.algorithm is not None:
            self.voc_index = self.algorithm.process(sraw)
        return True

    def stop(self) -> None:
        """Heater off: the chip idles at 34 µA typ. until the next start()."""
        try:
            self._send(_SGP4X_TURN_HEATER_OFF)
        except OSError:
            raise OSError("SGP40: no answer") from None
        time.sleep_ms(_COMMAND_MS)  # the chip takes no command before it is done
        self._hot = False
        self._heating = False

    def self_test(self) -> None:
        """Run the built-in self-test (320 ms, blocking); OSError if it fails.

        The hotplate and the MOX layer are checked (section 3.3). Called in
        idle mode the chip returns to idle; during measurements the heater
        stays on. Too slow for every wake: for commissioning.
        """
        w = self._word
        try:
            self._send(_SGP40_EXECUTE_SELF_TEST)
            time.sleep_ms(_SELF_TEST_MS)
            self._i2c.readfrom_into(self._address, w)
        except OSError:
            raise OSError("SGP40: no answer") from None
        check_words(w, 1, "SGP40")
        if word(w, 0) != _SELF_TEST_PASSED:
            raise OSError("SGP40: self-test failed (0x%04x)" % word(w, 0))


# The sensor contract (firmware/roles.py), held by the type checker: a driver
# without one of its functions fails `make typecheck`. Gone on the node.
if TYPE_CHECKING:

    def _is_a_sensor(driver: SGP40) -> roles.Sensor:
        return driver

    def _takes_a_ports_bus(bus: roles.I2C) -> I2C:
        return bus
