"""Loudness per ITU-R BS.1770-4 (integrated, gated) and EBU Tech 3342 (loudness range).

The meter is streaming: ``push`` takes consecutive blocks of channels, K-weights them
with filters designed for the actual sample rate (run by FFmpeg's biquad filter), and
keeps only the channel-summed mean square of each 100 ms step. Everything else is
computed from those at the end, so memory stays tiny for any length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..filtergraph import FilterChain

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
    """The two BS.1770 K-weighting biquads for a sample rate (bilinear transform of the
    standard's analog prototypes).

    Parameters
    ----------
    sr : int > 0
        Sample rate (Hz).

    Returns
    -------
    list of (b, a)
        The high shelf (+4 dB above ~1.7 kHz), then the RLB high-pass (~38 Hz); each
        numerator ``b`` and denominator ``a`` of shape (3,), ``a[0] = 1``.
    """
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


def k_weighting_chain(sr: int) -> list[tuple[str, str]]:
    """The K-weighting biquads as FFmpeg ``biquad`` filters, transposed direct form II
    (in float32 its error stays under 0.001 dB per 100 ms step; tests check it against
    scipy's double-precision ``sosfilt``).

    Parameters
    ----------
    sr : int > 0
        Sample rate (Hz), as for :func:`k_weighting`.

    Returns
    -------
    list of (filter name, options)
        ``("biquad", "b0=...:b1=...:...:transform=tdii")`` for each stage of
        :func:`k_weighting`, in order.
    """
    chain = []
    for b, a in k_weighting(sr):
        coef = ":".join(f"{name}={float(v)!r}" for name, v in zip(
            ("b0", "b1", "b2", "a0", "a1", "a2"), np.r_[b, a]))
        chain.append(("biquad", f"{coef}:transform=tdii"))
    return chain


class LoudnessMeter:
    """Feed consecutive blocks with ``push``; read ``result`` once at the end."""

    def __init__(self) -> None:
        self.sr: int | None = None
        self._channels = 0
        self._filter: FilterChain | None = None
        self._acc = 0.0  # sum of channel-summed squares in the current step
        self._fill = 0
        # mean square per completed step, channels summed: one growing array (thousands of
        # tiny arrays, one a block, fragment the heap: +100 MB RSS over an hour)
        self._steps = np.empty(4096, np.float64)
        self._n = 0
        self._peak = 0.0
        self.nonfinite = 0  # NaN/inf samples metered as silence (one would poison the filter)

    def push(self, block: Sequence[np.ndarray], sr: int) -> None:
        """Meter one block of samples.

        Parameters
        ----------
        block : np.ndarray [shape=(n_channels, n)] or list of n_channels arrays [shape=(n,)]
            Consecutive samples, full scale ±1; NaN/inf are metered as silence (counted in
            ``nonfinite``).
        sr : int >= 8000
            Sample rate (Hz); it and the channel count must not change between blocks.
        """
        block = [np.asarray(c, dtype=np.float32) for c in
                 (block if isinstance(block, (list, tuple)) else np.atleast_2d(block))]
        if len(block[0]) == 0:
            return
        if self.sr is None:
            if sr < 8000:  # the 100 ms step and the K-weighting's 1.7 kHz shelf need more
                raise ValueError(f"LoudnessMeter: sample rate {sr} Hz is below 8000 Hz")
            self.sr, self._channels = sr, len(block)
            self._filter = FilterChain(k_weighting_chain(sr), sr, self._channels)
        elif sr != self.sr or len(block) != self._channels:
            raise ValueError("LoudnessMeter: sample rate or channel count changed mid-stream")
        peaks = [max(float(c.max()), -float(c.min())) for c in block]
        if not all(np.isfinite(peaks)):  # NaN/inf: silence, or the IIR state turns NaN for good
            finite = [np.isfinite(c) for c in block]
            self.nonfinite += sum(len(c) - int(np.count_nonzero(f)) for c, f in zip(block, finite))
            block = [np.where(f, c, np.float32(0.0)) for c, f in zip(block, finite)]
            peaks = [float(np.abs(c).max()) for c in block]
        self._peak = max(self._peak, *peaks)
        self._add(self._filter.push(block))

    def _add(self, channels: list[np.ndarray]) -> None:
        """Sum squares (channel weights are 1 for L, R and mono) into 100 ms steps."""
        if len(channels[0]) == 0:
            return
        p = np.square(channels[0])
        for c in channels[1:]:
            p += np.square(c)
        step = int(round(STEP_S * self.sr))
        pos = 0
        if self._fill:
            take = min(step - self._fill, len(p))
            self._acc += float(p[:take].sum(dtype=np.float64))
            self._fill += take
            pos = take
            if self._fill == step:
                self._keep(np.array([self._acc / step]))
                self._acc, self._fill = 0.0, 0
        full = (len(p) - pos) // step
        if full:
            whole = p[pos:pos + full * step].reshape(full, step)
            self._keep(whole.sum(axis=1, dtype=np.float64) / step)
            pos += full * step
        if pos < len(p):
            self._acc += float(p[pos:].sum(dtype=np.float64))
            self._fill += len(p) - pos

    def _keep(self, power: np.ndarray) -> None:
        end = self._n + len(power)
        if end > len(self._steps):
            self._steps = np.concatenate([self._steps[:self._n],
                                          np.empty(max(end, 2 * len(self._steps)))])
        self._steps[self._n:end] = power
        self._n = end

    def integrated_so_far(self) -> float:
        """Integrated loudness (LUFS) of the 100 ms steps completed so far, without ending
        the stream (``result`` flushes the filter); -inf before any."""
        return integrated_loudness(self._steps[:self._n]) if self._n else float("-inf")

    def result(self) -> LoudnessResult:
        """Integrated loudness (LUFS), loudness range (LU) and sample peak (dBFS) of all
        pushed blocks; -inf LUFS (and peak) when nothing was metered."""
        peak = float(20.0 * np.log10(self._peak)) if self._peak > 0 else float("-inf")
        if self._filter is not None:
            self._add(self._filter.flush())
        if not self._n:
            return LoudnessResult(float("-inf"), 0.0, peak)
        power = self._steps[:self._n]
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
    """Integrated loudness (ITU-R BS.1770-4, gated).

    Parameters
    ----------
    power : np.ndarray [shape=(n_steps,)]
        Mean square of the K-weighted signal in consecutive 100-ms steps, channels summed
        (what :class:`LoudnessMeter` keeps).

    Returns
    -------
    float
        Loudness in LUFS over 400-ms blocks (75 % overlap) past the absolute (-70 LUFS)
        and relative (-10 LU) gates; -inf when no block passes.
    """
    z = _windows(power, 4)
    z = z[_lufs(z) > ABSOLUTE_GATE]
    if len(z) == 0:
        return float("-inf")
    z = z[_lufs(z) > _lufs(z.mean()) + RELATIVE_GATE]
    return float(_lufs(z.mean()))


def loudness_range(power: np.ndarray) -> float:
    """Loudness range (EBU Tech 3342).

    Parameters
    ----------
    power : np.ndarray [shape=(n_steps,)]
        Mean squares of 100-ms steps, as for :func:`integrated_loudness`.

    Returns
    -------
    float
        LRA in LU: the 10th to 95th percentile spread of the 3-s short-term loudness past
        the absolute (-70 LUFS) and relative (-20 LU) gates; 0.0 with fewer than two.
    """
    st = _windows(power, 30)
    st = st[_lufs(st) > ABSOLUTE_GATE]
    if len(st) < 2:
        return 0.0
    st = st[_lufs(st) > _lufs(st.mean()) + LRA_RELATIVE_GATE]
    if len(st) < 2:
        return 0.0
    lo, hi = np.percentile(_lufs(st), [10, 95])
    return float(hi - lo)
