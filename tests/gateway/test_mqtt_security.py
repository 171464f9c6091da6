"""The MQTT upstream against a broker that wants a password, speaks TLS, or both.

A real mosquitto, a throwaway CA made with the openssl command at test time,
and the gateway as a process. The right credentials and the right CA
deliver. A wrong password, or a broker certificate the gateway has no reason
to trust, delivers nothing: the gateway says why in a warning, keeps the
reading in its store, keeps running and keeps trying.
"""

import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.broker import Broker
from tests.support.gateway_process import GatewayProcess, reading
from tests.support.lines import Line
from tests.support.tools import find_tool, wait_until

USER = "station-gw"
PASSWORD = "s3cret:with@odd/chars"  # the characters a URL must percent-encode
PASSWORD_IN_URL = "s3cret%3Awith%40odd%2Fchars"
WRONG = "not-the-password"


@dataclass(frozen=True)
class Pki:
    """A throwaway CA and a server certificate it signed, as PEM files."""

    ca: Path
    cert: Path
    key: Path


def _openssl(directory: Path, *args: str) -> None:
    subprocess.run(
        [find_tool("openssl"), *args], cwd=directory, check=True, capture_output=True, timeout=30
    )


def make_pki(directory: Path, *, san: str) -> Pki:
    """A CA, and a server certificate it signed for `san` (openssl's subjectAltName syntax)."""
    directory.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]  # quick to make
    _openssl(
        directory,
        *["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
        *["-subj", "/CN=meteolink test CA"],
        *["-addext", "basicConstraints=critical,CA:TRUE"],
        *["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    )
    _openssl(
        directory,
        *["req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=broker"],
    )
    (directory / "server.ext").write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        f"subjectAltName = {san}\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid\n"
    )
    _openssl(
        directory,
        *["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key"],
        *["-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem"],
    )
    pki = Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    for path in (pki.ca, pki.cert, pki.key):
        path.chmod(0o644)  # whoever mosquitto runs as must read them; they guard nothing
    return pki


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki", san="IP:127.0.0.1, DNS:localhost")


class SecureBroker:
    """mosquitto on loopback with a password file (no anonymous clients), TLS, or both."""

    def __init__(self, directory: Path, *, password: bool, pki: Pki | None) -> None:
        directory.mkdir()
        self.password = password
        self.pki = pki
        lines = ["log_type all"]
        if password:
            passwd = directory / "passwd"
            subprocess.run(
                [find_tool("mosquitto_passwd"), "-b", "-c", str(passwd), USER, PASSWORD],
                check=True,
                capture_output=True,
                timeout=30,
            )
            passwd.chmod(0o644)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines += ["allow_anonymous true"]
        if pki is not None:
            lines += [f"cafile {pki.ca}", f"certfile {pki.cert}", f"keyfile {pki.key}"]
        self.broker = Broker(directory, config=lines)
        self.port = self.broker.port
        self.broker.start()

    def url(self, userinfo: str = "") -> str:
        scheme = "mqtts" if self.pki is not None else "mqtt"
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.broker.log()

    def stop(self) -> None:
        self.broker.stop()


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[Callable[..., SecureBroker]]:
    made: list[SecureBroker] = []

    def make(*, password: bool = False, pki: Pki | None = None) -> SecureBroker:
        b = SecureBroker(tmp_path / f"broker{len(made)}", password=password, pki=pki)
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()


class Listener:
    """A paho client subscribed to meteolink/#, with the credentials and CA the broker wants."""

    def __init__(self, broker: SecureBroker, *, check_hostname: bool) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.refused: Any = None
        self.subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-listener")
        if broker.password:
            self.client.username_pw_set(USER, PASSWORD)
        if broker.pki is not None:
            self.client.tls_set(ca_certs=str(broker.pki.ca))
            self.client.tls_insecure_set(not check_hostname)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port, keepalive=10)
        self.client.loop_start()
        wait_until(
            lambda: self.subscribed.is_set() or self.refused is not None,
            "the test listener to subscribe",
            timeout=10,
        )
        assert self.refused is None, f"the broker refused the test listener: {self.refused}"

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            self.refused = reason
        else:
            client.subscribe("meteolink/#", qos=1)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def topics(self) -> list[str]:
        with self._lock:
            return [topic for topic, _ in self.messages]

    def states(self) -> list[tuple[int, int]]:
        """(node, seq) of every state message heard."""
        with self._lock:
            got = [json.loads(p) for topic, p in self.messages if topic.endswith("/state")]
        return [(m["node"], m["seq"]) for m in got]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def listen() -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def make(broker: SecureBroker, *, check_hostname: bool = True) -> Listener:
        sub = Listener(broker, check_hostname=check_hostname)
        made.append(sub)
        return sub

    yield make
    for sub in made:
        sub.close()


def config(line: Line, mqtt: str) -> str:
    return (
        f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n\n[nodes.7]\n\n[mqtt]\n{mqtt}'
    )


def delivered(g: GatewayProcess, listener: Listener) -> None:
    """Node 7's reading 1 reaches the subscriber, and no secret reaches the log."""
    wait_until(lambda: listener.states() == [(7, 1)], "the reading at the subscriber")
    assert g.stop() == 0
    log = g.log()
    assert "Traceback" not in log
    assert PASSWORD not in log and PASSWORD_IN_URL not in log


def refused(g: GatewayProcess, listener: Listener, why: str) -> None:
    """Nothing reaches the broker; the gateway warns `why`, keeps the reading and retries."""
    wait_until(lambda: g.stored() == [(7, 1)], "the reading stored")
    # A second failed attempt: the gateway has outlived the first and backed off.
    wait_until(lambda: g.log().count(why) >= 2, f"two connection attempts failing with {why!r}")
    assert g.proc is not None and g.proc.poll() is None, "the gateway stopped"
    assert listener.topics() == []
    log = g.log()
    assert any(why in ln for ln in log.splitlines() if " WARNING " in ln), log
    assert "Traceback" not in log
    assert g.stop() == 0


# -- username and password ------------------------------------------------------


@pytest.mark.parametrize(
    "mqtt",
    [
        pytest.param('url = "{url}"\nusername = "{user}"\npassword = "{password}"\n', id="keys"),
        pytest.param('url = "{url_with_userinfo}"\n', id="in-url"),
    ],
)
def test_the_right_password_delivers(
    line: Line,
    gateway: Callable[..., GatewayProcess],
    secure_broker: Callable[..., SecureBroker],
    listen: Callable[..., Listener],
    mqtt: str,
) -> None:
    broker = secure_broker(password=True)
    listener = listen(broker)
    url_with_userinfo = broker.url(f"{USER}:{PASSWORD_IN_URL}@")
    g = gateway(
        config(
            line,
            mqtt.format(
                url=broker.url(), user=USER, password=PASSWORD, url_with_userinfo=url_with_userinfo
            ),
        )
    )
    line.send(reading(7, 1))
    delivered(g, listener)


def test_a_wrong_password_is_refused_and_said_so(
    line: Line,
    gateway: Callable[..., GatewayProcess],
    secure_broker: Callable[..., SecureBroker],
    listen: Callable[..., Listener],
) -> None:
    broker = secure_broker(password=True)
    listener = listen(broker)
    g = gateway(
        config(line, f'url = "{broker.url()}"\nusername = "{USER}"\npassword = "{WRONG}"\n')
    )
    line.send(reading(7, 1))
    refused(g, listener, "Not authorized")
    assert "refused the user name or password" in g.log(), "with the keys to check"
    assert WRONG not in g.log()
    assert broker.log().count("not authorised") >= 2  # it was this broker that said no


# -- TLS ------------------------------------------------------------------------


@pytest.mark.parametrize("password", [False, True], ids=["anonymous", "with-password"])
def test_tls_with_the_ca_file_delivers(
    line: Line,
    gateway: Callable[..., GatewayProcess],
    secure_broker: Callable[..., SecureBroker],
    listen: Callable[..., Listener],
    pki: Pki,
    password: bool,
) -> None:
    broker = secure_broker(pki=pki, password=password)
    listener = listen(broker)
    url = broker.url(f"{USER}:{PASSWORD_IN_URL}@" if password else "")
    g = gateway(config(line, f'url = "{url}"\nca_file = "{pki.ca}"\n'))
    line.send(reading(7, 1))
    delivered(g, listener)


def test_tls_without_the_ca_file_refuses_a_private_ca(
    line: Line,
    gateway: Callable[..., GatewayProcess],
    secure_broker: Callable[..., SecureBroker],
    listen: Callable[..., Listener],
    pki: Pki,
) -> None:
    broker = secure_broker(pki=pki)
    listener = listen(broker)
    g = gateway(config(line, f'url = "{broker.url()}"\n'))  # the system's CAs only
    line.send(reading(7, 1))
    refused(g, listener, "certificate verify failed")


def test_tls_refuses_a_certificate_for_another_host(
    tmp_path: Path,
    line: Line,
    gateway: Callable[..., GatewayProcess],
    secure_broker: Callable[..., SecureBroker],
    listen: Callable[..., Listener],
) -> None:
    """The right CA, but a certificate for another name: the name is checked too."""
    elsewhere = make_pki(tmp_path / "elsewhere", san="DNS:broker.example")
    broker = secure_broker(pki=elsewhere)
    listener = listen(broker, check_hostname=False)
    g = gateway(config(line, f'url = "{broker.url()}"\nca_file = "{elsewhere.ca}"\n'))
    line.send(reading(7, 1))
    refused(g, listener, "certificate is not valid for '127.0.0.1'")
