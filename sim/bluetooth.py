"""The sim board's Bluetooth: MicroPython's `bluetooth.BLE` advertising calls.

No BLE controller exists here. This stands in for the two calls the node
makes (active, gap_advertise) and appends each advertisement's data, as
hex, to the file named by the world's "ble" key, for a test to hand to the
gateway's BLE input as bleak would.
"""

from sim import clock


class BLE:
    def __init__(self, path: str) -> None:
        self._path = path
        self._active = False
        self.adverts: list[bytes] = []

    def active(self, on: bool | None = None) -> bool:
        if on is not None:
            self._active = on
        return self._active

    def gap_advertise(
        self, interval_us: int | None, adv_data: bytes | memoryview | None = None, **kw: object
    ) -> None:
        if interval_us is None:
            return
        if not self._active:
            raise OSError("sim: BLE is not active")  # as MicroPython raises
        data = bytes(adv_data or b"")
        if len(data) > 31:
            raise ValueError("sim: legacy advertising data is at most 31 bytes")
        self.adverts.append(data)
        with open(self._path, "a") as f:
            f.write("%d %s\n" % (clock.ticks_ms(), data.hex()))
