"""The report's content as sections of tables (and charts): what html.py and csv_tables.py show.

Both files come from these tables, so the CSV holds exactly the numbers the
page shows. A cell is a number (written with its column's decimals), a text,
or None (empty); the charts are the page's alone.
"""

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field

from meteolink.firmware import frames
from meteolink.gateway import labels
from meteolink.tools.report import air_limits
from meteolink.tools.report.comparison import Comparison, calibration_lines
from meteolink.tools.report.statistics import PM, Station, Summary
from meteolink.tools.report.words import word

Cell = str | int | float | None


@dataclass(frozen=True)
class Column:
    title: str
    decimals: int | None = None  # for a float; None: shown as it is


@dataclass
class Table:
    key: str  # names the table in the CSV
    title: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    node: int | None = None  # the station a per-station table is of


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str
    days: tuple[datetime.date, ...]
    values: tuple[float | None, ...]  # one a day, None for a day without
    node: int


@dataclass
class Section:
    key: str
    title: str
    note: str
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    code: str = ""  # text to copy (the calibration lines)


def decimals(name: str) -> int:
    """Digits after the point for a field's statistics: its codec resolution's."""
    if name in ("rssi",):
        return 0
    if name in ("snr", "dew_point", "sea_level_pressure"):
        return 1
    try:
        scale = frames.FIELDS[frames.field_id(name)][3]
    except frames.MeteolinkError:
        return 2
    return len(str(int(scale))) - 1 if scale >= 1 else 0


def _heading(name: str, lang: str) -> str:
    unit = labels.unit(name)
    return f"{labels.field_label(name, lang)}, {unit}" if unit else labels.field_label(name, lang)


