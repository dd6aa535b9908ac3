"""Style benchmark: underdog's classifier vs librosa-MFCC baselines, same 7 CV folds on gtzan-dev.

    .venv/bin/python bench/style.py [--shared ../shared/data] [--free /work/free-music]

Rows: underdog as shipped (gtzan-dev + the weakly labelled free-music sets in every training
fold), underdog on gtzan-dev alone, and two baselines on librosa MFCCs (20 coefficients, mean
and std over the clip): nearest class centroid on standardised features, and the same
logistic regression underdog uses (so the feature sets are compared with one classifier).
Recall is over the genres with a target style (metal, rock → heavy; hiphop → hiphop;
classical, jazz, and country and blues through the "roots" sub-class → atmospheric);
"country → heavy" counts the country clips labelled heavy (issue 13: at most 1 of 7). Speed: feature extraction from the decoded signal (underdog:
STFT front end + onset envelope + style features; librosa: mfcc), ms per clip and × realtime
on one process; decoding is shared and not counted. "pipeline step" is what the style step
adds to analyze() (features from the shared Spectral and onset envelope + the model). Free-music features come from the
training script's cache (.cache/style/).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "training"))

import librosa  # noqa: E402
import train_style as ts  # noqa: E402

from underdog.analysis import onset, spectral, style  # noqa: E402
from underdog.audio import ANALYSIS_SR, decode  # noqa: E402

OUT = ROOT / "bench" / "out"


def underdog_features(y: np.ndarray) -> np.ndarray:
    spec = spectral.compute(y, ANALYSIS_SR)
    return style.style_features(spec, onset.onset_strength(spec))


def mfcc_features(y: np.ndarray) -> np.ndarray:
    m = librosa.feature.mfcc(y=y, sr=ANALYSIS_SR, n_mfcc=20)
    return np.concatenate([m.mean(axis=1), m.std(axis=1)])[None, :]


def nearest_centroid_cv(items, feats) -> np.ndarray:
    """One-hot 'probabilities' from the nearest standardised class centroid, same folds."""
    k = len(style.STYLES)
    probs = np.zeros((len(items), k))
    for f in range(ts.N_FOLDS):
        tr = [i for i, it in enumerate(items) if it.fold != f and it.label]
        x = np.vstack([feats[i] for i in tr])
        y = np.array([style.MODEL_CLASSES.index(items[i].label) for i in tr])
        mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
        cls = sorted(set(y))
        cent = np.stack([((x[y == c] - mu) / sd).mean(axis=0) for c in cls])
        for i, it in enumerate(items):
            if it.fold == f:
                z = (feats[i].mean(axis=0) - mu) / sd
                c = style.MODEL_CLASSES[cls[int(np.argmin(((cent - z) ** 2).sum(axis=1)))]]
                probs[i, style.STYLES.index(ts.target(c))] = 1.0
    return probs


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--free", type=Path, default=Path(os.environ.get("FREE_MUSIC", "/work/free-music")))
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    items = ts.gtzan_items(a.shared)
    audio = [decode(it.path, ANALYSIS_SR).samples for it in items]
    dur = sum(len(y) for y in audio) / ANALYSIS_SR
    mfcc_features(audio[0])  # warm-up (librosa's first call builds its filters and jits)
    underdog_features(audio[0])
    t0 = time.perf_counter()
    uf = [underdog_features(y) for y in audio]
    t_u = time.perf_counter() - t0
    # the style step alone, as the pipeline runs it (STFT front end and onset already shared)
    specs = [spectral.compute(y, ANALYSIS_SR) for y in audio]
    envs = [onset.onset_strength(sp) for sp in specs]
    t0 = time.perf_counter()
    for sp, e in zip(specs, envs):
        style.classify_style(sp, e, None)
    t_step = time.perf_counter() - t0
    t0 = time.perf_counter()
    lf = [mfcc_features(y) for y in audio]
    t_l = time.perf_counter() - t0

    free, ff = ts.features(ts.free_items(a.free))
    labelled = [(it, f) for it, f in zip(free, ff) if it.label]
    rows = [
        ("underdog (shipped: gtzan + free-music)",
         ts.cross_validate(items, uf, [i for i, _ in labelled], [f for _, f in labelled]), t_u),
        ("underdog (gtzan-dev only)", ts.cross_validate(items, uf), t_u),
        ("librosa MFCC mean+std, nearest centroid", nearest_centroid_cv(items, lf), t_l),
        ("librosa MFCC mean+std, underdog's logistic reg.", ts.cross_validate(items, lf), t_l),
    ]
    trained = [i for i, it in enumerate(items) if it.label]
    n = len(items)
    print(f"gtzan-dev, {ts.N_FOLDS}-fold CV (clip j of each genre in fold j), {n} clips "
          f"({dur:.0f} s of audio); free-music labelled tracks: {len(labelled)}\n")
    country = [i for i, it in enumerate(items) if it.genre == "country"]
    print("| method | heavy recall | hiphop recall | atmospheric recall | country → heavy "
          "| accuracy (7 genres) | features ms/clip | × realtime | time vs underdog "
          "| pipeline step ms/clip |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, probs, t in rows:
        rec = ts.recall_table(items, probs)
        acc = np.mean([style.STYLES[int(probs[i].argmax())] == ts.target(items[i].label)
                       for i in trained])
        ch = sum(int(probs[i].argmax()) == style.STYLES.index("heavy") for i in country)
        print(f"| {name} | {rec['heavy']:.2f} | {rec['hiphop']:.2f} | {rec['atmospheric']:.2f} | "
              f"{ch}/{len(country)} | {acc:.2f} | {1000 * t / n:.1f} | {dur / t:.0f}× | "
              f"{t / t_u:.2f} | "
              f"{f'{1000 * t_step / n:.1f}' if name.startswith('underdog') else '–'} |")
    np.savez(OUT / "style_cv.npz", **{name: p for name, p, _ in rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
