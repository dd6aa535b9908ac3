"""Global tempo at the level a listener taps, with octave alternatives and a confidence.

The onset envelope's periodicity is measured twice: an autocorrelation (peaks at the beat
period and its multiples, i.e. at tempo / k) and a Fourier tempogram (peaks at the beat
rate and its harmonics, i.e. at tempo * k). Their product keeps the rate both agree on.
The octave (which of tempo / 2, tempo, tempo * 2, ...) is then chosen among the candidates
by a small shipped conditional-logit model over their features (salience at related tempi,
pulse shape, kick/snare timing); without band envelopes, by salience times a log-normal
prior on tapped tempi.
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


@dataclass
class TempoEstimate:
    bpm: float | None
    confidence: float
    candidates: list[tuple[float, float]] = field(default_factory=list)


def bpm_grid(lo: float = MIN_BPM / 1.5, hi: float = MAX_BPM * 2.0, per_octave: int = 240):
    """Log-spaced BPM axis (0.29 % steps by default)."""
    n = int(np.ceil(np.log2(hi / lo) * per_octave)) + 1
    return lo * 2.0 ** (np.arange(n) / per_octave)


def normalize_envelope(env: np.ndarray, fps: float, window_s: float = 1.0) -> np.ndarray:
    """Subtract a moving mean (drops slow swells), rectify and scale to unit RMS."""
    env = np.asarray(env, dtype=np.float64)
    n = max(1, int(round(window_s * fps)))
    if len(env) > n:
        kernel = np.ones(n) / n
        env = env - np.convolve(env, kernel, mode="same")
    env = np.maximum(env, 0.0)
    rms = np.sqrt(np.mean(env ** 2)) if len(env) else 0.0
    return env / rms if rms > 0 else env


def autocorrelation(env: np.ndarray) -> np.ndarray:
    """Unbiased autocorrelation via FFT, normalised so lag 0 is 1."""
    n = len(env)
    if n == 0:
        return np.zeros(0)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(env, size)
    ac = np.fft.irfft(f * np.conj(f), size)[:n]
    ac /= np.arange(n, 0, -1)
    return ac / ac[0] if ac[0] > 0 else ac


def acf_salience(ac: np.ndarray, fps: float, grid: np.ndarray) -> np.ndarray:
    """ACF read at each tempo's beat period (linear interpolation), clipped at 0."""
    lags = 60.0 * fps / grid
    return np.maximum(np.interp(lags, np.arange(len(ac)), ac, right=0.0), 0.0)


def dft_salience(env: np.ndarray, fps: float, grid: np.ndarray) -> np.ndarray:
    """Magnitude of the envelope's Fourier transform at each tempo (zero-padded, interpolated)."""
    n = len(env)
    size = max((1 << int(np.ceil(np.log2(n)))) * 4, 4096)
    mag = np.abs(np.fft.rfft(env * np.hanning(n), size))
    freqs_bpm = np.fft.rfftfreq(size, 1.0 / fps) * 60.0
    return np.interp(grid, freqs_bpm, mag, right=0.0)


def _peak_near(grid: np.ndarray, sal: np.ndarray, bpm: float, tol: float = 0.03):
    """Best (bpm, salience) within ``tol`` (relative) of ``bpm`` on the grid."""
    m = (grid >= bpm * (1 - tol)) & (grid <= bpm * (1 + tol))
    if not m.any():
        return bpm, 0.0
    i = np.flatnonzero(m)[np.argmax(sal[m])]
    return float(grid[i]), float(sal[i])


def tempo_prior(bpm, centre: float = PRIOR_BPM, octaves: float = PRIOR_OCTAVES):
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
        return self.acf * self.dft


def _views(env: np.ndarray, fps: float, grid: np.ndarray):
    e = normalize_envelope(env, fps)
    a = acf_salience(autocorrelation(e), fps, grid)
    d = dft_salience(e, fps, grid)
    return a, (d / d.max() if d.max() > 0 else d), e


