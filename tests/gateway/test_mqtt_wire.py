"""The gateway's own QoS 1 path: packets against the MQTT 3.1.1 standard, PUBACKs off a
real socket, and publishes through a real Mosquitto to a real subscriber."""

import asyncio
import socket
from collections.abc import Callable, Iterator

import aiomqtt
import pytest

from meteolink.gateway import mqtt_wire
from meteolink.gateway.mqtt_acks import Acks
from meteolink.gateway.mqtt_wire import WireTap, publish_packet, remaining_length
from tests.support.broker import Broker, Subscriber
from tests.support.tools import wait_until

# MQTT Version 3.1.1, OASIS Standard, 29 October 2014, §2.2.3, Table 2.4 "Size of Remaining
# Length field": the least and the most each number of bytes encodes.
TABLE_2_4 = [
    (0, "00"),
    (127, "7f"),
    (128, "8001"),
    (16_383, "ff7f"),
    (16_384, "808001"),
    (2_097_151, "ffff7f"),
    (2_097_152, "80808001"),
    (268_435_455, "ffffff7f"),
]


@pytest.mark.parametrize(("n", "encoded"), TABLE_2_4)
def test_remaining_length_is_table_2_4_of_mqtt_3_1_1(n: int, encoded: str) -> None:
    assert remaining_length(n).hex() == encoded


def test_a_remaining_length_past_four_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        remaining_length(268_435_456)


def test_the_variable_header_is_table_3_3_of_mqtt_3_1_1() -> None:
    """§3.3.2.3, Table 3.3 "Publish Packet non normative example": topic a/b, packet
    identifier 10 -> 00 03 'a' '/' 'b' 00 0a; §3.3.1 the fixed header, QoS 1 = 0x32."""
    packet = publish_packet(b"a/b", b"hi", 10)
    assert packet == bytes([0x32, 9, 0, 3]) + b"a/b" + bytes([0, 10]) + b"hi"
    assert publish_packet(b"a/b", b"hi", 10, retain=True)[0] == 0x33  # §3.3.1.3 RETAIN


# Remaining Lengths 5, 127 | 128, 16,383 | 16,384, and 70,005: either side of each step.
@pytest.mark.parametrize("n", [0, 122, 123, 16_378, 16_379, 70_000])
def test_a_publish_says_its_length_as_table_2_4_does(n: int) -> None:
    """Each way the fixed header is built (one, two or more length bytes) against the
    encoding above: the topic's length, topic "t", the identifier, then n bytes of payload."""
    topic, payload = b"t", bytes(n)
    packet = publish_packet(topic, payload, 1)
    length = remaining_length(2 + 1 + 2 + n)
    assert packet == bytes([0x32]) + length + b"\x00\x01t\x00\x01" + payload


def test_packet_identifier_zero_is_refused() -> None:
    """§2.3.1: a QoS 1 PUBLISH carries a non-zero packet identifier."""
    with pytest.raises(ValueError, match="from 1 to 65535"):
        publish_packet(b"t", b"", 0)


class Settled:
    def __init__(self) -> None:
        self.count = 0

    def set(self) -> None:
        self.count += 1


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    yield ours, broker
    ours.close()
    broker.close()


def read_all(tap: WireTap) -> bytes:
    """What paho would read: whatever the tap gives until it says there is no more."""
    out = b""
    while True:
        try:
            got = tap.recv(1)  # paho reads a type byte, then a length, in pieces
        except BlockingIOError:
            return out
        if not got:
            return out
        out += got


def test_the_lanes_pubacks_are_settled_and_every_other_packet_reaches_paho(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, broker = pair
    mine = Settled()
    tap = WireTap(ours, {5: mine, 6: mine, 300: mine})
    pingresp = bytes([0xD0, 0])
    suback = bytes([0x90, 3, 0, 1, 1])
    other_puback = bytes([0x40, 2, 0, 7])  # a message paho published itself
    incoming = publish_packet(b"homeassistant/status", b"online", 9)
    stream = (
        bytes([0x40, 2, 0, 5])
        + suback
        + bytes([0x40, 2, 1, 44])  # 300
        + other_puback
        + pingresp
        + bytes([0x40, 2, 0, 6])
        + incoming
    )
    # Cut inside the incoming PUBLISH's body, then inside a PUBACK: each waits for its end.
    cut1, cut2 = len(stream) - 5, len(stream) + 2
    stream += bytes([0x40, 2, 0, 5])  # settled already: no longer the lane's, paho's then
    broker.sendall(stream[:cut1])
    first = read_all(tap)
    assert first == suback + other_puback + pingresp
    assert mine.count == 3
    broker.sendall(stream[cut1:cut2])
    assert read_all(tap) == incoming
    broker.sendall(stream[cut2:])
    assert read_all(tap) == bytes([0x40, 2, 0, 5])
    assert mine.count == 3
    assert tap.pending() == 0


def test_a_malformed_length_goes_to_paho_untouched(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """Five length bytes are no MQTT (§2.2.3): paho is given them, and says so."""
    ours, broker = pair
    mine = Settled()
    tap = WireTap(ours, {1: mine})
    junk = bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) + bytes([0x40, 2, 0, 1])
    broker.sendall(junk)
    assert read_all(tap) == junk
    assert mine.count == 0


def test_the_brokers_hangup_reaches_paho(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, broker = pair
    tap = WireTap(ours, {})
    broker.sendall(bytes([0xD0, 0]))
    broker.close()
    assert tap.recv(2) == bytes([0xD0, 0])
    assert tap.recv(1) == b""
    assert tap.fileno() == ours.fileno()  # the rest is the socket's own


def test_acks_on_a_lane_deliver_every_message_in_order_through_mosquitto(
    broker: Broker, subscribe: Callable[..., Subscriber]
) -> None:
    """Many QoS 1 messages in one turn of the loop and across turns, retained where asked,
    each counted once its PUBACK came: wait() returns only then."""
    sub = subscribe("lane/#")
    n = 900  # Mosquitto queues at most 1,000 for a subscriber (max_queued_messages), then drops

    async def main() -> tuple[bool, int]:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="lane-test") as client:
            lane = mqtt_wire.lane(client)
            assert lane is not None
            acks = Acks(client, lane)
            for i in range(n):
                acks.publish("lane/state", f'{{"i":{i}}}')
                if i % 300 == 299:
                    await asyncio.sleep(0)  # the next ones in another write
            acks.publish("lane/retained", "kept", retain=True)
            assert acks.unconfirmed == n + 1
            await acks.wait()
            # aiomqtt's own publishes still work beside it, their PUBACKs passed on.
            await client.publish("lane/aiomqtt", "too", qos=1)
            return mqtt_wire.lane(client) is None, acks.unconfirmed

    again_refused, left = asyncio.run(main())
    assert again_refused  # one lane per connection
    assert left == 0
    wait_until(lambda: len(sub.on("lane/aiomqtt")) == 1, "aiomqtt's own message")
    got = [m.payload for m in sub.on("lane/state")]
    assert got == [f'{{"i":{i}}}'.encode() for i in range(n)]
    retained = sub.on("lane/retained")
    assert [(m.payload, m.retain) for m in retained] == [(b"kept", False)]  # live: retain 0
    late = subscribe("lane/retained", name="late-subscriber")
    wait_until(lambda: late.on("lane/retained"), "the retained message")
    assert [(m.payload, m.retain) for m in late.on("lane/retained")] == [(b"kept", True)]
