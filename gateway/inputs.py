"""The input role: what serial ports and BLE scanners share with the service."""

from collections.abc import Callable
from typing import Protocol


class Receiver(Protocol):
    """What an input hands each frame to: Gateway.receive.

    reply, where the link can carry one, sends a frame (an acknowledgement)
    back the way the frame came; BLE advertising cannot, and passes None.
    """

    def __call__(
        self,
        frame: bytes,
        /,
        *,
        source: str,
        rssi: int | None = None,
        snr: float | None = None,
        reply: Callable[[bytes], None] | None = None,
    ) -> None: ...


class Input(Protocol):
    """An input runs until cancelled, surviving whatever its device does."""

    name: str

    async def run(self) -> None: ...
