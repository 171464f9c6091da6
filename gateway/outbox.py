"""An upstream's view of the gateway (the Outbox of gateway/roles.py), over the store.

Each upstream has a cursor in the store under its name: the id of the last
reading it confirmed. Pending readings are those after it, in id (arrival)
order, which keeps each node's readings in order; the cursor moves only when
the upstream says a batch has arrived, so a gateway killed mid-batch sends
that batch again after a restart, and never leaves a gap.
"""

from meteolink.gateway.commit import Committer, StoreThread
from meteolink.gateway.stats import Health, Snapshot
from meteolink.gateway.store import Stored


class StoreOutbox:
    """The Outbox of the upstream `name`."""

    def __init__(self, name: str, db: StoreThread, committer: Committer, health: Health) -> None:
        self.name = name
        self._db = db
        self._committer = committer
        self._health = health

    def mark(self) -> int:
        return self._committer.commits

    async def pending(self, limit: int, *, after: int | None = None) -> list[Stored]:
        store = self._db.store
        if after is None:
            return await self._db.call(store.pending, self.name, limit)
        return await self._db.call(store.pending_after, after, limit)

    async def forwarded(self, last_id: int) -> None:
        await self._db.call(self._db.store.forwarded, self.name, last_id)

    async def wait_for_more(self, mark: int, timeout: float) -> None:
        await self._committer.wait_stored(mark, timeout)

    def stats(self) -> Snapshot:
        return self._health.snapshot()
