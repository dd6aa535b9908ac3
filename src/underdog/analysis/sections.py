"""Drops, build-ups and the DJ mix points (intro end, outro start).

A **drop** is where everything drops out and then slams back in: a sustained sparse stretch
(at least ``PRE_BARS`` bars in which no half bar reaches full level) followed by a sudden
return of full level, low end and broadband onsets. Per frame ``t`` we compare the
``PRE_BARS`` bars before ``t`` with the ``POST_BARS`` bar after it in three frame curves:

- full level ``L`` (dB, frame RMS), low-end level ``B`` (dB, power below 150 Hz),
- onset strength ``O`` (mean rectified log-mel flux, the broadband onset cue).

    rise(t) = mean(clip((L_post - L_pre) / 12 dB), clip((B_post - B_pre) / 18 dB),
                   clip(log2(O_post / O_pre) / 1.5))           each clipped to 0..1

A drop needs rise >= ``MIN_RISE``, the post bar within ``FULL_DB`` of the track's loud
bars (80th percentile), the loudest half bar of the pre stretch ``SPARSE_DB`` under the post
bar in both L and B, and a pre stretch that is not silence (a track starting after silence
has no drop). Peaks of ``rise`` at least ``PRE_BARS`` bars apart are refined to the frame of
the sharpest short-term jump and snapped to the nearest beat when one is close.

A **build-up** is the stretch before a drop over which intensity (level + onset density +
brightness, per half bar) keeps rising: the longest run ending at the drop whose linear fit
has a positive slope with correlation >= ``BUILD_MIN_R``.

**Mix points**: bars whose intensity reaches ``FULL_DB`` of the loud bars are "full".
``intro_end_s`` is the start of the first run of two full bars (0 when the track opens
full); ``outro_start_s`` is the end of the last such run. Both lie on the bar grid: bars
start on the beat whose phase carries the most low-end onsets (the kick's downbeat
cue), or every 4 beats at ``bpm`` from 0, or every 2 s without a tempo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .energy import frame_features
from .running import running_max
from .spectral import Spectral

PRE_BARS = 3.0
POST_BARS = 1.0
MIN_RISE = 0.45
FULL_DB = 4.0
SPARSE_DB = 5.0
SILENCE_DB = -60.0
SNAP_S = 0.15
REFINE_S = 0.12
BUILD_MIN_R = 0.6
BUILD_MIN_BARS = 2.0
BUILD_MAX_BARS = 16.0
NOMINAL_BAR_S = 1.6  # no tempo: assume ~150 BPM bars (a 3-bar stretch is 4.8 s)


@dataclass
class Sections:
    drops: list[dict] = field(default_factory=list)
    buildups: list[dict] = field(default_factory=list)
    intro_end_s: float = 0.0
    outro_start_s: float = 0.0


def _db(x: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(x, 1e-12))


def _box_means(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Means of x over [t - n, t) and [t, t + n) for every t (edges use what exists)."""
    c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    t = np.arange(len(x))
    a, b = np.maximum(t - n, 0), np.minimum(t + n, len(x))
    pre = (c[t] - c[a]) / np.maximum(t - a, 1)
    post = (c[b] - c[t]) / np.maximum(b - t, 1)
    return pre, post


