"""Sensirion's VOC Index: the SGP40's raw signal as 1..500, 100 = the usual air.

Written from Sensirion's description of its Gas Index Algorithm and its
published VOC parameter set, in floats, without the fixed-point scaffolding
of Sensirion's C code. Checked against Sensirion's own implementation (the
PyPI package sensirion-gas-index-algorithm 3.2.2, not a dependency): over
30-hour synthetic runs at 1 s and 10 s (steady, noisy, drifting, events,
a 5-hour event) the two indices never differ by more than 1.
Each sample goes through four stages:

1. The raw signal SRAW (ticks, proportional to the log of the MOX
   resistance; more VOC means lower resistance, so lower SRAW) is offset
   by 20 000 ticks.
2. A mean/variance estimator learns what is usual: exponential averages
   with a 12 h time constant, so that 100 stands for roughly the average
   of the last 24 hours. At start-up it learns fast (time constant 20 s for the mean,
   fading out over 45 minutes; the variance's fast phase follows over the
   next 42 minutes). Learning is gated: while the index is high (an event
   is going on) the estimator stops, so a long VOC event does not become
   the new normal; if the gate stays shut for 3 hours, it reopens.
3. The MOX model turns the deviation from the mean into a normalised
   signal, (mean - sraw) / (std + 220) * 230, and a sigmoid maps that to
   0..500 so that the mean lands on 100.
4. An adaptive low-pass filter smooths the result: slow (500 s) while the
   signal is steady, fast (20 s) when it moves.

The first 45 s after a (re)start are a blackout: the index is 0, meaning
"not yet". After that it starts low and settles near 100 within minutes;
the full learning takes hours.

Sampling: the algorithm is specified and tested by Sensirion at 1 s
intervals, and at 10 s in its low-power mode (the SGP40's heater off
between samples). Its time constants are in seconds and its learning
gates react sample by sample: at much longer intervals (a node waking
every few minutes) it does not do what it says: the start-up phase, the
filter and the gating all misbehave, and Sensirion does not support it.
So a VOC node must sample at 10 s or faster; the constructor refuses more.

State across deep sleep: save() packs everything the algorithm has
learned into 98 bytes, and VocIndex(interval, state) picks it up again
(the node keeps them in RTC memory). Floats are packed as doubles, so the
state round-trips exactly whatever float precision the port has.

Every sample makes a few short-lived float objects on ports whose floats
live on the heap: unavoidable in Python, and garbage at once.
"""

import struct

# Sensirion's VOC parameter set (Gas Index Algorithm, VOC mode).
_SRAW_MINIMUM = 20000  # ticks: SRAW is taken relative to this
_SRAW_MAXIMUM = 32767  # ticks above the minimum
_INDEX_GAIN = 230.0
_STD_INITIAL = 50.0  # ticks, before anything is learned
_STD_BONUS = 220.0  # ticks added to the std: keeps a very steady room from over-reacting
_TAU_MEAN_HOURS = 12.0
_TAU_VARIANCE_HOURS = 12.0
_TAU_INITIAL_MEAN = 20.0  # s
_TAU_INITIAL_VARIANCE = 2500.0  # s
_INIT_DURATION_MEAN = 2700.0  # s (0.75 h): when the fast mean learning fades
_INIT_DURATION_VARIANCE = 5220.0  # s (1.45 h)
_INIT_TRANSITION = 0.01  # 1/s: how sharply it fades
_GATING_THRESHOLD = 340.0  # index above which learning stops
_GATING_THRESHOLD_INITIAL = 510.0  # the same in the start-up phase (the index tops at 500)
_GATING_TRANSITION = 0.09
_GATING_MAX_MINUTES = 180.0  # a gate shut this long reopens
_GATING_MAX_RATIO = 0.3  # how fast open time pays back shut time
_SIGMOID_L = 500.0
_SIGMOID_K = -0.0065
_SIGMOID_X0 = 213.0
_LP_TAU_FAST = 20.0  # s
_LP_TAU_SLOW = 500.0  # s
_LP_ALPHA = -0.2
_BLACKOUT = 45.0  # s
_UPTIME_MAX = 32767.0  # s: the start-up clocks stop here (their sigmoids are 0 long before)
_RECENTRE = 100.0  # ticks: the mean is kept within this of an offset (see _learn)

