"""Bars and phrases: downbeats (bar starts) on the beat grid, and phrase starts on the bars.

**Downbeats.** Each beat gets a handful of cues read from the arrays the pipeline already
has (the log-mel spectrogram, chroma, frame RMS and the per-band onset envelopes):

- the kick: low-band (< 170 Hz) onset strength at the beat, and the snare's (the backbeat
  falls on beats 2 and 4), and the full-band onset strength;
- harmonic change: chroma of the beat (or the two beats) starting here against the one (two)
  before; bass change: the low mel bands likewise;
- level and timbre change: RMS level and a coarse log-mel profile over two beats against the
  two before;
- the rhythm inside the beat: kick, snare, mids and highs a quarter, half and three quarters
  of the way to the next beat (the bar's drum pattern).

Each cue is standardised over the track. A multinomial logistic model (``PositionModel``,
trained on gtzan-dev and midi-dev by training/train_downbeats.py, 244 numbers shipped in
``data/downbeat_model.npz``) reads each beat's cues and its neighbours' and gives the
log-probability of each position in a 4/4 bar. A Viterbi pass over the bar position of
every beat (4 positions in 4/4, 3 in 3/4) follows the cycle for free and may jump to
another phase for ``SWITCH_COST``, so the bar grid can resync after a tempo change, an
inserted beat or a section in another phase. 3/4 is reported only where its best path beats
4/4's by ``METER_MARGIN`` per beat: most music is in 4/4.

**Phrases.** Per bar: chroma, RMS level and log-mel profile. A bar's novelty compares the
(up to) four bars after its start with the four before. Phrase starts are bars at multiples
of 4 from the phrase origin: for each of the first four bars as origin, a dynamic programme
over the bars ``origin + 4k`` chooses phrases of 4, 8 or 16 bars that put boundaries where
the novelty is above its median, and the origin whose phrasing scores highest wins. With too few bars or no contrast (flat
novelty), phrases fall back to every 8 bars from the first downbeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .spectral import Spectral

SUBDIVISIONS = (0.25, 0.5, 0.75)
# Cue order of ``beat_features``.
FEATURES = ("kick", "snare", "chroma1", "chroma2", "bass", "level", "timbre", "onset") + tuple(
    f"{b}@{q}" for b in ("kick", "snare", "mid", "high") for q in SUBDIVISIONS)
CONTEXT = 1  # the model reads each cue at the beat and CONTEXT beats either side
MODEL_FILE = "downbeat_model.npz"
SWITCH_COST = 32.0  # log-probability to jump to another bar phase
METER_MARGIN = 0.1  # 3/4 needs its best path to beat 4/4's by this much per beat
NEAR_FRAMES = 2  # a beat's onset cues read the max within +-2 frames (+-46 ms)
BASS_BANDS = 8  # mel bands below ~400 Hz
TIMBRE_BANDS = 8  # coarse log-mel profile for timbre change
PHRASE_BARS = (4, 8, 16)
FALLBACK_PHRASE_BARS = 8
PHRASE_WINDOW_BARS = 4


def _db(x: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(x, 1e-10))


def _frames(times: np.ndarray, fps: float, n: int) -> np.ndarray:
    return np.clip(np.round(np.asarray(times, np.float64) * fps).astype(np.int64), 0, n - 1)


def _segment_means(x: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Mean of ``x`` (..., T) over frames [starts[i], ends[i]): shape (..., len(starts))."""
    c = np.empty(x.shape[:-1] + (x.shape[-1] + 1,))  # no concatenated copy: long tracks
    c[..., 0] = 0.0
    np.cumsum(x, axis=-1, dtype=np.float64, out=c[..., 1:])
    ends = np.maximum(ends, starts + 1)
    return (c[..., ends] - c[..., starts]) / (ends - starts)


