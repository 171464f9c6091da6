"""A calibration changed in the past is said once, at start, and kept in the store."""

import logging
from pathlib import Path

import pytest

from meteolink.gateway import calibration_record
from meteolink.gateway.calibration import Calibration
from meteolink.gateway.config import Config, NodeConfig
from meteolink.gateway.store import Store

NOW = 1_795_604_938.0  # 2026-11-25T11:08:58Z
NOV_1 = 1_793_491_200.0  # 2026-11-01T00:00:00Z
DEC_1 = 1_796_083_200.0  # 2026-12-01T00:00:00Z, still to come


def config(*cals: Calibration) -> Config:
    return Config(nodes={3: NodeConfig(calibrations=cals)})


def start(store: Store, cfg: Config, caplog: pytest.LogCaptureFixture) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="meteolink"):
        calibration_record.note(store, cfg, NOW)
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_each_past_dated_change_is_one_warning_and_the_old_entry_is_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "readings.db")
    first = Calibration("temperature", NOV_1, offset=-0.4)
    said = start(store, config(first), caplog)
    assert said == [
        "node 3: temperature: a calibration from 2026-11-01T00:00:00Z was added (offset -0.4,"
        " factor 1): exports, pages and reports of its readings taken since"
        " 2026-11-01T00:00:00Z show the new values; MQTT messages already sent are not sent"
        " again"
    ]
    assert store.calibrations() == [(3, first)]
    assert start(store, config(first), caplog) == [], "said once, not at every start"

    changed = Calibration("temperature", NOV_1, offset=-0.3, factor=1.02)
    future = Calibration("humidity", DEC_1, offset=2.0)
    said = start(store, config(changed, future), caplog)
    assert len(said) == 1, "a future date changes nothing read out so far"
    assert said[0].startswith(
        "node 3: temperature: the calibration from 2026-11-01T00:00:00Z changed from"
        " offset -0.4, factor 1 to offset -0.3, factor 1.02: "
    )
    assert sorted(store.calibrations(), key=str) == sorted([(3, changed), (3, future)], key=str)

    said = start(store, config(future), caplog)
    assert said == [
        "node 3: temperature: the calibration from 2026-11-01T00:00:00Z (offset -0.3,"
        " factor 1.02) was dropped: exports, pages and reports of its readings taken since"
        " 2026-11-01T00:00:00Z show the new values; MQTT messages already sent are not sent"
        " again"
    ]
    # History is kept: every entry the gateway ever started with, the replaced ones marked.
    rows = store._db.execute(
        'SELECT field, "offset", factor, replaced IS NOT NULL FROM calibrations'
        " ORDER BY field, rowid"
    ).fetchall()
    assert rows == [
        ("humidity", 2.0, 1.0, 0),
        ("temperature", -0.4, 1.0, 1),
        ("temperature", -0.3, 1.02, 1),
    ]
    store.close()


def test_a_store_that_never_recorded_calibrations_reads_as_none(tmp_path: Path) -> None:
    Store(tmp_path / "readings.db").close()
    store = Store(tmp_path / "readings.db", readonly=True)  # as --check opens it
    assert store.calibrations() == []
    assert calibration_record.pending(store, config(Calibration("pm10", NOV_1, factor=0.9)), NOW)
    store.close()
