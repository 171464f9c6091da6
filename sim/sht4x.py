"""An emulated Sensirion SHT4x (SHT40/41/45) on the sim I2C bus.

It answers one-byte commands the way the datasheet (version 6, section 4)
describes: a measurement command starts a conversion during which the chip
acknowledges nothing, not even its address; afterwards one 6-byte read
returns the temperature and humidity words, each with its CRC, and a second
read without a new command is not acknowledged. Timing follows sim.clock and
the datasheet's maximum durations (table 5), so a driver that reads after
the time start() returned passes, and one that reads earlier fails.

Raw values come from the datasheet's conversion formulas (section 4.6)
inverted: St = (T + 45) * 65535 / 175, Srh = (RH + 6) * 65535 / 125.
"""

from sim.sensirion import RHTChip

_DURATION_MS = {0xFD: 8.3, 0xF6: 4.5, 0xE0: 1.6}  # high, medium, low repeatability
_READ_SERIAL = 0x89
_SOFT_RESET = 0x94


class SHT4x(RHTChip):
    """The chip (sim/sensirion.py's RHTChip has the measurement and the reply)."""

    RH_OFFSET = -6.0  # section 4.6: RH = -6 + 125 * Srh / 65535
    RH_SPAN = 125.0

    def __init__(
        self,
        address: int = 0x44,
        *,
        temperature: float = 21.5,
        humidity: float = 45.0,
        serial: int = 0x0F1D_2C3B,
    ) -> None:
        super().__init__(address, temperature, humidity)
        self.serial = serial

    def write(self, data: bytes) -> bool:
        if self.busy():
            return False  # measuring: the address is not acknowledged
        if not data:
            return True  # an address-only probe
        if len(data) != 1:
            return False
        command = data[0]
        if command in _DURATION_MS:
            self.measure(_DURATION_MS[command])
        elif command == _READ_SERIAL:
            self.reply(self.serial >> 16, self.serial & 0xFFFF)
        elif command == _SOFT_RESET:
            self.idle()
        else:
            return False  # an unknown command is not acknowledged
        return True


# The sim board's part for this sensor (sim/port.py): the chip, and which of
# the world's air quantities it measures (its constructor's keywords).
PART = (SHT4x, ("temperature", "humidity"))
