# Runs under the MicroPython unix port (tests/firmware/test_lora_link.py): the
# LoRa transport over the sim ether, one JSON line per check.
#   mp_lora_link.py local PORT          two or more sim modems in this process
#   mp_lora_link.py listen PORT SECONDS a bridge: prints what it hears until "end"
#   mp_lora_link.py send PORT           a node: sends a reading, then "end"
import json
import sys

import frames
import framing
from dutycycle import DutyCycle
from lora_link import LoRaLink, make_modem

import sim.clock
import sim.lora
from tests.firmware.mp_support import emit

G1 = 868_100_000
SX1276 = {
    "chip": "sx1276",
    "package": "lora-sx127x",
    "cs": 0,
    "reset": 0,
    "dio0": 0,
    "dio1": None,
    "busy": None,
    "dio2_rf_switch": False,
    "dio3_tcxo_millivolts": None,
    "ant_switch": None,
}
SX1262 = {
    "chip": "sx1262",
    "package": "lora-sx126x",
    "cs": 8,
    "reset": 12,
    "dio0": None,
    "dio1": 14,
    "busy": 13,
    "dio2_rf_switch": True,
    "dio3_tcxo_millivolts": 1800,
    "ant_switch": None,
}
naps = []


def nap(ms):
    naps.append(ms)
    sim.clock.skip(ms)


def clock():
    return sim.clock.ticks_ms() // 1000


def modem(radio=SX1276):
    # The API-level stand-in: the register-level radio is tests/sim/test_sx127x.py's.
    return make_modem(radio, None, lambda n: n, module="sim.lora")


def link(m, freq=G1, sf=9, bw=125, limiter=None, max_wait_s=60, nap=nap, **kw):
    return LoRaLink(
        m,
        freq_hz=freq,
        sf=sf,
        bw_khz=bw,
        cr=5,
        limiter=limiter or DutyCycle(),
        max_wait_s=max_wait_s,
        nap=nap,
        clock=clock,
        **kw,
    )


def error(fn):
    try:
        fn()
    except Exception as e:
        return "%s: %s" % (type(e).__name__, e)
    return None


def hears(lk, ms):
    pkt = lk.receive(ms)
    return bytes(pkt).hex() if pkt is not None else None


def reading(seq):
    enc = frames.Encoder(7)
    enc.put(frames.TEMPERATURE, 21.5)
    enc.put(frames.HUMIDITY, 45.0)
    return enc.encode(seq)


