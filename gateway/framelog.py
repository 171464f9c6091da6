"""What `meteolink gateway -v` says of every frame: a line each, in words, never a flood.

A reading accepted says its node (and the name [nodes] gives it), its counter and
its values with their units, and how the radio heard it; a frame turned away says
why (heard again, a replay, a stale counter, a wrong key, a node not listed, a CRC
that failed, bytes that are no frame, line noise). At the default level none of
this is said: the journal then holds what needs a person, not the traffic.

Anyone in radio range can send frames as fast as the link carries them, so each
kind of line from each input is held to lograte.VERBOSE_BURST a minute; the next
line after that says how many it stood for. No I/O of its own, no asyncio.
"""

import logging

from meteolink.firmware import frames
from meteolink.firmware.frames import FrameError
from meteolink.gateway.accept import Decision, Outcome
from meteolink.gateway.config import Config
from meteolink.gateway.lograte import VERBOSE_BURST, Throttle
from meteolink.gateway.messages import NOT_PUBLISHED
from meteolink.gateway.sequence import Verdict

log = logging.getLogger(__name__)

# Why a counter was turned away, for a technician.
_REJECTED = {
    Verdict.REPLAY: "a replay (far below the highest counter, {highest})",
    Verdict.STALE: "stale (far below the highest counter, {highest}, and no boot flag)",
}


def enabled() -> bool:
    """Whether -v asked for these lines: the caller's test before building any."""
    return log.isEnabledFor(logging.DEBUG)


def values(frame: frames.Frame) -> str:
    """'temperature 21.53 °C, humidity 45.2 %RH': a frame's values with their units."""
    said = []
    for fid, raw in frame.fields:
        name = frames.field_name(fid)
        if name in NOT_PUBLISHED:
            continue
        unit = frames.FIELDS[fid][1] if fid < len(frames.FIELDS) else ""
        said.append(f"{name} {frames.to_value(fid, raw):g} {unit}".rstrip())
    return ", ".join(said) or "no values"


class _Accepted:
    """An accepted reading's line, made when logging formats it."""

    __slots__ = ("decision", "node", "rssi", "snr", "source")

    def __init__(
        self, node: str, source: str, decision: Decision, rssi: int | None, snr: float | None
    ) -> None:
        self.node, self.source, self.decision, self.rssi, self.snr = (
            node,
            source,
            decision,
            rssi,
            snr,
        )

    def __str__(self) -> str:
        d = self.decision
        assert d.frame is not None and d.reading is not None
        line = f"{self.source}: {self.node} seq {d.frame.seq}: accepted: {values(d.frame)}"
        radio = [] if self.rssi is None else [f"RSSI {self.rssi} dBm"]
        if self.snr is not None:  # LoRa's; a BLE advert has an RSSI alone
            radio.append(f"SNR {self.snr:g} dB")
        if radio:
            line += "; " + ", ".join(radio)
        age = d.reading.received - d.reading.taken
        if age > 0:
            line += f"; taken {age:g} s before it was heard (from the node's backlog)"
        return line


class FrameLog:
    """Says each frame's fate at debug level, throttled per input and kind."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._say = Throttle(log, burst=VERBOSE_BURST, level=logging.DEBUG)

    def _node(self, node: int | None) -> str:
        cfg = self.config.node(node) if node is not None else None
        if cfg is not None and cfg.name:
            return f"node {node} ({cfg.name})"
        return f"node {node}"

    def decision(
        self,
        source: str,
        d: Decision,
        *,
        now: float,
        rssi: int | None = None,
        snr: float | None = None,
    ) -> None:
        """Say what became of one frame an input handed over."""
        outcome = d.outcome
        say = self._say.say
        key = (source, outcome)
        if outcome is Outcome.ACCEPTED and d.frame is not None and d.reading is not None:
            # Built only if said: a flood of readings held back costs no formatting.
            say(key, now, "%s", _Accepted(self._node(d.node), source, d, rssi, snr))
        elif outcome is Outcome.DUPLICATE and d.frame is not None:
            node = self._node(d.node)
            say(key, now, "%s: %s seq %d: heard again: stored already", source, node, d.frame.seq)
        elif outcome is Outcome.REJECTED and d.frame is not None:
            highest = d.window.highest if d.window is not None else None
            template = _REJECTED.get(d.verdict) if d.verdict is not None else None
            why = template.format(highest=highest) if template else "its counter is not accepted"
            node = self._node(d.node)
            say(key, now, "%s: %s seq %d: rejected: %s", source, node, d.frame.seq, why)
        elif outcome is Outcome.MIC_FAILED:
            if d.error is not None and d.error.reason == "no_mic":
                why = f"no MIC, and [nodes.{d.node}] has a key"
            else:
                why = f"MIC mismatch: not the key in [nodes.{d.node}]"
            say(key, now, "%s: %s: rejected: %s", source, self._node(d.node), why)
        elif outcome is Outcome.UNKNOWN:
            say(key, now, "%s: node %s: turned away: not in [nodes]", source, d.node)
        elif outcome is Outcome.CRC_ERROR:
            say(key, now, "%s: rejected: CRC mismatch (noise, a collision or a weak link)", source)
        elif outcome is Outcome.MALFORMED:
            say(key, now, "%s: not a frame: %s", source, d.error)
        elif outcome is Outcome.HEARD_ACK and d.frame is not None:
            say(
                key,
                now,
                "%s: %s seq %d: another gateway's acknowledgement, heard on the air",
                source,
                self._node(d.frame.node),
                d.frame.seq,
            )

    def noise(self, source: str, error: FrameError, *, now: float) -> None:
        """Say what an input read that never became a frame (a cut record, noise)."""
        self._say.say((source, "noise"), now, "%s: line noise: %s", source, error)
