"""QoS 1 PUBLISH packets built here, their PUBACKs taken off the wire here, in bulk.

Why: with paho doing it, a reading's publish cost more CPU than all the rest
of the gateway together (issue 9, py-spy at 20,000 frames): paho builds a
message object, a message-info object with its own lock and condition, and
one packet per publish, writes each packet with its own send(), reads each
PUBACK with three recv() calls (its type byte, its length, its two bytes)
and makes a reason code and a properties object for each, even on MQTT
3.1.1, where a PUBACK carries neither.

A Lane does that part of the client's work for the messages the upstream
publishes in bulk (readings, availability, discovery, node stats), on the
connection aiomqtt made and keeps: connecting, TLS, the will, credentials,
keepalive, the subscription and everything aiomqtt publishes itself stay
aiomqtt's and paho's. It plugs in at two points, both of paho's client:

- writing: the packets published during one turn of the event loop are
  joined and handed to paho's own out-packet queue as one item, so they go
  out in order with paho's packets, in one send() where the socket takes it,
  and paho keeps the partial-write and write-readiness bookkeeping it has;
- reading: paho's socket is wrapped (WireTap) so that each read takes
  what the kernel holds (up to 64 KiB, at once), walks the MQTT packets in
  it, settles the PUBACKs of the Lane's message ids itself, and gives paho
  every other packet, byte for byte, as if it came from the socket.

Message ids come from paho's own generator, so they never collide with a
message paho has in flight. The packet format is MQTT 3.1.1 (OASIS
Standard, 29 October 2014): §2.2 the fixed header and its Remaining Length,
§3.3 PUBLISH, §3.4 PUBACK. It reaches into private parts of paho 2
(`_sock`, `_in_packet`, `_protocol`, `_mid_generate`, `_packet_queue`); where
one is missing or the connection is not MQTT 3.1 or 3.1.1, lane() says None
and the upstream publishes through aiomqtt as before (gateway/mqtt_acks.py).
"""

from __future__ import annotations

import asyncio
import struct
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import aiomqtt

PUBLISH_QOS1 = 0x32  # §3.3.1: type 3, DUP 0, QoS 1 (bits 2-1 = 01); | 1 for RETAIN
PUBACK = 0x40  # §3.4.1: type 4, flags 0, Remaining Length 2
READ_SIZE = 65536
_U16 = struct.Struct("!H")  # §1.5.2: the topic's length, the packet identifier
_TINY = struct.Struct("!BBH")  # fixed header with one length byte, the topic's length
_SHORT = struct.Struct("!BBBH")  # ... with two length bytes
_MQTT_311 = (3, 4)  # paho's MQTTv31 and MQTTv311: the same PUBLISH and PUBACK
_MAX_LENGTH = 268_435_455  # §2.2.3: the most four Remaining Length bytes can say


class Waiter(Protocol):
    """What a PUBACK settles: gateway/mqtt_acks.py's Acks."""

    def set(self) -> None: ...


def remaining_length(n: int) -> bytes:
    """§2.2.3: n in base 128, least significant digit first, the top bit saying "more"."""
    if not 0 <= n <= _MAX_LENGTH:
        raise ValueError(f"MQTT packet too long: {n} bytes (at most {_MAX_LENGTH})")
    out = bytearray()
    while True:
        digit, n = n & 0x7F, n >> 7
        if n:
            out.append(digit | 0x80)
        else:
            out.append(digit)
            return bytes(out)


def publish_packet(topic: bytes, payload: bytes, mid: int, *, retain: bool = False) -> bytes:
    """A QoS 1 PUBLISH (§3.3): fixed header, topic name, packet identifier, payload."""
    if len(topic) > 0xFFFF:
        raise ValueError(f"MQTT topic too long: {len(topic)} bytes (at most 65535)")
    if not 0 < mid <= 0xFFFF:
        raise ValueError(f"MQTT packet identifier {mid} is not from 1 to 65535")
    n = 2 + len(topic) + 2 + len(payload)
    if n < 0x80:
        head = _TINY.pack(PUBLISH_QOS1 | retain, n, len(topic))
    elif n < 0x4000:  # a reading's message: two length bytes, said here without a loop
        head = _SHORT.pack(PUBLISH_QOS1 | retain, n & 0x7F | 0x80, n >> 7, len(topic))
    else:
        head = bytes((PUBLISH_QOS1 | retain,)) + remaining_length(n) + _U16.pack(len(topic))
    return b"".join((head, topic, _U16.pack(mid), payload))


