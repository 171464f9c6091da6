"""Calibration: a field's offset and factor, each from the date it applies.

A sensor placed beside a reference station reads, say, 0.4 °C warm; the
offset found there is written in the gateway's config with the date from which
it holds. Readings are stored raw (as the node sent them); the calibration in
force at the time a reading was taken is applied when it is published,
exported, shown or reported, so a new calibration changes what comes after its
date and never what was published before it.

    calibrated = raw * factor + offset
"""

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Calibration:
    """One [[nodes.N.calibration]] entry."""

    field: str  # the field's identifier (firmware/frames.py FIELDS)
    since: float  # Unix time (UTC) from which it applies
    offset: float = 0.0
    factor: float = 1.0

    def apply(self, raw: float) -> float:
        return raw * self.factor + self.offset


def in_force(calibrations: Iterable[Calibration], field: str, taken: float) -> Calibration | None:
    """The calibration of field in force at time taken: the entry whose since is the
    latest at or before taken; None before the first (the raw value stands)."""
    found: Calibration | None = None
    for entry in calibrations:
        if (
            entry.field == field
            and entry.since <= taken
            and (found is None or entry.since > found.since)
        ):
            found = entry
    return found
