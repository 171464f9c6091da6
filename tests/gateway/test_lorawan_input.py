"""The LoRaWAN input's reading of uplinks (gateway/lorawan_uplink.py) and of its [[lorawan]]
tables, without a broker.

The uplinks are the network servers' own documented examples (tests/gateway/data/README.md
names each source); test_lorawan_process.py runs the same shapes through a real Mosquitto and
the real gateway process.
"""

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from meteolink.firmware import frames
from meteolink.gateway import config as gateway_config
from meteolink.gateway.config import ConfigError
from meteolink.gateway.lorawan_input import Lorawan
from meteolink.gateway.lorawan_uplink import (
    BAD_BASE64,
    NODE_MISMATCH,
    NOT_A_FRAME,
    NOT_AN_UPLINK,
    UNKNOWN_DEVICE,
    WRONG_FPORT,
    Refused,
    best_reception,
    frame_of,
    read_uplink,
)

DATA = Path(__file__).parent / "data"


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text("utf-8"))
    return loaded


def body(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg).encode()


def test_the_things_stack_mqtt_server_example_is_read_as_documented() -> None:
    # The Things Stack docs, "MQTT Server", uplink message example.
    up = read_uplink("tts", body(example("tts-mqtt-server-uplink.json")))
    assert up.eui == "4200000000000000"
    assert up.fport == 15
    assert base64.b64decode(up.payload) == b"Temperature = 0.0"
    assert (up.rssi, up.snr) == (-35, 5.0)


def test_the_things_stack_data_formats_example_has_no_port_and_reads_as_port_0() -> None:
    # The Things Stack docs, "Data Formats": empty fields are left out, f_port among them.
    up = read_uplink("tts", body(example("tts-data-formats-uplink.json")))
    assert (up.eui, up.fport, up.payload) == ("0004A30B001C0530", 0, "gkHe")
    assert (up.rssi, up.snr) == (-35, 5.0)


def test_chirpstack_v4_up_event_example_is_read_as_documented() -> None:
    # ChirpStack v4 docs, "Event types", up: the protobuf JSON mapping of UplinkEvent.
    up = read_uplink("chirpstack", body(example("chirpstack-v4-up.json")))
    assert (up.eui, up.fport) == ("0101010101010101", 1)
    assert base64.b64decode(up.payload) == b"\xaa"
    assert (up.rssi, up.snr) == (-36, 10.5)


def test_the_best_gateway_is_the_strongest_and_its_snr_goes_with_it() -> None:
    rx = [
        {"gateway_ids": {"gateway_id": "far"}, "rssi": -118, "snr": -14.25},
        {"gateway_ids": {"gateway_id": "near"}, "rssi": -71, "snr": 2.5},
        {"gateway_ids": {"gateway_id": "clear"}, "rssi": -90, "snr": 11.0},
    ]
    assert best_reception(rx) == (-71, 2.5)
    # A tie in RSSI goes to the better SNR; an entry with only channel_rssi counts.
    assert best_reception([{"rssi": -80, "snr": 1.0}, {"channel_rssi": -80, "snr": 7.5}]) == (
        -80,
        7.5,
    )
    assert best_reception([]) == (None, None)
    assert best_reception([{"snr": 3.0}, "noise"]) == (None, None)


def settings(**changes: Any) -> Lorawan:
    base = Lorawan(
        name="city",
        kind="chirpstack",
        host="127.0.0.1",
        fport=10,
        devices={"70B3D57ED0012345": 12},
    )
    return Lorawan(**{**base.__dict__, **changes})


def chirpstack_uplink(
    payload: bytes | str, *, eui: str = "70b3d57ed0012345", port: int = 10
) -> bytes:
    msg = copy.deepcopy(example("chirpstack-v4-up.json"))
    msg["deviceInfo"]["devEui"] = eui
    msg["fPort"] = port
    msg["data"] = payload if isinstance(payload, str) else base64.b64encode(payload).decode()
    return body(msg)


