"""One node's page (/nodes/<id>) and its JSON (/api/nodes/<id>): charts, figures, tallies.

    render(reader, config, node, lang, now) -> str    the whole HTML page
    as_json(reader, config, node, now) -> dict        the same data

What it shows, top to bottom: the station as the config describes it (name,
location, coordinates, altitude, exposure, sensor height, notes); the latest
reading; a chart of each measured and derived field over the last 24 hours and
the last 7 days, with lowest, highest and mean (gateway/web/svg.py); the link
(RSSI, SNR) and the battery the same way; the node's rejections from its tallies
(replayed counters, failed MICs) and each input's CRC errors; and the gaps in
its counter over the 7 days, read from the readings themselves.

Every value comes from the reading's state message (Reader.message, which is
messages.StateRows): calibrated with the calibration in force when it was
taken, derived values beside the measured ones, quality flags under "qc",
out-of-range values apart under "implausible" (counted, never drawn). The page
works nothing out a second time, so it shows what MQTT and export carry.

One query reads the 7 days (Reader.readings, in time order, on the index
readings_node_taken); the 24 hours are its tail. bench/status_page.py times it.
"""

import bisect
import datetime
import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from meteolink.firmware import frames
from meteolink.gateway import labels
from meteolink.gateway.config import Config, NodeConfig
from meteolink.gateway.messages import iso_utc
from meteolink.gateway.stats import Rejection
from meteolink.gateway.web import svg
from meteolink.gateway.web.node_words import DAY_NAMES, DECIMAL_MARK, flag_word, word
from meteolink.gateway.web.reader import Reader

HOUR = 3600.0
DAY = 24 * HOUR
PERIODS = (("24h", DAY, "last_24h"), ("7d", 7 * DAY, "last_7d"))  # (key, span, its words)
RECENT_SHOWN = 20  # rejections listed on the page, the most recent first
ZONE = ZoneInfo("Europe/Riga")  # the pilot's: staff read the clock on their wall
LINK = ("rssi", "snr", "battery")  # charted under "Link and battery"
GAPS_SHOWN = 20  # the most recent counter gaps listed
# Keys of a state message that are not a quantity to chart.
_WHO = ("id", "node", "seq", "time", "gateway", "name", "location", "latitude", "longitude")
_NOT_CHARTED = frozenset((*_WHO, "altitude", "status", "qc", "implausible", "calibrated"))
# Fields in the codec's order, then derived ones; any other quantity after these, by name.
_ORDER = {name: i for i, name in enumerate([f[0] for f in frames.FIELDS] + ["dew_point"])}
_ORDER["sea_level_pressure"] = len(_ORDER)


def decimals(name: str) -> int:
    """Decimals to print a field's figures with: its resolution in the frame (at most two),
    one for derived values and SNR, none for RSSI."""
    if name == "rssi":
        return 0
    try:
        scale = frames.FIELDS[frames.field_id(name)][3]
    except frames.MeteolinkError:
        return 1
    return min(2, max(0, math.ceil(math.log10(scale))))


@dataclass
class _Track:
    """One quantity's readings over the 7 days, in time order."""

    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    flags: dict[int, list[str]] = field(default_factory=dict)
    implausible: list[float] = field(default_factory=list)  # times of values not drawn

    def since(self, start: float) -> tuple[svg.Series, int]:
        """The readings from start on as a Series, and the implausible ones among them."""
        i = bisect.bisect_left(self.times, start)
        flags = {k - i: v for k, v in self.flags.items() if k >= i}
        n_bad = len(self.implausible) - bisect.bisect_left(self.implausible, start)
        return svg.Series(self.times[i:], self.values[i:], flags), n_bad


@dataclass(frozen=True)
class Gap:
    """Readings missing between two the store has: after seq, before seq."""

    after: int
    before: int
    start: float  # taken, of the reading before the gap
    end: float  # and of the one after it
    boot: bool = False  # the reading after it is a cold boot's first (frames.FLAG_BOOT)

    @property
    def missing(self) -> int:
        """Counters skipped; 0 for a restart: a cold boot's counter jumps ahead on purpose
        (docs/protocol.md), and one that went back is a node that started afresh."""
        return 0 if self.boot else max(0, self.before - self.after - 1)


