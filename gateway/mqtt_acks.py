"""Many QoS 1 publishes whose PUBACKs are awaited together: one event per batch.

aiomqtt's `Client.publish` is a coroutine per message: a task, an event and
a timeout each, and a count of every pending call (a scan of all of them) on
each call. For a batch of 200 readings that was most of the gateway's CPU
per frame (issue 9). Acks hands the messages to aiomqtt's paho client
directly and registers itself where aiomqtt's PUBACK callback looks for the
waiter of a message id: the callback calls `set()` on whatever it finds
there, as it would on its own event. One object then counts a whole batch.

Given a Lane (gateway/mqtt_wire.py), Acks publishes through it instead:
packets built here, PUBACKs read in bulk, paho out of the way.

That reaches into two private attributes of aiomqtt 2 (`_client`, the paho
client, and `_pending_publishes`, message id -> waiter), on the event loop
that runs the client, as aiomqtt itself does. Where either is missing (a
future aiomqtt), Acks falls back on `Client.publish`, a task per message.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiomqtt

    from meteolink.gateway.mqtt_wire import Lane


class Acks:
    """Publish at QoS 1 with publish(); wait() returns once the broker has acknowledged all."""

    def __init__(self, client: aiomqtt.Client, lane: Lane | None = None) -> None:
        self._client = client
        self._lane = lane
        self._paho = getattr(client, "_client", None)
        self._waiters: dict[int, object] | None = getattr(client, "_pending_publishes", None)
        self._left = 0
        self._all = asyncio.Event()
        self._all.set()
        self._tasks: list[asyncio.Task[None]] = []

    def publish(self, topic: str, payload: str, *, retain: bool = False) -> None:
        if self._lane is not None:
            self._lane.publish(topic, payload, self, retain=retain)
            self._left += 1
            self._all.clear()
            return
        import aiomqtt
        import paho.mqtt.client as paho

        if self._paho is None or self._waiters is None:
            publishing = self._client.publish(topic, payload, qos=1, retain=retain)
            self._tasks.append(asyncio.ensure_future(publishing))
            return
        info = self._paho.publish(topic, payload, 1, retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        if not info.is_published():
            self._waiters[info.mid] = self
            self._left += 1
            self._all.clear()

    @property
    def unconfirmed(self) -> int:
        """Messages published and not yet acknowledged (as of the last wait, on the slow path)."""
        return self._left + sum(not t.done() for t in self._tasks)

    def set(self) -> None:
        """One PUBACK (called by aiomqtt's callback, as on its own waiter)."""
        self._left -= 1
        if self._left <= 0:
            self._all.set()

    async def wait(self) -> None:
        """Until every message is acknowledged; MqttError after the client's timeout."""
        import aiomqtt

        try:
            if self._tasks:
                await asyncio.gather(*self._tasks)
            timeout = self._client.timeout  # aiomqtt's: math.inf for none
            async with asyncio.timeout(None if timeout == math.inf else timeout):
                await self._all.wait()
        except TimeoutError:
            raise aiomqtt.MqttError("Operation timed out") from None
        finally:
            for task in self._tasks:
                task.cancel()
