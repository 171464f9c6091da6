"""The messages MQTT publishes and export writes, built without a broker."""

import json

from meteolink.firmware import frames
from meteolink.gateway.config import Config, NodeConfig
from meteolink.gateway.messages import (
    compact,
    gateway_stats_message,
    node_stats_message,
    published_fields,
    reading_id,
    state_message,
)
from meteolink.gateway.stats import InputStats, NodeStats, UnlistedNode
from meteolink.gateway.store import Stored

TAKEN = 1_795_604_938.0  # 2026-11-25T11:08:58Z


def stored(frame: bytes, *, rssi: int | None = None, snr: float | None = None) -> Stored:
    f = frames.decode(frame)
    return Stored(f.node, f.seq, TAKEN + 60, TAKEN, frame, rssi, snr, id=17)


def test_a_state_message_carries_the_reading_and_what_the_config_says_of_its_node() -> None:
    frame = frames.encode(12, 40, {"temperature": 99.5, "humidity": 71.0, "age": 60})
    cfg = Config(name="cesis-pi", nodes={12: NodeConfig(name="Cēsis skola", location="jumts")})
    rid, msg = state_message(stored(frame, rssi=-101, snr=6.25), frames.decode(frame), cfg)
    assert rid == reading_id(12, 40) == "12-40"
    assert msg == {
        "id": "12-40",
        "node": 12,
        "seq": 40,
        "time": "2026-11-25T11:08:58Z",
        "gateway": "cesis-pi",
        "name": "Cēsis skola",
        "location": "jumts",
        "rssi": -101,
        "snr": 6.25,
        "humidity": 71.0,
        "implausible": {"temperature": 99.5},
    }
    assert published_fields(frames.decode(frame)) == ["temperature", "humidity"]


def test_a_node_without_config_or_radio_gets_the_bare_message() -> None:
    frame = frames.encode(3, 1, {"pressure": 1008.5})
    _, msg = state_message(stored(frame), frames.decode(frame), Config())
    assert compact(msg) == (
        '{"id":"3-1","node":3,"seq":1,"time":"2026-11-25T11:08:58Z","gateway":"gateway",'
        '"pressure":1008.5}'
    )


def test_the_stats_messages_have_the_documented_keys() -> None:
    node = json.loads(node_stats_message(NodeStats(1, received=3, online=True)))
    assert list(node) == [
        "node",
        "last_seen",
        "received",
        "lost",
        "duplicates",
        "rejected",
        "mic_failures",
        "rssi",
        "snr",
        "battery",
        "online",
    ]
    heard = UnlistedNode(77, "serial:/dev/x", 1.0, 2.0, frames=2, rssi=-101, snr=-3.5)
    gw = json.loads(
        gateway_stats_message({"serial:/dev/x": InputStats(frames=160)}, 150, {77: heard})
    )
    assert gw == {
        "inputs": {"serial:/dev/x": {"frames": 160, "crc_errors": 0, "malformed": 0, "unknown": 0}},
        "published": 150,
        "unlisted": [
            {
                "node": 77,
                "source": "serial:/dev/x",
                "first_seen": 1.0,
                "last_seen": 2.0,
                "frames": 2,
                "rssi": -101,
                "snr": -3.5,
            }
        ],
    }