def local():
    a, b, c = modem(), modem(), modem()
    la, lb = link(a), link(b)
    lc = link(c, sf=10)  # same frequency, another spreading factor

    # The link's airtime against the sim driver's own computation.
    pairs = []
    for sf in (7, 9, 12):
        for bw in (125, 250, 62.5):
            lk = link(modem(), sf=sf, bw=bw, freq=869_525_000)
            for n in (0, 1, 13, 28, 32, 147, 255):
                pairs.append([lk.airtime_us(n), lk._modem.get_time_on_air_us(n)])
            lk._modem.close()
    emit("airtime", pairs=pairs)
    la, lb = link(a), link(b)  # back to SF9 at 868.1 MHz

    b.rssi, b.snr = -97, 7.5
    frame = bytes(reading(1))
    t0 = sim.clock.ticks_ms()
    ok = la.send(frame)
    t1 = sim.clock.ticks_ms()
    got = lb.receive(1000)
    emit(
        "exchange",
        sent=ok,
        frame=frame.hex(),
        got=bytes(got).hex() if got else None,
        rssi=got.rssi if got else None,
        snr=got.snr if got else None,
        sim_ms=t1 - t0,
        airtime_us=la.airtime_us(len(frame)),
        other_sf=hears(lc, 200),
        modem_sent=a.sent,
    )

    # The limiter full: send() returns False, counts, and nothing goes out.
    full = DutyCycle()
    now = clock()
    for _ in range(20):
        full.spend(G1, 1_800_000, now)
    blocked = link(a, limiter=full, max_wait_s=60)
    before = a.sent
    r = blocked.send(frame)
    emit(
        "blocked",
        sent=r,
        dropped=blocked.dropped,
        limiter_dropped=full.dropped,
        on_air=a.sent - before,
        heard=hears(lb, 300),
    )

    # A short wait: the link naps, then sends.
    now = clock()
    waiting = DutyCycle()
    waiting.spend(G1, 30_000_000, now - 3700)
    waiting.spend(G1, 5_900_000, now - 60)
    w = waiting.wait_s(G1, la.airtime_us(len(frame)), now)
    del naps[:]
    wl = link(a, limiter=waiting, max_wait_s=600)
    r = wl.send(frame)
    emit("waits", wait=w, sent=r, naps=naps, heard=hears(lb, 1000))

    # A nap that comes back early: checked again, dropped, never sent early.
    now = clock()
    short = DutyCycle()
    short.spend(G1, 30_000_000, now - 3700)
    short.spend(G1, 5_900_000, now - 60)
    before = a.sent
    sl = link(a, limiter=short, max_wait_s=600, nap=lambda ms: None)
    r = sl.send(frame)
    emit("nap_short", sent=r, dropped=sl.dropped, on_air=a.sent - before, heard=hears(lb, 300))

    # A damaged packet: the driver drops it and counts a CRC error, unless
    # asked to hand such packets over.
    a.corrupt = True
    la.send(frame)
    dropped = hears(lb, 300)
    b.rx_crc_error = True
    la.send(frame)
    handed = lb.receive(300)
    a.corrupt = False
    emit(
        "corrupt",
        dropped=dropped,
        crc_errors=b.crc_errors,
        handed_crc_error=handed.crc_error if handed else None,
    )
    b.rx_crc_error = False

    # An SX1262 hears an SX1276 with the same settings.
    d = modem(SX1262)
    ld = link(d)
    la.send(b"hello")
    got = ld.receive(1000)
    emit("sx1262", cls=type(d).__name__, got=bytes(got).hex() if got else None)

    # The limiter's count survives deep sleep with its state.
    full2 = DutyCycle(full.dump())
    emit("dropped_kept", dropped=link(a, limiter=full2).dropped)

    class NoSync:  # `lora` with a chip package but without lora-sync
        pass

    sys.modules["lora_nosync"] = NoSync()
    sim.lora.present = False
    absent = error(lambda: modem())
    sim.lora.present = True
    emit(
        "errors",
        missing=error(lambda: make_modem(SX1276, None, lambda n: n, module="lora_absent")),
        no_sync=error(lambda: make_modem(SX1262, None, lambda n: n, module="lora_nosync")),
        chip=error(lambda: make_modem(dict(SX1276, chip="rfm69"), None, lambda n: n)),
        ant_switch=error(lambda: make_modem(dict(SX1276, ant_switch=4), None, lambda n: n)),
        absent=absent,
        us915=error(lambda: link(a, freq=915_000_000)),
        eu433=error(lambda: link(a, freq=433_175_000)),
        edge=error(lambda: link(a, freq=868_550_000)),
        bw=error(lambda: link(a, bw=100)),
        hz=error(lambda: link(a, freq=868_100_500)),
    )

    # Continuous receive (the bridge): polled between packets, as the bridge
    # polls every 20 ms and a packet lasts 50 ms or more, every packet is
    # heard, in order, also after a send of its own (the driver resumes).
    la, lb = link(a), link(b)
    la.listen()
    idle = la.poll()
    sent = []
    heard = []
    for seq in range(5):
        frame = bytes(reading(10 + seq))
        sent.append(frame.hex())
        lb.send(frame)
        for _ in range(50):
            pkt = la.poll()
            if pkt is not None:
                heard.append(bytes(pkt).hex())
                break
        if seq == 2:
            la.send(bytes(reading(99)))  # an ack going out mid-stream
    la.sleep()
    emit("continuous", idle=idle, sent=sent, heard=heard, after_sleep=la.poll())


def listen(seconds):
    m = modem()
    m.rssi, m.snr = -97, 7.5
    lk = link(m)
    print(json.dumps({"ready": True}))
    heard = []
    deadline = sim.clock.ticks_ms() + seconds * 1000
    while sim.clock.ticks_ms() < deadline:
        pkt = lk.receive(500)
        if pkt is None:
            continue
        data = bytes(pkt)
        if data == b"end":
            break
        entry = {"hex": data.hex(), "rssi": pkt.rssi, "snr": pkt.snr}
        try:
            f = frames.decode(data)
            entry["node"], entry["seq"], entry["values"] = f.node, f.seq, f.values()
            entry["record"] = framing.radio_record(data, pkt.rssi, pkt.snr / 4).hex()
        except frames.FrameError as e:
            entry["error"] = e.reason
        heard.append(entry)
    lk.sleep()
    emit("heard", packets=heard)


def send():
    m = modem()
    sent = [link(m).send(reading(1))]  # heard
    sent.append(link(m, sf=10).send(reading(2)))  # another SF: not heard
    sent.append(link(m, freq=868_300_000).send(reading(3)))  # another channel
    sent.append(link(m).send(reading(4)))  # heard
    sent.append(link(m).send(b"end"))
    emit("sent", sent=sent, on_air=m.sent)


sim.clock.skip(10_000_000)  # the limiter's clock well past 0
sim.lora.ether(int(sys.argv[2]))
if sys.argv[1] == "local":
    local()
elif sys.argv[1] == "listen":
    listen(int(sys.argv[3]))
else:
    send()
