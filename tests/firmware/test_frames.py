"""The frame codec under CPython, against docs/frame-vectors.json."""

import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meteolink.firmware import frames
from meteolink.firmware.frames import EncodeError, FrameError, Truncated
from meteolink.tools.codec_cmd import frame_json
from tests.support.tools import VECTORS, key_of

VALID = VECTORS["valid"]
INVALID = VECTORS["invalid"]
NINE = (
    "temperature",
    "humidity",
    "pressure",
    "pm1",
    "pm2_5",
    "pm10",
    "co2",
    "voc_index",
    "battery",
)


def ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in vectors]


@pytest.mark.parametrize("vector", VALID, ids=ids(VALID))
def test_valid_vector_decodes_to_its_meaning(vector: dict[str, Any]) -> None:
    frame = frames.decode(bytes.fromhex(vector["hex"]), key_of(vector))
    assert frame_json(frame) == vector["json"]
    assert {frames.field_name(f): r for f, r in frame.fields} == vector["raw"]


# A frame whose MIC the decoder leaves unchecked has no key to encode it with.
ENCODABLE = [v for v in VALID if v["json"].get("mic") != "unchecked"]


@pytest.mark.parametrize("vector", ENCODABLE, ids=ids(ENCODABLE))
def test_valid_vector_encodes_to_its_bytes(vector: dict[str, Any]) -> None:
    meaning = vector["json"]
    key = key_of(vector)
    if "ack" in meaning["flags"]:
        data = frames.encode_ack(meaning["node"], meaning["seq"], key)
    else:
        enc = frames.Encoder(meaning["node"], key)
        for name, raw in vector["raw"].items():
            if name.startswith("field_"):
                with pytest.raises(EncodeError) as err:
                    enc.put_raw(int(name[6:]), raw)
                assert err.value.reason == "field"
                return
            enc.put_raw(frames.field_id(name), raw)
        flags = (frames.FLAG_ACK_REQUEST if "ack_request" in meaning["flags"] else 0) | (
            frames.FLAG_BOOT if "boot" in meaning["flags"] else 0
        )
        data = bytes(enc.encode(meaning["seq"], flags))
    assert data.hex() == vector["hex"]


@pytest.mark.parametrize("vector", INVALID, ids=ids(INVALID))
def test_invalid_vector_is_rejected_for_its_reason(vector: dict[str, Any]) -> None:
    with pytest.raises(FrameError) as err:
        frames.decode(bytes.fromhex(vector["hex"]), key_of(vector))
    assert err.value.reason == vector["reason"]


def test_crc_check_value_from_the_doc() -> None:
    check = int(VECTORS["crc"]["check"], 16)
    data = bytes.fromhex(VECTORS["crc"]["input"])
    assert frames.crc16_py(data, len(data)) == check
    assert frames.crc16(data, len(data)) == check
    assert frames.crc16 is not frames.crc16_py, "crcmod's C CRC should be in use on CPython"


@given(st.binary(max_size=200))
def test_crcmod_and_python_crc_agree(data: bytes) -> None:
    assert frames.crc16(data, len(data)) == frames.crc16_py(data, len(data))


@given(st.binary(min_size=16, max_size=16), st.binary(max_size=300))
def test_mic_is_hmac_sha256(key: bytes, data: bytes) -> None:
    assert frames.Key(key).mac(data) == hmac.new(key, data, hashlib.sha256).digest()


def test_hmac_vector() -> None:
    v = VECTORS["hmac"]
    assert frames.Key(bytes.fromhex(v["key"])).mac(bytes.fromhex(v["input"])).hex() == v["mac"]


def _flipped(data: bytes, *bits: int) -> bytes:
    out = bytearray(data)
    for bit in bits:
        out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


