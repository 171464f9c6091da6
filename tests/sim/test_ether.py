"""The sim ether (sim/ether.py, sim/ether_hub.py, sim/ether_physics.py).

The physics rules are held first on their own, in this process; then the hub
runs as its own CPython process and scripted radios as processes under the
MicroPython unix port and CPython share the air through it: matching and
mismatching settings, timing by time on air, range, collisions and capture,
and the share of bad CRCs, reproducible with a seed.
"""

import json
import math
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sim import ether
from sim.ether_hub import Hub
from sim.ether_physics import (
    SENSITIVITY_DBM,
    SNR_LIMIT_DB,
    Physics,
    Transmission,
    free_space_loss_db,
    log_distance_loss_db,
    noise_floor_dbm,
    sensitivity_dbm,
    unit,
)
from tests.support.ether import HubProcess, Radio, mod, now_us
from tests.support.tools import FIRMWARE, ROOT, find_tool

# -- the physics, in this process --------------------------------------------

M7 = ether.mod(sf=7)


def tx(sender: str, start: int, power: float = 14, m: Any = M7, n: int = 0) -> Transmission:
    payload = b"x" * 10
    end = start + ether.time_on_air_us(m, len(payload))
    return Transmission(sender, n, m, payload, power, start, end)


def test_sensitivity_is_the_datasheet_table_and_the_snr_limit_elsewhere() -> None:
    assert sensitivity_dbm(7, 125_000) == -123
    assert sensitivity_dbm(12, 125_000) == -136
    assert sensitivity_dbm(12, 250_000) == -133
    assert sensitivity_dbm(7, 500_000) == -116
    assert SNR_LIMIT_DB[7 - 6] == -7.5 and SNR_LIMIT_DB[12 - 6] == -20
    # 62.5 kHz is not in the table: noise floor + the demodulator's limit.
    floor = -174 + 10 * math.log10(62_500) + 6
    assert sensitivity_dbm(12, 62_500) == pytest.approx(floor - 20)
    # The table and the noise model agree within 3 dB for SF7..SF12 (SF6,
    # the implicit-header-only mode, is 4 to 5 dB less sensitive than it).
    for d, row in SENSITIVITY_DBM.items():
        for sf, s in zip(range(7, 13), row[1:], strict=True):
            model = noise_floor_dbm(500_000 / d) + SNR_LIMIT_DB[sf - 6]
            assert abs(model - s) <= 3, (d, sf)


def test_path_loss_models() -> None:
    assert free_space_loss_db(1, 868e6) == pytest.approx(31.22, abs=0.01)
    # log-distance, n = 3 from 1 m: 30 dB per decade.
    assert log_distance_loss_db(1000, 868e6, 3.0) == pytest.approx(31.22 + 90, abs=0.01)
    # LoRaSim's parameters (Bor et al. 2016).
    assert log_distance_loss_db(40, 868e6, 2.08, 40, 127.41) == pytest.approx(127.41)
    p = Physics({"radios": {"a": {"position": [0, 0]}, "b": {"position": [300, 400]}}})
    assert p.loss_db("a", "b", 868e6) == pytest.approx(31.22 + 30 * math.log10(500), abs=0.01)
    p.link("a", "b", loss_db=120)
    assert p.loss_db("b", "a", 868e6) == 120
    p.link("a", "b", distance_m=10)
    assert p.loss_db("a", "b", 868e6) == pytest.approx(61.22, abs=0.01)
    assert p.loss_db("a", "nobody", 868e6) == p.default_loss_db
    # A radio's own loss serves its links with no other setting; two add up.
    p.configure({"radios": {"node": {"loss_db": 111}, "wall": {"loss_db": 20}}})
    assert p.loss_db("node", "nobody", 868e6) == 111
    assert p.loss_db("wall", "node", 868e6) == 131
    assert p.loss_db("node", "a", 868e6) == 111  # a's position alone is no distance


