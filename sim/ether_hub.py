"""The sim ether's hub: one process that every radio of every process talks to.

    python -m sim.ether_hub [--port 47000] [--host 127.0.0.1] [--config ether.json]
                            [--seed N] [--bad-crc 0.1] [--log events.jsonl]

It prints "sim ether hub on HOST:PORT" (--port 0: a free port) and serves
until stopped. Radios (sim.ether.Antenna) send it UDP datagrams on loopback:

    H json              hello: {"name", "position": [x, y], "loss_db"}; answered W json
    L ts [mod]          listen with mod from ts on (no mod: deaf)
    T ts mod p payload  a packet sent at ts with power p (dBm, i8)
    B                   bye
    C json              control (configure, stats, events, reset); answered K json

ts is the sender's time.ticks_us() modulo 2^30. Every process on the host
reads the same clock (CLOCK_MONOTONIC: MicroPython's unix port and
CPython's time.monotonic() both), so the hub places each event where it
happened, not where it read it, and a busy hub misjudges no timing. It
waits grace_us (1 ms) past a packet's end for what was sent before then,
and sends each radio that heard it:

    P end rssi snr flags payload   end as ts; rssi, snr f32; flags 1 crc_ok, 2 header_ok

Who hears what is sim/ether_physics.py's. Runs on CPython (and on the
MicroPython unix port).
"""

import json
import select
import socket
import struct
import sys

from sim import ether
from sim.ether_physics import Physics, Transmission

TYPE_CHECKING = False  # mypy takes this name as True; MicroPython has no typing module
if TYPE_CHECKING:
    from typing import Any

    from sim.ether import Mod

_EVENTS_MAX = 100_000  # kept for "events" requests; older ones are dropped
_EVENTS_PER_REPLY = 150  # a reply stays well inside one datagram


class _Radio:
    """One antenna: where it is, its name, and when it listened to what."""

    def __init__(self, addr: "Any", name: str) -> None:
        self.addr = addr
        self.name = name
        # (ts_us, mod or None) for every change of what it listens to, in order.
        self.history: list[tuple[int, Mod | None]] = []

    def change(self, ts: int, mod: "Mod | None") -> None:
        last = self.history[-1][1] if self.history else None
        if mod != last:
            self.history.append((ts, mod))

    def listened(self, tx: Transmission) -> bool:
        """True when it listened to tx with matching settings from its start to its end."""
        state = None
        for ts, mod in self.history:
            if ts <= tx.start_us:
                state = mod
            elif ts < tx.end_us:
                return False  # it changed (or transmitted) during the packet
            else:
                break
        return state is not None and ether.decodes(state, tx.mod, len(tx.payload))

    def prune(self, before_us: int) -> None:
        # Keep the last change before the cut: it says what was true then.
        h = self.history
        i = 0
        while i + 1 < len(h) and h[i + 1][0] <= before_us:
            i += 1
        if i:
            del h[:i]


