"""Derived quantities against published tables (gateway/derived.py, docs/quality.md)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meteolink.gateway import derived

# CRC Handbook of Chemistry and Physics, "Vapor pressure of water from 0 to 370 °C"
# (the IAPWS-95 values): saturation vapour pressure over water, °C -> hPa.
CRC_WATER = {10.0: 12.282, 20.0: 23.392, 30.0: 42.467, 40.0: 73.844}


@pytest.mark.parametrize(("t", "hpa"), CRC_WATER.items())
def test_saturation_vapour_pressure_matches_the_crc_table(t: float, hpa: float) -> None:
    """WMO-No. 8 (2018/2021), Vol. I, Annex 4.B's Magnus form, held to the CRC
    Handbook's table within 0.35 %, the fit's stated accuracy over -45..60 °C."""
    assert derived.saturation_vapour_pressure(t) == pytest.approx(hpa, rel=0.0035)


def test_saturation_vapour_pressure_at_0_c_is_the_annex_constant() -> None:
    """WMO-No. 8, Annex 4.B: e_w(0 °C) = 6.112 hPa, the form's first constant."""
    assert derived.saturation_vapour_pressure(0.0) == pytest.approx(6.112, abs=1e-9)


@pytest.mark.parametrize(("air", "dew"), [(30.0, 20.0), (40.0, 10.0), (20.0, 10.0)])
def test_dew_point_of_air_holding_a_tabled_vapour_pressure(air: float, dew: float) -> None:
    """Air at `air` °C whose vapour pressure is the CRC table's saturation pressure at
    `dew` °C has, by definition, that dew point: RH = e_w(dew) / e_w(air)."""
    humidity = 100.0 * CRC_WATER[dew] / CRC_WATER[air]
    assert derived.dew_point(air, humidity) == pytest.approx(dew, abs=0.1)


def test_dew_point_below_freezing_is_over_water() -> None:
    """WMO-No. 8 Annex 4.A defines the dew point with respect to water at every
    temperature: below 0 °C it is where e_w equals the air's vapour pressure, and so
    lies below the frost point, where Annex 4.B's ice form e_i(t) = 6.112 exp(22.46 t /
    (272.62 + t)) equals it."""
    e = 0.8 * derived.saturation_vapour_pressure(-10.0)
    dew = derived.dew_point(-10.0, 80.0)
    assert derived.saturation_vapour_pressure(dew) == pytest.approx(e, rel=1e-9)
    g = math.log(e / 6.112)
    frost = 272.62 * g / (22.46 - g)
    assert dew < frost < -10.0


def test_dew_point_refuses_dry_air() -> None:
    with pytest.raises(ValueError, match="no dew point"):
        derived.dew_point(20.0, 0.0)


@given(
    t=st.floats(min_value=-45.0, max_value=60.0),
    rh=st.floats(min_value=0.5, max_value=100.0),
)
def test_dew_point_never_exceeds_the_temperature(t: float, rh: float) -> None:
    """For humidity up to 100 % the dew point is at most the temperature."""
    assert derived.dew_point(t, rh) <= t + 1e-9


@given(t=st.floats(min_value=-45.0, max_value=60.0))
def test_dew_point_equals_the_temperature_at_saturation(t: float) -> None:
    assert derived.dew_point(t, 100.0) == pytest.approx(t, abs=1e-9)


@given(
    t=st.floats(min_value=-40.0, max_value=40.0),
    rh=st.floats(min_value=1.0, max_value=99.0),
)
def test_dew_point_rises_with_humidity(t: float, rh: float) -> None:
    assert derived.dew_point(t, rh + 1.0) > derived.dew_point(t, rh)


# ICAO Doc 7488/3, Manual of the ICAO Standard Atmosphere (1993), Table A (also
# ISO 2533:1975): height (m) -> pressure (hPa), temperature (°C); sea level 1013.25 hPa.
ISA = {300.0: (977.72, 13.05), 500.0: (954.61, 11.75), 1000.0: (898.76, 8.50)}


