# One scripted radio on the sim ether, in its own process: MicroPython's unix
# port or CPython (tests/support/ether.py starts it). It reads one JSON
# command per line on stdin and answers one JSON line on stdout:
#
#   {"op": "hello", "address": "127.0.0.1:N", "name": ..., "position": [x, y]}
#   {"op": "listen", "mod": [...] | null, "at_us": T}
#   {"op": "transmit", "mod": [...], "payload": hex, "power": dBm, "at_us": T}
#   {"op": "send_many", "mod": [...], "count": n, "power": dBm, "gap_us": g}
#   {"op": "collect", "ms": wait, "max": k}   what it heard, waiting up to ms for k
#   {"op": "quit"}
#
# at_us is a time.ticks_us() (CLOCK_MONOTONIC µs, the same in every process
# of the host) to act at; the answer gives the ts it acted at.
import json
import sys
import time

from sim import ether


def now_us():
    return ether._ticks_us()


def wait_until(t):
    if t is None:
        return
    while True:
        left = t - now_us()
        if left <= 0:
            return
        if left > 2000:
            time.sleep((left - 1000) / 1e6)


def answer(d):
    sys.stdout.write(json.dumps(d) + "\n")
    sys.stdout.flush()


def heard_dict(h):
    return {
        "payload": h.payload.hex(),
        "rssi_dbm": h.rssi_dbm,
        "snr_db": h.snr_db,
        "crc_ok": h.crc_ok,
        "header_ok": h.header_ok,
        "end_us": h.end_us,
        "got_us": now_us(),
    }


def _unhex(s):
    return bytes.fromhex(s)


def main():
    antenna = None
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "hello":
            antenna = ether.Antenna(
                cmd.get("address"),
                cmd.get("name"),
                cmd.get("position"),
                cmd.get("timeout_ms", 2000),
            )
            answer({"name": antenna.name})
        elif op == "listen":
            mod = cmd.get("mod")
            wait_until(cmd.get("at_us"))
            ts = now_us()
            antenna.listen(tuple(mod) if mod is not None else None)
            answer({"ts": ts})
        elif op == "transmit":
            payload = _unhex(cmd["payload"])
            wait_until(cmd.get("at_us"))
            ts = now_us()
            toa = antenna.transmit(tuple(cmd["mod"]), payload, cmd.get("power", 14))
            answer({"ts": ts, "toa": toa})
        elif op == "send_many":
            mod = tuple(cmd["mod"])
            gap = cmd.get("gap_us", 1000)
            n = cmd["count"]
            for i in range(n):
                payload = bytes([i >> 8, i & 0xFF]) + b"meteolink"
                toa = antenna.transmit(mod, payload, cmd.get("power", 14))
                wait_until(now_us() + toa + gap)
            answer({"sent": n})
        elif op == "collect":
            deadline = now_us() + cmd.get("ms", 1000) * 1000
            most = cmd.get("max", 1 << 30)
            got = []
            while len(got) < most:
                h = antenna.poll()
                if h is not None:
                    got.append(heard_dict(h))
                    continue
                left = (deadline - now_us()) // 1000
                if left <= 0:
                    break
                antenna.wait(min(left, 50))
            answer({"heard": got})
        elif op == "quit":
            antenna.close()
            answer({"bye": True})
            return
        else:
            answer({"error": "unknown op %s" % op})


main()