def periodicity(env: np.ndarray, fps: float, bands: np.ndarray | None = None) -> Periodicity:
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
    """The strongest salience peaks in range plus the octave relatives of the best one."""
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
    """One row of the octave model's input for candidate ``bpm``."""
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


@dataclass
class OctaveModel:
    """A conditional-logit scorer over a track's candidate tempi (weights shipped as .npz)."""

    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray

    def scores(self, feats: np.ndarray) -> np.ndarray:
        z = (feats - self.mean) / self.std
        s = z @ self.weights
        s = np.exp(s - s.max())
        return s / s.sum()

    @classmethod
    def load(cls, path=None) -> "OctaveModel":
        from importlib import resources

        if path is None:
            path = resources.files("underdog.analysis") / "data" / MODEL_FILE
        with resources.as_file(path) if not isinstance(path, str) else _nullctx(path) as f:
            z = np.load(f)
            return cls(z["mean"], z["std"], z["weights"])

    def save(self, path) -> None:
        np.savez(path, mean=self.mean, std=self.std, weights=self.weights)


class _nullctx:
    def __init__(self, v):
        self.v = v

    def __enter__(self):
        return self.v

    def __exit__(self, *a):
        return False


MODEL_FILE = "tempo_octave.npz"
_MODEL: OctaveModel | None = None


def default_model() -> OctaveModel:
    global _MODEL
    if _MODEL is None:
        _MODEL = OctaveModel.load()
    return _MODEL


def estimate_tempo(env: np.ndarray, fps: float, bands: np.ndarray | None = None,
                   model: OctaveModel | None = None) -> TempoEstimate:
    """Tapped tempo of an onset envelope sampled at ``fps`` frames per second.

    ``bands`` are per-band envelopes (``onset.onset_bands``); the shipped octave model
    expects them. Without them the salience peak nearest the prior wins.
    """
    if len(env) < 4 * fps or not np.any(env > 0):
        return TempoEstimate(None, 0.0, [])
    p = periodicity(env, fps, bands)
    cands = candidate_tempi(p)
    if not cands:
        return TempoEstimate(None, 0.0, [])
    if bands is not None:
        model = model or default_model()
        probs = model.scores(np.stack([candidate_features(p, b) for b in cands]))
    else:
        w = np.array([_read(p.product, p.grid, b) for b in cands]) * tempo_prior(cands)
        probs = w / w.sum() if w.sum() > 0 else np.full(len(cands), 1.0 / len(cands))
    i = int(np.argmax(probs))
    best = cands[i]
    rel = [(best, float(probs[i]))]
    for ratio in RELATIONS.values():
        target = best * ratio
        if MIN_BPM <= target <= MAX_BPM:
            j = min(range(len(cands)), key=lambda k: abs(np.log2(cands[k] / target)))
            if abs(np.log2(cands[j] / target)) < 0.03:
                rel.append((cands[j], float(probs[j])))
            else:
                rel.append((float(_peak_near(p.grid, p.product, target)[0]), 0.0))
    rel = [(round(b, 2), round(s, 4)) for b, s in rel]
    return TempoEstimate(round(best, 2), _confidence(p, best, float(probs[i])), rel)


def _confidence(p: Periodicity, best: float, prob: float) -> float:
    """The octave model's belief times how clearly the pulse stands above unrelated tempi."""
    g, w = p.grid, p.product
    related = np.zeros(len(g), bool)
    for r in (1.0, *RELATIONS.values(), 3.0, 1.0 / 3.0):
        related |= np.abs(np.log2(g / (best * r))) < 0.06
    inside = (g >= MIN_BPM) & (g <= MAX_BPM)
    top = w[related & inside].max() if (related & inside).any() else 0.0
    rival = w[~related & inside].max() if (~related & inside).any() else 0.0
    clarity = 0.0 if top <= 0 else float(np.clip(1.0 - rival / top, 0.0, 1.0))
    return round(float(np.sqrt(clarity * prob)), 4)
