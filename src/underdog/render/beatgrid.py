"""Beat lines to the millisecond, for pinning two tracks' beats together.

The library's beats come from the analysis's tracker, whose beats sit on 512-sample frames
at 22,050 Hz (23.2 ms). A least-squares line through a few bars of them does not average
that quantization away: a steady track's beat period is close to a whole number of frames
(117.5 BPM is 22.0 frames), so every beat of a window is rounded the same way and the line
inherits a bias of up to half a frame (±11.6 ms), a different one for each track. Two
tracks pinned by such lines miss each other by up to a frame.

:func:`refine_line` corrects the line against the audio itself: an onset envelope at 2.9 ms
(128 samples at 44.1 kHz, 11.6 ms frames) and a search for the phase (±50 ms) and period (±1.5 %) whose
beats collect the most onset strength. The tracker still decides which pulse is the beat;
this only says where exactly it falls.
"""

from __future__ import annotations

import numpy as np

N_FFT = 512  # 11.6 ms at 44.1 kHz
HOP = 128  # 2.9 ms
PHASE_S = 0.05  # search the line's phase within ±50 ms (under half a 16th at 140 BPM)
PERIOD_REL = 0.015  # and its period within ±1.5 %


def onset_envelope(x: np.ndarray, sr: int, hop: int = HOP,
                   scale: float | None = None) -> np.ndarray:
    """Spectral flux of ``x`` ((channels, n) or (n,) float32 at ``sr`` Hz): the rectified
    rise of log-compressed STFT magnitudes summed over bins, one value per ``hop`` samples,
    value ``k`` at time ``k * hop / sr`` s (centred frames). ``scale`` sets the log
    compression (default: :func:`onset_scale` of ``x``; a long signal read in pieces
    passes its whole's)."""
    from scipy.fft import rfft

    frames, win = _frames(x, hop)
    if frames is None:
        return np.zeros(0, np.float32)
    flux = np.zeros(len(frames), np.float32)
    prev = None
    for a in range(0, len(frames), 4096):  # a few thousand frames at a time
        mag = np.abs(rfft(frames[a:a + 4096] * win, axis=1))
        if scale is None:
            scale = _scale(mag)
        db = np.log1p(np.float32(scale) * mag)
        d = np.diff(db, axis=0, prepend=db[:1] if prev is None else prev[None, :])
        flux[a:a + len(db)] = np.maximum(d, 0.0).sum(axis=1)
        prev = db[-1]
    return flux


def onset_scale(x: np.ndarray, hop: int = HOP) -> float:
    """The log compression's scale in :func:`onset_envelope` of ``x``: 100 over the peak
    STFT magnitude of its first 4096 frames (only those samples are read)."""
    from scipy.fft import rfft

    frames, win = _frames(np.atleast_2d(x)[:, :4096 * hop + N_FFT // 2], hop)
    return 1.0 if frames is None else float(_scale(np.abs(rfft(frames[:4096] * win, axis=1))))


def _frames(x: np.ndarray, hop: int):
    """(centred frames of ``x``'s channel mean as a strided view, Hann window), or
    (None, None) when ``x`` is too short for one frame and hop."""
    from numpy.lib.stride_tricks import sliding_window_view

    m = np.atleast_2d(x).mean(axis=0).astype(np.float32)
    m = np.pad(m, (N_FFT // 2, N_FFT // 2))
    if len(m) < N_FFT + hop:
        return None, None
    return sliding_window_view(m, N_FFT)[::hop], np.hanning(N_FFT).astype(np.float32)


def _scale(mag: np.ndarray) -> np.float32:
    return np.float32(100.0 / (float(mag.max()) + 1e-9))


def refine_line(env: np.ndarray, fps: float, at: float, period: float, count: int,
                forward: bool, env_t0: float = 0.0) -> tuple[float, float]:
    """(time, period) of the beat line that best fits an onset envelope.

    Parameters
    ----------
    env : onset envelope (:func:`onset_envelope`), value ``k`` at ``env_t0 + k / fps`` s.
    fps : envelope frames per second.
    at, period : the line to refine (s): its beat at ``at`` and the ``count`` beats after
        it (``forward``) or before it.
    count : beats in the window besides ``at``.

    Returns
    -------
    The refined line's beat nearest ``at`` (s) and its period (s); the input line when the
    envelope holds no clear pulse there.
    """
    k = np.arange(count + 1) * (1.0 if forward else -1.0)
    if len(env) < 4 or count < 2:
        return at, period
    # a light smoothing (±1 frame) so a beat between two frames counts for both
    e = np.convolve(env, [0.25, 0.5, 0.25], mode="same").astype(np.float64)
    phases = np.arange(-PHASE_S, PHASE_S + 0.5 / fps, 1.0 / fps)
    scales = 1.0 + np.linspace(-PERIOD_REL, PERIOD_REL, 61)

    def score(t: float, p: float) -> np.ndarray:
        pos = (t - env_t0 + k[None, :] * p + phases[:, None]) * fps  # (phases, beats)
        return np.interp(pos, np.arange(len(e)), e, left=0.0, right=0.0).sum(axis=1)

    table = np.array([score(at, period * s) for s in scales])  # (scales, phases)
    base = table[len(scales) // 2, len(phases) // 2]
    i, j = np.unravel_index(int(np.argmax(table)), table.shape)
    if table[i, j] <= base * 1.02 or not np.isfinite(table[i, j]):
        return at, period  # no better line: keep the tracker's
    # parabolic interpolation of the phase between frames
    d = 0.0
    if 0 < j < len(phases) - 1:
        y0, y1, y2 = table[i, j - 1], table[i, j], table[i, j + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            d = 0.5 * (y0 - y2) / den
    return at + phases[j] + d / fps, period * float(scales[i])


def onset_times(x: np.ndarray, sr: int, hop: int = 256, min_gap_s: float = 0.05,
                threshold: float = 1.5) -> np.ndarray:
    """Sample positions (int64, sorted) of the attacks in ``x``: peaks of its onset
    envelope (:func:`onset_envelope` at ``hop``) that stand ``threshold`` standard
    deviations above the envelope's running mean (±0.5 s) and are the largest within
    ``min_gap_s``."""
    return onset_peaks(onset_envelope(x, sr, hop), sr, hop, min_gap_s, threshold)


def onset_peaks(env: np.ndarray, sr: int, hop: int = 256, min_gap_s: float = 0.05,
                threshold: float = 1.5) -> np.ndarray:
    """:func:`onset_times` from an onset envelope already computed (at ``hop``)."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    env = np.asarray(env).astype(np.float64)
    if len(env) < 3:
        return np.zeros(0, np.int64)
    w = max(3, int(sr / hop) | 1)
    mean = uniform_filter1d(env, w, mode="nearest")
    sd = np.sqrt(np.maximum(uniform_filter1d(env * env, w, mode="nearest") - mean * mean, 0.0))
    peak = env == maximum_filter1d(env, size=max(3, int(2 * min_gap_s * sr / hop) | 1))
    keep = peak & (env > mean + threshold * sd + 1e-6)
    return np.flatnonzero(keep).astype(np.int64) * hop
