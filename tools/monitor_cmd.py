"""`meteolink monitor`: frames as they arrive on a serial port, or what the gateway publishes.

What a technician runs next to a station just mounted, or a bridge board just
plugged in: a line per frame the moment its last byte arrives (the port is
read for whatever it has, never for a buffer to fill), its values in their
units, RSSI and SNR when a LoRa bridge gives them, whether its MIC was checked,
and a frame heard again marked as a duplicate. Ctrl-C ends it with a count per
node. `--mqtt` watches the broker instead: a line per message the gateway
publishes under its prefix.

It is not `decode --follow`: decode reads a capture or hex frames for a script,
JSON out and exit status 1 when a frame failed; monitor watches a live port
(opened exclusively, waited for when it goes away), keeps tallies and speaks
to people first (`--json` for programs). docs/monitor.md is its manual.
"""

import argparse
import contextlib
import datetime
import errno
import json
import os
import select
import signal
import sys
import termios
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from meteolink.firmware import frames, framing
from meteolink.firmware.frames import Frame, FrameError
from meteolink.gateway import config as gwconfig
from meteolink.gateway import labels
from meteolink.gateway.config import Config, ConfigError
from meteolink.gateway.mqtt_upstream import Mqtt
from meteolink.tools.cli import Command, CommandError
from meteolink.tools.codec_cmd import frame_json

if TYPE_CHECKING:
    import serial

READ_SIZE = 4096
REMEMBERED = 1024  # counters remembered per node to tell a duplicate
RETRY = (0.1, 1.0)  # seconds between looks for a port that went away: first, at most

# What a frame's `status` bits say (docs/protocol.md, firmware/frames.py STATUS_*).
RESET_CAUSES = {
    frames.RESET_SLEEP: "",
    frames.RESET_POWER_ON: "power-on reset",
    frames.RESET_WATCHDOG: "watchdog reset",
    frames.RESET_BROWN_OUT: "brown-out reset",
    frames.RESET_SOFT: "soft reset",
    frames.RESET_PIN: "reset pin",
}

# Reasons a record fails, in plain words where the codec's own message needs them.
HINTS = {
    "crc": "damaged on the way: noise, a collision or a weak link",
    "overflow": "noise on the line",
    "cobs": "bad framing: noise, or a wrong --baud",
}


# -- the command line --------------------------------------------------------


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "port",
        nargs="?",
        metavar="PORT",
        help="the serial port of a LoRa bridge board or of a node on a cable, e.g. /dev/ttyUSB0",
    )
    p.add_argument("--baud", type=int, default=115200, help="the port's speed (default 115200)")
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the gateway's TOML configuration: node names and keys (to check MICs), the broker",
    )
    p.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="NODE=KEY",
        help="a node's key as 32 hex digits, to check its MICs; repeatable",
    )
    p.add_argument(
        "--key-file",
        action="append",
        default=[],
        metavar="NODE=FILE",
        help="a node's key from a file holding it; repeatable",
    )
    p.add_argument("--json", action="store_true", help="one JSON object a line, for programs")
    p.add_argument(
        "--mqtt",
        nargs="?",
        const="",
        metavar="URL",
        help="watch what the gateway publishes instead: mqtt[s]://[user:password@]host[:port]"
        " (without URL: the broker of --config)",
    )
    p.add_argument(
        "--prefix", help="with --mqtt: the topic prefix (default: the config's, or meteolink)"
    )


def run(args: argparse.Namespace) -> int:
    if args.mqtt is not None:
        if args.port:
            raise CommandError(
                f"give a serial PORT or --mqtt, not both (--mqtt took {args.port!r} as the port;"
                " write --mqtt URL to watch a broker)"
            )
        if args.key or args.key_file:
            raise CommandError(
                "--key and --key-file check frames on a port; with --mqtt the gateway has"
                " checked them already (leave the keys out)"
            )
        return watch_mqtt(args)
    if not args.port:
        raise CommandError(
            "give the serial port to watch, e.g. 'meteolink monitor /dev/ttyUSB0'"
            " (or --mqtt URL to watch what the gateway publishes)"
        )
    if args.prefix is not None:
        raise CommandError("--prefix is for --mqtt (a serial port has no topics)")
    if not 300 <= args.baud <= 4_000_000:
        raise CommandError(f"--baud {args.baud}: give a speed from 300 to 4000000 (usually 115200)")
    cfg = _load_config(args.config, None)
    keys = dict(_config_keys(cfg))
    keys.update(_command_line_keys(args.key, args.key_file))
    watch = Watch(keys, cfg)
    return watch_port(args.port, args.baud, watch, json_lines=args.json)


