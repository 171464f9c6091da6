"""Whether each upstream is getting on: connected or retrying, and whether its cursor moves.

Pure bookkeeping on the gateway's clock, like gateway/stats.py. An upstream
says how it stands through its Outbox (gateway/roles.py): connected() once it
reaches its destination, retrying(reason) after each attempt that failed.
The outbox itself notes when it hands readings out and when the upstream
confirms them (gateway/outbox.py).

From that, stuck() answers the watchdog (Gateway.healthy, then keep_alive in
gateway/notify.py) one question: is this upstream's task hanging? It is when
it is connected and was handed readings, yet has confirmed none for STALL
seconds; or when it has said nothing at all, no attempt and no progress, for
SILENCE seconds. Then the pings stop and systemd restarts the service, as it
would after a crash. A destination that is simply away is not stuck: its
upstream keeps reporting attempts while the readings wait in the store, and
the service is not restarted again and again for an outage no restart fixes.
"""

from dataclasses import dataclass

# Longer than a dead connection takes to notice: an MQTT client gives up on a
# broker that stopped answering after 1.5 keepalives (45 s at 30 s).
STALL = 120.0
# Longer than the longest wait between two attempts (the MQTT upstream's
# backoff reaches 60 s) plus a connection attempt's own timeout.
SILENCE = 300.0


@dataclass
class Progress:
    """One upstream's state as its Outbox has seen it."""

    name: str
    label: str
    since: float  # when the state last changed (start-up at first)
    state: str = "starting"  # "connected" or "retrying" once the upstream says
    reason: str = ""  # why it is retrying: the last attempt's error
    heard: float = 0.0  # when the upstream last said or did anything
    handed: float | None = None  # readings handed out and none confirmed since then
    cursor: int | None = None  # id of the last reading confirmed
    forwarded_at: float | None = None  # when readings were last confirmed (the status page)

    def __post_init__(self) -> None:
        self.heard = self.since

    def connected(self, now: float) -> None:
        if self.state != "connected":
            self.state, self.reason, self.since = "connected", "", now
        self.heard = now

    def retrying(self, reason: str, now: float) -> None:
        if self.state != "retrying":
            self.state, self.since = "retrying", now
        self.reason = reason
        self.heard = now
        self.handed = None  # readings handed out on a lost connection are sent again

    def handed_out(self, now: float) -> None:
        if self.handed is None:
            self.handed = now
        self.heard = now

    def asked(self, now: float, *, caught_up: bool) -> None:
        """The upstream asked for readings and got none; caught_up: none are in flight either."""
        if caught_up:
            self.handed = None
        self.heard = now

    def forwarded(self, last_id: int, now: float) -> None:
        self.cursor = last_id
        self.forwarded_at = now
        self.handed = None
        self.heard = now

    def stuck(self, now: float) -> str | None:
        """Why this upstream's task looks hung, or None while it gets on."""
        if self.state == "connected" and self.handed is not None and now - self.handed > STALL:
            return (
                f"connected, but no reading confirmed for {now - self.handed:.0f} s"
                f" (after reading {self.cursor if self.cursor is not None else 'none'})"
            )
        if now - self.heard > SILENCE:
            return f"{self.state}, and silent for {now - self.heard:.0f} s"
        return None