# e, for e ** x and x ** 0.5: the math module would do, but the ports' type
# stubs of it do not check (.stubs/*/math.pyi says `inf: float = inf`).
_E = 2.718281828459045

_STATE = "<BB12d"  # version, flags, then the floats of save()
_VERSION = 1
_MVE_READY = 1
_LP_READY = 2


def _sigmoid(x: float, x0: float, k: float) -> float:
    """1 / (1 + e^(k (x - x0))), flat beyond |exponent| 50."""
    e = k * (x - x0)
    if e < -50.0:
        return 1.0
    if e > 50.0:
        return 0.0
    p: float = _E**e
    return 1.0 / (1.0 + p)


class VocIndex:
    """The algorithm's state for one sensor; process() one SRAW per interval."""

    def __init__(self, sampling_interval: float = 1.0, state: bytes | None = None) -> None:
        if not 0.0 < sampling_interval <= 10.0:
            raise ValueError("VOC index: the sampling interval must be over 0 and at most 10 s")
        dt = self.interval = float(sampling_interval)
        h = dt / 3600.0
        # Learning rates per sample of the exponential averages: dt / (tau + dt).
        self._g_mean = h / (_TAU_MEAN_HOURS + h)
        self._g_variance = h / (_TAU_VARIANCE_HOURS + h)
        self._g_mean_initial = dt / (_TAU_INITIAL_MEAN + dt)
        self._g_variance_initial = dt / (_TAU_INITIAL_VARIANCE + dt)
        self._a_slow = dt / (_LP_TAU_SLOW + dt)
        self._a_fast = dt / (_LP_TAU_FAST + dt)
        self.reset()
        if state is not None:
            self.restore(state)

    def reset(self) -> None:
        """Forget everything: blackout, then learning from scratch."""
        self._uptime = 0.0  # s since start, counted only through the blackout
        self._index = 0.0  # the last index, before rounding
        self._mve_ready = False
        self._offset = 0.0  # ticks; the mean is _offset + _mean
        self._mean = 0.0
        self._std = _STD_INITIAL
        self._uptime_gamma = 0.0  # s, drives the start-up learning rates
        self._uptime_gating = 0.0  # s, drives the gating threshold; reset by a long gate
        self._gating_minutes = 0.0
        self._lp_ready = False
        self._x1 = self._x2 = self._x3 = 0.0  # low-pass: slow, fast, adaptive

    def process(self, sraw: int) -> int:
        """Feed one SRAW_VOC sample; returns the VOC index (0 during the blackout).

        A sample outside 1..64999 (no sensor reading) is skipped: the index
        and the state stay as they are.
        """
        if not 0 < sraw < 65000:
            return int(self._index + 0.5)
        if self._uptime <= _BLACKOUT:
            self._uptime += self.interval
            return 0
        x = sraw - _SRAW_MINIMUM
        if x < 1:
            x = 1
        elif x > _SRAW_MAXIMUM:
            x = _SRAW_MAXIMUM
        # MOX model with what was learned so far, then the sigmoid. Sensirion's
        # sigmoid is shifted for a configurable index offset; at the default
        # offset, 100, the shift is 0 and it is plain 500 / (1 + e^(k (m - x0))),
        # which maps m = 0 (the mean) to 100 and saturates at 500.
        m = (self._offset + self._mean - x) / (self._std + _STD_BONUS) * _INDEX_GAIN
        index = _SIGMOID_L * _sigmoid(m, _SIGMOID_X0, _SIGMOID_K)
        index = self._lowpass(index)
        if index < 0.5:
            index = 0.5
        self._index = index
        self._learn(x)
        return int(index + 0.5)

    def _lowpass(self, v: float) -> float:
        if not self._lp_ready:
            self._x1 = self._x2 = self._x3 = v
            self._lp_ready = True
        self._x1 += self._a_slow * (v - self._x1)
        self._x2 += self._a_fast * (v - self._x2)
        # The further the slow and fast averages disagree, the faster the output follows.
        f = _E ** (_LP_ALPHA * abs(self._x1 - self._x2))
        tau = _LP_TAU_FAST + (_LP_TAU_SLOW - _LP_TAU_FAST) * f
        a = self.interval / (self.interval + tau)
        self._x3 += a * (v - self._x3)
        return self._x3

    def _learn(self, x: float) -> None:
        """Mean/variance estimator: one step with sample x (ticks above the minimum)."""
        if not self._mve_ready:
            self._mve_ready = True
            self._offset = x
            self._mean = 0.0
            return
        # The mean is kept small next to a moving offset: on a port with
        # single-precision floats a 12 h average of numbers near 10 000 would
        # otherwise lose its tiny per-sample steps to rounding.
        if not -_RECENTRE < self._mean < _RECENTRE:
            self._offset += self._mean
            self._mean = 0.0
        x -= self._offset
        dt = self.interval
        if self._uptime_gamma < _UPTIME_MAX:
            self._uptime_gamma += dt
        if self._uptime_gating < _UPTIME_MAX:
            self._uptime_gating += dt
        index = self._index
        rise = _GATING_THRESHOLD_INITIAL - _GATING_THRESHOLD

        # Start-up: fast learning fades out (the mean's first, then the variance's).
        s_mean = _sigmoid(self._uptime_gamma, _INIT_DURATION_MEAN, _INIT_TRANSITION)
        s_variance = _sigmoid(self._uptime_gamma, _INIT_DURATION_VARIANCE, _INIT_TRANSITION)
        g_mean = self._g_mean + (self._g_mean_initial - self._g_mean) * s_mean
        g_variance = self._g_variance + (self._g_variance_initial - self._g_variance) * (
            s_variance - s_mean
        )
        # Gating: no learning while the index is above the threshold.
        t = _GATING_THRESHOLD + rise * _sigmoid(
            self._uptime_gating, _INIT_DURATION_MEAN, _INIT_TRANSITION
        )
        gate_mean = _sigmoid(index, t, _GATING_TRANSITION)
        t = _GATING_THRESHOLD + rise * _sigmoid(
            self._uptime_gating, _INIT_DURATION_VARIANCE, _INIT_TRANSITION
        )
        gate_variance = _sigmoid(index, t, _GATING_TRANSITION)
        g_mean *= gate_mean
        g_variance *= gate_variance
        # Minutes the gate has been shut, paid back at 0.3 per minute open.
        self._gating_minutes += (dt / 60.0) * (
            (1.0 - gate_mean) * (1.0 + _GATING_MAX_RATIO) - _GATING_MAX_RATIO
        )
        if self._gating_minutes < 0.0:
            self._gating_minutes = 0.0
        if self._gating_minutes > _GATING_MAX_MINUTES:
            self._uptime_gating = 0.0  # back to the start-up thresholds: learn again

        # Exponentially weighted variance, then mean (both with the old mean).
        d = x - self._mean
        self._std = ((1.0 - g_variance) * (self._std * self._std + g_variance * d * d)) ** 0.5
        self._mean += g_mean * d

    def save(self) -> bytes:
        """Everything learned, as 98 bytes for RTC memory."""
        flags = (_MVE_READY if self._mve_ready else 0) | (_LP_READY if self._lp_ready else 0)
        return struct.pack(
            _STATE,
            _VERSION,
            flags,
            self.interval,
            self._uptime,
            self._index,
            self._offset,
            self._mean,
            self._std,
            self._uptime_gamma,
            self._uptime_gating,
            self._gating_minutes,
            self._x1,
            self._x2,
            self._x3,
        )

    def restore(self, state: bytes) -> None:
        """Continue from save()'s bytes; ValueError if they are not such bytes."""
        if len(state) != struct.calcsize(_STATE) or state[0] != _VERSION:
            raise ValueError("VOC index: not a saved state")
        v = struct.unpack(_STATE, state)
        if v[2] != self.interval:
            raise ValueError("VOC index: state saved at another sampling interval")
        self._mve_ready = bool(v[1] & _MVE_READY)
        self._lp_ready = bool(v[1] & _LP_READY)
        (
            self._uptime,
            self._index,
            self._offset,
            self._mean,
            self._std,
            self._uptime_gamma,
            self._uptime_gating,
            self._gating_minutes,
            self._x1,
            self._x2,
            self._x3,
        ) = v[3:]