@dataclass
class _Collected:
    tracks: dict[str, _Track]
    gaps: list[Gap]


def _collect(reader: Reader, node: int, start: float, end: float) -> _Collected:
    """One pass over the node's readings in [start, end): each quantity's track, the gaps."""
    tracks: dict[str, _Track] = {}
    gaps: list[Gap] = []
    prev: tuple[int, float] | None = None
    for row in reader.readings(node, start, end):
        msg = reader.message(row)
        if msg is None:
            continue  # a frame that no longer decodes: the outbox sets it aside
        seq, taken = row[2], row[3]
        if prev is not None and seq != prev[0] + 1:
            boot = bool(frames.header(row[4])[1] & frames.FLAG_BOOT)
            gaps.append(Gap(prev[0], seq, prev[1], taken, boot))
        prev = (seq, taken)
        qc: Mapping[str, list[str]] = msg.get("qc") or {}
        for key, value in msg.items():
            if key in _NOT_CHARTED or isinstance(value, bool | str):
                continue
            if not isinstance(value, int | float):
                continue
            track = tracks.get(key)
            if track is None:
                track = tracks[key] = _Track()
            flags = qc.get(key)
            if flags:
                track.flags[len(track.times)] = list(flags)
            track.times.append(taken)
            track.values.append(float(value))
        for key in msg.get("implausible") or {}:
            tracks.setdefault(key, _Track()).implausible.append(taken)
    return _Collected(tracks, gaps)


def _charted(tracks: Iterable[str]) -> tuple[list[str], list[str]]:
    """(measured and derived fields, link fields) present, each in the page's order."""
    names = sorted(tracks, key=lambda n: (_ORDER.get(n, len(_ORDER)), n))
    return [n for n in names if n not in LINK], [n for n in LINK if n in names]


def _interval(conf: NodeConfig | None) -> float:
    return conf.interval if conf is not None else NodeConfig().interval


# -- JSON ---------------------------------------------------------------------------


def _station(conf: NodeConfig | None) -> dict[str, Any]:
    conf = conf or NodeConfig()
    return {
        "name": conf.name,
        "location": conf.location,
        "latitude": conf.latitude,
        "longitude": conf.longitude,
        "altitude": conf.altitude,
        "exposure": conf.exposure,
        "sensor_height": conf.sensor_height,
        "notes": conf.notes,
        "interval": conf.interval,
    }


def _field_json(name: str, series: svg.Series, implausible: int) -> dict[str, Any]:
    fig = svg.figures(series)
    flagged: dict[str, int] = {}
    for flags in series.flags.values():
        for flag in flags:
            flagged[flag] = flagged.get(flag, 0) + 1
    return {
        "unit": labels.unit(name),
        "readings": len(series.values),
        "min": fig.minimum if fig else None,
        "min_time": iso_utc(fig.minimum_at) if fig else None,
        "max": fig.maximum if fig else None,
        "max_time": iso_utc(fig.maximum_at) if fig else None,
        "mean": round(fig.mean, decimals(name) + 1) if fig else None,
        "flagged": flagged,
        "implausible": implausible,
        "points": [[t, v] for t, v in zip(series.times, series.values, strict=True)],
    }


def _tallies(reader: Reader, node: int) -> dict[str, Any] | None:
    stats = reader.stats(node)
    if stats is None:
        return None
    out = stats.as_json()
    if stats.last_seen is not None:
        out["last_seen"] = iso_utc(stats.last_seen)
    return out


