"""PM10 and PM2.5 daily means against the EU limit values and the WHO guideline levels.

Sources (docs/report.md cites them for readers):

- Directive 2008/50/EC of 21 May 2008 on ambient air quality and cleaner air for
  Europe, Annex XI section B: PM10, one day, 50 µg/m³ not to be exceeded more than
  35 times a calendar year; PM10, calendar year, 40 µg/m³. Annex XIV section E: PM2.5,
  calendar year, 25 µg/m³ (no daily PM2.5 limit). Annex XI section A: the data-
  capture rule a daily mean must meet (statistics.py).
- Directive (EU) 2024/2881 of 23 October 2024 (the recast), Annex I, Table 1, to be
  attained by 1 January 2030: PM10 one day 45 µg/m³, not to be exceeded more than 18
  times a calendar year, calendar year 20 µg/m³; PM2.5 one day 25 µg/m³, not more than
  18 times, calendar year 10 µg/m³. It repeals 2008/50/EC with effect from 12 December
  2026; until 2030 its limit values are those of 2008/50/EC.
- WHO global air quality guidelines (World Health Organization, Geneva, 2021,
  ISBN 978-92-4-003422-8), Executive summary, Table 0.1: PM2.5 24-hour 15 µg/m³,
  annual 5 µg/m³; PM10 24-hour 45 µg/m³, annual 15 µg/m³. The 24-hour levels are
  99th percentiles: 3 to 4 exceedance days a year.

An exceedance day is a day whose mean meets the data-quality rule and is above
the value ("not to be exceeded": equal to it is no exceedance).
"""

import datetime
from dataclasses import dataclass

REPEAL_2008_50 = datetime.date(2026, 12, 12)
NEW_LIMITS = datetime.date(2030, 1, 1)


@dataclass(frozen=True)
class Standard:
    key: str  # "eu", "eu2030", "who": the report's words name it
    pollutant: str  # "pm10" or "pm2_5"
    daily: float | None  # µg/m³, one day; None: no daily value
    allowed: int | None  # exceedance days allowed a calendar year (None: a guideline)
    annual: float  # µg/m³, a calendar year's mean


EU_2008 = {
    "pm10": Standard("eu", "pm10", 50.0, 35, 40.0),
    "pm2_5": Standard("eu", "pm2_5", None, None, 25.0),
}
EU_2030 = {
    "pm10": Standard("eu2030", "pm10", 45.0, 18, 20.0),
    "pm2_5": Standard("eu2030", "pm2_5", 25.0, 18, 10.0),
}
WHO_2021 = {
    "pm10": Standard("who", "pm10", 45.0, None, 15.0),
    "pm2_5": Standard("who", "pm2_5", 15.0, None, 5.0),
}


def law_on(day: datetime.date) -> str:
    """Which act sets the EU limit values in force on day: "2008/50/EC",
    "2024/2881-transitional" (the recast in force, its values still 2008/50/EC's)
    or "2024/2881"."""
    if day < REPEAL_2008_50:
        return "2008/50/EC"
    if day < NEW_LIMITS:
        return "2024/2881-transitional"
    return "2024/2881"


def in_force(day: datetime.date) -> dict[str, Standard]:
    """The EU limit values that are law on day, by pollutant."""
    return EU_2030 if law_on(day) == "2024/2881" else EU_2008


def exceedances(means: list[float | None], limit: float | None) -> int:
    """Days whose valid mean is above limit (None means: incomplete, not counted)."""
    if limit is None:
        return 0
    return sum(1 for m in means if m is not None and m > limit)