def _window_mean(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    return (c[b] - c[a]) / np.maximum(b - a, 1)


def _bar_grid(n_frames: int, fps: float, beats: np.ndarray, bpm: float | None,
              low_flux: np.ndarray) -> np.ndarray:
    """Bar start times (s) covering the track."""
    dur = n_frames / fps
    beats = np.asarray(beats, dtype=np.float64)
    if len(beats) >= 8:
        idx = np.clip(np.round(beats * fps).astype(int), 0, n_frames - 1)
        score = [low_flux[idx[k::4]].mean() for k in range(4)]
        starts = beats[int(np.argmax(score))::4]
        period = float(np.median(np.diff(starts)))
        head = np.arange(starts[0] - period, -1e-9, -period)[::-1]  # extend back to 0
        return np.concatenate([head, starts])
    bar = 240.0 / bpm if bpm and math.isfinite(bpm) and bpm > 0 else NOMINAL_BAR_S
    return np.arange(0.0, dur, bar)


def _snap(t: float, beats: np.ndarray) -> float:
    if len(beats) == 0:
        return t
    j = int(np.argmin(np.abs(beats - t)))
    return float(beats[j]) if abs(beats[j] - t) <= SNAP_S else t


def find_sections(spec: Spectral, env: np.ndarray, beats: np.ndarray,
                  bpm: float | None) -> Sections:
    """Drops, build-ups and mix points of a track (docs/descriptors.md, "Drops").

    Parameters
    ----------
    spec : Spectral
        The track's spectral reductions.
    env : np.ndarray [shape=(n_frames,)]
        Onset strength envelope, one value a frame.
    beats : np.ndarray [shape=(n_beats,)]
        Beat times in seconds: drops snap to a beat within 0.15 s; the bar grid starts on
        the beat phase carrying the most low-end onsets.
    bpm : float or None
        Tempo in BPM (a bar is 4 beats); None assumes 1.6-s bars.

    Returns
    -------
    Sections
        ``drops``: [{"time_s", "strength" 0..1}] in time order, at least 3 bars apart;
        ``buildups``: [{"start_s", "end_s" (the drop), "strength" 0..1}];
        ``intro_end_s`` and ``outro_start_s`` (seconds, on the bar grid).
    """
    ff = frame_features(spec, env)
    T, fps = len(ff.env), ff.fps
    dur = T / fps
    if T < 4:
        return Sections(intro_end_s=0.0, outro_start_s=dur)
    beats = np.asarray(beats, dtype=np.float64)
    bar_s = 240.0 / bpm if bpm and math.isfinite(bpm) and bpm > 0 else NOMINAL_BAR_S
    L, B = _db(ff.power), _db(ff.low)
    O = np.maximum(ff.env, 1e-6)

    # --- per-bar references
    low_flux = np.maximum(np.diff(B, prepend=B[0]), 0.0)
    bars = _bar_grid(T, fps, beats, bpm, low_flux)
    edges = np.minimum(np.round(np.append(bars, dur) * fps).astype(int), T)
    ok = edges[1:] > edges[:-1]
    ba, bb = edges[:-1][ok], edges[1:][ok]
    bar_L = _db(_window_mean(ff.power, ba, bb))
    bar_B = _db(_window_mean(ff.low, ba, bb))
    ref_L, ref_B = np.percentile(bar_L, 80), np.percentile(bar_B, 80)

    # --- drops
    n_pre, n_post = int(round(PRE_BARS * bar_s * fps)), int(round(POST_BARS * bar_s * fps))
    Lpre, Lpost = _db(_box_means(ff.power, n_pre)[0]), _db(_box_means(ff.power, n_post)[1])
    Bpre, Bpost = _db(_box_means(ff.low, n_pre)[0]), _db(_box_means(ff.low, n_post)[1])
    Opre, Opost = _box_means(O, n_pre)[0], _box_means(O, n_post)[1]
    rise = (np.clip((Lpost - Lpre) / 12.0, 0, 1) + np.clip((Bpost - Bpre) / 18.0, 0, 1)
            + np.clip(np.log2(Opost / np.maximum(Opre, 1e-6)) / 1.5, 0, 1)) / 3.0
    t = np.arange(T)
    valid = (t >= n_pre) & (t + n_post <= T)
    valid &= (Lpost >= ref_L - FULL_DB) & (Bpost >= ref_B - FULL_DB - 2.0)
    # the whole pre stretch is sparse: its loudest half bar stays well under the post bar
    half = max(1, n_post // 2)
    Lh = _db(_box_means(ff.power, half)[1])
    Bh = _db(_box_means(ff.low, half)[1])
    # loudest half bar starting in [t - n_pre, t - half]
    span = max(1, n_pre - half + 1)
    lo = t - n_pre
    Lmax, Bmax = np.full(T, np.inf), np.full(T, np.inf)
    okp = lo >= 0
    Lmax[okp] = _sliding_max(Lh, span)[lo[okp]]
    Bmax[okp] = _sliding_max(Bh, span)[lo[okp]]
    # ... and something plays through most of it (music after silence is a start, not a drop)
    valid &= _box_means((L > SILENCE_DB).astype(np.float64), n_pre)[0] >= 0.5
    valid &= (Lmax <= Lpost - SPARSE_DB) | (Bmax <= Bpost - SPARSE_DB - 3.0)
    valid &= (Lmax <= Lpost - 2.0) & (Bmax <= Bpost - 2.0)
    score = np.where(valid, rise, 0.0)

    drops = []
    order = np.argsort(-score)
    taken: list[int] = []
    for i in order:
        if score[i] < MIN_RISE:
            break
        if any(abs(i - j) < n_pre for j in taken):
            continue
        taken.append(int(i))
    k = max(1, int(round(REFINE_S * fps)))
    jump = _db(_box_means(ff.power, k)[1]) - _db(_box_means(ff.power, k)[0])
    jump += _db(_box_means(ff.low, k)[1]) - _db(_box_means(ff.low, k)[0])
    for i in sorted(taken):
        a, b = max(0, i - n_post // 2), min(T, i + n_post // 2 + 1)
        j = a + int(np.argmax(jump[a:b]))
        ts = _snap(j / fps, beats)
        drops.append({"time_s": round(ts, 3), "strength": round(float(min(1.0, score[i])), 3)})

    # --- intensity per half bar (for build-ups) and per bar (for mix points)
    bright = _db(ff.high / np.maximum(ff.total, 1e-12))
    dens = ff.peaks.astype(np.float64) * fps

    buildups = []
    hb = max(2, int(round(0.5 * bar_s * fps)))
    for d in drops:
        e = int(round(d["time_s"] * fps))
        nmax = int(BUILD_MAX_BARS * 2)
        starts = e - hb * np.arange(nmax, 0, -1)
        starts = starts[starts >= 0]
        if len(starts) < 2 * BUILD_MIN_BARS:
            continue
        a, b = starts, starts + hb
        I = (_z(_db(_window_mean(ff.power, a, b))) + _z(_window_mean(dens, a, b))
             + _z(_window_mean(bright, a, b)))
        best = None
        for m in range(int(2 * BUILD_MIN_BARS), len(I) + 1):
            seg = I[-m:]
            x = np.arange(m, dtype=np.float64)
            if np.std(seg) < 1e-9:
                continue
            r = float(np.corrcoef(x, seg)[0, 1])
            slope = float(np.polyfit(x, seg, 1)[0])
            if r >= BUILD_MIN_R and slope > 0:
                best = (m, r, slope)
        if best:
            m, r, slope = best
            total = slope * (m - 1)  # rise in summed z units over the run
            buildups.append({"start_s": round(float(starts[-m] / fps), 3), "end_s": d["time_s"],
                             "strength": round(float(np.clip(r * total / 3.0, 0.0, 1.0)), 3)})

    # --- mix points on the bar grid
    full = (bar_L >= ref_L - FULL_DB) & (bar_B >= ref_B - FULL_DB - 4.0)
    bar_t = bars[ok]
    run = full[:-1] & full[1:] if len(full) > 1 else full
    if run.any():
        first = int(np.argmax(run))
        last = len(run) - 1 - int(np.argmax(run[::-1])) + (1 if len(full) > 1 else 0)
        intro = 0.0 if first == 0 else float(bar_t[first])
        outro = float(bar_t[last + 1]) if last + 1 < len(bar_t) else dur
    else:
        intro, outro = 0.0, dur
    return Sections(drops=drops, buildups=buildups, intro_end_s=round(intro, 3),
                    outro_start_s=round(max(outro, intro), 3))


def _sliding_max(x: np.ndarray, n: int) -> np.ndarray:
    """out[i] = max(x[i:i + n]) (shorter at the end)."""
    # a size-n window at i + n // 2 covers exactly [i, i + n) (it centres at n // 2)
    c = running_max(x, n, mode="nearest")
    return c[np.minimum(np.arange(len(x)) + n // 2, len(x) - 1)]


def _z(x: np.ndarray) -> np.ndarray:
    s = float(np.std(x))
    return (x - float(np.mean(x))) / s if s > 1e-9 else np.zeros_like(x)
