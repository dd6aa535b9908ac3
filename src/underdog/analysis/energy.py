"""Energy: how intense a track (and each bar of it) feels, 0..1 and a 1-10 level.

Five descriptors, each measured over a window of frames (the whole track, or one bar):

- ``loudness``: level in LUFS (the track's integrated loudness; a bar's level is its RMS
  level shifted by the same offset, so bar and track share one scale);
- ``density``: onset peaks per second in the onset-strength envelope;
- ``flux``: level of the spectral flux, 20*log10 of the mean rectified frame-to-frame rise of
  the (linear) mel magnitudes: how much new sound arrives per frame. Unlike the log-mel onset
  envelope it grows when an instrument is added, and it falls with the level;
- ``brightness``: share of the power above 1500 Hz, in dB (MIRtoolbox's "brightness");
- ``low``: low-end punch, the mean rectified log-mel flux of the bands below 150 Hz (kicks
  and bass notes hitting; a static drone scores nothing).

Each is standardised with a fixed centre and scale (``CENTRE``, ``SCALE``: the median and the
inter-quartile range / 1.35 of the free-music library, not the evaluation clips), combined
with equal weights and squashed by a logistic whose ``GAIN`` spreads that library's 5th..95th
percentiles over 0.1..0.9:

    energy = 1 / (1 + exp(-GAIN * sum_i WEIGHTS[i] * (x_i - CENTRE[i]) / SCALE[i]))

``level`` = ceil(10 * energy), clipped to 1..10. docs/descriptors.md gives the reasoning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .running import running_max, running_median
from .spectral import Spectral

FEATURES = ("loudness", "density", "flux", "brightness", "low")
# Fitted on the free-music library (``bench/energy.py --fit`` prints them); docs/descriptors.md.
CENTRE = np.array([-14.79, 4.60, -5.52, -14.55, 1.20])
SCALE = np.array([3.54, 1.38, 5.69, 4.67, 0.30])
WEIGHTS = np.full(5, 0.2)
GAIN = 1.85

LOW_HZ = 150.0
BRIGHT_HZ = 1500.0
TOP_DB = 80.0  # log-mel floor below the track's peak, as in onset.py
SILENCE_DB = -70.0
_BLOCK = 8192  # frames per step of frame_features (3 minutes)
PEAK_WINDOW_S = 0.05  # an onset peak is the maximum within +-50 ms
PEAK_MEDIAN_S = 1.0  # ... and exceeds the local median over 1 s
PEAK_DELTA = 0.5  # ... by this many (track-level) standard deviations
CURVE_HOP_NO_TEMPO_S = 2.0
# BS.1770 on a mono signal duplicated to two channels: 10*log10(2) - 0.691 above its RMS dB.
MONO_LUFS_OFFSET = 10.0 * math.log10(2.0) - 0.691


@dataclass
class EnergyResult:
    energy: float
    level: int
    curve: np.ndarray  # (n_windows,) float32, window i covers [i * curve_hop_s, (i + 1) * curve_hop_s)
    curve_hop_s: float


@dataclass
class FrameFeatures:
    """Per-frame quantities every window statistic is summed from."""

    power: np.ndarray  # rms**2
    total: np.ndarray  # bandwidth-weighted mel power
    low: np.ndarray  # the part of ``total`` below LOW_HZ
    high: np.ndarray  # the part of ``total`` above BRIGHT_HZ
    low_flux: np.ndarray  # rectified log-mel flux of the bands below LOW_HZ
    lin_flux: np.ndarray  # rectified linear-magnitude mel flux (bandwidth-weighted)
    env: np.ndarray
    peaks: np.ndarray  # bool: onset peaks
    fps: float


def onset_peaks(env: np.ndarray, fps: float) -> np.ndarray:
    """Onset peaks: local maxima of the envelope above its running median plus a margin.

    Parameters
    ----------
    env : np.ndarray [shape=(n_frames,)]
        Onset strength envelope (any non-negative curve).
    fps : float > 0
        Its frames per second.

    Returns
    -------
    np.ndarray [shape=(n_frames,), bool]
        True where a frame is the maximum within ±``PEAK_WINDOW_S`` (50 ms) and above the
        ``PEAK_MEDIAN_S`` (1 s) running median + ``PEAK_DELTA`` standard deviations.
    """
    if len(env) < 3:
        return np.zeros(len(env), bool)
    w = max(3, int(round(2 * PEAK_WINDOW_S * fps)) | 1)
    m = max(3, int(round(PEAK_MEDIAN_S * fps)) | 1)
    e = env.astype(np.float32)
    thr = running_median(e, m, mode="nearest") + PEAK_DELTA * float(np.std(e))
    return (e == running_max(e, w, mode="nearest")) & (e > thr)


def frame_features(spec: Spectral, env: np.ndarray) -> FrameFeatures:
    """The per-frame quantities behind every energy descriptor.

    Parameters
    ----------
    spec : Spectral
        The track's spectral reductions (mel magnitudes, band centres, frame RMS).
    env : np.ndarray [shape=(n_frames,)]
        Onset strength envelope.

    Returns
    -------
    FrameFeatures
        Arrays of shape (n,), n = min(spec.n_frames, len(env)): frame power (RMS², full
        scale), mel power weighted by each band's width in Hz (``total``; below
        ``LOW_HZ``: ``low``; above ``BRIGHT_HZ``: ``high``), the low bands' rectified
        log-mel flux (dB), the linear mel flux, the envelope and its onset peaks (bool).
    """
    hz = np.asarray(spec.mel_hz, dtype=np.float64)
    bw = np.gradient(hz).astype(np.float32)  # each mel band stands for ~bw Hz of spectrum
    n = min(spec.n_frames, len(env))
    lowb, highb = hz < LOW_HZ, hz > BRIGHT_HZ
    peak_db = 20.0 * np.log10(max(float(spec.mel.max(initial=0.0)), 1e-5))
    total, low, high = np.empty(n), np.empty(n), np.empty(n)
    lflux, linf = np.zeros(n), np.zeros(n)
    # _BLOCK frames at a time: nothing of the mel spectrogram's size beside it (3 h: 120 MB)
    for i in range(0, n, _BLOCK):
        j = min(n, i + _BLOCK)
        a = max(i - 1, 0)  # one frame back: the flux at i
        mel = spec.mel[:, a:j]
        pw = np.square(mel[:, i - a:]) * bw[:, None]
        total[i:j] = pw.sum(axis=0, dtype=np.float64)
        low[i:j] = pw[lowb].sum(axis=0, dtype=np.float64)
        high[i:j] = pw[highb].sum(axis=0, dtype=np.float64)
        if lowb.any():
            ldb = np.maximum(20.0 * np.log10(np.maximum(mel[lowb], 1e-5)), peak_db - TOP_DB)
            lflux[a + 1:j] = np.maximum(np.diff(ldb, axis=1), 0.0).mean(axis=0)
        mag = mel * bw[:, None]
        linf[a + 1:j] = np.maximum(np.diff(mag, axis=1), 0.0).sum(axis=0, dtype=np.float64)
    return FrameFeatures(
        power=np.square(spec.rms[:n].astype(np.float64)),
        total=total,
        low=low,
        high=high,
        low_flux=lflux,
        lin_flux=linf / spec.n_fft,
        env=env[:n].astype(np.float64),
        peaks=onset_peaks(env[:n], spec.fps),
        fps=spec.fps,
    )


def _cums(ff: FrameFeatures) -> np.ndarray:
    """Cumulative sums (7, T+1) so that any window's totals cost O(1)."""
    rows = (ff.power, ff.total, ff.high, ff.low_flux, ff.lin_flux, ff.peaks.astype(np.float64))
    cs = np.empty((len(rows), len(ff.power) + 1))  # filled row by row: no stacked copies
    cs[:, 0] = 0.0
    for k, row in enumerate(rows):
        np.cumsum(row, out=cs[k, 1:])
    return cs


