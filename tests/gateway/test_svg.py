"""The chart renderer's parts: round value ticks, local-time ticks, gaps, downsampling."""

import datetime
import itertools
import math
import re
from zoneinfo import ZoneInfo

import pytest

from meteolink.gateway.web import svg

RIGA = ZoneInfo("Europe/Riga")


def utc(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=datetime.UTC).timestamp()


# -- value ticks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.0, 100.0, [0, 20, 40, 60, 80, 100]),
        (-3.2, 7.9, [-5, 0, 5, 10]),  # range 11.1 -> nice 20 -> 20/4 = 5
        (1009.4, 1031.7, [1000, 1010, 1020, 1030, 1040]),  # 22.3 -> 50 -> 12.5 -> 10
        (0.12, 0.31, [0.1, 0.15, 0.2, 0.25, 0.3, 0.35]),
        (3.889, 3.902, [3.885, 3.89, 3.895, 3.9, 3.905]),
    ],
)
def test_value_ticks_are_round_and_cover_the_range(
    low: float, high: float, expected: list[float]
) -> None:
    assert svg.value_ticks(low, high) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("low", "high"), [(-27.3, 31.9), (0.0, 0.004), (412.0, 2017.0), (-0.5, 0.5), (1e5, 1.7e5)]
)
def test_value_ticks_step_by_one_two_or_five_times_a_power_of_ten(low: float, high: float) -> None:
    ticks = svg.value_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high
    assert 4 <= len(ticks) <= 11
    step = ticks[1] - ticks[0]
    assert all(abs((b - a) - step) < 1e-9 * step for a, b in itertools.pairwise(ticks))
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
    assert round(mantissa, 9) in (1.0, 2.0, 5.0)
    # the ticks are whole multiples of the step, so their labels are round
    assert all(abs(t / step - round(t / step)) < 1e-6 for t in ticks)


def test_one_value_gets_a_range_around_it() -> None:
    ticks = svg.value_ticks(3.9, 3.9)
    assert ticks[0] < 3.9 < ticks[-1]
    assert svg.value_ticks(0.0, 0.0)[0] < 0 < svg.value_ticks(0.0, 0.0)[-1]


def test_tick_decimals_follow_the_step() -> None:
    assert svg.step_decimals([0, 20, 40]) == 0
    assert svg.step_decimals([0.1, 0.15, 0.2]) == 2
    assert svg.step_decimals([3.885, 3.89]) == 3


def test_numbers_take_the_languages_decimal_mark_and_never_read_minus_zero() -> None:
    assert svg.number(-3.25, 1, ",") == "-3,2"  # round half to even, as format() does
    assert svg.number(1013.25, 2, ".") == "1013.25"
    assert svg.number(-0.04, 1) == "0.0"


# -- time ticks (Europe/Riga: EET, UTC+2; EEST, UTC+3, from the last Sunday of March to
# the last Sunday of October, Directive 2000/84/EC art. 2-3) -----------------------------


def test_a_day_is_ticked_every_three_local_hours_and_midnight_names_the_day() -> None:
    start = utc(2026, 11, 27, 12, 0)  # 14:00 in Riga
    ticks = svg.time_ticks(start, start + 86400, RIGA)
    assert [t.label for t in ticks] == [
        "15:00",
        "18:00",
        "21:00",
        "Sat 28",
        "03:00",
        "06:00",
        "09:00",
        "12:00",
    ]
    assert ticks[0].at == utc(2026, 11, 27, 13, 0)
    assert [t.midnight for t in ticks].count(True) == 1


def test_a_week_is_ticked_at_local_midnights_across_the_change_to_winter_time() -> None:
    start = utc(2026, 10, 21, 12, 0)
    ticks = svg.time_ticks(start, start + 7 * 86400, RIGA, ("P", "O", "T", "C", "Pk", "S", "Sv"))
    assert [t.label for t in ticks] == ["C 22", "Pk 23", "S 24", "Sv 25", "P 26", "O 27", "T 28"]
    assert all(t.midnight for t in ticks)
    assert ticks[0].at == utc(2026, 10, 21, 21, 0)  # 00:00 EEST
    spacing = [b.at - a.at for a, b in itertools.pairwise(ticks)]
    # Sunday 25 October 2026 lasts 25 hours in Riga: clocks go back at 04:00 EEST
    assert spacing == [86400, 86400, 86400, 90000, 86400, 86400]


