"""Many gateways as one (issue 13): two sites bridged to a central meteolink.

The whole topology, every part real: two site gateways (`meteolink gateway`
processes) hear the same nodes on two pseudo-terminals, each publishes its
frames ([mqtt] frames = true) to its own Mosquitto, started from
deploy/mosquitto/site.conf as written, which bridges over TLS, with a
password, to a central Mosquitto started from deploy/mosquitto/central.conf;
a central gateway takes the frames with its [[federation]] input. Only what
cannot be the same on a test machine is replaced in the files (ports,
certificate paths, the password, each bridge's client id), and a replaced
line the file lacks fails the test (tests/support/broker.py, from_file).
"""

import base64
import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from meteolink.firmware import frames
from meteolink.gateway import config
from meteolink.gateway.config import Config, ConfigError
from meteolink.gateway.federation_input import Federation, FederationInput
from meteolink.gateway.mqtt_upstream import Mqtt
from tests.gateway.test_mqtt_security import make_pki
from tests.support.broker import Broker
from tests.support.gateway_process import GatewayProcess, reading
from tests.support.lines import Line
from tests.support.receiver import Fed
from tests.support.status_page import get, page_url
from tests.support.tools import ROOT, Clock, find_tool, wait_until

SITE_CONF = ROOT / "deploy" / "mosquitto" / "site.conf"
CENTRAL_CONF = ROOT / "deploy" / "mosquitto" / "central.conf"
BRIDGE_USER = "gateway-cesis-pi"  # site.conf's remote_username, kept as written
BRIDGE_PASSWORD = "a-test-password"
KEYS = {1: bytes(range(16)), 2: bytes(range(16, 32)), 3: bytes(range(32, 48))}
SITES = ("site-a", "site-b")


def persistence(directory: Path) -> list[str]:
    """What Debian's /etc/mosquitto/mosquitto.conf adds before including conf.d/."""
    return ["persistence true", f"persistence_location {directory}/"]


def nodes_toml() -> str:
    return "".join(f'\n[nodes.{n}]\nkey = "{k.hex()}"\n' for n, k in KEYS.items())


def stored(data: Path) -> list[tuple[int, int, float, float]]:
    """(node, seq, received, taken) of every reading in a gateway's store, by id."""
    path = data / "readings.db"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT node, seq, received, taken FROM readings ORDER BY id")
        return [(int(n), int(s), float(r), float(t)) for n, s, r, t in rows]
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


