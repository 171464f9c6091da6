"""An emulated UART with the interface of MicroPython's machine.UART.

UART is the host's side, what a driver gets instead of machine.UART; a
UartChip is the part at the far end of the wires. Bytes move as on the
wire: a frame of 8N1 is 10 bits, so at 9600 baud each byte takes ~1.04 ms
of sim.clock time to arrive, and a 32-byte frame trickles in over ~33 ms.
What arrives goes into the host's receive buffer, `rxbuf` bytes as on the
ports (256 by default on ESP32 and RP2040); bytes that find it full are
lost, as when a node naps through a sensor's active-mode output.

Faults a real line has, for drivers to survive: `chip.garbage` is sent
before the chip's next transmission (a glitch, half a frame from before
the host listened); `chip.lose` bytes of the next transmission vanish
(from offset `chip.lose_at` in it; or of a later one, `chip.lose_in`
transmissions on); a host UART at another baud rate than the chip's turns
every byte into garbage both ways; `chip.silent` makes the chip stop
answering and drop what it was sending, like one that lost power.
"""

import time

import sim.clock

_RXBUF = 256  # machine.UART's receive buffer on ESP32 and RP2040 unless rxbuf= says otherwise


class UartChip:
    """The far end of a UART. Subclasses implement receive() and tick().

    receive() gets every byte the host writes; tick() runs the chip's own
    timing (an active-mode sensor's periodic frame) before the host looks
    at the line; send() queues the chip's answer on the wire.
    """

    baudrate = 9600

    def __init__(self) -> None:
        self.silent = False
        self.garbage = b""  # sent before the next transmission, once
        self.lose = 0  # bytes of a coming transmission that never arrive, once
        self.lose_at = 0  # ... from this offset in it
        self.lose_in = 0  # ... in this many transmissions from now (0: the next)
        # Queued transmissions: (sim ms when the first byte starts, bytes).
        self._chunks: list[tuple[float, bytes]] = []

    @property
    def byte_ms(self) -> float:
        """How long one byte takes on the wire: 10 bits at 8N1."""
        return 10000 / self.baudrate

    def receive(self, data: bytes) -> None:
        """Bytes the host wrote."""

    def tick(self, now: int) -> None:
        """Let the chip's own time pass up to `now` (sim ms)."""

    def send(self, data: bytes | bytearray, at: int | None = None) -> None:
        """Queue data for the host, starting at sim time `at` (default: now)."""
        if self.silent:
            return
        out = bytes(data)
        if self.lose and self.lose_in:
            self.lose_in -= 1
        elif self.lose:
            out = out[: self.lose_at] + out[self.lose_at + self.lose :]
            self.lose = 0
            self.lose_at = 0
        if self.garbage:
            out = self.garbage + out
            self.garbage = b""
        start = float(sim.clock.ticks_ms() if at is None else at)
        if self._chunks:  # a UART sends one byte after the other: after what is queued
            last = self._chunks[-1]
            start = max(start, last[0] + len(last[1]) * self.byte_ms)
        self._chunks.append((start, out))

    def transmit(self, now: int) -> bytes:
        """The bytes that have finished arriving at the host by sim time `now`."""
        if self.silent:
            self._chunks = []
            return b""
        out = b""
        while self._chunks:
            start, data = self._chunks[0]
            done = int((now - start) / self.byte_ms) if now > start else 0
            if done >= len(data):
                out += data
                self._chunks.pop(0)
                continue
            if done:
                out += data[:done]
                self._chunks[0] = (start + done * self.byte_ms, data[done:])
            break
        return out


def _garble(data: bytes) -> bytes:
    """What a UART at the wrong baud rate makes of bytes: framing garbage."""
    return bytes((0x80 | b >> 1) ^ 0x15 for b in data)


