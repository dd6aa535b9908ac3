"""The shared time-frequency front end: one STFT pass, reduced to mel and chroma.

Every descriptor reads from one ``Spectral``; the magnitude spectrogram itself is
never kept whole, so memory grows with ``n_mels + 12`` floats per frame only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft as sfft

N_FFT = 2048
HOP = 512
N_MELS = 64
_BLOCK_FRAMES = 128  # STFT frames per step


@dataclass
class Spectral:
    """Per-frame reductions of the magnitude STFT (frame t centred at t * hop / sr)."""

    sr: int
    hop: int
    n_fft: int
    mel: np.ndarray  # (n_mels, T) float32 magnitude per mel band
    mel_hz: np.ndarray  # (n_mels,) centre frequency of each band
    chroma: np.ndarray  # (12, T) float32, pitch class C=0 .. B=11
    rms: np.ndarray  # (T,) float32 frame RMS of the signal
    key_chroma: np.ndarray | None = None  # (12, T / 4) from a finer 4096-point STFT, for key

    @property
    def fps(self) -> float:
        return self.sr / self.hop

    @property
    def n_frames(self) -> int:
        return self.mel.shape[1]

    def times(self) -> np.ndarray:
        return np.arange(self.n_frames) * (self.hop / self.sr)


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(sr: int, n_fft: int, n_mels: int = N_MELS, fmin: float = 30.0,
                   fmax: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Triangular mel filters, area-normalised: ``(n_mels, 1 + n_fft // 2)``, centres in Hz."""
    fmax = fmax or sr / 2.0
    freqs = np.linspace(0, sr / 2.0, 1 + n_fft // 2)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fb = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lo, c, hi = edges[i], edges[i + 1], edges[i + 2]
        up = (freqs - lo) / max(c - lo, 1e-9)
        down = (hi - freqs) / max(hi - c, 1e-9)
        fb[i] = np.maximum(0.0, np.minimum(up, down))
        s = fb[i].sum()
        if s > 0:
            fb[i] /= s
    return fb.astype(np.float32), edges[1:-1]


@lru_cache(maxsize=8)
def chroma_filterbank(sr: int, n_fft: int, fmin: float = 100.0, fmax: float = 2000.0,
                      width_semitones: float = 0.5) -> np.ndarray:
    """Map STFT bins to the 12 pitch classes with a Gaussian in semitone distance."""
    freqs = np.linspace(0, sr / 2.0, 1 + n_fft // 2)
    fb = np.zeros((12, len(freqs)))
    ok = (freqs >= fmin) & (freqs <= fmax)
    midi = 69.0 + 12.0 * np.log2(np.maximum(freqs[ok], 1e-9) / 440.0)
    nearest = np.round(midi)
    w = np.exp(-0.5 * ((midi - nearest) / (width_semitones * 0.5)) ** 2)
    pc = nearest.astype(int) % 12
    cols = np.nonzero(ok)[0]
    fb[pc, cols] = w
    # no 1/bins-per-semitone weighting: high notes span more bins; key.noise_shape evens it
    return fb.astype(np.float32)


@lru_cache(maxsize=8)
def _reduction(sr: int, n_fft: int, n_mels: int):
    """The mel and chroma filterbanks as ``(c0, c1, b0, b1, weights)`` blocks: output
    columns ``c0:c1`` read only bins ``b0:b1``. Both banks are sparse (a mel band spans a
    few bins, chroma stops at 2 kHz), so this is 7x fewer multiply-adds than one product."""
    melfb, mel_hz = mel_filterbank(sr, n_fft, n_mels)
    both = np.concatenate([melfb, chroma_filterbank(sr, n_fft)])  # (n_mels + 12, bins)
    groups = [(c, min(c + 8, n_mels)) for c in range(0, n_mels, 8)] + [(n_mels, n_mels + 12)]
    blocks = []
    for c0, c1 in groups:
        used = np.flatnonzero(np.any(both[c0:c1] != 0, axis=0))
        b0, b1 = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 1)
        blocks.append((c0, c1, b0, b1, np.ascontiguousarray(both[c0:c1, b0:b1].T, np.float32)))
    return blocks, mel_hz


def compute(y: np.ndarray, sr: int, n_fft: int = N_FFT, hop: int = HOP,
            n_mels: int = N_MELS, key_chroma: bool = True) -> Spectral:
    """One Hann-windowed STFT pass over mono ``y``, reduced to mel, chroma and RMS.

    ``key_chroma=False`` skips the finer second STFT that only the key step reads."""
    y = np.ascontiguousarray(y, dtype=np.float32)
    pad = n_fft // 2
    n_frames = 1 + max(0, (len(y) + 2 * pad - n_fft) // hop)
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    blocks, mel_hz = _reduction(sr, n_fft, n_mels)
    # written straight into the (bands, frames) layout the descriptors read: no second copy
    red = np.empty((n_mels + 12, n_frames), dtype=np.float32)
    rms = np.empty(n_frames, dtype=np.float32)
    # reused buffers: nothing large is allocated (and page-faulted) per block
    windowed = np.empty((_BLOCK_FRAMES, n_fft), dtype=np.float32)
    mag = np.empty((_BLOCK_FRAMES, n_fft // 2 + 1), dtype=np.float32)
    for i in range(0, n_frames, _BLOCK_FRAMES):
        k = min(_BLOCK_FRAMES, n_frames - i)
        # this block's frames, centred (zeros beyond the ends): no padded copy of the track
        seg = _segment(y, i * hop - pad, (k - 1) * hop + n_fft)
        blk = np.lib.stride_tricks.as_strided(seg, shape=(k, n_fft),
                                              strides=(seg.strides[0] * hop, seg.strides[0]),
                                              writeable=False)
        mid = seg[pad - hop // 2: pad - hop // 2 + k * hop].reshape(k, hop)  # hop around centre
        rms[i:i + k] = np.sqrt(np.einsum("ij,ij->i", mid, mid) / hop)
        np.multiply(blk, window, out=windowed[:k])
        np.abs(sfft.rfft(windowed[:k], axis=1, overwrite_x=True), out=mag[:k])
        for c0, c1, b0, b1, w in blocks:
            np.matmul(w.T, mag[:k, b0:b1].T, out=red[c0:c1, i:i + k])
    return Spectral(sr=sr, hop=hop, n_fft=n_fft, mel=red[:n_mels], mel_hz=mel_hz,
                    chroma=red[n_mels:], rms=rms,
                    key_chroma=fine_chroma(y, sr) if key_chroma else None)


def _segment(y: np.ndarray, start: int, length: int) -> np.ndarray:
    """``y[start:start + length]`` with zeros where that runs past either end."""
    out = np.zeros(length, dtype=np.float32)
    a, b = max(start, 0), min(start + length, len(y))
    if b > a:
        out[a - start:b - start] = y[a:b]
    return out


KEY_N_FFT = 4096


def fine_chroma(y: np.ndarray, sr: int, n_fft: int = KEY_N_FFT) -> np.ndarray:
    """Chroma from non-overlapping-by-half 4096-point frames: low notes need the resolution."""
    hop = n_fft // 2
    if len(y) < n_fft:
        y = np.pad(y, (0, n_fft - len(y)))
    n_frames = 1 + (len(y) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(
        y, shape=(n_frames, n_fft), strides=(y.strides[0] * hop, y.strides[0]), writeable=False
    )
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    fb = chroma_filterbank(sr, n_fft).T.copy()
    out = np.empty((n_frames, 12), dtype=np.float32)
    for i in range(0, n_frames, _BLOCK_FRAMES // 4):
        blk = frames[i:i + _BLOCK_FRAMES // 4]
        out[i:i + len(blk)] = np.abs(sfft.rfft(blk * window, axis=1)) @ fb
    return np.ascontiguousarray(out.T)
