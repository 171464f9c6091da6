"""Serial input: a USB CDC or UART port carrying framed records (docs/protocol.md §5).

A LoRa bridge board reaches the Pi this way, its records carrying RSSI and
SNR; a node wired by UART writes bare frames. The port is read from the
event loop without a thread. Whatever the line carries, the deframer keeps
memory bounded and resynchronises at the next zero byte. A port that goes
away (USB unplugged, the bridge rebooting) is reopened with backoff by the
same path, so /dev/serial/by-id/... names, which follow the board from
socket to socket, are the ones to configure.

Its section is [[serial]], one table per port; `--serial PORT` replaces
them. pyserial is imported only once a port is opened: config.load()
imports this module to read the section (gateway/parts.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import termios
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from meteolink.firmware import framing
from meteolink.firmware.frames import FrameError
from meteolink.gateway.backoff import Backoff
from meteolink.gateway.config import Config, ConfigError, Table
from meteolink.gateway.roles import Feed, Input, Receiver

if TYPE_CHECKING:
    import serial

log = logging.getLogger(__name__)

READ_SIZE = 4096
# deploy/gateway.toml's port names no board: "XX:XX:..." stands for the serial
# number that `ls -l /dev/serial/by-id/` shows.
PLACEHOLDER = "XX:XX"
FIND_PORTS = "ls -l /dev/serial/by-id/ lists the boards plugged in"


@dataclass(frozen=True)
class SerialPort:
    """One [[serial]] table."""

    port: str
    baud: int = 115200
    where: str = field(default="--serial", compare=False)  # for messages: the file and key


def parse(top: Table, section: str, override: list[str] | None) -> tuple[SerialPort, ...]:
    """The [[serial]] ports, each checked; the --serial ports instead when given."""
    ports = []
    for t in top.tables(section, "port"):
        port = t.get("port", str, None, "a device path")
        if not port:
            raise t.error("port", "missing (give a path such as /dev/serial/by-id/...)")
        baud = int(t.number("baud", 115200, low=300, high=4_000_000))
        t.finish()
        ports.append(SerialPort(port, baud, f"{t.source}: {t.where}port"))
    if override:
        for port in override:
            if not port.strip():
                raise ConfigError(
                    f"--serial {port!r}: no port given (give a path such as"
                    " /dev/serial/by-id/...; ls -l /dev/serial/by-id/ lists them)"
                )
        return tuple(SerialPort(port) for port in override)
    return tuple(ports)


def plan(ports: tuple[SerialPort, ...]) -> list[str]:
    """A line per port, for `meteolink gateway --check`."""
    return [f"reads {p.port} at {p.baud} baud" for p in ports]


def check(ports: tuple[SerialPort, ...]) -> list[str]:
    """What `meteolink gateway --check` finds wrong with the ports on this machine.

    The service itself waits for a port that is not there (a bridge may be
    plugged in later); a technician checking a configuration wants to know.
    """
    problems = []
    for p in ports:
        if PLACEHOLDER in p.port:
            problems.append(
                f"{p.where}: {p.port!r} is the example's placeholder (give your bridge board's"
                f" name instead: {FIND_PORTS})"
            )
        elif not os.path.exists(p.port):
            problems.append(
                f"{p.where}: {p.port}: no such device (plug the board in, or correct the name:"
                f" {FIND_PORTS})"
            )
    return problems


class PortGone(Exception):
    """The device went away under us."""


class SerialInput:
    """One serial port, opened, read and reopened for as long as the service runs."""

    def __init__(
        self,
        receive: Receiver,
        *,
        port: str,
        baud: int = 115200,
        on_noise: Callable[[str, FrameError], None] | None = None,
        room: Callable[[], Awaitable[None]] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        if not port:
            raise ValueError("serial input: give a port path such as /dev/ttyUSB0")
        self.port = port
        self.baud = baud
        self.name = f"serial:{port}"
        self._receive = receive
        self._on_noise = on_noise
        self._room = room  # awaited before each read: backpressure from the store
        self._backoff = backoff or Backoff(first=0.5, cap=30.0)
        self._fd: int | None = None
        self.opened = 0  # how many times the port was opened: 2 means it came back once

    async def run(self) -> None:
        import serial

        complained = False
        while True:
            try:
                device = serial.Serial(self.port, self.baud, timeout=0, exclusive=True)
            except (serial.SerialException, OSError, ValueError) as e:
                # Said once at warning level, then quietly: a bridge left
                # unplugged for a week must not fill the SD card with logs.
                (log.debug if complained else log.warning)(
                    "%s: cannot open (%s); retrying until it appears", self.name, _why(e)
                )
                complained = True
                await self._backoff.sleep()
                continue
            complained = False
            self.opened += 1
            log.info("%s: open at %d baud", self.name, self.baud)
            try:
                await self._read(device)
            except PortGone as e:
                log.warning("%s: port went away (%s); reopening when it returns", self.name, e)
            finally:
                self._fd = None
                with contextlib.suppress(OSError):
                    device.close()
            await self._backoff.sleep()

    async def _read(self, device: serial.Serial) -> None:
        loop = asyncio.get_running_loop()
        fd = device.fileno()
        # pyserial's timeout=0 sets VMIN=0, where a read of nothing is just
        # "no data"; with VMIN=1 and a non-blocking descriptor, "no data" is
        # EAGAIN and a read of nothing means the device hung up.
        attrs = termios.tcgetattr(fd)
        attrs[6][termios.VMIN] = 1
        attrs[6][termios.VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        os.set_blocking(fd, False)
        ready = asyncio.Event()
        deframer = framing.Deframer()
        loop.add_reader(fd, ready.set)
        self._fd = fd
        try:
            while True:
                await ready.wait()
                ready.clear()
                if self._room is not None:
                    await self._room()
                try:
                    data = os.read(fd, READ_SIZE)
                except BlockingIOError:
                    continue
                except OSError as e:
                    raise PortGone(_why(e)) from e
                if not data:
                    raise PortGone("end of file")
                self._backoff.reset()
                for item in deframer.feed(data):
                    if isinstance(item, FrameError):
                        if self._on_noise is not None:
                            self._on_noise(self.name, item)
                        continue
                    try:
                        frame, rssi, snr = framing.split_record(item)
                    except FrameError as e:
                        if self._on_noise is not None:
                            self._on_noise(self.name, e)
                        continue
                    self._receive(frame, source=self.name, rssi=rssi, snr=snr, reply=self.write)
        finally:
            loop.remove_reader(fd)

    def write(self, frame: bytes) -> None:
        """Send a frame (an acknowledgement) back down the port; lost if the port is gone."""
        fd = self._fd
        if fd is None:
            return
        try:
            os.write(fd, framing.cobs_encode(frame))
        except OSError as e:
            log.debug("%s: could not write an acknowledgement (%s)", self.name, _why(e))


def _why(e: BaseException) -> str:
    """Why a port cannot be opened or read, in the gateway's words, not pyserial's.

    pyserial says "could not open port X: [Errno 2] No such file or directory: 'X'",
    "Could not configure port: (25, 'Inappropriate ioctl for device')" or "Could not
    exclusively lock port X: [Errno 11] ...": a technician needs what to do.
    """
    text = str(e)
    number = e.errno if isinstance(e, OSError) else None
    if number == errno.EACCES:
        return "permission denied: add the service's user to the dialout group"
    if number in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return f"no such device: is the board plugged in? ({FIND_PORTS})"
    if "exclusively lock" in text or number == errno.EBUSY:
        return "another program has the port open (a terminal program, or a second gateway)"
    if "Could not configure port" in text:
        return "not a serial port (give the board's /dev/serial/by-id/ name)"
    if number == errno.EPERM:
        return (
            "operation not permitted: the service may open only ttyUSB*, ttyACM*, ttyAMA0"
            " and ttyS0 (DeviceAllow in its unit)"
        )
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return text


def create(config: Config, ports: tuple[SerialPort, ...], feed: Feed) -> list[Input]:
    """The inputs the configuration asks for: one per [[serial]] port."""
    return [
        SerialInput(feed.receive, port=p.port, baud=p.baud, on_noise=feed.noise, room=feed.room)
        for p in ports
    ]
