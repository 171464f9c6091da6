# Runs under the MicroPython unix port (tests/firmware/test_lora_link.py): the
# firmware's lora_link on micropython-lib's real drivers (installed by mip)
# driving the register-level chip models (sim/sx127x.py, sim/sx126x.py) through
# the sim board's machine.SPI and machine.Pin, one JSON line per check.
#   mp_lora_link.py local                 radios in this process, on a LoopbackAntenna air
#   mp_lora_link.py listen HUB SECONDS    a bridge on the ether hub: what it hears until "end"
#   mp_lora_link.py send HUB              a node on the ether hub: sends readings, then "end"
#   mp_lora_link.py air HUB PLAN          nodes on the ether hub sending at given instants
import json
import sys
import time

import sim.machine  # the sim board's machine.Pin and SPI, before the driver imports them

# isort: split
import frames
import framing
from airtime import ldro_needed, symbols_x4
from dutycycle import DutyCycle
from lora_link import LoRaLink, make_modem

import sim.clock
from sim.ether import Antenna, LoopbackAntenna
from sim.sx126x import SX126x
from sim.sx127x import SX127x
from tests.firmware.mp_support import emit

G1 = 868_100_000
SX1276 = {
    "chip": "sx1276",
    "package": "lora-sx127x",
    "cs": 18,
    "reset": 14,
    "dio0": 26,
    "dio1": 35,
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
ROLES = (("cs", "nss"), ("reset", "reset"), ("dio0", "dio0"), ("dio1", "dio1"), ("busy", "busy"))
naps = []
_air = [None]
_gpio = [100]


def nap(ms):
    naps.append(ms)
    sim.clock.skip(ms)


def clock():
    return sim.clock.ticks_ms() // 1000


def modem(radio=SX1276, antenna=None):
    """The real driver on a chip model of its own, its pins on GPIOs of their
    own, on the in-process air (or the given antenna). .chip and .antenna
    are the model's."""
    if antenna is None:
        antenna = LoopbackAntenna(_air[0])
        if _air[0] is None:
            _air[0] = antenna
    if radio["chip"] == "sx1262":
        chip = SX126x(antenna, "sx1262", tcxo=bool(radio["dio3_tcxo_millivolts"]))
    else:
        chip = SX127x(antenna, radio["chip"])
    radio = dict(radio)
    for key, role in ROLES:
        if radio[key] is not None:
            radio[key] = _gpio[0]
            sim.machine.wire(_gpio[0], chip, role)
            _gpio[0] += 1
    m = make_modem(radio, sim.machine.SPI(0), sim.machine.Pin)
    m.chip = chip
    m.antenna = antenna
    return m


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
    """What a listening link (continuous receive) heard within ms, as hex."""
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < ms:
        pkt = lk.poll()
        if pkt is not None:
            return bytes(pkt).hex()
        time.sleep_ms(2)
    return None


def reading(seq):
    enc = frames.Encoder(7)
    enc.put(frames.TEMPERATURE, 21.5)
    enc.put(frames.HUMIDITY, 45.0)
    return enc.encode(seq)


BWS = (7.8, 10.4, 15.6, 20.8, 31.25, 41.7, 62.5, 125, 250, 500)


def airtime():
    """The link's airtime (airtime.py, integers) against each real driver's
    get_time_on_air_us(), for every SF and bandwidth, as configured by the link."""
    for radio in (SX1276, SX1262):
        m = modem(radio)
        pairs = []
        for sf in range(7, 13):
            for bw in BWS:
                lk = link(m, sf=sf, bw=bw, freq=868_300_000)
                for n in (0, 1, 13, 32, 255):
                    ours = symbols_x4(n, sf, 5, 8, True, True, ldro_needed(sf, bw))
                    driver = m.get_n_symbols_x4(n)
                    pairs.append(
                        [sf, bw, n, lk.airtime_us(n), m.get_time_on_air_us(n), ours, driver]
                    )
        emit("airtime_" + radio["chip"], pairs=pairs)


def race(radio):
    """The single-receive race of lora-sx126x: its poll_recv() reads the IRQ
    flags, then asks is_idle(); a packet that ends between the two has put
    a chip in single receive into standby, and the driver restarts the
    receive, clearing the packet's flags. is_idle() is wrapped so that the
    ack ends exactly there, the first time it is asked during a receive:
    the driver's recv() (the old ack wait) against LoRaLink's poll_ack()."""
    tx = link(modem(SX1276), sf=7)
    node = modem(radio)
    ln = link(node, sf=7)
    ack = frames.encode_ack(7, 5)
    orig = node.is_idle
    armed = [False]
    gaps = [0]

    def is_idle():
        if armed[0] and node._rx:
            armed[0] = False
            gaps[0] += 1
            tx.send(ack)  # blocks for its time on air: it ends here
            time.sleep_ms(2)
        return orig()

    node.is_idle = is_idle
    armed[0] = True
    old = node.recv(600, 0xFF, None)
    old_gaps = gaps[0]
    armed[0] = True
    new = ln.poll_ack(7, 5, None, 600)
    new_gaps = gaps[0] - old_gaps
    armed[0] = False
    node.is_idle = orig
    emit(
        "race_" + radio["chip"],
        old=bytes(old).hex() if old is not None else None,
        old_gaps=old_gaps,
        new=new,
        new_gaps=new_gaps,
        ack=ack.hex(),
        idle_after=node.is_idle(),
    )


def local():
    race(SX1262)
    race(SX1276)
    airtime()
    a, b, c = modem(), modem(), modem()
    la, lb = link(a), link(b)
    lc = link(c, sf=10)  # same frequency, another spreading factor
    lb.listen()
    lc.listen()

    b.antenna.rssi_dbm, b.antenna.snr_db = -97, 7.5
    frame = bytes(reading(1))
    t0 = time.ticks_ms()
    ok = la.send(frame)
    t1 = time.ticks_ms()
    got = None
    for _ in range(200):
        got = lb.poll()
        if got is not None:
            break
        time.sleep_ms(2)
    emit(
        "exchange",
        sent=ok,
        frame=frame.hex(),
        got=bytes(got).hex() if got else None,
        rssi=got.rssi if got else None,
        snr=got.snr if got else None,
        ms=time.ticks_diff(t1, t0),
        airtime_us=la.airtime_us(len(frame)),
        other_sf=hears(lc, 50),
        on_air=a.antenna.sent,
    )

    # The limiter full: send() returns False, counts, and nothing goes out.
    full = DutyCycle()
    now = clock()
    for _ in range(20):
        full.spend(G1, 1_800_000, now)
    blocked = link(a, limiter=full, max_wait_s=60)
    lb.listen()
    before = a.antenna.sent
    r = blocked.send(frame)
    emit(
        "blocked",
        sent=r,
        dropped=blocked.dropped,
        limiter_dropped=full.dropped,
        on_air=a.antenna.sent - before,
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
    before = a.antenna.sent
    sl = link(a, limiter=short, max_wait_s=600, nap=lambda ms: None)
    r = sl.send(frame)
    emit(
        "nap_short",
        sent=r,
        dropped=sl.dropped,
        on_air=a.antenna.sent - before,
        heard=hears(lb, 300),
    )

    # A damaged packet: the driver drops it and counts a CRC error, unless
    # asked to hand such packets over.
    b.antenna.next_packet(crc_ok=False)
    la.send(frame)
    dropped = hears(lb, 300)
    b.rx_crc_error = True
    b.antenna.next_packet(crc_ok=False)
    la.send(frame)
    handed = None
    for _ in range(150):
        handed = lb.poll()
        if handed is not None:
            break
        time.sleep_ms(2)
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
    ld.listen()
    la.send(b"hello")
    emit("sx1262", cls=type(d).__name__, got=hears(ld, 500))

    # The limiter's count survives deep sleep with its state.
    full2 = DutyCycle(full.dump())
    emit("dropped_kept", dropped=link(a, limiter=full2).dropped)

    class NoSync:  # `lora` with a chip package but without lora-sync
        pass

    sys.modules["lora_nosync"] = NoSync()
    # No chip behind the pins: nobody drives MISO, the bus reads 0xFF.
    absent = dict(SX1276, cs=999, reset=998, dio0=997, dio1=996)
    emit(
        "errors",
        missing=error(lambda: make_modem(SX1276, None, lambda n: n, module="lora_absent")),
        no_sync=error(lambda: make_modem(SX1262, None, lambda n: n, module="lora_nosync")),
        chip=error(lambda: make_modem(dict(SX1276, chip="rfm69"), None, lambda n: n)),
        ant_switch=error(lambda: make_modem(dict(SX1276, ant_switch=4), None, lambda n: n)),
        absent=error(lambda: make_modem(absent, sim.machine.SPI(0), sim.machine.Pin)),
        us915=error(lambda: link(a, freq=915_000_000)),
        eu433=error(lambda: link(a, freq=433_175_000)),
        edge=error(lambda: link(a, freq=868_550_000)),
        bw=error(lambda: link(a, bw=100)),
        hz=error(lambda: link(a, freq=868_100_500)),
    )

    # Continuous receive (the bridge): polled between packets, as the bridge
    # polls every 20 ms and a packet lasts 50 ms or more, every packet is
    # heard, in order, also after a send of its own (the driver resumes).
    lb.sleep()  # the driver reconfigures only a radio that is not receiving
    la, lb = link(a), link(b)
    la.listen()
    idle = la.poll()
    sent = []
    heard = []
    for seq in range(5):
        frame = bytes(reading(10 + seq))
        sent.append(frame.hex())
        lb.send(frame)
        got = hears(la, 500)
        if got is not None:
            heard.append(got)
        if seq == 2:
            la.send(bytes(reading(99)))  # an ack going out mid-stream
    la.sleep()
    emit("continuous", idle=idle, sent=sent, heard=heard, after_sleep=la.poll())


def listen(hub, seconds):
    # The bridge's way: continuous receive, polled.
    m = modem(antenna=Antenna(hub, name="bridge"))
    lk = link(m)
    lk.listen()
    print(json.dumps({"ready": True}))
    heard = []
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < seconds * 1000:
        pkt = lk.poll()
        if pkt is None:
            time.sleep_ms(5)
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


def send(hub):
    m = modem(antenna=Antenna(hub, name="node", loss_db=111))
    sent = [link(m).send(reading(1))]  # heard
    sent.append(link(m, sf=10).send(reading(2)))  # another SF: not heard
    sent.append(link(m, freq=868_300_000).send(reading(3)))  # another channel
    sent.append(link(m).send(reading(4)))  # heard
    sent.append(link(m).send(b"end"))
    emit("sent", sent=sent, on_air=m.antenna.sent)


def air(hub, plan):
    """Nodes on the ether hub, each sending one reading at a given instant.

    plan is JSON, [[radio name, node id, offset_us], ...] in order of offset;
    once every radio is up the script says {"ready": true} and reads a base
    time from stdin, CLOCK_MONOTONIC µs (the same in every process): each
    node sends at base + its offset, so two processes can send at once.
    SF7, 125 kHz, 868.1 MHz."""
    from sim import ether

    nodes = []
    for name, node, offset in json.loads(plan):
        m = modem(antenna=Antenna(hub, name=name))
        nodes.append((name, node, offset, link(m, sf=7)))
    print(json.dumps({"ready": True}))
    base = int(sys.stdin.readline())
    sent = []
    for name, node, offset, lk in nodes:
        enc = frames.Encoder(node)
        enc.put(frames.TEMPERATURE, 20.0 + node)
        frame = enc.encode(1)
        at = base + offset
        while True:
            left = at - ether._ticks_us()
            if left <= 0:
                break
            if left > 2000:
                time.sleep_ms(1)
        sent.append([name, lk.send(frame), ether._ticks_us() - at])
    emit("air", sent=sent)


sim.clock.skip(10_000_000)  # the limiter's clock well past 0
if sys.argv[1] == "local":
    local()
elif sys.argv[1] == "air":
    air(sys.argv[2], sys.argv[3])
elif sys.argv[1] == "listen":
    listen(sys.argv[2], int(sys.argv[3]))
else:
    send(sys.argv[2])
