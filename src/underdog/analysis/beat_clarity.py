"""Beat clarity: for each stored beat, how clearly the music says that this is the beat.

A DJ beat-mixes only where both tracks have a beat the ear (and a beat tracker) reads
steadily; over an intro without a beat, an outro whose onsets no longer sit on the beat,
or bars where a 16th or the off-beat outweighs the beat, they cut instead. The renderer's
beat lines cannot make such bars meet (docs/render.md, "The measurement's resolution, and
the misses traced"), so the planner needs to know where they are.

Two readings of the analysis's onset envelope (the one the beat tracker reads), per beat:

1. **Phase contrast.** The onset strength at the beat against the strongest of the ¼, ½
   and ¾ offsets of the beat (the 16ths and the off-beat), each summed over the
   ``CONTEXT_BEATS`` beats around it (two bars: one beat's onset alone says little):
   ``(at the beat − strongest other) / (at the beat + strongest other)``, clipped to
   [0, 1]. 1: nothing but the beat; 0: another phase is as strong (a tracker may take
   either, as it did on the free library's chipdisko and track25) or stronger (a 16th
   that outweighs the beat), or no onsets at all on any phase (an intro without a beat).
2. **Free runs of the beat tracker.** The analysis's own tracker (``beats.track_beats``)
   runs on its own over windows of each length in ``WINDOWS`` (four bars, and a blend's
   eight), told the stored beats' tempo there but not where they are, every half window
   (so each beat lies in two windows of each length that start half a window apart: an
   ambiguous beat's answer turns on where the window starts and how long it is). A beat
   agrees when every window holding it has a tracked beat within ``AGREE`` of a beat from
   it. The agreement is the share of the ``CONTEXT_BEATS`` beats around it that agree.
   The eight-bar windows catch what the four-bar ones miss: a stretch where the stored
   beats slip from the beat to near the off-beat over a few bars (the free library's
   Escape from Chaosland: 8 beats 5 % short, 0.4 beat in all), which a tracker over a
   whole blend reads on one phase throughout.

Clarity is their product, in [0, 1], stored as one byte per beat (``to_bytes``; the
planner reads it back with ``planning.excerpts.stored_clarity``).
"""

from __future__ import annotations

import numpy as np

from . import beats as beat_tracker
from .tempo import normalize_envelope

CONTEXT_BEATS = 8   # two bars of 4/4 around a beat: what a DJ listens to before a blend
WINDOWS = (16, 32)  # the free tracker's windows, beats: four bars, and a blend's eight;
                    # each hops half its length, so each beat is tracked from two starts
AGREE = 1.0 / 8     # a tracked beat within an eighth of a beat (a 16th is ¼ away)
OFFSETS = (0.25, 0.5, 0.75)  # the other phases a tracker can lock to: 16ths, off-beat
REACH_FRAMES = 1    # an onset counts within ±1 envelope frame (±23 ms) of its time


def beat_clarity(env: np.ndarray, fps: float, beats: np.ndarray) -> np.ndarray:
    """How clearly each stored beat is the beat (see the module doc).

    Parameters
    ----------
    env : np.ndarray [shape=(n_frames,)]
        The onset strength envelope the beats were tracked on (``onset.onset_bands``).
    fps : float > 0
        Envelope frames per second.
    beats : np.ndarray [shape=(n_beats,)]
        The stored beat times (s), increasing.

    Returns
    -------
    np.ndarray [shape=(n_beats,), float64]
        Clarity in [0, 1] per beat; all ones (neutral) for fewer than ``CONTEXT_BEATS``
        beats, where there is too little to judge.
    """
    b = np.asarray(beats, np.float64)
    n = len(b)
    if n < CONTEXT_BEATS or len(env) < 2:
        return np.ones(n)
    e = normalize_envelope(env, fps, window_s=1.0)
    period = _periods(b)
    phase = _phase_contrast(e, fps, b, period)
    agree = np.min([_tracker_agreement(env, fps, b, period, w) for w in WINDOWS], axis=0)
    return np.clip(phase * agree, 0.0, 1.0)


def to_bytes(clarity: np.ndarray) -> np.ndarray:
    """Clarity in [0, 1] as uint8 (0-255): how the library stores it."""
    c = np.nan_to_num(np.asarray(clarity, np.float64), nan=1.0)
    return np.round(np.clip(c, 0.0, 1.0) * 255.0).astype(np.uint8)


def _periods(b: np.ndarray) -> np.ndarray:
    """Each beat's period (s): the gap to the next beat (the last: the one before)."""
    d = np.diff(b)
    return np.concatenate([d, d[-1:]])


def _around(x: np.ndarray, k: int) -> np.ndarray:
    """The sum of ``x`` over ``k`` items centred on each (fewer at the ends)."""
    c = np.concatenate([[0.0], np.cumsum(x, axis=0)])
    n = len(x)
    i = np.arange(n)
    lo = np.clip(i - k // 2, 0, n)
    hi = np.clip(i - k // 2 + k, 0, n)
    return c[hi] - c[lo]


def _phase_contrast(e: np.ndarray, fps: float, b: np.ndarray, period: np.ndarray
                    ) -> np.ndarray:
    """Per beat: (onsets at the beat − the strongest other phase) / their sum, over the
    ``CONTEXT_BEATS`` beats around it, clipped to [0, 1]."""
    peak = e.copy()  # each frame's strongest within ±REACH_FRAMES
    for s in range(1, REACH_FRAMES + 1):
        peak[s:] = np.maximum(peak[s:], e[:-s])
        peak[:-s] = np.maximum(peak[:-s], e[s:])

    def at(t: np.ndarray) -> np.ndarray:
        f = np.round(t * fps).astype(np.int64)
        ok = (f >= 0) & (f < len(peak))
        return np.where(ok, peak[np.clip(f, 0, len(peak) - 1)], 0.0)

    on = _around(at(b), CONTEXT_BEATS)
    other = np.max([_around(at(b + q * period), CONTEXT_BEATS) for q in OFFSETS], axis=0)
    tot = on + other
    return np.where(tot > 0, np.clip((on - other) / np.where(tot > 0, tot, 1.0), 0.0, 1.0),
                    0.0)


def _tracker_agreement(env: np.ndarray, fps: float, b: np.ndarray, period: np.ndarray,
                       window: int) -> np.ndarray:
    """Per beat: the share of the ``CONTEXT_BEATS`` beats around it on which every free
    run of the tracker over a ``window``-beat window holding them (one every half window)
    lands (within ``AGREE`` of a beat)."""
    n = len(b)
    ok = np.ones(n, bool)
    last = max(n - window, 0)
    starts = list(range(0, last + 1, window // 2))
    if starts[-1] != last:
        starts.append(last)
    for s in starts:
        j = np.arange(s, min(s + window, n))
        p = float(np.median(period[j]))
        a = max(0, int(np.floor((b[j[0]] - p) * fps)))
        z = min(len(env), int(np.ceil((b[j[-1]] + p) * fps)) + 1)
        got = beat_tracker.track_beats(env[a:z], fps, 60.0 / p).astype(np.float64) + a / fps
        if len(got) == 0:
            ok[j] = False
            continue
        k = np.clip(np.searchsorted(got, b[j]), 1, len(got) - 1) if len(got) > 1 else \
            np.zeros(len(j), np.int64)
        d = np.abs(got[k] - b[j])
        if len(got) > 1:
            d = np.minimum(d, np.abs(got[k - 1] - b[j]))
        ok[j] &= d <= AGREE * period[j]
    return _around(ok.astype(np.float64), CONTEXT_BEATS) / _around(np.ones(n), CONTEXT_BEATS)
