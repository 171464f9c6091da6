"""The [web] section: where the status page listens and who may look at it.

    [web]
    listen = "127.0.0.1:8080"   # host:port; "[::1]:8080" for IPv6; port 0: any free one
    username = "staff"          # HTTP basic authentication (RFC 7617), both or neither
    password = "…"
    allow_open = false          # true: a non-loopback listen without a password

Off unless the file has a [web] listen. The gateway's job is to store readings;
a listener it was never asked for is one more thing that can be reached, and a
port already taken (8080 is a popular one) must not be a surprise on a Pi that
ran happily before an upgrade. deploy/gateway.toml turns it on, on loopback.

A page on the LAN shows where the stations are and whether they work. Like the
MQTT password rules (gateway/mqtt_upstream.py), a listen beyond loopback
without a password is refused unless allow_open = true says that is meant;
then anyone on that network can read it (it never changes anything).

This module imports nothing of config.py at run time (config.py imports it).
"""

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meteolink.gateway.config import Table


@dataclass(frozen=True)
class WebSettings:
    """The [web] table; host None: no page."""

    host: str | None = None
    port: int = 8080
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    allow_open: bool = False

    @property
    def on(self) -> bool:
        return self.host is not None

    def url(self, port: int | None = None) -> str:
        """The page's address (port: the one bound, for a listen on port 0)."""
        host = self.host or "127.0.0.1"
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1" if host != "::" else "::1"  # where this machine reaches it
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port if port is None else port}/"


def loopback(host: str) -> bool:
    """Reachable from this machine only: no password ever crosses a network."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_listen(listen: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' -> (host, port); ValueError saying what to give."""
    host, colon, port_text = listen.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError("write an IPv6 address in brackets: [::1]:8080")
    if not colon or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError('give "host:port", e.g. "127.0.0.1:8080"')
    if host == "":
        raise ValueError('give the address to listen on: "127.0.0.1:8080" (0.0.0.0: every one)')
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(
                f"{host!r} is not an IP address (give 127.0.0.1, 0.0.0.0 or this machine's address)"
            ) from None
    return host, int(port_text)


def parse(top: "Table") -> WebSettings:
    """The [web] table of the file; WebSettings() (off) when it has none."""
    t = top.table("web")
    listen = t.get("listen", str, None, 'a string "host:port"')
    username = t.get("username", str, None, "a string")
    password = t.get("password", str, None, "a string")
    allow_open = t.get("allow_open", bool, False, "true or false")
    t.finish()
    if listen is None:
        if username is not None or password is not None:
            raise t.error("listen", 'missing: give listen = "127.0.0.1:8080" for a password')
        return WebSettings()
    try:
        host, port = split_listen(listen)
    except ValueError as e:
        raise t.error("listen", f"{listen!r}: {e}") from None
    if (username is None) != (password is None):
        missing = "password" if password is None else "username"
        raise t.error(missing, "missing: give both username and password, or neither")
    if username is not None and (not username or ":" in username):
        raise t.error("username", "give a name without ':' (RFC 7617 cannot carry one)")
    if password == "":
        raise t.error("password", "empty: give a password, or remove username and password")
    if password is None and not loopback(host) and not allow_open:
        raise t.error(
            "listen",
            f"{listen!r} is reachable from the network and there is no password: give"
            " username and password, listen on 127.0.0.1 (reach it through an SSH tunnel),"
            " or set allow_open = true if anyone on that network may read the page",
        )
    return WebSettings(host, port, username, password, allow_open)


def plan(settings: WebSettings) -> list[str]:
    """What `meteolink gateway --check` prints about the page."""
    if not settings.on:
        return ["status page: off (give [web] listen to serve it)"]
    who = "basic authentication" if settings.password else "no password"
    if settings.port == 0:
        who += "; on a free port, logged at start"
    return [f"status page: {settings.url()} ({who})"]