def test_hash_draws_are_the_same_on_micropython(
    micropython: Callable[..., str], tmp_path: Path
) -> None:
    script = tmp_path / "mp_unit.py"
    script.write_text(
        "from sim.ether_physics import unit\n"
        "print(repr([unit('%d/a/%d/b' % (s, n)) for s in (0, 7) for n in range(5)]))\n"
    )
    on_mp = micropython(script).strip()
    here = [unit(f"{s}/a/{n}/b") for s in (0, 7) for n in range(5)]
    assert [float(x) for x in on_mp.strip("[]").split(",")] == pytest.approx(here, abs=1e-12)
    assert all(0 <= u < 1 for u in here) and len(set(here)) == len(here)


def test_capture_needs_six_db_over_the_rest() -> None:
    p = Physics(
        {"links": [{"a": "a", "b": "rx", "loss_db": 100}, {"a": "b", "b": "rx", "loss_db": 100}]}
    )
    first, second = tx("a", 0), tx("b", 5000)
    # Equal power: the receiver stays locked on the first, which fails its CRC.
    code, heard = p.outcome(first, "rx", [second])
    assert code == "collision" and heard is not None and not heard.crc_ok
    assert heard.payload != first.payload and len(heard.payload) == len(first.payload)
    assert p.outcome(second, "rx", [first]) == ("lost", None)
    # 6 dB exactly is enough; 5.9 is not.
    p.link("b", "rx", loss_db=94)
    code, heard = p.outcome(second, "rx", [first])
    assert code == "captured" and heard is not None and heard.crc_ok
    assert heard.payload == second.payload
    assert p.outcome(first, "rx", [second]) == ("lost", None)
    p.link("b", "rx", loss_db=94.1)
    assert p.outcome(second, "rx", [first]) == ("lost", None)
    assert p.outcome(first, "rx", [second])[0] == "collision"
    # Two interferers add up: each 7 dB below is not 6 dB below both together.
    p.link("b", "rx", loss_db=107)
    p.link("c", "rx", loss_db=107)
    third = tx("c", 2000)
    assert p.outcome(first, "rx", [second, third])[0] == "collision"
    p.link("c", "rx", loss_db=120)
    assert p.outcome(first, "rx", [second, third])[0] == "captured"


def test_only_the_same_channel_collides_and_only_in_time() -> None:
    p = Physics()
    a = tx("a", 0)
    other_sf = tx("b", 1000, m=ether.mod(sf=8))
    other_freq = tx("c", 1000, m=ether.mod(freq_hz=868_300_000))
    later = tx("d", a.end_us)  # starts as a ends: no overlap
    assert p.outcome(a, "rx", [other_sf, other_freq, later])[0] == "heard"
    # A different sync word still occupies the channel.
    other_sync = tx("e", 1000, m=ether.mod(sync_word=0x34))
    assert p.outcome(a, "rx", [other_sync])[0] == "collision"


def test_weak_packets_are_not_heard() -> None:
    p = Physics({"links": [{"a": "a", "b": "rx", "loss_db": 137}]})
    code, heard = p.outcome(tx("a", 0), "rx", [])  # 14 - 137 = -123: the limit
    assert code == "heard" and heard is not None
    assert heard.rssi_dbm == -123 and heard.snr_db == pytest.approx(-123 - noise_floor_dbm(125e3))
    p.link("a", "rx", loss_db=137.5)
    assert p.outcome(tx("a", 0), "rx", []) == ("weak", None)
    # SF12 reaches 13 dB further.
    assert p.outcome(tx("a", 0, m=ether.mod(sf=12)), "rx", [])[0] == "heard"


def test_a_packet_without_crc_takes_its_damage_unnoticed() -> None:
    p = Physics({"bad_crc": 1.0})
    code, heard = p.outcome(tx("a", 0, m=ether.mod(crc_on=False)), "rx", [])
    assert code == "bad-crc" and heard is not None and heard.crc_ok
    assert heard.payload != b"x" * 10