def as_json(reader: Reader, config: Config, node: int, now: float) -> dict[str, Any]:
    """The page's data: station, latest reading, each period's fields and link with
    figures and points ([Unix time, value]), tallies, CRC errors per input, gaps."""
    conf = config.node(node)
    collected = _collect(reader, node, now - PERIODS[-1][1], now)
    fields, link = _charted(collected.tracks)
    latest = reader.latest(node)
    periods = {}
    for key, span, _ in PERIODS:
        part: dict[str, Any] = {"start": iso_utc(now - span), "end": iso_utc(now)}
        for group, names in (("fields", fields), ("link", link)):
            part[group] = {n: _field_json(n, *collected.tracks[n].since(now - span)) for n in names}
        periods[key] = part
    return {
        "node": node,
        "now": iso_utc(now),
        "zone": ZONE.key,
        "station": _station(conf),
        "latest": reader.message(latest) if latest is not None else None,
        "periods": periods,
        "tallies": _tallies(reader, node),
        "tallies_live": reader.gateway.live,
        "crc_errors": {name: s.crc_errors for name, s in reader.inputs().items()},
        "recent_rejections": [r.as_json() for r in reader.gateway.recent if r.node == node][
            -RECENT_SHOWN:
        ],
        "counter_gaps": [
            {
                "after_seq": g.after,
                "before_seq": g.before,
                "missing": g.missing,
                "restart": g.missing == 0,
                "from": iso_utc(g.start),
                "to": iso_utc(g.end),
            }
            for g in reversed(collected.gaps[-GAPS_SHOWN:])
        ],
    }


# -- HTML ---------------------------------------------------------------------------