def refusal(raw: bytes, s: Lorawan | None = None) -> Refused:
    with pytest.raises(Refused) as caught:
        frame_of(
            read_uplink("chirpstack", raw),
            fport=(s or settings()).fport,
            devices=(s or settings()).devices,
        )
    return caught.value


def test_a_mapped_device_on_the_port_gives_its_frame_whatever_the_eui_case() -> None:
    frame = frames.encode(12, 7, {"temperature": 3.5}, None, 0)
    assert (
        frame_of(
            read_uplink("chirpstack", chirpstack_uplink(frame)),
            fport=10,
            devices=settings().devices,
        )
        == frame
    )


def test_each_refusal_has_its_reason() -> None:
    frame = frames.encode(12, 7, {"temperature": 3.5}, None, 0)
    assert refusal(chirpstack_uplink(frame, port=1)).reason == WRONG_FPORT
    unknown = refusal(chirpstack_uplink(frame, eui="0101010101010101"))
    assert (unknown.reason, unknown.eui) == (UNKNOWN_DEVICE, "0101010101010101")
    assert refusal(chirpstack_uplink("not base64!")).reason == BAD_BASE64
    assert refusal(chirpstack_uplink(b"\xaa")).reason == NOT_A_FRAME  # the docs' own payload
    assert refusal(chirpstack_uplink(b"Temperature = 0.0")).reason == NOT_A_FRAME
    other = refusal(chirpstack_uplink(frames.encode(13, 7, {"temperature": 3.5}, None, 0)))
    assert other.reason == NODE_MISMATCH
    assert "node 13" in other.detail and "node 12" in other.detail
    assert refusal(b"{").reason == NOT_AN_UPLINK
    assert refusal(body({"fPort": 10, "data": "qg=="})).reason == NOT_AN_UPLINK


def test_a_documented_uplink_without_a_port_is_on_the_wrong_port() -> None:
    s = settings(kind="tts", devices={"0004A30B001C0530": 12})
    up = read_uplink("tts", body(example("tts-data-formats-uplink.json")))
    with pytest.raises(Refused) as caught:
        frame_of(up, fport=s.fport, devices=s.devices)
    assert caught.value.reason == WRONG_FPORT


def load(tmp_path: Path, text: str) -> gateway_config.Config:
    path = tmp_path / "gateway.toml"
    path.write_text(text, "utf-8")
    path.chmod(0o600)
    return gateway_config.load(path)


def test_a_lorawan_table_is_read_whole(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "[[lorawan]]\n"
        'kind = "tts"\n'
        'url = "mqtts://eu1.cloud.thethings.network"\n'
        'username = "riga-weather@ttn"\n'
        'password = "NNSXS.SECRET"\n'
        "fport = 20\n"
        'devices = { "70b3d57ed0012345" = 12, "70B3D57ED0012346" = 13 }\n',
    )
    found = cfg.parts["lorawan"]
    assert isinstance(found, tuple) and len(found) == 1
    s = found[0]
    assert isinstance(s, Lorawan)
    assert (s.name, s.host, s.port, s.tls, s.fport) == (
        "tts",
        "eu1.cloud.thethings.network",
        8883,
        True,
        20,
    )
    assert dict(s.devices) == {"70B3D57ED0012345": 12, "70B3D57ED0012346": 13}
    # The Things Stack's topics carry the user name, {application id}@{tenant id}.
    assert s.topic == "v3/riga-weather@ttn/devices/+/up"
    assert "SECRET" not in repr(s)
    chirp = Lorawan(name="c", kind="chirpstack", host="h", application="17c82e96")
    assert chirp.topic == "application/17c82e96/device/+/event/up"


