"""The UART transport: frames on a serial line, COBS-framed (docs/protocol.md §5).

The line goes to a gateway's serial port directly or through any
transparent serial radio. Acknowledgements come back on the same line.
"""

import frames
import framing
from micropython import const

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from typing import Protocol

    class Line(Protocol):
        """What the link uses of machine.UART (the sim's serial line has the same)."""

        def write(self, __buf: memoryview) -> int | None: ...
        def read(self, __nbytes: int) -> bytes | None: ...
        def flush(self) -> None: ...


class UartLink:
    """A roles.Link on a serial line."""

    def __init__(self, uart: "Line") -> None:
        self._uart = uart
        self._out = bytearray(framing.MAX_ENCODED)
        self._view = memoryview(self._out)
        self._deframer = framing.Deframer()
        self.dropped = 0

    def send(self, frame: bytes | bytearray | memoryview, max_wait_s: int | None = None) -> bool:
        """Write one frame; max_wait_s is for radios with a duty cycle."""
        n = framing.cobs_encode_into(frame, len(frame), self._out)
        self._uart.write(self._view[:n])
        # The UART sends from a buffer: wait until the last byte is out, or
        # the sleep that follows would cut the frame short.
        self._uart.flush()
        return True

    def poll_ack(self, node: int, seq: int, key: "frames.Key | None", timeout_ms: int = 0) -> bool:
        """True when an acknowledgement of (node, seq) has arrived; never waits."""
        data = self._uart.read(64)
        if not data:
            return False
        for record in self._deframer.feed(data):
            if isinstance(record, frames.FrameError):
                continue
            try:
                ack = frames.decode(framing.split_record(record)[0], key)
            except frames.FrameError:
                continue  # noise, another node's traffic, a forged ack
            if key is not None and ack.mic is not True:
                continue  # a keyed node believes only acks with a good MIC
            if ack.flags & frames.FLAG_ACK and ack.node == node and ack.seq == seq:
                return True
        return False

    def sleep(self) -> None:
        pass
