"""A station beside a reference station: how far apart, and the calibration that closes it.

For each station and field, x is the station's hourly mean (of the hours with 75 %
of their readings, statistics.py) and y the reference's value for the same hour.

    bias   mean(x - y)                      the station reads this much high
    RMSE   sqrt(mean((x - y)^2))
    r      Pearson's correlation of x and y
    fit    y = factor * x + offset, ordinary least squares, with standard errors
           se(factor) = s / sqrt(Sxx), se(offset) = s * sqrt(1/n + mean(x)^2 / Sxx),
           s^2 = the residuals' sum of squares / (n - 2)
    offset-only fit: y = x + offset, offset = mean(y - x), se = sd(y - x) / sqrt(n)

Hour after hour the differences are not independent (a sensor in the sun reads
high all afternoon): each standard error is widened by sqrt(n / n_eff), n_eff =
n (1 - rho) / (1 + rho) with rho the lag-1 autocorrelation of the residuals when
it is positive (D. S. Wilks, Statistical Methods in the Atmospheric Sciences, 3rd
ed., 2011, section 5.2.4, the variance of a mean of an AR(1) series). Without it,
a month of hourly pairs claims a precision the sensor does not have.

The station's values are as the calibration in force at the period's end
publishes them (statistics.py works a reading taken under an earlier one back
to raw and forward again). The calibration to paste applies to raw values
(gateway/calibration.py), so the fit is composed with that one.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from meteolink.firmware import frames
from meteolink.gateway.calibration import Calibration

MIN_PAIRS = 3  # a line through fewer points has no residual to judge it by
SIGNIFICANT = 2.0  # a factor this many standard errors from 1 is printed; else offset only


@dataclass(frozen=True)
class Comparison:
    node: int
    field: str
    n: int
    bias: float
    rmse: float
    r: float | None  # None when either side does not vary
    factor: float
    factor_se: float
    offset: float
    offset_se: float
    mean_offset: float  # the offset-only fit
    mean_offset_se: float
    n_eff: float

    def factor_matters(self) -> bool:
        """Whether the factor differs from 1 by more than SIGNIFICANT standard errors."""
        return abs(self.factor - 1.0) > max(SIGNIFICANT * self.factor_se, 1e-9)


def _lag1(residuals: Sequence[float]) -> float:
    n = len(residuals)
    mean = sum(residuals) / n
    d = [e - mean for e in residuals]
    den = sum(e * e for e in d)
    if den == 0:
        return 0.0
    return sum(d[i] * d[i + 1] for i in range(n - 1)) / den


def compare(node: int, field: str, pairs: Sequence[tuple[float, float]]) -> Comparison | None:
    """pairs of (station, reference) in time order; None for fewer than MIN_PAIRS."""
    n = len(pairs)
    if n < MIN_PAIRS:
        return None
    xs = [p[0] for p in pairs]
    ys = [p[1] for p in pairs]
    mx, my = sum(xs) / n, sum(ys) / n
    diffs = [x - y for x, y in pairs]
    bias = sum(diffs) / n
    rmse = math.sqrt(sum(d * d for d in diffs) / n)
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    r = sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None
    if sxx > 0:
        factor = sxy / sxx
        offset = my - factor * mx
    else:  # the station never changed: only an offset can be fitted
        factor, offset = 1.0, my - mx
    residuals = [y - (factor * x + offset) for x, y in pairs]
    s2 = sum(e * e for e in residuals) / (n - 2)
    rho = max(0.0, _lag1(residuals))
    n_eff = max(2.0, n * (1 - rho) / (1 + rho))
    widen = math.sqrt(n / n_eff)
    factor_se = widen * math.sqrt(s2 / sxx) if sxx > 0 else math.inf
    offset_se = widen * math.sqrt(s2 * (1 / n + (mx * mx / sxx if sxx > 0 else 0)))
    gaps = [-d for d in diffs]  # y - x
    mean_offset = -bias
    var = sum((g - mean_offset) ** 2 for g in gaps) / (n - 1)
    rho_g = max(0.0, _lag1(gaps))
    widen_g = math.sqrt(n / max(2.0, n * (1 - rho_g) / (1 + rho_g)))
    mean_offset_se = widen_g * math.sqrt(var / n)
    return Comparison(
        node,
        field,
        n,
        bias,
        rmse,
        r,
        factor,
        factor_se,
        offset,
        offset_se,
        mean_offset,
        mean_offset_se,
        n_eff,
    )


def _decimals(field: str) -> int:
    """Digits after the point for field's values: its resolution in the codec, plus one."""
    try:
        scale = frames.FIELDS[frames.field_id(field)][3]
    except frames.MeteolinkError:
        return 3
    return max(0, math.ceil(math.log10(scale))) + 1 if scale >= 1 else 1


def calibration_lines(c: Comparison, in_force: Calibration | None, from_date: str) -> list[str]:
    """The [[nodes.N.calibration]] entry to paste, composed with the one in force:
    y = a * (f0 * raw + o0) + b = (a * f0) * raw + (a * o0 + b)."""
    f0, o0 = (in_force.factor, in_force.offset) if in_force else (1.0, 0.0)
    if c.factor_matters():
        factor, offset = c.factor * f0, c.factor * o0 + c.offset
        why = (
            f"# fitted: reference = {c.factor:.4f} (± {c.factor_se:.4f}) x station"
            f" {c.offset:+.3f} (± {c.offset_se:.3f}), n = {c.n}"
        )
    else:
        factor, offset = f0, o0 + c.mean_offset
        why = (
            f"# fitted: reference = station {c.mean_offset:+.3f} (± {c.mean_offset_se:.3f}),"
            f" n = {c.n}; the factor {c.factor:.4f} (± {c.factor_se:.4f}) is within"
            f" {SIGNIFICANT:g} standard errors of 1"
        )
    lines = [
        why,
        f"[[nodes.{c.node}.calibration]]",
        f'field = "{c.field}"',
        f"from = {from_date}",
        f"offset = {offset:.{_decimals(c.field)}f}",
    ]
    if factor != 1.0:
        lines.append(f"factor = {factor:.5f}")
    return lines