class UART:
    """Stands in for machine.UART, wired to one emulated chip (or to nothing).

    timeout (ms) is how long read() and readinto() wait for the first byte
    (0, the default: do not wait; return None when nothing is there) and
    timeout_char how long they wait for each further one, as on the ports.
    The waits run against sim.clock in a bounded loop with a 1 ms real sleep.
    `written` keeps every byte the host wrote, for tests to compare with
    the datasheet; `overflow` counts bytes lost to a full receive buffer.
    """

    def __init__(
        self,
        chip: UartChip | None = None,
        baudrate: int = 9600,
        timeout: int = 0,
        timeout_char: int = 0,
        rxbuf: int = _RXBUF,
    ) -> None:
        self._chip = chip
        self.baudrate = baudrate
        self._timeout = timeout
        self._timeout_char = timeout_char
        self._rxbuf = rxbuf
        self._rx = b""
        self.written = bytearray()
        self.overflow = 0

    def init(self, *args: object, **kwargs: object) -> None:
        """Accepted and ignored: the sim line's settings are the constructor's."""

    def deinit(self) -> None:
        pass

    def _garbled(self) -> bool:
        chip = self._chip
        return chip is not None and chip.baudrate != self.baudrate

    def _pump(self) -> None:
        """Move what has arrived on the line into the receive buffer."""
        chip = self._chip
        if chip is None:
            return
        now = sim.clock.ticks_ms()
        chip.tick(now)
        data = chip.transmit(now)
        if not data:
            return
        if self._garbled():
            data = _garble(data)
        room = self._rxbuf - len(self._rx)
        if len(data) > room:
            self.overflow += len(data) - room
            data = data[: max(room, 0)]
        self._rx += data

    def _wait(self, n: int, ms: int) -> None:
        """Wait up to ms of sim time for n bytes in the receive buffer."""
        self._pump()
        if len(self._rx) >= n or ms <= 0:
            return
        deadline = sim.clock.ticks_ms() + ms
        for _ in range(ms + 1):  # at least 1 ms a turn: bounded even if the clock stalls
            time.sleep_ms(1)
            self._pump()
            if len(self._rx) >= n or sim.clock.ticks_ms() >= deadline:
                return

    def _gather(self, n: int | None) -> int:
        """Wait as machine.UART does; return how many bytes a read hands over."""
        self._wait(1, self._timeout)
        if not self._rx:
            return 0
        if n is None:
            return len(self._rx)
        # Each further byte may take timeout_char, but at least the time the
        # line needs for a byte, as the ports enforce.
        byte_ms = self._chip.byte_ms if self._chip is not None else 1.0
        gap = max(self._timeout_char, int(2 * byte_ms) + 1)
        while len(self._rx) < n and self._timeout:
            have = len(self._rx)
            self._wait(have + 1, gap)
            if len(self._rx) == have:
                break
        return min(n, len(self._rx))

    def any(self) -> int:
        self._pump()
        return len(self._rx)

    def read(self, n: int | None = None) -> bytes | None:
        k = self._gather(n)
        if not k:
            return None
        out = self._rx[:k]
        self._rx = self._rx[k:]
        return out

    def readinto(self, buf: bytearray | memoryview, n: int | None = None) -> int | None:
        k = self._gather(len(buf) if n is None else min(n, len(buf)))
        if not k:
            return None
        buf[:k] = self._rx[:k]
        self._rx = self._rx[k:]
        return k

    def readline(self) -> bytes | None:
        self._wait(1, self._timeout)
        i = self._rx.find(b"\n")
        k = len(self._rx) if i < 0 else i + 1
        if not k:
            return None
        out = self._rx[:k]
        self._rx = self._rx[k:]
        return out

    def write(self, buf: bytes | bytearray | memoryview) -> int:
        data = bytes(buf)
        self.written += data
        chip = self._chip
        if chip is not None and not chip.silent:
            chip.receive(_garble(data) if self._garbled() else data)
        return len(data)

    def flush(self) -> None:
        """The sim line sends at once: nothing is ever left to drain."""

    def txdone(self) -> bool:
        return True
