"""Plausible weather for `meteolink simulate`: a small, documented model, not a forecast.

Everything here is a function of the place, the simulated time and a seeded
random generator, so a run with the same --seed gives the same readings. The
model (docs/simulate.md says the same in words):

- Temperature: the place's monthly mean, a cosine through the year between
  its January and July means (half a year later south of the equator), plus
  a daily cycle (a cosine, lowest at 05:00 and highest at 15:00 local solar
  time) whose range is the place's winter or summer range, plus the passing
  pressure systems (a low is milder and damper in winter, cooler in summer),
  plus cold snaps: a drop of 8 to 15 K held for one to three days.
- Humidity follows the temperature: the dew point stays near the day's mean
  minus a spread (smaller in winter), and the relative humidity is the Magnus
  formula's ratio of vapour pressures, so it is highest at dawn, lowest in
  the afternoon, and 100 % at most. Indoors, the outdoor air warmed to the
  room, plus 10 % (18 % with a class in) from people and plants.
- Pressure: 1013.25 hPa at sea level plus two waves of 3 to 7 days (the
  systems that pass; ±15 hPa in winter, ±8 in summer), reduced to the
  station's elevation by the barometric formula (what a BME280 reads).
- PM (outdoors): a baseline (more in the heating season), a morning and
  evening peak, higher under high pressure (calm air, inversions), and
  episodes of 6 to 24 hours at three to six times the baseline. PM1 is 0.7
  and PM10 1.6 times PM2.5.
- CO2 (indoors, a classroom): 420 ppm outdoors; occupied 08:00-16:00 on
  weekdays, the room tends to 1400 ppm with a time constant of 40 minutes,
  and airs out to outdoor air with one of 60 minutes.
- Battery (a Li-ion cell): the charge drains at --drain percent a day; the
  open-circuit voltage follows the charge (4.20 V full, 3.00 V empty), and
  below 0 °C the voltage under load sags 8 mV per kelvin (the cell's
  internal resistance rises in the cold): a cold snap shows in the battery.
"""

import datetime
import itertools
import math
import random
from dataclasses import dataclass, field

# (latitude, longitude, elevation m, January mean °C, July mean °C,
#  daily range winter K, daily range summer K, PM2.5 baseline winter, summer µg/m³)
# Rounded climate normals (1991-2020, national weather services via Wikipedia's
# climate tables); good to a degree or so, which is all a simulation needs.
PLACES: dict[str, tuple[float, float, float, float, float, float, float, float, float]] = {
    "riga": (56.95, 24.11, 7, -2.5, 18.7, 4.5, 9.5, 14, 7),
    "cesis": (57.31, 25.27, 100, -4.3, 17.6, 5.0, 10.5, 10, 5),
    "valmiera": (57.54, 25.43, 45, -4.2, 17.7, 5.0, 10.5, 11, 5),
    "tallinn": (59.44, 24.75, 35, -3.0, 17.6, 4.5, 8.5, 9, 5),
    "vilnius": (54.69, 25.28, 112, -3.6, 18.6, 5.5, 11.0, 16, 8),
    "helsinki": (60.17, 24.94, 20, -3.9, 17.8, 4.5, 8.5, 8, 5),
    "stockholm": (59.33, 18.07, 28, -1.2, 18.1, 4.5, 9.0, 8, 5),
    "oslo": (59.91, 10.75, 94, -3.5, 17.4, 5.0, 9.5, 9, 5),
    "copenhagen": (55.68, 12.57, 10, 1.2, 17.6, 4.0, 8.0, 10, 7),
    "warsaw": (52.23, 21.01, 106, -1.5, 19.7, 5.5, 11.0, 25, 10),
    "berlin": (52.52, 13.40, 34, 0.9, 19.8, 5.0, 10.0, 16, 9),
    "vienna": (48.21, 16.37, 190, 0.6, 21.3, 5.5, 10.0, 18, 10),
    "amsterdam": (52.37, 4.90, 0, 3.7, 18.2, 5.0, 9.0, 12, 8),
    "london": (51.51, -0.13, 11, 5.6, 19.0, 5.5, 9.5, 11, 8),
    "paris": (48.86, 2.35, 35, 5.0, 20.8, 5.5, 10.0, 14, 9),
    "madrid": (40.42, -3.70, 667, 6.6, 26.0, 9.0, 15.5, 10, 9),
    "rome": (41.90, 12.50, 21, 8.2, 25.1, 8.5, 11.5, 16, 11),
    "athens": (37.98, 23.73, 107, 10.0, 28.7, 7.0, 10.0, 18, 14),
    "reykjavik": (64.15, -21.94, 30, 0.0, 11.4, 4.0, 6.0, 5, 4),
    "tromso": (69.65, 18.96, 10, -4.0, 12.1, 3.5, 6.0, 5, 4),
}

# The middle of each season (northern hemisphere; south of the equator the
# same name means the same weather, six months later).
SEASONS = {"winter": (1, 15), "spring": (4, 15), "summer": (7, 15), "autumn": (10, 15)}