@pytest.mark.parametrize("vector", VALID, ids=ids(VALID))
def test_every_one_and_two_bit_corruption_is_rejected(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    key = key_of(vector)
    nbits = 8 * len(data)
    accepted = []
    for i in range(nbits):
        for j in range(i, nbits):
            bad = _flipped(data, i) if i == j else _flipped(data, i, j)
            try:
                frames.decode(bad, key)
            except FrameError:
                continue
            accepted.append((i, j))
    assert accepted == []


@pytest.mark.parametrize("vector", VALID, ids=ids(VALID))
def test_every_truncation_is_rejected(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    for n in range(len(data)):
        with pytest.raises(FrameError):
            frames.decode(data[:n], key_of(vector))


def test_a_frame_cut_short_says_truncated() -> None:
    data = bytes.fromhex(VALID[1]["hex"])
    with pytest.raises(Truncated) as err:
        frames.decode(data[:-1])
    assert err.value.need == len(data)


def _reading(draw: st.DrawFn, names: tuple[str, ...]) -> dict[str, int]:
    out = {}
    for name in names:
        spec = frames.FIELDS[frames.field_id(name)]
        out[name] = draw(st.integers(spec[4], spec[5]))
    return out


@st.composite
def nine_values(draw: st.DrawFn) -> dict[str, int]:
    return _reading(draw, NINE)


@given(nine_values(), st.integers(1, frames.MAX_NODE), st.integers(0, frames.MAX_SEQ))
def test_the_nine_value_set_fits_28_bytes_and_32_with_mic(
    raw: dict[str, int], node: int, seq: int
) -> None:
    for key, limit in ((None, 28), (bytes(range(16)), 32)):
        enc = frames.Encoder(node, key)
        for name, value in raw.items():
            enc.put_raw(frames.field_id(name), value)
        assert len(enc.encode(seq, frames.FLAG_ACK_REQUEST | frames.FLAG_BOOT)) <= limit


@st.composite
def any_reading(draw: st.DrawFn) -> dict[str, int]:
    names = draw(st.sets(st.sampled_from([f[0] for f in frames.FIELDS])))
    return _reading(draw, tuple(sorted(names)))


@given(
    any_reading(),
    st.integers(1, frames.MAX_NODE),
    st.integers(0, frames.MAX_SEQ),
    st.sampled_from([0, frames.FLAG_ACK_REQUEST, frames.FLAG_BOOT]),
    st.one_of(st.none(), st.binary(min_size=16, max_size=16)),
)
def test_encode_then_decode_gives_back_every_value(
    raw: dict[str, int], node: int, seq: int, flags: int, key: bytes | None
) -> None:
    enc = frames.Encoder(node, key)
    for name, value in raw.items():
        enc.put_raw(frames.field_id(name), value)
    frame = frames.decode(bytes(enc.encode(seq, flags)), key)
    assert (frame.node, frame.seq) == (node, seq)
    assert frame.flags == flags | (frames.FLAG_MIC if key else 0)
    assert frame.mic is (True if key else None)
    assert {frames.field_name(f): r for f, r in frame.fields} == raw


@given(st.binary(max_size=frames.MAX_FRAME + 20), st.booleans())
def test_decode_of_any_bytes_raises_only_frame_error(data: bytes, keyed: bool) -> None:
    with contextlib.suppress(FrameError):
        assert isinstance(frames.decode(data, bytes(16) if keyed else None), frames.Frame)


@st.composite
def mutated_frame(draw: st.DrawFn) -> bytes:
    data = bytearray(bytes.fromhex(draw(st.sampled_from(VALID))["hex"]))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["set", "insert", "delete"]))
        if op == "insert" or not data or where == len(data):
            data.insert(where, draw(st.integers(0, 255)))
        elif op == "set":
            data[where] = draw(st.integers(0, 255))
        else:
            del data[where]
    return bytes(data)


@given(mutated_frame(), st.sampled_from([None, bytes(range(16))]))
def test_decode_of_mutated_frames_raises_only_frame_error(data: bytes, key: bytes | None) -> None:
    with contextlib.suppress(FrameError):
        assert isinstance(frames.decode(data, key), frames.Frame)


