"""What the UART particulate sensors (PMS5003, SDS011) share: the line.

A UART sensor's driver reads its frames into one buffer allocated once;
this base class holds it, the two line helpers both drivers need, and what
both do with the node's air (nothing).
"""

import time

from micropython import const

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from typing import Protocol

    from _mpy_shed.time_mp import _TicksMs as Ticks  # an int on the node; opaque to mypy

    class UART(Protocol):
        """What the drivers use of machine.UART (the sim's UART has the same)."""

        def any(self) -> int: ...
        def readinto(self, __buf: memoryview, __nbytes: int) -> int | None: ...
        def write(self, __buf: bytearray) -> int | None: ...


_FLUSH_MAX = const(64)  # reads of a frame's length: bounds the flush of a chattering line


class UartSensor:
    def __init__(self, uart: "UART", frame_len: int) -> None:
        self._uart = uart
        self._buf = bytearray(frame_len)  # one frame, reused for every frame
        mv = memoryview(self._buf)
        self._view = mv  # views made once: slicing per read would allocate
        self._byte = mv[1:2]  # hunting the start: one byte at a time

    def compensate(
        self, temperature: int | None, humidity: int | None, pressure: int | None
    ) -> None:
        """Nothing to correct for: the particle counts need no air data."""

    def _flush(self) -> None:
        """Drop whatever the line holds (stale frames, a half frame)."""
        uart = self._uart
        n = len(self._buf)
        for _ in range(_FLUSH_MAX):
            if not uart.any():
                return
            uart.readinto(self._view, n)

    def _wait(self, n: int, deadline: "Ticks") -> bool:
        """Wait until n bytes can be read at once; False once the deadline has passed.

        The deadline is checked even when bytes are waiting, so a line that
        never stops chattering cannot hold a loop past it.
        """
        uart = self._uart
        while time.ticks_diff(deadline, time.ticks_ms()) > 0:
            if uart.any() >= n:
                return True
            time.sleep_ms(1)
        return False