def _load_config(path: Path | None, mqtt_url: str | None) -> Config | None:
    """The gateway's configuration when --config was given, checked as the gateway checks it."""
    if path is None and not mqtt_url:
        return None
    try:
        return gwconfig.load(path, {"mqtt": mqtt_url} if mqtt_url else None)
    except ConfigError as e:
        raise CommandError(str(e)) from None


def _config_keys(cfg: Config | None) -> Iterator[tuple[int, bytes]]:
    if cfg is not None:
        for node, conf in cfg.nodes.items():
            if conf.key is not None:
                yield node, conf.key


def _node_id(text: str, option: str, example: str) -> int:
    try:
        node = int(text, 0)
    except ValueError:
        node = -1
    if not 1 <= node <= frames.MAX_NODE:
        raise CommandError(
            f"{option}: {text!r} is not a node id (give NODE as 1 to {frames.MAX_NODE},"
            f" e.g. {option} {example})"
        )
    return node


def _key_from_hex(text: str) -> bytes | None:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        return None
    return key if len(key) == frames.KEY_SIZE else None


def _command_line_keys(keys: list[str], key_files: list[str]) -> Iterator[tuple[int, bytes]]:
    """--key NODE=HEX and --key-file NODE=FILE; the messages never repeat a key."""
    digits = 2 * frames.KEY_SIZE
    for item in keys:
        node_text, sep, hex_text = item.partition("=")
        if not sep:
            raise CommandError(
                f"--key: give NODE=KEY, the node's id and its key as {digits} hex digits"
            )
        node = _node_id(node_text, "--key", f"7=<{digits} hex digits>")
        key = _key_from_hex(hex_text)
        if key is None:
            raise CommandError(
                f"--key {node}=...: a node key is {digits} hexadecimal digits"
                " (copy it from the provisioning, or give --key-file)"
            )
        yield node, key
    for item in key_files:
        node_text, sep, path = item.partition("=")
        if not sep or not path:
            raise CommandError("--key-file: give NODE=FILE, e.g. --key-file 7=node-7.key")
        node = _node_id(node_text, "--key-file", "7=node-7.key")
        yield node, _read_key_file(node, Path(path))


