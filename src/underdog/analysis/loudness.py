"""Loudness per ITU-R BS.1770-4 (integrated, gated) and EBU Tech 3342 (loudness range).

The meter is streaming: ``push`` takes consecutive (channels, n) blocks, K-weights them
with filters designed for the actual sample rate, and keeps only the mean square of each
100 ms step per channel. Everything else is computed from those at the end, so memory
stays tiny for any length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import sosfilt

STEP_S = 0.1  # gating blocks are 4 steps (400 ms, 75 % overlap); short-term is 30 steps (3 s)
ABSOLUTE_GATE = -70.0
RELATIVE_GATE = -10.0
LRA_RELATIVE_GATE = -20.0


@dataclass
class LoudnessResult:
    integrated_lufs: float  # -inf for silence
    range_lu: float  # 0.0 when too short or silent
    peak_dbfs: float  # sample peak; -inf for digital silence


def k_weighting(sr: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two BS.1770 biquads (high shelf, then RLB high-pass) for sample rate ``sr``,
    by the bilinear transform of the standard's analog prototypes."""
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * f0 / sr)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = (np.array([(vh + vb * k / q + k * k), 2.0 * (k * k - vh), (vh - vb * k / q + k * k)])
             / a0, np.array([1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]))
    f0, q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * f0 / sr)
    a0 = 1.0 + k / q + k * k
    highpass = (np.array([1.0, -2.0, 1.0]),
                np.array([1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]))
    return [shelf, highpass]


class LoudnessMeter:
    """Feed consecutive blocks with ``push``; read ``result`` once at the end."""

    def __init__(self) -> None:
        self.sr: int | None = None
        self._sos: np.ndarray | None = None
        self._state: np.ndarray | None = None
        self._acc: np.ndarray | None = None  # sum of squares in the current step, per channel
        self._fill = 0
        self._steps: list[np.ndarray] = []  # mean square per completed step, per channel
        self._peak = 0.0

    def push(self, block: np.ndarray, sr: int) -> None:
        block = np.atleast_2d(np.asarray(block, dtype=np.float32))
        if block.shape[1] == 0:
            return
        if self.sr is None:
            self.sr = sr
            self._sos = np.array([np.r_[b, a] for b, a in k_weighting(sr)])
            self._state = np.zeros((2, block.shape[0], 2))
            self._acc = np.zeros(block.shape[0])
        elif sr != self.sr or block.shape[0] != len(self._acc):
            raise ValueError("LoudnessMeter: sample rate or channel count changed mid-stream")
        self._peak = max(self._peak, float(np.max(np.abs(block))))
        x, self._state = sosfilt(self._sos, block, axis=1, zi=self._state)
        step = int(round(STEP_S * self.sr))
        sq = x * x
        pos = 0
        n = sq.shape[1]
        while pos < n:
            take = min(step - self._fill, n - pos)
            self._acc += sq[:, pos:pos + take].sum(axis=1)
            self._fill += take
            pos += take
            if self._fill == step:
                self._steps.append(self._acc / step)
                self._acc = np.zeros_like(self._acc)
                self._fill = 0

    def result(self) -> LoudnessResult:
        peak = float(20.0 * np.log10(self._peak)) if self._peak > 0 else float("-inf")
        if not self._steps:
            return LoudnessResult(float("-inf"), 0.0, peak)
        power = np.sum(np.array(self._steps), axis=1)  # channel weights are 1 for L, R, mono
        return LoudnessResult(integrated_loudness(power), loudness_range(power), peak)


def _lufs(ms):
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(ms)


def _windows(power: np.ndarray, steps: int) -> np.ndarray:
    """Mean power of every window of ``steps`` consecutive 100 ms steps."""
    if len(power) < steps:
        return np.zeros(0)
    c = np.concatenate([[0.0], np.cumsum(power)])
    return (c[steps:] - c[:-steps]) / steps


def integrated_loudness(power: np.ndarray) -> float:
    """BS.1770-4 gated loudness from per-step channel-summed mean squares."""
    z = _windows(power, 4)
    z = z[_lufs(z) > ABSOLUTE_GATE]
    if len(z) == 0:
        return float("-inf")
    z = z[_lufs(z) > _lufs(z.mean()) + RELATIVE_GATE]
    return float(_lufs(z.mean()))


def loudness_range(power: np.ndarray) -> float:
    """EBU Tech 3342 LRA: spread (10th to 95th percentile) of gated 3 s loudness."""
    st = _windows(power, 30)
    st = st[_lufs(st) > ABSOLUTE_GATE]
    if len(st) < 2:
        return 0.0
    st = st[_lufs(st) > _lufs(st.mean()) + LRA_RELATIVE_GATE]
    if len(st) < 2:
        return 0.0
    lo, hi = np.percentile(_lufs(st), [10, 95])
    return float(hi - lo)
