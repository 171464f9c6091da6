"""A stand-in for the gateway where an input hands its frames (gateway/roles.py's Receiver)."""

from typing import Any


class Heard:
    """A receiver that keeps what it is given, as the gateway core would take it."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, dict[str, Any]]] = []

    def __call__(
        self,
        frame: bytes,
        /,
        *,
        source: str,
        rssi: int | None = None,
        snr: float | None = None,
        reply: Any = None,
        received: float | None = None,
    ) -> None:
        kept = {"source": source, "rssi": rssi, "snr": snr, "reply": reply}
        if received is not None:  # said only by an input passing on frames heard elsewhere
            kept["received"] = received
        self.calls.append((frame, kept))

    @property
    def frames(self) -> list[bytes]:
        return [frame for frame, _ in self.calls]


class Fed:
    """A Feed (gateway/roles.py) that keeps what an input tells it, without a gateway.

    Nothing is ever turned away: settled() answers True at once.
    """

    def __init__(self) -> None:
        self.heard = Heard()
        self.refusals: list[tuple[str, str]] = []  # (source, reason)
        self.settles = 0

    @property
    def receive(self) -> Heard:
        return self.heard

    def noise(self, source: str, error: Exception) -> None:
        raise AssertionError(f"{source}: noise from an input that refuses by reason: {error}")

    def refused(self, source: str, reason: str) -> None:
        self.refusals.append((source, reason))

    async def room(self) -> None:
        return None

    def mark(self) -> int:
        return 0

    async def settled(self, mark: int) -> bool:
        self.settles += 1
        return True
