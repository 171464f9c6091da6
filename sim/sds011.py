"""An emulated Nova Fitness SDS011 (Laser Dust Sensor Control Protocol V1.3) on a sim UART.

Its `pm2_5` and `pm10` attributes are the concentrations in µg/m³. Packets
are built here from the protocol document, independently of the driver:

- command, 19 bytes: 0xAA 0xB4, data bytes 1..15 (byte 1 the command,
  bytes 14-15 the device ID or FF FF for any), checksum, 0xAB;
- reply, 10 bytes: 0xAA 0xC5, command, three data bytes, device ID (2),
  checksum, 0xAB;
- data, 10 bytes: 0xAA 0xC0, PM2.5 low/high, PM10 low/high (0.1 µg/m³),
  device ID (2), checksum, 0xAB;

the checksum being the low 8 bits of the sum of the data bytes (not head,
command ID or tail). Commands: 2 reporting mode (query or set; the setting
survives power-off, factory default active), 4 query data, 6 sleep/work
(query or set), 7 firmware version, 8 working period (kept and reported,
not acted on: reporting stays continuous).

As units behave in the field, a sleeping one ignores every command but
"set work", which it answers. Active reporting sends a data packet every
second. Before 30 s of fan time (the time the working-period mode runs the
fan before it reports) the emulator under-reads, in proportion.
`corrupt = True` spoils the checksum of the data packets sent meanwhile.
"""

import sim.clock
from sim.history import remember
from sim.uart import UartChip

CMD_MODE = 2
CMD_QUERY = 4
CMD_SLEEP_WORK = 6
CMD_VERSION = 7
CMD_PERIOD = 8

WARMUP_MS = 30000
INTERVAL_MS = 1000  # "serial data output frequency: 1 time/s"


def checksum(data: bytes | bytearray) -> int:
    return sum(data) & 0xFF


def command(cmd: int, b2: int = 0, b3: int = 0, device: int = 0xFFFF) -> bytes:
    """A host command as the protocol document lays it out."""
    data = bytes((cmd, b2, b3)) + bytes(10) + bytes((device >> 8, device & 0xFF))
    return b"\xaa\xb4" + data + bytes((checksum(data), 0xAB))


def packet(kind: int, b1: int, b2: int, b3: int, b4: int, device: int) -> bytes:
    """A 10-byte packet from the sensor: kind 0xC5 (reply) or 0xC0 (data)."""
    data = bytes((b1, b2, b3, b4, device >> 8, device & 0xFF))
    return bytes((0xAA, kind)) + data + bytes((checksum(data), 0xAB))


class SDS011(UartChip):
    def __init__(
        self,
        pm2_5: float = 7.5,
        pm10: float = 11.0,
        device_id: int = 0xA160,
        query_mode: bool = False,
        asleep: bool = False,
    ) -> None:
        super().__init__()
        self.pm2_5 = pm2_5
        self.pm10 = pm10
        self.device_id = device_id
        self.query_mode = query_mode  # False: active reporting, the factory default
        self.asleep = asleep
        self.period = 0  # working period in minutes; 0 = continuous
        self.corrupt = False
        self.frames = 0
        self.mode_writes = 0  # "set reporting mode" commands: each one writes the sensor's flash
        self.commands: list[bytes] = []  # data bytes 1..3 of each valid command heard
        now = sim.clock.ticks_ms()
        self.woke_at = now - WARMUP_MS
        self._last = now
        self._rx = b""

    def receive(self, data: bytes) -> None:
        if self.silent:
            return
        rx = self._rx + data
        while len(rx) >= 19:
            if rx[0] != 0xAA or rx[1] != 0xB4 or rx[18] != 0xAB or checksum(rx[2:17]) != rx[17]:
                rx = rx[1:]
                continue
            cmd = rx[2:17]
            rx = rx[19:]
            if cmd[13] << 8 | cmd[14] in (0xFFFF, self.device_id):
                self._command(cmd)
        self._rx = rx

    def _reply(self, b1: int, b2: int, b3: int, b4: int = 0) -> None:
        self.send(packet(0xC5, b1, b2, b3, b4, self.device_id))

    def _command(self, d: bytes) -> None:
        remember(self.commands, d[:3])
        now = sim.clock.ticks_ms()
        self.tick(now)
        cmd, write, value = d[0], d[1], d[2]
        if self.asleep:
            if cmd == CMD_SLEEP_WORK and write and value == 1:
                self.asleep = False
                self.woke_at = self._last = now
                self._reply(cmd, 1, 1)
            return
        if cmd == CMD_MODE:
            if write:
                self.query_mode = value == 1
                self.mode_writes += 1
            self._reply(cmd, write, 1 if self.query_mode else 0)
        elif cmd == CMD_QUERY:
            self.send(self.data(now))
        elif cmd == CMD_SLEEP_WORK:
            if write:
                self.asleep = value == 0
            self._reply(cmd, write, 0 if self.asleep else 1)
        elif cmd == CMD_VERSION:
            self._reply(cmd, 15, 7, 10)  # the protocol document's example: 15-7-10
        elif cmd == CMD_PERIOD:
            if write:
                self.period = value
            self._reply(cmd, write, self.period)

    def data(self, now: int) -> bytes:
        f = min(1.0, max(0, now - self.woke_at) / WARMUP_MS)
        pm2_5 = min(9999, round(self.pm2_5 * f * 10))  # the range ends at 999.9 µg/m³
        pm10 = min(9999, round(self.pm10 * f * 10))
        p = bytearray(
            packet(0xC0, pm2_5 & 0xFF, pm2_5 >> 8, pm10 & 0xFF, pm10 >> 8, self.device_id)
        )
        if self.corrupt:
            p[8] ^= 0x5A
        self.frames += 1
        return bytes(p)

    def tick(self, now: int) -> None:
        if self.silent or self.asleep or self.query_mode:
            self._last = max(self._last, now - INTERVAL_MS)
            return
        if now - self._last > 10 * INTERVAL_MS:
            self._last = now - 10 * INTERVAL_MS  # older packets would have overflowed anyway
        while now - self._last >= INTERVAL_MS:
            self._last += INTERVAL_MS
            self.send(self.data(self._last), self._last)


# The sim board's part for this sensor (sim/port.py): the chip, and which of
# the world's air quantities it measures (its constructor's keywords).
PART = (SDS011, ("pm2_5", "pm10"))