def test_the_hour_repeated_by_the_change_of_clocks_is_ticked_once() -> None:
    start = utc(2026, 10, 24, 22, 0)  # Sunday 01:00 EEST
    labels = [t.label for t in svg.time_ticks(start, start + 86400, RIGA)]
    assert labels.count("03:00") == 1
    assert labels == ["03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00", "Mon 26"]


def test_a_short_span_is_ticked_every_hour() -> None:
    start = utc(2026, 11, 28, 10, 30)
    ticks = svg.time_ticks(start, start + 5 * 3600, RIGA)
    assert [t.label for t in ticks] == ["13:00", "14:00", "15:00", "16:00", "17:00"]


# -- gaps and downsampling ----------------------------------------------------------


def test_readings_more_than_three_and_a_half_intervals_apart_are_not_joined() -> None:
    times = [0, 600, 1200, 3000, 3600, 6000, 6600]  # 1800 s: two missing; 2400 s: three
    assert svg.segments(times, 600) == [(0, 5), (5, 7)]
    assert svg.segments([], 600) == []
    assert svg.segments([5.0], 600) == [(0, 1)]


def _week(spike_at: int) -> tuple[svg.Series, svg.Frame]:
    start = utc(2026, 11, 21, 12, 0)
    times = [start + 300 + 600 * k for k in range(1008)]
    values = [5 + 3 * math.sin(k / 72 * math.pi) for k in range(1008)]
    values[spike_at] = 40.0
    values[spike_at + 300] = -30.0
    frame = svg.Frame(start, start + 7 * 86400, 600, RIGA)
    return svg.Series(times, values), frame


@pytest.mark.parametrize("spike_at", [0, 1, 417, 500, 707])
def test_a_week_is_downsampled_below_the_pixel_width_and_a_spike_survives(spike_at: int) -> None:
    series, frame = _week(spike_at)
    xs = [
        svg._LEFT + (t - frame.start) * svg.PLOT_WIDTH / (frame.end - frame.start)
        for t in series.times
    ]
    (segment,) = svg.line_segments(series, frame, xs)
    assert segment.readings == 1008
    assert len(segment.vertices) <= svg.PLOT_WIDTH < 1008
    assert spike_at in segment.vertices and spike_at + 300 in segment.vertices
    assert segment.vertices == sorted(segment.vertices)  # still in time order


def test_a_day_draws_every_reading() -> None:
    start = utc(2026, 11, 27, 12, 0)
    times = [start + 300 + 600 * k for k in range(144)]
    series = svg.Series(times, [float(k % 7) for k in range(144)])
    frame = svg.Frame(start, start + 86400, 600, RIGA)
    chart = svg.line_chart(series, frame, svg.Text(unit="°C", title="t"))
    assert re.findall(r'data-vertices="(\d+)"', chart) == ["144"]
    (points,) = re.findall(r'points="([^"]*)"', chart)
    assert len(points.split()) == 144


def test_the_chart_breaks_at_a_gap_marks_flags_and_prints_its_figures() -> None:
    start = utc(2026, 11, 27, 12, 0)
    ks = [k for k in range(144) if not 60 <= k < 70]
    series = svg.Series(
        [start + 300 + 600 * k for k in ks],
        [float(k) / 10 for k in ks],
        {5: ["step"], 80: ["range", "persistence"]},
    )
    frame = svg.Frame(start, start + 86400, 600, RIGA)
    chart = svg.line_chart(series, frame, svg.Text(unit="°C", decimals=1, decimal_mark=","))
    assert re.findall(r'data-vertices="(\d+)"', chart) == ["60", "74"]
    assert re.findall(r'data-flags="([^"]*)"', chart) == ["step", "range persistence"]
    mean = sum(float(k) / 10 for k in ks) / len(ks)
    assert f"min 0,0 · max 14,3 · mean {mean:.1f}".replace(".", ",") + " °C" in chart
    assert "local time (Europe/Riga)" in chart


def test_a_chart_without_readings_says_so() -> None:
    start = utc(2026, 11, 27, 12, 0)
    chart = svg.line_chart(
        svg.Series([], []), svg.Frame(start, start + 86400, 600, RIGA), svg.Text(no_data="none")
    )
    assert "<polyline" not in chart and ">none</text>" in chart
