"""A pseudo-terminal that stands in for a serial port: its path for a program, its far end for us.

`meteolink demo` writes its simulated stations' frames to one, and the
gateway opens its path as it would a USB serial adapter; the tests and the
benchmarks do the same. The terminal is raw (no echo, no line editing, no
output processing): a serial line carries bytes, not text.
"""

import os
import select
import tty
from types import TracebackType


class PseudoTerminal:
    """A raw pty pair: `path` names the port end; write() and read() work the far end."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def write(self, data: bytes) -> None:
        """All of data, as fast as the terminal takes it: waits only while its queue is full."""
        view = memoryview(data)
        poller = select.poll()
        poller.register(self.master, select.POLLOUT)
        while view:
            try:
                view = view[os.write(self.master, view) :]
            except BlockingIOError:
                poller.poll(50)

    def read(self) -> bytes:
        """What the port's user has written since the last read; b"" if nothing."""
        out = bytearray()
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def close(self) -> None:
        """Hang up: the port's user reads end of file. Safe to call twice."""
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1

    def __enter__(self) -> "PseudoTerminal":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
