"""What an upstream sees of the store: readings committed while it keeps up come from memory."""

import asyncio
import sqlite3
from pathlib import Path

from meteolink.gateway.commit import Accepted
from meteolink.gateway.config import Config, NodeConfig
from meteolink.gateway.service import Gateway
from tests.support.gateway_process import reading


def test_a_reading_just_committed_is_handed_on_without_reading_it_back(tmp_path: Path) -> None:
    """Issue 9: each batch re-read from SQLite the rows it had just committed, and decoded
    every frame twice (once to check it, once to publish it)."""
    gw = Gateway(Config(data=tmp_path, nodes={4: NodeConfig(name="roof")}))
    outbox = gw.outbox("test")
    heard: list[Accepted] = []
    gw.observers.append(heard.append)

    async def main() -> None:
        gw.receive(reading(4, 1), source="t")
        await gw.commit_once()
        (first,) = await outbox.pending(10)  # a new upstream starts at its cursor, in the store
        await outbox.forwarded(first.id)
        for seq in (2, 3):
            gw.receive(reading(4, seq), source="t")
        await gw.commit_once()
        # The card flips a byte of what was just written: nobody reads it back.
        with sqlite3.connect(tmp_path / "readings.db") as db:
            db.execute("UPDATE readings SET frame = x'00' WHERE id > ?", (first.id,))
        db.close()
        batch = await outbox.pending(10, after=first.id)
        assert [r.seq for r in batch] == [2, 3]
        assert [outbox.frame(r) for r in batch] == [a.frame for a in heard[1:]], "not decoded again"
        await gw.commit_once()

    asyncio.run(main())
    assert gw.health.set_aside == 0
