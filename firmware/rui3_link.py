"""A LoRaWAN link: frames sent through a RAKwireless RUI3 modem in AT commands over a UART.

The modem (RAK3172, RAK4630, RAK11720 with RUI3 firmware) runs the whole
LoRaWAN stack: the join, the session keys, its own frame counter, ADR, the
duty cycle and the receive windows. The node only hands it each frame as an
uplink on one fPort, and the gateway takes the frame from the network
server's MQTT integration (gateway/lorawan_input.py; docs/lorawan.md).

The commands and answers are those of the RUI3 AT Command Manual (115200
baud, lines ending in CR LF; a command answers OK or an AT_..._ERROR line,
and the radio's work ends in an asynchronous +EVT: line):

    AT+JOIN=1:0:10:8        OK, later +EVT:JOINED or +EVT:JOIN_FAILED_...
    AT+NJS=?                1 (joined) or 0, then OK
    AT+SEND=<port>:<hex>    OK (or AT_NO_NETWORK_JOINED, AT_BUSY_ERROR, AT_PARAM_ERROR),
                            later +EVT:TX_DONE, or with AT+CFM=1 +EVT:SEND_CONFIRMED_OK
                            or +EVT:SEND_CONFIRMED_FAILED(<n>)

Event texts have changed between RUI3 versions; the link matches their
beginnings. sim/rui3.py is the emulated modem the tests hold it to.

There are no meteolink acknowledgements over LoRaWAN (the gateway cannot
reply): poll_ack() is always False, and a node on this link must not ask
for them. A confirmed uplink (confirmed=True) is the network server's own
ACK; send() then says whether it came.

Every wait is bounded. The frame's hex is written into a buffer made once;
matching the modem's lines makes a few small objects per send, once a cycle.
"""

import time

import frames
from micropython import const

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from typing import Protocol

    class Line(Protocol):
        """What the link uses of machine.UART (the sim's emulated line has the same)."""

        def write(self, __buf: bytes | bytearray | memoryview) -> int | None: ...
        def readinto(self, __buf: bytearray | memoryview) -> int | None: ...


_SEND = b"AT+SEND="
_HEX = b"0123456789ABCDEF"
_LINE_MAX = const(96)  # the longest answer line kept; longer ones are cut (downlink data)
_COMMAND_MS = const(2000)  # for OK or an error after a command
# An unconfirmed uplink is done once RX2 has closed: airtime (2.5 s for 42
# bytes at SF12) plus RECEIVE_DELAY2 (2 s) plus RX2 itself; confirmed ones
# may be retried by the modem (its AT+RETY), so they get longer.
_SENT_MS = const(10000)
_CONFIRMED_MS = const(30000)
_JOIN_MS = const(60000)  # AT+JOIN=1:0:10:8: up to 8 attempts, 10 s apart


