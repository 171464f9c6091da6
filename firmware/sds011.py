"""Nova Fitness SDS011: PM2.5 and PM10 over a UART (9600 8N1).

Sources: the SDS011 datasheet and Nova's "Laser Dust Sensor Control
Protocol V1.3" (2015). The host sends 19-byte commands, 0xAA 0xB4, data
bytes 1..15, checksum, 0xAB, with the device ID FF FF in data bytes 14-15
("any sensor"); the sensor replies with 10-byte packets, 0xAA 0xC5 for a
command's reply and 0xAA 0xC0 for data. The checksum is the low 8 bits of
the sum of the data bytes (not the head, the command ID or the tail).

The driver keeps the sensor in query reporting mode, where it sends data
only when asked (command 4), so a reading is fresh and not a packet that
sat in the receive buffer; the fan and laser sleep between cycles
(command 6). The SDS011 does not measure PM1: pm1 stays None.

Users report that a sleeping SDS011 ignores every command but "set work";
the constructor copes with a sensor left asleep by the last cycle.
"""

import time

from micropython import const
from uart_sensor import UartSensor

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    import roles
    from _mpy_shed.time_mp import _TicksMs as Ticks  # an int on the node; opaque to mypy
    from uart_sensor import UART


_HEAD = const(0xAA)
_TAIL = const(0xAB)
_COMMAND_ID = const(0xB4)  # host -> sensor
_REPLY_ID = const(0xC5)  # sensor -> host, reply to a command
_DATA_ID = const(0xC0)  # sensor -> host, a measurement

# Data byte 1: the command. Data byte 2: 0 query, 1 set. Data byte 3: the value.
_REPORTING_MODE = const(2)  # value 0: active reporting, 1: query reporting
_QUERY_DATA = const(4)
_SLEEP_WORK = const(6)  # value 0: sleep, 1: work
_QUERY = const(0)
_SET = const(1)
_MODE_QUERY = const(1)
_SLEEP = const(0)
_WORK = const(1)

# The protocol's working-period mode runs the fan for 30 s before it
# reports a measurement: the time the sensor itself wants for stable data.
_WARMUP_MS = const(30000)
_READ_MS = const(2000)  # read(): the whole exchange, however many retries
_ANSWER_MS = const(500)  # a command's reply (it comes within a few ms)
_BOOT_MS = const(2000)  # constructor: reply from a sensor just woken up
_FRAME_MS = const(100)  # the rest of a packet once its start has come: 10 bytes take 10 ms

# _receive() results.
_NONE = const(0)  # the deadline passed
_OK = const(1)  # a packet with a good checksum is in _buf
_BAD = const(2)  # a packet came with a wrong checksum
_BROKEN = const(3)  # a packet started but did not end as one: bytes were lost


