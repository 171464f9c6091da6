"""A BLE node on the sim board, heard through the gateway's own BLE input.

The sim's Bluetooth records the advertising data the firmware hands to
gap_advertise; the test parses it into AD structures as the host's stack
does and gives bleak's AdvertisementData to the gateway's callback.
"""

from pathlib import Path

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from meteolink.firmware import frames
from meteolink.gateway.ble_input import BleInput
from tests.support.receiver import Heard
from tests.support.sim_node import SimNode


def parse_ad(data: bytes) -> dict[int, bytes]:
    """AD structures (length, type, value) -> {company id: manufacturer data}."""
    out: dict[int, bytes] = {}
    i = 0
    while i < len(data):
        n = data[i]
        assert n and i + 1 + n <= len(data), f"malformed AD at {i}: {data.hex()}"
        ad_type, value = data[i + 1], data[i + 2 : i + 1 + n]
        if ad_type == 0xFF:
            out[int.from_bytes(value[:2], "little")] = bytes(value[2:])
        i += 1 + n
    return out


def test_ble_node_adverts_reach_the_gateway_core(tmp_path: Path) -> None:
    adverts = tmp_path / "adverts.txt"
    node = SimNode(
        tmp_path,
        {"node": 12, "transport": "ble", "sensors": ["bme280", "battery"], "maintenance_s": 0},
        {"ble": str(adverts), "air": {"temperature": -3.5}, "battery_v": 3.1},
    )
    for _ in range(3):
        out = node.wake()
        assert node.returncode == 0, out
    lines = adverts.read_text("utf-8").split()
    payloads = [bytes.fromhex(h) for h in lines[1::2]]
    assert len(payloads) == 3 and all(len(d) <= 31 for d in payloads)
    assert all(d[:3] == b"\x02\x01\x06" for d in payloads), "the flags AD comes first"
    heard = Heard()
    ble = BleInput(heard)
    device = BLEDevice("D8:3A:DD:00:00:0C", "meteolink", details=None)
    for d in payloads:
        ble.on_advertisement(
            device,
            AdvertisementData(
                local_name=None,
                manufacturer_data=parse_ad(d),
                service_data={},
                service_uuids=[],
                tx_power=None,
                rssi=-60,
                platform_data=(),
            ),
        )
    got = [frames.decode(f) for f in heard.frames]
    assert [(f.node, f.seq) for f in got] == [(12, 0), (12, 1), (12, 2)]
    assert got[2].values()["temperature"] == -3.5
    assert not any(f.flags & frames.FLAG_ACK_REQUEST for f in got)


def test_a_ble_node_refuses_ack_mode_at_boot(tmp_path: Path) -> None:
    node = SimNode(
        tmp_path,
        {"node": 12, "transport": "ble", "ack": True, "maintenance_s": 0},
        {"ble": str(tmp_path / "adverts.txt")},
    )
    out = node.wake()
    assert "config.json: ack: a BLE node cannot hear acknowledgements: set false" in out
    assert not (tmp_path / "adverts.txt").exists()
