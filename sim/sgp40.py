"""An emulated Sensirion SGP40 (datasheet v1.0, July 2020, and later) on the sim I2C bus.

What it measures is a toy, monotonic model, not a calibrated one: the raw
signal SRAW is `sraw` ticks in clean air (30 000, a plausible value) and drops
by 3000 * voc / (voc + 1 ppm) ticks, `voc` being a VOC concentration in ppm
ethanol equivalent: 1500 ticks at 1 ppm, never more than 3000. More VOC,
lower MOX resistance, lower SRAW, flattening out at high concentrations:
enough to drive the VOC Index up and down, nothing more. Humidity
compensation is not modelled; the last compensation words received are
kept in `rh_ticks` and `t_ticks`.

The hotplate: a measurement commanded less than 170 ms after the heater
came on reads a cold plate, `sraw` + 5000 ticks (a cold MOX layer has a
higher resistance), so a driver that skips the warm-up is caught.

Timing by sim.clock: the chip NACKs everything for 30 ms after a
measurement command, 320 ms after the self-test, 1 ms after the others
(datasheet table 8). An argument word with a wrong CRC is refused (NACK):
the datasheet does not say what the chip does then, and refusing is the
visible choice. `corrupt` flips the CRC of every reply; `silent` (sim.i2c)
makes it answer nothing.
"""

import sim.clock
from sim.history import remember
from sim.i2c import Chip
from sim.sensirion import crc8, words

_SGP40_MEASURE_RAW_SIGNAL = 0x260F
_SGP40_EXECUTE_SELF_TEST = 0x280E
_SGP4X_TURN_HEATER_OFF = 0x3615
_SGP4X_GET_SERIAL_NUMBER = 0x3682

_MEASURE_MS = 30
_SELF_TEST_MS = 320
_WARM_MS = 170
_COLD_OFFSET = 5000  # ticks
_VOC_DROP = 3000.0  # ticks, at a very high concentration
_VOC_HALF = 1.0  # ppm: the concentration of half that drop


class SGP40(Chip):
    def __init__(
        self,
        address: int = 0x59,
        *,
        voc: float = 0.0,
        sraw: int = 30000,
        serial: int = 0x0000_0B1E_4F2A,
        self_test_ok: bool = True,
    ) -> None:
        super().__init__(address)
        self.voc = voc
        self.sraw = sraw
        self.serial = serial
        self.self_test_ok = self_test_ok
        self.corrupt = False
        self.heater = False
        self.rh_ticks: int | None = None
        self.t_ticks: int | None = None
        self.bad_crc = 0  # measure commands refused for a wrong argument CRC
        self.commands: list[int] = []
        self._heater_on_at = 0
        self._busy_until = 0
        self._reply: bytes | None = None

    def signal(self, warm: bool = True) -> int:
        """The SRAW this chip reports now (the model above)."""
        voc = max(0.0, self.voc)
        v = self.sraw - _VOC_DROP * voc / (voc + _VOC_HALF)
        if not warm:
            v += _COLD_OFFSET
        return max(0, min(0xFFFF, round(v)))

    def write(self, data: bytes) -> bool:
        now = sim.clock.ticks_ms()
        if now < self._busy_until:
            return False  # measuring: "the sensor aborts the communication with a NACK"
        if not data:
            return True  # an address-only probe
        if len(data) < 2:
            return False
        cmd = data[0] << 8 | data[1]
        self._reply = None
        busy = 1
        if cmd == _SGP40_MEASURE_RAW_SIGNAL:
            if len(data) != 8:
                return False
            if crc8(data[2:4]) != data[4] or crc8(data[5:7]) != data[7]:
                self.bad_crc += 1
                return False
            self.rh_ticks = data[2] << 8 | data[3]
            self.t_ticks = data[5] << 8 | data[6]
            if not self.heater:
                self.heater = True
                self._heater_on_at = now
            warm = now - self._heater_on_at >= _WARM_MS
            self._reply = words(self.signal(warm), corrupt=self.corrupt)
            busy = _MEASURE_MS
        elif cmd == _SGP40_EXECUTE_SELF_TEST:
            # From idle the chip returns to idle; in measurement mode the heater
            # stays on (section 3.3): the heater flag is left as it is.
            self._reply = words(0xD400 if self.self_test_ok else 0x4B00, corrupt=self.corrupt)
            busy = _SELF_TEST_MS
        elif cmd == _SGP4X_TURN_HEATER_OFF:
            self.heater = False
        elif cmd == _SGP4X_GET_SERIAL_NUMBER:
            s = self.serial
            self._reply = words(
                s >> 32 & 0xFFFF, s >> 16 & 0xFFFF, s & 0xFFFF, corrupt=self.corrupt
            )
        else:
            return False
        remember(self.commands, cmd)
        self._busy_until = now + busy
        return True

    def read(self, n: int) -> bytes | None:
        if sim.clock.ticks_ms() < self._busy_until:
            return None
        reply = self._reply
        if reply is None or n > len(reply):
            return None
        self._reply = None
        return reply[:n]


# The sim board's part for this sensor (sim/port.py): the chip, and which of
# the world's air quantities it measures (its constructor's keywords).
PART = (SGP40, ("voc",))