@pytest.mark.parametrize(
    ("table", "wanted"),
    [
        ('url = "mqtt://127.0.0.1"', 'lorawan[0].kind: missing: give "tts"'),
        ('kind = "ttn"\nurl = "mqtt://127.0.0.1"', "lorawan[0].kind: 'ttn'"),
        ('kind = "tts"', "lorawan[0].url: missing"),
        (
            'kind = "chirpstack"\nurl = "mqtt://127.0.0.1"\ndevices = { "70B3D57ED00123" = 12 }',
            "lorawan[0].devices.70B3D57ED00123: a dev EUI is 16 hexadecimal digits",
        ),
        (
            'kind = "chirpstack"\nurl = "mqtt://127.0.0.1"\ndevices = { "70B3D57ED0012345" = 0 }',
            "lorawan[0].devices.70B3D57ED0012345: 0: give the node id, 1 to 65534",
        ),
        (
            'kind = "chirpstack"\nurl = "mqtt://127.0.0.1"\n'
            'devices = { "70B3D57ED0012345" = 1, "70b3d57ed0012345" = 2 }',
            "given twice",
        ),
        (
            'kind = "chirpstack"\nurl = "mqtt://127.0.0.1"\nfport = 224',
            "lorawan[0].fport: 224 is out of range (give 1 to 223)",
        ),
        (
            'kind = "tts"\nurl = "mqtt://eu1.cloud.thethings.network"\npassword = "NNSXS.X"',
            "travels in clear (use mqtts://",
        ),
        ('kind = "tts"\nurl = "mqtt://127.0.0.1"\nfPort = 10', "lorawan[0].fPort: unknown key"),
    ],
)
def test_a_mistake_in_a_lorawan_table_is_one_line_naming_the_key(
    tmp_path: Path, table: str, wanted: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"[[lorawan]]\n{table}\n")
    message = str(caught.value)
    assert wanted in message and "\n" not in message
    assert str(tmp_path / "gateway.toml") in message


def test_a_lorawan_password_in_a_file_others_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        '[[lorawan]]\nkind = "tts"\nurl = "mqtts://eu1.cloud.thethings.network"\n'
        'password = "NNSXS.SECRET"\n',
        "utf-8",
    )
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"holds lorawan\[0\]\.password and every user may read"):
        gateway_config.load(path)


# LoRaWAN Regional Parameters RP002-1.0.x, EU863-870 "Maximum payload size": N, the largest
# application payload without FOpts, is 51 bytes at DR0..DR2, 115 at DR3, 222 at DR4..DR5
# (repeater compatible). docs/lorawan.md's table of frame sizes, from the codec itself.
EU868_N = {0: 51, 1: 51, 2: 51, 3: 115, 4: 222, 5: 222}
WEATHER = {"temperature": -3.5, "humidity": 91.0, "pressure": 1012.3, "battery": 3.9}
AIR = {**WEATHER, "pm1": 4.0, "pm2_5": 6.5, "pm10": 11.0, "co2": 415, "voc_index": 100}
FULL = {
    **AIR,
    "wind_speed": 3.2,
    "wind_direction": 270,
    "gust": 7.5,
    "rain": 0.4,
    "status": 0,
}
EVERY = {**FULL, **{frames.field_name(fid): 1 for fid in range(14, 26)}}  # protocol.md today


def slowest_data_rate(size: int) -> int:
    return min(dr for dr, n in EU868_N.items() if size <= n)


@pytest.mark.parametrize(
    ("values", "size", "data_rate"),
    [(WEATHER, 22, 0), (AIR, 32, 0), (FULL, 42, 0), (EVERY, 68, 3)],
    ids=["weather", "air-quality", "ids-0-to-13", "ids-0-to-25"],
)
def test_our_stations_frames_and_the_data_rate_they_need(
    values: dict[str, float], size: int, data_rate: int
) -> None:
    frame = frames.encode(12, 1, values, bytes(16), 0)  # with a MIC, as keyed nodes send
    assert len(frame) == size
    assert slowest_data_rate(len(frame)) == data_rate
    assert slowest_data_rate(frames.MAX_FRAME) == 4  # the largest frame possible: 147 bytes
