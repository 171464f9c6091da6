"""An emulated Plantower PMS5003 (PMS5003 series data manual V2.3) on a sim UART.

Its `pm1`, `pm2_5` and `pm10` attributes are the ambient concentrations in
µg/m³, what the sensor reports as "atmospheric environment" (data 4..6).
Frames and commands are built here from the manual's layout, independently
of the firmware's driver:

- data frame, 32 bytes: 0x42 0x4D, frame length 2 * 13 + 2 = 28, thirteen
  big-endian words (PM1/PM2.5/PM10 CF=1, the same in atmospheric
  environment, six particle counts per 0.1 L, a reserved word), then the
  sum of every byte before it as 16 bits;
- host command, 7 bytes: 0x42 0x4D CMD DATAH DATAL LRCH LRCL, LRC the same
  sum: 0xE1 mode (0 passive, 1 active), 0xE2 read in passive mode, 0xE4
  sleep (0) or wake up (1).

What the manual leaves out is taken from how units behave in the field:
mode and sleep commands are answered with 42 4D 00 04 CMD DATA and the sum,
wake-up is not answered, a unit woken up is back in active mode, and a
sleeping unit hears nothing but the wake-up command.

Timing on sim.clock: power-up in active mode (manual: "default mode is
active after power up"), one frame a second in active mode. The manual
wants 30 s after a wake-up before the data are stable; before that this
emulator under-reads, in proportion to the time the fan has had.
`corrupt = True` spoils the checksum of the data frames sent while it is set.
"""

import struct

import sim.clock
from sim.history import remember
from sim.uart import UartChip

PASSIVE = 0
ACTIVE = 1

CMD_MODE = 0xE1
CMD_READ = 0xE2
CMD_SLEEP = 0xE4

WARMUP_MS = 30000  # manual, "Circuit attentions" 4)
INTERVAL_MS = 1000  # active mode's frame period used here (the manual: 200 ms .. 2.3 s)


def checksum(data: bytes | bytearray) -> int:
    """The manual's check code: the sum of the bytes, as 16 bits."""
    return sum(data) & 0xFFFF


def command(cmd: int, data: int) -> bytes:
    """A host command as the manual lays it out."""
    head = bytes((0x42, 0x4D, cmd, data >> 8, data & 0xFF))
    return head + struct.pack(">H", checksum(head))


def answer(cmd: int, data: int) -> bytes:
    """The 8-byte answer units give to the mode and sleep commands."""
    head = bytes((0x42, 0x4D, 0x00, 0x04, cmd, data))
    return head + struct.pack(">H", checksum(head))


def cf1(atmospheric: float) -> float:
    """A CF=1 ('standard particle') value for an atmospheric one.

    Illustrative, not from the manual: units report both alike in clean
    air and CF=1 higher above ~30 µg/m³. Only there so that a driver that
    picks the wrong words reads a wrong value.
    """
    return atmospheric if atmospheric <= 30 else atmospheric * 1.5 - 15


class PMS5003(UartChip):
    def __init__(
        self, pm1: float = 4.0, pm2_5: float = 7.5, pm10: float = 11.0, asleep: bool = False
    ) -> None:
        super().__init__()
        self.pm1 = pm1
        self.pm2_5 = pm2_5
        self.pm10 = pm10
        self.corrupt = False
        self.mode = ACTIVE
        self.asleep = asleep  # by the sleep command
        self.pin_low = False  # SET held low: asleep whatever the commands say
        self.frames = 0  # data frames sent
        self.commands: list[tuple[int, int]] = []  # (CMD, data) of each valid command heard
        now = sim.clock.ticks_ms()
        self.woke_at = now - WARMUP_MS  # a unit found awake has been running a while
        self._last = now
        self._rx = b""

    @property
    def sleeping(self) -> bool:
        return self.asleep or self.pin_low

    def set_pin(self, level: int) -> None:
        """The SET input: high (or floating, pulled up inside) works, low sleeps."""
        was = self.sleeping
        self.pin_low = not level
        if was and not self.sleeping:
            self._woken(sim.clock.ticks_ms())

    def _woken(self, now: int) -> None:
        self.woke_at = now
        self.mode = ACTIVE
        self._last = now

    def receive(self, data: bytes) -> None:
        if self.silent:
            return
        rx = self._rx + data
        while len(rx) >= 7:
            if rx[0] != 0x42 or rx[1] != 0x4D:
                rx = rx[1:]
                continue
            cmd = rx[:7]
            if checksum(cmd[:5]) != cmd[5] << 8 | cmd[6]:
                rx = rx[1:]  # not a command after all: look further on
                continue
            rx = rx[7:]
            self._command(cmd[2], cmd[3] << 8 | cmd[4])
        self._rx = rx

    def _command(self, cmd: int, data: int) -> None:
        remember(self.commands, (cmd, data))
        now = sim.clock.ticks_ms()
        self.tick(now)
        if self.sleeping:
            if cmd == CMD_SLEEP and data == 1 and not self.pin_low:
                self.asleep = False
                self._woken(now)
            return
        if cmd == CMD_MODE and data in (PASSIVE, ACTIVE):
            self.mode = data
            self._last = now
            self.send(answer(cmd, data))
        elif cmd == CMD_READ and self.mode == PASSIVE:
            self.send(self.frame(now))
        elif cmd == CMD_SLEEP and data == 0:
            self.send(answer(cmd, data))
            self.asleep = True

    def fan(self, now: int) -> float:
        """How far the fan has come since the wake-up: 1.0 once stable."""
        return min(1.0, max(0, now - self.woke_at) / WARMUP_MS)

    def frame(self, now: int) -> bytes:
        """One data frame for the current air, as the manual lays it out."""
        f = self.fan(now)
        atm = [v * f for v in (self.pm1, self.pm2_5, self.pm10)]
        std = [cf1(v) for v in atm]
        # Particles per 0.1 L above 0.3, 0.5, 1.0, 2.5, 5.0 and 10 µm: a
        # rough spectrum that grows with the mass; no driver here uses them.
        counts = [atm[0] * 60, atm[0] * 18, atm[1] * 3, atm[1] * 0.4, atm[2] * 0.1, atm[2] * 0.02]
        words = [min(0xFFFF, round(v)) for v in std + atm + counts]
        words.append(0x9700)  # data 13, reserved: units send their version byte here
        body = b"\x42\x4d\x00\x1c" + struct.pack(">13H", *words)
        check = checksum(body) ^ (0x5A5A if self.corrupt else 0)
        self.frames += 1
        return body + struct.pack(">H", check)

    def tick(self, now: int) -> None:
        if self.silent or self.sleeping or self.mode != ACTIVE:
            return
        if now - self._last > 10 * INTERVAL_MS:
            # Nobody read the line for a while: older frames would have
            # overflowed the host's buffer anyway. Emit the last few only.
            self._last = now - 10 * INTERVAL_MS
        while now - self._last >= INTERVAL_MS:
            self._last += INTERVAL_MS
            self.send(self.frame(self._last), self._last)


class SetPin:
    """The sensor's SET input as the machine.Pin a driver drives (on/off/value)."""

    def __init__(self, chip: PMS5003) -> None:
        self._chip = chip
        self._level = 1

    def value(self, level: int | None = None) -> int:
        if level is not None:
            self._level = 1 if level else 0
            self._chip.set_pin(self._level)
        return self._level

    def on(self) -> None:
        self.value(1)

    def off(self) -> None:
        self.value(0)


# The sim board's part for this sensor (sim/port.py): the chip, and which of
# the world's air quantities it measures (its constructor's keywords).
PART = (PMS5003, ("pm1", "pm2_5", "pm10"))