class Topology:
    """The central broker and gateway, and per site a broker, a gateway and a line."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.processes: list[GatewayProcess] = []
        self.brokers: list[Broker] = []
        self.site_brokers: dict[str, Broker] = {}
        self.lines: dict[str, Line] = {}
        self.site_gateways: dict[str, GatewayProcess] = {}

    def start(self) -> None:
        tmp = self.tmp
        pki = make_pki(tmp / "pki", san="IP:127.0.0.1")
        passwd = tmp / "meteolink.passwd"
        subprocess.run(
            [find_tool("mosquitto_passwd"), "-b", "-c", str(passwd), BRIDGE_USER, BRIDGE_PASSWORD],
            check=True,
            capture_output=True,
            timeout=30,
        )
        passwd.chmod(0o644)
        central_dir = tmp / "central-broker"
        self.central = Broker.from_file(
            central_dir,
            CENTRAL_CONF,
            replace={
                "listener": ["listener {port} 127.0.0.1", "listener {port2} 127.0.0.1"],
                "certfile": [f"certfile {pki.cert}"],
                "keyfile": [f"keyfile {pki.key}"],
                "password_file": [f"password_file {passwd}"],
            },
            config=persistence(central_dir),
        )
        self.brokers.append(self.central)
        self.central.start()
        for site in SITES:
            directory = tmp / f"{site}-broker"
            broker = Broker.from_file(
                directory,
                SITE_CONF,
                replace={
                    "listener": ["listener {port} 127.0.0.1"],
                    "address": [f"address 127.0.0.1:{self.central.port2}"],
                    "remote_clientid": [f"remote_clientid bridge-{site}"],
                    "local_clientid": [f"local_clientid bridge-{site}-local"],
                    "remote_password": [f"remote_password {BRIDGE_PASSWORD}"],
                    "bridge_cafile": [f"bridge_cafile {pki.ca}"],
                },
                config=persistence(directory),
            )
            self.brokers.append(broker)
            broker.start()
            self.site_brokers[site] = broker
            (tmp / site).mkdir()
            line = self.lines[site] = Line(tmp / site / "bridge-board")
            body = f'[[serial]]\nport = "{line.link}"\n\n[mqtt]\nurl = "{broker.url}"\n'
            body += "frames = true\ndiscovery = false\n" + nodes_toml()
            self.site_gateways[site] = self.gateway(site, body)
            self.site_gateways[site].wait_open()
        # Both bridges up before the first frame.
        bridges = [f"as bridge-{site} " for site in SITES]
        wait_until(
            lambda: all(b in self.central.log() for b in bridges),
            "the sites' bridges to connect to the central broker",
        )
        body = f'[[federation]]\nurl = "{self.central.url}"\n' + nodes_toml()
        body += '\n[web]\nlisten = "127.0.0.1:0"\n'
        self.centre = self.gateway("centre", body)
        wait_until(lambda: "subscribed to meteolink/+/frame" in self.centre.log(), "subscribed")

    def gateway(self, name: str, body: str) -> GatewayProcess:
        directory = self.tmp / name
        directory.mkdir(exist_ok=True)
        data = directory / "data"
        path = directory / "gateway.toml"
        head = f'[gateway]\nname = "{name}"\ndata = "{data}"\ncommit_interval = 0.05\n\n'
        path.write_text(head + body, "utf-8")
        path.chmod(0o600)
        g = GatewayProcess(path, data)
        g.start()
        self.processes.append(g)
        return g

    def hear(self, frame: bytes, *sites: str) -> None:
        for site in sites or SITES:
            self.lines[site].send(frame, rssi=-90, snr=7.5)

    def close(self) -> None:
        for g in self.processes:
            g.kill()
        for line in self.lines.values():
            line.close()
        for b in self.brokers:
            b.stop()


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    t = Topology(tmp_path)
    try:
        t.start()
        yield t
    finally:
        t.close()


def judged(t: Topology) -> int:
    """Frames from the sites the centre has judged, new or heard again (its -v lines)."""
    lines = t.centre.log().splitlines()
    return sum(
        "federation:site-" in line and (": accepted: " in line or ": heard again: " in line)
        for line in lines
    )


def central_has(t: Topology, expected: set[tuple[int, int]]) -> bool:
    return {(n, s) for n, s, _, _ in stored(t.centre.data)} >= expected


def test_a_reading_heard_at_two_sites_is_stored_once_with_the_sites_time(
    topology: Topology,
) -> None:
    t = topology
    expected = set()
    for seq in range(1, 11):
        for node in (1, 2):
            t.hear(reading(node, seq, key=KEYS[node]))
            expected.add((node, seq))
    # A reading resent from a node's backlog: two minutes old when the site heard it.
    old = {"temperature": 1.5, "humidity": 70.0, "age": 120.0}
    t.hear(frames.encode(3, 5, old, KEYS[3]), "site-a")
    expected.add((3, 5))
    wait_until(lambda: judged(t) == 41, "both sites' copies judged at the centre", timeout=30)
    wait_until(lambda: central_has(t, expected), "the readings committed at the centre")
    rows = stored(t.centre.data)
    assert sorted((n, s) for n, s, _, _ in rows) == sorted(expected)  # each once
    # Dated by the site that heard it: the centre's received and taken are one
    # site's, to the bit (the frame's age counts back from the site's time).
    at_sites = {(n, s): (r, tk) for site in SITES for n, s, r, tk in stored(t.tmp / site / "data")}
    at_a = {(n, s): (r, tk) for n, s, r, tk in stored(t.tmp / "site-a" / "data")}
    at_b = {(n, s): (r, tk) for n, s, r, tk in stored(t.tmp / "site-b" / "data")}
    for n, s, received, taken in rows:
        assert (received, taken) in (at_a.get((n, s)), at_b.get((n, s))), (n, s)
    received, taken = at_sites[(3, 5)]
    assert received - taken == 120.0
    log = t.centre.log()
    assert "federation:site-a" in log and "federation:site-b" in log  # the -v frame lines


def test_nothing_is_lost_while_a_broker_or_the_central_gateway_is_down(topology: Topology) -> None:
    t = topology
    expected: set[tuple[int, int]] = set()
    seq = 0

    def feed(count: int) -> None:
        nonlocal seq
        for _ in range(count):
            seq += 1
            t.hear(reading(1, seq, key=KEYS[1]))  # heard at both sites
            t.hear(reading(2, seq, key=KEYS[2]), "site-a")  # only site A hears node 2
            expected.update({(1, seq), (2, seq)})
            time.sleep(0.05)

    feed(5)
    wait_until(lambda: central_has(t, expected), "the first readings at the centre")
    # The central broker goes away: each site's bridge queues its frames.
    t.central.stop()
    feed(20)
    wait_until(lambda: len(stored(t.tmp / "site-a" / "data")) == len(expected), "site A's commits")
    t.central.start()
    wait_until(lambda: central_has(t, expected), "the queued frames at the centre", timeout=60)
    # Site A's own broker goes away: the site gateway keeps its readings in its store.
    t.site_brokers["site-a"].stop()
    feed(20)
    wait_until(lambda: len(stored(t.tmp / "site-a" / "data")) == len(expected), "site A's commits")
    t.site_brokers["site-a"].start()
    wait_until(lambda: central_has(t, expected), "site A's backlog at the centre", timeout=60)
    # The central gateway stops: the central broker keeps its session's frames.
    assert t.centre.stop() == 0
    feed(20)
    wait_until(lambda: len(stored(t.tmp / "site-a" / "data")) == len(expected), "site A's commits")
    t.centre.start()
    wait_until(lambda: central_has(t, expected), "the frames kept for the centre", timeout=60)
    # At least once: a copy the centre had taken, and not yet acknowledged after its
    # commit, when the central broker went away comes again, and is heard again.
    wait_until(lambda: judged(t) >= 3 * seq, "every site's copy judged at the centre")
    rows = [(n, s) for n, s, _, _ in stored(t.centre.data)]
    assert sorted(rows) == sorted(expected)  # none lost, none twice


def test_a_forged_frame_on_the_central_broker_is_rejected_by_its_mic(
    topology: Topology,
) -> None:
    t = topology
    t.hear(reading(1, 1, key=KEYS[1]))
    wait_until(lambda: central_has(t, {(1, 1)}), "a genuine reading at the centre")
    forged = reading(1, 2, key=bytes(16))  # node 1's id, not node 1's key
    unsigned = reading(2, 7)  # no MIC at all, for a node with a key
    publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id="forger")
    publisher.connect("127.0.0.1", t.central.port)
    publisher.loop_start()
    try:
        for frame in (forged, unsigned):
            message = {
                "frame": base64.b64encode(frame).decode(),
                "received": time.time(),
                "rssi": -50,
                "snr": 9.0,
                "gateway": "site-a",
                "id": "forged",
            }
            publisher.publish("meteolink/1/frame", json.dumps(message), qos=1).wait_for_publish(5)
        broken = b'{"frame": "%%%", "gateway": "x"}'
        publisher.publish("meteolink/1/frame", broken, qos=1).wait_for_publish(5)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
    wait_until(lambda: "MIC mismatch" in t.centre.log(), "the forged frame rejected")
    wait_until(lambda: "no MIC, and [nodes.2]" in t.centre.log(), "the unsigned frame rejected")
    wait_until(lambda: "'frame' is not base64" in t.centre.log(), "the broken message refused")
    t.hear(reading(1, 3, key=KEYS[1]))  # the genuine readings go on
    wait_until(lambda: central_has(t, {(1, 3)}), "the next genuine reading")
    assert [(n, s) for n, s, _, _ in stored(t.centre.data)] == [(1, 1), (1, 3)]
    # The broken message is refused, by reason, in the stats and on the page (in Latvian).
    url = page_url(t.centre)
    inputs = json.loads(get(url + "api/overview").body)["gateway"]["inputs"]
    (inp,) = [i for i in inputs if i["name"].startswith("federation:mqtt://")]
    assert (inp["refused"], inp["malformed"]) == ({"bad_base64": 1}, 0)
    page = get(url, headers={"Accept-Language": "lv"}).body.decode()
    assert "<th>Noraidīti</th>" in page
    said = "<td class=n>1<br><small><span class=reason>1 nav base64 kadra</span></small></td>"
    assert said in page
    metrics = get(url + "metrics").body.decode()
    assert 'reason="bad_base64"} 1' in metrics


def test_the_bridge_in_the_docs_is_the_tested_file() -> None:
    """docs/gateway.md shows deploy/mosquitto/site.conf whole, as the tests run it."""
    docs = (ROOT / "docs" / "gateway.md").read_text("utf-8")
    for path in (SITE_CONF, CENTRAL_CONF):
        assert f"```\n{path.read_text('utf-8')}```" in docs, path.name


# -- the section and the messages, without a broker ---------------------------------


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "gateway.toml"
    path.write_text(text, "utf-8")
    path.chmod(0o600)
    return config.load(path)


def test_the_section_is_read_and_its_mistakes_named(tmp_path: Path) -> None:
    conf = load(
        tmp_path,
        '[[federation]]\nurl = "mqtts://user:pw@central.example:8883"\n'
        'topics = ["meteolink/+/frame", "east/+/frame"]\nclient_id = "centre-1"\n'
        '\n[mqtt]\nurl = "mqtt://localhost"\nframes = true\n',
    )
    settings = conf.parts["federation"]
    assert isinstance(settings, tuple)
    (federation,) = settings
    assert isinstance(federation, Federation)
    assert (federation.host, federation.port, federation.tls) == ("central.example", 8883, True)
    assert (federation.username, federation.password) == ("user", "pw")
    assert federation.topics == ("meteolink/+/frame", "east/+/frame")
    assert "pw" not in repr(federation)
    mqtt = conf.parts["mqtt"]
    assert isinstance(mqtt, Mqtt) and mqtt.with_frames
    mistakes = {
        '[[federation]]\ntopic = "x"\nurl = "mqtt://localhost"\n': "federation[0].topic: unknown",
        "[[federation]]\n": "federation[0].url: missing",
        '[[federation]]\nurl = "http://central"\n': "give mqtt://host",
        '[[federation]]\nurl = "mqtt://localhost"\ntopics = []\n': "federation[0].topics:",
        '[[federation]]\nurl = "mqtt://u:p@central.example"\n': "travels in clear",
        '[mqtt]\nurl = "mqtt://localhost"\nframes = "yes"\n': "mqtt.frames: 'yes' is not true",
    }
    for text, said in mistakes.items():
        with pytest.raises(ConfigError) as caught:
            load(tmp_path, text)
        message = str(caught.value)
        assert said in message and "\n" not in message, (text, message)


def site_message(**overrides: object) -> bytes:
    message: dict[str, object] = {
        "frame": base64.b64encode(reading(1, 9, key=KEYS[1])).decode(),
        "received": 1_800_000_000.5,
        "rssi": -97,
        "snr": -3.25,
        "gateway": "site-a",
        "id": "1-9",
    }
    message.update(overrides)
    return json.dumps({k: v for k, v in message.items() if v is not ...}).encode()


def test_each_message_is_handed_on_with_the_sites_time_or_refused_saying_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fed = Fed()
    heard = fed.heard
    clock = Clock(1_800_000_100.0)
    settings = Federation(host="127.0.0.1")
    inp = FederationInput(fed, settings=settings, gateway="centre", clock=clock)
    assert inp.take(site_message())
    assert heard.calls == [
        (
            reading(1, 9, key=KEYS[1]),
            {
                "source": "federation:site-a",
                "rssi": -97,
                "snr": -3.25,
                "reply": None,
                "received": 1_800_000_000.5,
            },
        )
    ]
    inp.take(site_message(received=1_800_000_200.0))  # the site's clock is ahead: now
    inp.take(site_message(received=86_400.0))  # a Pi's clock before NTP set it: now
    assert [call[1]["received"] for call in heard.calls[1:]] == [clock.now, clock.now]
    assert not inp.take(site_message(gateway="centre"))  # our own, back from the broker
    assert len(heard.calls) == 3
    broken = {
        b"not json": ("not_json", "not JSON"),
        b"[1]": ("not_json", "not a JSON object"),
        site_message(gateway=...): ("no_site", "no gateway name"),
        site_message(gateway="a/b"): ("no_site", "no gateway name"),
        site_message(frame="%%%"): ("bad_base64", "'frame' is not base64"),
        site_message(frame=...): ("bad_base64", "no base64 text in 'frame'"),
        site_message(received="yesterday"): ("bad_field", "no unix time in 'received'"),
        site_message(received=True): ("bad_field", "no unix time in 'received'"),
        site_message(rssi=-97.5): ("bad_field", "'rssi' is not a whole number"),
        site_message(snr="good"): ("bad_field", "'snr' is not a number"),
        # Values no store or date can take: 2**70 once stopped every commit after it.
        site_message(received=10**400): ("bad_field", "'received' is not a time"),
        site_message(received=1e300): ("bad_field", "'received' is not a time"),
        site_message(received=float("nan")): ("bad_field", "'received' is not a time"),
        site_message(rssi=2**70): ("bad_field", "is not a radio's dBm"),
        site_message(snr=float("inf")): ("bad_field", "is not a radio's dB"),
    }
    for payload, (reason, why) in broken.items():
        caplog.clear()
        clock.now += 61  # past the minute a reason is said at most once in
        assert not inp.take(payload)
        assert fed.refusals[-1] == (inp.name, reason), payload
        assert f"message refused ({reason}): " in caplog.text and why in caplog.text, payload
    assert len(fed.refusals) == len(broken) and len(heard.calls) == 3
