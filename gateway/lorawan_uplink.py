"""LoRaWAN uplink events taken apart: the network servers' JSON in, a meteolink frame out.

No I/O: gateway/lorawan_input.py subscribes and feeds what this returns. The
shapes are those the network servers document (docs/gateway.md, "LoRaWAN";
their own examples are in tests/gateway/data/):

    tts          The Things Stack v3: end_device_ids.dev_eui, uplink_message.f_port,
                 .frm_payload (base64), .rx_metadata[] (rssi, channel_rssi, snr)
    chirpstack   ChirpStack v4 UplinkEvent, protobuf JSON: deviceInfo.devEui, fPort,
                 data (base64), rxInfo[] (rssi, snr)

Both leave out empty fields, so an absent fPort is 0 (a MAC-only uplink).
Whatever is not a frame for the gateway raises Refused, whose reason is
the key the input counts it under.
"""

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from meteolink.firmware import frames

# Why an uplink was refused: the key in the input's stats, and what the log says.
NOT_AN_UPLINK = "not_an_uplink"
WRONG_FPORT = "wrong_fport"
UNKNOWN_DEVICE = "unknown_device"
BAD_BASE64 = "bad_base64"
NOT_A_FRAME = "not_a_frame"
NODE_MISMATCH = "node_mismatch"


class Refused(Exception):
    """An uplink that carries no frame for the gateway: reason is the key in the stats."""

    def __init__(self, reason: str, detail: str, eui: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.eui = eui


@dataclass(frozen=True)
class Uplink:
    """What the LoRaWAN input needs of one uplink event."""

    eui: str | None  # upper case; None when the network server gave none (an ABP device)
    fport: int  # 0 when absent: both servers leave out empty fields
    payload: str  # base64, as sent; "" for none
    rssi: int | None  # the best gateway's
    snr: float | None


def read_uplink(kind: str, body: bytes) -> Uplink:
    """The uplink event in body (JSON of the kind's documented shape), or Refused."""
    try:
        msg = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise Refused(NOT_AN_UPLINK, f"not JSON ({e})") from e
    if not isinstance(msg, dict):
        raise Refused(NOT_AN_UPLINK, "not a JSON object")
    if kind == "tts":
        ids, up = msg.get("end_device_ids"), msg.get("uplink_message")
        if not isinstance(ids, dict) or not isinstance(up, dict):
            raise Refused(NOT_AN_UPLINK, "no end_device_ids and uplink_message")
        eui, fport, data, rx = (
            ids.get("dev_eui"),
            up.get("f_port", 0),
            up.get("frm_payload"),
            (up.get("rx_metadata") or []),
        )
    else:
        info = msg.get("deviceInfo")
        if not isinstance(info, dict):
            raise Refused(NOT_AN_UPLINK, "no deviceInfo")
        eui, fport, data, rx = (
            info.get("devEui"),
            msg.get("fPort", 0),
            msg.get("data"),
            (msg.get("rxInfo") or []),
        )
    if eui is not None and not isinstance(eui, str):
        raise Refused(NOT_AN_UPLINK, f"the dev EUI is {eui!r}")
    if isinstance(fport, bool) or not isinstance(fport, int):
        raise Refused(NOT_AN_UPLINK, f"the fPort is {fport!r}", eui)
    if data is not None and not isinstance(data, str):
        raise Refused(BAD_BASE64, "the payload is not a base64 string", eui)
    if not isinstance(rx, list):
        raise Refused(NOT_AN_UPLINK, "the rx metadata is not a list", eui)
    rssi, snr = best_reception(rx)
    return Uplink(eui.upper() if eui else None, fport, data or "", rssi, snr)


def best_reception(rx: list[Any]) -> tuple[int | None, float | None]:
    """(RSSI, SNR) of the gateway that heard the uplink best: the highest RSSI, then SNR.

    The Things Stack gives rssi and channel_rssi (the channel's, where the
    gateway reports no other); either is taken, rssi first.
    """
    best: tuple[float, float] | None = None
    best_snr: float | None = None
    for entry in rx:
        if not isinstance(entry, dict):
            continue
        rssi = _number(entry.get("rssi"))
        if rssi is None:
            rssi = _number(entry.get("channel_rssi"))
        if rssi is None:
            continue
        snr = _number(entry.get("snr"))
        rank = (rssi, snr if snr is not None else float("-inf"))
        if best is None or rank > best:
            best, best_snr = rank, snr
    if best is None:
        return None, None
    return round(best[0]), best_snr


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def frame_of(up: Uplink, *, fport: int, devices: Mapping[str, int]) -> bytes:
    """The meteolink frame an uplink carries for the gateway, or Refused saying why not.

    fport: the port meteolink frames travel on; devices: upper-case dev EUI -> node id.

    Only the header is read here (the node id it claims); the Feed checks the
    rest: CRC, MIC, counter.
    """
    if up.fport != fport:
        raise Refused(WRONG_FPORT, f"fPort {up.fport}, not {fport} (not a meteolink frame)", up.eui)
    node = devices.get(up.eui) if up.eui else None
    if node is None:
        raise Refused(
            UNKNOWN_DEVICE,
            "no dev EUI in the uplink" if up.eui is None else "not in the devices map",
            up.eui,
        )
    try:
        data = base64.b64decode(up.payload, validate=True)
    except (binascii.Error, ValueError) as e:
        raise Refused(BAD_BASE64, f"the payload is not base64 ({e})", up.eui) from e
    if not frames.MIN_FRAME <= len(data) <= frames.MAX_FRAME:
        raise Refused(
            NOT_A_FRAME,
            f"{len(data)} bytes, and a frame has {frames.MIN_FRAME} to {frames.MAX_FRAME}",
            up.eui,
        )
    version, _, claimed, _ = frames.header(data)
    if version != frames.VERSION:
        raise Refused(NOT_A_FRAME, f"format version {version}, not {frames.VERSION}", up.eui)
    if claimed != node:
        raise Refused(
            NODE_MISMATCH,
            f"the frame says node {claimed}, and the device is mapped to node {node}",
            up.eui,
        )
    return data