def _pct(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole > 0 else None


def _position(st: Station) -> str:
    if st.latitude is None or st.longitude is None:
        return ""
    text = f"{st.latitude:.4f}, {st.longitude:.4f}"
    return f"{text}, {st.altitude:g} m" if st.altitude is not None else text


def stations_section(s: Summary, lang: str, offline_after: float) -> Section:
    sec = Section(
        "stations", word("stations", lang), word("stations_note", lang).format(after=offline_after)
    )
    t = Table(
        "stations",
        sec.title,
        [
            Column(word("node", lang)),
            Column(word("station", lang)),
            Column(word("position", lang)),
            Column(word("interval_min", lang), 1),
            Column(word("received", lang)),
            Column(word("expected", lang)),
            Column(word("completeness", lang), 1),
            Column(word("uptime", lang), 1),
            Column(word("left_out", lang)),
        ],
    )
    span = s.now - s.period.start
    for st in s.stations.values():
        expected = round(s.expected(st))
        t.rows.append(
            [
                st.node,
                st.name,
                _position(st),
                st.interval / 60,
                st.received,
                expected,
                _pct(st.received, expected),
                _pct(span - st.offline, span),
                sum(st.flagged.values()),
            ]
        )
    sec.tables.append(t)
    return sec


def _station_days(s: Summary, node: int, name: str) -> dict[int, list[float]]:
    return s.daily.get((node, name), {})


def daily_section(s: Summary, lang: str) -> Section:
    sec = Section("daily", word("daily", lang), word("daily_note", lang))
    fields = s.fields()
    for st in s.stations.values():
        mine = [f for f in fields if (st.node, f) in s.daily]
        if not mine:
            continue
        columns = [Column(word("date", lang))]
        for f in mine:
            d = decimals(f)
            head = _heading(f, lang)
            columns += [
                Column(f"{head} {word('min', lang)}", d),
                Column(f"{head} {word('mean', lang)}", d + 1),
                Column(f"{head} {word('max', lang)}", d),
            ]
        t = Table("daily", f"{st.name} ({st.node})", columns, node=st.node)
        for i, day in enumerate(s.period.days):
            row: list[Cell] = [day.isoformat()]
            seen = False
            for f in mine:
                v = _station_days(s, st.node, f).get(i)
                if v is None:
                    row += [None, None, None]
                else:
                    seen = True
                    row += [v[0], v[2] / v[3], v[1]]
            if seen:
                t.rows.append(row)
        sec.tables.append(t)
    return sec


def frost_section(s: Summary, lang: str) -> Section:
    sec = Section("frost", word("frost", lang), word("frost_note", lang))
    t = Table(
        "frost",
        sec.title,
        [
            Column(word("node", lang)),
            Column(word("station", lang)),
            Column(word("frost_days", lang)),
            Column(word("temp_days", lang)),
            Column(word("coldest_night", lang)),
            Column(word("lowest", lang), 2),
            Column(word("at", lang)),
        ],
    )
    for st in s.stations.values():
        days = _station_days(s, st.node, "temperature")
        if not days:
            continue
        frost = sum(1 for d in days.values() if d[0] < 0.0)
        nights = s.nights.get(st.node, {})
        night: list[Cell] = [None, None, None]
        if nights:
            index, (low, at) = min(nights.items(), key=lambda kv: (kv[1][0], kv[0]))
            first = s.period.days[0] + datetime.timedelta(days=index)
            second = first + datetime.timedelta(days=1)
            when = s.period.local(at).strftime("%Y-%m-%d %H:%M")
            night = [f"{first.isoformat()}/{second.strftime('%d')}", low, when]
        t.rows.append([st.node, st.name, frost, len(days), *night])
    sec.tables.append(t)
    return sec


def pm_sections(s: Summary, lang: str) -> Section:
    law = air_limits.law_on(s.period.days[-1])
    sec = Section(
        "pm", word("pm", lang), word("pm_note", lang).format(law=word(f"law_{law}", lang))
    )
    eu = air_limits.in_force(s.period.days[-1])
    t = Table(
        "pm",
        sec.title,
        [
            Column(word("node", lang)),
            Column(word("station", lang)),
            Column(word("pollutant", lang)),
            Column(word("valid_days", lang)),
            Column(word("incomplete_days", lang)),
            Column(word("period_mean", lang), 1),
            Column(word("highest_day", lang), 1),
            Column(word("over_eu", lang)),
            Column(word("over_eu2030", lang)),
            Column(word("over_who", lang)),
        ],
    )
    daily_tables = []
    for st in s.stations.values():
        per: dict[str, dict[int, tuple[float | None, int]]] = {}
        for p in PM:
            if (st.node, p) in s.pm_hours:
                per[p] = s.pm_day_means(st.node, p)
        if not per:
            continue
        for p, days in per.items():
            means = [m for m, _ in days.values()]
            valid = [m for m in means if m is not None]
            limit = eu[p]
            over_eu: Cell = (
                f"{air_limits.exceedances(means, limit.daily)} ({word('allowed', lang)}"
                f" {limit.allowed})"
                if limit.daily is not None
                else word("none_daily", lang)
            )
            t.rows.append(
                [
                    st.node,
                    st.name,
                    labels.field_label(p, lang),
                    len(valid),
                    len(means) - len(valid),
                    sum(valid) / len(valid) if valid else None,
                    max(valid) if valid else None,
                    over_eu,
                    air_limits.exceedances(means, air_limits.EU_2030[p].daily),
                    air_limits.exceedances(means, air_limits.WHO_2021[p].daily),
                ]
            )
        columns = [Column(word("date", lang))]
        for p in per:
            columns += [
                Column(f"{_heading(p, lang)} {word('mean', lang)}", 1),
                Column(f"{labels.field_label(p, lang)} {word('valid_hours', lang)}"),
            ]
        daily = Table("pm_daily", f"{word('pm_daily', lang)}: {st.name} ({st.node})", columns)
        daily.node = st.node
        for i, day in enumerate(s.period.days):
            row: list[Cell] = [day.isoformat()]
            for days in per.values():
                mean, hours = days.get(i, (None, 0))
                row += [mean, hours]
            daily.rows.append(row)
        daily_tables.append(daily)
    sec.tables = [t, *daily_tables]
    return sec


def link_section(s: Summary, lang: str) -> Section:
    sec = Section("link", word("link", lang), word("link_note", lang))
    t = Table(
        "link",
        sec.title,
        [
            Column(word("node", lang)),
            Column(word("station", lang)),
            Column(word("battery_first", lang), 3),
            Column(word("battery_last", lang), 3),
            Column(word("battery_low", lang), 3),
            Column(word("rssi_mean", lang), 1),
            Column(word("snr_mean", lang), 1),
        ],
    )
    for st in s.stations.values():
        battery = _station_days(s, st.node, "battery")
        rssi = _station_days(s, st.node, "rssi")
        snr = _station_days(s, st.node, "snr")
        if not (battery or rssi):
            continue

        def mean_of(days: dict[int, list[float]]) -> float | None:
            n = sum(d[3] for d in days.values())
            return sum(d[2] for d in days.values()) / n if n else None

        row: list[Cell] = [st.node, st.name]
        if battery:
            first, last = min(battery), max(battery)
            row += [
                battery[first][2] / battery[first][3],
                battery[last][2] / battery[last][3],
                min(d[0] for d in battery.values()),
            ]
        else:
            row += [None, None, None]
        row += [mean_of(rssi), mean_of(snr)]
        t.rows.append(row)
        for name, days, key in (
            ("battery", battery, "battery_chart"),
            ("rssi", rssi, "rssi_chart"),
        ):
            if days:
                values = tuple(
                    days[i][2] / days[i][3] if i in days else None
                    for i in range(len(s.period.days))
                )
                sec.charts.append(
                    Chart(
                        f"{word(key, lang)}: {st.name}",
                        labels.unit(name),
                        s.period.days,
                        values,
                        st.node,
                    )
                )
    sec.tables.append(t)
    return sec


def reference_section(
    comparisons: Sequence[Comparison],
    s: Summary,
    lang: str,
    file: str,
    hours: int,
) -> Section:
    sec = Section(
        "reference",
        word("reference", lang),
        word("reference_note", lang).format(file=file, hours=hours),
    )
    t = Table(
        "reference",
        sec.title,
        [
            Column(word("node", lang)),
            Column(word("station", lang)),
            Column(word("field", lang)),
            Column(word("n", lang)),
            Column(word("bias", lang), 3),
            Column(word("rmse", lang), 3),
            Column(word("r", lang), 4),
            Column(word("factor", lang), 4),
            Column(f"{word('factor', lang)} ±", 4),
            Column(word("offset", lang), 3),
            Column(f"{word('offset', lang)} ±", 3),
            Column(word("mean_offset", lang), 3),
            Column(f"{word('mean_offset', lang)} ±", 3),
        ],
    )
    blocks = [f"# meteolink report, {s.period.days[0]} .. {s.period.days[-1]}, reference {file}"]
    for c in comparisons:
        st = s.stations[c.node]
        t.rows.append(
            [
                c.node,
                st.name,
                labels.field_label(c.field, lang),
                c.n,
                c.bias,
                c.rmse,
                c.r,
                c.factor,
                c.factor_se,
                c.offset,
                c.offset_se,
                c.mean_offset,
                c.mean_offset_se,
            ]
        )
        current = s.compared_under.get((c.node, c.field))
        blocks.append("\n".join(calibration_lines(c, current, s.period.applies_from())))
    sec.tables.append(t)
    sec.code = "\n\n".join(blocks) + "\n" if comparisons else ""
    if not comparisons:
        sec.note += " " + word("no_pairs", lang)
    return sec


def quality_section(s: Summary, lang: str) -> Section:
    sec = Section("quality", word("quality", lang), word("daily_note", lang))
    t = Table(
        "quality",
        sec.title,
        [
            Column(word("node", lang)),
            Column(word("station", lang)),
            Column(word("field", lang)),
            Column(word("count", lang)),
        ],
    )
    for st in s.stations.values():
        for name, count in sorted(st.flagged.items()):
            t.rows.append([st.node, st.name, labels.field_label(name, lang), count])
    sec.tables.append(t)
    return sec