def window_features(cs: np.ndarray, a: np.ndarray, b: np.ndarray, fps: float,
                    lufs_offset: float) -> np.ndarray:
    """The five energy descriptors of frame windows, from cumulative sums.

    Parameters
    ----------
    cs : np.ndarray [shape=(6, n_frames + 1)]
        Cumulative sums of the frame features (``_cums``).
    a, b : np.ndarray [shape=(n_windows,), int]
        Window starts and ends (frames, half-open ``[a, b)``).
    fps : float > 0
        Frames per second.
    lufs_offset : float
        dB that puts an RMS level on the track's LUFS scale (:func:`lufs_offset`).

    Returns
    -------
    np.ndarray [shape=(n_windows, 5)]
        Per window: loudness (LUFS scale), onset density (peaks per second), flux (dB),
        brightness (dB, share above 1.5 kHz), low-end flux (dB per frame).
    """
    s = cs[:, b] - cs[:, a]
    n = np.maximum(b - a, 1).astype(np.float64)
    power, total, high, lflux, linf, peaks = s
    loud = 10.0 * np.log10(np.maximum(power / n, 1e-12)) + lufs_offset
    density = peaks / (n / fps)
    flux = 20.0 * np.log10(np.maximum(linf / n, 1e-9))
    bright = 10.0 * np.log10(np.maximum(high, 1e-12) / np.maximum(total, 1e-12))
    # in silence the spectral shape is noise: give it the library's centre, i.e. no vote
    bright = np.where(loud - lufs_offset < SILENCE_DB, CENTRE[3], np.maximum(bright, -40.0))
    return np.stack([loud, density, flux, bright, lflux / n], axis=1)


