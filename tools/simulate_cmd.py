"""`meteolink simulate`: simulated stations with plausible weather, to a port, a file or the air.

Any number of stations measure the weather of a place and season
(tools/weather.py), encode their readings with the real codec
(firmware/frames.py) and send them as the gateway reads them: COBS records on
a serial line (firmware/framing.py), as radio records with RSSI and SNR when
it plays a LoRa bridge, or as LoRa packets on the sim ether, where a bridge
firmware process hears them. Faults are injected on request, each counted,
so that what a gateway reports can be checked against what was sent.

Fault model (docs/simulate.md): a percentage of readings gets each fault.
- noise: a burst of 5-40 bytes on the line after the reading (one malformed record);
- flip: one bit of the frame flipped after its CRC was made (one CRC error; the reading is lost);
- cut: a copy cut short before the whole frame (one malformed record; the reading gets through);
- duplicate: the frame heard twice (one duplicate);
- replay: an old frame of the node, 300 counters back, sent again (one rejected);
- forge: a frame with the node's id and a MIC made with another key (one MIC failure);
- reboot: the reading is the first after a cold boot (boot flag; an unkeyed node's counter
  starts again at 0, a keyed one's jumps ahead 200, as the firmware's may): accepted;
- silent NODE:N: the node sends N readings, then nothing.
"""

import argparse
import contextlib
import datetime
import json
import math
import os
import random
import select
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from meteolink.firmware import frames, framing
from meteolink.tools import weather
from meteolink.tools.cli import Command, CommandError

REPLAY_BACK = 300  # counters behind the highest heard: below the gateway's window of 256
REBOOT_JUMP = 200  # a counter's jump at a cold boot (firmware/counter.py: at most its 256)
FIRST_SEQ = (1000, 60000)  # a node that has been running a while
FAULTS = ("noise", "flip", "cut", "duplicate", "replay", "forge", "reboot")
# What the gateway counts for each fault (gateway/accept.py's outcomes).
COUNTS = (
    "accepted",
    "duplicates",
    "rejected",
    "mic_failures",
    "crc_errors",
    "malformed",
)


@dataclass
class SimNode:
    node: int
    station: weather.Station
    key: bytes | None = None
    name: str | None = None
    radio: bool = False  # its frames reach the line as a bridge's radio records
    seq: int = 0
    heard: int | None = None  # the highest counter the gateway has had intact
    sent: int = 0  # readings made
    silent_after: int | None = None
    rssi: float = -90.0  # its link's mean received power at the bridge


