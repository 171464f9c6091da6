"""Line charts as inline SVG, drawn on the server: no script, no library, no CDN.

The status page must work in the field, offline, on a phone, from a Pi Zero 2 W,
so a chart is a few kilobytes of SVG text the page carries inside itself.

    line_chart(series, frame, text) -> str     one chart: axes, line, marks, figures

What a chart shows, and why:
- The time axis is local time (Europe/Riga for the pilot; the zone is a
  parameter) and says so: staff read "14:00" as their afternoon. Ticks fall on
  whole local hours (every 1, 2, 3, 6 or 12) or local midnights, whichever step
  gives at most MAX_TIME_TICKS; the hour that a change to winter time repeats
  gets one tick, not two.
- The value axis has "nice" round ticks, steps of 1, 2 or 5 times a power of
  ten (the rule of Heckbert's "Nice numbers for graph labels", Graphics Gems,
  1990), and the unit.
- Readings more than GAP_INTERVALS node intervals apart are not joined: the
  line breaks where readings are missing (three or more in a row), so a silent
  night is never drawn as a straight line across it.
- Each segment is one <polyline>; its `data-vertices` says how many vertices it
  has and `data-readings` how many readings they stand for. Below
  DOWNSAMPLE_AT readings per pixel column every reading is a vertex.
- Past one reading per pixel column (a week at ten minutes is 1,008 readings in
  some 430 columns) the readings are bucketed BUCKET_PX columns wide and each
  bucket keeps its lowest and its highest reading, in time order: a one-reading
  spike stays on the line at its full height, which an average would hide.
- Flagged readings (quality control) are marked with a ring and a tooltip
  naming the flags, at their own time and value, whether or not downsampling
  kept them as vertices.
- Lowest, highest and mean of the readings drawn are printed above the plot.

Pure functions of their arguments; gateway/web/node_page.py feeds them.
"""

import datetime
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

GAP_INTERVALS = 3.5  # readings further apart than this many intervals are not joined
MAX_TIME_TICKS = 8  # at most this many labels under a chart: they fit on a phone
VALUE_TICKS = 5  # about this many value ticks
BUCKET_PX = 2  # downsampling: each bucket this many pixel columns, its low and its high
_HOUR_STEPS = (1, 2, 3, 6, 12)
_DAY_STEPS = (1, 2, 7)

# The chart's own coordinates. The SVG scales to the page's width (CSS); these
# sizes keep its text readable at a phone's 360 CSS pixels.
WIDTH = 480
HEIGHT = 210
_LEFT = 46  # value labels
_RIGHT = 8
_TOP = 30  # the figures line
_BOTTOM = 34  # time labels, the zone's name
PLOT_WIDTH = WIDTH - _LEFT - _RIGHT
PLOT_HEIGHT = HEIGHT - _TOP - _BOTTOM


