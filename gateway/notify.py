"""Telling systemd how the service is doing: the sd_notify datagram protocol.

systemd passes the path of a Unix datagram socket in NOTIFY_SOCKET (a leading
'@' names one in Linux's abstract namespace); each notification is a single
datagram of newline-separated KEY=value assignments. With Type=notify the unit
counts as started on READY=1, and with WatchdogSec= systemd restarts the
service when WATCHDOG=1 stops arriving: it sets WATCHDOG_USEC to that period
(and WATCHDOG_PID to the process it expects the pings from).

Outside systemd there is no NOTIFY_SOCKET and every method does nothing. A
notification that cannot be sent never stops the service: it is logged once
and dropped, as libsystemd's sd_notify() would drop it.
"""

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages to the service manager, or nothing at all."""

    def __init__(
        self, *, address: str | None = None, watchdog_interval: float | None = None
    ) -> None:
        """address: NOTIFY_SOCKET's value; watchdog_interval: seconds between pings."""
        if address is not None and not address.startswith(("/", "@")):
            raise ValueError(
                f"notify socket must be an absolute path or '@' and an abstract name, "
                f"got {address!r}"
            )
        if address == "@":
            raise ValueError("notify socket '@' has no abstract name after the '@'")
        if watchdog_interval is not None and not watchdog_interval > 0:
            raise ValueError(
                f"watchdog interval must be a positive number of seconds, got {watchdog_interval}"
            )
        # Without a socket there is nobody to ping.
        self.watchdog_interval = watchdog_interval if address is not None else None
        self._address = address or ""  # as given, for messages
        self._target = "\0" + address[1:] if address and address[0] == "@" else self._address
        self._sock: socket.socket | None = None
        self._failing = False  # a send failed and was logged; quiet until one succeeds
        if address is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.setblocking(False)  # a full queue drops the message, never stalls the loop

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> "Notifier":
        """The notifier systemd asked for through NOTIFY_SOCKET and WATCHDOG_USEC."""
        address = environ.get("NOTIFY_SOCKET") or None
        interval: float | None = None
        usec = environ.get("WATCHDOG_USEC")
        pid = environ.get("WATCHDOG_PID")
        if usec and (not pid or pid.strip() == str(os.getpid())):  # else the pings are another's
            try:
                interval = int(usec) / 2 / 1e6  # ping twice per period, as systemd advises
            except ValueError:
                log.warning("WATCHDOG_USEC=%r is not a number of microseconds: no watchdog", usec)
            if interval is not None and interval <= 0:
                interval = None
        try:
            return cls(address=address, watchdog_interval=interval)
        except ValueError as exc:
            log.warning("NOTIFY_SOCKET ignored: %s", exc)
            return cls()

    def ready(self, status: str = "") -> None:
        """Start-up is complete: systemd now counts the unit as started."""
        self._send("READY=1" + ("\nSTATUS=" + _line(status) if status else ""))

    def watchdog(self) -> None:
        """Still alive: one ping of the watchdog."""
        self._send("WATCHDOG=1")

    def status(self, text: str) -> None:
        """A one-line status that `systemctl status` shows."""
        self._send("STATUS=" + _line(text))

    def stopping(self) -> None:
        """Shutdown has begun."""
        self._send("STOPPING=1")

    def close(self) -> None:
        """Release the socket; later notifications do nothing."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _send(self, message: str) -> None:
        if self._sock is None:
            return
        try:
            self._sock.sendto(message.encode(), self._target)
        except OSError as exc:
            if not self._failing:
                log.warning("cannot notify systemd at %s: %s", self._address, exc)
                self._failing = True
        else:
            self._failing = False


def _line(text: str) -> str:
    """Text as one value: a newline would start a new assignment (READY=1, say)."""
    return " ".join(text.splitlines())


async def keep_alive(notifier: Notifier, healthy: Callable[[], bool]) -> None:
    """Ping the watchdog while healthy() says the pipeline moves; forever.

    Returns at once when systemd asked for no watchdog, so the service is not
    held open by it. An unhealthy pipeline gets no ping, and systemd restarts
    the service one WatchdogSec later; a stalled event loop runs no pings at all.
    """
    interval = notifier.watchdog_interval
    if interval is None:
        return
    withheld = False
    while True:
        if healthy():
            notifier.watchdog()
            withheld = False
        elif not withheld:
            log.warning("pipeline unhealthy: watchdog pings withheld, systemd will restart us")
            withheld = True
        await asyncio.sleep(interval)
