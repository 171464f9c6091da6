"""Quality control (gateway/quality.py) against the WMO guideline's limits.

The guideline is I. Zahumenský, "Guidelines on Quality Control Procedures for Data
from Automatic Weather Stations", WMO CBS/OPAG-IOS ET AWS-3, Doc. 4(1), 2004: its
plausible value check, its time consistency check (maximum allowed variability of
an instantaneous value; minimum required variability over 60 minutes) and its
internal consistency check.
"""

from pathlib import Path

import pytest

from meteolink.gateway import config, quality
from meteolink.gateway.config import Config, NodeConfig

T0 = 1_795_000_000.0  # a November 2026 afternoon
MIN = 60.0


def checker(interval: float = 600.0, **kwargs: object) -> quality.Checker:
    return quality.Checker(Config(nodes={1: NodeConfig(interval=interval)}, **kwargs))  # type: ignore[arg-type]


def test_flags_are_the_four_checks() -> None:
    assert quality.FLAGS == ("range", "step", "persistence", "consistency")


@pytest.mark.parametrize(
    ("value", "flagged"),
    [(-43.2, False), (37.8, False), (-45.1, True), (40.1, True), (412.5, True)],
)
def test_latvian_records_are_plausible_and_beyond_them_is_not(value: float, flagged: bool) -> None:
    """Baltic limits: the Latvian records (-43.2 °C Daugavpils 1956, +37.8 °C Ventspils
    2014, LVGMC) pass; two degrees beyond them is a range failure."""
    flags = checker().check(1, T0, {"temperature": value})
    assert flags == ({"temperature": ["range"]} if flagged else {})


def test_the_guidelines_gross_error_limits_where_it_gives_them() -> None:
    """Zahumenský 2004, plausible value check: RH 0..100 %, station pressure
    500..1100 hPa, wind speed 0..75 m/s."""
    for field, low, high in (("humidity", 0, 100), ("pressure", 500, 1100), ("wind_speed", 0, 75)):
        assert quality.PLAUSIBLE[field] == (low, high)


def test_step_between_one_minute_values_is_the_guidelines_limit() -> None:
    """Zahumenský 2004, maximum allowed variability of an instantaneous value: air
    temperature 3 °C between consecutive one-minute values."""
    c = checker(interval=60)
    assert c.check(1, T0, {"temperature": 10.0}) == {}
    assert c.check(1, T0 + MIN, {"temperature": 12.9}) == {}
    assert c.check(1, T0 + 2 * MIN, {"temperature": 16.0}) == {"temperature": ["step"]}


def test_step_limits_grow_with_the_square_root_of_the_interval() -> None:
    """Ten minutes apart, 3 °C a minute allows 3 * sqrt(10) = 9.49 °C."""
    assert quality.step_limit(3.0, 600.0) == pytest.approx(9.4868, abs=1e-4)
    assert quality.step_limit(3.0, 10.0) == 3.0  # never tighter than the guideline's minute
    c = checker()
    c.check(1, T0, {"temperature": 0.0})
    assert c.check(1, T0 + 600, {"temperature": 9.4}) == {}
    assert c.check(1, T0 + 1200, {"temperature": 19.0}) == {"temperature": ["step"]}


@pytest.mark.parametrize("dt", [10.0, 59.9, 60.0, 61.0, 600.0, 1799.0])
@pytest.mark.parametrize("above", [False, True])
def test_the_checker_flags_a_step_exactly_past_step_limit(dt: float, above: bool) -> None:
    """Checker writes step_limit() out inline (it runs for every reading): the two
    must draw the line at the same place, on either side of the minute."""
    limit = quality.step_limit(3.0, dt)
    change = limit * (1 + 1e-9) if above else limit * (1 - 1e-9)
    c = checker()
    c.check(1, T0, {"temperature": 0.0})
    flags = c.check(1, T0 + dt, {"temperature": change})
    assert flags == ({"temperature": ["step"]} if above else {})


def test_a_spike_is_flagged_and_the_return_is_not() -> None:
    """A step is measured from the last value that passed, so one bad reading does
    not also condemn the good one after it."""
    c = checker()
    c.check(1, T0, {"temperature": 5.0})
    assert c.check(1, T0 + 600, {"temperature": 35.0}) == {"temperature": ["step"]}
    assert c.check(1, T0 + 1200, {"temperature": 5.5}) == {}


