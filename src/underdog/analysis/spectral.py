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
        """Frames per second (``sr / hop``)."""
        return self.sr / self.hop

    @property
    def n_frames(self) -> int:
        """Number of frames, T."""
        return self.mel.shape[1]

    def times(self) -> np.ndarray:
        """Centre time of each frame in seconds, shape (T,)."""
        return np.arange(self.n_frames) * (self.hop / self.sr)


def hz_to_mel(f):
    """Mel (HTK formula, 2595 log10(1 + f / 700)) of frequencies ``f`` in Hz, float64."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    """Frequencies in Hz of mel values ``m``: the inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(sr: int, n_fft: int, n_mels: int = N_MELS, fmin: float = 30.0,
                   fmax: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Triangular mel filters, each normalised to unit area.

    Parameters
    ----------
    sr : int > 0
        Sample rate (Hz).
    n_fft : int > 0
        FFT length in samples.
    n_mels : int > 0
        Number of bands, equally spaced in mel from ``fmin`` to ``fmax`` (Hz; default
        30 Hz to ``sr / 2``).

    Returns
    -------
    weights : np.ndarray [shape=(n_mels, 1 + n_fft // 2), float32]
        Weight of each STFT bin in each band.
    centres : np.ndarray [shape=(n_mels,)]
        Centre frequency of each band (Hz).
    """
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
    """Weights mapping STFT bins to the 12 pitch classes.

    Parameters
    ----------
    sr, n_fft : int > 0
        Sample rate (Hz) and FFT length (samples) of the STFT it reads.
    fmin, fmax : float
        Bins outside ``[fmin, fmax]`` Hz (default 100 Hz..2 kHz) get no weight.
    width_semitones : float
        A bin's weight is a Gaussian of its distance to the nearest semitone, of standard
        deviation ``width_semitones / 2`` semitones.

    Returns
    -------
    np.ndarray [shape=(12, 1 + n_fft // 2), float32]
        Weight of each bin in each pitch class (C = 0 .. B = 11), not normalised per class.
    """
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
    """One Hann-windowed STFT pass over a mono signal, reduced to mel, chroma and RMS.

    The same as pushing ``y`` through a ``SpectralStream`` (which this does).

    Parameters
    ----------
    y : np.ndarray [shape=(n,), float32]
        Mono signal, full scale ±1.
    sr : int > 0
        Its sample rate (Hz).
    n_fft : int > 0
        FFT length in samples.
    hop : int > 0
        Samples between frames (frame t is centred at ``t * hop / sr`` seconds).
    n_mels : int > 0
        Number of mel bands.
    key_chroma : bool
        Also compute the finer chroma that only the key step reads (a second STFT).

    Returns
    -------
    Spectral
        ``mel`` (n_mels, n_frames) magnitudes, ``mel_hz`` (n_mels,) band centres in Hz,
        ``chroma`` (12, n_frames), ``rms`` (n_frames,), and ``key_chroma``
        (12, ~n_frames / 4) or None.
    """
    stream = SpectralStream(sr, n_fft=n_fft, hop=hop, n_mels=n_mels, key_chroma=key_chroma)
    stream.expect(len(y) / float(sr))
    stream.push(y)
    return stream.finish()


class _Frames:
    """Streaming framing of a signal: frame t is ``x[t * hop - lead:][:n_fft]`` (zeros
    before the start and past the end), handed to ``process(frames, first)`` in blocks of
    ``block`` frames aligned on multiples of ``block``, so the result never depends on how
    the signal was cut into pushes. Holds one block's span of samples, never the signal."""

    def __init__(self, n_fft: int, hop: int, lead: int, block: int, process) -> None:
        self.n_fft, self.hop, self.block, self.process = n_fft, hop, block, process
        self.span = (block - 1) * hop + n_fft  # samples one full block reads
        self.buf = np.zeros(2 * self.span + block * hop, np.float32)
        self.fill = lead  # samples held (the lead's zeros count as held)
        self.done = 0  # frames processed
        self.n = 0  # samples pushed

    def push(self, x: np.ndarray) -> None:
        while len(x):
            take = min(len(x), len(self.buf) - self.fill)
            self.buf[self.fill:self.fill + take] = x[:take]
            self.fill += take
            self.n += take
            x = x[take:]
            self._drain(self.fill)

    def _drain(self, avail: int) -> None:
        """Process whole blocks while ``avail`` samples of the buffer are there to read."""
        pos = 0
        while avail - pos >= self.span:
            self._run(pos, self.block)
            pos += self.block * self.hop
        if pos:  # keep the unread tail (less than one block's span) at the front
            rest = self.fill - pos
            self.buf[:rest] = self.buf[pos:self.fill]
            self.fill = rest

    def _run(self, pos: int, k: int) -> None:
        seg = self.buf[pos:pos + (k - 1) * self.hop + self.n_fft]
        frames = np.lib.stride_tricks.as_strided(
            seg, shape=(k, self.n_fft), strides=(seg.strides[0] * self.hop, seg.strides[0]),
            writeable=False)
        self.process(seg, frames, self.done)
        self.done += k

    def finish(self, n_frames: int) -> None:
        """Process the frames left up to ``n_frames`` in all, zeros past the signal's end."""
        while self.done < n_frames:
            k = min(self.block, n_frames - self.done)
            need = (k - 1) * self.hop + self.n_fft
            if self.fill < need:  # only zeros follow
                self.buf[self.fill:need] = 0.0
                self.fill = need
            self._run(0, k)
            step = k * self.hop
            rest = max(self.fill - step, 0)
            self.buf[:rest] = self.buf[step:step + rest]
            self.fill = rest


class _Columns:
    """A (rows, T) float32 array filled column block by column block, with room reserved
    ahead: untouched room costs address space, not memory (the pages are never written),
    so a good ``reserve`` means no copy at all; past it, the array grows by half."""

    def __init__(self, rows: int, capacity: int) -> None:
        self.data = np.empty((rows, max(capacity, 1)), np.float32)
        self.n = 0  # columns written

    def reserve(self, capacity: int) -> None:
        if capacity > self.data.shape[1]:
            self._grow(capacity)

    def _grow(self, capacity: int) -> None:
        grown = np.empty((self.data.shape[0], capacity), np.float32)
        grown[:, :self.n] = self.data[:, :self.n]
        self.data = grown

    def view(self, first: int, k: int) -> np.ndarray:
        """Columns ``first .. first + k`` to write."""
        if first + k > self.data.shape[1]:
            self._grow(max(first + k, self.data.shape[1] * 3 // 2))
        self.n = max(self.n, first + k)
        return self.data[:, first:first + k]

    def result(self, n: int) -> np.ndarray:
        """The first ``n`` columns (a view: its rows are ``capacity`` apart)."""
        return self.data[:, :n]


_RESERVE_S = 30.0  # frames reserved before a length is stated (then grown by half)
_MAX_RESERVE_S = 6 * 3600.0  # a stated length is not trusted beyond this


class SpectralStream:
    """``compute`` over a signal that arrives in pieces: ``push`` consecutive mono float32
    blocks (any sizes), then ``finish`` for the ``Spectral``. Memory: one block's span of
    samples plus the per-frame reductions (``n_mels + 13`` floats per 23 ms frame, 48 MB
    an hour); the output is identical to ``compute`` on the whole signal, however it was cut.

    Also tracks the signal's length (``n_samples``) and peak (``peak``, max |sample|).
    """

    def __init__(self, sr: int, n_fft: int = N_FFT, hop: int = HOP, n_mels: int = N_MELS,
                 key_chroma: bool = True) -> None:
        self.sr, self.n_fft, self.hop, self.n_mels = sr, n_fft, hop, n_mels
        self.peak = 0.0
        self._window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
        self._blocks, self._mel_hz = _reduction(sr, n_fft, n_mels)
        self._red = _Columns(n_mels + 12, self._frames_in(_RESERVE_S))
        self._rms = _Columns(1, self._frames_in(_RESERVE_S))
        # reused buffers: nothing large is allocated (and page-faulted) per block
        self._windowed = np.empty((_BLOCK_FRAMES, n_fft), dtype=np.float32)
        self._mag = np.empty((_BLOCK_FRAMES, n_fft // 2 + 1), dtype=np.float32)
        # frames centred on t * hop: n_fft // 2 zeros lead the signal
        self._frames = _Frames(n_fft, hop, n_fft // 2, _BLOCK_FRAMES, self._stft)
        self._fine = _FineChroma(sr) if key_chroma else None

    @property
    def n_samples(self) -> int:
        """Samples pushed so far."""
        return self._frames.n

    def _frames_in(self, seconds: float) -> int:
        return int(min(seconds, _MAX_RESERVE_S) * self.sr / self.hop) + 2

    def expect(self, seconds: float | None) -> None:
        """Reserve room for a signal of about ``seconds`` (a header's length): the
        per-frame arrays are then filled in place, never copied to grow."""
        if seconds and seconds > 0:
            n = self._frames_in(seconds * 1.02 + 1.0)
            self._red.reserve(n)
            self._rms.reserve(n)
            if self._fine is not None:
                self._fine.expect(seconds)

    def push(self, y: np.ndarray) -> None:
        """The next ``len(y)`` samples (mono, float32)."""
        y = np.asarray(y, dtype=np.float32)
        if not len(y):
            return
        self.peak = max(self.peak, float(y.max()), -float(y.min()))
        self._frames.push(y)
        if self._fine is not None:
            self._fine.push(y)

    def _stft(self, seg: np.ndarray, frames: np.ndarray, first: int) -> None:
        k, hop, pad = len(frames), self.hop, self.n_fft // 2
        red, rms = self._red.view(first, k), self._rms.view(first, k)[0]
        mid = seg[pad - hop // 2: pad - hop // 2 + k * hop].reshape(k, hop)  # hop around centre
        rms[:] = np.sqrt(np.einsum("ij,ij->i", mid, mid) / hop)
        np.multiply(frames, self._window, out=self._windowed[:k])
        np.abs(sfft.rfft(self._windowed[:k], axis=1, overwrite_x=True), out=self._mag[:k])
        for c0, c1, b0, b1, w in self._blocks:
            np.matmul(w.T, self._mag[:k, b0:b1].T, out=red[c0:c1])

    def finish(self) -> Spectral:
        """The ``Spectral`` of everything pushed; the stream is spent after this."""
        n = self.n_samples
        pad = self.n_fft // 2
        n_frames = 1 + max(0, (n + 2 * pad - self.n_fft) // self.hop)
        self._frames.finish(n_frames)
        red = self._red.result(n_frames)
        rms = self._rms.result(n_frames)[0]
        return Spectral(sr=self.sr, hop=self.hop, n_fft=self.n_fft, mel=red[:self.n_mels],
                        mel_hz=self._mel_hz, chroma=red[self.n_mels:], rms=rms,
                        key_chroma=self._fine.finish() if self._fine is not None else None)


KEY_N_FFT = 4096


def fine_chroma(y: np.ndarray, sr: int, n_fft: int = KEY_N_FFT) -> np.ndarray:
    """Chroma from long frames (half-overlapping, ``KEY_N_FFT`` = 4096 points): low notes
    need the frequency resolution. What the key step reads.

    Parameters
    ----------
    y, sr : np.ndarray [shape=(n,), float32] and int > 0
        Mono signal (full scale ±1) and its sample rate in Hz.
    n_fft : int > 0
        Frame length in samples; frames start every ``n_fft // 2``.

    Returns
    -------
    np.ndarray [shape=(12, n_frames), float32]
        Pitch-class energy a frame, C = 0.
    """
    stream = _FineChroma(sr, n_fft)
    stream.expect(len(y) / float(sr))
    stream.push(np.asarray(y, dtype=np.float32))
    return stream.finish()


class _FineChroma:
    """``fine_chroma`` streaming: frame t is ``y[t * n_fft / 2:][:n_fft]`` (a signal
    shorter than one frame is zero-padded to one), (12, T) float32 at the end."""

    def __init__(self, sr: int, n_fft: int = KEY_N_FFT) -> None:
        self.n_fft, self.sr = n_fft, sr
        self._window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
        self._fb = chroma_filterbank(sr, n_fft).T.copy()
        self._out = _Columns(12, int(_RESERVE_S * sr / (n_fft // 2)))
        self._frames = _Frames(n_fft, n_fft // 2, 0, _BLOCK_FRAMES // 4, self._block)

    def expect(self, seconds: float) -> None:
        self._out.reserve(int((min(seconds, _MAX_RESERVE_S) * 1.02 + 1.0) * self.sr
                              / (self.n_fft // 2)) + 2)

    def push(self, y: np.ndarray) -> None:
        self._frames.push(y)

    def _block(self, seg: np.ndarray, frames: np.ndarray, first: int) -> None:
        self._out.view(first, len(frames))[:] = (
            np.abs(sfft.rfft(frames * self._window, axis=1)) @ self._fb).T

    def finish(self) -> np.ndarray:
        n = max(self._frames.n, self.n_fft)
        n_frames = 1 + (n - self.n_fft) // (self.n_fft // 2)
        self._frames.finish(n_frames)
        return self._out.result(n_frames)