class WireTap:
    """paho's socket, read ahead: the Lane's PUBACKs settled, every other packet kept for paho.

    Everything but recv() and pending() is the socket's own (fileno, send,
    close, ...). paho reads a packet in pieces (its type byte, its length,
    its body) and resumes after a BlockingIOError, so it is given whole
    packets only, from `_ready`; a packet cut off by the end of a read waits
    in `_partial` for the rest.
    """

    def __init__(self, sock: Any, waiters: dict[int, Waiter]) -> None:
        self._sock = sock
        self._waiters = waiters
        self._ready = bytearray()  # whole packets for paho, in the order they came
        self._partial = b""  # the start of a packet whose end has not been read yet
        self._raw = False  # a malformed length: paho gets the rest as it comes, and fails

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def recv(self, size: int) -> bytes:
        if not self._ready:
            data = self._sock.recv(READ_SIZE)  # BlockingIOError and the like go to paho
            if not data:
                return b""  # the broker closed the connection: paho sees it
            if self._raw:
                self._ready += data
            else:
                self._take(self._partial + data if self._partial else data)
            if not self._ready:
                raise BlockingIOError  # only the Lane's PUBACKs, or half a packet, came
        out = bytes(self._ready[:size])
        del self._ready[:size]
        return out

    def pending(self) -> int:
        """Bytes readable without the socket (aiomqtt reads until there are none)."""
        inner = getattr(self._sock, "pending", None)  # an SSLSocket's decrypted bytes
        return len(self._ready) + (inner() if inner is not None else 0)

    def _take(self, data: bytes) -> None:
        """Walk the packets in data (§2.2): settle the Lane's PUBACKs, keep the rest."""
        waiters, ready = self._waiters, self._ready
        i, n = 0, len(data)
        while i < n:
            if data[i] == PUBACK and i + 3 < n and data[i + 1] == 2:
                waiter = waiters.pop(data[i + 2] << 8 | data[i + 3], None)
                if waiter is None:
                    ready += data[i : i + 4]  # one of paho's own messages
                else:
                    waiter.set()
                i += 4
                continue
            length, shift, j = 0, 0, i + 1
            while j < n and shift <= 21:
                digit = data[j]
                length |= (digit & 0x7F) << shift
                j += 1
                if not digit & 0x80:
                    break
                shift += 7
            else:
                if shift > 21:  # more than four length bytes: not MQTT; paho says so
                    self._raw = True
                    ready += data[i:]
                    self._partial = b""
                    return
                break  # the length itself is cut off
            if j + length > n:
                break  # the body is cut off
            ready += data[i : j + length]
            i = j + length
        self._partial = data[i:]


class Lane:
    """QoS 1 publishes on an aiomqtt client's connection, PUBACKs settled by WireTap."""

    def __init__(self, paho: Any) -> None:
        self._paho = paho
        self._waiters: dict[int, Waiter] = {}
        self._out: list[bytes] = []
        paho._sock = WireTap(paho._sock, self._waiters)

    def publish(self, topic: str, payload: str | bytes, waiter: Waiter, *, retain: bool) -> None:
        """Queue a QoS 1 PUBLISH; waiter.set() once its PUBACK comes."""
        mid = self._paho._mid_generate()
        body = payload.encode() if isinstance(payload, str) else payload
        self._out.append(publish_packet(topic.encode(), body, mid, retain=retain))
        self._waiters[mid] = waiter
        if len(self._out) == 1:  # the first of this turn of the loop: flushed at its end
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Hand this turn's packets to paho's out-packet queue, as one item, in order."""
        packets, self._out = self._out, []
        if packets and self._paho._sock is not None:  # none: lost, the batch waits in vain
            # command and qos as for a QoS 1 PUBLISH: paho's writer then does no more
            # than write it (its on_publish and info are for QoS 0 only); mid 0 is unused.
            self._paho._packet_queue(PUBLISH_QOS1, b"".join(packets), 0, 1)


def lane(client: aiomqtt.Client) -> Lane | None:
    """A Lane on the client's connection, or None where this paho or protocol has none.

    Made once per connection, after it is up and before anything is published
    through it; paho then stands between two packets (`_in_packet` empty).
    """
    paho = getattr(client, "_client", None)
    needed = ("_sock", "_in_packet", "_protocol", "_mid_generate", "_packet_queue")
    if paho is None or not all(hasattr(paho, name) for name in needed):
        return None
    if paho._sock is None or paho._protocol not in _MQTT_311:
        return None
    if isinstance(paho._sock, WireTap) or paho._in_packet.get("command") != 0:
        return None
    return Lane(paho)