def _low_and_coarse_db(spec: Spectral, block: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """The log-mel (dB) of the ``BASS_BANDS`` lowest bands, and its mean over
    ``TIMBRE_BANDS`` groups of bands: both (8, T), computed ``block`` frames at a time
    (the whole log-mel would be the mel spectrogram's size again: 120 MB for 3 hours)."""
    T = spec.n_frames
    low = np.empty((BASS_BANDS, T), np.float32)
    coarse = np.empty((TIMBRE_BANDS, T), np.float32)
    for i in range(0, T, block):
        j = min(T, i + block)
        mel_db = _db(np.square(spec.mel[:, i:j], dtype=np.float32))
        low[:, i:j] = mel_db[:BASS_BANDS]
        coarse[:, i:j] = mel_db.reshape(TIMBRE_BANDS, -1, j - i).mean(axis=1)
    return low, coarse


def _near_max(x: np.ndarray, idx: np.ndarray, k: int = NEAR_FRAMES) -> np.ndarray:
    """max(x[i - k : i + k + 1]) for each i in ``idx``."""
    n = len(x)
    offs = np.clip(idx[:, None] + np.arange(-k, k + 1)[None, :], 0, n - 1)
    return x[offs].max(axis=1)


def _cos_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - cosine similarity of matching columns of (d, n) arrays."""
    na = np.linalg.norm(a, axis=0)
    nb = np.linalg.norm(b, axis=0)
    return 1.0 - (a * b).sum(axis=0) / np.maximum(na * nb, 1e-12)


def _lag(x: np.ndarray, k: int) -> np.ndarray:
    """x shifted right by k along the last axis (edge values repeated)."""
    if k <= 0:
        return x
    pad = np.repeat(x[..., :1], k, axis=-1)
    return np.concatenate([pad, x[..., :-k]], axis=-1)


def _lead(x: np.ndarray, k: int) -> np.ndarray:
    pad = np.repeat(x[..., -1:], k, axis=-1)
    return np.concatenate([x[..., k:], pad], axis=-1)


def _zscore(x: np.ndarray) -> np.ndarray:
    s = x.std(axis=-1, keepdims=True)
    return (x - x.mean(axis=-1, keepdims=True)) / np.where(s > 1e-9, s, 1.0)


def beat_features(spec: Spectral, env: np.ndarray, bands: np.ndarray,
                  beats: np.ndarray) -> np.ndarray:
    """Downbeat cues for every beat, standardised over the track.

    Parameters
    ----------
    spec : Spectral
        The track's mel, chroma and RMS frames (``spectral.compute``).
    env : np.ndarray, shape (T,)
        Full-band onset envelope (``onset.onset_bands``).
    bands : np.ndarray, shape (5, T)
        Per-band onset envelopes (``onset.BANDS``: kick, snare body, mids, highs, crack).
    beats : np.ndarray, shape (n_beats,)
        Beat times in seconds.

    Returns
    -------
    np.ndarray, shape (len(FEATURES), n_beats)
        One row per cue in ``FEATURES``, each with zero mean and unit variance over the
        beats (a constant cue is all zeros).
    """
    T = spec.n_frames
    n = len(beats)
    if n == 0 or T == 0:
        return np.zeros((len(FEATURES), n))
    fps = spec.fps
    f = _frames(beats, fps, T)
    period = int(np.median(np.diff(f))) if n > 1 else int(round(0.5 * fps))
    ends = np.append(f[1:], min(T, f[-1] + max(period, 1)))
    ends = np.maximum(ends, f + 1)
    low_db, coarse = _low_and_coarse_db(spec)
    # per-beat means over the beat's own span
    chroma = _segment_means(spec.chroma, f, ends)  # (12, n)
    low = _segment_means(low_db, f, ends)  # (8, n) dB
    timbre = _segment_means(coarse, f, ends)  # (8, n) dB
    level = _db(_segment_means(np.square(spec.rms, dtype=np.float64), f, ends))  # (n,)

    kick = _near_max(bands[0], f)
    snare = _near_max(np.sqrt(np.maximum(bands[1] * bands[4], 0.0)), f)
    onset = _near_max(env, f)
    chroma1 = _cos_dist(chroma, _lag(chroma, 1))
    c_post = chroma + _lead(chroma, 1)
    c_pre = _lag(chroma, 1) + _lag(chroma, 2)
    chroma2 = _cos_dist(c_post, c_pre)
    bass = np.sqrt(np.mean((low - _lag(low, 1)) ** 2, axis=0))
    l_post = 0.5 * (level + _lead(level, 1))
    l_pre = 0.5 * (_lag(level, 1) + _lag(level, 2))
    lev = np.abs(l_post - l_pre)
    t_post = 0.5 * (timbre + _lead(timbre, 1))
    t_pre = 0.5 * (_lag(timbre, 1) + _lag(timbre, 2))
    tim = np.sqrt(np.mean((t_post - t_pre) ** 2, axis=0))
    rows = [kick, snare, chroma1, chroma2, bass, lev, tim, onset]
    # the rhythm pattern inside the beat: kick, snare, mids and highs a quarter, half and
    # three quarters of the way to the next beat
    snare_env = np.sqrt(np.maximum(bands[1] * bands[4], 0.0))
    for e in (bands[0], snare_env, bands[2], bands[3]):
        for q in SUBDIVISIONS:
            rows.append(_near_max(e, np.minimum(np.round(f + q * (ends - f)).astype(np.int64),
                                                T - 1), 1))
    return _zscore(np.stack(rows).astype(np.float64))


def with_context(features: np.ndarray, context: int = CONTEXT) -> np.ndarray:
    """Each beat's cues stacked with those of its neighbours.

    Parameters
    ----------
    features : np.ndarray [shape=(n_features, n_beats)]
        Per-beat cues (:func:`beat_features`).
    context : int >= 0
        Beats before and after each beat whose cues join it (edges repeated).

    Returns
    -------
    np.ndarray [shape=(n_features * (1 + 2 * context), n_beats)]
        The beat's own cues, then those ``1..context`` beats before, then after.
    """
    rows = [features] + [_lag(features, k) for k in range(1, context + 1)]
    rows += [_lead(features, k) for k in range(1, context + 1)]
    return np.vstack(rows)


@dataclass(frozen=True)
class PositionModel:
    """Multinomial logistic model of a beat's position in a 4/4 bar from its cues.

    ``weights`` (4, n_inputs + 1): one row per position (0 = downbeat), the last column
    a bias. Trained by training/train_downbeats.py; shipped as ``data/MODEL_FILE``."""

    weights: np.ndarray
    context: int = CONTEXT

    def log_probs(self, features: np.ndarray) -> np.ndarray:
        """Log-probability of each bar position for each beat.

        Parameters
        ----------
        features : np.ndarray [shape=(n_features, n_beats)]
            Per-beat cues (:func:`beat_features`), without context.

        Returns
        -------
        np.ndarray [shape=(n_beats, 4)]
            Natural-log probabilities of positions 0 (downbeat) to 3 of a 4/4 bar.
        """
        x = with_context(features, self.context)
        z = x.T @ self.weights[:, :-1].T + self.weights[:, -1]
        z -= z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    @classmethod
    def load(cls, path=None) -> "PositionModel":
        """The model saved at ``path`` (.npz), or the shipped one when None."""
        if path is None:
            from importlib import resources

            with resources.as_file(resources.files("underdog.analysis") / "data"
                                   / MODEL_FILE) as f:
                z = np.load(f)
                return cls(z["weights"], int(z["context"]))
        z = np.load(path)
        return cls(z["weights"], int(z["context"]))

    def save(self, path) -> None:
        """Write the weights and context to ``path`` (.npz)."""
        np.savez(path, weights=self.weights, context=self.context)


@lru_cache(maxsize=1)
def default_model() -> PositionModel:
    """The shipped bar-position model (``data/MODEL_FILE``), loaded once."""
    return PositionModel.load()


def _viterbi(em: np.ndarray, switch_cost: float) -> tuple[np.ndarray, float]:
    """Best bar position per beat for emissions ``em`` (n_beats, meter), and its score.

    A step from position p to p + 1 (mod meter) is free; to any other position it costs
    ``switch_cost`` (the bar grid jumps)."""
    n, meter = em.shape
    score = em[0].astype(np.float64).copy()
    back = np.zeros((n, meter), dtype=np.int64)
    nxt = (np.arange(meter) - 1) % meter  # the free predecessor of each position
    for i in range(1, n):
        stay = score[nxt]
        j = int(np.argmax(score))
        jump = score[j] - switch_cost
        use_jump = jump > stay
        back[i] = np.where(use_jump, j, nxt)
        score = np.where(use_jump, jump, stay) + em[i]
    pos = np.empty(n, dtype=np.int64)
    pos[-1] = int(np.argmax(score))
    best = float(score[pos[-1]])
    for i in range(n - 1, 0, -1):
        pos[i - 1] = back[i, pos[i]]
    return pos, best


def downbeat_positions(log_probs: np.ndarray, meters: tuple[int, ...] = (4, 3),
                       switch_cost: float = SWITCH_COST,
                       meter_margin: float = METER_MARGIN) -> tuple[np.ndarray, int]:
    """Bar position of every beat and the meter, by a Viterbi path per meter.

    A 3/4 bar reads positions 1, 2 and 4 of the 4/4 probabilities (downbeat, a beat after
    it, the beat before the next), and wins only when its path scores ``meter_margin`` per
    beat above the 4/4 path.

    Parameters
    ----------
    log_probs : np.ndarray [shape=(n_beats, 4)]
        The 4/4 position log-probabilities (:meth:`PositionModel.log_probs`).
    meters : tuple of int
        Beats per bar to try (3 and 4 only).
    switch_cost : float >= 0
        Log-probability cost of a jump in the bar grid (any step but p -> p + 1).
    meter_margin : float
        Per-beat score margin another meter needs over the first.

    Returns
    -------
    positions : np.ndarray [shape=(n_beats,), int]
        0 for a downbeat, then 1, 2, ... within the bar.
    meter : int
        Beats per bar chosen.
    """
    best = None
    for m in meters:
        em = log_probs if m == 4 else log_probs[:, [0, 1, 3]] if m == 3 else None
        if em is None:
            raise ValueError(f"unsupported meter {m}: 3 or 4 beats per bar")
        pos, s = _viterbi(em, switch_cost)
        if best is None or s > best[2] + meter_margin * len(log_probs):
            best = (pos, m, s)
    return best[0], best[1]


def track_downbeats(spec: Spectral, env: np.ndarray, bands: np.ndarray, beats: np.ndarray,
                    meters: tuple[int, ...] = (4, 3),
                    model: PositionModel | None = None) -> np.ndarray:
    """Downbeat (bar start) times.

    Parameters
    ----------
    spec : Spectral
        The track's spectral frames (``spectral.compute``).
    env : np.ndarray, shape (T,)
        Full-band onset envelope (``onset.onset_bands``).
    bands : np.ndarray, shape (5, T)
        Per-band onset envelopes (``onset.onset_bands``).
    beats : np.ndarray, shape (n_beats,)
        Beat times in seconds (``beats.track_beats``).
    meters : tuple of int
        Beats per bar to consider (3 and/or 4); the first is the default, the others must
        win clearly.
    model : PositionModel, optional
        The beat-position model; the shipped one by default.

    Returns
    -------
    np.ndarray, shape (n_bars,), float32
        Downbeat times in seconds: a subset of ``beats``, increasing. Empty with fewer
        than 4 beats (no bar can be told).
    """
    beats = np.asarray(beats, dtype=np.float64)
    if len(beats) < 4 or spec.n_frames == 0:
        return np.zeros(0, np.float32)
    lp = (model or default_model()).log_probs(beat_features(spec, env, bands, beats))
    pos, _ = downbeat_positions(lp, meters)
    return beats[pos == 0].astype(np.float32)


def bar_novelty(spec: Spectral, downbeats: np.ndarray,
                window: int = PHRASE_WINDOW_BARS) -> np.ndarray:
    """How much the music changes at each bar start.

    Chroma, RMS level (dB) and a coarse log-mel profile per bar, each standardised over
    the bars; novelty is the distance between the mean of the ``window`` bars from this one
    on and the mean of the ``window`` bars before (fewer at the edges; 0 at bar 0).

    Parameters
    ----------
    spec : Spectral
        The track's spectral reductions.
    downbeats : np.ndarray [shape=(n_bars,)]
        Bar starts in seconds.
    window : int > 0
        Bars averaged on each side.

    Returns
    -------
    np.ndarray [shape=(n_bars,)]
        Novelty >= 0 (standardised units) at each bar start.
    """
    T = spec.n_frames
    nb = len(downbeats)
    if nb == 0 or T == 0:
        return np.zeros(nb)
    f = _frames(downbeats, spec.fps, T)
    bar = int(np.median(np.diff(f))) if nb > 1 else T
    ends = np.maximum(np.append(f[1:], min(T, f[-1] + bar)), f + 1)
    coarse = _low_and_coarse_db(spec)[1]
    chroma = _segment_means(spec.chroma, f, ends)
    chroma = chroma / np.maximum(np.linalg.norm(chroma, axis=0, keepdims=True), 1e-12)
    level = _db(_segment_means(np.square(spec.rms, dtype=np.float64), f, ends))[None, :]
    x = np.concatenate([_zscore(chroma) / np.sqrt(12.0), _zscore(level),
                        _zscore(_segment_means(coarse, f, ends)) / np.sqrt(TIMBRE_BANDS)])
    c = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    i = np.arange(nb)
    a, b = np.maximum(i - window, 0), np.minimum(i + window, nb)
    pre = (c[:, i] - c[:, a]) / np.maximum(i - a, 1)
    post = (c[:, b] - c[:, i]) / np.maximum(b - i, 1)
    nov = np.sqrt(((post - pre) ** 2).sum(axis=0))
    nov[0] = 0.0
    return nov


def find_phrases(downbeats: np.ndarray, novelty: np.ndarray,
                 lengths: tuple[int, ...] = PHRASE_BARS) -> np.ndarray:
    """Phrase start times: groups of 4, 8 or 16 bars where the music changes.

    Parameters
    ----------
    downbeats : np.ndarray, shape (n_bars,)
        Bar start times in seconds (``track_downbeats``).
    novelty : np.ndarray, shape (n_bars,)
        Change at each bar start (``bar_novelty``).
    lengths : tuple of int
        Allowed phrase lengths in bars (multiples of 4).

    Returns
    -------
    np.ndarray, shape (n_phrases,), float32
        Phrase start times in seconds, a subset of ``downbeats`` whose bar indices are
        ``origin + 4 k`` (origin in 0..3). Without contrast (fewer than 8 bars, or a flat
        novelty), every 8 bars from the first downbeat.
    """
    downbeats = np.asarray(downbeats, dtype=np.float64)
    nb = len(downbeats)
    if nb == 0:
        return np.zeros(0, np.float32)
    nov = np.asarray(novelty, dtype=np.float64)
    fallback = downbeats[::FALLBACK_PHRASE_BARS].astype(np.float32)
    if nb < 8 or not np.any(nov > 0) or np.std(nov[1:]) < 1e-6:
        return fallback
    unit = 4
    steps = sorted({max(1, L // unit) for L in lengths})
    med = float(np.median(nov[1:]))  # a boundary pays off where the change is above par
    # the phrase origin is the bar among the first four whose best phrasing scores highest
    best = None
    for o in range(min(unit, nb)):
        found = _phrase_path(nov[o::unit] - med, steps, first_gain=o > 0)
        if found is not None and (best is None or found[0] > best[0]):
            best = (found[0], o + unit * found[1])
    if best is None:
        return fallback
    return downbeats[best[1]].astype(np.float32)


def _phrase_path(gain: np.ndarray, steps: list[int],
                 first_gain: bool) -> tuple[float, np.ndarray] | None:
    """Best chain of phrase starts over candidates ``gain`` (one per 4 bars), moving
    ``steps`` candidates at a time from candidate 0, the last one at most ``max(steps)``
    from the end: (summed gain, candidate indices), None if no chain fits."""
    m = len(gain)
    best = np.full(m, -np.inf)
    prev = np.full(m, -1, dtype=np.int64)
    best[0] = gain[0] if first_gain else 0.0  # the origin always starts a phrase
    for j in range(1, m):
        for s in steps:
            if j - s >= 0 and best[j - s] > -np.inf:
                v = best[j - s] + gain[j]
                if v > best[j]:
                    best[j], prev[j] = v, j - s
    # the last phrase may run to the end of the track, at most the longest length
    ends = [j for j in range(m) if m - j <= max(steps) and best[j] > -np.inf]
    if not ends:
        return None
    j = max(ends, key=lambda k: best[k])
    score = float(best[j])
    chosen = []
    while j >= 0:
        chosen.append(j)
        j = prev[j]
    return score, np.array(chosen[::-1], dtype=np.int64)


def bars_and_phrases(spec: Spectral, env: np.ndarray, bands: np.ndarray,
                     beats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Downbeats and phrase starts of a track: ``track_downbeats``, then ``find_phrases``
    on its ``bar_novelty`` (see those).

    Parameters
    ----------
    spec : Spectral
        Spectral reductions of the track (log-mel bands for the bar features).
    env, bands : np.ndarray [shape=(n_frames,) and (n_bands, n_frames)]
        The full-band and per-band onset envelopes (``onset.onset_bands``).
    beats : np.ndarray [shape=(n_beats,)]
        Beat times in seconds.

    Returns
    -------
    downbeats : np.ndarray [shape=(n_bars,), float32]
        Bar starts in seconds, a subset of ``beats``.
    phrases : np.ndarray [shape=(n_phrases,), float32]
        Phrase starts in seconds, a subset of ``downbeats``.
    """
    db = track_downbeats(spec, env, bands, beats)
    return db, find_phrases(db, bar_novelty(spec, db))