def test_the_encoder_buffer_is_reused_and_clear_empties_it() -> None:
    enc = frames.Encoder(5)
    enc.put(frames.TEMPERATURE, 21.53)
    first = enc.encode(1)
    kept = bytes(first)
    enc.clear()
    second = enc.encode(2)
    assert bytes(first) != kept, "encode() returns a view of one shared buffer"
    assert frames.decode(kept).values() == {"temperature": 21.53}
    assert frames.decode(bytes(second)).values() == {}


def test_put_rounds_a_value_to_the_field_resolution() -> None:
    enc = frames.Encoder(5)
    enc.put(frames.TEMPERATURE, -7.126)
    enc.put(frames.AGE, 3601)
    frame = frames.decode(bytes(enc.encode(0)))
    assert frame.values() == {"temperature": -7.13, "age": 3600.0}


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", 125.01), ("temperature", -60.01), ("humidity", 100.01), ("co2", 40001)],
)
def test_a_value_outside_its_range_is_an_encode_error(field: str, value: float) -> None:
    enc = frames.Encoder(5)
    with pytest.raises(EncodeError) as err:
        enc.put(frames.field_id(field), value)
    assert err.value.reason == "range"
    assert field in str(err.value)
    assert frames.decode(bytes(enc.encode(0))).fields == [], "nothing was clipped in"


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda: frames.Encoder(0), "node"),
        (lambda: frames.Encoder(0xFFFF), "node"),
        (lambda: frames.Encoder(1).encode(frames.MAX_SEQ + 1), "seq"),
        (lambda: frames.Encoder(1).encode(0, frames.FLAG_ACK), "flags"),
        (lambda: frames.Encoder(1).put_raw(len(frames.FIELDS), 0), "field"),
        (lambda: frames.Encoder(1, b"short"), "key"),
        (lambda: frames.field_id("temp"), "field"),
        (lambda: frames.encode_ack(1, -1), "seq"),
    ],
)
def test_bad_arguments_are_encode_errors(call: Any, reason: str) -> None:
    with pytest.raises(EncodeError) as err:
        call()
    assert err.value.reason == reason


def test_codec_errors_share_one_root() -> None:
    assert issubclass(FrameError, frames.MeteolinkError)
    assert issubclass(EncodeError, frames.MeteolinkError)
    assert issubclass(Truncated, FrameError)


HEADER_SCRIPT = """
import sys, json
import frames
for h in sys.argv[1:]:
    data = bytes.fromhex(h)
    try:
        print(json.dumps(list(frames.header(data))))
    except frames.Truncated as e:
        print(json.dumps(e.reason))
"""


@pytest.mark.parametrize("vector", VALID, ids=ids(VALID))
def test_header_gives_the_fields_decode_finds(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    f = frames.decode(data, key_of(vector))
    assert frames.header(data) == (frames.VERSION, f.flags, f.node, f.seq)
    assert frames.header(memoryview(data)[: frames.HEADER_SIZE]) == frames.header(data)


def test_header_of_fewer_bytes_than_a_header_is_truncated() -> None:
    data = bytes.fromhex(VALID[0]["hex"])
    for n in range(frames.HEADER_SIZE):
        with pytest.raises(Truncated) as err:
            frames.header(data[:n])
        assert err.value.need == frames.HEADER_SIZE


def test_header_on_micropython(micropython: Callable[..., str], tmp_path: Path) -> None:
    script = tmp_path / "mp_header.py"
    script.write_text(HEADER_SCRIPT, "utf-8")
    hexes = [v["hex"] for v in VALID] + [VALID[0]["hex"][:10]]
    out = [json.loads(line) for line in micropython(script, *hexes).splitlines()]
    want = [list(frames.header(bytes.fromhex(h))) for h in hexes[:-1]] + ["truncated"]
    assert out == want
