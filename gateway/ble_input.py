"""BLE advertisement input: frames in manufacturer-specific data, handed to the core.

A node broadcasts the same frame it would send over serial or LoRa as the
manufacturer-specific data (AD type 0xFF) of a BLE advertisement, under one
company identifier. This module listens for those advertisements with bleak
(BlueZ over D-Bus on the Pi) and passes each new frame's bytes to the
gateway's core, which checks and decodes it. docs/ble.md has the payload
budget and how to set up a Pi.

It moves bytes and nothing else: no decoding, no CRC check, no acks (a node
that advertises cannot receive). What it does decide:

- Which adverts are ours: only those carrying manufacturer data under the
  configured company id, of a length a frame can have. Every other device in
  range costs one dict lookup.
- What is an advertising repeat: a node repeats one advert many times a
  second, and BlueZ reports each one. The same bytes from the same device
  address, heard again within `repeat_window` seconds of the last hearing,
  are dropped here, so that the core's duplicate count means frames that
  really arrived twice, not radio repetition.
- When to start again: scanning that cannot start (no adapter, Bluetooth off,
  bluetoothd down, D-Bus refused) is retried with randomised, capped
  exponential backoff and logged with what to do. Scanning that delivers
  nothing at all for `idle_restart` seconds is restarted, because BlueZ
  silently stops reporting when bluetoothd restarts or the adapter resets.

Scanning is active (bleak's default). Nodes advertise non-connectable with
no scan response (ADV_NONCONN_IND), which is not scannable, so an active
scan's requests never go to them and cost them nothing. Passive scanning on
BlueZ needs the experimental advertisement-monitor API (bluetoothd
--experimental), and when the kernel refuses a monitor it can deliver
nothing without raising any error.

Its section is [ble]. bleak is imported only once scanning starts:
config.load() imports this module to read the section, and a gateway
without BLE must not need bleak (gateway/parts.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meteolink.firmware import frames
from meteolink.gateway.backoff import Backoff
from meteolink.gateway.config import Config, Table
from meteolink.gateway.lograte import VERBOSE_BURST, Throttle
from meteolink.gateway.roles import Feed, Input, Receiver

if TYPE_CHECKING:
    from bleak import BleakScanner
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

log = logging.getLogger(__name__)

DEFAULT_COMPANY_ID = 0xFFFF  # Bluetooth SIG: reserved for internal use and testing

# A legacy advertisement carries 31 bytes: the flags AD (length, type, value:
# 3 bytes), then the manufacturer AD's length and type (2) and the company id
# (2) leave this many for the frame. Longer frames need extended advertising.
LEGACY_FRAME_BUDGET = 31 - 3 - 2 - 2

_START_TIMEOUT = 30.0  # seconds for BlueZ to start a scan before it counts as a failure
_STOP_TIMEOUT = 5.0  # seconds to stop one; past that the adapter is presumed gone


@dataclass(frozen=True)
class Ble:
    """The [ble] table."""

    enabled: bool = False
    adapter: str | None = None
    company_id: int = DEFAULT_COMPANY_ID


def parse(top: Table, section: str, override: None) -> Ble:
    """The [ble] table; there is no command-line override."""
    t = top.table(section)
    ble = Ble(
        enabled=t.get("enabled", bool, False, "true or false"),
        adapter=t.get("adapter", str, None, "an adapter name such as hci0"),
        company_id=int(t.number("company_id", DEFAULT_COMPANY_ID, low=0, high=0xFFFF)),
    )
    t.finish()
    return ble


def plan(ble: Ble) -> list[str]:
    """One line when [ble] enabled = true, for `meteolink gateway --check`."""
    return [f"reads BLE adverts with company id 0x{ble.company_id:04X}"] if ble.enabled else []


class BleInput:
    """Listens for meteolink frames in BLE advertisements and passes them on.

    receive: the core's callback; it gets source=self.name, the advert's RSSI,
        and reply=None, since nothing can be sent back over advertising.
    company_id: the Bluetooth company identifier the nodes advertise under.
    adapter: the BlueZ adapter name (hci0, hci1, ...); None takes the first
        powered one.
    repeat_window: seconds after the last hearing within which the same bytes
        from the same address are an advertising repeat; 0 passes every one.
    max_devices: how many device addresses the repeat filter remembers; the
        one heard longest ago is forgotten first.
    idle_restart: seconds without any advertisement (from any device) after
        which the scan is restarted; None never restarts it.
    backoff: the retry delays when scanning cannot start; by default from
        1 s doubling to 60 s, randomised.
    backend: a bleak scanner backend class to use instead of the platform's
        (bleak's `backend` argument).
    clock: monotonic seconds, for the repeat window.
    """

    def __init__(
        self,
        receive: Receiver,
        *,
        company_id: int = DEFAULT_COMPANY_ID,
        adapter: str | None = None,
        repeat_window: float = 30.0,
        max_devices: int = 1024,
        idle_restart: float | None = 300.0,
        backoff: Backoff | None = None,
        backend: type[BaseBleakScanner] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(company_id, bool) or not isinstance(company_id, int):
            raise ValueError(f"company_id {company_id!r} is not an integer (give 0 to 0xFFFF)")
        if not 0 <= company_id <= 0xFFFF:
            raise ValueError(
                f"company_id {company_id} is not a 16-bit Bluetooth company identifier "
                "(give 0 to 0xFFFF; 0xFFFF is reserved for testing)"
            )
        if adapter is not None and (not adapter or "/" in adapter):
            raise ValueError(f"adapter {adapter!r}: give an adapter name such as hci0, or None")
        if not (math.isfinite(repeat_window) and repeat_window >= 0):
            raise ValueError(f"repeat_window {repeat_window!r}: give seconds, 0 or more")
        if max_devices < 1:
            raise ValueError(f"max_devices {max_devices!r}: give 1 or more")
        if idle_restart is not None and not (math.isfinite(idle_restart) and idle_restart > 0):
            raise ValueError(f"idle_restart {idle_restart!r}: give seconds above 0, or None")
        self.name = f"ble:{adapter}" if adapter else "ble"
        self._receive = receive
        self._company_id = company_id
        self._adapter = adapter
        self._repeat_window = repeat_window
        self._max_devices = max_devices
        self._idle_restart = idle_restart
        self._backoff = backoff or Backoff(first=1.0, cap=60.0)
        self._backend = backend
        self._clock = clock
        # -v: a line per advert of ours, at most VERBOSE_BURST a minute (anyone may advertise)
        self._say = Throttle(log, burst=VERBOSE_BURST, level=logging.DEBUG)
        # address -> (the last frame heard from it, when it was last heard)
        self._last: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._adverts = 0  # every advert from every device: the idle watchdog's pulse
        # What happened to the adverts carrying our company id, for health reports.
        self.delivered = 0
        self.repeats = 0
        self.wrong_length = 0

    def on_advertisement(self, device: BLEDevice, adv: AdvertisementData) -> None:
        """bleak's detection callback: pass on a new frame, drop everything else.

        Called from bleak's own machinery for every advert of every device in
        range, so it is cheap for adverts that are not ours and never raises.
        """
        self._adverts += 1
        try:
            data = adv.manufacturer_data.get(self._company_id)
            if data is None:
                return
            frame = bytes(data)
            address = device.address
            if not frames.MIN_FRAME <= len(frame) <= frames.MAX_FRAME:
                self.wrong_length += 1
                self._say.say(
                    "length",
                    self._clock(),
                    "%s: %s: %d bytes under company id 0x%04X cannot be a frame (%d to %d)",
                    self.name,
                    address,
                    len(frame),
                    self._company_id,
                    frames.MIN_FRAME,
                    frames.MAX_FRAME,
                )
                return
            now = self._clock()
            last = self._last.get(address)
            self._last[address] = (frame, now)
            self._last.move_to_end(address)
            if last is not None and last[0] == frame and now - last[1] < self._repeat_window:
                self.repeats += 1
                return
            if len(self._last) > self._max_devices:
                self._last.popitem(last=False)
            self.delivered += 1
            if log.isEnabledFor(logging.DEBUG):
                self._say.say(
                    "advert",
                    now,
                    "%s: %s: %s, RSSI %s dBm",
                    self.name,
                    address,
                    frame.hex(),
                    adv.rssi,
                )
            self._receive(frame, source=self.name, rssi=adv.rssi, snr=None, reply=None)
        except Exception:
            log.exception("%s: an advertisement could not be handled", self.name)

    async def run(self) -> None:
        """Scan until cancelled; never give up on a missing or failing adapter."""
        from bleak import BleakScanner

        failures = 0
        last_problem = ""
        quiet = 0  # idle restarts in a row: said once at info level, then quietly
        while True:
            try:
                scanner = await self._start(BleakScanner)
            except Exception as exc:  # bleak, D-Bus and OS errors all mean "not now"
                delay = self._backoff.delay()
                failures += 1
                problem = f"{_describe(exc)} ({_advice(exc, self._adapter)})"
                # The first failure of a kind is a warning with what to do; the
                # same one again every minute would only fill the journal.
                level = logging.WARNING if problem != last_problem else logging.DEBUG
                last_problem = problem
                log.log(
                    level,
                    "%s: cannot scan: %s; retrying in %.1f s",
                    self.name,
                    problem,
                    delay,
                    exc_info=not _expected(exc),
                )
                await asyncio.sleep(delay)
                continue
            if failures:
                log.info("%s: scanning again after %d failed attempts", self.name, failures)
            else:
                log.log(
                    logging.DEBUG if quiet else logging.INFO,
                    "%s: scanning for company id 0x%04X",
                    self.name,
                    self._company_id,
                )
            failures, last_problem = 0, ""
            self._backoff.reset()
            heard = self._adverts
            try:
                await self._watch()
            finally:
                await self._stop(scanner)
            quiet = 1 if self._adverts != heard else quiet + 1
            log.log(
                logging.INFO if quiet == 1 else logging.DEBUG,
                "%s: no advertisement from any device for %g s: restarting the scan",
                self.name,
                self._idle_restart,
            )

    async def _start(self, scanner_type: type[BleakScanner]) -> BleakScanner:
        scanner = scanner_type(
            self.on_advertisement,
            bluez={"adapter": self._adapter} if self._adapter else {},
            backend=self._backend,
        )
        async with asyncio.timeout(_START_TIMEOUT):
            await scanner.start()
        return scanner

    async def _watch(self) -> None:
        """Return once a whole idle_restart period passed without an advert."""
        idle = self._idle_restart
        if idle is None:
            await asyncio.get_running_loop().create_future()  # until cancelled
            return
        while True:
            heard = self._adverts
            await asyncio.sleep(idle)
            if self._adverts == heard:
                return

    async def _stop(self, scanner: BleakScanner) -> None:
        try:
            async with asyncio.timeout(_STOP_TIMEOUT):
                await scanner.stop()
        except Exception as exc:  # the adapter may be gone already
            log.debug("%s: stopping the scan failed: %s", self.name, _describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, TimeoutError) and not text:
        return "timed out starting the scan"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _expected(exc: BaseException) -> bool:
    """True for the failures of an absent or refused adapter: no traceback needed."""
    return isinstance(exc, OSError) or any(
        cls.__module__.startswith(("bleak", "dbus_fast")) for cls in type(exc).__mro__
    )


def _advice(exc: BaseException, adapter: str | None) -> str:
    """What the person at the Pi should check, from what bleak or D-Bus said."""
    # Read by attribute, not isinstance, so this needs no bleak import.
    dbus_error = getattr(exc, "dbus_error", None)
    reason = getattr(getattr(exc, "reason", None), "name", None)
    adapter_name = adapter or "(the first powered one)"
    if dbus_error == "org.freedesktop.DBus.Error.AccessDenied" or reason == "DENIED_BY_SYSTEM":
        return (
            "BlueZ refused the request over D-Bus: add the service's user to the bluetooth "
            "group (sudo usermod -aG bluetooth meteolink) and restart the service"
        )
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        return "no system D-Bus at /run/dbus/system_bus_socket: check `systemctl status dbus`"
    if isinstance(exc, PermissionError):
        return "the system D-Bus socket refused the connection: check the service's sandbox"
    if dbus_error in (
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
    ):
        return "bluetoothd is not running: sudo systemctl enable --now bluetooth"
    if reason == "POWERED_OFF" or dbus_error == "org.bluez.Error.NotReady":
        return "the adapter is off: sudo rfkill unblock bluetooth, then bluetoothctl power on"
    if reason in ("NO_BLUETOOTH", "NO_BLE_CENTRAL_ROLE") or "not found" in str(exc):
        return (
            f"no Bluetooth adapter {adapter_name}: check `bluetoothctl list`, "
            "`rfkill list` and `systemctl status bluetooth`"
        )
    return "check `systemctl status bluetooth` and `journalctl -u bluetooth`"


def create(config: Config, ble: Ble, feed: Feed) -> list[Input]:
    """The inputs the configuration asks for: one scanner when [ble] enabled = true."""
    if not ble.enabled:
        return []
    return [BleInput(feed.receive, company_id=ble.company_id, adapter=ble.adapter)]