def test_a_gap_of_offline_after_intervals_restarts_the_time_checks() -> None:
    """Silence of more than offline_after (3) intervals: the next value is compared
    with nothing, neither for step nor for persistence."""
    c = checker()
    c.check(1, T0, {"temperature": 5.0})
    assert c.check(1, T0 + 3 * 600 + 1, {"temperature": 30.0}) == {}
    c = checker()
    c.check(1, T0, {"temperature": 5.0})
    assert c.check(1, T0 + 3 * 600, {"temperature": 30.0}) == {"temperature": ["step"]}


def test_a_genuine_jump_is_accepted_after_the_gap() -> None:
    """A real new level is flagged only until the last passing value is a gap old."""
    c = checker()
    c.check(1, T0, {"temperature": 5.0})
    flagged = [c.check(1, T0 + k * 600, {"temperature": 40.0 - k * 0.01}) for k in range(1, 6)]
    assert flagged[:3] == [{"temperature": ["step"]}] * 3
    assert flagged[3:] == [{}, {}]


def test_persistence_flags_a_value_stuck_for_60_minutes() -> None:
    """Zahumenský 2004, minimum required variability over the past 60 minutes: air
    temperature 0.1 °C. Readings every 10 minutes varying by 0.05 °C."""
    c = checker()
    results = [c.check(1, T0 + k * 600, {"temperature": 7.0 + (k % 2) * 0.05}) for k in range(8)]
    assert results[:6] == [{}] * 6  # 0 to 50 minutes
    assert results[6] == {"temperature": ["persistence"]}  # 60 minutes unchanged
    assert results[7] == {"temperature": ["persistence"]}
    assert c.check(1, T0 + 8 * 600, {"temperature": 7.3}) == {}  # it moves: it works


def test_persistence_spares_calm_and_fog() -> None:
    """Calm wind and saturated air stay put for hours in real weather."""
    c = checker()
    for k in range(10):
        reading = {"wind_speed": 0.0, "wind_direction": 270.0, "humidity": 99.5}
        assert c.check(1, T0 + k * 600, reading) == {}
    c = checker()
    flags = [c.check(1, T0 + k * 600, {"wind_speed": 3.2, "humidity": 60.0}) for k in range(7)]
    assert flags[6] == {"humidity": ["persistence"], "wind_speed": ["persistence"]}


@pytest.mark.parametrize(
    ("values", "fields"),
    [
        ({"temperature": 10.0, "humidity": 100.0, "dew_point": 10.1}, set()),
        ({"temperature": 10.0, "humidity": 104.0, "dew_point": 10.6}, {"humidity", "dew_point"}),
        ({"pm1": 8.0, "pm2_5": 9.0, "pm10": 9.0}, set()),
        ({"pm1": 10.0, "pm2_5": 9.0, "pm10": 12.0}, set()),  # within the sensor's 1 µg/m³
        ({"pm1": 8.0, "pm2_5": 20.0, "pm10": 12.0}, {"pm2_5", "pm10"}),
        ({"pm1": 30.0, "pm2_5": 20.0, "pm10": 40.0}, {"pm1", "pm2_5"}),
        ({"wind_speed": 5.0, "gust": 5.0}, set()),
        ({"wind_speed": 5.0, "gust": 3.0}, {"wind_speed", "gust"}),
    ],
)
def test_internal_consistency(values: dict[str, float], fields: set[str]) -> None:
    """Zahumenský 2004, internal consistency: dew point <= air temperature, wind gust
    >= wind speed; and PM1 <= PM2.5 <= PM10, which the optical sensors compute from
    one particle count (so hold by construction, up to their 1 µg/m³ resolution)."""
    assert quality.consistency(values) == fields
    flags = checker().check(1, T0, values)
    assert {f for f, fl in flags.items() if "consistency" in fl} == fields


def test_flags_come_in_flags_order_and_for_flagged_fields_only() -> None:
    c = checker()
    c.check(1, T0, {"temperature": 5.0, "humidity": 50.0})
    flags = c.check(1, T0 + 60, {"temperature": 5.0, "humidity": 104.0, "dew_point": 5.6})
    assert flags == {"dew_point": ["consistency"], "humidity": ["range", "consistency"]}


