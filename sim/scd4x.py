"""An emulated Sensirion SCD41 (datasheet SCD4x v1.3, September 2022) on the sim I2C bus.

The chip reports its `co2` (ppm), `temperature` (°C) and `humidity` (%RH)
attributes as the datasheet's words (section 3.5.2), each with its CRC
(sim/sensirion.py). Its modes follow the datasheet:

- idle: every command is accepted.
- periodic (`periodic=True`, a chip another firmware left measuring): only
  the commands table 9 allows during measurement are acted on; others are
  acknowledged and ignored, so a read that follows finds nothing (NACK).
  A new result every 5 s.
- asleep (`asleep=True`, or after power_down): nothing is acknowledged;
  wake_up wakes the chip, though it is not acknowledged either (3.10.4).

While a command executes (500 ms after stop_periodic_measurement, 5000 ms
after measure_single_shot, 1 ms for the rest) the chip NACKs everything,
timed by sim.clock so that a node's skipped naps count. read_measurement
with no result in the buffer NACKs (section 3.5.2). An argument word with
a wrong CRC is refused (NACK): the datasheet does not say what the chip
does then, and refusing is the visible choice. `corrupt` flips the CRC of
every reply; `silent` (sim.i2c) makes it answer nothing at all.
"""

import sim.clock
from sim.history import remember
from sim.i2c import Chip
from sim.sensirion import crc8, words

_STOP_PERIODIC_MEASUREMENT = 0x3F86
_START_PERIODIC_MEASUREMENT = 0x21B1
_SET_AMBIENT_PRESSURE = 0xE000
_GET_DATA_READY_STATUS = 0xE4B8
_READ_MEASUREMENT = 0xEC05
_GET_SERIAL_NUMBER = 0x3682
_MEASURE_SINGLE_SHOT = 0x219D
_POWER_DOWN = 0x36E0
_WAKE_UP = 0x36F6

# Table 9's "during measurement: yes" column.
_DURING_MEASUREMENT = (
    _READ_MEASUREMENT,
    _STOP_PERIODIC_MEASUREMENT,
    _SET_AMBIENT_PRESSURE,
    _GET_DATA_READY_STATUS,
)
_PERIOD_MS = 5000
_SINGLE_SHOT_MS = 5000
_STOP_MS = 500
_WAKE_UP_MS = 30

IDLE = "idle"
PERIODIC = "periodic"
ASLEEP = "asleep"


def _ticks(value: float, scale: float, offset: float = 0.0) -> int:
    """A physical value as the datasheet's 16-bit word: (value + offset) * 65535 / scale."""
    return max(0, min(0xFFFF, round((value + offset) * 65535 / scale)))


class SCD41(Chip):
    def __init__(
        self,
        address: int = 0x62,
        *,
        co2: float = 420.0,
        temperature: float = 20.0,
        humidity: float = 50.0,
        serial: int = 0xF8969F073BBE,  # the datasheet's example (section 3.9.2)
        periodic: bool = False,
        asleep: bool = False,
    ) -> None:
        super().__init__(address)
        self.co2 = co2
        self.temperature = temperature
        self.humidity = humidity
        self.serial = serial
        self.mode = PERIODIC if periodic else ASLEEP if asleep else IDLE
        self.corrupt = False
        self.ambient_pressure: int | None = None  # hPa, as last set (None: the default)
        self.bad_crc = 0  # argument words refused for a wrong CRC
        self.commands: list[int] = []  # every command acknowledged, for tests to look at
        self._busy_until = 0
        self._ready_at: int | None = None  # when the pending result becomes readable
        self._reply: bytes | None = None
        if periodic:
            self._ready_at = sim.clock.ticks_ms() + _PERIOD_MS

    def _ready(self, now: int) -> bool:
        return self._ready_at is not None and now >= self._ready_at

    def write(self, data: bytes) -> bool:
        now = sim.clock.ticks_ms()
        if self.mode == ASLEEP:
            if data[:2] == b"\x36\xf6":  # _WAKE_UP
                self.mode = IDLE
                self._busy_until = now + _WAKE_UP_MS
            return False  # asleep, or wake_up: never acknowledged
        if now < self._busy_until:
            return False  # executing the last command
        if not data:
            return True  # an address-only probe
        if len(data) < 2:
            return False
        cmd = data[0] << 8 | data[1]
        if cmd == _WAKE_UP:
            return False  # not acknowledged in any mode (section 3.10.4)
        self._reply = None  # a new command drops an unread reply
        if self.mode == PERIODIC and cmd not in _DURING_MEASUREMENT:
            remember(self.commands, cmd)
            return True  # ignored (table 9)
        busy = 1
        if cmd == _STOP_PERIODIC_MEASUREMENT:
            self.mode = IDLE
            self._ready_at = None
            busy = _STOP_MS
        elif cmd == _START_PERIODIC_MEASUREMENT:
            self.mode = PERIODIC
            self._ready_at = now + _PERIOD_MS
            busy = 0
        elif cmd == _MEASURE_SINGLE_SHOT:
            self._ready_at = now + _SINGLE_SHOT_MS
            busy = _SINGLE_SHOT_MS
        elif cmd == _GET_DATA_READY_STATUS:
            # Only the 11 least significant bits mean anything (section 3.8.2).
            self._reply = words(0x8006 if self._ready(now) else 0x8000, corrupt=self.corrupt)
        elif cmd == _READ_MEASUREMENT:
            if self._ready(now):
                self._reply = words(
                    max(0, min(0xFFFF, round(self.co2))),
                    _ticks(self.temperature, 175.0, 45.0),
                    _ticks(self.humidity, 100.0),
                    corrupt=self.corrupt,
                )
                # The buffer empties on read-out; in periodic mode the next
                # result comes one period after this one.
                if self.mode == PERIODIC:
                    assert self._ready_at is not None
                    self._ready_at += _PERIOD_MS
                else:
                    self._ready_at = None
        elif cmd == _GET_SERIAL_NUMBER:
            s = self.serial
            self._reply = words(
                s >> 32 & 0xFFFF, s >> 16 & 0xFFFF, s & 0xFFFF, corrupt=self.corrupt
            )
        elif cmd == _SET_AMBIENT_PRESSURE:
            if len(data) != 5:
                return False
            if crc8(data[2:4]) != data[4]:
                self.bad_crc += 1
                return False
            self.ambient_pressure = data[2] << 8 | data[3]
        elif cmd == _POWER_DOWN:
            self.mode = ASLEEP
            self._ready_at = None
        else:
            return False  # a command this emulator does not know
        remember(self.commands, cmd)
        self._busy_until = now + busy
        return True

    def read(self, n: int) -> bytes | None:
        if self.mode == ASLEEP or sim.clock.ticks_ms() < self._busy_until:
            return None
        reply = self._reply
        if reply is None or n > len(reply):
            return None
        self._reply = None
        return reply[:n]


# The sim board's part for this sensor (sim/port.py): the chip, and which of
# the world's air quantities it measures (its constructor's keywords).
PART = (SCD41, ("co2", "temperature", "humidity"))
