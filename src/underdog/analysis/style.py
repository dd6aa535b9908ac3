"""Style: timbre and rhythm descriptors → probabilities over four DJ-facing styles.

``heavy`` (distorted guitars, aggressive), ``indie_synth`` (art-rock, synth, new wave),
``hiphop`` (rap, rap-rock) and ``atmospheric`` (ambient, sparse, spoken).

A track is cut into windows of about 15 s (up to ``MAX_WINDOWS``, spread over the whole
track); each window gives one feature vector (spectral shape and dynamics from the log-mel
bands, flatness, contrast, low-end share, onset-envelope statistics, periodicity, chroma
entropy), a multinomial logistic regression turns it into probabilities, and the windows'
probabilities are averaged. The model's weights ship in ``data/style_model.npz``; they are
trained by ``training/train_style.py`` with :func:`fit_model` (numpy + scipy only).

:func:`resolve_style` lets a file's genre tags overrule the audio model: a specific tag
("Country", "Hip-Hop/Rap") decides, a missing or vague one ("Other", "Soundtrack") leaves it
to the audio (mapping in ``genre.py``; both documented in docs/style.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from .genre import tag_styles
from .spectral import Spectral

STYLES: tuple[str, ...] = ("heavy", "indie_synth", "hiphop", "atmospheric")
# Training classes that are not styles of their own: the model learns them apart (a linear
# model cannot put country next to both classical and ambient in one class) and their
# probability is added to the style named here. "roots": country and blues.
SUBCLASSES: dict[str, str] = {"roots": "atmospheric"}
MODEL_CLASSES: tuple[str, ...] = STYLES + tuple(SUBCLASSES)
WINDOW_S = 15.0
MAX_WINDOWS = 8
MODEL_PATH = Path(__file__).resolve().parent / "data" / "style_model.npz"

_N_GROUPS = 8  # the 64 mel bands averaged in groups of 8 for the band profile
_FLOOR_DB = -80.0  # log-mel floor relative to the window's loudest cell
_CONTRAST_EDGES_HZ = (0.0, 200.0, 800.0, 3200.0, 1e9)
_LAG_S = (0.25, 2.0)  # periodicity search range: 30..240 BPM
# When a tag decides, this much of the probability mass goes to its style; the rest keeps the
# audio model's mix, so the planner still sees e.g. a country song's second character.
TAG_WEIGHT = 0.8


@dataclass
class StyleResult:
    probs: dict[str, float]  # over STYLES, sums to 1
    label: str  # argmax of probs


def _feature_names() -> tuple[str, ...]:
    names = [f"band_mean_{i}" for i in range(_N_GROUPS)]
    names += [f"band_std_{i}" for i in range(_N_GROUPS)]
    names += [f"band_flux_{i}" for i in range(4)]
    names += ["centroid_mean", "centroid_std", "rolloff_mean", "flatness_mean", "flatness_std",
              "flatness_high_mean"]
    names += [f"contrast_{i}" for i in range(len(_CONTRAST_EDGES_HZ) - 1)]
    names += ["low_share", "sub_share", "low_share_std"]
    names += ["rms_db_std", "low_energy_frac", "dyn_range_db"]
    names += ["env_cv", "env_skew", "env_peak_frac", "onset_rate"]
    names += ["pulse_max", "pulse_mean", "pulse_lag_log2", "pulse_half_ratio"]
    names += ["chroma_entropy", "chroma_mean_entropy", "chroma_flux"]
    names += ["mid_mod_syllabic", "mid_mod_slow", "low_high_flux_corr", "mid_floor_db"]
    names += ["mid_ripple"]
    return tuple(names)


FEATURE_NAMES = _feature_names()


def _windows(n_frames: int, fps: float) -> list[tuple[int, int]]:
    """Up to MAX_WINDOWS windows of WINDOW_S, evenly spread; a short track is one window."""
    w = int(round(WINDOW_S * fps))
    if n_frames < 1.5 * w:
        return [(0, n_frames)]
    k = min(MAX_WINDOWS, n_frames // w)
    starts = np.linspace(0, n_frames - w, k).round().astype(int)
    return [(int(s), int(s) + w) for s in starts]


def _entropy(p: np.ndarray, axis: int = 0) -> np.ndarray:
    """Shannon entropy of non-negative weights along ``axis``, normalised to 0..1."""
    p = p / np.maximum(p.sum(axis=axis, keepdims=True), 1e-12)
    h = -(p * np.log(np.maximum(p, 1e-12))).sum(axis=axis)
    return h / np.log(p.shape[axis])


def _window_features(mel: np.ndarray, mel_hz: np.ndarray, chroma: np.ndarray, rms: np.ndarray,
                     env: np.ndarray, fps: float) -> np.ndarray:
    """One feature vector (len(FEATURE_NAMES),) for one window of frames."""
    pw = np.square(mel.astype(np.float64))  # power per band
    top = max(float(pw.max()), 1e-20)
    db = 10.0 * np.log10(np.maximum(pw / top, 10 ** (_FLOOR_DB / 10)))  # (B, T) in dB re max
    n_b, n_t = db.shape
    feats: list[float] = []

    # spectral shape: band-group means relative to the window's mean level, and their spread
    g = db.reshape(_N_GROUPS, n_b // _N_GROUPS, n_t).mean(axis=1)
    prof = g.mean(axis=1)
    feats += list(prof - prof.mean())
    feats += list(g.std(axis=1))
    # positive flux per quarter of the spectrum (percussive attack by register)
    d = np.maximum(np.diff(db, axis=1), 0.0) if n_t > 1 else np.zeros((n_b, 1))
    feats += [float(q.mean()) for q in np.array_split(d, 4, axis=0)]

    # centroid / rolloff on the band index scale (0..1), flatness from band powers
    p = pw + 1e-20 * top
    ptot = p.sum(axis=0)
    idx = np.linspace(0.0, 1.0, n_b)[:, None]
    cen = (p * idx).sum(axis=0) / ptot
    cum = np.cumsum(p, axis=0) / ptot
    roll = (cum < 0.85).sum(axis=0) / n_b
    flat = np.exp(np.log(p).mean(axis=0)) / p.mean(axis=0)
    hi = p[n_b // 2:]
    flat_hi = np.exp(np.log(hi).mean(axis=0)) / hi.mean(axis=0)
    feats += [float(cen.mean()), float(cen.std()), float(roll.mean()), float(flat.mean()),
              float(flat.std()), float(flat_hi.mean())]

    # contrast: peak minus valley (90th - 10th percentile of band dB) inside each sub-band
    for lo, hi_hz in zip(_CONTRAST_EDGES_HZ[:-1], _CONTRAST_EDGES_HZ[1:]):
        sel = (mel_hz >= lo) & (mel_hz < hi_hz)
        q = np.percentile(db[sel], [10, 90], axis=0)
        feats.append(float((q[1] - q[0]).mean()))

    # low end: share of power below 150 Hz and below 100 Hz
    low = p[mel_hz < 150.0].sum(axis=0) / ptot
    sub = p[mel_hz < 100.0].sum(axis=0) / ptot
    feats += [float(low.mean()), float(sub.mean()), float(low.std())]

    # loudness dynamics from frame RMS
    r = rms.astype(np.float64)
    rdb = 20.0 * np.log10(np.maximum(r, 1e-9) / max(float(r.max()), 1e-9))
    rdb = np.maximum(rdb, _FLOOR_DB)
    feats += [float(rdb.std()), float((r < 0.5 * r.mean()).mean()),
              float(np.percentile(rdb, 95) - np.percentile(rdb, 10))]

    # onset envelope: spread, skew, peakiness, rate of salient onsets
    e = env.astype(np.float64)
    mu, sd = float(e.mean()), float(e.std())
    z = (e - mu) / max(sd, 1e-12)
    loc = (e[1:-1] > e[:-2]) & (e[1:-1] >= e[2:]) & (e[1:-1] > mu + sd)
    feats += [sd / max(mu, 1e-12), float((z ** 3).mean()),
              float((e > 2.0 * np.median(e) + 1e-12).mean()), float(loc.sum()) * fps / len(e)]

    # periodicity: normalised autocorrelation of the envelope over 30..240 BPM
    x = e - mu
    n = len(x)
    spec_x = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(np.abs(spec_x) ** 2)[:n]
    ac = ac / max(float(ac[0]), 1e-12) * n / np.maximum(n - np.arange(n), 1)  # unbiased
    lo_l, hi_l = int(_LAG_S[0] * fps), min(int(_LAG_S[1] * fps), n - 1)
    if hi_l > lo_l + 2:
        seg = ac[lo_l:hi_l]
        k = int(np.argmax(seg))
        lag = lo_l + k
        half = ac[lag // 2] if lag // 2 >= 1 else 0.0
        feats += [float(seg.max()), float(seg.mean()), float(np.log2(lag / fps)),
                  float(half / max(seg.max(), 1e-6))]
    else:
        feats += [0.0, 0.0, 0.0, 0.0]

    # harmony: frame chroma entropy (noisy/distorted → flat), clarity of the mean chroma
    c = chroma.astype(np.float64) + 1e-12
    cn = c / c.sum(axis=0, keepdims=True)
    cf = np.abs(np.diff(cn, axis=1)).sum(axis=0).mean() if n_t > 1 else 0.0
    feats += [float(_entropy(c, 0).mean()), float(_entropy(c.sum(axis=1), 0)), float(cf)]

    # voice band (300 Hz..3 kHz) level modulation: syllable-rate (2..8 Hz) and slow (0.3..2 Hz)
    # shares of its modulation power; rap is dense at syllable rate, pads are slow
    mid = (mel_hz >= 300.0) & (mel_hz < 3000.0)
    lv = 10.0 * np.log10(p[mid].sum(axis=0))
    lv = lv - lv.mean()
    mp = np.abs(np.fft.rfft(lv * np.hanning(n_t))) ** 2
    mf = np.fft.rfftfreq(n_t, 1.0 / fps)
    tot = max(float(mp[(mf >= 0.3) & (mf < 12.0)].sum()), 1e-12)
    feats += [float(mp[(mf >= 2.0) & (mf < 8.0)].sum()) / tot,
              float(mp[(mf >= 0.3) & (mf < 2.0)].sum()) / tot]
    # do the low and high registers attack together (full-band rock drums, distortion) or
    # apart (kick and hi-hat/snare of programmed beats)?
    qs = np.array_split(d, 4, axis=0)
    fl, fh = qs[0].sum(axis=0), qs[3].sum(axis=0)
    cc = np.corrcoef(fl, fh)[0, 1] if fl.std() > 1e-9 and fh.std() > 1e-9 else 0.0
    # sustained mid level: how far the quiet moments of the voice band drop below its peaks
    feats += [float(cc), float(np.percentile(lv, 10) - np.percentile(lv, 90))]
    # ripple across adjacent bands at 150 Hz..2 kHz: clean voices and guitars leave peaks
    # and valleys between partials; distortion and dense walls of sound fill them in
    rip = (mel_hz >= 150.0) & (mel_hz < 2000.0)
    feats.append(float(np.abs(np.diff(db[rip], axis=0)).mean()))
    return np.asarray(feats, dtype=np.float64)


def style_features(spec: Spectral, env: np.ndarray) -> np.ndarray:
    """The style model's descriptors of a track, one row a window.

    Parameters
    ----------
    spec : Spectral
        The track's spectral reductions (mel, chroma, RMS).
    env : np.ndarray [shape=(n_frames,)]
        Onset strength envelope, one value a frame.

    Returns
    -------
    np.ndarray [shape=(n_windows, len(FEATURE_NAMES)), float64]
        One row per window of ``WINDOW_S`` (15 s), up to ``MAX_WINDOWS`` (8) spread over
        the track (a short track is one window). The library keeps it (``style_features``)
        so that a new model needs no decoding.
    """
    env = np.asarray(env, dtype=np.float32)
    n = min(spec.n_frames, len(env))
    rows = []
    for a, b in _windows(n, spec.fps):
        rows.append(_window_features(spec.mel[:, a:b], spec.mel_hz, spec.chroma[:, a:b],
                                     spec.rms[a:b], env[a:b], spec.fps))
    return np.vstack(rows)


@dataclass
class StyleModel:
    """Standardisation + multinomial logistic regression over MODEL_CLASSES."""

    mean: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)
    weights: np.ndarray  # (F, K) with K = len(MODEL_CLASSES)
    bias: np.ndarray  # (K,)
    classes: tuple[str, ...] = MODEL_CLASSES
    feature_names: tuple[str, ...] = FEATURE_NAMES

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Class scores (n, len(MODEL_CLASSES)) of feature rows ``x`` (n, F) or (F,)."""
        z = (np.atleast_2d(x) - self.mean) / self.scale
        return z @ self.weights + self.bias

    def predict_class_proba(self, x: np.ndarray) -> np.ndarray:
        """Rows of probabilities over the model's classes ``(n, len(MODEL_CLASSES))``."""
        return _softmax(self.logits(x))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Rows of style probabilities ``(n, len(STYLES))``: sub-classes added to their style."""
        return self.predict_class_proba(x) @ _fold_matrix(self.classes)

    def save(self, path: str | Path) -> None:
        """Write the model, its classes and feature names to ``path`` (.npz)."""
        np.savez(path, mean=self.mean, scale=self.scale, weights=self.weights, bias=self.bias,
                 classes=np.array(self.classes), feature_names=np.array(self.feature_names))

    @classmethod
    def load(cls, path: str | Path) -> "StyleModel":
        """The model saved at ``path``; ValueError when its features or classes are not
        this version's."""
        with np.load(path, allow_pickle=False) as z:
            m = cls(mean=z["mean"], scale=z["scale"], weights=z["weights"], bias=z["bias"],
                    classes=tuple(str(c) for c in z["classes"]),
                    feature_names=tuple(str(c) for c in z["feature_names"]))
        if m.feature_names != FEATURE_NAMES or m.classes != MODEL_CLASSES:
            raise ValueError(f"{path}: style model does not match this version's features")
        return m