def energy_map(x: np.ndarray) -> np.ndarray:
    """Energy from descriptors: the fixed logistic map of their standardised mean.

    Parameters
    ----------
    x : np.ndarray [shape=(..., 5)]
        Descriptors as :func:`window_features` gives them.

    Returns
    -------
    np.ndarray [shape=(...)]
        Energy 0..1: ``1 / (1 + exp(-GAIN * mean(clip((x - CENTRE) / SCALE, ±4))))``.
    """
    z = (np.asarray(x, dtype=np.float64) - CENTRE) / SCALE
    return 1.0 / (1.0 + np.exp(-GAIN * (np.clip(z, -4.0, 4.0) @ WEIGHTS)))


def energy_level(e: float) -> int:
    """The analysis's integer level of an energy ``e`` (0..1): ceil(10 e), clipped to 1..10."""
    return int(min(10, max(1, math.ceil(10.0 * e))))


def _track_level_db(power: np.ndarray) -> float:
    """Mean-square level (dB) of the frames above silence: the RMS twin of a gated LUFS."""
    db = 10.0 * np.log10(np.maximum(power, 1e-12))
    keep = db > SILENCE_DB
    if not keep.any():
        return SILENCE_DB
    return float(10.0 * np.log10(np.mean(power[keep])))


def lufs_offset(power: np.ndarray, loud) -> float:
    """The offset from a frame RMS level to the track's LUFS scale.

    Parameters
    ----------
    power : np.ndarray [shape=(n_frames,)]
        Frame power (RMS², full scale).
    loud : LoudnessResult or None
        The track's loudness (``integrated_lufs``, LUFS).

    Returns
    -------
    float
        dB to add to an RMS level (dB) so that the track's level above silence reads as its
        integrated loudness; without a finite loudness, the BS.1770 offset of a mono
        signal (+2.3 dB).
    """
    lvl = _track_level_db(power)
    lufs = getattr(loud, "integrated_lufs", None)
    if lufs is None or not math.isfinite(lufs):
        return MONO_LUFS_OFFSET  # no meter: BS.1770 of the mono signal, ungated
    return float(lufs) - lvl


