"""The LoRaWAN input in the real gateway process, fed by a real Mosquitto.

The test plays the network server: it publishes uplink events of the shapes The Things
Stack and ChirpStack document (their own examples, tests/gateway/data/README.md, with our
frame, port and EUI put in) on the topics they document, at QoS 1, as a network server's
MQTT integration does.
"""

import base64
import copy
import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from meteolink.firmware import frames
from meteolink.gateway.web.words import word
from tests.support.broker import Broker
from tests.support.gateway_process import GatewayProcess
from tests.support.status_page import get, page_url
from tests.support.tools import wait_until

DATA = Path(__file__).parent / "data"
KEY = bytes(range(16))  # node 12's key: its frames carry a MIC the gateway checks
EUI = "70B3D57ED0012345"
TTS_TOPIC = "v3/app1@tenant1/devices/dev1/up"
CHIRPSTACK_TOPIC = f"application/17c82e96-be03-4f38-aef3-f83d48582d97/device/{EUI.lower()}/event/up"


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text("utf-8"))
    return loaded


def frame(seq: int, node: int = 12, key: bytes | None = KEY) -> bytes:
    return frames.encode(node, seq, {"temperature": 4.25, "humidity": 81.5}, key, 0)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tts_uplink(payload: bytes, rx: list[tuple[int, float]], *, port: int = 10) -> bytes:
    """The Things Stack's documented uplink, carrying payload, heard by gateways (rssi, snr)."""
    msg = copy.deepcopy(example("tts-mqtt-server-uplink.json"))
    msg["end_device_ids"]["dev_eui"] = EUI
    up = msg["uplink_message"]
    up["f_port"], up["frm_payload"] = port, b64(payload)
    documented = up["rx_metadata"][0]
    up["rx_metadata"] = [
        {**documented, "gateway_ids": {"gateway_id": f"gw{i}"}, "rssi": r, "snr": s}
        for i, (r, s) in enumerate(rx)
    ]
    return json.dumps(msg).encode()


def chirpstack_uplink(data: str, *, eui: str = EUI, port: int = 10) -> bytes:
    """ChirpStack v4's documented up event, with data (base64 text, or not), port and EUI."""
    msg = copy.deepcopy(example("chirpstack-v4-up.json"))
    msg["deviceInfo"]["devEui"] = eui.lower()
    msg["fPort"], msg["data"] = port, data
    return json.dumps(msg).encode()


