"""Calibration never rewrites history silently: what changed in the past, said at start.

Readings are stored raw and calibrated whenever they are read out
(gateway/calibration.py), so an entry of the config dated in the past
reaches back: once it is added, changed or dropped, exports, pages and
reports of readings taken since its date show other values than before,
while the MQTT messages already sent stay as they were (nothing is sent
again). That may be just what the technician meant (a sensor's offset
found a month late), but it must never happen unnoticed.

So each start compares the config's calibrations with those the store
recorded at the previous start (Store.calibrations): every difference in
an entry whose date has passed is logged as one WARNING naming the node,
the field, the old and the new values and what it changes; then the
store records the config's set (the old entries kept, marked replaced).
`meteolink gateway --check` says the same lines without recording them.
An entry dated in the future changes nothing yet and is recorded quietly.
"""

import logging
from collections.abc import Iterable

from meteolink.gateway.calibration import Calibration
from meteolink.gateway.config import Config
from meteolink.gateway.messages import iso_utc
from meteolink.gateway.store import Store

log = logging.getLogger(__name__)

Entry = tuple[int, Calibration]  # (node, calibration)


def configured(config: Config) -> list[Entry]:
    """Every node's calibrations in config, by node, field and date."""
    out = [(node, c) for node, conf in config.nodes.items() for c in conf.calibrations]
    return sorted(out, key=lambda e: (e[0], e[1].field, e[1].since))


def _values(c: Calibration) -> str:
    return f"offset {c.offset:g}, factor {c.factor:g}"


_EFFECT = (
    "exports, pages and reports of its readings taken since {since} show the new values;"
    " MQTT messages already sent are not sent again"
)


def differences(recorded: Iterable[Entry], now: Iterable[Entry], at: float) -> list[str]:
    """One line for each entry dated before `at` that was added, changed or dropped
    between the recorded set and the config's, by node, field and date."""
    old = {(n, c.field, c.since): c for n, c in recorded}
    new = {(n, c.field, c.since): c for n, c in now}
    lines = []
    for key in sorted(old.keys() | new.keys()):
        node, field, since = key
        if since > at:
            continue  # not in force yet: nothing read out so far used it
        was, isnow = old.get(key), new.get(key)
        if was == isnow:
            continue
        when = iso_utc(since)
        if was is None:
            assert isnow is not None
            what = f"a calibration from {when} was added ({_values(isnow)})"
        elif isnow is None:
            what = f"the calibration from {when} ({_values(was)}) was dropped"
        else:
            what = f"the calibration from {when} changed from {_values(was)} to {_values(isnow)}"
        lines.append(f"node {node}: {field}: {what}: " + _EFFECT.format(since=when))
    return lines


def pending(store: Store, config: Config, at: float) -> list[str]:
    """What the next start would warn of (for `meteolink gateway --check`); records nothing."""
    return differences(store.calibrations(), configured(config), at)


def note(store: Store, config: Config, at: float) -> None:
    """At start: warn of each past-dated difference, then record the config's calibrations."""
    recorded = store.calibrations()
    now = configured(config)
    for line in differences(recorded, now, at):
        log.warning("%s", line)
    if set(recorded) != set(now):
        store.record_calibrations(
            [e for e in recorded if e not in now], [e for e in now if e not in recorded], at
        )
