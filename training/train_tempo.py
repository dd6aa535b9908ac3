"""Train the tempo octave model shipped as ``underdog/analysis/data/tempo_octave.npz``.

Data: ../shared/data/gtzan-dev (human tapped tempi) and ../shared/data/midi-dev (exact
MIDI tempi). Each clip yields its candidate tempi (analysis.tempo.candidate_tempi) with
features; the model is a conditional logit (softmax over one clip's candidates) with an
L2 penalty. ``cross_val_predict`` is what bench/tempo.py uses so that every clip it scores
comes from a model that never saw that clip.

    .venv/bin/python training/train_tempo.py          # writes the shipped model
"""

from __future__ import annotations

import csv
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from underdog.analysis import onset, spectral, tempo  # noqa: E402
from underdog.audio import ANALYSIS_SR, decode  # noqa: E402

DATA = Path(os.environ.get("UNDERDOG_SHARED_DATA", ROOT.parent / "shared" / "data"))
CACHE = ROOT / "bench" / "out" / "envelopes"
L2 = 0.3
GTZAN_WEIGHT = 1.0
SEED = 0


def labelled_clips() -> list[tuple[str, str, float]]:
    """(dataset, path, bpm) for gtzan-dev and midi-dev."""
    out = []
    for ds in ("gtzan-dev", "midi-dev"):
        with open(DATA / ds / "tempo.csv", newline="") as f:
            for r in csv.DictReader(f):
                out.append((ds, str(DATA / ds / r["relative_path"]), float(r["bpm"])))
    return out


def envelopes(path: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(env, bands, fps) of a file, cached by path and size under bench/out."""
    st = os.stat(path)
    key = hashlib.sha1(f"{path}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    f = CACHE / f"{key}.npz"
    if f.exists():
        z = np.load(f)
        return z["env"], z["bands"], float(z["fps"])
    a = decode(path, ANALYSIS_SR)
    s = spectral.compute(a.samples, a.sr)
    env, bands = onset.onset_bands(s)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(f, env=env, bands=bands, fps=s.fps)
    return env, bands, s.fps


def clip_examples(env, bands, fps, ref: float | None):
    """Candidates, their feature rows and the index of the correct one (or None)."""
    p = tempo.periodicity(env, fps, bands)
    cands = tempo.candidate_tempi(p)
    if not cands:
        return [], np.zeros((0, 0)), None
    X = np.stack([tempo.candidate_features(p, b) for b in cands])
    y = None
    if ref is not None:
        err = [abs(b - ref) / ref for b in cands]
        j = int(np.argmin(err))
        y = j if err[j] <= 0.04 else None
    return cands, X, y


def fit(groups: list[tuple], l2: float | None = None) -> tempo.OctaveModel:
    """Conditional logit over each group's rows; ``groups`` = [(X, correct_index[, weight])]."""
    l2 = L2 if l2 is None else l2
    allX = np.concatenate([g[0] for g in groups])
    mean, std = allX.mean(0), allX.std(0) + 1e-6
    Zs = [((g[0] - mean) / std, g[1], g[2] if len(g) > 2 else 1.0) for g in groups]
    d = allX.shape[1]

    def loss(w):
        total, grad = 0.5 * l2 * w @ w, l2 * w
        for Z, y, wt in Zs:
            s = Z @ w
            s = s - s.max()
            p = np.exp(s)
            p /= p.sum()
            total -= wt * np.log(p[y] + 1e-12)
            grad = grad + wt * (Z.T @ p - Z[y])
        return total, grad

    w = minimize(loss, np.zeros(d), jac=True, method="L-BFGS-B").x
    return tempo.OctaveModel(mean, std, w)


def weight(dataset: str) -> float:
    """Real recordings count as much in total as the (more numerous) MIDI renders."""
    return GTZAN_WEIGHT if dataset == "gtzan-dev" else 1.0


def examples(clips):
    rows = []
    for ds, path, ref in clips:
        env, bands, fps = envelopes(path)
        cands, X, y = clip_examples(env, bands, fps, ref)
        rows.append((ds, path, ref, cands, X, y))
    return rows


def cross_val_predict(rows, folds: int = 5) -> dict[str, float | None]:
    """Predicted BPM per path, each from a model trained without that clip's fold."""
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(rows))
    fold_of = np.empty(len(rows), int)
    fold_of[order] = np.arange(len(rows)) % folds
    out: dict[str, float | None] = {}
    for k in range(folds):
        train = [(r[4], r[5], weight(r[0])) for i, r in enumerate(rows)
                 if fold_of[i] != k and r[5] is not None]
        model = fit(train)
        for i, r in enumerate(rows):
            if fold_of[i] == k:
                out[r[1]] = r[3][int(np.argmax(model.scores(r[4])))] if r[3] else None
    return out


def main() -> None:
    rows = examples(labelled_clips())
    train = [(r[4], r[5], weight(r[0])) for r in rows if r[5] is not None]
    print(f"{len(rows)} clips, {len(train)} with the correct tempo among the candidates")
    model = fit(train)
    out = ROOT / "src" / "underdog" / "analysis" / "data" / tempo.MODEL_FILE
    model.save(out)
    print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size} bytes)")
    cv = cross_val_predict(rows)
    for ds in ("gtzan-dev", "midi-dev"):
        hits = [abs(cv[r[1]] - r[2]) <= 0.04 * r[2] for r in rows if r[0] == ds and cv[r[1]]]
        n = sum(1 for r in rows if r[0] == ds)
        print(f"{ds}: cross-validated Acc1 {sum(hits) / n:.3f}")


if __name__ == "__main__":
    main()
