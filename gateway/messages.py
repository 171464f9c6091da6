"""What the gateway's readings and statistics look like outside it. Pure functions, no I/O.

The MQTT upstream publishes these messages (gateway/mqtt_upstream.py) and
`meteolink export` writes the same state messages as JSON lines or CSV rows
(tools/export_cmd.py), so this module imports no client library: export
runs where no broker was ever configured. docs/gateway.md shows each one.

    state       one reading: id, node, seq, time (when it was taken, UTC),
                gateway, name and location from the config, rssi and snr when
                the link gave them, every plausible value by field name, and
                the implausible ones apart under "implausible"
    node stats  a node's tallies (gateway/stats.py NodeStats), as JSON
    gateway stats  every input's tallies, the upstream's count of readings
                the broker confirmed, and the nodes heard but not listed
"""

import datetime
import json
from collections.abc import Mapping
from typing import Any

from meteolink.firmware import frames
from meteolink.gateway.config import Config
from meteolink.gateway.quality import implausible
from meteolink.gateway.stats import InputStats, NodeStats, UnlistedNode
from meteolink.gateway.store import Stored

NOT_PUBLISHED = ("age",)  # folded into "time"


def reading_id(node: int, seq: int) -> str:
    """The id a downstream consumer deduplicates on: the same at every gateway.

    A node's counter never repeats (it jumps ahead after a cold boot, and
    a replaced node comes with a new key), so node and counter name one
    reading wherever it was heard, and however often.
    """
    return f"{node}-{seq}"


def iso_utc(t: float) -> str:
    dt = datetime.datetime.fromtimestamp(t, datetime.UTC)
    return dt.isoformat(timespec="seconds").replace("+00:00", "Z")


def published_fields(frame: frames.Frame) -> list[str]:
    """The names of the frame's fields that a state message can carry."""
    return [k for k in frame.values() if k not in NOT_PUBLISHED]


def state_message(
    stored: Stored, frame: frames.Frame, config: Config
) -> tuple[str, dict[str, Any]]:
    """(reading id, the reading as <prefix>/<node>/state carries it); also export's row."""
    node = config.node(stored.node)
    msg: dict[str, Any] = {
        "id": reading_id(stored.node, stored.seq),
        "node": stored.node,
        "seq": stored.seq,
        "time": iso_utc(stored.taken),
        "gateway": config.name,
    }
    if node is not None and node.name:
        msg["name"] = node.name
    if node is not None and node.location:
        msg["location"] = node.location
    if stored.rssi is not None:
        msg["rssi"] = stored.rssi
    if stored.snr is not None:
        msg["snr"] = stored.snr
    values = {k: v for k, v in frame.values().items() if k not in NOT_PUBLISHED}
    bad = implausible(values, config.plausible)
    for name, value in values.items():
        if name not in bad:
            msg[name] = value
    if bad:
        msg["implausible"] = bad
    return msg["id"], msg


def compact(msg: Mapping[str, Any]) -> str:
    """A message as the wire carries it: JSON without spaces."""
    return json.dumps(msg, separators=(",", ":"))


def node_stats_message(stats: NodeStats) -> str:
    """<prefix>/<node>/stats."""
    return json.dumps(stats.as_json())


def gateway_stats_message(
    inputs: Mapping[str, InputStats],
    published: int,
    unlisted: Mapping[int, UnlistedNode] | None = None,
) -> str:
    """<prefix>/gateway/<name>/stats: each input's tallies, the readings confirmed, and
    the nodes heard but not listed in [nodes] (the most recently heard first, a bounded few)."""
    return json.dumps(
        {
            "inputs": {n: vars(s) for n, s in inputs.items()},
            "published": published,
            "unlisted": [u.as_json() for u in (unlisted or {}).values()],
        }
    )
