"""Derived quantities: dew point, sea-level pressure and the air-quality band.

Pure functions of a reading's (calibrated) values and the station's altitude;
no I/O, no state. Each formula and constant names its source, and
docs/quality.md explains the choices.

Dew point (Magnus form). WMO-No. 8, Guide to Instruments and Methods of
Observation, 2018 edition (updated 2021), Volume I, Annex 4.B, gives the
saturation vapour pressure over water

    e_w(t) = 6.112 hPa * exp(17.62 t / (243.12 + t)),   t in °C, -45 to 60 °C

(the Sonntag 1990 fit). The dew point is the temperature at which e_w equals
the air's vapour pressure e = RH/100 * e_w(t); solving the Magnus form for t:

    g  = ln(RH/100) + 17.62 t / (243.12 + t)
    Td = 243.12 g / (17.62 - g)

The dew point is defined over water at every temperature (WMO-No. 8 Vol. I,
Annex 4.A; below 0 °C the frost point, over ice, is a different quantity), and
capacitive humidity sensors (SHT3x, SHT4x, BME280) report relative humidity
with respect to water, so the water constants are used below 0 °C too.

Sea-level pressure. The reduction meteorological services use for stations
low enough that the fictitious air column between the barometer and sea level
is short (WMO-No. 8, Vol. I, Chapter 3, the reduction of pressure to sea
level; written out with its constants in Deutscher Wetterdienst, VuB 2,
"BUFR", p. 28): the station pressure p is carried down a column of height H
whose mean virtual temperature is the station's temperature, plus half the
standard lapse rate times H, plus a humidity correction:

    p0 = p * exp(g / Rd * H / (T + a*H/2 + e*Ch))

    g  = 9.80665 m/s²      standard gravity
    Rd = 287.05 J/(kg K)   gas constant of dry air
    a  = 0.0065 K/m        the standard atmosphere's lapse rate
    Ch = 0.12 K/hPa        mean vapour-pressure gradient of the column
    T  = station air temperature in K; e = its vapour pressure in hPa (0 when
         the humidity is unknown)

Why this one for our stations: below ~500 m the column is short, so the
assumed lapse rate matters little (at 300 m a lapse rate 3 K/km off moves
p0 by under 0.1 hPa), and the station's current temperature serves where
higher stations need a 12-hour mean or a plateau correction. Latvia's highest
point is 312 m.

Air-quality band. The European Environment Agency's European Air Quality
Index (https://airindex.eea.europa.eu), with the bands as the EEA revised them
in 2024 to follow the WHO 2021 air quality guidelines (European Topic Centre
on Human Health and the Environment, ETC HE Report 2024/17, "EEA's revision of
the European Air Quality Index bands"): six bands per pollutant, good to
extremely poor; a station's index is its worst pollutant's band. Since that
revision the EEA bands hourly concentrations of every pollutant (before it,
PM2.5 and PM10 were 24-hour running means). A node's reading is one sample of
a low-cost optical sensor, not an hourly mean of a reference instrument, so
its band is an indication of the air at that moment: an hour of readings
judged together (the report's job) is what compares with the EEA's index.
"""

import math
from collections.abc import Mapping

# WMO-No. 8 (2018/2021), Vol. I, Annex 4.B: Magnus constants over water.
MAGNUS_E0 = 6.112  # hPa
MAGNUS_B = 17.62
MAGNUS_C = 243.12  # °C

# The reduction's constants (DWD VuB 2, p. 28; WMO-No. 8 Vol. I Chapter 3).
G0 = 9.80665  # m/s²
RD = 287.05  # J/(kg K)
LAPSE_RATE = 0.0065  # K/m
CH = 0.12  # K/hPa
KELVIN = 273.15

BANDS = ("good", "fair", "moderate", "poor", "very_poor", "extremely_poor")

# EEA European Air Quality Index (2024 revision): the upper edge of each band
# but the last, in µg/m³, in BANDS order. An edge belongs to the lower band:
# the edges 15 (PM2.5) and 45 (PM10) are the WHO 2021 24-hour guideline levels,
# and a concentration at a guideline level meets it.
BAND_EDGES: dict[str, tuple[float, ...]] = {
    "pm2_5": (5.0, 15.0, 50.0, 90.0, 140.0),
    "pm10": (15.0, 45.0, 120.0, 195.0, 270.0),
}