def _read_key_file(node: int, path: Path) -> bytes:
    """A key file: the key as 32 hex digits (a line of text), or its 16 bytes as they are."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CommandError(f"--key-file {node}={path}: no such file") from None
    except PermissionError:
        raise CommandError(
            f"--key-file {node}={path}: permission denied (key files are readable by the"
            " gateway's group only: run as a member of it, e.g. with sudo -u meteolink)"
        ) from None
    except OSError as e:
        raise CommandError(f"--key-file {node}={path}: cannot read it ({e.strerror})") from None
    try:
        key = _key_from_hex(data.decode("ascii"))
    except UnicodeDecodeError:
        key = None
    if key is None and len(data) == frames.KEY_SIZE:
        key = data
    if key is None:
        raise CommandError(
            f"--key-file {node}={path}: not a node key (the file should hold"
            f" {2 * frames.KEY_SIZE} hexadecimal digits)"
        )
    return key


# -- frames: judged, counted, told -------------------------------------------


@dataclass
class Tally:
    good: int = 0  # valid frames, each heard for the first time
    bad: int = 0  # frames whose CRC held but whose MIC did not
    duplicates: int = 0  # valid frames heard again (same node and counter)


@dataclass
class Heard:
    """One record off the line, judged."""

    at: float  # time.time() when its last byte was read
    frame: Frame | None = None
    error: FrameError | None = None
    data: bytes = b""  # the frame's bytes (the radio metadata taken off)
    rssi: int | None = None
    snr: float | None = None
    node: int | None = None  # the frame's node: verified by its CRC, or only claimed
    seq: int | None = None
    verified: bool = False  # node and seq passed the CRC
    mic: str = "none"  # "ok", "not checked", or "none" (the frame has no MIC)
    duplicate_of: float | None = None  # when this node and counter were first heard
    name: str | None = None  # from the config
    listed: bool | None = None  # in the config's [nodes]; None without a config
    turned_away: bool = False  # not listed, and the config's gateway stores only listed nodes


class Watch:
    """Judges each record as the gateway would, up to its MIC, and keeps the tallies.

    A bad record counts against a node only when its CRC held (a wrong or missing
    MIC): with a failed CRC, a cut frame or noise, its node id could be anything,
    so it counts as `unreadable`.
    """

    def __init__(self, keys: Mapping[int, bytes], config: Config | None = None) -> None:
        self.keys = {node: frames.Key(key) for node, key in keys.items()}
        self.config = config
        self.tallies: dict[int, Tally] = {}
        self.unreadable = 0
        self.started = time.time()
        # node -> {seq: (when first heard, whether it was a boot frame)}
        self._seen: dict[int, dict[int, tuple[float, bool]]] = {}

    def judge(self, item: bytes | FrameError, at: float) -> Heard:
        if isinstance(item, FrameError):
            self.unreadable += 1
            return Heard(at, error=item)
        try:
            data, rssi, snr = framing.split_record(item)
        except FrameError as e:
            self.unreadable += 1
            return Heard(at, error=e, data=item)
        heard = Heard(at, data=data, rssi=rssi, snr=snr)
        with contextlib.suppress(FrameError):
            _, _, heard.node, heard.seq = frames.header(data)
        node = heard.node
        key = self.keys.get(node) if node is not None else None
        try:
            frame = frames.decode(data, key)
        except FrameError as e:
            heard.error = e
            heard.verified = e.reason in ("mic", "no_mic")  # decode checks the CRC before
            if heard.verified and node is not None:
                self._tally(node).bad += 1
            else:
                self.unreadable += 1
            self._describe(heard)
            return heard
        heard.frame = frame
        heard.verified = True
        if frame.flags & frames.FLAG_MIC:
            heard.mic = "ok" if frame.mic else "not checked"
        self._describe(heard)
        tally = self._tally(frame.node)
        if frame.flags & frames.FLAG_ACK:
            tally.good += 1  # the gateway's, not a reading: no counter of the node's
            return heard
        seen = self._seen.setdefault(frame.node, {})
        first = seen.get(frame.seq)
        boot = bool(frame.flags & frames.FLAG_BOOT)
        if first is not None and boot and not first[1]:
            # Not the boot frame heard again, but a node whose counter started afresh
            # (reflashed, or it lost the counter): what it sent before is another run.
            seen.clear()
            first = None
        if first is not None:
            heard.duplicate_of = first[0]
            tally.duplicates += 1
        else:
            tally.good += 1
            seen[frame.seq] = (at, boot)
            if len(seen) > REMEMBERED:
                del seen[next(iter(seen))]  # the counter heard longest ago
        return heard

    def _tally(self, node: int) -> Tally:
        tally = self.tallies.get(node)
        if tally is None:
            tally = self.tallies[node] = Tally()
        return tally

    def _describe(self, heard: Heard) -> None:
        if self.config is None or heard.node is None or not heard.verified:
            return
        conf = self.config.node(heard.node)
        heard.name = conf.name if conf is not None else None
        heard.listed = conf is not None
        heard.turned_away = conf is None and self.config.unknown_nodes == "reject"

    def name(self, node: int) -> str | None:
        conf = self.config.node(node) if self.config is not None else None
        return conf.name if conf is not None else None


def clock(t: float) -> str:
    """Local time of day to the millisecond: 14:03:07.123."""
    ms = int(t * 1000) % 1000
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{ms:03d}"


def iso(t: float) -> str:
    """UTC, to the millisecond: 2026-11-25T11:07:48.123Z."""
    dt = datetime.datetime.fromtimestamp(t, datetime.UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def number(value: float | int) -> str:
    """A value as short as it is exact: 21.53, 88, -3.25."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def status_text(bits: int) -> str:
    """The `status` field in words: "watchdog reset, low battery"."""
    words = [RESET_CAUSES.get(bits & frames.STATUS_RESET_MASK, "")]
    if bits & frames.STATUS_LOW_BATTERY:
        words.append("low battery")
    if bits & frames.STATUS_SENSOR_FAULT:
        words.append("sensor fault")
    rest = bits & ~(
        frames.STATUS_RESET_MASK | frames.STATUS_LOW_BATTERY | frames.STATUS_SENSOR_FAULT
    )
    if rest:
        words.append(f"reserved bits 0x{rest:04x}")
    return ", ".join(w for w in words if w) or "normal"


