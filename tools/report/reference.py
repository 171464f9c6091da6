"""A reference station's hourly readings (--reference FILE.csv), read and checked.

The format (docs/report.md has it for users): a header line, then one line an
hour. One column holds the time (named time, timestamp, datetime, date or laiks),
the others the reference's values, each named as meteolink names the field
(`meteolink fields`: temperature, humidity, pressure, pm2_5, pm10...). Accepted
as they come from a spreadsheet or a national service's download:

- separators ',' or ';' (or a tab), found from the header line;
- a decimal comma ("-1,4") as well as a point;
- times in ISO 8601 with or without an offset ("2026-11-01T13:00+02:00",
  "2026-11-01 13:00", "...Z"), or as 01.11.2026 13:00; without an offset the
  time is local time in --tz, and the hour the clocks repeat when they go back
  (03:00 twice in Riga) is the earlier hour on its first line, the later on its
  second;
- an empty cell is a missing value; a UTF-8 byte-order mark is skipped.

Each row is the mean of the hour that ENDS at its time (hourly means are
stamped with the end of their hour): it is compared with the station's
readings taken in (time - 1 h, time].
"""

import csv
import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from meteolink.firmware import frames

TIME_COLUMNS = ("time", "timestamp", "datetime", "date", "laiks")
DERIVED = ("dew_point", "sea_level_pressure")  # gateway/derived.py's numbers
HOUR = 3600


class ReferenceError(ValueError):
    """The reference file cannot be used; the message names the file, the line and what to do."""


@dataclass(frozen=True)
class Reference:
    path: Path
    fields: tuple[str, ...]  # the meteolink fields it has columns for
    # hour key (see hour_key) -> {field: value}
    hours: Mapping[int, Mapping[str, float]]
    phase: float  # seconds past the UTC hour at which its hours end (0 for whole hours)

    def hour_key(self, taken: float) -> int:
        """The key of the reference hour a reading taken at `taken` falls in."""
        return math.ceil((taken - self.phase) / HOUR)

    def hour_end(self, key: int) -> float:
        return key * HOUR + self.phase


def _time(text: str, tz: ZoneInfo) -> tuple[float, float | None]:
    """(the Unix time text names, and for a local time the clocks repeat when they go
    back, the time of its second occurrence; else None)."""
    text = text.strip()
    try:
        if len(text) >= 10 and text[2] == "." and text[5] == ".":  # 01.11.2026 13:00
            moment = datetime.datetime.strptime(text, "%d.%m.%Y %H:%M")
        else:
            moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(text) from None
    if moment.tzinfo is not None:
        return moment.timestamp(), None
    first = moment.replace(tzinfo=tz).timestamp()
    second = moment.replace(tzinfo=tz, fold=1).timestamp()
    return first, second if second > first else None


def _number(text: str) -> float | None:
    text = text.strip().replace("\u2212", "-")  # a typographic minus
    if not text:
        return None
    value = float(text.replace(",", "."))
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def read(path: Path, tz: ZoneInfo, start: float, end: float) -> Reference:
    """The rows of path whose hour ends in (start, end]; ReferenceError for any bad line."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        raise ReferenceError(f"{path}: no such file (give the reference CSV's path)") from None
    except UnicodeDecodeError:
        raise ReferenceError(f"{path}: not UTF-8 text (save the CSV as UTF-8)") from None
    except OSError as e:
        raise ReferenceError(f"{path}: {e.strerror} (give a file you can read)") from None
    lines = text.splitlines()
    if not lines:
        raise ReferenceError(f"{path}: empty (give a header line and one line an hour)")
    header_line = lines[0]
    delimiter = ";" if ";" in header_line else "\t" if "\t" in header_line else ","
    rows = csv.reader(lines, delimiter=delimiter)
    header = [h.strip().lower() for h in next(rows)]
    where = f"{path}: line 1"
    times = [i for i, h in enumerate(header) if h in TIME_COLUMNS]
    if len(times) != 1:
        raise ReferenceError(
            f"{where}: {'no' if not times else 'more than one'} time column"
            f" (name one column {' or '.join(TIME_COLUMNS[:2])})"
        )
    at = times[0]
    columns: dict[int, str] = {}
    for i, name in enumerate(header):
        if i == at:
            continue
        try:
            if name not in DERIVED:
                frames.field_id(name)
        except frames.MeteolinkError:
            raise ReferenceError(
                f"{where}: column {name!r} is not a meteolink field (name each column as"
                " `meteolink fields` lists them: temperature, pm2_5...)"
            ) from None
        if name in columns.values():
            raise ReferenceError(f"{where}: column {name!r} twice (give each field once)")
        columns[i] = name
    if not columns:
        raise ReferenceError(f"{where}: no field columns (add e.g. a temperature column)")
    hours: dict[int, dict[str, float]] = {}
    seen: set[float] = set()  # every line's time, in the period or not
    phase: float | None = None
    for number, row in enumerate(rows, 2):
        where = f"{path}: line {number}"
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ReferenceError(
                f"{where}: {len(row)} cells, the header has {len(header)}"
                f" (separate cells with {delimiter!r} on every line)"
            )
        try:
            t, again = _time(row[at], tz)
        except ValueError:
            raise ReferenceError(
                f"{where}: {row[at]!r} is not a time (give 2026-11-01T13:00 or 01.11.2026 13:00)"
            ) from None
        if again is not None and t in seen:
            t = again  # the hour the clocks repeat, its second time (local, no offset)
        seen.add(t)
        if phase is None:
            phase = t % HOUR
        elif abs((t - phase) % HOUR) > 1e-6:
            raise ReferenceError(
                f"{where}: {row[at].strip()} is not on the hour of the lines before it"
                " (give one line an hour)"
            )
        values: dict[str, float] = {}
        for i, name in columns.items():
            try:
                value = _number(row[i])
            except ValueError:
                raise ReferenceError(
                    f"{where}: {name} {row[i]!r} is not a number (give e.g. -1.4 or -1,4)"
                ) from None
            if value is not None:
                values[name] = value
        if not start < t <= end:
            continue  # checked all the same: a bad line is said wherever it is
        key = math.ceil((t - phase) / HOUR)
        if key in hours:
            raise ReferenceError(f"{where}: {row[at].strip()} again (give each hour once)")
        hours[key] = values
    if not hours:
        raise ReferenceError(
            f"{path}: no hour in the report's period (give readings of the same dates)"
        )
    return Reference(path, tuple(columns.values()), hours, phase or 0.0)