def test_decodes_compares_what_a_receiver_must_match() -> None:
    assert ether.decodes(M7, ether.mod(sync_word=0x1424), 10)  # the SX126x's form of 0x12
    # Each chip's synthesiser step rounds the frequency its own way: 868.1 MHz
    # on an SX1276 is Frf = 14222950 steps of 32 MHz / 2^19.
    sx1276_hz = 14222950 * 32_000_000 // (1 << 19)
    assert sx1276_hz != 868_100_000 and ether.decodes(M7, ether.mod(freq_hz=sx1276_hz), 10)
    assert ether.decodes(M7, ether.mod(freq_hz=868_100_000 + 31_250), 10)  # BW / 4
    assert not ether.decodes(M7, ether.mod(freq_hz=868_100_000 + 31_251), 10)
    assert ether.decodes(M7, ether.mod(bw_hz=125_000.0, preamble=12, cr=8), 10)
    for changed in (
        {"freq_hz": 868_300_000},
        {"sf": 8},
        {"bw_hz": 250_000},
        {"sync_word": 0x34},
        {"invert_iq": True},
        {"implicit_header": True, "payload_len": 10},
    ):
        assert not ether.decodes(M7, ether.mod(**changed), 10), changed
    implicit = ether.mod(implicit_header=True, payload_len=10)
    assert ether.decodes(implicit, implicit, 10)
    assert not ether.decodes(implicit, implicit, 11)
    assert not ether.decodes(implicit, ether.mod(implicit_header=True, payload_len=10, cr=6), 10)


class FakeClock:
    def __init__(self) -> None:
        self.now = 5_000_000_000

    def __call__(self) -> int:
        return self.now


