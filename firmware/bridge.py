"""The bridge role: a LoRa board on the gateway's USB, radio to serial and back.

Every frame heard goes to the serial line as a radio record (the frame behind
its RSSI and SNR, docs/protocol.md §5); every acknowledgement the gateway
writes back is transmitted to the node, within the bridge's own duty cycle.
The bridge does not check CRCs or keys: the gateway does, for every input
alike. It never sleeps (it is powered from the Pi's USB).

On the board the serial line is usually the USB console itself ("link":
"usb" in the board file), so Ctrl-C is switched off while bridging: an
ack's bytes may hold 0x03. The maintenance window at boot is the way in.
"""

import sys

import frames
import framing
from micropython import const

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from typing import Protocol

    from node import Node

    class Line(Protocol):
        """The serial line to the gateway: a port's link, or the USB console."""

        def write(self, __buf: memoryview) -> int | None: ...
        def read(self, __nbytes: int) -> bytes | None: ...


# The radio receives continuously; the loop looks at it and at the serial
# line (for acks, which must be on air within the node's 2 s window) this
# often. Polling the radio much faster can degrade its reception (driver doc).
_TURN_MS = const(20)
_WDT_MS = const(8000)


class _Console:
    """The USB console as a byte stream: stdout for records, stdin for acks."""

    def __init__(self) -> None:
        import select

        self._out = sys.stdout.buffer
        self._in = sys.stdin.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n: int = self._out.write(data)
        return n

    def read(self, n: int) -> bytes | None:
        """What has arrived, up to n bytes, without waiting. A byte at a time:
        a longer read would block until it had them all."""
        out = bytearray()
        while len(out) < n and self._poll.poll(0):
            out += self._in.read(1)
        return bytes(out) if out else None


def run(node: "Node") -> None:
    """Bridge for ever, with the node's port, board and config (node.main())."""
    import micropython

    port = node.port
    board = node.board
    link = node._lora()  # its limiter's state is saved before each transmission
    line: Line
    if board.get("link") == "usb":
        line = _Console()
        micropython.kbd_intr(-1)
    else:
        line = port.link(board["link"])
    wdt = port.watchdog(_WDT_MS)
    out = bytearray(framing.MAX_ENCODED)
    record = bytearray(framing.MAX_RECORD)
    deframer = framing.Deframer()
    link.listen()
    while True:
        pkt = link.poll()
        if pkt is not None and frames.MIN_FRAME <= len(pkt) <= frames.MAX_FRAME:
            n = len(pkt)
            rssi = pkt.rssi
            snr = pkt.snr  # quarter-dB, as the radio record carries it
            record[0] = framing.RADIO_RECORD
            record[1] = (rssi >> 8) & 0xFF
            record[2] = rssi & 0xFF
            record[3] = snr & 0xFF
            for i in range(n):  # RxPacket subclasses bytearray: no slice copy
                record[4 + i] = pkt[i]
            m = framing.cobs_encode_into(record, 4 + n, out)
            line.write(memoryview(out)[:m])
        data = line.read(64)
        if data:
            for got in deframer.feed(data):
                if isinstance(got, bytes) and len(got) >= frames.MIN_FRAME:
                    # An ack from the gateway, already checked there: on air
                    # now or never (a late ack is no use to the node).
                    link.send(got, 0)
        wdt.feed()
        port.sleep_ms(_TURN_MS)
