"""Onset strength: how much new energy each frame brings, from the log-mel spectrogram.

Spectral flux on a decibel mel spectrogram (one-frame lag, half-wave rectified), averaged
over bands. ``onset_bands`` keeps a few bands apart for the tempo estimator, whose kick,
snare and hi-hat bands disagree in useful ways.
"""

from __future__ import annotations

import numpy as np

from .spectral import Spectral

TOP_DB = 80.0
# Band edges in mel-band indices (64 bands): kick <170 Hz, snare body 170-420 Hz, mids,
# highs >2 kHz, and the snare's crack at 3-5 kHz (overlaps the highs on purpose).
BANDS = ((0, 3), (3, 9), (9, 30), (30, 64), (37, 48))
_BLOCK = 8192  # frames per step (3 minutes)


def log_mel(spec: Spectral) -> np.ndarray:
    """Log-mel spectrogram of a track.

    Parameters
    ----------
    spec : Spectral
        The track's spectral reductions (``spec.mel``: mel magnitudes, (n_mels, n_frames)).

    Returns
    -------
    np.ndarray [shape=(n_mels, n_frames), float32]
        Mel power in dB (re full scale), floored ``TOP_DB`` (80 dB) below the track's peak.
    """
    return _db(spec.mel, _peak_db(spec.mel))


def _peak_db(mel: np.ndarray) -> np.float32:
    return 10.0 * np.log10(np.maximum(np.square(mel.max(initial=0.0), dtype=np.float32), 1e-10))


def _db(mel: np.ndarray, peak_db) -> np.ndarray:
    db = 10.0 * np.log10(np.maximum(np.square(mel, dtype=np.float32), 1e-10))
    return np.maximum(db, peak_db - TOP_DB).astype(np.float32)


def _flux(db: np.ndarray) -> np.ndarray:
    d = np.zeros_like(db)
    d[:, 1:] = np.maximum(db[:, 1:] - db[:, :-1], 0.0)
    return d


def onset_strength(spec: Spectral) -> np.ndarray:
    """Onset strength envelope: the mean rectified log-mel flux over all bands.

    Parameters
    ----------
    spec : Spectral
        The track's spectral reductions.

    Returns
    -------
    np.ndarray [shape=(n_frames,), float32]
        dB of new energy a frame (0 or more); frame t is at ``t / spec.fps`` seconds.
    """
    return onset_bands(spec, ())[0]


def onset_bands(spec: Spectral, bands=BANDS) -> tuple[np.ndarray, np.ndarray]:
    """The full-band onset envelope and the envelopes of a few mel bands.

    Computed ``_BLOCK`` frames at a time, so nothing of the mel spectrogram's size is
    allocated beside it (a 3-hour track's is 120 MB).

    Parameters
    ----------
    spec : Spectral
        The track's spectral reductions.
    bands : sequence of (first, end) mel-band indices
        Half-open band ranges (default ``BANDS``: kick, snare body, mids, highs, crack).

    Returns
    -------
    env : np.ndarray [shape=(n_frames,), float32]
        As :func:`onset_strength` (dB of new energy a frame).
    per_band : np.ndarray [shape=(len(bands), n_frames), float32]
        The same flux averaged over each band only.
    """
    n = spec.n_frames
    env = np.zeros(n, np.float32)
    per_band = np.zeros((len(bands), n), np.float32)
    if n == 0:
        return env, per_band
    peak = _peak_db(spec.mel)
    for i in range(0, n, _BLOCK):
        j = min(n, i + _BLOCK)
        d = _flux(_db(spec.mel[:, max(0, i - 1):j], peak))  # one frame back: flux at i
        d = d[:, 1:] if i > 0 else d
        env[i:j] = d.mean(axis=0)
        for k, (a, b) in enumerate(bands):
            per_band[k, i:j] = d[a:b].mean(axis=0)
    return env, per_band