def value_text(name: str, value: float | int) -> str:
    """One field with its unit: "temperature 21.53 °C", "status: low battery"."""
    if name == "status":
        return f"status: {status_text(int(value))}"
    return f"{name} {number(value)} {labels.unit(name)}".rstrip()


def node_text(node: int, name: str | None) -> str:
    return f"node {node} ({name})" if name else f"node {node}"


def link_text(rssi: float | None, snr: float | None) -> str:
    parts = []
    if rssi is not None:
        parts.append(f"RSSI {number(rssi)} dBm")
    if snr is not None:
        parts.append(f"SNR {number(snr)} dB")
    return ", ".join(parts)


def frame_line(heard: Heard) -> str:
    """A record as a person reads it: time, node, seq, values with units, link, flags."""
    parts = [clock(heard.at)]
    frame, error = heard.frame, heard.error
    if error is not None:
        if heard.verified and heard.node is not None:
            parts += [node_text(heard.node, heard.name), f"seq {heard.seq}"]
            parts.append(f"BAD FRAME ({error.reason}): {error}")
        else:
            hint = HINTS.get(error.reason)
            said = f"BAD FRAME ({error.reason}): {error}" + (f" ({hint})" if hint else "")
            parts.append(said)
            if heard.data:
                claim = f"{len(heard.data)} bytes"
                if heard.node is not None:
                    claim += f", says node {heard.node}"
                parts.append(f"[{claim}]")
        link = link_text(heard.rssi, heard.snr)
        if link:
            parts.append(link)
        return "  ".join(parts)
    assert frame is not None
    parts += [node_text(frame.node, heard.name), f"seq {frame.seq}"]
    if heard.duplicate_of is not None:
        parts.append(f"DUPLICATE of {clock(heard.duplicate_of)}")
    if frame.flags & frames.FLAG_ACK:
        parts.append("acknowledgement (the gateway's)")
    values = [
        value_text(frames.field_name(fid), frames.to_value(fid, raw)) for fid, raw in frame.fields
    ]
    if values:
        parts.append(", ".join(values))
    link = link_text(heard.rssi, heard.snr)
    if link:
        parts.append(link)
    flags = {"ok": ["MIC ok"], "not checked": ["MIC not checked"], "none": []}[heard.mic]
    if frame.flags & frames.FLAG_BOOT:
        flags.append("boot")
    if frame.flags & frames.FLAG_ACK_REQUEST:
        flags.append("asks for an ack")
    if heard.turned_away:
        flags.append("not in [nodes]: the gateway turns it away")
    if flags:
        parts.append(", ".join(flags))
    return "  ".join(parts)


def frame_object(heard: Heard) -> dict[str, Any]:
    """A record as JSON: `meteolink decode`'s object, with the time and what monitor adds."""
    out: dict[str, Any] = {"time": iso(heard.at)}
    if heard.error is not None:
        out.update(error=str(heard.error), reason=heard.error.reason)
        if heard.node is not None:
            out["node"] = heard.node
            out["seq"] = heard.seq
            out["verified"] = heard.verified  # False: the node id is only what the bytes say
        if heard.rssi is not None:
            out.update(rssi=heard.rssi, snr=heard.snr)
        if heard.data:
            out["frame"] = heard.data.hex()
    else:
        assert heard.frame is not None
        out.update(frame_json(heard.frame, heard.rssi, heard.snr))
        out["duplicate"] = heard.duplicate_of is not None
    if heard.name is not None:
        out["name"] = heard.name
    if heard.listed is not None:
        out["listed"] = heard.listed
    return out


def duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def summary_lines(watch: Watch, where: str) -> list[str]:
    """The counts per node, as Ctrl-C prints them."""
    took = duration(time.time() - watch.started)
    if not watch.tallies and not watch.unreadable:
        return [
            f"no frames heard on {where} in {took} (is the board sending? a node sends once"
            " per interval; a wrong --baud gives bad frames, not silence)"
        ]
    rows = [
        (node_text(n, watch.name(n)), str(t.good), str(t.bad), str(t.duplicates))
        for n, t in sorted(watch.tallies.items())
    ]
    if watch.unreadable:
        rows.append(("unreadable", "-", str(watch.unreadable), "-"))
    head = ("node", "good", "bad", "duplicates")
    width = max(len(r[0]) for r in [head, *rows])
    lines = [f"{where}, {took}:"]
    for r in [head, *rows]:
        lines.append(f"  {r[0]:<{width}}  {r[1]:>5}  {r[2]:>5}  {r[3]:>10}")
    if watch.unreadable:
        lines.append(
            "  unreadable: records too damaged to tell their node (bad CRC, cut short, noise)"
        )
    return lines


def summary_object(watch: Watch) -> dict[str, Any]:
    return {
        "summary": {
            "seconds": round(time.time() - watch.started, 3),
            "nodes": {
                str(n): {"good": t.good, "bad": t.bad, "duplicates": t.duplicates}
                for n, t in sorted(watch.tallies.items())
            },
            "unreadable": watch.unreadable,
        }
    }


# -- the serial port ---------------------------------------------------------


def say(text: str) -> None:
    """A notice about the watching itself (port opened, gone, back): stderr, so that
    stdout holds only frames and the counts."""
    print(f"{clock(time.time())}  {text}", file=sys.stderr, flush=True)


class PortError(Exception):
    """The port cannot be opened; the message says why in plain words."""

    def __init__(self, message: str, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing  # it is not there (yet, or any more)


def open_port(port: str, baud: int) -> "serial.Serial":
    """The port, opened exclusively (a gateway reading it would lose half its bytes to us)."""
    import serial

    try:
        device = serial.Serial(port, baud, timeout=0, exclusive=True)
    except OSError as e:  # serial.SerialException is one, with the errno when there is one
        raise _why(port, e) from None
    return device


def _why(port: str, e: OSError) -> PortError:
    code = e.errno
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return PortError(
            f"{port}: no such port (is the board plugged in? ls /dev/serial/by-id/ lists"
            " the boards; a USB cable for charging only carries no data)",
            missing=True,
        )
    if code == errno.EACCES:
        return PortError(
            f"{port}: permission denied (add yourself to the dialout group:"
            " sudo usermod -aG dialout $USER, then log out and in)"
        )
    if code in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY):
        return PortError(
            f"{port}: another program has the port open (the gateway service? stop it"
            " with 'sudo systemctl stop meteolink-gateway', or watch what it publishes"
            " with 'meteolink monitor --mqtt')"
        )
    if code == errno.ENOTTY or "configure port" in str(e):
        return PortError(
            f"{port}: not a serial port (for a capture file use 'meteolink decode --serial {port}')"
        )
    return PortError(f"{port}: cannot open it ({e.strerror or e})")


class PortGone(Exception):
    """The device went away under us: unplugged, or the board rebooted."""


