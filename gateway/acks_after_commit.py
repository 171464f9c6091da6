"""QoS 1 messages acknowledged to their broker only once what they carried is settled.

aiomqtt 2 lets paho acknowledge each QoS 1 PUBLISH (the PUBACK) as soon as it
arrives; the broker then forgets it. A gateway killed between that moment and
the commit lost those frames for good: a site's bridge had handed them over,
and a network server does not send an uplink twice. The federation and
LoRaWAN inputs therefore switch paho to manual acknowledgement (paho-mqtt 2's
`manual_ack`) and acknowledge in batches beside their message loop: every
message they took since the last batch is acknowledged once the Feed says
that what those messages handed in is settled (roles.Feed.settled: committed,
or judged as nothing to store), in the order the messages came (MQTT 3.1.1
§4.6.0 asks for that order). A message left unacknowledged stays in the
broker's session (clean_session false, the same client id): when the gateway
connects again the broker sends it again, and the store's UNIQUE (node, epoch,
seq) and the sequence windows keep its reading once.

A message that handed nothing in (not JSON, an uplink on another fPort, our
own frame back from the broker) is acknowledged with the next batch without
waiting for a commit. When the disk is full the gateway turns frames away
unjudged (settled() says False): nothing more is acknowledged on this
connection, and FramesTurnedAway ends it, so that the broker sends those
messages again on the next one.

What it costs, on the development machine (2 shared cores, other work on it):
`python -m bench.federation` drained 10,000 queued frames at 6427 and 5233
frames/s with this, 6789 and 5384 without; `python -m bench.lorawan 20000`
stored 6116 and 5534 uplinks/s with it, 4941 without. The difference is within
the machine's noise: the acknowledgements go a batch at a time, and the
broker's limit of unacknowledged messages per client (Mosquitto's
max_inflight_messages, 20 by default) did not hold either back.

This reaches into aiomqtt's private `_client` (its paho client), before it
connects, on the loop that runs the client, as gateway/mqtt_acks.py does for
publishing. Where a future aiomqtt has no such attribute, it says so once and
the messages are acknowledged on receipt, as before.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from meteolink.gateway.roles import Feed

if TYPE_CHECKING:
    import aiomqtt

log = logging.getLogger(__name__)

LAST_ACKS = 2.0  # seconds a stopping input waits to acknowledge what it took


class BrokerSettings(Protocol):
    """What an MQTT input's section says of its broker (federation, LoRaWAN)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def tls(self) -> bool: ...
    @property
    def ca_file(self) -> Path | None: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...


def persistent_client(
    settings: BrokerSettings,
    client_id: str,
    *,
    timeout: float,
    logger: logging.Logger | None = None,
) -> aiomqtt.Client:
    """A client with a persistent session (clean_session false, a stable client id): the
    broker keeps the subscription, and the QoS 1 messages published while the gateway is
    away or left unacknowledged, for this id."""
    import aiomqtt

    tls = None
    if settings.tls:
        cafile = str(settings.ca_file) if settings.ca_file else None
        tls = ssl.create_default_context(cafile=cafile)
    return aiomqtt.Client(
        settings.host,
        settings.port,
        username=settings.username,
        password=settings.password,
        identifier=client_id,
        clean_session=False,
        tls_context=tls,
        keepalive=30,
        timeout=timeout,
        logger=logger,
    )


class FramesTurnedAway(Exception):
    """The gateway turned frames away unjudged (a full disk): the connection is given up
    unacknowledged, so that the broker sends them again on the next one."""


class AcksAfterCommit:
    """One connection's acknowledgements: took() each message, run() the input's loop."""

    def __init__(self, client: aiomqtt.Client, feed: Feed, *, name: str) -> None:
        self.name = name
        self._feed = feed
        paho = getattr(client, "_client", None)
        if callable(getattr(paho, "manual_ack_set", None)) and callable(getattr(paho, "ack", None)):
            assert paho is not None
            paho.manual_ack_set(True)  # before connecting: a session's backlog comes at once
            self._paho: Any = paho
        else:
            self._paho = None
            log.warning(
                "%s: this aiomqtt has no paho client to acknowledge with after the commit:"
                " messages are acknowledged on receipt, and a crash may lose the last few",
                name,
            )
        self._taken: list[tuple[int, int]] = []  # (mid, qos) taken, not yet acknowledged
        self._handed = False  # whether any of them handed a frame in
        self._more = asyncio.Event()
        self._closing = False  # stopping: acknowledge what was taken, then return
        self.acknowledged = 0  # messages acknowledged on this connection

    @property
    def unacknowledged(self) -> int:
        """Messages taken and not yet acknowledged."""
        return len(self._taken)

    def took(self, mid: int, qos: int, *, handed: bool) -> None:
        """A message taken from the broker; handed: it gave the Feed a frame."""
        if self._paho is None or qos == 0:
            return  # acknowledged on receipt (or, at QoS 0, never)
        self._taken.append((mid, qos))
        self._handed = self._handed or handed
        self._more.set()

    async def run(self, messages: Coroutine[Any, Any, None]) -> None:
        """Run the input's message loop with the acknowledgements beside it.

        Whichever stops first (the broker gone, frames turned away) stops both,
        and its exception goes on to the input; cancelling stops both.
        """
        acking = asyncio.create_task(self._acknowledge(), name=f"{self.name} acks")
        reading = asyncio.create_task(messages, name=self.name)
        try:
            done, _ = await asyncio.wait((acking, reading), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # The service stops, its inputs first (gateway/service.py): what was taken
            # is acknowledged once settled, so the broker does not send it again.
            reading.cancel()
            await asyncio.wait((reading,))
            self._closing = True
            self._more.set()
            await asyncio.wait((acking,), timeout=LAST_ACKS)
            raise
        finally:
            for task in (acking, reading):
                task.cancel()
            await asyncio.wait((acking, reading))
        for task in done:
            task.result()

    async def _acknowledge(self) -> None:
        mark = self._feed.mark()
        while not (self._closing and not self._taken):
            await self._more.wait()
            self._more.clear()
            # Taken at once with the next mark: the batch is exactly what came since the last.
            batch, self._taken = self._taken, []
            handed, self._handed = self._handed, False
            since, mark = mark, self._feed.mark()
            if handed and not await self._feed.settled(since):
                raise FramesTurnedAway(
                    f"the gateway turned frames away (is the disk full?): {len(batch)} messages"
                    " left unacknowledged, for the broker to send again"
                )
            for mid, qos in batch:
                self._paho.ack(mid, qos)
            self.acknowledged += len(batch)
