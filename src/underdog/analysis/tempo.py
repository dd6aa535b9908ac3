"""Global tempo at the level a listener taps, with octave alternatives and a confidence.

The onset envelope's periodicity is measured twice: an autocorrelation (peaks at the beat
period and its multiples, i.e. at tempo / k) and a Fourier tempogram (peaks at the beat
rate and its harmonics, i.e. at tempo * k). Their product keeps the rate both agree on.
The octave (which of tempo / 2, tempo, tempo * 2, ...) is then chosen among the candidates
by a small shipped conditional-logit model over their features (salience at related tempi,
pulse shape, kick/snare timing); without band envelopes, by salience times a log-normal
prior on tapped tempi.

All of this reads fixed 30-s windows (the length the model was trained on), pooled over
the track, so a track's length does not change its tempo; the windows also give the tempo
map (segments of constant tempo, each change placed to the frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .running import running_max

MIN_BPM = 40.0
MAX_BPM = 250.0
PRIOR_BPM = 120.0  # centre of the tapped-tempo prior
PRIOR_OCTAVES = 0.9  # its standard deviation, in octaves
MIN_SALIENCE = 0.01  # candidates weaker than this share of the strongest are not tempi
RELATIONS = {"half": 0.5, "double": 2.0, "two_thirds": 2.0 / 3.0, "three_halves": 1.5}
# Rows of ``onset.onset_bands``: the first four get periodicity features; the snare is
# read as the geometric mean of its body and its crack.
KICK, SNARE_BODY, HIGHS, SNARE_CRACK = 0, 1, 3, 4
PERIODICITY_BANDS = 4
# The octave model was trained on 30-s clips and several of its features (the DFT's
# resolution, folds and beat parity at a fixed period) sharpen or smear with the length
# read, so every estimate reads windows of this length and pools them.
WINDOW_S = 30.0
HOP_S = 30.0  # back to back: half the cost of a 15-s hop, as accurate on midi-full-dev
SINGLE_WINDOW_S = 37.5  # up to this length the whole track is one window
KERNEL_OCTAVES = 0.01  # width of a candidate in the pooled histogram (0.7 %)
MIN_WINDOW_WEIGHT = 0.05  # a window with no clear pulse still counts this much
# tempo map: a change costs SWITCH_COST; a window against a tempo costs up to
# -log(EMISSION_FLOOR) = 3, so a change needs two or more windows (60 s) that disagree
SWITCH_COST = 6.0
EMISSION_FLOOR = 0.05
OCTAVE_SAME = 0.8  # a window's belief in 2x or x/2 counts this much for the tempo itself
QUIET_SHARE = 0.15  # pulse activity (1-s mean) below this share of its median: a gap
SAME_TEMPO_OCTAVES = 0.04  # neighbouring runs closer than this (2.8 %) are one segment


@dataclass
class TempoEstimate:
    bpm: float | None
    confidence: float
    candidates: list[tuple[float, float]] = field(default_factory=list)
    segments: list[tuple[float, float, float]] = field(default_factory=list)


def bpm_grid(lo: float = MIN_BPM / 1.5, hi: float = MAX_BPM * 2.0, per_octave: int = 240):
    """The log-spaced tempo axis every salience is read on.

    Parameters
    ----------
    lo, hi : float > 0
        First and last tempo (BPM); by default ``MIN_BPM / 1.5`` to ``2 * MAX_BPM``.
    per_octave : int > 0
        Steps per octave (240: 0.29 % apart).

    Returns
    -------
    np.ndarray [shape=(n_tempi,), float64]
        Tempi in BPM, ascending, from ``lo`` to at least ``hi``.
    """
    n = int(np.ceil(np.log2(hi / lo) * per_octave)) + 1
    return lo * 2.0 ** (np.arange(n) / per_octave)


def normalize_envelope(env: np.ndarray, fps: float, window_s: float = 1.0) -> np.ndarray:
    """An onset envelope made comparable across tracks: minus its moving mean (slow
    swells drop out), rectified, scaled to unit RMS.

    Parameters
    ----------
    env : np.ndarray [shape=(n_frames,)]
        Onset strength envelope.
    fps : float > 0
        Frames per second.
    window_s : float > 0
        Length of the moving mean (s).

    Returns
    -------
    np.ndarray [shape=(n_frames,), float64]
        Non-negative, RMS 1 (all zeros stay zeros).
    """
    env = np.asarray(env, dtype=np.float64)
    n = max(1, int(round(window_s * fps)))
    if len(env) > n:
        kernel = np.ones(n) / n
        env = env - np.convolve(env, kernel, mode="same")
    env = np.maximum(env, 0.0)
    rms = np.sqrt(np.mean(env ** 2)) if len(env) else 0.0
    return env / rms if rms > 0 else env


def autocorrelation(env: np.ndarray) -> np.ndarray:
    """Unbiased autocorrelation (each lag divided by its overlap), by FFT.

    Parameters
    ----------
    env : np.ndarray [shape=(n,)]
        A (normalised) onset envelope.

    Returns
    -------
    np.ndarray [shape=(n,)]
        Correlation at lags 0..n-1 frames, lag 0 scaled to 1.
    """
    n = len(env)
    if n == 0:
        return np.zeros(0)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(env, size)
    ac = np.fft.irfft(f * np.conj(f), size)[:n]
    ac /= np.arange(n, 0, -1)
    return ac / ac[0] if ac[0] > 0 else ac


def acf_salience(ac: np.ndarray, fps: float, grid: np.ndarray) -> np.ndarray:
    """Autocorrelation salience of each tempo.

    Parameters
    ----------
    ac : np.ndarray [shape=(n_lags,)]
        Autocorrelation by lag in frames (:func:`autocorrelation`).
    fps : float > 0
        Frames per second.
    grid : np.ndarray [shape=(n_tempi,)]
        Tempi (BPM).

    Returns
    -------
    np.ndarray [shape=(n_tempi,)]
        The ACF at each tempo's beat period (``60 fps / bpm`` frames, linearly
        interpolated), clipped at 0; 0 past the longest lag.
    """
    lags = 60.0 * fps / grid
    return np.maximum(np.interp(lags, np.arange(len(ac)), ac, right=0.0), 0.0)


def dft_salience(env: np.ndarray, fps: float, grid: np.ndarray) -> np.ndarray:
    """Fourier salience of each tempo.

    Parameters
    ----------
    env : np.ndarray [shape=(n,)]
        A (normalised) onset envelope.
    fps : float > 0
        Frames per second of ``env``.
    grid : np.ndarray [shape=(n_tempi,)]
        The tempi to read, in BPM (:func:`bpm_grid`).

    Returns
    -------
    np.ndarray [shape=(n_tempi,)]
        Magnitude of the Hann-windowed, zero-padded (4x) transform at ``bpm / 60`` Hz.
    """
    n = len(env)
    size = max((1 << int(np.ceil(np.log2(n)))) * 4, 4096)
    mag = np.abs(np.fft.rfft(env * np.hanning(n), size))
    freqs_bpm = np.fft.rfftfreq(size, 1.0 / fps) * 60.0
    return np.interp(grid, freqs_bpm, mag, right=0.0)


def _peak_near(grid: np.ndarray, sal: np.ndarray, bpm: float, tol: float = 0.03):
    """Best (bpm, salience) within ``tol`` (relative) of ``bpm`` on the grid."""
    a = int(np.searchsorted(grid, bpm * (1 - tol), "left"))  # grid is ascending
    b = int(np.searchsorted(grid, bpm * (1 + tol), "right"))
    if b <= a:
        return bpm, 0.0
    i = a + int(np.argmax(sal[a:b]))
    return float(grid[i]), float(sal[i])


def tempo_prior(bpm, centre: float = PRIOR_BPM, octaves: float = PRIOR_OCTAVES):
    """How likely listeners tap each tempo: a log-normal bump (peak 1) at ``centre`` BPM
    with a standard deviation of ``octaves`` octaves; ``bpm`` a scalar or array (BPM)."""
    return np.exp(-0.5 * (np.log2(np.asarray(bpm, dtype=np.float64) / centre) / octaves) ** 2)


@dataclass
class Periodicity:
    """Everything the octave decision looks at, on one BPM grid."""

    grid: np.ndarray
    acf: np.ndarray  # full-band ACF salience
    dft: np.ndarray  # full-band DFT salience, max 1
    band_acf: np.ndarray  # (bands, grid)
    band_dft: np.ndarray  # (bands, grid)
    globals: np.ndarray  # track-level descriptors (see _globals)
    env: np.ndarray | None = None  # the normalised full-band envelope
    fps: float = 0.0
    band_envs: tuple = ()  # the normalised per-band envelopes
    snare: np.ndarray | None = None  # normalised snare envelope (body x crack), if given

    @property
    def product(self) -> np.ndarray:
        """ACF times DFT salience, shape (n_tempi,): high only where both agree."""
        return self.acf * self.dft


def _views(env: np.ndarray, fps: float, grid: np.ndarray):
    e = normalize_envelope(env, fps)
    a = acf_salience(autocorrelation(e), fps, grid)
    d = dft_salience(e, fps, grid)
    return a, (d / d.max() if d.max() > 0 else d), e


def periodicity(env: np.ndarray, fps: float, bands: np.ndarray | None = None) -> Periodicity:
    """Every periodicity view of one window that the octave decision reads.

    Parameters
    ----------
    env : np.ndarray [shape=(n_frames,)]
        Onset strength envelope of the window.
    fps : float > 0
        Frames per second.
    bands : np.ndarray [shape=(n_bands, n_frames)] or None
        Per-band envelopes (``onset.BANDS`` order): the first ``PERIODICITY_BANDS`` get
        their own saliences; the snare body and crack make a snare envelope.

    Returns
    -------
    Periodicity
        On ``bpm_grid()``: full-band ACF and DFT saliences (n_tempi,), per-band ones
        (n_bands, n_tempi), track-level descriptors (onset rate, spectral balance, pulse
        clarity) and the normalised envelopes.
    """
    grid = bpm_grid()
    a, d, e = _views(env, fps, grid)
    bands = np.zeros((0, len(env))) if bands is None else np.asarray(bands)
    per = bands[:PERIODICITY_BANDS]
    ba, bd, be = zip(*(_views(b, fps, grid) for b in per)) if len(per) else ((), (), ())
    snare = None
    if len(bands) > SNARE_CRACK:
        body = np.asarray(bands[SNARE_BODY], np.float64)
        snare = normalize_envelope(np.sqrt(body * bands[SNARE_CRACK]), fps)
    return Periodicity(grid, a, d, np.array(ba).reshape(len(per), -1),
                       np.array(bd).reshape(len(per), -1), _globals(env, be, fps, a * d),
                       e, fps, tuple(be), snare)


def _globals(env: np.ndarray, band_envs, fps: float, product: np.ndarray) -> np.ndarray:
    """Onset rate, spectral balance of the flux, and pulse clarity."""
    e = normalize_envelope(env, fps)
    thr = 1.0
    peaks = (e[1:-1] > e[:-2]) & (e[1:-1] >= e[2:]) & (e[1:-1] > thr)
    rate = np.log2(1.0 + peaks.sum() * fps / max(len(e), 1))
    raw = [np.mean(np.asarray(b)) for b in band_envs] if band_envs else []
    balance = np.log2((raw[HIGHS] + 1e-6) / (raw[KICK] + 1e-6)) if len(raw) > HIGHS else 0.0
    clarity = np.log2(1e-6 + product.max() / (product.mean() + 1e-9))
    return np.array([rate, balance, clarity])


def candidate_tempi(p: Periodicity, k: int = 6) -> list[float]:
    """Candidate tempi of a window: the strongest salience peaks, then octave relatives.

    Parameters
    ----------
    p : Periodicity
        The window's periodicity views.
    k : int > 0
        At most this many peaks (``MIN_BPM``..``MAX_BPM``, above ``MIN_SALIENCE`` of the
        strongest, at least 0.06 octave apart), strongest first.

    Returns
    -------
    list of float
        Tempi in BPM: the peaks, then the strongest one's relatives (x1/2, 2, 3/2, 2/3,
        3, 1/3) that have salience and are not already there.
    """
    sal = p.product
    g = p.grid
    inside = (g >= MIN_BPM) & (g <= MAX_BPM)
    is_peak = np.zeros(len(g), bool)
    is_peak[1:-1] = (sal[1:-1] >= sal[:-2]) & (sal[1:-1] > sal[2:])
    idx = np.flatnonzero(is_peak & inside & (sal > 0))
    idx = idx[np.argsort(sal[idx])[::-1]]
    out: list[float] = []
    floor = MIN_SALIENCE * sal[idx[0]] if len(idx) else 0.0
    for i in idx:
        if sal[i] < floor:
            break
        if all(abs(np.log2(g[i] / c)) > 0.06 for c in out):
            out.append(float(g[i]))
        if len(out) >= k:
            break
    if out:
        for r in (0.5, 2.0, 1.5, 2.0 / 3.0, 3.0, 1.0 / 3.0):
            b = out[0] * r
            near, v = _peak_near(g, sal, b)
            if MIN_BPM <= b <= MAX_BPM and v >= floor and \
                    all(abs(np.log2(near / c)) > 0.06 for c in out):
                out.append(float(near))
    return out


def _read(curve: np.ndarray, grid: np.ndarray, bpm: float) -> float:
    return float(_peak_near(grid, curve, bpm, tol=0.02)[1]) if MIN_BPM / 1.5 <= bpm <= grid[-1] \
        else 0.0


FEATURE_RATIOS = (0.5, 1.0, 2.0, 1.5, 1.0 / 3.0, 3.0)


def candidate_features(p: Periodicity, bpm: float) -> np.ndarray:
    """The octave model's input for one candidate tempo.

    Parameters
    ----------
    p : Periodicity
        The window's periodicity views.
    bpm : float > 0
        The candidate (BPM).

    Returns
    -------
    np.ndarray [shape=(n_features,), float64]
        Log-tempo and its square, saliences at the candidate's octave relatives, pulse
        shape, backbeat and drum-alternation cues, and the window's descriptors times
        log-tempo (the order :class:`OctaveModel` was trained on).
    """
    x = np.log2(bpm / PRIOR_BPM)
    f = [x, x * x]
    prod = p.product
    top = prod.max() if prod.max() > 0 else 1.0
    for r in FEATURE_RATIOS:
        f.append(np.log(1e-3 + _read(prod, p.grid, bpm * r) / top))
    for r in (1.0, 2.0, 0.5):
        f.append(_read(p.acf, p.grid, bpm * r))
        f.append(_read(p.dft, p.grid, bpm * r))
    for b in range(p.band_acf.shape[0]):
        for r in (1.0, 2.0):
            f.append(_read(p.band_acf[b], p.grid, bpm * r))
            f.append(_read(p.band_dft[b], p.grid, bpm * r))
    f.extend(_pulse_shape(p.env, p.fps, bpm))
    f.extend(_backbeat(p.band_envs, p.fps, bpm))
    f.extend(_drum_alternation(p, bpm))
    f.extend(x * p.globals)
    return np.array(f, dtype=np.float64)


def _fold(e: np.ndarray, fps: float, bpm: float, bins: int) -> np.ndarray:
    """Mean of ``e`` per phase bin of the beat period at ``bpm``."""
    idx, count = _phase_bins(len(e), fps, bpm, bins)
    return np.bincount(idx, weights=e, minlength=bins) / count


@lru_cache(maxsize=8)
def _phase_bins(n: int, fps: float, bpm: float, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's phase bin and the frames per bin (shared by the bands folded alike)."""
    period = 60.0 * fps / bpm
    idx = ((np.arange(n) / period) % 1.0 * bins).astype(int) % bins
    return idx, np.maximum(np.bincount(idx, minlength=bins), 1)


