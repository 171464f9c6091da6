"""Calibration: which entry is in force when, and how the config writes them."""

import datetime
from pathlib import Path

import pytest

from meteolink.gateway import calibration, config
from meteolink.gateway.calibration import Calibration

NOV_1 = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC).timestamp()
DEC_1 = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC).timestamp()

ENTRIES = (
    Calibration("temperature", NOV_1, offset=-0.4),
    Calibration("temperature", DEC_1, offset=-0.3, factor=1.01),
    Calibration("humidity", NOV_1 - 86400, offset=2.0),
)


def test_the_latest_entry_at_or_before_the_reading_is_in_force() -> None:
    assert calibration.in_force(ENTRIES, "temperature", NOV_1 - 1) is None
    assert calibration.in_force(ENTRIES, "temperature", NOV_1) == ENTRIES[0]
    assert calibration.in_force(ENTRIES, "temperature", DEC_1 - 1) == ENTRIES[0]
    assert calibration.in_force(ENTRIES, "temperature", DEC_1) == ENTRIES[1]
    assert calibration.in_force(ENTRIES, "temperature", DEC_1 + 1e9) == ENTRIES[1]
    assert calibration.in_force(ENTRIES, "humidity", NOV_1) == ENTRIES[2]
    assert calibration.in_force(ENTRIES, "pressure", DEC_1) is None


def test_order_of_entries_does_not_matter() -> None:
    backwards = tuple(reversed(ENTRIES))
    for t in (NOV_1, DEC_1 - 1, DEC_1, DEC_1 + 10):
        assert calibration.in_force(backwards, "temperature", t) == calibration.in_force(
            ENTRIES, "temperature", t
        )


def test_a_calibration_applies_factor_then_offset() -> None:
    assert ENTRIES[1].apply(20.0) == pytest.approx(20.0 * 1.01 - 0.3)


def test_calibrations_are_read_from_the_config(tmp_path: Path) -> None:
    """[[nodes.N.calibration]]: a TOML date is that day at 00:00 UTC, an offset
    date-time its instant; entries come back per field, oldest first."""
    path = tmp_path / "gateway.toml"
    path.write_text(
        "[nodes.1]\nname = 'Cēsis'\n"
        "[[nodes.1.calibration]]\nfield = 'temperature'\nfrom = 2026-12-01\n"
        "offset = -0.3\nfactor = 1.01\n"
        "[[nodes.1.calibration]]\nfield = 'temperature'\nfrom = 2026-11-01\noffset = -0.4\n"
        "[[nodes.1.calibration]]\nfield = 'humidity'\nfrom = 2026-11-01T12:00:00+02:00\n"
        "factor = 0.98\n"
        "[nodes.2]\n",
        "utf-8",
    )
    conf = config.load(path)
    one = conf.node(1)
    assert one is not None
    assert one.calibrations == (
        Calibration("humidity", NOV_1 + 10 * 3600, offset=0.0, factor=0.98),
        Calibration("temperature", NOV_1, offset=-0.4),
        Calibration("temperature", DEC_1, offset=-0.3, factor=1.01),
    )
    two = conf.node(2)
    assert two is not None and two.calibrations == ()