KINDS = ("weather", "air", "indoor")  # what a station measures, in turn by node id


@dataclass(frozen=True)
class Climate:
    """What the model knows of a place: from PLACES, or estimated from latitude."""

    name: str
    lat: float
    lon: float
    elevation: float
    january: float  # mean °C
    july: float
    range_winter: float  # daily temperature range, K
    range_summer: float
    pm_winter: float  # PM2.5 baseline, µg/m³
    pm_summer: float

    @classmethod
    def of_place(cls, name: str) -> "Climate":
        return cls(name, *PLACES[name])

    @classmethod
    def of_position(cls, lat: float, lon: float) -> "Climate":
        """A rough climate from latitude alone (no ocean, no mountains): the yearly
        mean falls 0.55 K a degree poleward of 20°, the swing between January and
        July grows 0.45 K a degree; the northern figures, mirrored south."""
        a = abs(lat)
        mean = 27.0 - 0.55 * max(0.0, a - 20.0)
        swing = min(30.0, 1.0 + 0.45 * max(0.0, a - 10.0))
        jan, jul = mean - swing / 2, mean + swing / 2
        if lat < 0:
            jan, jul = jul, jan
        return cls(f"{lat:g}, {lon:g}", lat, lon, 0.0, jan, jul, 5.0, 10.0, 12.0, 7.0)


def season_date(season: str, year: int, lat: float) -> datetime.date:
    month, day = SEASONS[season]
    if lat < 0:
        month = (month + 5) % 12 + 1
    return datetime.date(year, month, day)


def _mean_temperature(c: Climate, day_of_year: float) -> float:
    # Coldest about 15 January, warmest about 16 July (day 197).
    mid = (c.january + c.july) / 2
    half = (c.july - c.january) / 2
    return mid - half * math.cos(2 * math.pi * (day_of_year - 15) / 365.25)


def _winterness(c: Climate, day_of_year: float) -> float:
    """1 in the middle of the cold season, 0 in the warm one."""
    w = (1 + math.cos(2 * math.pi * (day_of_year - 15) / 365.25)) / 2
    return w if c.july >= c.january else 1 - w


def _saturation_hpa(t: float) -> float:
    """Magnus formula (WMO, over water): saturation vapour pressure at t °C."""
    return 6.112 * math.exp(17.62 * t / (243.12 + t))


@dataclass
class Episode:
    start: float  # hours since the start of the run
    hours: float
    size: float  # K for a cold snap, times the baseline for a PM episode


@dataclass
class Weather:
    """The weather of one place over a run; each station reads it with its own small offsets."""

    climate: Climate
    start: datetime.datetime  # local solar time of the first reading
    rng: random.Random
    cold_snap: bool = False  # force one, six hours into the run
    waves: list[tuple[float, float, float]] = field(default_factory=list)
    snaps: list[Episode] = field(default_factory=list)
    pm: list[Episode] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = self.rng
        # Two pressure waves: (period h, phase, share of the amplitude).
        self.waves = [
            (rng.uniform(72, 168), rng.uniform(0, 2 * math.pi), 0.7),
            (rng.uniform(30, 60), rng.uniform(0, 2 * math.pi), 0.3),
        ]
        # Episodes over the first 60 days are drawn now: the same whatever the step.
        hours = 0.0
        while hours < 60 * 24:
            hours += rng.expovariate(1 / (10 * 24))  # one in ten days (in the cold season)
            self.snaps.append(Episode(hours, rng.uniform(24, 72), rng.uniform(8, 15)))
            hours += self.snaps[-1].hours
        hours = rng.uniform(0, 48)
        while hours < 60 * 24:
            self.pm.append(Episode(hours, rng.uniform(6, 24), rng.uniform(3, 6)))
            hours += self.pm[-1].hours + rng.expovariate(1 / (4 * 24))
        if self.cold_snap:  # drawn after the rest: with or without it, the same weather
            self.snaps.insert(0, Episode(6.0, 36.0, 12.0))

    def at(self, hours: float) -> dict[str, float]:
        """The outdoor weather `hours` after the start: temperature (°C), dew point (°C),
        sea-level and station pressure (hPa), PM2.5 (µg/m³), winterness (0..1)."""
        c = self.climate
        when = self.start + datetime.timedelta(hours=hours)
        doy = when.timetuple().tm_yday + when.hour / 24 + when.minute / 1440
        hour = when.hour + when.minute / 60
        winter = _winterness(c, doy)
        mean = _mean_temperature(c, doy)
        swing = c.range_winter * winter + c.range_summer * (1 - winter)
        if 5 <= hour < 15:  # from the 05:00 low up to the 15:00 high
            daily = -math.cos(math.pi * (hour - 5) / 10)
        else:  # and back down over the evening and night
            daily = math.cos(math.pi * ((hour - 15) % 24) / 14)
        t = mean + swing / 2 * daily
        amp = 15 * winter + 8 * (1 - winter)
        wave = sum(s * math.sin(2 * math.pi * hours / p + ph) for p, ph, s in self.waves)
        slp = 1013.25 + amp * wave
        # A low (wave < 0) brings mild damp air in winter, cool cloudy air in summer.
        t += -wave * (2.0 * (1 - winter) - 3.0 * winter)
        for i, e in enumerate(self.snaps):
            forced = i == 0 and self.cold_snap  # --cold-snap: whatever the season
            if (forced or winter > 0.5) and e.start <= hours < e.start + e.hours:
                ramp = min(1.0, (hours - e.start) / 6, (e.start + e.hours - hours) / 6)
                t -= e.size * ramp
                slp += 8 * ramp  # a cold snap comes with a high
        # The dew point sits a little under the night's low (the air is nearly saturated
        # at dawn), further in a dry summer high, closer in a damp low.
        spread = 1.5 * winter + 4.0 * (1 - winter) + 2.0 * max(0.0, wave)
        dew = min(t, mean - 0.3 * swing - spread + 1.5 * max(0.0, -wave))
        station = slp * (1 - 2.25577e-5 * c.elevation) ** 5.25588
        base = c.pm_winter * winter + c.pm_summer * (1 - winter)
        morning = math.exp(-(((hour - 8) / 1.5) ** 2))
        rush = 1 + 0.5 * morning + 0.7 * math.exp(-(((hour - 19) / 2.5) ** 2))
        calm = max(0.5, 1 + (slp - 1013.25) / 25)
        pm = base * rush * calm
        for e in self.pm:
            if e.start <= hours < e.start + e.hours:
                pm *= 1 + (e.size - 1) * math.sin(math.pi * (hours - e.start) / e.hours)
        return {
            "temperature": t,
            "dew_point": dew,
            "sea_level_pressure": slp,
            "pressure": station,
            "pm2_5": pm,
            "winter": winter,
            "weekday": float(when.weekday()),
            "hour": hour,
        }


