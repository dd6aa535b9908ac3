"""Beat times: dynamic programming over the onset envelope at a known tempo.

Each frame's score is its onset strength plus the best score of a previous beat, minus a
penalty that grows with the squared log-ratio between the gap and the beat period, so the
path follows the onsets while letting the tempo drift a little. Backtracking from the best
frame of the last period gives the beats.
"""

from __future__ import annotations

import numpy as np

from .tempo import normalize_envelope

TIGHTNESS = 400.0  # weight of the tempo-deviation penalty
OFFSET_S = 0.0  # shift applied to frame times (frame t is centred at t / fps)


def track_beats(env: np.ndarray, fps: float, bpm: float | None,
                tightness: float = TIGHTNESS) -> np.ndarray:
    """Track the beats of an onset envelope at a known tempo (dynamic programming).

    Parameters
    ----------
    env : np.ndarray [shape=(n_frames,)]
        Onset strength envelope, one value a frame (``onset.onset_bands``).
    fps : float > 0
        Envelope frames per second.
    bpm : float or None
        Tempo in beats per minute; None, NaN or <= 0 gives no beats.
    tightness : float > 0
        Weight of the penalty on a gap that differs from the beat period (squared log
        ratio): larger keeps the tempo steadier.

    Returns
    -------
    beats : np.ndarray [shape=(n_beats,), float32]
        Beat times in seconds, increasing; leading and trailing beats where the track has
        no onsets at all are dropped. Empty when there is no tempo or no onset.
    """
    if bpm is None or not np.isfinite(bpm) or bpm <= 0 or len(env) == 0:
        return np.zeros(0, np.float32)
    e = normalize_envelope(env, fps, window_s=1.0)
    if not np.any(e > 0):
        return np.zeros(0, np.float32)
    period = 60.0 * fps / bpm
    frames = _dp(e, period, tightness)
    frames = _trim(frames, e)
    return (frames / fps + OFFSET_S).astype(np.float32)


def track_beats_segments(env: np.ndarray, fps: float,
                         segments: list[tuple[float, float, float]],
                         tightness: float = TIGHTNESS) -> np.ndarray:
    """Track beats following a tempo map: each segment at its own tempo.

    Parameters
    ----------
    env : np.ndarray [shape=(n_frames,)]
        Onset strength envelope, one value a frame.
    fps : float > 0
        Envelope frames per second.
    segments : list of (start_s, end_s, bpm)
        The tempo map (seconds, seconds, beats per minute), in time order; one segment
        (or none) is :func:`track_beats` itself.
    tightness : float > 0
        As for :func:`track_beats`.

    Returns
    -------
    beats : np.ndarray [shape=(n_beats,), float32]
        Beat times in seconds, increasing.
    """
    if len(segments) <= 1:
        return track_beats(env, fps, segments[0][2] if segments else None, tightness)
    parts = []
    for start_s, end_s, bpm in segments:
        a, b = int(round(start_s * fps)), min(len(env), int(round(end_s * fps)))
        if b - a > 2:
            parts.append(track_beats(env[a:b], fps, bpm, tightness) + np.float32(a / fps))
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def _dp(e: np.ndarray, period: float, tightness: float) -> np.ndarray:
    n = len(e)
    lo, hi = max(1, int(round(period / 2))), int(round(period * 2))
    gaps = np.arange(lo, hi + 1)
    penalty = -tightness * np.log(gaps / period) ** 2  # indexed by gap - lo
    # local score: the envelope smoothed by a Gaussian a tenth of a period wide
    w = np.arange(-int(period), int(period) + 1)
    g = np.exp(-0.5 * (w / (period / 32.0 + 1e-9)) ** 2)
    local = np.convolve(e, g / g.sum(), mode="same")
    score = local.copy()
    back = np.full(n, -1, dtype=np.int64)
    # A frame's predecessors lie at least ``lo`` frames back, so ``lo`` frames at a time
    # depend only on finished scores: one vectorised step per block. ``padded[t + i]`` is
    # ``score[t - hi + i]`` (-inf before the start), read against ``penalty`` reversed.
    width = hi - lo + 1
    padded = np.concatenate([np.full(hi, -np.inf), score])
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    pen_rev = penalty[::-1]
    rows = np.arange(lo)
    for t0 in range(lo, n, lo):
        t1 = min(t0 + lo, n)
        cand = windows[t0:t1] + pen_rev
        j = np.argmax(cand, axis=1)
        best = cand[rows[:t1 - t0], j]
        upd = best > 0  # else the frame starts a path: its score stays local, no back link
        score[t0:t1] = np.where(upd, local[t0:t1] + best, local[t0:t1])
        padded[t0 + hi:t1 + hi] = score[t0:t1]
        back[t0:t1] = np.where(upd, t0 - hi + rows[:t1 - t0] + j, -1)
    # end on the best frame within the last period
    tail = max(0, n - int(round(period)))
    t = tail + int(np.argmax(score[tail:]))
    path = [t]
    while back[t] >= 0:
        t = int(back[t])
        path.append(t)
    return np.array(path[::-1], dtype=np.float64)


def _trim(frames: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Drop leading and trailing beats that fall where the track has no onsets at all."""
    if len(frames) < 3:
        return frames
    idx = frames.astype(int)
    strength = np.convolve(e, np.ones(9) / 9.0, mode="same")[idx]
    thr = 0.1 * np.sqrt(np.mean(strength ** 2))
    keep = np.flatnonzero(strength > thr)
    if len(keep) == 0:
        return frames[:0]
    return frames[keep[0]:keep[-1] + 1]
