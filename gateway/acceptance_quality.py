"""Quality control at acceptance: each new reading's flags, worked out once and stored.

The gateway hands every accepted reading here on its way to the committer
(gateway/service.py); flag() returns it with Reading.qc set, the flags as
gateway/quality.py stores them, so the store, MQTT, export, the pages and the
report all show the same flags without checking again.

The checks see what a reader of the message sees: each value calibrated with
the calibration in force when the reading was taken (gateway/calibration.py),
rounded to its field's resolution, and the values derived from the plausible
ones (gateway/derived.py). This module and gateway/messages.py get them from
one place, StateRows.parts().

The step and persistence checks compare a reading with the node's previous
ones, which quality.Checker remembers in memory only. A restarted gateway
remembers nothing of before: the first reading of each node after a start
gets no step check, and a value stuck since before the start counts as stuck
only from it. The flags of a reading are never worked out again later (a
calibration or limit changed afterwards leaves them as stored); the range
check's verdict under the config of the day is also in every message, as
"implausible".
"""

import dataclasses
import logging

from meteolink.firmware import frames
from meteolink.gateway import messages, quality
from meteolink.gateway.config import Config
from meteolink.gateway.store import Reading

log = logging.getLogger(__name__)


class AcceptanceQuality:
    """The quality flags of each accepted reading, in the order the gateway accepts them."""

    def __init__(self, config: Config) -> None:
        # The state messages' own: what parts() works out here, the MQTT upstream's
        # state_json() writes out without working it out again.
        self._rows = messages.wire_rows(config)
        self._checker = quality.Checker(config)

    def flag(self, reading: Reading, frame: frames.Frame) -> Reading:
        """reading with its flags (Reading.qc); reading itself when nothing is flagged."""
        node, taken = reading.node, reading.taken
        good, bad, made, _ = self._rows.keep_parts(node, taken, frame.fields)
        values: dict[str, float | str] = {p.name: p.value for p in good}
        if bad:
            for p in bad:
                values[p.name] = p.value
        for d in made:
            values[d.name] = d.value
        flags = self._checker.check(node, taken, values)
        if not flags:
            return reading
        return dataclasses.replace(reading, qc=quality.flags_text(flags))
