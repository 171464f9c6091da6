"""Plantower PMS5003: PM1, PM2.5 and PM10 over a UART (9600 8N1).

Datasheet: Plantower PMS5003 series data manual V2.3 (2016): Appendix I,
the 32-byte data frame; Appendix II, passive mode and the host's commands.
The driver keeps the sensor in passive mode, where it sends a frame only
when asked (command 0xE2), so a reading is always fresh and never a frame
that sat in the receive buffer; the fan and laser sleep between cycles
(command 0xE4, or the SET pin low).

What the manual leaves out is handled as units behave in the field:
the mode and sleep commands are answered with an 8-byte frame (length 4),
wake-up is not answered, a unit may come back from sleep in active mode,
and a sleeping unit may hear nothing but the wake-up command.

With a SET pin: an ESP32 lets its pins float in deep sleep, and SET is
pulled up inside the sensor, so the sensor wakes up while the node sleeps
unless the pin is held (Pin(..., hold=True) on an ESP32). Without one the
sleep command alone keeps it asleep.
"""

import time

from micropython import const
from uart_sensor import UartSensor

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from typing import Protocol

    import roles
    from _mpy_shed.time_mp import _TicksMs as Ticks  # an int on the node; opaque to mypy
    from uart_sensor import UART

    class Pin(Protocol):
        def on(self) -> None: ...
        def off(self) -> None: ...


# Frame start characters and the "frame length" field (datasheet Appendix I:
# frame length = 2 x 13 + 2, thirteen data words and the check code).
_START_1 = const(0x42)
_START_2 = const(0x4D)
_DATA_LEN = const(28)
_ANSWER_LEN = const(4)  # answer to a mode or sleep command: CMD, DATA, check code

# Host commands: 0x42 0x4D CMD DATAH DATAL LRCH LRCL.
_CMD_READ = const(0xE2)  # read in passive mode
_CMD_CHANGE_MODE = const(0xE1)  # data 0: passive, 1: active
_CMD_SLEEP = const(0xE4)  # data 0: sleep, 1: wake up
_MODE_PASSIVE = const(0)
_SLEEP = const(0)
_WAKEUP = const(1)

# "Stable data should be got at least 30 seconds after the sensor wakeup
# from the sleep mode because of the fan's performance."
_WARMUP_MS = const(30000)
_READ_MS = const(2000)  # read(): the whole exchange, however many retries
_ANSWER_MS = const(500)  # a command's answer (it comes within a few ms)
_BOOT_MS = const(2000)  # constructor: answer from a unit just woken up
_FRAME_MS = const(100)  # the rest of a frame once its start has come: 32 bytes take 33 ms

# _receive() results.
_NONE = const(0)  # the deadline passed
_OK = const(1)  # a frame with a good check code is in _buf
_BAD = const(2)  # a frame came with a wrong check code
_BROKEN = const(3)  # a frame started but did not finish in time: bytes were lost