def _fold_matrix(classes: tuple[str, ...]) -> np.ndarray:
    """(len(classes), len(STYLES)) 0/1 matrix sending each class to its style."""
    return np.array([[float(SUBCLASSES.get(c, c) == s) for s in STYLES] for c in classes])


def _softmax(a: np.ndarray) -> np.ndarray:
    a = a - a.max(axis=1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=1, keepdims=True)


def fit_model(x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None,
              l2: float = 1.0, class_balance: bool = True) -> StyleModel:
    """Fit a standardised multinomial logistic regression with L2 (L-BFGS, deterministic).

    Parameters
    ----------
    x : np.ndarray [shape=(n, len(FEATURE_NAMES))]
        Feature rows (windows of :func:`style_features`).
    y : np.ndarray [shape=(n,), int]
        Indices into MODEL_CLASSES.
    sample_weight : np.ndarray [shape=(n,)] or None
        Weight of each row (1 when None).
    l2 : float >= 0
        Penalty on the weights (not the bias) relative to the mean weighted log-loss.
    class_balance : bool
        Every class carries the same total weight, so a small class (hiphop) is not
        drowned by a big one.

    Returns
    -------
    StyleModel
        Standardisation (mean, scale: (F,)), weights (F, len(MODEL_CLASSES)) and bias; a
        class without examples gets zero weights and a bias of -30 (probability ~0).
    """
    x = np.asarray(x, dtype=np.float64)
    y_all = np.asarray(y, dtype=int)
    present = np.unique(y_all)
    y = np.searchsorted(present, y_all)  # fit over the classes that occur
    k = len(present)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if class_balance:
        tot = np.bincount(y, weights=w, minlength=k)
        w = w / np.where(tot > 0, tot, 1.0)[y] * (w.sum() / max((tot > 0).sum(), 1))
    w = w / w.sum()
    mean = (w[:, None] * x).sum(axis=0)
    scale = np.sqrt((w[:, None] * (x - mean) ** 2).sum(axis=0))
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = (x - mean) / scale
    onehot = np.eye(k)[y]
    f = z.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        wm, b = theta[: f * k].reshape(f, k), theta[f * k:]
        a = z @ wm + b
        a = a - a.max(axis=1, keepdims=True)
        lse = np.log(np.exp(a).sum(axis=1))
        ll = (w * (lse - (a * onehot).sum(axis=1))).sum()
        pr = np.exp(a - lse[:, None])
        g = w[:, None] * (pr - onehot)
        gw = z.T @ g + l2 * wm
        return ll + 0.5 * l2 * float((wm ** 2).sum()), np.concatenate([gw.ravel(), g.sum(axis=0)])

    from scipy.optimize import minimize  # training only: keeps it off the analysis path

    res = minimize(loss, np.zeros(f * k + k), jac=True, method="L-BFGS-B",
                   options={"maxiter": 2000})
    wm = np.zeros((f, len(MODEL_CLASSES)))
    b = np.full(len(MODEL_CLASSES), -30.0)
    wm[:, present], b[present] = res.x[: f * k].reshape(f, k), res.x[f * k:]
    return StyleModel(mean=mean, scale=scale, weights=wm, bias=b)