def test_a_derived_value_carries_the_flags_of_what_it_came_from() -> None:
    """A dew point, sea-level pressure or air-quality band worked out from a suspect value
    is as suspect as it: flagged with it, so the page marks it, the report leaves it out of
    its statistics and the public maps do not send it (our rule, docs/quality.md)."""
    c = checker()
    c.check(1, T0, {"temperature": 5.0, "humidity": 50.0, "pressure": 1000.0})
    flags = c.check(
        1,
        T0 + 60,
        {
            "temperature": 15.0,  # 10 °C in a minute: step
            "humidity": 50.0,
            "pressure": 1000.2,
            "dew_point": 4.6,
            "sea_level_pressure": 1012.0,
            "pm1": 30.0,  # PM1 above PM2.5: consistency
            "pm2_5": 20.0,
            "pm10": 40.0,
            "aq_band_pm2_5": "moderate",
            "aq_band_pm10": "fair",
            "aq_band": "moderate",
        },
    )
    assert flags == {
        "aq_band": ["consistency"],
        "aq_band_pm2_5": ["consistency"],
        "dew_point": ["step"],
        "pm1": ["consistency"],
        "pm2_5": ["consistency"],
        "sea_level_pressure": ["step"],
        "temperature": ["step"],
    }


def test_the_stored_form_is_compact_sorted_json() -> None:
    flags = {"temperature": ["step"], "humidity": ["range", "consistency"], "pm1": []}
    text = quality.flags_text(flags)
    assert text == '{"humidity":["range","consistency"],"temperature":["step"]}'
    assert quality.flags_from(text) == {
        "humidity": ["range", "consistency"],
        "temperature": ["step"],
    }
    assert quality.flags_text({}) is None and quality.flags_from(None) == {}


def test_state_is_kept_only_for_nodes_the_gateway_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unlisted node under unknown_nodes = "reject" is not stored, so not remembered;
    under "accept", at most ACCEPTED_MAX of them, the least recently checked dropped."""
    c = checker()
    c.check(99, T0, {"temperature": 5.0})
    assert c.check(99, T0 + 60, {"temperature": 30.0}) == {}  # nothing remembered
    monkeypatch.setattr(quality, "ACCEPTED_MAX", 2)
    c = checker(unknown_nodes="accept")
    for node in (1, 50, 51, 52):
        c.check(node, T0, {"temperature": 5.0})
    assert c.check(50, T0 + 60, {"temperature": 30.0}) == {}  # dropped, the oldest unlisted
    assert c.check(52, T0 + 60, {"temperature": 30.0}) == {"temperature": ["step"]}
    assert c.check(1, T0 + 60, {"temperature": 30.0}) == {"temperature": ["step"]}  # listed
    c = checker(unknown_nodes="accept")  # least recently checked: not the first heard
    for node in (50, 51):
        c.check(node, T0, {"temperature": 5.0})
    c.check(50, T0 + 1, {"temperature": 5.0})
    c.check(52, T0, {"temperature": 5.0})
    assert c.check(50, T0 + 60, {"temperature": 30.0}) == {"temperature": ["step"]}
    assert c.check(51, T0 + 60, {"temperature": 30.0}) == {}  # dropped


def test_the_config_overrides_and_turns_off_checks(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        "[nodes.1]\ninterval = 60\n[quality]\ntemperature = [-30, 35]\n"
        "[quality.step]\ntemperature = 1.5\nhumidity = 0\n"
        "[quality.persistence]\npressure = [0.2, 120]\nwind_speed = [0, 60]\n",
        "utf-8",
    )
    conf = config.load(path)
    assert conf.plausible["temperature"] == (-30.0, 35.0)
    assert conf.step["temperature"] == 1.5 and "humidity" not in conf.step
    assert conf.step["pressure"] == quality.STEP["pressure"]
    assert conf.persistence["pressure"] == (0.2, 120.0) and "wind_speed" not in conf.persistence
    c = quality.Checker(conf)
    c.check(1, T0, {"temperature": 5.0, "humidity": 50.0})
    assert c.check(1, T0 + 60, {"temperature": 6.6, "humidity": 90.0}) == {"temperature": ["step"]}
    conf_defaults = config.load(None)
    assert conf_defaults.step == quality.STEP and conf_defaults.persistence == quality.PERSISTENCE
