"""BLE input: frames out of real bleak advertisements; a scan that cannot start is retried."""

import asyncio
import logging
import re
from typing import Any

import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import (
    AdvertisementData,
    AdvertisementDataCallback,
    BaseBleakScanner,
)
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakError,
)

from meteolink.firmware import frames
from meteolink.gateway.backoff import Backoff
from meteolink.gateway.ble_input import LEGACY_FRAME_BUDGET, BleInput, _advice
from tests.support.receiver import Heard
from tests.support.tools import ROOT, Clock

NODE_ADDRESS = "D8:3A:DD:00:00:07"
OTHER_ADDRESS = "D8:3A:DD:00:00:08"
APPLE = 0x004C


def quick() -> Backoff:
    return Backoff(first=0.01, cap=0.04)


def reading(seq: int, node: int = 7) -> bytes:
    return frames.encode(node, seq, {"temperature": 2.5})


def advert(manufacturer_data: dict[int, bytes], rssi: int = -71) -> AdvertisementData:
    return AdvertisementData(
        local_name="meteolink",
        manufacturer_data=manufacturer_data,
        service_data={},
        service_uuids=[],
        tx_power=None,
        rssi=rssi,
        platform_data=(),
    )


def device(address: str = NODE_ADDRESS) -> BLEDevice:
    return BLEDevice(address, "meteolink", details=None)


# -- what on_advertisement passes on ----------------------------------------------


def test_a_frame_is_delivered_with_its_rssi_and_the_input_as_source() -> None:
    heard = Heard()
    ble = BleInput(heard)
    frame = reading(42)
    ble.on_advertisement(device(), advert({0xFFFF: frame}, rssi=-83))
    assert heard.calls == [(frame, {"source": "ble", "rssi": -83, "snr": None, "reply": None})]
    assert frames.decode(heard.frames[0]).values() == {"temperature": 2.5}
    assert BleInput(heard, adapter="hci1").name == "ble:hci1"


def test_adverts_without_our_company_id_are_ignored() -> None:
    heard = Heard()
    ble = BleInput(heard, company_id=0x0B2A)
    frame = reading(1)
    ble.on_advertisement(device(), advert({}))
    ble.on_advertisement(device(), advert({APPLE: frame}))
    ble.on_advertisement(device(), advert({0xFFFF: frame}))
    assert heard.calls == []
    ble.on_advertisement(device(), advert({APPLE: b"\x02\x15", 0x0B2A: frame}))
    assert heard.frames == [frame]


def test_advertising_repeats_are_dropped_and_the_next_frame_passes() -> None:
    heard, clock = Heard(), Clock()
    ble = BleInput(heard, clock=clock)
    first, second = reading(1), reading(2)
    for _ in range(10):  # a node repeats each advert many times a second
        ble.on_advertisement(device(), advert({0xFFFF: first}))
        clock.now += 0.1
    ble.on_advertisement(device(), advert({0xFFFF: second}))
    ble.on_advertisement(device(), advert({0xFFFF: second}))
    assert heard.frames == [first, second]
    assert (ble.delivered, ble.repeats) == (2, 10)


def test_the_window_runs_from_the_last_hearing() -> None:
    heard, clock = Heard(), Clock()
    ble = BleInput(heard, repeat_window=30.0, clock=clock)
    frame = reading(5)
    for _ in range(4):  # the same advert heard every 20 s: one frame, still on the air
        ble.on_advertisement(device(), advert({0xFFFF: frame}))
        clock.now += 20
    assert heard.frames == [frame]
    clock.now += 11  # 31 s of silence, then the same bytes: a real second arrival
    ble.on_advertisement(device(), advert({0xFFFF: frame}))
    assert heard.frames == [frame, frame]


def test_the_same_frame_from_another_address_passes() -> None:
    # Whether it is a duplicate is the core's question (it knows node and counter).
    heard = Heard()
    ble = BleInput(heard)
    frame = reading(9)
    ble.on_advertisement(device(NODE_ADDRESS), advert({0xFFFF: frame}))
    ble.on_advertisement(device(OTHER_ADDRESS), advert({0xFFFF: frame}))
    assert heard.frames == [frame, frame]


def test_a_zero_window_passes_every_advert() -> None:
    heard = Heard()
    ble = BleInput(heard, repeat_window=0)
    for _ in range(3):
        ble.on_advertisement(device(), advert({0xFFFF: reading(1)}))
    assert len(heard.calls) == 3


def test_the_repeat_filter_forgets_the_address_heard_longest_ago() -> None:
    heard = Heard()
    ble = BleInput(heard, max_devices=2)
    addresses = ["C0:00:00:00:00:01", "C0:00:00:00:00:02", "C0:00:00:00:00:03"]
    for address in addresses:
        ble.on_advertisement(device(address), advert({0xFFFF: reading(1)}))
    assert len(heard.calls) == 3
    ble.on_advertisement(device(addresses[2]), advert({0xFFFF: reading(1)}))
    assert len(heard.calls) == 3, "remembered: a repeat"
    ble.on_advertisement(device(addresses[0]), advert({0xFFFF: reading(1)}))
    assert len(heard.calls) == 4, "forgotten when the third address came"