@dataclass(frozen=True)
class Packet:
    """One thing on the line or in the air: a frame (kind "frame"), noise or a cut frame."""

    node: int
    kind: str  # frame, noise, cut
    payload: bytes  # the frame (or noise) as the radio carries it
    rssi: int | None = None  # set when it reaches the line as a radio record
    snr: float | None = None

    def line_bytes(self) -> bytes:
        """The bytes on a serial line: 0x00, COBS(record), 0x00 (noise: raw, after a zero)."""
        if self.kind == "noise":
            return b"\x00" + self.payload
        record = self.payload
        if self.rssi is not None and self.snr is not None:
            record = framing.radio_record(record, self.rssi, self.snr)
        wire = framing.cobs_encode(record)
        if self.kind == "cut":
            return wire[: max(2, len(wire) // 2)]
        return wire


@dataclass
class Simulation:
    """The stations, their weather and the faults: round() makes the next round's packets."""

    nodes: list[SimNode]
    weather: weather.Weather
    rng: random.Random
    step_minutes: float = 10.0
    drain: float = 1.0  # battery percent a day
    rates: dict[str, float] = field(default_factory=dict)  # fault -> percent of readings
    # fault -> indices of readings (0, 1, ... over all nodes) that get it: instead of rates
    schedule: dict[str, set[int]] | None = None
    injected: Counter[str] = field(default_factory=Counter)
    expect: Counter[str] = field(default_factory=Counter)
    rounds: int = 0
    readings: int = 0
    on_reading: Callable[[SimNode, dict[str, float]], None] | None = None

    def _fault(self, kind: str) -> bool:
        if self.schedule is not None:
            return self.readings in self.schedule.get(kind, ())
        rate = self.rates.get(kind, 0.0)
        return rate > 0 and self.rng.random() * 100 < rate

    def hours(self) -> float:
        return self.rounds * self.step_minutes / 60

    def round(self) -> list[Packet]:
        out: list[Packet] = []
        w = self.weather.at(self.hours())
        for n in self.nodes:
            if n.silent_after is not None and n.sent >= n.silent_after:
                continue
            out += self._reading(n, w)
            self.readings += 1
        self.rounds += 1
        return out

    def _frame(self, n: SimNode, seq: int, values: dict[str, float], flags: int = 0) -> bytes:
        return frames.encode(n.node, seq, values, n.key, flags)

    def _radio(self, n: SimNode) -> tuple[int | None, float | None]:
        if not n.radio:
            return None, None
        rssi = round(n.rssi + self.rng.gauss(0, 2))
        snr = max(-20.0, min(12.0, (rssi + 112) / 2.5 + self.rng.gauss(0, 1)))
        return max(-140, min(-20, rssi)), round(snr * 4) / 4

    def _reading(self, n: SimNode, w: dict[str, float]) -> list[Packet]:
        rng = self.rng
        values = _rounded(n.station.reading(w, self.step_minutes / 60, self.drain))
        flags = 0
        if n.sent == 0 and n.seq == 0:
            n.seq = rng.randint(*FIRST_SEQ)
        if self._fault("reboot"):
            # A cold boot: the boot flag, the reset cause, and the counter from flash.
            if n.key is None and n.heard is not None and n.heard >= 2 * REPLAY_BACK:
                n.seq = 0  # flash wiped: the gateway sees the counter start again
            else:
                n.seq += REBOOT_JUMP
            flags |= frames.FLAG_BOOT
            values["status"] = frames.RESET_POWER_ON
            self.injected["reboot"] += 1
        seq = n.seq
        n.seq += 1
        n.sent += 1
        frame = self._frame(n, seq, values, flags)
        if self.on_reading is not None:
            self.on_reading(n, {"seq": seq, **values})
        out: list[Packet] = []

        def packet(kind: str, payload: bytes) -> Packet:
            rssi, snr = self._radio(n)
            return Packet(n.node, kind, payload, rssi, snr)

        if self._fault("cut"):
            out.append(packet("cut", frame))
            self.injected["cut"] += 1
            self.expect["malformed"] += 1
        # A boot frame is never lost here: the gateway must see an unkeyed node restart.
        if self._fault("flip") and not flags & frames.FLAG_BOOT:
            # One bit of the values, MIC or CRC (not of the header or the field bitmap,
            # which would make it another length): the CRC, checked first, fails.
            bad = bytearray(frame)
            start = frames.HEADER_SIZE
            while bad[start] & 0x80:
                start += 1
            bit = rng.randrange((start + 1) * 8, len(bad) * 8)
            bad[bit // 8] ^= 1 << (bit % 8)
            out.append(packet("frame", bytes(bad)))
            self.injected["flip"] += 1
            self.expect["crc_errors"] += 1
        else:
            out.append(packet("frame", frame))
            self.expect["accepted"] += 1
            n.heard = seq if flags & frames.FLAG_BOOT or n.heard is None else max(n.heard, seq)
            if self._fault("duplicate"):
                out.append(packet("frame", frame))
                self.injected["duplicate"] += 1
                self.expect["duplicates"] += 1
        if self._fault("replay") and n.heard is not None and n.heard >= REPLAY_BACK:
            old = self._frame(n, n.heard - REPLAY_BACK, values)
            out.append(packet("frame", old))
            self.injected["replay"] += 1
            self.expect["rejected"] += 1
        if self._fault("forge") and n.key is not None:
            other = bytes(rng.randrange(256) for _ in range(frames.KEY_SIZE))
            forged = frames.encode(n.node, n.seq + 5, {"temperature": 35.0}, other)
            out.append(packet("frame", forged))
            self.injected["forge"] += 1
            self.expect["mic_failures"] += 1
        if self._fault("noise"):
            out.append(Packet(n.node, "noise", _noise(rng)))
            self.injected["noise"] += 1
            self.expect["malformed"] += 1
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "readings": self.readings,
            "rounds": self.rounds,
            "simulated_hours": round(self.hours(), 2),
            "injected": {k: self.injected[k] for k in FAULTS},
            "silent": [n.node for n in self.nodes if n.silent_after is not None],
            "gateway_should_count": {k: self.expect[k] for k in COUNTS},
        }


def _rounded(values: dict[str, float]) -> dict[str, float]:
    """Values as the node's fixed point carries them (no rounding surprises in tests)."""
    out: dict[str, float] = {}
    for name, v in values.items():
        fid = frames.field_id(name)
        _, _, _, scale, lo, hi = frames.FIELDS[fid]
        raw = max(lo, min(hi, round(v * scale)))
        out[name] = raw / scale if scale != 1 else raw
    return out


def _noise(rng: random.Random) -> bytes:
    """5 to 40 bytes of line noise, no zero among them, that no COBS decoder can read:
    the first code byte points past the end, so the gateway counts one malformed record."""
    n = rng.randint(5, 40)
    return bytes([rng.randint(n + 1, 255)]) + bytes(rng.randint(1, 255) for _ in range(n - 1))


# -- where the packets go -----------------------------------------------------------------------


class Output:
    def send(self, packets: list[Packet]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class LineOutput(Output):
    """Bytes on a serial line, a file or stdout."""

    def __init__(self, write: Callable[[bytes], object], flush: Callable[[], None]) -> None:
        self._write = write
        self._flush = flush

    def send(self, packets: list[Packet]) -> None:
        self._write(b"".join(p.line_bytes() for p in packets))
        self._flush()

    def close(self) -> None:
        self._write(b"\x00")  # ends a cut record still pending
        self._flush()


class PtyOutput(Output):
    """A new pseudo-terminal: its path is the port a gateway opens. Bytes go out only while a
    program has it open (a closed pty would queue them, and the gateway flushes its input as it
    opens the port), once it has emptied its input after opening it."""

    SETTLE = 0.5

    def __init__(self) -> None:
        import tty

        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        os.close(slave)  # while nobody holds it, the master side reads as hung up
        self._poll = select.poll()
        self._poll.register(self.master, select.POLLOUT)

    def _reader(self) -> bool:
        return not any(ev & select.POLLHUP for _, ev in self._poll.poll(0))

    def wait_reader(self, say: Callable[[str], None]) -> None:
        if self._reader():
            return
        say(f"waiting for a program to open {self.path}")
        while not self._reader():
            time.sleep(0.05)
        self._settle()

    def _settle(self) -> None:
        """Until the program that opened the port has emptied its input (pyserial does as it
        opens) or begun to read it. Zero bytes (empty records, which readers skip) are sent
        every 20 ms and the port's input queue watched: once it has held some and is empty
        again, they were flushed or read. A reader quicker than that is given three seconds."""
        try:
            probe = os.open(self.path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            time.sleep(self.SETTLE)
            return
        try:
            seen = False
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                os.write(self.master, b"\x00")
                time.sleep(0.02)
                if _queued(probe):
                    seen = True
                elif seen:
                    break
        except OSError:
            time.sleep(self.SETTLE)
        finally:
            os.close(probe)

    def send(self, packets: list[Packet]) -> None:
        self._write(b"".join(p.line_bytes() for p in packets))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if not self._reader():
                self.wait_reader(lambda s: print(f"meteolink simulate: {s}", file=sys.stderr))
            try:
                view = view[os.write(self.master, view) :]
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                time.sleep(0.05)  # EIO: the reader closed it this instant

    def close(self) -> None:
        if self.master < 0:
            return
        if not self._reader():  # nobody to read it: nothing to wait for
            os.close(self.master)
            self.master = -1
            return
        with contextlib.suppress(OSError):
            os.write(self.master, b"\x00")
        # Let the reader take what is queued before hanging up: a hang-up drops it. (Bytes
        # reach the queue a moment after the write: it must stay empty for 0.2 s.)
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            fd = -1
        try:
            deadline = time.monotonic() + 10
            empty = 0
            while fd >= 0 and empty < 10 and time.monotonic() < deadline:
                empty = 0 if _queued(fd) else empty + 1
                time.sleep(0.02)
        finally:
            if fd >= 0:
                os.close(fd)
        os.close(self.master)
        self.master = -1


def _queued(fd: int) -> int:
    """Bytes waiting in a terminal's input queue."""
    import fcntl
    import termios

    count = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, count)
    return int.from_bytes(count, sys.byteorder)


class EtherOutput(Output):
    """LoRa packets on the sim ether (sim/ether.py's Antenna, one per station): a bridge
    firmware process listening with the same settings hears them, with the RSSI and SNR the
    hub's physics gives. Packets are spaced by their time on air, so none collide."""

    def __init__(self, address: str | None, nodes: list[SimNode], modulation: tuple[Any, ...]):
        ether = _sim_ether()
        self.mod = modulation
        self.antennas: dict[int, Any] = {}
        try:
            for n in nodes:
                # The hub's loss is the sum of both radios' loss_db: the whole loss here.
                self.antennas[n.node] = ether.Antenna(
                    address or None, name=f"sim-node-{n.node}", loss_db=round(14 - n.rssi)
                )
        except OSError as e:
            self.close()
            raise CommandError(f"--ether: {e}") from None

    def send(self, packets: list[Packet]) -> None:
        for p in packets:
            payload = p.payload if p.kind != "cut" else p.payload[: max(1, len(p.payload) // 2)]
            if p.kind == "noise":
                payload = p.payload[:5]  # interference read as a packet too short for a header
            toa = self.antennas[p.node].transmit(self.mod, payload, 14)
            time.sleep(toa / 1e6 + 0.03)

    def close(self) -> None:
        for a in self.antennas.values():
            a.close()
        self.antennas = {}


def _sim_ether() -> Any:
    """sim/ether.py: part of the source checkout, not of the installed package."""
    try:
        from sim import ether
    except ImportError:
        root = Path(__file__).resolve().parents[1]
        if not (root / "sim" / "ether.py").exists():
            raise CommandError(
                "--ether needs the sim ether of a meteolink source checkout (sim/ether.py):"
                " run meteolink from a clone of it"
            ) from None
        sys.path.insert(0, str(root))
        from sim import ether
    return ether


# -- the command ---------------------------------------------------------------------------------


def _percent(text: str) -> float:
    t = text.strip().removesuffix("%")
    try:
        v = float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage (give 0 to 100)") from None
    if not 0 <= v <= 100 or math.isnan(v):
        raise argparse.ArgumentTypeError(f"{text!r}: give a percentage from 0 to 100")
    return v


def _silent(text: str) -> tuple[int, int]:
    node, _, after = text.partition(":")
    try:
        return int(node), int(after or 3)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give NODE:READINGS, e.g. 2:5 (node 2 goes silent after 5 readings)"
        ) from None


def _arguments(p: argparse.ArgumentParser) -> None:
    where = p.add_argument_group("where the stations are")
    where.add_argument(
        "--place",
        help=f"a town of the built-in table ({', '.join(sorted(weather.PLACES))}); default riga",
    )
    where.add_argument(
        "--lat", type=float, metavar="DEGREES", help="latitude in degrees (north positive)"
    )
    where.add_argument(
        "--lon", type=float, metavar="DEGREES", help="longitude in degrees (east positive)"
    )
    where.add_argument("--season", choices=sorted(weather.SEASONS), help="start mid-season")
    where.add_argument("--date", help="start on this day, YYYY-MM-DD (default: today)")
    where.add_argument(
        "--cold-snap", action="store_true", help="a cold snap (-12 K) from six hours in"
    )
    st = p.add_argument_group("the stations")
    st.add_argument("--nodes", type=int, metavar="N", help="how many stations (default 3)")
    st.add_argument(
        "--gateway-config",
        metavar="FILE",
        type=Path,
        help="the stations are this gateway config's [nodes.N], with their keys",
    )
    st.add_argument(
        "--keys",
        choices=("none", "generate"),
        help="without --gateway-config: no keys (default) or a new key per station",
    )
    st.add_argument(
        "--write-config",
        metavar="FILE",
        type=Path,
        help="write a gateway config for these stations and this port to FILE",
    )
    st.add_argument(
        "--drain",
        type=float,
        metavar="PERCENT",
        default=1.0,
        help="battery percent a day (default 1)",
    )
    run = p.add_argument_group("how fast and how long")
    run.add_argument(
        "--interval",
        type=float,
        metavar="SECONDS",
        help="seconds between rounds of readings (default 1; 0 for a file or stdout)",
    )
    run.add_argument(
        "--step",
        type=float,
        metavar="MINUTES",
        default=10.0,
        help="simulated minutes per round (default 10)",
    )
    run.add_argument(
        "--count", type=int, metavar="N", default=0, help="readings per station, then stop"
    )
    run.add_argument("--seed", type=int, default=1, help="random seed: same seed, same bytes")
    out = p.add_argument_group("where the frames go (one of; default: a new pseudo-terminal)")
    dest = out.add_mutually_exclusive_group()
    dest.add_argument("--pty", action="store_true", help="a new pseudo-terminal (path printed)")
    dest.add_argument("--port", metavar="DEVICE", help="an existing serial port")
    dest.add_argument("--file", metavar="FILE", help="a file of line bytes; - for stdout")
    dest.add_argument(
        "--ether",
        metavar="HOST:PORT",
        nargs="?",
        const="",
        help="the sim ether (docs/lora.md), so a bridge firmware process hears the stations",
    )
    out.add_argument("--baud", type=int, default=115200, help="for --port (default 115200)")
    out.add_argument(
        "--bridge", action="store_true", help="play a LoRa bridge: radio records with RSSI/SNR"
    )
    out.add_argument("--sf", type=int, default=9, help="for --ether: spreading factor (default 9)")
    out.add_argument(
        "--freq", type=float, metavar="MHZ", default=868.1, help="for --ether: MHz (default 868.1)"
    )
    f = p.add_argument_group("faults, in percent of readings (e.g. --noise 5)")
    f.add_argument(
        "--noise",
        metavar="PERCENT",
        type=_percent,
        default=0.0,
        help="a burst of line noise after it",
    )
    f.add_argument(
        "--flip", metavar="PERCENT", type=_percent, default=0.0, help="one bit flipped: a CRC error"
    )
    f.add_argument(
        "--cut", metavar="PERCENT", type=_percent, default=0.0, help="a copy cut short before it"
    )
    f.add_argument("--duplicate", metavar="PERCENT", type=_percent, default=0.0, help="heard twice")
    f.add_argument(
        "--replay", metavar="PERCENT", type=_percent, default=0.0, help="an old frame sent again"
    )
    f.add_argument(
        "--forge",
        metavar="PERCENT",
        type=_percent,
        default=0.0,
        help="a forged MIC (keyed stations)",
    )
    f.add_argument(
        "--reboot", metavar="PERCENT", type=_percent, default=0.0, help="a cold boot first"
    )
    f.add_argument(
        "--silent",
        type=_silent,
        action="append",
        default=[],
        metavar="NODE:N",
        help="that node goes silent after N readings (repeatable)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="print every reading (stderr)")
    p.add_argument("--json", action="store_true", help="the closing summary as JSON on stdout")


def _climate(args: argparse.Namespace) -> weather.Climate:
    if args.place is not None and (args.lat is not None or args.lon is not None):
        raise CommandError("give --place or --lat/--lon, not both")
    if (args.lat is None) != (args.lon is None):
        raise CommandError("give both --lat and --lon (degrees, e.g. --lat 56.95 --lon 24.11)")
    if args.lat is not None:
        if not -90 <= args.lat <= 90 or not -180 <= args.lon <= 180:
            raise CommandError(f"--lat {args.lat} --lon {args.lon}: give -90..90 and -180..180")
        return weather.Climate.of_position(args.lat, args.lon)
    place = (args.place or "riga").strip().lower()
    if place not in weather.PLACES:
        raise CommandError(
            f"--place {args.place!r} is not in the table; give one of"
            f" {', '.join(sorted(weather.PLACES))}, or --lat and --lon"
        )
    return weather.Climate.of_place(place)


def _start(args: argparse.Namespace, climate: weather.Climate) -> datetime.datetime:
    if args.date is not None:
        try:
            day = datetime.date.fromisoformat(args.date)
        except ValueError:
            raise CommandError(f"--date {args.date!r}: give a day as YYYY-MM-DD") from None
        if args.season:
            raise CommandError("give --season or --date, not both")
    elif args.season:
        day = weather.season_date(args.season, datetime.date.today().year, climate.lat)
    else:
        day = datetime.date.today()
    return datetime.datetime(day.year, day.month, day.day)


def _nodes(args: argparse.Namespace, rng: random.Random) -> list[SimNode]:
    keyed: dict[int, tuple[bytes | None, str | None]] = {}
    if args.gateway_config is not None:
        if args.keys is not None:
            raise CommandError("--keys: the keys come from --gateway-config; give one of the two")
        from meteolink.gateway import config as gwconfig

        try:
            cfg = gwconfig.load(args.gateway_config)
        except gwconfig.ConfigError as e:
            raise CommandError(f"--gateway-config {e}") from None
        if not cfg.nodes:
            raise CommandError(
                f"--gateway-config {args.gateway_config}: it lists no [nodes.N]"
                " (add them with meteolink node new, or use --nodes)"
            )
        ids = sorted(cfg.nodes)[: args.nodes] if args.nodes else sorted(cfg.nodes)
        for i in ids:
            keyed[i] = (cfg.nodes[i].key, cfg.nodes[i].name)
    else:
        count = 3 if args.nodes is None else args.nodes
        for i in range(1, count + 1):
            key = rng.randbytes(frames.KEY_SIZE) if args.keys == "generate" else None
            keyed[i] = (key, None)
    out = []
    for k, (node, (key, name)) in enumerate(keyed.items()):
        station = weather.Station(
            node, weather.KINDS[k % len(weather.KINDS)], random.Random(rng.random())
        )
        sim = SimNode(node, station, key, name, radio=args.bridge or args.ether is not None)
        sim.rssi = rng.uniform(-118, -70)
        out.append(sim)
    return out


def _check(args: argparse.Namespace) -> None:
    if args.nodes is not None and not 1 <= args.nodes <= 10000:
        raise CommandError(f"--nodes {args.nodes}: give 1 to 10000 stations")
    if not 0 <= args.count <= 10_000_000:
        raise CommandError(f"--count {args.count}: give 0 (no end) or a number of readings")
    if args.interval is not None and not 0 <= args.interval <= 86400:
        raise CommandError(f"--interval {args.interval}: give 0 to 86400 seconds")
    if not 0 < args.step <= 1440:
        raise CommandError(f"--step {args.step}: give more than 0 and up to 1440 minutes")
    if not 0 <= args.drain <= 100:
        raise CommandError(f"--drain {args.drain}: give 0 to 100 percent a day")
    if not 7 <= args.sf <= 12:
        raise CommandError(f"--sf {args.sf}: give a spreading factor from 7 to 12")
    if not 863 <= args.freq <= 870:
        raise CommandError(f"--freq {args.freq}: give an EU868 frequency, 863 to 870 MHz")
    if args.json and args.file == "-":
        raise CommandError("--json and --file - both want stdout: give --file a file name")


def _write_config(path: Path, nodes: list[SimNode], port: str | None) -> None:
    lines = ["# Written by meteolink simulate: the simulated stations and their port.", ""]
    if port:
        lines += ["[[serial]]", f'port = "{port}"', ""]
    for n in nodes:
        lines.append(f"[nodes.{n.node}]")
        if n.name:
            lines.append(f"name = {json.dumps(n.name, ensure_ascii=False)}")
        if n.key:
            lines.append(f'key = "{n.key.hex()}"')
        lines.append("")
    try:
        path.write_text("\n".join(lines), encoding="utf-8")
    except OSError as e:
        raise CommandError(f"--write-config {path}: {e.strerror or e}") from None


def _open_output(args: argparse.Namespace, nodes: list[SimNode]) -> tuple[Output, str | None]:
    """The output, and the port a gateway should open (None for a file or the ether)."""
    if args.file is not None:
        if args.file == "-":
            out = sys.stdout.buffer
            return LineOutput(out.write, out.flush), None
        try:
            f: IO[bytes] = open(args.file, "wb")  # noqa: SIM115 (closed with the output)
        except OSError as e:
            raise CommandError(f"--file {args.file}: {e.strerror or e}") from None

        class FileOutput(LineOutput):
            def close(self) -> None:
                super().close()
                f.close()

        return FileOutput(f.write, f.flush), None
    if args.port is not None:
        import serial

        try:
            dev = serial.Serial(args.port, args.baud, timeout=0, write_timeout=10)
        except (serial.SerialException, ValueError, OSError) as e:
            why = getattr(e, "strerror", None) or str(e).split(": ")[-1]
            raise CommandError(
                f"--port {args.port}: cannot open it ({why}); is the device plugged in,"
                " and not open in another program?"
            ) from None

        class PortOutput(LineOutput):
            def close(self) -> None:
                super().close()
                dev.close()

        return PortOutput(dev.write, dev.flush), args.port
    if args.ether is not None:
        ether = _sim_ether()
        mod = ether.mod(freq_hz=round(args.freq * 1000) * 1000, sf=args.sf)
        return EtherOutput(args.ether, nodes, mod), None
    pty = PtyOutput()
    return pty, pty.path


def run(args: argparse.Namespace) -> int:
    _check(args)
    climate = _climate(args)
    start = _start(args, climate)
    rng = random.Random(args.seed)
    nodes = _nodes(args, rng)
    ids = {n.node for n in nodes}
    for node, after in args.silent:
        if node not in ids:
            raise CommandError(
                f"--silent {node}:{after}: there is no station {node}"
                f" (the stations are {', '.join(str(i) for i in sorted(ids))})"
            )
        if after < 0:
            raise CommandError(f"--silent {node}:{after}: give 0 or more readings")
        next(n for n in nodes if n.node == node).silent_after = after
    if args.forge and not any(n.key for n in nodes):
        raise CommandError(
            "--forge: a forged MIC needs stations with keys (add --keys generate,"
            " or --gateway-config FILE with keys)"
        )
    w = weather.Weather(climate, start, random.Random(rng.random()), cold_snap=args.cold_snap)
    rates = {k: getattr(args, k) for k in FAULTS}
    sim = Simulation(nodes, w, rng, args.step, args.drain, rates)
    say_to = sys.stderr

    def say(text: str) -> None:
        print(f"meteolink simulate: {text}", file=say_to, flush=True)

    if args.verbose:

        def show(n: SimNode, values: dict[str, float]) -> None:
            parts = [f"node {n.node} seq {int(values['seq'])}:"]
            for name, unit, *_ in frames.FIELDS:
                if name in values:
                    parts.append(f"{name} {values[name]:g} {unit}".rstrip())
            print("  ".join(parts), file=sys.stderr, flush=True)

        sim.on_reading = show

    output, port = _open_output(args, nodes)
    interval = args.interval
    if interval is None:
        interval = 0.0 if args.file is not None else 1.0
    if args.write_config is not None:
        _write_config(args.write_config, nodes, port)
    with_keys = sum(1 for n in nodes if n.key)
    what = f"{len(nodes)} stations ({with_keys} with keys), {climate.name} from {start:%Y-%m-%d}"
    if isinstance(output, PtyOutput):
        say(f"port {output.path}")
    elif args.port:
        say(f"writing to {args.port} at {args.baud} baud")
    elif isinstance(output, EtherOutput):
        say(f"on the sim ether at {args.freq:g} MHz, SF{args.sf}, 125 kHz")
    say(what)

    def stop(*_: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops it as Ctrl-C does, summary and all

    old = signal.signal(signal.SIGTERM, stop)
    try:
        if isinstance(output, PtyOutput):
            output.wait_reader(say)
        while True:
            if args.count and all(
                n.sent
                >= (args.count if n.silent_after is None else min(args.count, n.silent_after))
                for n in nodes
            ):
                break
            output.send(sim.round())
            if interval:
                time.sleep(interval)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    finally:
        signal.signal(signal.SIGTERM, old)
        with contextlib.suppress(OSError, KeyboardInterrupt):
            output.close()
    summary = sim.summary()
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        say(_summary_text(summary))
    return 0


def _summary_text(s: dict[str, Any]) -> str:
    inj = ", ".join(f"{v} {k}" for k, v in s["injected"].items() if v) or "no faults"
    g = s["gateway_should_count"]
    should = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in g.items())
    return (
        f"{s['readings']} readings over {s['simulated_hours']:g} simulated hours; injected: {inj};"
        f" a gateway should count: {should}"
    )


COMMANDS = [
    Command(
        "simulate",
        "simulated stations with plausible weather -> a pty, port, file or the LoRa sim ether",
        _arguments,
        run,
    )
]
