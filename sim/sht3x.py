"""An emulated Sensirion SHT3x (SHT30/31/35) on the sim I2C bus.

It answers the 16-bit commands the way the datasheet (SHT3x-DIS, version 5,
section 4) describes. A single-shot measurement command (table 9) starts a
conversion; without clock stretching the read header is not acknowledged
until it is done; afterwards one 6-byte read returns the temperature and
humidity words, each with its CRC, and a second read without a new command
is not acknowledged. With clock stretching the chip holds the bus until the
result is there, which on this bus means the read gets it at once. The
status register (table 17) starts with its reset bit set (a power-up) and
is cleared by command 0x3041; the heater commands set and clear its heater
bit. Periodic acquisition is not emulated: its commands are not acknowledged.

Timing follows sim.clock and the datasheet's maximum durations (table 4),
so a driver that reads after the time start() returned passes, and one that
reads earlier fails. Raw values come from the conversion formulas (section
4.13) inverted: St = (T + 45) * 65535 / 175, Srh = RH * 65535 / 100.
"""

from sim.sensirion import RHTChip

# command: (duration in ms, clock stretching)
_MEASURE = {
    0x2400: (15.0, False),  # high repeatability
    0x240B: (6.0, False),  # medium
    0x2416: (4.0, False),  # low
    0x2C06: (15.0, True),
    0x2C0D: (6.0, True),
    0x2C10: (4.0, True),
}
_READ_STATUS = 0xF32D
_CLEAR_STATUS = 0x3041
_SOFT_RESET = 0x30A2
_HEATER_ON = 0x306D
_HEATER_OFF = 0x3066

# Status register bits (table 17).
STATUS_HEATER = 1 << 13
STATUS_RESET = 1 << 4  # a reset (power-up, soft reset) since the last clear
STATUS_COMMAND = 1 << 1  # the last command was not processed
STATUS_CHECKSUM = 1 << 0  # the last write's checksum failed


class SHT3x(RHTChip):
    """The chip (sim/sensirion.py's RHTChip has the measurement and the reply)."""

    RH_OFFSET = 0.0  # section 4.13: RH = 100 * Srh / 65535
    RH_SPAN = 100.0

    def __init__(
        self, address: int = 0x44, *, temperature: float = 21.5, humidity: float = 45.0
    ) -> None:
        super().__init__(address, temperature, humidity)
        self.status = STATUS_RESET  # as after power-up

    def write(self, data: bytes) -> bool:
        if self.busy():
            return False  # measuring: the address is not acknowledged
        if not data:
            return True  # an address-only probe
        if len(data) != 2:
            self.status |= STATUS_COMMAND
            return False
        command = data[0] << 8 | data[1]
        self.status &= ~STATUS_COMMAND
        if command in _MEASURE:
            duration, stretch = _MEASURE[command]
            self.measure(duration, stretch=stretch)
        elif command == _READ_STATUS:
            self.reply(self.status)
        elif command == _CLEAR_STATUS:
            self.status &= ~(STATUS_RESET | STATUS_COMMAND | STATUS_CHECKSUM)
        elif command == _SOFT_RESET:
            self.status = STATUS_RESET
            self.idle()
        elif command == _HEATER_ON:
            self.status |= STATUS_HEATER
        elif command == _HEATER_OFF:
            self.status &= ~STATUS_HEATER
        else:
            self.status |= STATUS_COMMAND
            return False  # an unknown command is not acknowledged
        return True


# The sim board's part for this sensor (sim/port.py): the chip, and which of
# the world's air quantities it measures (its constructor's keywords).
PART = (SHT3x, ("temperature", "humidity"))
