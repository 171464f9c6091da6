# Runs under the MicroPython unix port in a sim node's flash directory
# (tests/sim/test_port_radio.py): the board file's radio through the sim
# board's port, spi() and pin(), under micropython-lib's real driver, as
# node.py builds it; a LoopbackAntenna beside it sends and hears.
import json

from sim import port

# isort: split
import time

from lora_link import make_modem

import sim.machine
from sim.ether import LoopbackAntenna, mod
from tests.firmware.mp_support import emit

port.antenna = LoopbackAntenna()
other = LoopbackAntenna(port.antenna)
with open("board.json") as f:
    board = json.load(f)
radio = board["radio"]
modem = make_modem(radio, port.spi(board["spi"]), port.pin, 14, module="lora")
chip = port.radio()
modem.configure(
    {
        "freq_khz": 868100,
        "sf": 7,
        "bw": "125",
        "coding_rate": 5,
        "preamble_len": 8,
        "implicit_header": False,
        "crc_en": True,
    }
)
air = mod(freq_hz=868_100_000, sf=7, bw_hz=125_000, cr=5, sync_word=0x12, preamble=8)

other.listen(air)
modem.send(b"from the board")
heard = other.poll()

modem.start_recv(timeout_ms=3000)
other.transmit(air, b"to the board", 14)
got = True
t0 = time.ticks_ms()
while got is True and time.ticks_diff(time.ticks_ms(), t0) < 3000:
    got = modem.poll_recv()
    time.sleep_ms(1)

wired = {}
for key in ("cs", "reset", "dio0", "dio1", "busy"):
    n = radio.get(key)
    if n is not None:
        c, role = sim.machine._wires[n]
        wired[key] = [n, role, c is chip]
emit(
    "radio",
    chip=type(chip).__name__,
    variant=chip.variant,
    tcxo=getattr(chip, "tcxo", None),
    driver=[type(modem).__name__] + [c.__name__ for c in type(modem).__bases__],
    wired=wired,
    heard=bytes(heard.payload).decode() if heard else None,
    got=bytes(got).decode() if got and got is not True else None,
    parts=sorted(port.parts),
)
