"""Serial framing: COBS records between zero bytes, and resynchronisation."""

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meteolink.firmware import frames, framing
from meteolink.firmware.frames import FrameError
from tests.support.tools import VECTORS

SERIAL = [v for v in VECTORS["valid"] if "serial" in v]


@pytest.mark.parametrize("vector", SERIAL, ids=[v["name"] for v in SERIAL])
def test_serial_vector_is_the_frame_on_the_wire(vector: dict[str, Any]) -> None:
    wire = framing.cobs_encode(bytes.fromhex(vector["hex"]))
    assert wire.hex() == vector["serial"]
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]


@given(st.binary(max_size=700))
def test_cobs_round_trip(data: bytes) -> None:
    wire = framing.cobs_encode(data)
    assert 0 not in wire[1:-1]
    assert framing.cobs_decode(wire[1:-1]) == data


@pytest.mark.parametrize("n", [253, 254, 255, 508, 509])
def test_cobs_round_trip_across_block_boundaries(n: int) -> None:
    data = bytes(range(1, 256)) * 2
    assert framing.cobs_decode(framing.cobs_encode(data[:n])[1:-1]) == data[:n]


def _stream_frames(count: int) -> list[bytes]:
    return [
        frames.encode(1 + i % 3, i, {"temperature": i / 10, "battery": 3.3}) for i in range(count)
    ]


@given(
    st.lists(st.binary(max_size=60), min_size=8, max_size=8),
    st.lists(st.integers(1, 64), min_size=1, max_size=20),
)
def test_every_intact_frame_survives_garbage_between_frames(
    garbage: list[bytes], chunks: list[int]
) -> None:
    sent = _stream_frames(8)
    stream = b"".join(g + framing.cobs_encode(f) for g, f in zip(garbage, sent, strict=True))
    deframer = framing.Deframer()
    got = []
    pos = 0
    i = 0
    while pos < len(stream):
        size = chunks[i % len(chunks)]
        for record in deframer.feed(stream[pos : pos + size]):
            if isinstance(record, bytes):
                try:
                    frames.decode(record)
                except FrameError:
                    continue
                got.append(record)
        pos += size
        i += 1
    assert got == sent


def test_a_cut_frame_is_reported_and_the_next_one_decodes() -> None:
    a, b = _stream_frames(2)
    wire_a = framing.cobs_encode(a)
    stream = wire_a[: len(wire_a) // 2] + framing.cobs_encode(b)
    out = framing.Deframer().feed(stream)
    assert len(out) == 2
    bad, good = out
    assert isinstance(good, bytes) and good == b
    with pytest.raises(FrameError):
        if isinstance(bad, FrameError):
            raise bad
        frames.decode(bad)


def test_a_flood_without_delimiters_is_dropped_with_bounded_memory() -> None:
    rng = random.Random(7)
    deframer = framing.Deframer()
    errors = []
    for _ in range(200):
        chunk = bytes(rng.randint(1, 255) for _ in range(1000))
        errors += deframer.feed(chunk)
        assert deframer.pending() <= framing.MAX_ENCODED
    assert len(errors) == 1 and isinstance(errors[0], FrameError)
    assert errors[0].reason == "overflow"
    frame = _stream_frames(1)[0]
    assert deframer.feed(framing.cobs_encode(frame)) == [frame]


def test_a_zero_inside_a_block_is_malformed_cobs() -> None:
    with pytest.raises(FrameError) as err:
        framing.cobs_decode(b"\x05ab")
    assert err.value.reason == "cobs"


@given(st.integers(-32768, 32767), st.integers(-128, 127))
def test_radio_record_round_trip(rssi: int, snr_quarters: int) -> None:
    frame = _stream_frames(1)[0]
    record = framing.radio_record(frame, rssi, snr_quarters / 4)
    assert framing.split_record(record) == (frame, rssi, snr_quarters / 4)


def test_a_bare_frame_has_no_radio_metadata() -> None:
    frame = _stream_frames(1)[0]
    assert framing.split_record(frame) == (frame, None, None)