@pytest.mark.parametrize(("height", "state"), ISA.items())
def test_the_standard_atmosphere_reduces_to_1013_25_hpa(
    height: float, state: tuple[float, float]
) -> None:
    """Dry air with the standard lapse rate, read at a height of the ICAO table, is
    reduced to the table's sea-level pressure: the reduction's column is that air."""
    p, t = state
    assert derived.sea_level_pressure(p, height, t) == pytest.approx(1013.25, abs=0.05)


def test_sea_level_pressure_at_sea_level_is_the_station_pressure() -> None:
    assert derived.sea_level_pressure(1002.3, 0.0, 5.0, 80.0) == 1002.3


def test_humid_air_reduces_to_a_little_less_than_dry_air() -> None:
    """Vapour makes the column lighter (a higher virtual temperature), so moist air
    adds less pressure on the way down: at 300 m and 20 °C, about 0.4 hPa less at 100 %."""
    dry = derived.sea_level_pressure(980.0, 300.0, 20.0)
    wet = derived.sea_level_pressure(980.0, 300.0, 20.0, 100.0)
    assert 0.1 < dry - wet < 1.0


def test_a_lapse_rate_off_by_half_matters_little_below_500_m() -> None:
    """Why the reduction suits low stations: at 300 m, moving the column's mean
    temperature by what a lapse rate 3 K/km off would (0.45 K) changes p0 by < 0.1 hPa."""
    p0 = derived.sea_level_pressure(977.72, 300.0, 13.05)
    warmer = derived.sea_level_pressure(977.72, 300.0, 13.05 + 0.45)
    assert 0 < p0 - warmer < 0.1


# EEA European Air Quality Index, bands revised in 2024 (ETC HE Report 2024/17,
# airindex.eea.europa.eu): the upper edge of each band in µg/m³.
EEA_EDGES = {
    "pm2_5": (5, 15, 50, 90, 140),
    "pm10": (15, 45, 120, 195, 270),
}


@pytest.mark.parametrize("pollutant", EEA_EDGES)
def test_eea_band_edges(pollutant: str) -> None:
    """An edge belongs to the band below it; a tenth above it is the next band."""
    assert derived.aq_band(pollutant, 0.0) == 1
    for band, edge in enumerate(EEA_EDGES[pollutant], start=1):
        assert derived.aq_band(pollutant, edge) == band
        assert derived.aq_band(pollutant, edge + 0.1) == band + 1
    assert derived.aq_band(pollutant, 5000.0) == 6


def test_aq_band_refuses_what_it_cannot_band() -> None:
    with pytest.raises(ValueError, match="give pm2_5 or pm10"):
        derived.aq_band("no2", 10.0)
    with pytest.raises(ValueError, match="not a concentration"):
        derived.aq_band("pm10", -1.0)
    with pytest.raises(ValueError, match="not a concentration"):
        derived.aq_band("pm10", math.nan)


def test_derive_gives_what_the_values_allow() -> None:
    values = {"temperature": 20.0, "humidity": 50.0, "pressure": 1000.0}
    assert set(derived.derive(values, None)) == {"dew_point"}
    out = derived.derive(values, 100.0)
    assert out["dew_point"] == 9.3  # rounded to 0.1 °C
    assert out["sea_level_pressure"] == round(derived.sea_level_pressure(1000, 100, 20, 50), 1)
    assert derived.derive({"humidity": 50.0}, 100.0) == {}
    assert derived.derive({"temperature": 5.0, "humidity": 0.0}, None) == {}


def test_derive_bands_each_pm_and_the_worse_of_the_two() -> None:
    out = derived.derive({"pm2_5": 16.0, "pm10": 10.0}, None)
    assert out == {"aq_band_pm2_5": "moderate", "aq_band_pm10": "good", "aq_band": "moderate"}
    out = derived.derive({"pm10": 300.0}, None)
    assert out == {"aq_band_pm10": "extremely_poor", "aq_band": "extremely_poor"}
    assert set(derived.DERIVED) >= set(
        derived.derive(
            {"temperature": 1.0, "humidity": 50.0, "pressure": 990.0, "pm2_5": 1.0, "pm10": 1.0},
            10.0,
        )
    )