@dataclass(frozen=True)
class Series:
    """One quantity's readings in time order: times (Unix seconds) and values,
    and the flags of the flagged ones by their index."""

    times: Sequence[float]
    values: Sequence[float]
    flags: Mapping[int, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Frame:
    """What the chart spans and how its readings are spaced."""

    start: float  # Unix seconds, left edge
    end: float  # right edge
    interval: float  # seconds between the node's readings (its config's interval)
    zone: ZoneInfo


@dataclass(frozen=True)
class Text:
    """The words and number format of a chart (gateway/web/node_words.py fills it)."""

    unit: str = ""
    decimals: int = 1  # of the values printed
    decimal_mark: str = "."
    minimum: str = "min"
    maximum: str = "max"
    mean: str = "mean"
    no_data: str = "no readings"
    zone_note: str = "local time"  # under the time axis, with the zone's name
    day_names: Sequence[str] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    flagged: str = "flagged"  # tooltip prefix of a flagged reading's ring
    title: str = ""  # the chart's accessible name


@dataclass(frozen=True)
class Figures:
    """Lowest, highest and mean of a series, with the times of the first lowest and highest."""

    count: int
    minimum: float
    minimum_at: float
    maximum: float
    maximum_at: float
    mean: float


def figures(series: Series) -> Figures | None:
    """The series' figures; None when it has no readings."""
    values = series.values
    if not values:
        return None
    lo = min(range(len(values)), key=values.__getitem__)
    hi = max(range(len(values)), key=values.__getitem__)
    return Figures(
        count=len(values),
        minimum=values[lo],
        minimum_at=series.times[lo],
        maximum=values[hi],
        maximum_at=series.times[hi],
        mean=math.fsum(values) / len(values),
    )


# -- axes ---------------------------------------------------------------------------


def _nice(x: float, *, rounded: bool) -> float:
    """A number of the form 1, 2 or 5 (10 with rounding up) times a power of ten near x."""
    exponent = math.floor(math.log10(x))
    fraction = x / 10.0**exponent
    if rounded:
        steps = ((1.5, 1.0), (3.0, 2.0), (7.0, 5.0))
        nice = next((n for limit, n in steps if fraction < limit), 10.0)
    else:
        nice = next((n for n in (1.0, 2.0, 5.0) if fraction <= n), 10.0)
    return nice * 10.0**exponent


def value_ticks(low: float, high: float, count: int = VALUE_TICKS) -> list[float]:
    """Round tick values from at or below low to at or above high, about count of them,
    evenly stepped by 1, 2 or 5 times a power of ten (Heckbert 1990)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"value_ticks: {low}..{high} is not a finite range")
    if high < low:
        low, high = high, low
    if high == low:  # one value: a range around it, so it sits mid-chart
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    step = _nice(_nice(high - low, rounded=False) / (count - 1), rounded=True)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    # integer multiples of the step: no drift from repeated addition
    return [_clean(i * step) for i in range(first, last + 1)]


def _clean(x: float) -> float:
    """x without binary-fraction dust (0.30000000000000004 -> 0.3), and no -0.0."""
    return round(x, 12) + 0.0


def step_decimals(ticks: Sequence[float]) -> int:
    """Decimals that tell ticks apart: 0 for a step of 5, 1 for 0.5, 2 for 0.02."""
    if len(ticks) < 2:
        return 0
    step = abs(ticks[1] - ticks[0])
    return max(0, -math.floor(math.log10(step) + 1e-9))


@dataclass(frozen=True)
class TimeTick:
    at: float  # Unix seconds
    label: str
    midnight: bool  # a day's start: drawn stronger


def time_ticks(
    start: float, end: float, zone: ZoneInfo, day_names: Sequence[str] = Text.day_names
) -> list[TimeTick]:
    """Ticks in [start, end] on whole local hours, or local midnights for a long span.

    The step is the smallest of 1, 2, 3, 6, 12 hours, then 1, 2, 7 days, that
    gives at most MAX_TIME_TICKS. Candidates are the whole UTC hours in the span,
    read in local time: a zone's offset is whole hours (Europe/Riga's is), so every
    local whole hour is among them, and a change of clocks needs no special case
    beyond keeping one of a repeated hour (fold 0). Midnight is labelled with the
    day ("Sat 28"), other hours "HH:00".
    """
    span_h = (end - start) / 3600
    hours = [h for h in _HOUR_STEPS if span_h / h <= MAX_TIME_TICKS]
    days = [d for d in _DAY_STEPS if span_h / 24 / d <= MAX_TIME_TICKS]
    step_h, step_d = (hours[0], 0) if hours else (0, days[0] if days else _DAY_STEPS[-1])
    ticks = []
    t = math.ceil(start / 3600) * 3600
    while t <= end:
        local = datetime.datetime.fromtimestamp(t, zone)
        if local.minute == 0 and local.fold == 0:
            midnight = local.hour == 0
            if step_h and local.hour % step_h == 0:
                ticks.append(TimeTick(t, _tick_label(local, day_names), midnight))
            elif step_d and midnight and local.toordinal() % step_d == 0:
                ticks.append(TimeTick(t, _tick_label(local, day_names), True))
        t += 3600
    return ticks


def _tick_label(local: datetime.datetime, day_names: Sequence[str]) -> str:
    if local.hour == 0:
        return f"{day_names[local.weekday()]} {local.day}"
    return f"{local.hour:02d}:00"


# -- the line -----------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """Consecutive readings drawn as one line: the vertices' indices into the series,
    and how many readings the segment holds."""

    vertices: list[int]
    readings: int


def segments(times: Sequence[float], interval: float) -> list[tuple[int, int]]:
    """[first, last) index ranges of readings no more than GAP_INTERVALS intervals apart."""
    out = []
    gap = GAP_INTERVALS * interval
    first = 0
    for i in range(1, len(times)):
        if times[i] - times[i - 1] > gap:
            out.append((first, i))
            first = i
    if times:
        out.append((first, len(times)))
    return out


def downsample(
    xs: Sequence[float], values: Sequence[float], first: int, last: int, bucket_px: float
) -> list[int]:
    """Indices in [first, last) to draw: in each bucket of bucket_px pixels (by x), the
    lowest and the highest reading, in time order (one when they are the same reading).
    A spike is a bucket's highest (or lowest), so it is always kept."""
    keep: list[int] = []
    i = first
    while i < last:
        bucket = int(xs[i] // bucket_px)
        lo = hi = i
        j = i + 1
        while j < last and int(xs[j] // bucket_px) == bucket:
            v = values[j]
            if v < values[lo]:
                lo = j
            if v > values[hi]:
                hi = j
            j += 1
        keep.extend(sorted({lo, hi}))
        i = j
    return keep


def line_segments(series: Series, frame: Frame, xs: Sequence[float]) -> list[Segment]:
    """The segments to draw, every reading a vertex unless there are more readings in
    the chart than pixel columns; then each segment is downsampled (downsample())."""
    dense = len(series.times) > PLOT_WIDTH
    out = []
    for first, last in segments(series.times, frame.interval):
        if dense:
            vertices = downsample(xs, series.values, first, last, BUCKET_PX)
        else:
            vertices = list(range(first, last))
        out.append(Segment(vertices, last - first))
    return out


# -- the chart ----------------------------------------------------------------------


def number(value: float, decimals: int, mark: str = ".") -> str:
    """value with decimals places and the language's decimal mark ("," in Latvian)."""
    text = f"{value:.{decimals}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]  # no "-0.0"
    return text.replace(".", mark) if mark != "." else text


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def line_chart(series: Series, frame: Frame, text: Text) -> str:
    """The chart as an <svg> element: axes, line segments, flagged marks, figures."""
    span = frame.end - frame.start
    if span <= 0:
        raise ValueError(f"line_chart: the frame ends before it starts ({frame.start}..)")
    sx = PLOT_WIDTH / span
    xs = [_LEFT + (t - frame.start) * sx for t in series.times]
    stats = figures(series)
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        f' aria-label="{_esc(text.title)}" data-readings="{len(series.values)}"'
        f' xmlns="http://www.w3.org/2000/svg">'
    ]
    if text.title:
        out.append(f"<title>{_esc(text.title)}</title>")
    # the time axis, first: its grid lines sit under everything else
    bottom = _TOP + PLOT_HEIGHT
    for tick in time_ticks(frame.start, frame.end, frame.zone, text.day_names):
        x = _LEFT + (tick.at - frame.start) * sx
        cls = "grid day" if tick.midnight else "grid"
        out.append(f'<line class="{cls}" x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" y2="{bottom}"/>')
        # centred under its line; the value labels' margin takes the half of one at the left
        anchor = "end" if x > WIDTH - 18 else "middle"
        out.append(
            f'<text class="tick time" x="{x:.1f}" y="{bottom + 14}"'
            f' text-anchor="{anchor}">{_esc(tick.label)}</text>'
        )
    out.append(
        f'<text class="zone" x="{WIDTH - _RIGHT}" y="{HEIGHT - 3}" text-anchor="end">'
        f"{_esc(text.zone_note)} ({_esc(frame.zone.key)})</text>"
    )
    if stats is None:
        out.append(
            f'<text class="empty" x="{_LEFT + PLOT_WIDTH / 2:.1f}" y="{_TOP + PLOT_HEIGHT / 2:.1f}"'
            f' text-anchor="middle">{_esc(text.no_data)}</text>'
        )
        out.append(
            f'<rect class="frame" x="{_LEFT}" y="{_TOP}" width="{PLOT_WIDTH}"'
            f' height="{PLOT_HEIGHT}"/>'
        )
        out.append("</svg>")
        return "".join(out)
    ticks = value_ticks(stats.minimum, stats.maximum)
    low, high = ticks[0], ticks[-1]
    sy = PLOT_HEIGHT / (high - low)
    decimals = step_decimals(ticks)
    for v in ticks:
        y = bottom - (v - low) * sy
        out.append(
            f'<line class="grid" x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" y2="{y:.1f}"/>'
        )
        out.append(
            f'<text class="tick value" x="{_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{number(v, decimals, text.decimal_mark)}</text>"
        )
    if text.unit:
        out.append(f'<text class="unit" x="4" y="{_TOP - 6}">{_esc(text.unit)}</text>')
    out.append(
        f'<rect class="frame" x="{_LEFT}" y="{_TOP}" width="{PLOT_WIDTH}" height="{PLOT_HEIGHT}"/>'
    )
    values = series.values
    ys = [bottom - (v - low) * sy for v in values]
    for seg in line_segments(series, frame, xs):
        points = " ".join(f"{xs[i]:.1f},{ys[i]:.1f}" for i in seg.vertices)
        out.append(
            f'<polyline class="line" points="{points}" data-vertices="{len(seg.vertices)}"'
            f' data-readings="{seg.readings}"/>'
        )
        if seg.readings == 1:  # a lone reading: a line of one point draws nothing
            i = seg.vertices[0]
            out.append(f'<circle class="lone" cx="{xs[i]:.1f}" cy="{ys[i]:.1f}" r="2"/>')
    for i, flags in sorted(series.flags.items()):
        shown = number(values[i], text.decimals, text.decimal_mark)
        label = f"{text.flagged}: {', '.join(flags)} ({shown})"
        out.append(
            f'<circle class="flag" cx="{xs[i]:.1f}" cy="{ys[i]:.1f}" r="4"'
            f' data-flags="{_esc(" ".join(flags))}"><title>{_esc(label)}</title></circle>'
        )
    d, mark, unit = text.decimals, text.decimal_mark, text.unit
    summary = (
        f"{text.minimum} {number(stats.minimum, d, mark)} · {text.maximum}"
        f" {number(stats.maximum, d, mark)} · {text.mean} {number(stats.mean, d, mark)}"
        + (f" {unit}" if unit else "")
    )
    out.append(
        f'<text class="figures" x="{WIDTH - _RIGHT}" y="{_TOP - 8}" text-anchor="end"'
        f' data-min="{stats.minimum!r}" data-max="{stats.maximum!r}" data-mean="{stats.mean!r}">'
        f"{_esc(summary)}</text>"
    )
    out.append("</svg>")
    return "".join(out)