def _smoothed_fold(e: np.ndarray, fps: float, bpm: float, bins: int) -> np.ndarray:
    """``_fold`` smoothed by a circular [1/4, 1/2, 1/4] kernel."""
    prof = _fold(e, fps, bpm, bins)
    return np.convolve(np.r_[prof[-1], prof, prof[0]], [0.25, 0.5, 0.25], "valid")


def _backbeat(band_envs, fps: float, bpm: float, bins: int = 16) -> list[float]:
    """Kick-versus-snare timing over a two-beat cycle: low-band and upper-band profiles
    correlated at offsets of half a cycle (backbeat), none (same beat) and a quarter."""
    if len(band_envs) < 2:
        return [0.0] * 9
    low = _fold(band_envs[0], fps, bpm / 2.0, bins)
    low = low - low.mean()
    out = []
    for e in band_envs[1:]:
        up = _fold(e, fps, bpm / 2.0, bins)
        up = up - up.mean()
        norm = np.sqrt((low @ low) * (up @ up)) + 1e-9
        c = {k: (low @ np.roll(up, -k)) / norm for k in (0, bins // 4, bins // 2, 3 * bins // 4)}
        out += [float(c[bins // 2]), float(c[0]), float(max(c[bins // 4], c[3 * bins // 4]))]
    return out


def _drum_alternation(p: Periodicity, bpm: float) -> list[float]:
    """Do kick and snare alternate from beat to beat at ``bpm``? Beats are placed at the
    full-band pulse's phase; each drum's strength on even minus odd beats, over its mean,
    with the parity chosen so that the kick's is positive. A rock backbeat (kick on 1 and
    3, snare on 2 and 4) gives a positive kick and a negative snare value at the notated
    tempo; at double tempo neither alternates that way."""
    if p.snare is None or not p.band_envs or p.env is None or len(p.env) == 0:
        return [0.0, 0.0]
    period = 60.0 * p.fps / bpm
    phase = np.argmax(_smoothed_fold(p.env, p.fps, bpm, 24)) / 24.0 * period
    n = len(p.env)
    on = np.round(phase + np.arange(int((n - 1 - phase) / period) + 1) * period).astype(int)
    if len(on) < 2:
        return [0.0, 0.0]
    width = 2 * int(round(period / 8)) + 1
    out = []
    for e in (p.band_envs[KICK], p.snare):
        v = running_max(np.asarray(e), width)[on]
        out.append((v[0::2].mean() - v[1::2].mean()) / (v.mean() + 1e-6))
    sign = 1.0 if out[0] >= 0 else -1.0
    return [sign * out[0], sign * out[1]]


def _pulse_shape(e: np.ndarray | None, fps: float, bpm: float, bins: int = 12) -> list[float]:
    """Fold an envelope at the period of ``bpm``: how peaked the pulse is and how strong
    its half- and third-period offbeats are relative to its beat."""
    if e is None or len(e) == 0:
        return [0.0, 0.0, 0.0]
    prof = _smoothed_fold(e, fps, bpm, bins)
    k = int(np.argmax(prof))
    top = prof[k] + 1e-9
    half = prof[(k + bins // 2) % bins] / top
    third = max(prof[(k + bins // 3) % bins], prof[(k + 2 * bins // 3) % bins]) / top
    return [float(top / (prof.mean() + 1e-9)), float(half), float(third)]


@dataclass(frozen=True)
class OctaveModel:
    """A conditional-logit scorer over a track's candidate tempi (weights shipped as .npz)."""

    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray

    def __post_init__(self):
        for a in (self.mean, self.std, self.weights):
            a.flags.writeable = False  # shared by every caller of default_model()

    def scores(self, feats: np.ndarray) -> np.ndarray:
        """Probabilities of a window's candidates, shape (n_candidates,) summing to 1,
        from their :func:`candidate_features` rows, shape (n_candidates, n_features)."""
        z = (feats - self.mean) / self.std
        s = z @ self.weights
        s = np.exp(s - s.max())
        return s / s.sum()

    @classmethod
    def load(cls, path=None) -> "OctaveModel":
        """The model saved at ``path`` (.npz), or the shipped one when None."""
        from importlib import resources

        if path is None:
            path = resources.files("underdog.analysis") / "data" / MODEL_FILE
        with resources.as_file(path) if not isinstance(path, str) else _nullctx(path) as f:
            z = np.load(f)
            return cls(z["mean"], z["std"], z["weights"])

    def save(self, path) -> None:
        """Write the standardisation and weights to ``path`` (.npz)."""
        np.savez(path, mean=self.mean, std=self.std, weights=self.weights)


class _nullctx:
    def __init__(self, v):
        self.v = v

    def __enter__(self):
        return self.v

    def __exit__(self, *a):
        return False


MODEL_FILE = "tempo_octave.npz"


@lru_cache(maxsize=1)
def default_model() -> OctaveModel:
    """The shipped octave model, loaded once (frozen, with read-only arrays)."""
    return OctaveModel.load()


def _window_estimate(env: np.ndarray, fps: float, bands: np.ndarray | None,
                     model: OctaveModel | None):
    """One window's periodicity, candidates and their probabilities (None if no pulse)."""
    if len(env) < 4 * fps or not np.any(env > 0):
        return None
    p = periodicity(env, fps, bands)
    cands = candidate_tempi(p)
    if not cands:
        return None
    if bands is not None:
        model = model or default_model()
        probs = model.scores(np.stack([candidate_features(p, b) for b in cands]))
    else:
        w = np.array([_read(p.product, p.grid, b) for b in cands]) * tempo_prior(cands)
        probs = w / w.sum() if w.sum() > 0 else np.full(len(cands), 1.0 / len(cands))
    return p, cands, probs


def analysis_windows(n: int, fps: float, window_s: float = WINDOW_S,
                     hop_s: float = HOP_S) -> list[tuple[int, int]]:
    """The fixed-length windows the tempo is read over.

    Parameters
    ----------
    n : int
        Frames in the envelope.
    fps : float > 0
        Frames per second.
    window_s, hop_s : float > 0
        Window length and hop (s): ``WINDOW_S``, ``HOP_S`` (30 s back to back).

    Returns
    -------
    list of (a, b)
        Frame ranges ``[a, b)``: one, the whole track, up to ``SINGLE_WINDOW_S``; beyond,
        a window every ``hop_s`` from the start, the last one flush with the end.
    """
    w, h = int(round(window_s * fps)), int(round(hop_s * fps))
    if n <= int(round(SINGLE_WINDOW_S * fps)):
        return [(0, n)]
    starts = list(range(0, n - w + 1, h))
    if starts[-1] + w < n:
        starts.append(n - w)
    return [(a, a + w) for a in starts]


def _kernel_rows(grid: np.ndarray, cands, probs) -> np.ndarray:
    """A window's candidates as a soft histogram on ``grid``: each a Gaussian in log-tempo
    (``KERNEL_OCTAVES`` wide) of height its probability."""
    d = np.log2(grid[None, :] / np.asarray(cands, np.float64)[:, None]) / KERNEL_OCTAVES
    return np.asarray(probs, np.float64) @ np.exp(-0.5 * d * d)


def estimate_tempo(env: np.ndarray, fps: float, bands: np.ndarray | None = None,
                   model: OctaveModel | None = None) -> TempoEstimate:
    """Tapped tempo (and tempo map) of an onset envelope.

    The tempo is read over fixed-length windows (``WINDOW_S`` s every ``HOP_S`` s; a
    track up to ``SINGLE_WINDOW_S`` s is one window), so no feature depends on how long
    the track is. Each window's candidate probabilities are pooled into a soft histogram
    over log-tempo, weighted by how clearly the window's pulse stands out; the segments
    of the tempo map come from a change-point search over the windows.

    Parameters
    ----------
    env : np.ndarray [shape=(n_frames,)]
        Onset strength envelope.
    fps : float > 0
        Envelope frames per second.
    bands : np.ndarray [shape=(n_bands, n_frames)] or None
        Per-band envelopes (``onset.onset_bands``); the shipped octave model expects them.
        Without them the salience peak nearest the prior wins.
    model : OctaveModel or None
        The octave model (the shipped one when None).

    Returns
    -------
    TempoEstimate
        ``bpm`` (dominant tempo, BPM, or None), ``confidence`` in [0, 1], the octave
        relatives with their shares, and ``segments`` ``[(start_s, end_s, bpm), ...]``.
    """
    env = np.asarray(env)
    if len(env) < 4 * fps or not np.any(env > 0):
        return TempoEstimate(None, 0.0, [])
    grid = bpm_grid()
    spans, rows, weights, clar = [], [], [], []
    for a, b in analysis_windows(len(env), fps):
        got = _window_estimate(env[a:b], fps, None if bands is None else bands[:, a:b], model)
        if got is None:
            continue
        p, cands, probs = got
        best = cands[int(np.argmax(probs))]
        c = _clarity(p, best)
        spans.append((a, b))
        rows.append(_kernel_rows(grid, cands, probs))
        clar.append(c)
        weights.append(max(c, MIN_WINDOW_WEIGHT))
    if not rows:
        return TempoEstimate(None, 0.0, [])
    H = np.stack(rows)
    w = np.asarray(weights)
    pooled = w @ H
    i = int(np.argmax(pooled))
    best = _refine(grid, pooled, i)
    segments = tempo_map(env, fps, grid, spans, H, w)
    if len(segments) > 1:  # the dominant tempo is the one that plays longest
        held: dict[float, float] = {}
        for a, b, bpm in segments:
            key = next((k for k in held if abs(np.log2(bpm / k)) < SAME_TEMPO_OCTAVES), bpm)
            held[key] = held.get(key, 0.0) + b - a
        best = max(held, key=held.get)
        i = int(np.argmin(np.abs(np.log2(grid / best))))
    else:
        segments = [(0.0, round((len(env) - 1) / fps, 2), round(best, 2))]  # last frame
    total = float(w.sum())
    share = float(pooled[i] / total)
    rel = [(best, share)]
    for ratio in RELATIONS.values():
        target = best * ratio
        if MIN_BPM <= target <= MAX_BPM:
            near, v = _peak_near(grid, pooled, target, tol=0.03)
            rel.append((near, v / total))
    rel = [(round(float(b), 2), round(float(s), 4)) for b, s in rel]
    conf = round(float(np.sqrt(min(share, 1.0) * float(w @ np.asarray(clar)) / total)), 4)
    return TempoEstimate(round(best, 2), conf, rel, segments)


def _refine(grid: np.ndarray, curve: np.ndarray, i: int) -> float:
    """The peak at grid index ``i``, refined by a parabola through its neighbours."""
    if 0 < i < len(grid) - 1:
        y0, y1, y2 = curve[i - 1], curve[i], curve[i + 1]
        den = y0 - 2 * y1 + y2
        off = 0.5 * (y0 - y2) / den if den < 0 else 0.0
        return float(grid[i] * (grid[1] / grid[0]) ** float(np.clip(off, -0.5, 0.5)))
    return float(grid[i])


def tempo_map(env: np.ndarray, fps: float, grid: np.ndarray, spans, H: np.ndarray,
              w: np.ndarray) -> list[tuple[float, float, float]]:
    """Segments of constant tempo from the windows' tempo histograms.

    A Viterbi path over (window, tempo) keeps one tempo unless several windows in a row
    prefer another (``SWITCH_COST``); octave relatives count as the same tempo, so a
    half-time bridge does not split a song. Each change is then placed to the frame by
    comparing the envelope's self-similarity at the two beat periods around it.

    Parameters
    ----------
    env, fps : np.ndarray [shape=(n_frames,)] and float > 0
        Onset strength envelope and its frames per second.
    grid : np.ndarray [shape=(n_tempi,)]
        Tempo axis (BPM, :func:`bpm_grid`).
    spans : list of (a, b)
        Frame ranges of the windows that had a pulse.
    H : np.ndarray [shape=(n_windows, n_tempi)]
        Each window's soft histogram of candidate tempi.
    w : np.ndarray [shape=(n_windows,)]
        Each window's weight (pulse clarity).

    Returns
    -------
    list of (start_s, end_s, bpm)
        Seconds, seconds, BPM; empty when the whole track is one tempo.
    """
    n = len(env)
    if len(spans) < 3:
        return []
    per_oct = int(round(1.0 / np.log2(grid[1] / grid[0])))
    folded = H.copy()
    folded[:, :-per_oct] = np.maximum(folded[:, :-per_oct], OCTAVE_SAME * H[:, per_oct:])
    folded[:, per_oct:] = np.maximum(folded[:, per_oct:], OCTAVE_SAME * H[:, :-per_oct])
    E = np.log(EMISSION_FLOOR + folded)
    inside = (grid >= MIN_BPM) & (grid <= MAX_BPM)
    E[:, ~inside] = -np.inf
    score = E[0].copy()
    back = np.zeros(E.shape, dtype=np.int64)
    for t in range(1, len(E)):
        j = int(np.argmax(score))
        switch = score[j] - SWITCH_COST
        stay = score >= switch
        back[t] = np.where(stay, np.arange(len(grid)), j)
        score = np.where(stay, score, switch) + E[t]
    states = np.empty(len(E), dtype=np.int64)
    states[-1] = int(np.argmax(score))
    for t in range(len(E) - 1, 0, -1):
        states[t - 1] = back[t, states[t]]
    # runs of windows in one state; each run's tempo from its own pooled histogram
    cuts = [0] + [t for t in range(1, len(states)) if states[t] != states[t - 1]] + [len(states)]
    runs = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        pooled = w[a:b] @ H[a:b]
        bpm = _refine(grid, pooled, int(np.argmax(np.where(inside, pooled, -1.0))))
        if runs and abs(np.log2(bpm / runs[-1][2])) < SAME_TEMPO_OCTAVES:
            runs[-1][1] = b
        else:
            runs.append([a, b, bpm])
    if len(runs) == 1:
        return []
    e = normalize_envelope(env, fps)
    bounds = [0]
    for k in range(1, len(runs)):
        first, prev_last = runs[k][0], runs[k - 1][1] - 1
        lo = spans[max(runs[k - 1][0], prev_last - 1)][0]
        hi = spans[min(runs[k][1] - 1, first + 1)][1]
        lo = max(lo, bounds[-1] + 1)
        bounds.append(_place_change(e, fps, lo, hi, runs[k - 1][2], runs[k][2]))
    bounds.append(n - 1)  # the last frame's time: the track's end
    out = []
    for k, r in enumerate(runs):
        out.append((round(bounds[k] / fps, 2), round(bounds[k + 1] / fps, 2), round(r[2], 2)))
    return out


def _place_change(e: np.ndarray, fps: float, lo: int, hi: int, bpm_a: float,
                  bpm_b: float) -> int:
    """The frame in ``[lo, hi)`` where tempo ``bpm_a`` most likely gives way to ``bpm_b``:
    the split that maximises the envelope's self-similarity at period A before and at
    period B after (lags of one and two beats, both directions)."""
    if hi - lo < 3:
        return lo
    seg = e[lo:hi]

    def comb(bpm: float) -> np.ndarray:
        period = 60.0 * fps / bpm
        acc = np.zeros(len(seg))
        t = np.arange(lo, hi, dtype=np.float64)
        for k in (-2, -1, 1, 2):
            acc += np.interp(t + k * period, np.arange(len(e)), e, left=0.0, right=0.0)
        return seg * acc

    ca, cb = comb(bpm_a), comb(bpm_b)
    gain = np.r_[0.0, np.cumsum(ca - cb)[:-1]]
    split = int(np.argmax(gain))
    # A fade-out or a silent gap has no pulse either way: the best split lands where the
    # first tempo's pulse stops. The change is where the next one starts, so a split at
    # (or just before) a stretch without pulse moves to that stretch's end.
    w = max(1, int(round(fps)))
    activity = np.convolve(ca + cb, np.ones(w) / w, "same")
    quiet = activity < QUIET_SHARE * np.median(activity)
    a = max(0, split - w)
    near = np.flatnonzero(quiet[a:split + 2 * w + 1])
    if len(near):
        k = a + int(near[0])
        # the pulse is back where a whole second is free of gap frames
        run = np.convolve((~quiet[k:]).astype(np.float64), np.ones(w), "full")[w - 1:]
        pulse = np.flatnonzero(run >= w - 0.5)
        split = k + int(pulse[0]) if len(pulse) else split
    return lo + split


def _clarity(p: Periodicity, best: float) -> float:
    """How clearly the pulse at ``best`` (and its relatives) stands above unrelated tempi."""
    g, w = p.grid, p.product
    related = np.zeros(len(g), bool)
    for r in (1.0, *RELATIONS.values(), 3.0, 1.0 / 3.0):
        related |= np.abs(np.log2(g / (best * r))) < 0.06
    inside = (g >= MIN_BPM) & (g <= MAX_BPM)
    top = w[related & inside].max() if (related & inside).any() else 0.0
    rival = w[~related & inside].max() if (~related & inside).any() else 0.0
    return 0.0 if top <= 0 else float(np.clip(1.0 - rival / top, 0.0, 1.0))