class PMS5003(UartSensor):
    """A PMS5003 on a UART, with its SET pin on `set_pin` if wired.

    After read(): pm1, pm2_5 and pm10 in deci-µg/m³ (ints). A failed read()
    raises OSError and leaves them as the last complete reading (None
    before the first).
    """

    def __init__(self, uart: UART, set_pin: Pin | None = None) -> None:
        super().__init__(uart, 32)
        self._set = set_pin
        mv = self._view
        self._length = mv[2:4]
        self._body = mv[4:]
        self._cmd = bytearray(7)
        self._cmd[0] = _START_1
        self._cmd[1] = _START_2
        self.pm1: int | None = None
        self.pm2_5: int | None = None
        self.pm10: int | None = None
        self._flush()
        if self._command(_CMD_CHANGE_MODE, _MODE_PASSIVE, _ANSWER_MS):
            return
        # No answer: maybe asleep since the last cycle's stop(). Wake it up,
        # ask again, and put it back to sleep: constructing the driver
        # leaves the sensor's power state as it was.
        self._wake()
        if not self._command(_CMD_CHANGE_MODE, _MODE_PASSIVE, _BOOT_MS):
            if self._set is not None:
                self._set.off()
            raise OSError("no PMS5003 on the UART")
        self._sleep()

    def start(self) -> int:
        """Wake the sensor up; returns the ms until its readings are stable."""
        self._wake()
        return _WARMUP_MS

    def read(self) -> bool:
        """Ask for one frame (passive mode) and convert it; True (a new
        reading). Allocates nothing."""
        buf = self._buf
        self._flush()  # whatever came before this call is stale
        now = time.ticks_ms()
        deadline = time.ticks_add(now, _READ_MS)
        wait = time.ticks_add(now, _ANSWER_MS)
        # Passive mode again first: a unit may have come back from sleep in
        # active mode. Its answer paces the read command, as field reports
        # say units drop a command that follows the previous one too closely.
        self._send(_CMD_CHANGE_MODE, _MODE_PASSIVE)
        asked = False
        bad = False
        for _ in range(_READ_MS):  # bounded twice: by the deadline, and by this count
            got = self._receive(deadline if asked else wait)
            if got == _OK and buf[3] == _DATA_LEN:
                # Data 4..6, bytes 10..15: PM1.0, PM2.5, PM10 "under atmospheric
                # environment", µg/m³. Not data 1..3 (CF=1, "standard
                # particle"): the manual's note says CF=1 is meant for the
                # factory environment, and this node measures outdoor air.
                self.pm1 = (buf[10] << 8 | buf[11]) * 10
                self.pm2_5 = (buf[12] << 8 | buf[13]) * 10
                self.pm10 = (buf[14] << 8 | buf[15]) * 10
                return True
            if got == _OK:  # an 8-byte answer: the mode answer means "now ask"
                if asked or buf[4] != _CMD_CHANGE_MODE:
                    continue
            elif got == _NONE:
                if asked:
                    break
            else:
                bad = bad or got == _BAD
            # In passive mode nothing more comes unless asked again.
            asked = True
            wait = deadline
            self._send(_CMD_READ, 0)
        if bad:
            raise OSError("PMS5003: no valid frame within 2000 ms (checksum mismatch)")
        raise OSError("PMS5003: no frame within 2000 ms")

    def stop(self) -> None:
        """Put the fan and laser to sleep (sleep command, then SET low)."""
        if not self._sleep() and self._set is None:
            raise OSError("PMS5003: no answer to the sleep command")

    def _wake(self) -> None:
        if self._set is not None:
            self._set.on()
        self._send(_CMD_SLEEP, _WAKEUP)  # not answered

    def _sleep(self) -> bool:
        # Asked twice at most: a lost command would leave the fan running
        # until the next cycle.
        ok = self._command(_CMD_SLEEP, _SLEEP, _ANSWER_MS) or self._command(
            _CMD_SLEEP, _SLEEP, _ANSWER_MS
        )
        if self._set is not None:
            self._set.off()
        return ok

    def _send(self, cmd: int, data: int) -> None:
        c = self._cmd
        c[2] = cmd
        c[3] = 0
        c[4] = data
        lrc = _START_1 + _START_2 + cmd + data  # LRC: the sum of the bytes before it
        c[5] = lrc >> 8
        c[6] = lrc & 0xFF
        self._uart.write(c)

    def _command(self, cmd: int, data: int, ms: int) -> bool:
        """Send a mode or sleep command; True once its answer has come."""
        self._send(cmd, data)
        deadline = time.ticks_add(time.ticks_ms(), ms)
        buf = self._buf
        for _ in range(ms):
            got = self._receive(deadline)
            if got == _NONE:
                return False
            if got == _OK and buf[3] == _ANSWER_LEN and buf[4] == cmd and buf[5] == data:
                return True
        return False

    def _receive(self, deadline: Ticks) -> int:
        """Find the next frame on the line and read it into _buf."""
        uart = self._uart
        buf = self._buf
        # Hunt for 0x42 0x4D: after garbage, or after joining the line in
        # the middle of a frame, the start is wherever these two bytes are.
        prev = 0
        while True:  # bounded: _wait() is False once the deadline has passed
            if not self._wait(1, deadline):
                return _NONE
            uart.readinto(self._byte, 1)
            if prev == _START_1 and buf[1] == _START_2:
                break
            prev = buf[1]
        buf[0] = _START_1
        # The rest follows back to back; if it stops short, bytes were lost.
        end = time.ticks_add(time.ticks_ms(), _FRAME_MS)
        if time.ticks_diff(deadline, end) < 0:
            end = deadline
        if not self._wait(2, end):
            return _BROKEN
        uart.readinto(self._length, 2)
        n = buf[2] << 8 | buf[3]
        if n != _DATA_LEN and n != _ANSWER_LEN:
            return _BROKEN  # 0x42 0x4D inside garbage: hunt on from here
        if not self._wait(n, end):
            return _BROKEN
        uart.readinto(self._body, n)
        total = 0
        for i in range(n + 2):  # check code: the sum of every byte before it
            total += buf[i]
        if total & 0xFFFF != buf[n + 2] << 8 | buf[n + 3]:
            return _BAD
        return _OK


# The sensor contract (firmware/roles.py), held by the type checker: a driver
# without one of its functions fails `make typecheck`. Gone on the node.
if TYPE_CHECKING:

    def _is_a_sensor(driver: PMS5003) -> roles.Sensor:
        return driver