def _records(device: "serial.Serial") -> Iterator[tuple[bytes | FrameError, float]]:
    """Every record as soon as its closing zero byte is read, with the time it was."""
    fd = device.fileno()
    # As the gateway does (gateway/serial_input.py): with VMIN=1 and a non-blocking
    # descriptor, "nothing yet" is EAGAIN and a read of nothing is a hang-up.
    attrs = termios.tcgetattr(fd)
    attrs[6][termios.VMIN] = 1
    attrs[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    os.set_blocking(fd, False)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    deframer = framing.Deframer()
    while True:
        poller.poll()
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            continue
        except OSError as e:
            raise PortGone(e.strerror or str(e)) from None
        if not data:
            raise PortGone("hung up")
        at = time.time()
        for item in deframer.feed(data):
            yield item, at


def watch_port(port: str, baud: int, watch: Watch, *, json_lines: bool) -> int:
    """Print each record as it arrives until Ctrl-C (or SIGTERM); then the counts, status 0."""

    def show(heard: Heard) -> None:
        if json_lines:
            print(json.dumps(frame_object(heard), ensure_ascii=False), flush=True)
        else:
            print(frame_line(heard), flush=True)

    try:
        device = open_port(port, baud)
    except PortError as e:
        raise CommandError(str(e)) from None
    with _interrupted_by_sigterm():
        try:
            say(f"listening on {port} at {baud} baud; Ctrl-C stops and counts")
            while True:
                try:
                    for item, at in _records(device):
                        show(watch.judge(item, at))
                except PortGone as e:
                    with contextlib.suppress(OSError):
                        device.close()
                    say(f"{port} went away ({e}); waiting for it to come back (Ctrl-C stops)")
                    device = _reopen(port, baud)
                    say(f"{port} is back; listening")
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: let the counts out
            with contextlib.suppress(OSError):
                device.close()
            if json_lines:
                print(json.dumps(summary_object(watch)), flush=True)
            else:
                print("\n".join(summary_lines(watch, port)), flush=True)
            return 0


def _reopen(port: str, baud: int) -> "serial.Serial":
    """Look for the port until it is back; a reason it cannot be opened is said once."""
    pause = RETRY[0]
    said = ""
    while True:
        time.sleep(pause)
        pause = min(pause * 2, RETRY[1])
        try:
            return open_port(port, baud)
        except PortError as e:
            if not e.missing and str(e) != said:
                said = str(e)
                say(f"{said}; still trying")


@contextlib.contextmanager
def _interrupted_by_sigterm() -> Iterator[None]:
    """SIGTERM (kill, a service manager) ends the watch as Ctrl-C does: counts, status 0."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- the broker ----------------------------------------------------------------


@dataclass
class Readings:
    readings: int = 0
    repeated: int = 0  # the same reading id again: sent again after a reconnect


@dataclass
class BrokerWatch:
    """What --mqtt has seen: readings per node, a reading sent twice told apart."""

    prefix: str
    config: Config | None = None
    nodes: dict[int, Readings] = field(default_factory=dict)
    messages: int = 0
    started: float = field(default_factory=time.time)
    _ids: dict[str, None] = field(default_factory=dict)

    def name(self, node: int, said: object = None) -> str | None:
        if isinstance(said, str) and said:
            return said
        conf = self.config.node(node) if self.config is not None else None
        return conf.name if conf is not None else None

    def message(
        self, topic: str, payload: bytes, retained: bool, at: float
    ) -> tuple[str, dict[str, Any]]:
        """(the readable line, the JSON object) of one message."""
        self.messages += 1
        text = payload.decode("utf-8", errors="replace")
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        obj: dict[str, Any] = {
            "time": iso(at),
            "topic": topic,
            "retained": retained,
            "payload": body,
        }
        head = clock(at)
        rest = topic[len(self.prefix) + 1 :] if topic.startswith(self.prefix + "/") else None
        parts = rest.split("/") if rest is not None else []
        line = None
        if len(parts) == 2 and parts[0].isdigit():
            node = int(parts[0])
            if parts[1] == "state" and isinstance(body, dict):
                line = self._state(node, body, obj)
            elif parts[1] == "availability":
                line = f"{node_text(node, self.name(node))}  {text}"
            elif parts[1] == "stats" and isinstance(body, dict):
                line = f"{node_text(node, self.name(node))}  stats: {node_stats_text(body)}"
        elif len(parts) == 3 and parts[0] == "gateway":
            if parts[2] == "status":
                line = f"gateway {parts[1]}  {text}"
            elif parts[2] == "stats" and isinstance(body, dict):
                line = f"gateway {parts[1]}  stats: {gateway_stats_text(body)}"
        if line is None:
            shown = text if len(text) <= 200 else text[:200] + "..."
            line = f"{topic}  {shown}"
        if retained:
            line += "  (retained: said before this monitor started)"
        return f"{head}  {line}", obj

    def _state(self, node: int, msg: dict[str, Any], obj: dict[str, Any]) -> str:
        readings = self.nodes.get(node)
        if readings is None:
            readings = self.nodes[node] = Readings()
        reading = str(msg.get("id", ""))
        repeated = reading in self._ids
        if repeated:
            readings.repeated += 1
        else:
            readings.readings += 1
            self._ids[reading] = None
            if len(self._ids) > REMEMBERED * 16:
                del self._ids[next(iter(self._ids))]
        obj["repeated"] = repeated
        parts = [node_text(node, self.name(node, msg.get("name"))), f"seq {msg.get('seq')}"]
        if repeated:
            parts.append("SENT AGAIN (the gateway repeats what the broker had not confirmed)")
        skip = {"id", "node", "seq", "time", "gateway", "name", "location", "rssi", "snr"}
        values = [
            value_text(k, v)
            for k, v in msg.items()
            if k not in skip and k != "implausible" and isinstance(v, int | float)
        ]
        if values:
            parts.append(", ".join(values))
        bad = msg.get("implausible")
        if isinstance(bad, dict) and bad:
            shown = ", ".join(
                value_text(k, v) for k, v in bad.items() if isinstance(v, int | float)
            )
            parts.append(f"IMPLAUSIBLE: {shown}")
        rssi, snr = msg.get("rssi"), msg.get("snr")
        link = link_text(
            rssi if isinstance(rssi, int | float) else None,
            snr if isinstance(snr, int | float) else None,
        )
        if link:
            parts.append(link)
        taken = msg.get("time")
        if isinstance(taken, str):
            parts.append(f"taken {_local(taken)}")
        if msg.get("gateway"):
            parts.append(f"via {msg['gateway']}")
        return "  ".join(parts)


def _local(stamp: str) -> str:
    """A message's UTC time as local time of day (with the date when it is not today)."""
    try:
        dt = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return stamp
    if dt.date() == datetime.date.today():
        return dt.strftime("%H:%M:%S")
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def node_stats_text(stats: Mapping[str, Any]) -> str:
    """<prefix>/<node>/stats in words (docs/gateway.md section 6)."""
    words = []
    for key, label in (
        ("received", "received"),
        ("lost", "lost"),
        ("duplicates", "duplicates"),
        ("rejected", "rejected"),
        ("mic_failures", "MIC failures"),
    ):
        if key in stats:
            words.append(f"{stats[key]} {label}")
    link = link_text(stats.get("rssi"), stats.get("snr"))
    if link:
        words.append(f"last {link}")
    if stats.get("battery") is not None:
        words.append(f"battery {number(stats['battery'])} V")
    online = stats.get("online")
    words.append("online" if online is True else "offline" if online is False else "not judged yet")
    known = {"node", "last_seen", "received", "lost", "duplicates", "rejected", "mic_failures"}
    known |= {"rssi", "snr", "battery", "online"}
    words += [f"{k} {v}" for k, v in stats.items() if k not in known]
    return ", ".join(words)


def gateway_stats_text(stats: Mapping[str, Any]) -> str:
    """<prefix>/gateway/<name>/stats in words."""
    words = []
    inputs = stats.get("inputs")
    if isinstance(inputs, dict):
        for name, tallies in inputs.items():
            if isinstance(tallies, dict):
                said = ", ".join(f"{v} {_words(k)}" for k, v in tallies.items())
                words.append(f"{name}: {said}")
    if "published" in stats:
        words.append(f"{stats['published']} published")
    unlisted = stats.get("unlisted")
    if isinstance(unlisted, list) and unlisted:
        ids = ", ".join(str(u.get("node")) for u in unlisted[:10] if isinstance(u, dict))
        more = f" and {len(unlisted) - 10} more" if len(unlisted) > 10 else ""
        words.append(f"heard but not in [nodes]: {ids}{more}")
    return "; ".join(words)


def _words(key: str) -> str:
    return key.replace("crc", "CRC").replace("_", " ")


def broker_summary_lines(watch: BrokerWatch, where: str) -> list[str]:
    took = duration(time.time() - watch.started)
    if not watch.nodes:
        return [f"{where}, {took}: {watch.messages} messages, no readings"]
    rows = [
        (node_text(n, watch.name(n)), str(r.readings), str(r.repeated))
        for n, r in sorted(watch.nodes.items())
    ]
    head = ("node", "readings", "sent again")
    width = max(len(r[0]) for r in [head, *rows])
    lines = [f"{where}, {took}: {watch.messages} messages"]
    for r in [head, *rows]:
        lines.append(f"  {r[0]:<{width}}  {r[1]:>8}  {r[2]:>10}")
    return lines


def broker_summary_object(watch: BrokerWatch) -> dict[str, Any]:
    return {
        "summary": {
            "seconds": round(time.time() - watch.started, 3),
            "messages": watch.messages,
            "nodes": {
                str(n): {"readings": r.readings, "repeated": r.repeated}
                for n, r in sorted(watch.nodes.items())
            },
        }
    }


def _broker(args: argparse.Namespace) -> tuple[Mqtt, Config | None]:
    """The broker to watch: --mqtt URL, else the config's [mqtt]; checked as the gateway does."""
    cfg = _load_config(args.config, args.mqtt or None)
    mqtt = cfg.parts.get("mqtt") if cfg is not None else None
    if not isinstance(mqtt, Mqtt):
        if args.config is None:
            raise CommandError(
                "--mqtt: give the broker's URL, e.g. --mqtt mqtt://localhost (or --config"
                " FILE to use the gateway's [mqtt])"
            )
        raise CommandError(
            f"--mqtt: {args.config} names no broker (give --mqtt URL, or an [mqtt] url there)"
        )
    return mqtt, cfg if args.config is not None else None


def watch_mqtt(args: argparse.Namespace) -> int:
    """Print each message under the prefix as it arrives until Ctrl-C; then the counts."""
    import ssl

    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    mqtt, cfg = _broker(args)
    prefix = mqtt.prefix if args.prefix is None else args.prefix.rstrip("/")
    if not prefix or any(c in prefix for c in "+#\0") or prefix.startswith("/"):
        raise CommandError(
            f"--prefix {prefix!r}: give a topic prefix without '+', '#' or a leading '/'"
        )
    watch = BrokerWatch(prefix, cfg)
    where = f"{mqtt.label} ({prefix}/#)"
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"meteolink-monitor-{os.getpid()}",
        clean_session=True,
    )
    if mqtt.username:
        client.username_pw_set(mqtt.username, mqtt.password)
    if mqtt.tls:
        client.tls_set_context(
            ssl.create_default_context(cafile=str(mqtt.ca_file) if mqtt.ca_file else None)
        )
    client.reconnect_delay_set(1, 30)
    state = {"connected": False}

    def on_connect(
        client: paho.Client, userdata: object, flags: object, reason: Any, props: object
    ) -> None:
        if reason.is_failure:
            raise CommandError(
                f"{mqtt.label} refused the connection: {reason} {_refusal_hint(reason)}"
            )
        client.subscribe(f"{prefix}/#", qos=1)

    def on_subscribe(
        client: paho.Client, userdata: object, mid: int, reasons: list[Any], props: object
    ) -> None:
        # Said once the broker has the subscription: from here on, nothing is missed.
        if any(reason.is_failure for reason in reasons):
            raise CommandError(
                f"{mqtt.label} refused the subscription to {prefix}/# (the broker's access"
                " rules do not let this user read it: check its acl_file)"
            )
        again = state["connected"]
        say(
            f"connected again to {where}" if again else f"watching {where}; Ctrl-C stops and counts"
        )
        state["connected"] = True

    def on_disconnect(
        client: paho.Client, userdata: object, flags: object, reason: Any, props: object
    ) -> None:
        say(f"lost {mqtt.label} ({reason}); reconnecting")

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        line, obj = watch.message(msg.topic, bytes(msg.payload), bool(msg.retain), time.time())
        print(json.dumps(obj, ensure_ascii=False) if args.json else line, flush=True)

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    with _interrupted_by_sigterm():
        try:
            try:
                client.connect(mqtt.host, mqtt.port, keepalive=30)
            except (OSError, ValueError) as e:
                why = getattr(e, "strerror", None) or str(e)
                hint = "is it running, and is the URL right?"
                if "CERTIFICATE_VERIFY_FAILED" in why:
                    hint = "give the CA that signed the broker's certificate as [mqtt] ca_file"
                    hint += " in --config"
                raise CommandError(
                    f"cannot reach the broker at {mqtt.label} ({why}): {hint}"
                ) from None
            client.loop_forever(retry_first_connection=False)
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            client.on_disconnect = None  # leaving: no "lost" notice
            with contextlib.suppress(Exception):
                client.disconnect()
            if args.json:
                print(json.dumps(broker_summary_object(watch)), flush=True)
            else:
                print("\n".join(broker_summary_lines(watch, where)), flush=True)
            return 0
    return 1


def _refusal_hint(reason: Any) -> str:
    code = getattr(reason, "value", reason)
    if code in (4, 5, 134, 135):
        return "(check the user name and password: in the URL, or [mqtt] of --config)"
    return "(check the broker's log)"


COMMANDS = [
    Command(
        "monitor",
        "watch frames arrive on a serial port, live; or what the gateway publishes (--mqtt)",
        _arguments,
        run,
    )
]