def relative_humidity(t: float, dew: float) -> float:
    return max(5.0, min(100.0, 100 * _saturation_hpa(dew) / _saturation_hpa(t)))


# Li-ion open-circuit voltage by state of charge (a typical 18650 curve).
_OCV = ((0.0, 3.00), (0.05, 3.45), (0.2, 3.62), (0.5, 3.76), (0.8, 3.96), (1.0, 4.20))


def battery_voltage(charge: float, temperature: float) -> float:
    charge = max(0.0, min(1.0, charge))
    for (c0, v0), (c1, v1) in itertools.pairwise(_OCV):
        if charge <= c1:
            v = v0 + (v1 - v0) * (charge - c0) / (c1 - c0)
            break
    sag = 0.008 * max(0.0, -temperature)
    return max(2.5, v - sag)


@dataclass
class Station:
    """One simulated station: what it measures, where it stands in the weather, its battery."""

    node: int
    kind: str  # one of KINDS
    rng: random.Random
    charge: float = 0.95  # of a full battery
    co2: float = 450.0
    offset: float = 0.0  # K: a station in a warmer or cooler spot than the next

    def __post_init__(self) -> None:
        self.offset = self.rng.uniform(-0.8, 0.8)
        self.charge = self.rng.uniform(0.75, 0.98)

    def reading(self, w: dict[str, float], step_h: float, drain: float) -> dict[str, float]:
        """This station's reading of the weather w, after step_h hours since its last one."""
        rng = self.rng
        self.charge = max(0.0, self.charge - drain / 100 * step_h / 24)
        t = w["temperature"] + self.offset + rng.gauss(0, 0.08)
        rh = relative_humidity(t, w["dew_point"]) + rng.gauss(0, 0.6)
        out: dict[str, float] = {}
        if self.kind == "indoor":
            occupied = w["weekday"] < 5 and 8 <= w["hour"] < 16
            target, tau = (1400.0, 40 / 60) if occupied else (420.0, 1.0)
            self.co2 = target + (self.co2 - target) * math.exp(-step_h / tau)
            indoor = 21.0 + (0.8 if occupied else -0.5) + 0.05 * (w["temperature"] - 5)
            out["temperature"] = indoor + rng.gauss(0, 0.05)
            # Outdoor air warmed to the room: far drier (in winter especially).
            # (plus what people, plants and cooking add: 10 %, 18 % with a class in)
            out["humidity"] = relative_humidity(indoor, w["dew_point"]) + 10 + 8 * occupied
            out["co2"] = self.co2 + rng.gauss(0, 8)
            temp_for_battery = indoor
        else:
            out["temperature"] = t
            out["humidity"] = min(100.0, max(5.0, rh))
            out["pressure"] = w["pressure"] + rng.gauss(0, 0.12)
            temp_for_battery = t
            if self.kind == "air":
                pm25 = w["pm2_5"] * rng.uniform(0.9, 1.1)
                out["pm1"] = 0.7 * pm25
                out["pm2_5"] = pm25
                out["pm10"] = 1.6 * pm25 * rng.uniform(0.95, 1.1)
        out["battery"] = battery_voltage(self.charge, temp_for_battery) + rng.gauss(0, 0.004)
        return out
