"""docs/protocol.md says what the codec does."""

import re

import pytest

from meteolink.firmware import frames, framing
from tests.support.tools import ROOT, VECTORS

DOC = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
ROW = re.compile(
    r"^\| (\d+) \| `(\w+)` \|([^|]*)\| (u?int16) \| ([\d.]+) \| ([-\d.]+) to ([-\d.]+) \|$"
)


def doc_fields() -> list[tuple[int, str, str, bool, float, float, float]]:
    rows = []
    for line in DOC.splitlines():
        m = ROW.match(line)
        if m:
            fid, name, unit, kind, res, lo, hi = m.groups()
            rows.append(
                (int(fid), name, unit.strip(), kind == "int16", float(res), float(lo), float(hi))
            )
    return rows


def test_the_doc_lists_every_field_of_the_codec() -> None:
    assert [row[:2] for row in doc_fields()] == list(enumerate(f[0] for f in frames.FIELDS))


@pytest.mark.parametrize("row", doc_fields(), ids=lambda row: row[1])
def test_the_doc_gives_each_field_its_unit_type_resolution_and_range(
    row: tuple[int, str, str, bool, float, float, float],
) -> None:
    fid, _name, unit, signed, resolution, lo, hi = row
    _, c_unit, c_signed, scale, c_lo, c_hi = frames.FIELDS[fid]
    assert (unit, signed) == (c_unit, c_signed)
    assert resolution == pytest.approx(1 / scale)
    assert lo == pytest.approx(c_lo / scale)
    assert hi == pytest.approx(c_hi / scale)


def _hex_block_after(marker: str) -> str:
    block = DOC.split(marker, 1)[1].split("```", 2)[1]
    return "".join(block.split())


def test_the_worked_example_is_a_vector() -> None:
    vector = next(v for v in VECTORS["valid"] if v["name"] == "nine-value reading")
    assert _hex_block_after("The nine-value reading of node 7") == vector["hex"]
    assert _hex_block_after("COBS of the nine-value reading") == vector["serial"]


def test_the_crc_check_value_in_the_doc() -> None:
    assert (
        f"check value (CRC of the ASCII bytes `123456789`) `0x{VECTORS['crc']['check'].upper()}`"
        in DOC
    )


def test_the_doc_sizes_match_the_codec() -> None:
    assert f"The smallest frame (no fields) is {frames.MIN_FRAME} bytes" in DOC
    assert f"the largest {frames.MAX_FRAME} bytes" in DOC
    assert f"longer than {framing.MAX_ENCODED} encoded bytes" in DOC