@lru_cache(maxsize=2)
def load_model(path: str = str(MODEL_PATH)) -> StyleModel:
    """The style model saved at ``path`` (the shipped one by default), cached."""
    return StyleModel.load(path)


def classify_style(spec: Spectral, env: np.ndarray, bpm: float | None = None,
                   model: StyleModel | None = None) -> StyleResult:
    """Style probabilities of a track from its spectral reductions and onset envelope:
    :func:`classify_features` of :func:`style_features`.

    Parameters
    ----------
    spec, env : Spectral and np.ndarray [shape=(n_frames,)]
        The track's spectral reductions and its onset strength envelope.
    bpm : float or None
        Part of the pipeline's contract but unused: the model reads periodicity from the
        envelope itself, so a tempo octave error cannot flip the style.
    model : StyleModel or None
        The shipped model when None.

    Returns
    -------
    StyleResult
        ``probs`` over STYLES (summing to 1) and ``label``, the likeliest.
    """
    return classify_features(style_features(spec, env), model)


def classify_features(features: np.ndarray, model: StyleModel | None = None) -> StyleResult:
    """Style probabilities of a track from its per-window descriptors.

    Parameters
    ----------
    features : np.ndarray [shape=(n_windows, len(FEATURE_NAMES))]
        What :func:`style_features` returns (the library keeps it, so that a new model
        re-classifies a library without decoding it).
    model : StyleModel or None
        The model; the shipped one (``MODEL_PATH``) when None.

    Returns
    -------
    StyleResult
        The windows' probabilities averaged over STYLES (summing to 1), and the likeliest.
    """
    model = model or load_model()
    pr = model.predict_proba(features).mean(axis=0)
    pr = pr / pr.sum()
    probs = {s: float(p) for s, p in zip(STYLES, pr)}
    return StyleResult(probs=probs, label=STYLES[int(np.argmax(pr))])


