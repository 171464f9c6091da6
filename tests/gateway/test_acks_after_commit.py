"""A QoS 1 message is acknowledged to the broker only once its frame is committed.

The real gateway process, SIGKILLed again and again while a stream of frames arrives on
a real Mosquitto: every frame the broker took is in the store once the gateway has run
again, once. With aiomqtt's acknowledgement on receipt, the frames taken but not yet
committed at each kill were gone (the broker had forgotten them): both tests failed so,
checked by leaving out manual_ack_set(True) in gateway/acks_after_commit.py.
"""

import base64
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.gateway.test_lorawan_process import (
    CHIRPSTACK_TOPIC,
    b64,
    chirpstack_uplink,
    lorawan_config,
)
from tests.gateway.test_lorawan_process import frame as lorawan_frame
from tests.support.broker import Broker
from tests.support.gateway_process import GatewayProcess, reading
from tests.support.tools import ROOT, wait_until

KEYS = {1: bytes(range(16)), 2: bytes(range(16, 32)), 3: bytes(range(32, 48))}
CENTRAL_CONF = ROOT / "deploy" / "mosquitto" / "central.conf"
KILLS = 5
FLOWING = 40  # readings a run commits before it is killed: frames are coming in


class Stream:
    """A site's bridge, or a network server's MQTT integration: QoS 1 publishes, one after
    another, until stopped; `published` holds the (node, seq) the broker has taken."""

    def __init__(
        self, broker: Broker, client_id: str, message: Callable[[int, int], tuple[str, bytes]]
    ) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self._message = message
        self.published: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, nodes: tuple[int, ...]) -> None:
        def publish() -> None:
            seq = 0
            while not self._stop.is_set():
                seq += 1
                for node in nodes:
                    topic, body = self._message(node, seq)
                    self.client.publish(topic, body, qos=1).wait_for_publish(10)
                    self.published.append((node, seq))
                time.sleep(0.002)

        self._thread = threading.Thread(target=publish, name="stream")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(20)

    def close(self) -> None:
        self.stop()
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto with the limit deploy/mosquitto/central.conf sets for a client's queue
    (Mosquitto's own, 1000, drops the backlog of repeated kills)."""
    limits = [
        line
        for line in CENTRAL_CONF.read_text("utf-8").splitlines()
        if line.startswith("max_queued_messages ")
    ]
    assert len(limits) == 1, limits
    b = Broker(tmp_path / "central", config=["allow_anonymous true", *limits])
    b.start()
    yield b
    b.stop()


@pytest.fixture
def stream(central: Broker) -> Iterator[Callable[..., Stream]]:
    made: list[Stream] = []

    def make(client_id: str, message: Callable[[int, int], tuple[str, bytes]]) -> Stream:
        made.append(Stream(central, client_id, message))
        return made[-1]

    yield make
    for s in made:
        s.close()


def killed_again_and_again(
    start: Callable[[], GatewayProcess], subscribed: str, stream: Stream, nodes: tuple[int, ...]
) -> list[tuple[int, int]]:
    """Run the gateway and SIGKILL it while the stream flows, KILLS times; then let it run
    until it has everything the broker took. Returns what it stored."""
    for run in range(1, KILLS + 1):
        g = start()
        wait_until(lambda: g.log().count(subscribed) >= run, "the input to subscribe")  # noqa: B023
        if run == 1:
            stream.start(nodes)  # once the session exists: the broker keeps its messages
        before = len(g.stored())
        wait_until(lambda: len(g.stored()) >= before + FLOWING, "frames flowing in")  # noqa: B023
        assert g.stop(signal.SIGKILL) == -signal.SIGKILL
    stream.stop()
    published = set(stream.published)
    g = start()
    wait_until(lambda: set(g.stored()) >= published, "every frame published, stored", timeout=60)
    time.sleep(0.5)  # a frame stored twice would show by now
    return g.stored()


def test_a_central_gateway_killed_again_and_again_stores_every_sites_frame(
    central: Broker, gateway: Callable[..., GatewayProcess], stream: Callable[..., Stream]
) -> None:
    text = f'commit_interval = 0.05\n\n[[federation]]\nurl = "{central.url}"\n'
    text += "".join(f'\n[nodes.{n}]\nkey = "{k.hex()}"\n' for n, k in KEYS.items())

    def message(node: int, seq: int) -> tuple[str, bytes]:
        """What a site's [mqtt] frames = true publishes (gateway/federation_input.py)."""
        body = {
            "frame": base64.b64encode(reading(node, seq, key=KEYS[node])).decode(),
            "received": time.time(),
            "rssi": -90,
            "snr": 7.5,
            "gateway": "site-a",
            "id": f"{node}-{seq}",
        }
        return f"meteolink/{node}/frame", json.dumps(body).encode()

    site = stream("bridge-site-a", message)
    stored = killed_again_and_again(
        lambda: gateway(text), "subscribed to meteolink/+/frame", site, tuple(KEYS)
    )
    assert sorted(stored) == sorted(site.published)  # none lost, none twice


def test_a_gateway_killed_again_and_again_stores_every_chirpstack_uplink(
    central: Broker, gateway: Callable[..., GatewayProcess], stream: Callable[..., Stream]
) -> None:
    def uplink(node: int, seq: int) -> tuple[str, bytes]:
        # ChirpStack v4's documented up event, as test_lorawan_process.py publishes it.
        return CHIRPSTACK_TOPIC, chirpstack_uplink(b64(lorawan_frame(seq, node)))

    network_server = stream("chirpstack", uplink)
    stored = killed_again_and_again(
        lambda: gateway(lorawan_config(central, "chirpstack")),
        "lorawan:city: subscribed",
        network_server,
        (12,),
    )
    assert sorted(stored) == sorted(network_server.published)