@pytest.mark.parametrize("length", [0, 1, frames.MIN_FRAME - 1, frames.MAX_FRAME + 1, 250])
def test_lengths_no_frame_has_are_dropped(length: int) -> None:
    heard = Heard()
    ble = BleInput(heard)
    ble.on_advertisement(device(), advert({0xFFFF: bytes(length)}))
    assert heard.calls == []
    assert ble.wrong_length == 1


@pytest.mark.parametrize("length", [frames.MIN_FRAME, LEGACY_FRAME_BUDGET, frames.MAX_FRAME])
def test_any_length_a_frame_can_have_goes_to_the_core_unchecked(length: int) -> None:
    # The core checks the CRC; an extended advert may carry up to the largest frame.
    heard = Heard()
    BleInput(heard).on_advertisement(device(), advert({0xFFFF: bytes(range(length))}))
    assert heard.frames == [bytes(range(length))]


def test_a_receiver_that_raises_does_not_reach_bleak(caplog: pytest.LogCaptureFixture) -> None:
    def broken(frame: bytes, /, **_: Any) -> None:
        raise RuntimeError("core on fire")

    ble = BleInput(broken)
    with caplog.at_level(logging.ERROR, logger="meteolink.gateway.ble_input"):
        ble.on_advertisement(device(), advert({0xFFFF: reading(1)}))
        ble.on_advertisement(device(), advert({0xFFFF: reading(2)}))
    assert [r.exc_info[1].args for r in caplog.records if r.exc_info and r.exc_info[1]] == [
        ("core on fire",),
        ("core on fire",),
    ]
    assert ble.delivered == 2


@pytest.mark.parametrize("company_id", [-1, 0x10000, True, 1.0, "0xFFFF"])
def test_a_company_id_must_be_16_bits(company_id: Any) -> None:
    with pytest.raises(ValueError, match=r"company_id .*0 to 0xFFFF"):
        BleInput(Heard(), company_id=company_id)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("adapter", ""),
        ("adapter", "/org/bluez/hci0"),
        ("repeat_window", -1.0),
        ("repeat_window", float("nan")),
        ("max_devices", 0),
        ("idle_restart", 0.0),
        ("idle_restart", float("inf")),
    ],
)
def test_options_are_checked_at_construction(option: str, value: Any) -> None:
    with pytest.raises(ValueError, match=option):
        BleInput(Heard(), **{option: value})


def test_company_ids_at_both_ends_are_accepted() -> None:
    for company_id in (0, 0xFFFF):
        BleInput(Heard(), company_id=company_id)


# -- the payload budget, and docs/ble.md's table of it ---------------------------


def test_a_legacy_advert_leaves_24_bytes_for_the_frame() -> None:
    flags_ad, manufacturer_ad_header, company_id = 3, 2, 2
    assert LEGACY_FRAME_BUDGET == 31 - flags_ad - manufacturer_ad_header - company_id == 24
    weather = {"temperature": 2.5, "humidity": 80.0, "pressure": 1013.2, "battery": 3.9}
    assert len(frames.encode(7, 1, weather)) == 18
    assert len(frames.encode(7, 1, weather, key=bytes(16))) <= LEGACY_FRAME_BUDGET


SIZE_ROW = re.compile(r"^\| ((?:`\w+` ?)+) \| (\d+) \| (\d+) \| (.+) \|$")


def doc_sizes() -> list[tuple[list[str], int, int, str]]:
    doc = (ROOT / "docs" / "ble.md").read_text(encoding="utf-8")
    rows = []
    for line in doc.splitlines():
        m = SIZE_ROW.match(line)
        if m:
            names = re.findall(r"`(\w+)`", m[1])
            rows.append((names, int(m[2]), int(m[3]), m[4].strip()))
    return rows


def test_the_doc_has_a_size_table() -> None:
    assert len(doc_sizes()) >= 5


@pytest.mark.parametrize("row", doc_sizes(), ids=lambda row: "+".join(row[0]))
def test_the_doc_gives_each_frame_its_size(row: tuple[list[str], int, int, str]) -> None:
    names, plain, with_mic, verdict = row
    ids = [frames.field_id(name) for name in names]
    values = {frames.field_name(i): frames.to_value(i, frames.FIELDS[i][4]) for i in ids}
    assert len(frames.encode(7, 1, values)) == plain
    assert len(frames.encode(7, 1, values, key=bytes(16))) == with_mic
    if with_mic <= LEGACY_FRAME_BUDGET:
        expected = "fits"
    elif plain <= LEGACY_FRAME_BUDGET:
        expected = "fits without a MIC"
    else:
        expected = "extended advertising only"
    assert verdict == expected


# -- run(): scanning, retrying, restarting ----------------------------------------


