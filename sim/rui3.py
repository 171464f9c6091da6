"""An emulated RAKwireless RUI3 LoRaWAN modem (RAK3172) on the sim's UART.

It answers the AT commands firmware/rui3_link.py uses as the RUI3 AT Command
Manual gives them: lines end in CR LF; a query (AT+XXX=?) answers
AT+XXX=<value> on a line, then OK (the manual's "RUI3 AT Command Format"); a
command answers OK, or AT_PARAM_ERROR (a bad argument), AT_BUSY_ERROR (an
uplink still under way), AT_NO_NETWORK_JOINED (AT+SEND before a join),
AT_ERROR (a command it does not know); and the
radio's work ends in an event line: +EVT:JOINED, or +EVT:JOIN_FAILED_RX_TIMEOUT
when no network answers; +EVT:TX_DONE after an unconfirmed uplink,
+EVT:SEND_CONFIRMED_OK or +EVT:SEND_CONFIRMED_FAILED(4) after a confirmed one.

The network is this object: what the modem sends goes into `uplinks` as
(fPort, payload) and stays there for the test. Its time is the radio's: an
uplink's events come once its airtime (firmware/airtime.py, the data rate's
spreading factor at 125 kHz, 13 bytes of LoRaWAN overhead) and the two
receive windows (RECEIVE_DELAY1 1 s, RECEIVE_DELAY2 2 s, EU868 defaults in
RP002) are over, on sim time. A payload longer than the data rate's maximum
N (RP002, EU863-870: 51 bytes at DR0..DR2, 115 at DR3, 222 at DR4..DR5) is
refused with AT_PARAM_ERROR: the manual says a too-long payload is an error
without naming which, so that one is our choice.
"""

import airtime

import sim.clock
from sim.uart import UartChip

EU868_N = (51, 51, 51, 115, 222, 222)  # max application payload per DR0..DR5
_OVERHEAD = 13  # MHDR 1, DevAddr 4, FCtrl 1, FCnt 2, FPort 1, MIC 4
_RX2_CLOSED_MS = 2000 + 100  # RECEIVE_DELAY2, and the window itself
_JOIN_MS = 5000 + 100  # JOIN_ACCEPT_DELAY2


class Rui3Modem(UartChip):
    """The modem at the far end of the node's UART.

    network: False makes every join and confirmed uplink go unanswered.
    """

    baudrate = 115200

    def __init__(self, *, joined: bool = False, network: bool = True, dr: int = 0) -> None:
        super().__init__()
        self.joined = joined
        self.network = network
        self.dr = dr
        self.confirmed = False
        self.uplinks: list[tuple[int, bytes]] = []
        self.commands: list[str] = []  # every command line received, for the tests
        self._busy_until = 0
        self._buf = b""

    def receive(self, data: bytes) -> None:
        self._buf += data
        while b"\r\n" in self._buf:
            line, self._buf = self._buf.split(b"\r\n", 1)
            self._command(line.decode())

    def _say(self, text: str, at: int | None = None) -> None:
        self.send((text + "\r\n").encode(), at)

    def _command(self, line: str) -> None:
        self.commands.append(line)
        now = sim.clock.ticks_ms()
        if line == "AT":
            self._say("OK")
        elif line == "AT+NJS=?":
            # The manual's "RUI3 AT Command Format": a query answers AT+XXX=<value>.
            self._say("AT+NJS=1" if self.joined else "AT+NJS=0")
            self._say("OK")
        elif line.startswith("AT+CFM="):
            value = line[7:]
            if value not in ("0", "1"):
                self._say("AT_PARAM_ERROR")
                return
            self.confirmed = value == "1"
            self._say("OK")
        elif line.startswith("AT+DR="):
            value = line[6:]
            if value not in ("0", "1", "2", "3", "4", "5"):
                self._say("AT_PARAM_ERROR")
                return
            self.dr = int(value)
            self._say("OK")
        elif line.startswith("AT+JOIN="):
            self._say("OK")
            if self.network:
                self.joined = True
                self._say("+EVT:JOINED", now + _JOIN_MS)
            else:
                self._say("+EVT:JOIN_FAILED_RX_TIMEOUT", now + _JOIN_MS)
        elif line.startswith("AT+SEND="):
            self._send(line[8:], now)
        else:
            self._say("AT_ERROR")

    def _send(self, argument: str, now: int) -> None:
        port, sep, payload_hex = argument.partition(":")
        try:
            fport = int(port)
            payload = bytes.fromhex(payload_hex)
        except ValueError:
            self._say("AT_PARAM_ERROR")
            return
        if not sep or not 1 <= fport <= 223 or len(payload) > EU868_N[self.dr]:
            self._say("AT_PARAM_ERROR")
            return
        if not self.joined:
            self._say("AT_NO_NETWORK_JOINED")
            return
        if now < self._busy_until:
            self._say("AT_BUSY_ERROR")
            return
        self._say("OK")
        sf = 12 - self.dr
        done = now + airtime.time_on_air_us(len(payload) + _OVERHEAD, sf, 125) // 1000
        done += _RX2_CLOSED_MS
        self._busy_until = done
        self.uplinks.append((fport, payload))
        if not self.confirmed:
            self._say("+EVT:TX_DONE", done)
        elif self.network:
            self._say("+EVT:SEND_CONFIRMED_OK", done)
        else:
            self._say("+EVT:SEND_CONFIRMED_FAILED(4)", done)
