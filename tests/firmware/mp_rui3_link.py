# Runs under the MicroPython unix port (tests/firmware/test_rui3_link.py): drives
# firmware/rui3_link.py against the sim's emulated RUI3 modem (sim/rui3.py) and
# prints one JSON line per case for pytest to check.
import frames
from rui3_link import Rui3Link

from sim.rui3 import Rui3Modem
from sim.uart import UART
from tests.firmware.mp_support import emit

KEY = bytes(range(16))
WEATHER = {"temperature": -3.5, "humidity": 91.0, "pressure": 1012.3, "battery": 3.9}


def line_to(modem):
    return UART(modem, baudrate=115200)


def case_join():
    modem = Rui3Modem(dr=5)
    link = Rui3Link(line_to(modem))
    before = link.joined()
    ok = link.join()
    emit("join", before=before, ok=ok, after=link.joined(), commands=modem.commands)


def case_join_fails():
    modem = Rui3Modem(network=False)
    link = Rui3Link(line_to(modem))
    ok = link.join(8000)
    emit("join_fails", ok=ok, last=link.last)


def case_send():
    modem = Rui3Modem(joined=True, dr=5)
    uart = line_to(modem)
    link = Rui3Link(uart, fport=10)
    frame = frames.encode(12, 1, WEATHER, KEY, 0)
    ok = link.send(frame)
    second = link.send(frames.encode(12, 2, WEATHER, KEY, 0))
    emit(
        "send",
        ok=ok,
        second=second,
        frame=frame.hex(),
        uplinks=[[p, d.hex()] for p, d in modem.uplinks],
        written=bytes(uart.written).decode(),
        last=link.last,
        acked=link.poll_ack(12, 1, None, 100),
    )


def case_confirmed():
    results = []
    for network in (True, False):
        modem = Rui3Modem(joined=True, network=network, dr=5)
        link = Rui3Link(line_to(modem), confirmed=True)
        ok = link.send(frames.encode(12, 1, WEATHER, KEY, 0))
        results.append([ok, link.last, link.dropped, modem.confirmed])
    emit("confirmed", results=results)


def case_refused():
    out = []
    modem = Rui3Modem(joined=False, dr=5)
    link = Rui3Link(line_to(modem))
    out.append([link.send(frames.encode(12, 1, WEATHER, KEY, 0)), link.last])
    # 26 fields, 68 bytes: more than DR0's 51 (RP002, EU863-870).
    every = {frames.field_name(fid): 1 for fid in range(26)}
    every.update(WEATHER)
    big = frames.encode(12, 2, every, KEY, 0)
    modem = Rui3Modem(joined=True, dr=0)
    link = Rui3Link(line_to(modem))
    out.append([link.send(big), link.last, len(big)])
    emit("refused", results=out, uplinks=len(modem.uplinks), dropped=link.dropped)


def case_silent():
    modem = Rui3Modem(joined=True, dr=5)
    modem.silent = True
    link = Rui3Link(line_to(modem))
    ok = link.send(frames.encode(12, 1, WEATHER, KEY, 0))
    emit("silent", ok=ok, last=link.last)


case_join()
case_join_fails()
case_send()
case_confirmed()
case_refused()
case_silent()
