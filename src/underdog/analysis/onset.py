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


def log_mel(spec: Spectral) -> np.ndarray:
    """Mel power in dB, floored ``TOP_DB`` below the track's peak: (n_mels, T) float32."""
    p = np.square(spec.mel, dtype=np.float32)
    db = 10.0 * np.log10(np.maximum(p, 1e-10))
    return np.maximum(db, db.max() - TOP_DB).astype(np.float32)


def _flux(db: np.ndarray) -> np.ndarray:
    d = np.zeros_like(db)
    d[:, 1:] = np.maximum(db[:, 1:] - db[:, :-1], 0.0)
    return d


def onset_strength(spec: Spectral) -> np.ndarray:
    """Mean rectified flux over all mel bands: (T,) float32, frame t at ``t / spec.fps`` s."""
    if spec.n_frames == 0:
        return np.zeros(0, np.float32)
    return _flux(log_mel(spec)).mean(axis=0).astype(np.float32)


def onset_bands(spec: Spectral, bands=BANDS) -> tuple[np.ndarray, np.ndarray]:
    """The full-band envelope and the per-band ones, ``(T,)`` and ``(len(bands), T)``."""
    if spec.n_frames == 0:
        return np.zeros(0, np.float32), np.zeros((len(bands), 0), np.float32)
    d = _flux(log_mel(spec))
    per_band = np.stack([d[a:b].mean(axis=0) for a, b in bands]).astype(np.float32)
    return d.mean(axis=0).astype(np.float32), per_band