def curve_grid(n_frames: int, fps: float, bpm: float | None) -> tuple[float, np.ndarray]:
    """The energy curve's windows: one bar (4 beats) when the tempo is known, else 2 s.

    Parameters
    ----------
    n_frames : int
        Frames in the track.
    fps : float > 0
        Frames per second.
    bpm : float or None
        Tempo (BPM).

    Returns
    -------
    hop_s : float
        Window length in seconds.
    edges : np.ndarray [shape=(n_windows + 1,), int]
        Frame edges; window *i* is ``[edges[i], edges[i + 1])`` (the last may be shorter).
    """
    hop_s = 240.0 / bpm if bpm and math.isfinite(bpm) and bpm > 0 else CURVE_HOP_NO_TEMPO_S
    dur = n_frames / fps
    n = max(1, int(math.ceil(dur / hop_s - 1e-9)))
    edges = np.minimum(np.round(np.arange(n + 1) * hop_s * fps).astype(int), n_frames)
    return hop_s, edges


def describe_energy(spec: Spectral, env: np.ndarray, loud, beats: np.ndarray,
                    bpm: float | None) -> EnergyResult:
    """Energy of a track and its energy curve (docs/descriptors.md, "Energy").

    Parameters
    ----------
    spec : Spectral
        The track's spectral reductions (mel magnitudes, frame power, low-band power).
    env : np.ndarray [shape=(n_frames,)]
        Onset strength envelope (``onset.onset_bands``), one value a frame.
    loud : LoudnessResult or None
        The track's loudness (``integrated_lufs`` in LUFS); None or -inf: the level of the
        mono signal stands in.
    beats : np.ndarray [shape=(n_beats,)]
        Beat times in seconds (part of the pipeline's contract; the curve's bars follow
        ``bpm`` from 0 s).
    bpm : float or None
        Tempo in BPM: a bar (4 beats) sets the curve's hop; None gives 2-s windows.

    Returns
    -------
    EnergyResult
        ``energy`` 0..1 (a logistic map of five standardised descriptors), ``level``
        ceil(10 * energy) in 1..10, ``curve`` float32 of shape (n_windows,) with the same
        map per window, ``curve_hop_s`` the window length in seconds (value *i* covers
        ``[i * hop, (i + 1) * hop)``).
    """
    ff = frame_features(spec, env)
    T = len(ff.env)
    if T == 0:
        return EnergyResult(0.0, 1, np.zeros(0, np.float32), CURVE_HOP_NO_TEMPO_S)
    off = lufs_offset(ff.power, loud)
    cs = _cums(ff)
    whole = window_features(cs, np.array([0]), np.array([T]), ff.fps, off)[0]
    lufs = getattr(loud, "integrated_lufs", None)
    if lufs is not None and math.isfinite(lufs):
        whole[0] = float(lufs)  # the gated BS.1770 value itself, not the RMS twin
    else:
        whole[0] = _track_level_db(ff.power) + off
    e = float(energy_map(whole))
    hop_s, edges = curve_grid(T, ff.fps, bpm)
    a, b = edges[:-1], edges[1:]
    keep = b > a
    curve = energy_map(window_features(cs, a[keep], b[keep], ff.fps, off)).astype(np.float32)
    return EnergyResult(energy=e, level=energy_level(e), curve=curve, curve_hop_s=float(hop_s))


def describe(spec: Spectral, env: np.ndarray, loud=None) -> np.ndarray:
    """The five descriptors of a whole track (for benchmarks and fitting the scale).

    Parameters
    ----------
    spec : Spectral
        The track's spectral reductions.
    env : np.ndarray [shape=(n_frames,)]
        Onset strength envelope.
    loud : LoudnessResult or None
        The track's loudness; its integrated LUFS is the loudness descriptor when finite.

    Returns
    -------
    np.ndarray [shape=(5,), float64]
        As one row of :func:`window_features`.
    """
    ff = frame_features(spec, env)
    off = lufs_offset(ff.power, loud)
    x = window_features(_cums(ff), np.array([0]), np.array([len(ff.env)]), ff.fps, off)[0]
    lufs = getattr(loud, "integrated_lufs", None)
    x[0] = float(lufs) if lufs is not None and math.isfinite(lufs) else _track_level_db(ff.power) + off
    return x
