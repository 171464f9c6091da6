"""The gateway's two roles, declared once: inputs bring frames in, upstreams take readings out.

Implementations are found through the tables in gateway/parts.py (name ->
module, its optional package imported only when the configuration asks for
it). Each module there reads its own section of the configuration and has a
`create` function: for an input, create(config, settings, feed) -> [Input];
for an upstream, create(config, settings) -> [Upstream]. The service runs
each one as a named task until it is cancelled, and knows
nothing else of it.

An input sees the gateway only as a Feed: where to hand each frame, where to
count line noise, when to wait for room, and when what it handed in is safe
(settled: an input whose sender keeps a message until told, an MQTT broker,
says so only then). An upstream sees it only as an
Outbox: its own queue of committed readings (a cursor in the store per
upstream name), a way to wait for more, a way to say whether it reaches its
destination, and a snapshot of the statistics.
Neither gets the Gateway itself.
"""

from collections.abc import Callable
from typing import Protocol

from meteolink.firmware import frames
from meteolink.firmware.frames import FrameError
from meteolink.gateway.stats import NodeStats, Snapshot
from meteolink.gateway.store import Stored


class Receiver(Protocol):
    """What an input hands each frame to: Feed.receive.

    reply, where the link can carry one, sends a frame (an acknowledgement)
    back the way the frame came; BLE advertising cannot, and passes None.
    received, when the frame was heard earlier and elsewhere (another gateway,
    gateway/federation_input.py), is when that was (unix time): the reading is
    dated by it, and its age counts from it. None: heard now.
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
        received: float | None = None,
    ) -> None: ...


class Feed(Protocol):
    """The gateway as an input sees it."""

    @property
    def receive(self) -> Receiver:
        """Takes one frame heard by the input named source (a bound method)."""
        ...

    def noise(self, source: str, error: FrameError) -> None:
        """Count bytes on the line that were no record at all."""
        ...

    def refused(self, source: str, reason: str) -> None:
        """Count a message the input took apart and refused before it held a frame (a
        LoRaWAN uplink on another fPort: reason "wrong_fport"), by reason, in its stats."""
        ...

    async def room(self) -> None:
        """Return once the gateway has room for more; awaited before each read."""
        ...

    def mark(self) -> int:
        """A mark to give settled(): take it before handing in the frames to settle."""
        ...

    async def settled(self, mark: int) -> bool:
        """Return once every frame handed to receive() before this call is committed, or
        judged as nothing to store (rejected, heard before): only then may an input tell
        its sender that a frame is safe (gateway/acks_after_commit.py).

        False when, since mark() gave mark, the gateway turned frames away unjudged (its
        disk is full, gateway/commit.py): those frames are not stored and must come again,
        so the input acknowledges nothing it handed in after the mark.
        """
        ...


class Input(Protocol):
    """An input runs until cancelled, surviving whatever its device does."""

    name: str  # the task's name and the source in the statistics: "serial:/dev/ttyUSB0"

    async def run(self) -> None: ...


class Outbox(Protocol):
    """The gateway as an upstream sees it: committed readings, oldest first."""

    def mark(self) -> int:
        """A mark to give wait_for_more: take it before asking for pending readings."""
        ...

    async def pending(self, limit: int, *, after: int | None = None) -> list[Stored]:
        """Up to limit readings after this upstream's cursor, or after reading id `after`
        (to fetch the next batch while earlier ones are still unconfirmed)."""
        ...

    def frame(self, stored: Stored) -> frames.Frame:
        """A pending reading's frame, decoded: kept from its arrival or its check where the
        outbox can, so that it is decoded once (frames.decode(stored.frame) does the same)."""
        ...

    async def forwarded(self, last_id: int) -> None:
        """Every reading up to last_id has arrived: move this upstream's cursor."""
        ...

    async def wait_for_more(self, mark: int, timeout: float) -> None:
        """Return once something was committed after mark(), or after timeout seconds."""
        ...

    def connected(self) -> None:
        """The upstream reached its destination and forwards (gateway/progress.py)."""
        ...

    def retrying(self, reason: str) -> None:
        """An attempt to reach the destination failed (reason: why); another will follow."""
        ...

    def refused(self, kind: str) -> None:
        """The destination will never take one reading (kind: why, "HTTP 400"), and the
        upstream passes over it: counted in the stats, on the status page and /metrics."""
        ...

    def stats(self, *, since: int | None = None) -> Snapshot:
        """Every node's and input's tallies, copied now; with since (the version of an
        earlier snapshot), only the nodes whose tallies changed after it."""
        ...


class Upstream(Protocol):
    """Somewhere accepted readings go (MQTT first): run() forwards until cancelled.

    run() says connected() or retrying() on its outbox at every attempt, and
    asks for pending readings at least every 30 s while connected: the
    watchdog takes an upstream that is connected but confirms nothing, or that
    says nothing at all for minutes, as hung (gateway/progress.py).
    """

    name: str  # its cursor in the store: one per destination, kept across restarts
    label: str  # how log lines name it

    async def run(self, outbox: Outbox) -> None: ...

    def node_changed(self, stats: NodeStats) -> None:
        """A node came online or went offline (called on the event loop; must not block)."""
        ...