class Rui3Link:
    """A roles.Link through a RUI3 LoRaWAN modem on a UART.

    fport: the application port the gateway's [[lorawan]] fport names (1..223).
    confirmed: ask for the network server's ACK of each uplink (AT+CFM=1),
        which public networks ration (docs/lorawan.md).
    """

    def __init__(self, uart: "Line", *, fport: int = 10, confirmed: bool = False) -> None:
        if not 1 <= fport <= 223:
            raise ValueError("fport must be 1..223 (LoRaWAN application ports)")
        self._uart = uart
        self._confirmed = confirmed
        # "AT+SEND=" + port + ":" + two hex digits a byte + CR LF, made once.
        head = _SEND + str(fport).encode() + b":"
        self._out = bytearray(len(head) + 2 * frames.MAX_FRAME + 2)
        self._out[: len(head)] = head
        self._head = len(head)
        self._rx = bytearray(32)
        self._line = bytearray(_LINE_MAX)
        self._n = 0  # bytes of the line being read
        self._got = 0  # bytes in _rx from the last read
        self._pos = 0  # the next of them to look at
        self.last = ""  # the modem's last line that ended a command or an uplink
        self.dropped = 0  # frames the modem refused or could not deliver
        self._configured = False

    # -- the Link contract -------------------------------------------------------

    def send(
        self, frame: "bytes | bytearray | memoryview", max_wait_s: "int | None" = None
    ) -> bool:
        """Send one frame as an uplink; True once the modem says it is done (and, when
        confirmed, acknowledged). max_wait_s bounds the wait for that, in seconds."""
        if not self._configured:
            if not self.command(b"AT+CFM=1" if self._confirmed else b"AT+CFM=0"):
                self.dropped += 1
                return False
            self._configured = True
        n = len(frame)
        out = self._out
        i = self._head
        for k in range(n):
            b = frame[k]
            out[i] = _HEX[b >> 4]
            out[i + 1] = _HEX[b & 0x0F]
            i += 2
        out[i] = 13
        out[i + 1] = 10
        self._flush()
        self._uart.write(memoryview(out)[: i + 2])
        if not self._wait_ok(_COMMAND_MS):
            self.dropped += 1
            return False
        limit = _CONFIRMED_MS if self._confirmed else _SENT_MS
        if max_wait_s is not None and max_wait_s > 0:
            limit = max_wait_s * 1000
        line = self._wait_event((b"+EVT:TX_DONE", b"+EVT:SEND_CONFIRMED"), limit)
        if line is None or line.startswith(b"+EVT:SEND_CONFIRMED_FAILED"):
            self.dropped += 1
            return False
        return True

    def poll_ack(self, node: int, seq: int, key: "frames.Key | None", timeout_ms: int = 0) -> bool:
        """Always False: the gateway cannot answer a frame over LoRaWAN."""
        return False

    def sleep(self) -> None:
        """Nothing to do: a RUI3 modem with AT+LPM=1 sleeps by itself between uplinks."""

    # -- joining -----------------------------------------------------------------

    def joined(self) -> bool:
        """Whether the modem has a network session (AT+NJS=?).

        The manual's answer to a query is "AT+NJS=1" (its "RUI3 AT Command Format":
        AT+XXX=<value>, then the status); a bare "1" is taken too. The last such line
        before OK counts, so an echo of the command is passed over."""
        self._flush()
        self._uart.write(b"AT+NJS=?\r\n")
        value = None
        deadline = time.ticks_add(time.ticks_ms(), _COMMAND_MS)
        while True:
            line = self._next_line(time.ticks_diff(deadline, time.ticks_ms()))
            if line is None or line.startswith(b"AT_") or line.startswith(b"ERROR"):
                self.last = "no answer" if line is None else line.decode()
                return False
            if line == b"OK":
                return value == b"1"
            value = line[7:] if line.startswith(b"AT+NJS") else line  # "=1", ":1" or "1"
            if value[:1] in (b"=", b":"):
                value = value[1:]

    def join(self, timeout_ms: int = _JOIN_MS) -> bool:
        """OTAA join with the keys the modem holds (set once with AT+DEVEUI=, AT+APPEUI=,
        AT+APPKEY=); True on +EVT:JOINED within timeout_ms."""
        if not self.command(b"AT+JOIN=1:0:10:8"):
            return False
        line = self._wait_event((b"+EVT:JOIN",), timeout_ms)
        return line is not None and line.startswith(b"+EVT:JOINED")

    def command(self, cmd: bytes) -> bool:
        """Send one AT command; True when the modem answers OK."""
        self._flush()
        self._uart.write(cmd)
        self._uart.write(b"\r\n")
        return self._wait_ok(_COMMAND_MS)

    # -- the modem's lines -------------------------------------------------------

    def _wait_ok(self, ms: int) -> bool:
        """Until OK (True) or an error line (False); lines in between are a command's value."""
        deadline = time.ticks_add(time.ticks_ms(), ms)
        while True:
            line = self._next_line(time.ticks_diff(deadline, time.ticks_ms()))
            if line is None:
                self.last = "no answer"
                return False
            if line == b"OK":
                return True
            if line.startswith(b"AT_") or line.startswith(b"ERROR"):
                self.last = line.decode()
                return False

    def _wait_event(self, prefixes: "tuple[bytes, ...]", ms: int) -> "bytes | None":
        """The first line that starts with one of prefixes, within ms; None on timeout."""
        deadline = time.ticks_add(time.ticks_ms(), ms)
        while True:
            line = self._next_line(time.ticks_diff(deadline, time.ticks_ms()))
            if line is None:
                self.last = "no event"
                return None
            for p in prefixes:
                if line.startswith(p):
                    self.last = line.decode()
                    return line

    def _next_line(self, ms: int) -> "bytes | None":
        """The next non-empty line from the modem, without its CR LF; None after ms.

        Bytes read past the line's end stay in the receive buffer for the next call.
        """
        deadline = time.ticks_add(time.ticks_ms(), max(ms, 0))
        rx = self._rx
        line = self._line
        for _ in range(max(ms, 0) + 1):  # at least 1 ms a turn: bounded even if time stalls
            while self._pos < self._got:
                b = rx[self._pos]
                self._pos += 1
                if b == 10:
                    n = self._n
                    self._n = 0
                    while n and line[n - 1] == 13:
                        n -= 1
                    if n:
                        return bytes(line[:n])
                elif self._n < _LINE_MAX:
                    line[self._n] = b
                    self._n += 1
            self._got = self._uart.readinto(rx) or 0
            self._pos = 0
            if self._got:
                continue
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                return None
            time.sleep_ms(1)
        return None

    def _flush(self) -> None:
        """Drop what the modem said before a new command (a late event, a downlink)."""
        for _ in range(16):
            if not self._uart.readinto(self._rx):
                break
        self._n = self._got = self._pos = 0


if TYPE_CHECKING:
    import roles

    def _is_a_link(x: Rui3Link) -> roles.Link:
        return x