class Hub:
    def __init__(
        self,
        physics: "Physics | None" = None,
        host: str = "127.0.0.1",
        port: int = 0,
        grace_us: int = 1000,
        log: "str | None" = None,
    ) -> None:
        self.physics = physics or Physics()
        self.grace_us = grace_us
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(socket.getaddrinfo(host, port)[0][-1])
        self.port = _bound_port(self.sock, port)
        self.host = host
        self._poll = select.poll()
        self._poll.register(self.sock, select.POLLIN)
        self.radios: dict[Any, _Radio] = {}  # by address
        self.on_air: list[Transmission] = []  # not yet judged, by end
        self.recent: list[Transmission] = []  # judged, kept for overlaps
        self._sender: dict[Any, Transmission] = {}  # each address's last packet
        self._log = open(log, "a") if log else None
        self.reset()

    def reset(self) -> None:
        """Forget counts and events (not the radios or settings)."""
        self.count: dict[str, int] = {}  # packets sent, by sender name
        self.outcomes: dict[str, dict[str, int]] = {}  # by receiver, by outcome
        self.events: list[dict[str, Any]] = []
        self.dropped_events = 0

    # -- the loop ---------------------------------------------------------

    def serve(self) -> None:
        """Run until interrupted."""
        while True:
            self.step()

    def step(self, max_wait_ms: int = 1000) -> None:
        """Wait for a datagram or the next packet's end; handle what is due."""
        wait = max_wait_ms
        if self.on_air:
            due = self.on_air[0].end_us + self.grace_us - ether._ticks_us()
            wait = max(0, min(wait, (due + 999) // 1000))
        if self._poll.poll(wait):
            for _ in range(256):  # all that is queued, bounded
                try:
                    data, addr = self.sock.recvfrom(65536)
                except OSError:
                    break
                try:
                    self._handle(data, addr)
                except Exception as e:  # struct.error on CPython is no ValueError
                    # A malformed datagram costs its sender, never the air.
                    sys.stderr.write("sim ether hub: datagram %r: %s\n" % (bytes(data[:32]), e))
                if not self._poll.poll(0):
                    break
        self._settle(ether._ticks_us())

    def _handle(self, data: bytes, addr: "Any") -> None:
        if not data:
            return
        kind = data[0]
        now = ether._ticks_us()
        if kind == 0x54:  # T
            ts = _when(now, struct.unpack_from("<I", data, 1)[0])
            mod = ether.unpack_mod(data, 5)
            power = struct.unpack_from("<b", data, 5 + ether.MOD_SIZE)[0]
            self._transmit(addr, ts, mod, power, bytes(data[6 + ether.MOD_SIZE :]))
        elif kind == 0x4C:  # L
            ts = _when(now, struct.unpack_from("<I", data, 1)[0])
            radio = self._radio(addr)
            radio.change(ts, ether.unpack_mod(data, 5) if len(data) > 5 else None)
        elif kind == 0x48:  # H
            info = json.loads(data[1:]) if len(data) > 1 else {}
            self._hello(addr, info)
        elif kind == 0x42:  # B
            self.radios.pop(_key(addr), None)
        elif kind == 0x43:  # C
            try:
                reply = self.control(json.loads(data[1:]))
            except (ValueError, KeyError, TypeError) as e:
                reply = {"error": "%s: %s" % (type(e).__name__, e)}
            self.sock.sendto(b"K" + json.dumps(reply).encode(), addr)

    def _hello(self, addr: "Any", info: "dict[str, Any]") -> None:
        name = info.get("name") or "radio@%d" % _addr_port(addr)
        # A name that comes back (a node's next wake) replaces its old antenna.
        for k, r in list(self.radios.items()):
            if r.name == name and k != _key(addr):
                del self.radios[k]
        radio = _Radio(addr, name)
        self.radios[_key(addr)] = radio
        if info.get("position") is not None:
            self.physics.place(name, info["position"])
        if info.get("loss_db") is not None:
            self.physics.set_own_loss(name, info["loss_db"])
        self.sock.sendto(b"W" + json.dumps({"name": name}).encode(), addr)

    def _radio(self, addr: "Any") -> _Radio:
        k = _key(addr)
        radio = self.radios.get(k)
        if radio is None:  # no hello (the hub restarted): a name from its port
            radio = _Radio(addr, "radio@%d" % _addr_port(addr))
            self.radios[k] = radio
        return radio

    def _transmit(self, addr: "Any", ts: int, mod: "Mod", power: int, payload: bytes) -> None:
        radio = self._radio(addr)
        radio.change(ts, None)  # deaf while it transmits
        k = _key(addr)
        last = self._sender.get(k)
        if last is not None and last.end_us > ts:
            last.aborted = True  # a radio sends one packet at a time: the new one cuts it
            last.end_us = ts
        n = self.count.get(radio.name, 0)
        self.count[radio.name] = n + 1
        end = ts + ether.time_on_air_us(mod, len(payload))
        tx = Transmission(radio.name, n, mod, payload, power, ts, end)
        self._sender[k] = tx
        i = len(self.on_air)
        while i and self.on_air[i - 1].end_us > end:
            i -= 1
        self.on_air.insert(i, tx)
        self._event(
            {
                "event": "sent",
                "from": radio.name,
                "n": n,
                "start_us": ts,
                "end_us": end,
                "len": len(payload),
                "freq_hz": mod[ether.FREQ],
                "sf": mod[ether.SF],
                "bw_hz": mod[ether.BW],
                "power_dbm": power,
            }
        )

    def _settle(self, now: int) -> None:
        # Judge every packet that ended grace_us ago: by then the hub holds
        # everything sent before its end.
        while self.on_air and self.on_air[0].end_us + self.grace_us <= now:
            tx = self.on_air.pop(0)
            self._judge(tx)
            self.recent.append(tx)
        # What a packet still on air may need: the radios' state at its start,
        # the packets that overlap it. (on_air is in order of end, not start.)
        oldest = now
        for t in self.on_air:
            if t.start_us < oldest:
                oldest = t.start_us
        cut = oldest - 1_000_000
        self.recent = [t for t in self.recent if t.end_us > cut]
        for k in list(self._sender):
            if self._sender[k].end_us <= cut:
                del self._sender[k]
        for radio in self.radios.values():
            radio.prune(cut)

    def _judge(self, tx: Transmission) -> None:
        others = [o for o in self.on_air if o.overlaps(tx)]
        others += [o for o in self.recent if o.overlaps(tx)]
        for radio in list(self.radios.values()):
            if radio.name == tx.sender or not radio.listened(tx):
                continue
            code, heard = self.physics.outcome(tx, radio.name, others)
            per = self.outcomes.setdefault(radio.name, {})
            per[code] = per.get(code, 0) + 1
            event: dict[str, Any] = {
                "event": code,
                "from": tx.sender,
                "n": tx.n,
                "to": radio.name,
                "end_us": tx.end_us,
            }
            if heard is not None:
                event["rssi_dbm"] = round(heard.rssi_dbm, 2)
                event["snr_db"] = round(heard.snr_db, 2)
                event["crc_ok"] = heard.crc_ok
                flags = (1 if heard.crc_ok else 0) | (2 if heard.header_ok else 0)
                head = struct.pack(
                    "<BIffB", 0x50, tx.end_us & ether.TS_MASK, heard.rssi_dbm, heard.snr_db, flags
                )
                try:
                    self.sock.sendto(head + heard.payload, radio.addr)
                except OSError:
                    pass  # its process is gone; UDP says so at most once
            self._event(event)

    def _event(self, event: "dict[str, Any]") -> None:
        if self._log is not None:
            self._log.write(json.dumps(event) + "\n")
            self._log.flush()
        self.events.append(event)
        if len(self.events) > _EVENTS_MAX:
            drop = len(self.events) - _EVENTS_MAX
            del self.events[:drop]
            self.dropped_events += drop

    # -- control ----------------------------------------------------------

    def control(self, request: "dict[str, Any]") -> "dict[str, Any]":
        """Answer a control request (a dict); see sim.ether.control()."""
        reply: dict[str, Any] = {"ok": True}
        if request.get("reset"):
            self.reset()
        if "configure" in request:
            self.physics.configure(request["configure"])
        if request.get("stats"):
            reply["sent"] = dict(self.count)
            reply["outcomes"] = {k: dict(v) for k, v in self.outcomes.items()}
            reply["radios"] = sorted(r.name for r in self.radios.values())
            reply["on_air"] = len(self.on_air)
        if "events" in request:
            start = int(request["events"]) - self.dropped_events
            start = max(0, start)
            batch = self.events[start : start + _EVENTS_PER_REPLY]
            reply["events"] = batch
            reply["next"] = self.dropped_events + start + len(batch)
        if "loss" in request:
            a, b, freq = request["loss"]
            reply["loss_db"] = self.physics.loss_db(a, b, freq)
        return reply

    def close(self) -> None:
        self.sock.close()
        if self._log is not None:
            self._log.close()


def _when(now: int, ts30: int) -> int:
    """The full time of a sender's ts (its ticks_us modulo 2^30): the latest
    such time not after now. A sender on another clock (beyond 10 s): now."""
    age = ((now & ether.TS_MASK) - ts30) & ether.TS_MASK
    if age > 10_000_000:
        return now
    return now - age


def _key(addr: "Any") -> "Any":
    # CPython: a (host, port) tuple; MicroPython: bytes. Both hashable.
    return addr if isinstance(addr, (tuple, bytes)) else bytes(addr)


def _addr_port(addr: "Any") -> int:
    if isinstance(addr, tuple):
        return int(addr[1])
    b = bytes(addr)  # struct sockaddr_in: family (2), port (2, big-endian), ...
    return (b[2] << 8) | b[3]


def _bound_port(sock: "Any", asked: int) -> int:
    try:
        return int(sock.getsockname()[1])
    except AttributeError:  # MicroPython's socket has no getsockname
        return asked


def main(argv: "list[str]") -> int:
    host = "127.0.0.1"
    port = 47000
    config: dict[str, Any] = {}
    log = None
    args = list(argv)
    while args:
        opt = args.pop(0)
        if opt in ("-h", "--help"):
            print((__doc__ or "").strip())
            return 0
        if not args:
            print("sim.ether_hub: %s needs a value" % opt)
            return 2
        value = args.pop(0)
        if opt == "--port":
            port = int(value)
        elif opt == "--host":
            host = value
        elif opt == "--config":
            with open(value) as f:
                config.update(json.load(f))
        elif opt == "--seed":
            config["seed"] = int(value)
        elif opt == "--bad-crc":
            config["bad_crc"] = float(value)
        elif opt == "--log":
            log = value
        else:
            print("sim.ether_hub: unknown option %s (try --help)" % opt)
            return 2
    hub = Hub(Physics(config), host, port, log=log)
    print("sim ether hub on %s:%d" % (host, hub.port))
    try:
        sys.stdout.flush()
    except AttributeError:
        pass
    try:
        hub.serve()
    except KeyboardInterrupt:
        pass
    finally:
        hub.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