_STYLE = """
*{box-sizing:border-box}
body{font:16px/1.4 system-ui,sans-serif;margin:0 auto;padding:0 .75rem 2rem;max-width:64rem;
color:#1b1f24;background:#fff;overflow-wrap:anywhere}
header a{font-size:.9rem}
h1{font-size:1.35rem;margin:.6rem 0}h2{font-size:1.15rem;margin:1.4rem 0 .4rem}
h3{font-size:1rem;margin:1rem 0 .2rem}
dl{display:grid;grid-template-columns:fit-content(45%) 1fr;gap:.15rem .8rem;margin:0}
dt{color:#555}dd{margin:0}
table{border-collapse:collapse;width:100%;max-width:40rem}
td,th{padding:.25rem .4rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,22rem),1fr));gap:.6rem}
figure{margin:0}figcaption{font-size:.85rem;color:#555}
svg.chart{width:100%;height:auto;display:block}
svg .grid{stroke:#e3e3e3;stroke-width:1}svg .grid.day{stroke:#b8b8b8}
svg .frame{fill:none;stroke:#999}
svg .line{fill:none;stroke:#1f5fa8;stroke-width:1.5;stroke-linejoin:round}
svg .lone{fill:#1f5fa8}
svg .flag{fill:none;stroke:#c0392b;stroke-width:2}
svg text{font:12px system-ui,sans-serif;fill:#333}svg .figures{font-weight:600}
svg .zone,svg .unit{fill:#666}svg .empty{fill:#888}
.flags{color:#c0392b}.note{font-size:.85rem;color:#555}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _local(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, ZONE).strftime("%Y-%m-%d %H:%M")


def _num(value: float, name: str, lang: str) -> str:
    return svg.number(value, decimals(name), DECIMAL_MARK[lang])


def _with_unit(text: str, name: str) -> str:
    unit = labels.unit(name)
    return f"{text} {unit}" if unit else text


def _station_html(node: int, conf: NodeConfig | None, lang: str) -> str:
    conf = conf or NodeConfig()
    mark = DECIMAL_MARK[lang]
    rows: list[tuple[str, str]] = []
    if conf.location:
        rows.append((word("location", lang), conf.location))
    if conf.latitude is not None and conf.longitude is not None:
        lat = svg.number(abs(conf.latitude), 5, mark)
        lon = svg.number(abs(conf.longitude), 5, mark)
        ns = "N" if conf.latitude >= 0 else "S"
        ew = "E" if conf.longitude >= 0 else "W"
        rows.append((word("coordinates", lang), f"{lat}° {ns}, {lon}° {ew}"))
    if conf.altitude is not None:
        rows.append((word("altitude", lang), f"{svg.number(conf.altitude, 1, mark)} m"))
    if conf.exposure:
        rows.append((word("exposure", lang), word(conf.exposure, lang)))
    if conf.sensor_height is not None:
        height = svg.number(conf.sensor_height, 1, mark)
        rows.append((word("sensor_height", lang), f"{height} m"))
    minutes = conf.interval / 60
    interval = svg.number(minutes, 0 if minutes == int(minutes) else 1, mark)
    rows.append((word("interval", lang), f"{interval} {word('min_unit', lang)}"))
    if conf.notes:
        rows.append((word("notes", lang), conf.notes))
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return f'<section class="station"><dl>{items}</dl></section>'


def _flags_text(flags: Iterable[str], lang: str) -> str:
    return ", ".join(flag_word(f, lang) for f in flags)


def _latest_html(msg: dict[str, Any] | None, taken: float | None, lang: str) -> str:
    head = f'<section class="latest"><h2>{_e(word("latest", lang))}</h2>'
    if msg is None or taken is None:
        return head + f"<p>{_e(word('none_yet', lang))}</p></section>"
    fields, link = _charted(k for k, v in msg.items() if k not in _NOT_CHARTED)
    qc: Mapping[str, list[str]] = msg.get("qc") or {}
    rows = []
    for name in fields + link:
        value = msg[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        flags = qc.get(name)
        mark = f' <span class="flags">({_e(_flags_text(flags, lang))})</span>' if flags else ""
        rows.append(
            f'<tr data-field="{_e(name)}"><th>{_e(labels.field_label(name, lang))}</th>'
            f'<td class="num">{_e(_with_unit(_num(value, name, lang), name))}</td>'
            f"<td>{mark}</td></tr>"
        )
    for name, value in (msg.get("implausible") or {}).items():
        rows.append(
            f'<tr data-field="{_e(name)}"><th>{_e(labels.field_label(name, lang))}</th>'
            f'<td class="num">{_e(_with_unit(_num(value, name, lang), name))}</td>'
            f'<td class="flags">({_e(word("implausible", lang))})</td></tr>'
        )
    when = f"{word('taken', lang)} {_local(taken)} ({ZONE.key})"
    return head + f'<p class="note">{_e(when)}</p><table>{"".join(rows)}</table></section>'


def _chart_text(name: str, lang: str, title: str) -> svg.Text:
    return svg.Text(
        unit=labels.unit(name),
        decimals=decimals(name),
        decimal_mark=DECIMAL_MARK[lang],
        minimum=word("min", lang),
        maximum=word("max", lang),
        mean=word("mean", lang),
        no_data=word("no_data", lang),
        zone_note=word("zone_note", lang),
        day_names=DAY_NAMES[lang],
        flagged=word("flagged", lang),
        title=title,
    )


def _chart_html(
    name: str, track: _Track, now: float, interval: float, lang: str, calibrated: object
) -> str:
    label = labels.field_label(name, lang)
    unit = labels.unit(name)
    # "Signal strength (RSSI), dBm": not two brackets in a row
    heading = (
        (f"{label}, {unit}" if label.endswith(")") else f"{label} ({unit})") if unit else label
    )
    if calibrated:
        heading += f" · {word('calibrated', lang)}"
    parts = [f'<article class="field" id="f-{_e(name)}" data-field="{_e(name)}">']
    parts.append(f"<h3>{_e(heading)}</h3><div class=pair>")
    for key, span, words in PERIODS:
        series, implausible = track.since(now - span)
        frame = svg.Frame(now - span, now, interval, ZONE)
        chart = svg.line_chart(
            series, frame, _chart_text(name, lang, f"{label}, {word(words, lang)}")
        )
        caption = [f"{word(words, lang)} · {len(series.values)} {word('readings', lang)}"]
        if series.flags:
            caption.append(f"{len(series.flags)} {word('flagged', lang)}")
        if implausible:
            caption.append(f"{implausible} {word('implausible', lang)}")
        if len(series.values) > svg.PLOT_WIDTH:
            caption.append(word("downsampled", lang))
        parts.append(
            f'<figure class="period" data-period="{key}">{chart}'
            f"<figcaption>{_e(' · '.join(caption))}</figcaption></figure>"
        )
    parts.append("</div></article>")
    return "".join(parts)


def _rejections_html(reader: Reader, node: int, lang: str) -> str:
    head = f'<section class="rejections"><h2>{_e(word("rejections", lang))}</h2>'
    stats = reader.stats(node)
    rows = []
    if stats is None:
        body = f"<p>{_e(word('no_tallies', lang))}</p>"
    else:
        since = word("tallies_live" if reader.gateway.live else "tallies_store", lang)
        for key, value in (
            ("received", stats.received),
            ("lost", stats.lost),
            ("duplicates", stats.duplicates),
            ("replays", stats.rejected),
            ("mic_failures", stats.mic_failures),
        ):
            rows.append(
                f'<tr data-tally="{key}"><th>{_e(word(key, lang))}</th>'
                f'<td class="num">{value}</td></tr>'
            )
        body = f'<p class="note">{_e(since)}</p><table>{"".join(rows)}</table>'
    crc = [
        f'<tr data-input="{_e(name)}"><th>{_e(word("crc_errors", lang))}: {_e(name)}</th>'
        f'<td class="num">{s.crc_errors}</td></tr>'
        for name, s in sorted(reader.inputs().items())
    ]
    if crc:
        body += f'<table>{"".join(crc)}</table><p class="note">{_e(word("crc_note", lang))}</p>'
    mine = [r for r in reader.gateway.recent if r.node == node][-RECENT_SHOWN:]
    crc_recent = [r for r in reader.gateway.recent if r.reason == "crc"][-RECENT_SHOWN:]
    body += _recent_html(word("recent", lang), mine, lang)
    body += _recent_html(word("recent_crc", lang), crc_recent, lang)
    return head + body + "</section>"


def _recent_html(title: str, rejections: list[Rejection], lang: str) -> str:
    """A table of frames turned away, the most recent first."""
    out = f"<h3>{_e(title)}</h3>"
    if not rejections:
        return out + f'<p class="note">{_e(word("no_recent", lang))}</p>'
    head = "".join(f"<th>{_e(word(k, lang))}</th>" for k in ("when", "why", "counter", "input"))
    rows = []
    for r in reversed(rejections):
        link = f" ({r.rssi} dBm)" if r.rssi is not None else ""
        rows.append(
            f'<tr data-reason="{_e(r.reason)}"><td>{_e(_local(r.time))}</td>'
            f"<td>{_e(word('reason_' + r.reason, lang))}</td>"
            f'<td class="num">{"" if r.seq is None else r.seq}</td>'
            f"<td>{_e(r.source + link)}</td></tr>"
        )
    return f'<table class="recent"><tr>{head}</tr>{"".join(rows)}</table>'


def _gaps_html(gaps: list[Gap], lang: str) -> str:
    head = f'<section class="gaps"><h2>{_e(word("gaps", lang))}</h2>'
    if not gaps:
        return head + f"<p>{_e(word('no_gaps', lang))}</p></section>"
    rows = []
    for g in reversed(gaps[-GAPS_SHOWN:]):
        what = (
            f"{g.missing} {word('gap_missing', lang)} ({g.after + 1}…{g.before - 1})"
            if g.missing
            else f"{word('restart', lang)} ({g.after} → {g.before})"
        )
        rows.append(
            f'<tr class="gap" data-missing="{g.missing}"><td>{_e(_local(g.start))} –'
            f" {_e(_local(g.end))}</td><td>{_e(what)}</td></tr>"
        )
    return head + f"<table>{''.join(rows)}</table></section>"


def render(reader: Reader, config: Config, node: int, lang: str, now: float) -> str:
    """The node's page in lang ("en" or "lv"), as of now (Unix seconds)."""
    lang = lang if lang in labels.LANGUAGES else labels.DEFAULT
    conf = config.node(node)
    collected = _collect(reader, node, now - PERIODS[-1][1], now)
    fields, link = _charted(collected.tracks)
    latest = reader.latest(node)
    msg = reader.message(latest) if latest is not None else None
    calibrated = (msg or {}).get("calibrated") or {}
    interval = _interval(conf)
    title = f"{word('node', lang)} {node}" + (f" — {conf.name}" if conf and conf.name else "")
    out = [
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        f'<header><a href="/">← {_e(word("overview", lang))}</a><h1>{_e(title)}</h1></header>',
        _station_html(node, conf, lang),
        _latest_html(msg, latest.taken if latest is not None else None, lang),
    ]
    for section, names in (("fields", fields), ("link", link)):
        if not names:
            continue
        out.append(f'<section class="{section}"><h2>{_e(word(section, lang))}</h2>')
        out.extend(
            _chart_html(n, collected.tracks[n], now, interval, lang, calibrated.get(n))
            for n in names
        )
        out.append("</section>")
    out.append(_rejections_html(reader, node, lang))
    out.append(_gaps_html(collected.gaps, lang))
    out.append("</body></html>")
    return "".join(out)
