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