async def run_for(ble: BleInput, seconds: float) -> None:
    """Run the input as the service would, then cancel it as a shutdown does."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds):
            await ble.run()


def test_with_no_adapter_run_warns_and_keeps_retrying(caplog: pytest.LogCaptureFixture) -> None:
    # The real failure of this machine: no adapter named hci97, or no BlueZ,
    # or no system D-Bus at all. Nothing of bleak is replaced.
    ble = BleInput(Heard(), adapter="hci97", backoff=quick())
    # 2.5 s for 3 attempts 0.01-0.04 s apart: a busy two-core machine can take
    # most of a second over a failed D-Bus connection.
    with caplog.at_level(logging.DEBUG, logger="meteolink.gateway.ble_input"):
        asyncio.run(run_for(ble, 2.5))
    attempts = [r for r in caplog.records if "cannot scan" in r.getMessage()]
    assert len(attempts) >= 3, "it keeps trying"
    assert attempts[0].levelno == logging.WARNING
    assert "retrying in" in attempts[0].getMessage()
    assert re.search(r"hci97|D-Bus|bluetoothd", attempts[0].getMessage())
    assert all(r.levelno == logging.DEBUG for r in attempts[1:]), "said once, then quietly"


class Radio:
    """What the fake Bluetooth stack below does: fail to start, then hear adverts."""

    def __init__(self, *, failures: list[Exception] | None = None) -> None:
        self.failures = list(failures or [])
        self.on_air: list[tuple[BLEDevice, AdvertisementData]] = []
        self.chatter = False  # some other device advertising all the time
        self.started = 0
        self.stopped = 0
        self.adapters: list[str | None] = []

    def backend(self) -> type[BaseBleakScanner]:
        """A bleak scanner backend class (bleak's `backend=` hook) bound to this radio."""
        radio = self

        class FakeScanner(BaseBleakScanner):
            def __init__(
                self,
                detection_callback: AdvertisementDataCallback | None,
                service_uuids: list[str] | None,
                scanning_mode: str,
                *,
                bluez: dict[str, Any],
                **kwargs: Any,
            ) -> None:
                super().__init__(detection_callback, service_uuids)
                self._task: asyncio.Task[None] | None = None
                radio.adapters.append(bluez.get("adapter"))

            async def start(self) -> None:
                if radio.failures:
                    raise radio.failures.pop(0)
                radio.started += 1
                self._task = asyncio.create_task(self._air())

            async def stop(self) -> None:
                radio.stopped += 1
                if self._task is not None:
                    self._task.cancel()

            async def _air(self) -> None:
                for dev, adv in radio.on_air:
                    self.call_detection_callbacks(dev, adv)
                while radio.chatter:
                    await asyncio.sleep(0.01)
                    self.call_detection_callbacks(device(OTHER_ADDRESS), advert({APPLE: b"x"}))

        return FakeScanner


def test_a_scan_that_fails_to_start_is_retried_then_delivers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    off = BleakBluetoothNotAvailableError(
        "adapter off", BleakBluetoothNotAvailableReason.POWERED_OFF
    )
    radio = Radio(failures=[off, off])
    frame = reading(3)
    radio.on_air = [(device(), advert({0xFFFF: frame}))] * 3
    heard = Heard()
    ble = BleInput(heard, adapter="hci0", backoff=quick(), backend=radio.backend())
    with caplog.at_level(logging.INFO, logger="meteolink.gateway.ble_input"):
        asyncio.run(run_for(ble, 0.5))
    assert heard.frames == [frame]
    assert (radio.started, radio.stopped) == (1, 1), "stopped when cancelled"
    assert radio.adapters == ["hci0"] * 3
    messages = [r.getMessage() for r in caplog.records]
    assert any("rfkill unblock bluetooth" in m for m in messages)
    assert "ble:hci0: scanning again after 2 failed attempts" in messages


def test_a_scan_that_hears_nothing_is_restarted() -> None:
    radio = Radio()
    ble = BleInput(Heard(), idle_restart=0.05, backend=radio.backend())
    asyncio.run(run_for(ble, 0.5))
    assert radio.started >= 3
    assert radio.stopped == radio.started


def test_a_scan_that_hears_adverts_is_left_running() -> None:
    radio = Radio()
    radio.chatter = True
    ble = BleInput(Heard(), idle_restart=0.1, backend=radio.backend())
    asyncio.run(run_for(ble, 0.5))
    assert (radio.started, radio.stopped) == (1, 1)


# -- what the log tells the person at the Pi --------------------------------------


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (BleakDBusError("org.freedesktop.DBus.Error.AccessDenied", []), "bluetooth group"),
        (BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", []), "enable --now bluetooth"),
        (BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"]), "rfkill unblock"),
        (
            BleakBluetoothNotAvailableError("none", BleakBluetoothNotAvailableReason.NO_BLUETOOTH),
            "no Bluetooth adapter hci0",
        ),
        (BleakError("adapter 'hci0' not found"), "bluetoothctl list"),
        (FileNotFoundError(2, "No such file or directory"), "system D-Bus"),
        (BleakError("something new"), "journalctl -u bluetooth"),
    ],
)
def test_each_failure_comes_with_what_to_do(error: Exception, advice: str) -> None:
    assert advice in _advice(error, "hci0")
