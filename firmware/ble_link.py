"""The BLE transport: each frame broadcast in a non-connectable advertisement.

docs/ble.md is the format: flags AD, then manufacturer-specific data under a
company id (little-endian, as Bluetooth has it) holding the frame. A legacy
advert carries 31 bytes, which leaves 24 for the frame. Nothing connects
and nothing comes back, so a BLE node never asks for acknowledgements: it
repeats each advert for a while instead, and one copy heard is enough.
"""

from micropython import const

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    class BLE(Protocol):
        """What the link uses of bluetooth.BLE (the sim's has the same)."""

        def active(self, __on: bool) -> object: ...
        def gap_advertise(
            self, __interval_us: int, __adv_data: memoryview | None = None, *,
            connectable: bool = True,
        ) -> None: ...  # fmt: skip


COMPANY_ID = const(0xFFFF)  # the SIG's value for testing: see docs/ble.md
MAX_FRAME = const(24)
_AD_FLAGS = const(0x01)
_AD_MANUFACTURER = const(0xFF)
_FLAGS = const(0x06)  # LE general discoverable, BR/EDR not supported
_INTERVAL_US = const(100000)
_ADVERTISE_MS = const(1000)  # ~10 adverts x 3 channels


def advert_into(buf: bytearray, frame: bytes | bytearray | memoryview, company: int) -> int:
    """Write the advertising data for frame into buf (31 bytes); return its length."""
    n = len(frame)
    if n > MAX_FRAME:
        raise ValueError("frame of %d bytes exceeds the %d of a legacy advert" % (n, MAX_FRAME))
    buf[0] = 2
    buf[1] = _AD_FLAGS
    buf[2] = _FLAGS
    buf[3] = 3 + n
    buf[4] = _AD_MANUFACTURER
    buf[5] = company & 0xFF
    buf[6] = company >> 8
    buf[7 : 7 + n] = frame
    return 7 + n


class BleLink:
    """A roles.Link that advertises frames through a `bluetooth.BLE`-like object."""

    def __init__(
        self, ble: "BLE", wait: "Callable[[int], None]", company: int = COMPANY_ID
    ) -> None:
        self._ble = ble
        self._wait = wait  # not a light sleep: that powers the radio down
        self._company = company
        self._buf = bytearray(31)
        self._view = memoryview(self._buf)
        self.dropped = 0

    def send(self, frame: bytes | bytearray | memoryview, max_wait_s: int | None = None) -> bool:
        if len(frame) > MAX_FRAME:
            self.dropped += 1  # the node's fields do not fit: docs/ble.md
            return False
        n = advert_into(self._buf, frame, self._company)
        ble = self._ble
        ble.active(True)
        ble.gap_advertise(_INTERVAL_US, self._view[:n], connectable=False)
        # The controller advertises on its own; the CPU only waits.
        self._wait(_ADVERTISE_MS)
        # None stops advertising (MicroPython's docs, and the stubs' own
        # docstring), though the stubs type the interval as int only.
        ble.gap_advertise(None)  # type: ignore[arg-type]
        ble.active(False)
        return True

    def poll_ack(self, node: int, seq: int, key: object, timeout_ms: int = 0) -> bool:
        return False  # nothing comes back over advertising

    def sleep(self) -> None:
        pass