def resolve_style(audio_probs: Mapping[str, float] | None,
                  genres: Iterable[str] | None) -> tuple[str | None, dict[str, float], str]:
    """Combine the audio model's style probabilities with the file's genre tags.

    Parameters
    ----------
    audio_probs : probabilities over STYLES from :func:`classify_style` (may be empty when
        the style step did not run).
    genres : genre names from the tags (``read_tags(...)["genres"]``), in tag order; None
        or empty when the file has none.

    Returns
    -------
    (label, probs, source). ``source`` is ``"tag"`` when a genre maps to a specific style
    (genre.py's table): ``label`` is that style and ``probs`` puts ``TAG_WEIGHT`` on it plus
    ``1 - TAG_WEIGHT`` times the audio probabilities. Tags naming several styles ("Rock;
    Hip-Hop") leave the choice among those styles to the audio model (the first one in tag
    order without audio). Otherwise (no tag, or only vague/unknown genres) ``source`` is
    ``"audio"`` and the audio result is returned unchanged.
    """
    audio = {s: float(audio_probs.get(s, 0.0)) for s in STYLES} if audio_probs else {}
    cands = tag_styles(genres or ())
    if not cands:
        label = max(audio, key=lambda s: audio[s]) if audio else None
        return label, audio, "audio"
    label = max(cands, key=lambda s: audio.get(s, 0.0)) if audio else cands[0]
    probs = {s: TAG_WEIGHT * (s == label) + (1.0 - TAG_WEIGHT) * audio.get(s, 0.0)
             for s in STYLES}
    if not audio:
        probs = {s: float(s == label) for s in STYLES}
    return label, probs, "tag"