class NetworkServer:
    """What a network server's MQTT integration does: publish uplink events at QoS 1."""

    def __init__(self, broker: Broker) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="network-server")
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def publish(self, topic: str, body: bytes) -> None:
        self.client.publish(topic, body, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def lorawan_config(broker: Broker, kind: str, extra: str = "") -> str:
    user = 'username = "app1@tenant1"\n' if kind == "tts" else ""
    return (
        f'commit_interval = 0.05\n\n[web]\nlisten = "127.0.0.1:0"\n\n'
        f'[[lorawan]]\nname = "city"\nkind = "{kind}"\nurl = "{broker.url}"\n{user}'
        f'fport = 10\ndevices = {{ "{EUI.lower()}" = 12 }}\n{extra}\n'
        f'[nodes.12]\nname = "Ogre"\nkey = "{KEY.hex()}"\n'
    )


def subscribed(g: GatewayProcess, times: int = 1) -> None:
    wait_until(
        lambda: (
            g.log().count("lorawan:city: subscribed") + g.log().count("connected again") >= times
        ),
        "the LoRaWAN input to subscribe",
    )


def stored(g: GatewayProcess) -> list[tuple[int, int, int | None, float | None]]:
    path = g.data / "readings.db"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT node, seq, rssi, snr FROM readings ORDER BY id").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()
    return [(int(n), int(s), r, snr) for n, s, r, snr in rows]


def test_tts_uplinks_are_stored_with_the_best_gateway_and_a_repeat_once(
    broker: Broker, gateway: Callable[..., GatewayProcess]
) -> None:
    g = gateway(lorawan_config(broker, "tts"))
    subscribed(g)
    ns = NetworkServer(broker)
    try:
        three_gateways = [(-113, -6.5), (-71, 7.25), (-90, 9.5)]
        ns.publish(TTS_TOPIC, tts_uplink(frame(1), three_gateways))
        # The same uplink again (a network server's retry, a second integration): stored once.
        ns.publish(TTS_TOPIC, tts_uplink(frame(1), three_gateways))
        ns.publish(TTS_TOPIC, tts_uplink(frame(2), [(-104, -1.0)]))
        wait_until(lambda: len(stored(g)) >= 2, "node 12's two readings stored")
    finally:
        ns.close()
    # The strongest gateway (-71 dBm), and the SNR it heard, not the best SNR of all (9.5).
    assert stored(g) == [(12, 1, -71, 7.25), (12, 2, -104, -1.0)]
    overview = json.loads(get(page_url(g) + "api/overview").body)
    (inp,) = overview["gateway"]["inputs"]
    assert (inp["name"], inp["frames"], inp["refused"]) == ("lorawan:city", 3, {})
    (node,) = overview["nodes"]
    assert node["duplicates"] == 1


def inputs_table(driver: WebDriver, lang: str) -> list[dict[str, str]]:
    """The status page's inputs, as a person reads them: {column heading: cell text} a row."""
    table = driver.find_element(
        By.XPATH, f"//h3[.='{word('inputs', lang)}']/following-sibling::div[1]//table"
    )
    headings = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    return [
        dict(zip(headings, [td.text for td in tr.find_elements(By.TAG_NAME, "td")], strict=True))
        for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]


def test_chirpstack_uplinks_refused_each_with_its_reason_in_the_log_and_stats(
    broker: Broker, gateway: Callable[..., GatewayProcess], chrome: Callable[..., WebDriver]
) -> None:
    g = gateway(lorawan_config(broker, "chirpstack"))
    subscribed(g)
    ns = NetworkServer(broker)
    try:
        ns.publish(CHIRPSTACK_TOPIC, chirpstack_uplink(b64(frame(1)), port=1))
        stranger = "0101010101010101"  # the EUI of ChirpStack's own example
        ns.publish(
            f"application/x/device/{stranger}/event/up",
            chirpstack_uplink(b64(frame(1)), eui=stranger),
        )
        ns.publish(CHIRPSTACK_TOPIC, chirpstack_uplink("qg==!"))
        ns.publish(CHIRPSTACK_TOPIC, chirpstack_uplink("qg=="))  # the docs' payload: one byte
        ns.publish(CHIRPSTACK_TOPIC, chirpstack_uplink(b64(frame(5, node=13, key=None))))
        ns.publish(CHIRPSTACK_TOPIC, chirpstack_uplink(b64(frame(3))))
        wait_until(lambda: len(stored(g)) == 1, "the one good uplink stored")
    finally:
        ns.close()
    assert stored(g) == [(12, 3, -36, 10.5)]  # rssi and snr of the docs' one gateway
    log = g.log()
    for said in (
        "lorawan:city: uplink from 70B3D57ED0012345 refused (wrong_fport): fPort 1, not 10",
        "lorawan:city: uplink from 0101010101010101 refused (unknown_device): not in the devices",
        "lorawan:city: uplink from 70B3D57ED0012345 refused (bad_base64)",
        "lorawan:city: uplink from 70B3D57ED0012345 refused (not_a_frame): 1 bytes",
        "refused (node_mismatch): the frame says node 13, and the device is mapped to node 12",
    ):
        assert said in log
    url = page_url(g)
    (inp,) = json.loads(get(url + "api/overview").body)["gateway"]["inputs"]
    assert inp["refused"] == {
        "wrong_fport": 1,
        "unknown_device": 1,
        "bad_base64": 1,
        "not_a_frame": 1,
        "node_mismatch": 1,
    }
    assert inp["frames"] == 1
    metrics = get(url + "metrics").body.decode()
    assert re.search(
        r'meteolink_input_frames_rejected_total\{input="lorawan:city",reason="unknown_device"\} 1',
        metrics,
    )
    # The page says them too, each reason in the reader's language.
    cells = {
        "en": "5\n1 no base64 frame\n1 device mapped to another node\n1 not a meteolink frame"
        "\n1 device not mapped\n1 on another fPort",
        "lv": "5\n1 nav base64 kadra\n1 ierīce piesaistīta citam mezglam\n1 nav meteolink kadrs"
        "\n1 ierīce nav sarakstā\n1 citā fPort",
    }
    for lang, cell in cells.items():
        driver = chrome(lang=lang)
        driver.get(url)
        (row,) = inputs_table(driver, lang)
        assert row[word("input", lang)] == "lorawan:city"
        assert row[word("refused", lang)] == cell


def test_uplinks_published_while_the_gateway_is_away_arrive_when_it_returns(
    broker: Broker, gateway: Callable[..., GatewayProcess]
) -> None:
    text = lorawan_config(broker, "chirpstack")
    g = gateway(text)
    subscribed(g)
    ns = NetworkServer(broker)
    try:
        ns.publish(CHIRPSTACK_TOPIC, chirpstack_uplink(b64(frame(1))))
        wait_until(lambda: len(stored(g)) == 1, "the first uplink stored")
        assert g.stop() == 0
        # The persistent session (a stable client id, clean_session false) holds these.
        for seq in (2, 3, 4):
            ns.publish(CHIRPSTACK_TOPIC, chirpstack_uplink(b64(frame(seq))))
        g = gateway(text)
        wait_until(lambda: len(stored(g)) == 4, "the uplinks sent while it was away")
        # And a broker restart: the input reconnects by itself, and goes on.
        broker.stop()
        broker.start()
        subscribed(g, times=2)
        ns.client.reconnect()
        ns.publish(CHIRPSTACK_TOPIC, chirpstack_uplink(b64(frame(5))))
        wait_until(lambda: len(stored(g)) == 5, "the uplink after the broker's restart")
    finally:
        ns.close()
    assert [seq for _, seq, _, _ in stored(g)] == [1, 2, 3, 4, 5]