DERIVED = ("dew_point", "sea_level_pressure", "aq_band_pm2_5", "aq_band_pm10", "aq_band")

# What each derived value is worked out from (derive() below): a quality flag on any
# of them is a flag on it too (gateway/quality.py).
INPUTS: dict[str, tuple[str, ...]] = {
    "dew_point": ("temperature", "humidity"),
    "sea_level_pressure": ("pressure", "temperature", "humidity"),
    "aq_band_pm2_5": ("pm2_5",),
    "aq_band_pm10": ("pm10",),
    "aq_band": ("pm2_5", "pm10"),
}


def saturation_vapour_pressure(temperature_c: float) -> float:
    """e_w(t) over water in hPa, WMO-No. 8 Annex 4.B."""
    return MAGNUS_E0 * math.exp(MAGNUS_B * temperature_c / (MAGNUS_C + temperature_c))


def dew_point(temperature_c: float, humidity_pct: float) -> float:
    """The dew point in °C of air at temperature_c with relative humidity humidity_pct.

    Humidity above 100 % (a wet or drifting sensor) gives a dew point above the
    temperature; quality.Checker flags that as inconsistent rather than this hiding it.
    """
    if humidity_pct <= 0:
        raise ValueError(f"relative humidity {humidity_pct} % has no dew point (give above 0)")
    g = math.log(humidity_pct / 100.0) + MAGNUS_B * temperature_c / (MAGNUS_C + temperature_c)
    return MAGNUS_C * g / (MAGNUS_B - g)


def sea_level_pressure(
    pressure_hpa: float,
    altitude_m: float,
    temperature_c: float,
    humidity_pct: float | None = None,
) -> float:
    """Station pressure reduced to mean sea level, in hPa (the reduction above).

    altitude_m is the barometer's height above sea level (geopotential and
    geometric metres differ by under 0.01 % this low); humidity_pct, when known, adds
    the vapour's share of the column's virtual temperature.
    """
    e = 0.0
    if humidity_pct is not None and humidity_pct > 0:
        e = humidity_pct / 100.0 * saturation_vapour_pressure(temperature_c)
    column = temperature_c + KELVIN + LAPSE_RATE * altitude_m / 2 + e * CH
    return pressure_hpa * math.exp(G0 / RD * altitude_m / column)


def aq_band(pollutant: str, concentration: float) -> int:
    """The EEA index band, 1 (good) to 6 (extremely poor), of a PM concentration in µg/m³."""
    edges = BAND_EDGES.get(pollutant)
    if edges is None:
        raise ValueError(f"no air-quality band for {pollutant!r} (give pm2_5 or pm10)")
    if concentration < 0 or math.isnan(concentration):
        raise ValueError(f"{pollutant} concentration {concentration} is not a concentration")
    for band, edge in enumerate(edges, start=1):
        if concentration <= edge:
            return band
    return len(edges) + 1


def derive(values: Mapping[str, float], altitude: float | None) -> dict[str, float | str]:
    """The derived quantities that values (calibrated, by field name) allow.

    dew_point (°C, 0.1) needs temperature and humidity; sea_level_pressure (hPa,
    0.1) needs pressure, temperature and the station's altitude; aq_band_pm2_5
    and aq_band_pm10 the concentration, aq_band the worse of the two present.
    Bands are BANDS names. Values a formula cannot take (humidity 0, a negative
    concentration) give nothing rather than an error: the range check flags them.
    """
    out: dict[str, float | str] = {}
    t = values.get("temperature")
    rh = values.get("humidity")
    p = values.get("pressure")
    if t is not None and rh is not None and rh > 0:
        out["dew_point"] = round(dew_point(t, rh), 1)
    if p is not None and t is not None and altitude is not None:
        out["sea_level_pressure"] = round(sea_level_pressure(p, altitude, t, rh), 1)
    worst = 0
    for pollutant in ("pm2_5", "pm10"):
        c = values.get(pollutant)
        if c is not None and c >= 0:
            band = aq_band(pollutant, c)
            out[f"aq_band_{pollutant}"] = BANDS[band - 1]
            worst = max(worst, band)
    if worst:
        out["aq_band"] = BANDS[worst - 1]
    return out
