"""The report's period: --from and --to in a time zone, as UTC bounds and local days.

Days are local days (--tz, Europe/Riga by default): a frost night or a day's PM
mean is the night or day people lived through, not a UTC one, which in Riga
starts at 02:00 or 03:00. A date in --to includes that whole day ("1 to 30
November"); a date-time in --to is the end and is not included, as in
`meteolink export`. A date-time without an offset is local time in --tz.
"""

import datetime
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TZ = "Europe/Riga"
_QUARTER = 900  # every time zone's offset is a whole number of quarter hours


class PeriodError(ValueError):
    """A bad --from, --to or --tz; the message says which and what to give."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(
            f"--tz {name!r} is not a time zone (give an IANA name such as {DEFAULT_TZ})"
        ) from None


def _moment(text: str, option: str, tz: ZoneInfo) -> tuple[datetime.datetime, bool]:
    """(the local or zoned date-time text names, whether it was a date alone)."""
    try:
        if len(text) == 10:
            day = datetime.date.fromisoformat(text)
            return datetime.datetime.combine(day, datetime.time(), tz), True
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise PeriodError(
            f"{option} {text!r} is not a date (give 2026-11-01 or 2026-11-01T06:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment, False


@dataclass(frozen=True)
class Period:
    start: float  # Unix time, included
    end: float  # Unix time, not included
    tz: ZoneInfo
    first_day: datetime.date  # the local date of start
    days: tuple[datetime.date, ...]  # every local date the period touches

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def day_after(self) -> datetime.date:
        """The local day after the period's last."""
        return self.days[-1] + datetime.timedelta(days=1)

    def applies_from(self) -> str:
        """From when a calibration the report finds applies, as a TOML offset date-time:
        the period's end in its zone ("2026-12-01T00:00:00+02:00"). A bare date would be
        00:00 UTC to the gateway (gateway/config.py), hours after a local midnight."""
        return datetime.datetime.fromtimestamp(self.end, self.tz).isoformat()

    def local(self, t: float) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(t, self.tz)


def period(start: str, end: str, tz_name: str = DEFAULT_TZ) -> Period:
    tz = zone(tz_name)
    first, _ = _moment(start, "--from", tz)
    last, whole_day = _moment(end, "--to", tz)
    if whole_day:
        last = datetime.datetime.combine(last.date() + datetime.timedelta(days=1), last.time(), tz)
    if last <= first:
        raise PeriodError(f"--to {end} is not after --from {start} (give a later --to)")
    a, b = first.timestamp(), last.timestamp()
    first_day = datetime.datetime.fromtimestamp(a, tz).date()
    last_day = datetime.datetime.fromtimestamp(b - 1e-3, tz).date()
    count = (last_day - first_day).days + 1
    days = tuple(first_day + datetime.timedelta(days=i) for i in range(count))
    return Period(a, b, tz, first_day, days)


@dataclass
class LocalClock:
    """(local day index from the period's first day, local hour) of Unix times, quickly.

    Millions of readings but few quarter hours: each quarter's local time is worked
    out once (offsets change only at quarter hours, so a quarter is one local hour).
    """

    period: Period
    _known: dict[int, tuple[int, int]] = field(default_factory=dict)

    def __call__(self, t: float) -> tuple[int, int]:
        q = int(t // _QUARTER)
        try:
            return self._known[q]
        except KeyError:
            pass
        local = datetime.datetime.fromtimestamp(q * _QUARTER, self.period.tz)
        out = self._known[q] = ((local.date() - self.period.first_day).days, local.hour)
        return out