class SDS011(UartSensor):
    """An SDS011 on a UART.

    After read(): pm2_5 and pm10 in deci-µg/m³ (ints; the sensor's own unit
    of 0.1 µg/m³), pm1 None. A failed read() raises OSError and leaves them
    as the last complete reading (None before the first). device_id is
    the sensor's ID from its first reply.
    """

    def __init__(self, uart: UART) -> None:
        super().__init__(uart, 10)
        mv = self._view
        self._body = mv[2:]
        self._cmd = bytearray(19)
        self._cmd[0] = _HEAD
        self._cmd[1] = _COMMAND_ID
        self._cmd[15] = 0xFF  # device ID FF FF: whichever sensor is on the line
        self._cmd[16] = 0xFF
        self._cmd[18] = _TAIL
        self.pm1: int | None = None  # not measured by the SDS011
        self.pm2_5: int | None = None
        self.pm10: int | None = None
        self.device_id = 0
        self._flush()
        woke = False
        found = self._command(_REPORTING_MODE, _QUERY, 0, _ANSWER_MS)
        if not found:
            # No reply: maybe asleep since the last cycle's stop(). Wake it
            # up and ask again; it goes back to sleep below, so constructing
            # the driver leaves the sensor's power state as it was.
            woke = self._command(_SLEEP_WORK, _SET, _WORK, _BOOT_MS)
            found = woke and self._command(_REPORTING_MODE, _QUERY, 0, _ANSWER_MS)
        buf = self._buf
        try:
            if not found:
                raise OSError("no SDS011 on the UART")
            self.device_id = buf[6] << 8 | buf[7]
            # The reporting mode "is still effective after power off": set it
            # once in the sensor's life, not on every boot.
            if buf[4] != _MODE_QUERY and not (
                self._command(_REPORTING_MODE, _SET, _MODE_QUERY, _ANSWER_MS)
                and buf[4] == _MODE_QUERY
            ):
                raise OSError("SDS011: query reporting mode not confirmed")
        finally:
            if woke:
                self._command(_SLEEP_WORK, _SET, _SLEEP, _ANSWER_MS)

    def start(self) -> int:
        """Wake the sensor up; returns the ms until its readings are stable."""
        self._set_work(_WORK, "SDS011: no reply to the work command")
        return _WARMUP_MS

    def read(self) -> bool:
        """Query one measurement and convert it; True (a new reading). Allocates nothing."""
        buf = self._buf
        self._flush()  # whatever came before this call is stale
        deadline = time.ticks_add(time.ticks_ms(), _READ_MS)
        self._send(_QUERY_DATA, 0, 0)
        bad = False
        for _ in range(_READ_MS):  # bounded twice: by the deadline, and by this count
            got = self._receive(deadline)
            if got == _OK:
                if buf[1] == _DATA_ID:
                    # PM2.5 low, high; PM10 low, high: in 0.1 µg/m³, the
                    # frame's deci-µg/m³ already.
                    self.pm2_5 = buf[2] | buf[3] << 8
                    self.pm10 = buf[4] | buf[5] << 8
                    return True
                continue  # a late reply to another command
            if got == _NONE:
                break
            bad = bad or got == _BAD
            self._send(_QUERY_DATA, 0, 0)  # nothing more comes unless asked again
        if bad:
            raise OSError("SDS011: no valid packet within 2000 ms (checksum mismatch)")
        raise OSError("SDS011: no packet within 2000 ms")

    def stop(self) -> None:
        """Put the fan and laser to sleep."""
        self._set_work(_SLEEP, "SDS011: no reply to the sleep command")

    def _set_work(self, value: int, message: str) -> None:
        # Asked twice at most: a lost sleep command would leave the fan
        # running until the next cycle, a lost work command would cost a
        # whole warm-up for nothing.
        for _ in range(2):
            if self._command(_SLEEP_WORK, _SET, value, _ANSWER_MS) and self._buf[4] == value:
                return
        raise OSError(message)

    def _send(self, cmd: int, b2: int, b3: int) -> None:
        c = self._cmd
        c[2] = cmd
        c[3] = b2
        c[4] = b3  # data bytes 4..13 stay 0, 14..15 FF FF
        c[17] = (cmd + b2 + b3 + 0xFF + 0xFF) & 0xFF
        self._uart.write(c)

    def _command(self, cmd: int, b2: int, b3: int, ms: int) -> bool:
        """Send a command; True once its reply is in _buf (value in _buf[4])."""
        self._send(cmd, b2, b3)
        deadline = time.ticks_add(time.ticks_ms(), ms)
        buf = self._buf
        for _ in range(ms):
            got = self._receive(deadline)
            if got == _NONE:
                return False
            if got == _OK and buf[1] == _REPLY_ID and buf[2] == cmd:
                return True
        return False

    def _receive(self, deadline: Ticks) -> int:
        """Find the next packet on the line and read it into _buf."""
        uart = self._uart
        buf = self._buf
        # Hunt for 0xAA followed by 0xC0 or 0xC5: after garbage, or after
        # joining the line mid-packet, the start is wherever these are.
        prev = 0
        while True:  # bounded: _wait() is False once the deadline has passed
            if not self._wait(1, deadline):
                return _NONE
            uart.readinto(self._byte, 1)
            if prev == _HEAD and (buf[1] == _DATA_ID or buf[1] == _REPLY_ID):
                break
            prev = buf[1]
        buf[0] = _HEAD
        end = time.ticks_add(time.ticks_ms(), _FRAME_MS)
        if time.ticks_diff(deadline, end) < 0:
            end = deadline
        if not self._wait(8, end):
            return _BROKEN
        uart.readinto(self._body, 8)
        if buf[9] != _TAIL:
            return _BROKEN
        total = 0
        for i in range(2, 8):  # data bytes: the values and the device ID
            total += buf[i]
        if total & 0xFF != buf[8]:
            return _BAD
        return _OK


# The sensor contract (firmware/roles.py), held by the type checker: a driver
# without one of its functions fails `make typecheck`. Gone on the node.
if TYPE_CHECKING:

    def _is_a_sensor(driver: SDS011) -> roles.Sensor:
        return driver