def test_the_hub_remembers_what_overlaps_a_long_packet(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long packet outlives many short ones: the short one that overlapped
    its start is still there to collide with it when it ends."""
    clock = FakeClock()
    monkeypatch.setattr(ether, "_ticks_us", clock)
    hub = Hub(Physics())
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(1)
    addr = {"long": ("127.0.0.1", 1), "short": ("127.0.0.1", 2), "busy": ("127.0.0.1", 3)}
    try:
        for name, a in addr.items():
            hub._hello(a, {"name": name})
        hub._hello(rx.getsockname(), {"name": "rx"})
        rx.recv(100)  # its welcome
        for a in addr.values():
            hub._sender.pop(a, None)

        def send(kind: bytes, a: Any, body: bytes) -> None:
            ts = struct.pack("<I", clock.now & ether.TS_MASK)
            hub._handle(kind + ts + body, a)

        sf12, sf7 = ether.mod(sf=12), ether.mod(sf=7, freq_hz=868_300_000)
        send(b"L", rx.getsockname(), ether.pack_mod(sf12))
        clock.now += 1000
        send(b"T", addr["long"], ether.pack_mod(sf12) + b"\x0e" + b"L" * 40)
        long_end = clock.now + ether.time_on_air_us(sf12, 40)  # about 2.5 s
        clock.now += 10_000
        send(b"T", addr["short"], ether.pack_mod(sf12) + b"\x0e" + b"S")  # at its start
        while clock.now < long_end + 2000:
            clock.now += 50_000
            send(b"T", addr["busy"], ether.pack_mod(sf7) + b"\x0e" + b"B")
            hub._settle(clock.now)
        outcomes = {e["from"]: e["event"] for e in hub.events if e.get("to") == "rx"}
        assert outcomes == {"long": "collision", "short": "lost"}
        heard = rx.recv(100)
        assert heard[0] == ord("P") and not heard[13] & 1  # crc_ok False
    finally:
        rx.close()
        hub.close()


# -- LoopbackAntenna, for the chip models' tests -------------------------------


def test_loopback_delivers_at_the_end_of_the_packet() -> None:
    a = ether.LoopbackAntenna()
    b = ether.LoopbackAntenna(a)
    c = ether.LoopbackAntenna(a)
    b.listen(M7)
    c.listen(ether.mod(sf=8))
    toa = a.transmit(M7, b"hello", 14)
    assert toa == ether.time_on_air_us(M7, 5)
    assert b.poll() is None
    time.sleep(toa / 1e6 + 0.002)
    heard = b.poll()
    assert heard is not None and heard.payload == b"hello" and heard.crc_ok
    assert (heard.rssi_dbm, heard.snr_db) == (-60.0, 9.5)
    assert b.poll() is None and c.poll() is None
    # Per packet: a bad CRC, then the defaults again.
    b.next_packet(rssi_dbm=-110, snr_db=-3, crc_ok=False)
    a.transmit(M7, b"one", 14)
    time.sleep(toa / 1e6)
    a.transmit(M7, b"two", 14)
    time.sleep(toa / 1e6 + 0.002)
    one, two = b.poll(), b.poll()
    assert one is not None and two is not None
    assert (one.rssi_dbm, one.snr_db, one.crc_ok) == (-110, -3, False) and one.payload != b"one"
    assert (two.payload, two.crc_ok) == (b"two", True)


def test_loopback_receiver_must_listen_for_the_whole_packet() -> None:
    a = ether.LoopbackAntenna()
    b = ether.LoopbackAntenna(a)
    b.listen(M7)
    toa = a.transmit(M7, b"cut", 14)
    b.listen(None)  # stops before the end
    b.listen(M7)
    time.sleep(toa / 1e6 + 0.002)
    assert b.poll() is None
    # A packet that ended while listening is kept past a later listen(None).
    a.transmit(M7, b"kept", 14)
    time.sleep(toa / 1e6 + 0.002)
    b.listen(None)
    kept = b.poll()
    assert kept is not None and kept.payload == b"kept"
    # inject: a packet from no transmitter, ended at once.
    b.listen(M7)
    b.inject(b"from nowhere", toa_us=0)
    got = b.poll()
    assert got is not None and got.payload == b"from nowhere"


# -- the hub and radios in their own processes --------------------------------


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    h = HubProcess("--seed", "1", log=tmp_path / "ether.jsonl")
    yield h
    h.stop()


@pytest.fixture
def radios(hub: HubProcess) -> Iterator[Callable[..., Radio]]:
    made: list[Radio] = []

    def make(name: str, **kw: Any) -> Radio:
        r = Radio(hub, name, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def toa_us(m: list[Any], n: int) -> int:
    return int(ether.time_on_air_us(tuple(m), n))


def test_settings_must_match_to_be_heard(hub: HubProcess, radios: Callable[..., Radio]) -> None:
    rx = radios("rx")  # MicroPython
    sender = radios("tx", micropython=False)  # CPython
    m = mod(sf=7)
    rx.listen(m)
    variants = [
        mod(freq_hz=868_300_000),
        mod(sf=8),
        mod(bw_hz=250_000),
        mod(sync_word=0x34),
        mod(invert_iq=True),
        mod(implicit_header=True, payload_len=4),
    ]
    for i, v in enumerate(variants):
        sender.transmit(v, b"no%02d" % i)
        time.sleep(toa_us(v, 4) / 1e6 + 0.003)
    sender.transmit(m, b"yes!")
    sender_sx126x = mod(sync_word=0x1424)  # the same sync word in the SX126x's form
    time.sleep(toa_us(m, 4) / 1e6 + 0.003)
    sender.transmit(sender_sx126x, b"126x")
    heard = rx.collect(ms=int(toa_us(m, 4) / 1000) + 300)
    assert [h["payload"] for h in heard] == [b"yes!", b"126x"]
    assert all(h["crc_ok"] and h["header_ok"] for h in heard)
    # The default loss (90 dB) from 14 dBm; SNR over the 125 kHz noise floor.
    assert heard[0]["rssi_dbm"] == -76
    assert heard[0]["snr_db"] == pytest.approx(-76 - noise_floor_dbm(125_000), abs=1e-3)
    stats = hub.control(stats=True)
    assert stats["sent"] == {"tx": 8} and stats["outcomes"] == {"rx": {"heard": 2}}


def test_heard_when_it_ends_by_a_radio_listening_throughout(
    hub: HubProcess, radios: Callable[..., Radio]
) -> None:
    m = mod(sf=9)
    toa = toa_us(m, 12)  # about 185 ms
    whole, late, leaves, deaf = (radios(n) for n in ("whole", "late", "leaves", "deaf"))
    sender = radios("tx", micropython=False)
    t0 = now_us() + 300_000
    for r in (whole, leaves):
        r.listen(m)
    deaf.listen(None)
    late.send(op="listen", mod=m, at_us=t0 + toa // 2)  # misses the preamble
    leaves.send(op="listen", mod=None, at_us=t0 + toa // 2)  # gone before the end
    sent = sender.transmit(m, b"twelve bytes", at_us=t0)
    late.result()
    leaves.result()
    assert sent["toa"] == toa
    [h] = whole.collect(ms=toa // 1000 + 300)
    assert h["payload"] == b"twelve bytes"
    # Heard at its end: the hub puts it toa after the sender's stamp.
    assert h["end_us"] == sent["ts"] + toa or abs(h["end_us"] - (sent["ts"] + toa)) < 200
    assert 0 <= h["got_us"] - h["end_us"] < 100_000
    for r in (late, leaves, deaf):
        assert r.collect(ms=50) == []


def test_range_by_distance_and_by_link_loss(hub: HubProcess, radios: Callable[..., Radio]) -> None:
    # n = 3 from 1 m: SF7 (-123 dBm) reaches 10^((14 + 123 - 31.2) / 30) = 3.36 km
    # at 14 dBm, SF10 (-132 dBm) 6.7 km.
    sender = radios("tx", micropython=False, position=[0, 0])
    near = radios("near", position=[1000, 0])
    far = radios("far", position=[0, 5000])
    fixed = radios("fixed")
    hub.configure(links=[{"a": "tx", "b": "fixed", "loss_db": 140}])
    sf7, sf10 = mod(sf=7), mod(sf=10)
    for r in (near, far, fixed):
        r.listen(sf7)
    sender.transmit(sf7, b"sf7")
    time.sleep(toa_us(sf7, 3) / 1e6 + 0.01)
    assert [h["payload"] for h in near.collect(ms=100)] == [b"sf7"]
    assert far.collect(ms=50) == [] and fixed.collect(ms=50) == []
    for r in (near, far, fixed):
        r.listen(sf10)
    sender.transmit(sf10, b"sf10")
    time.sleep(toa_us(sf10, 4) / 1e6 + 0.01)
    [h] = far.collect(ms=100)
    assert h["payload"] == b"sf10"
    assert h["rssi_dbm"] == pytest.approx(14 - 31.22 - 30 * math.log10(5000), abs=0.01)
    assert [x["payload"] for x in near.collect(ms=100)] == [b"sf10"]
    [h] = fixed.collect(ms=100)  # 14 - 140 = -126: above SF10's -132
    assert h["rssi_dbm"] == -126
    hub.configure(links=[{"a": "tx", "b": "fixed", "loss_db": 147}])  # -133: below
    sender.transmit(sf10, b"gone")
    time.sleep(toa_us(sf10, 4) / 1e6 + 0.01)
    assert fixed.collect(ms=100) == []
    assert hub.control(stats=True)["outcomes"]["fixed"] == {"weak": 2, "heard": 1}


@pytest.mark.parametrize(
    ("loss_a", "loss_b", "expect_a", "expect_b"),
    [
        (100, 100, "collision", "lost"),  # equal: locked on a, whose CRC fails
        (100, 97, "collision", "lost"),  # b 3 dB stronger: not enough
        (100, 90, "lost", "captured"),  # b 10 dB stronger: b survives though later
        (90, 100, "captured", "lost"),
    ],
)
def test_overlapping_packets_collide_and_the_stronger_captures(
    hub: HubProcess,
    radios: Callable[..., Radio],
    loss_a: int,
    loss_b: int,
    expect_a: str,
    expect_b: str,
) -> None:
    a = radios("a", micropython=False)
    b = radios("b")
    rx = radios("rx")
    hub.configure(
        links=[{"a": "a", "b": "rx", "loss_db": loss_a}, {"a": "b", "b": "rx", "loss_db": loss_b}]
    )
    m = mod(sf=9)
    toa = toa_us(m, 8)
    rx.listen(m)
    t0 = now_us() + 300_000
    a.send(op="transmit", mod=m, payload=b"packet-a".hex(), power=14, at_us=t0)
    b.send(op="transmit", mod=m, payload=b"packet-b".hex(), power=14, at_us=t0 + toa // 3)
    a.result()
    b.result()
    heard = rx.collect(ms=(t0 + 2 * toa - now_us()) // 1000 + 200)
    outcomes = {e["from"]: e["event"] for e in hub.events() if e.get("to") == "rx"}
    assert outcomes == {"a": expect_a, "b": expect_b}
    assert len(heard) == 1  # one radio, one packet at a time
    [h] = heard
    if "captured" in (expect_a, expect_b):
        winner = b"packet-a" if expect_a == "captured" else b"packet-b"
        assert h["payload"] == winner and h["crc_ok"]
    else:
        assert not h["crc_ok"] and h["payload"] != b"packet-a" and len(h["payload"]) == 8


def test_packets_apart_in_time_or_spreading_factor_do_not_collide(
    hub: HubProcess, radios: Callable[..., Radio]
) -> None:
    a = radios("a", micropython=False)
    b = radios("b")
    rx7, rx8 = radios("rx7"), radios("rx8", micropython=False)
    m7, m8 = mod(sf=7), mod(sf=8)
    rx7.listen(m7)
    rx8.listen(m8)
    t0 = now_us() + 300_000
    a.send(op="transmit", mod=m7, payload=b"seven".hex(), at_us=t0)
    b.send(op="transmit", mod=m8, payload=b"eight".hex(), at_us=t0 + 1000)
    a.result()
    b.result()
    assert [h["payload"] for h in rx7.collect(ms=400, most=1)] == [b"seven"]
    assert [h["payload"] for h in rx8.collect(ms=400, most=1)] == [b"eight"]
    # Back to back on one channel: both intact.
    t1 = now_us() + 200_000
    a.send(op="transmit", mod=m7, payload=b"first".hex(), at_us=t1)
    b.send(op="transmit", mod=m7, payload=b"after".hex(), at_us=t1 + toa_us(m7, 5) + 2000)
    a.result()
    b.result()
    heard = rx7.collect(ms=500, most=2)
    assert [(h["payload"], h["crc_ok"]) for h in heard] == [(b"first", True), (b"after", True)]


def test_a_radio_sends_one_packet_at_a_time(hub: HubProcess, radios: Callable[..., Radio]) -> None:
    sender = radios("tx", micropython=False)
    rx = radios("rx")
    m = mod(sf=9)
    rx.listen(m)
    t0 = now_us() + 200_000
    sender.transmit(m, b"cut short", at_us=t0)
    sender.transmit(m, b"instead", at_us=t0 + 20_000)
    assert [h["payload"] for h in rx.collect(ms=600, most=2)] == [b"instead"]
    assert hub.control(stats=True)["outcomes"]["rx"] == {"aborted": 1, "heard": 1}


def bad_crc_run(hub: HubProcess, radios: Callable[..., Radio], seed: int, count: int) -> list[int]:
    """count packets from a MicroPython radio to a CPython one; the numbers of
    those that arrived with a bad CRC."""
    hub.control(reset=True, configure={"seed": seed, "bad_crc": 0.1})
    sender = radios(f"tx{seed}")
    rx = radios(f"rx{seed}", micropython=False)
    # SF7 at 500 kHz, a short preamble: about 8 ms a packet.
    m = mod(sf=7, bw_hz=500_000, preamble=6)
    rx.listen(m)
    sender.send(op="send_many", mod=m, count=count, gap_us=1500)
    heard = rx.collect(ms=count * 20 + 2000, most=count)
    sender.result()
    sender.close()
    rx.close()
    assert len(heard) == count, "every packet is heard, good or bad"
    bad = []
    for i, h in enumerate(heard):
        original = bytes([i >> 8, i & 0xFF]) + b"meteolink"
        if h["crc_ok"]:
            assert h["payload"] == original
        else:
            assert h["payload"] != original and len(h["payload"]) == len(original)
            bad.append(i)
    events = [e["n"] for e in hub.events() if e["event"] == "bad-crc"]
    assert events == bad
    return bad


def test_the_bad_crc_share_is_reproducible_with_a_seed(
    hub: HubProcess, radios: Callable[..., Radio]
) -> None:
    # The names are part of each draw: the same seed and names, the same packets.
    count = 300
    first = bad_crc_run(hub, radios, 7, count)
    hub.control(reset=True)
    again = bad_crc_run(hub, radios, 7, count)
    assert first == again
    # 10 % of 300: 30, binomial sd 5.2.
    assert 15 <= len(first) <= 45, len(first)
    other = bad_crc_run(hub, radios, 8, count)
    assert other != first and 15 <= len(other) <= 45


def test_a_malformed_datagram_does_not_stop_the_hub(
    hub: HubProcess, radios: Callable[..., Radio]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for junk in (b"T", b"L\x00", b"Cnot json", b"H{"):
            s.sendto(junk, ("127.0.0.1", hub.port))
    rx = radios("rx")
    sender = radios("tx", micropython=False)
    rx.listen(mod())
    sender.transmit(mod(), b"still here")
    assert [h["payload"] for h in rx.collect(ms=500, most=1)] == [b"still here"]
    assert hub.errors().count("sim ether hub: datagram") == 3  # C is answered with an error


def test_the_world_file_names_and_places_a_radio(
    hub: HubProcess, radios: Callable[..., Radio], tmp_path: Path
) -> None:
    world = tmp_path / "world.json"
    radio = {"ether": hub.address, "name": "node-7", "position": [3000, 4000], "loss_db": 111}
    world.write_text(json.dumps({"radio": radio}))
    r = Radio(hub, "", env={"METEOLINK_SIM": str(world)})
    try:
        assert r.name == "node-7"
        assert hub.control(loss=["node-7", "origin", 868e6])["loss_db"] == 111  # no origin yet
        hub.configure(radios={"origin": {"position": [0, 0]}})
        loss = hub.control(loss=["node-7", "origin", 868e6])["loss_db"]
        assert loss == pytest.approx(31.22 + 30 * math.log10(5000), abs=0.01)
    finally:
        r.close()


def test_no_hub_is_a_clear_error(micropython: Callable[..., str], tmp_path: Path) -> None:
    script = tmp_path / "mp_nohub.py"
    script.write_text(
        "from sim import ether\n"
        "try:\n"
        "    ether.Antenna('127.0.0.1:9', timeout_ms=300)\n"
        "except OSError as e:\n"
        "    print(e)\n"
    )
    out = micropython(script)
    assert "no hub answers at 127.0.0.1:9" in out and "python -m sim.ether_hub" in out


def test_the_hub_runs_under_micropython_too() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # MicroPython's socket cannot say which it got
    env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:{ROOT}")
    proc = subprocess.Popen(
        [find_tool("micropython"), "-m", "sim.ether_hub", "--port", str(port), "--bad-crc", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"sim ether hub on 127.0.0.1:{port}"
        a = ether.Antenna(port, name="a")
        b = ether.Antenna(port, name="b")
        b.listen(M7)
        toa = a.transmit(M7, b"on micropython", 14)
        assert b.wait(toa // 1000 + 500)
        heard = b.poll()
        assert heard is not None and not heard.crc_ok and heard.rssi_dbm == -76
        stats = ether.control({"stats": True}, port)
        assert stats["outcomes"] == {"b": {"bad-crc": 1}}
        a.close()
        b.close()
    finally:
        proc.terminate()
        proc.communicate(timeout=5)


def test_the_hub_command_line(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sim.ether_hub", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "python -m sim.ether_hub" in out
    bad = subprocess.run(
        [sys.executable, "-m", "sim.ether_hub", "--frobnicate", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "unknown option --frobnicate" in bad.stdout
    config = tmp_path / "ether.json"
    config.write_text(json.dumps({"bad_crc": 0.25, "links": [{"a": "x", "b": "y", "loss_db": 77}]}))
    h = HubProcess("--config", str(config))
    try:
        assert h.control(loss=["y", "x", 868e6])["loss_db"] == 77
    finally:
        h.stop()
