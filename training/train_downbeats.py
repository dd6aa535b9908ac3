"""Train the beat-position model shipped as ``underdog/analysis/data/downbeat_model.npz``.

Data: ../shared/data/gtzan-dev (69 clips whose ``.beats`` give each beat's position in its
bar; jazz.00003 has none) and ../shared/data/midi-dev (299 clips). midi-dev has no bar
labels, but its songs are 4/4 at one constant tempo, the MIDI bar grid starts at song time
0 and each clip's start in the song is known (``excerpt_start_s``): beat k of the song is at
``k * 60 / bpm``, bar starts at every fourth, shifted by the clip's start. (A transcriber who
put a pickup bar first makes such a song's bars one or more beats off; bench/downbeats.py
shows how often madmom agrees with these labels.)

Each underdog beat within 70 ms of a labelled beat takes its position (0..3; positions past
4 in 3/4 bars are left out). The model is a multinomial logistic regression with an L2
penalty on the standardised cues (``downbeats.beat_features`` with context).
``cross_val_predict`` gives every clip a model that never saw it: ten folds, fold k holding
gtzan-dev's k-th genre and a tenth of midi-dev.

    .venv/bin/python training/train_downbeats.py      # writes the shipped model
"""

from __future__ import annotations

import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from underdog.analysis import beats, downbeats, onset, spectral, tempo  # noqa: E402
from underdog.audio import ANALYSIS_SR, decode  # noqa: E402

DATA = Path(os.environ.get("UNDERDOG_SHARED_DATA", ROOT.parent / "shared" / "data"))
L2 = 10.0
MATCH_S = 0.07
N_FOLDS = 10


@dataclass
class Clip:
    dataset: str
    path: str
    group: str  # gtzan genre, or the midi-dev fold
    downbeats: np.ndarray  # reference bar starts (s)
    ref_beats: np.ndarray  # reference beats (s)
    ref_pos: np.ndarray  # their positions in the bar, 1 = downbeat
    duration_s: float = 0.0


def labelled_clips() -> list[Clip]:
    out = []
    with open(DATA / "gtzan-dev" / "tempo.csv", newline="") as f:
        for r in csv.DictReader(f):
            lab = np.loadtxt(DATA / "gtzan-dev" / r["beats"], ndmin=2)
            if lab.shape[1] < 2:  # no positions in the bar
                continue
            out.append(Clip("gtzan-dev", str(DATA / "gtzan-dev" / r["relative_path"]),
                            r["genre"], lab[lab[:, 1] == 1, 0], lab[:, 0],
                            lab[:, 1].astype(int), float(r["duration_s"])))
    with open(DATA / "midi-dev" / "metadata.csv", newline="") as f:
        for i, r in enumerate(csv.DictReader(f)):
            bpm, start = float(r["bpm"]), float(r["excerpt_start_s"])
            end = start + 30.0
            beat = 60.0 / bpm
            k = np.arange(np.ceil(start / beat - 1e-6), end / beat)
            t = k * beat - start
            pos = (np.round(k).astype(int) % 4) + 1
            out.append(Clip("midi-dev", str(DATA / "midi-dev" / r["relative_path"]),
                            f"fold{i % N_FOLDS}", t[pos == 1], t, pos, 30.0))
    return out


def clip_arrays(path: str):
    """What the pipeline has when downbeats run: (spec, env, bands, beats)."""
    a = decode(path, ANALYSIS_SR)
    spec = spectral.compute(a.samples, a.sr, key_chroma=False)
    env, bands = onset.onset_bands(spec)
    est = tempo.estimate_tempo(env, spec.fps, bands)
    return spec, env, bands, beats.track_beats_segments(env, spec.fps, est.segments)


def position_labels(beat_times: np.ndarray, clip: Clip) -> np.ndarray:
    """Bar position (0..3) of each beat near a labelled one, -1 elsewhere."""
    y = np.full(len(beat_times), -1)
    if len(beat_times) == 0 or len(clip.ref_beats) == 0:
        return y
    j = np.abs(beat_times[:, None] - clip.ref_beats[None, :]).argmin(axis=1)
    ok = (np.abs(beat_times - clip.ref_beats[j]) <= MATCH_S) & (clip.ref_pos[j] <= 4)
    y[ok] = clip.ref_pos[j[ok]] - 1
    return y


def examples(clips: list[Clip]) -> list[dict]:
    """Per clip: beats, the model's inputs (with context) and the position labels."""
    rows = []
    for c in clips:
        spec, env, bands, b = clip_arrays(c.path)
        b = np.asarray(b, np.float64)
        x = (downbeats.with_context(downbeats.beat_features(spec, env, bands, b))
             if len(b) >= 4 else None)
        rows.append({"clip": c, "beats": b, "x": x, "y": position_labels(b, c),
                     "arrays": (spec, env, bands)})
    return rows


def fit(rows: list[dict], l2: float = L2) -> downbeats.PositionModel:
    xs = [r["x"].T for r in rows if r["x"] is not None]
    ys = [r["y"] for r in rows if r["x"] is not None]
    X, y = np.vstack(xs), np.concatenate(ys)
    keep = (y >= 0) & (y < 4)
    X, y = X[keep], y[keep]
    n, d = X.shape
    Xb = np.hstack([X, np.ones((n, 1))])
    Y = np.eye(4)[y]
    mask = np.ones((4, d + 1))
    mask[:, -1] = 0.0  # no penalty on the biases

    def loss(w):
        W = w.reshape(4, d + 1)
        z = Xb @ W.T
        z -= z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
        p = np.exp(z - lse)
        val = -(Y * (z - lse)).sum() + 0.5 * l2 * ((W * mask) ** 2).sum()
        grad = (p - Y).T @ Xb + l2 * W * mask
        return val, grad.ravel()

    w = minimize(loss, np.zeros(4 * (d + 1)), jac=True, method="L-BFGS-B").x
    return downbeats.PositionModel(w.reshape(4, d + 1), downbeats.CONTEXT)


def predict(row: dict, model: downbeats.PositionModel) -> np.ndarray:
    spec, env, bands = row["arrays"]
    return downbeats.track_downbeats(spec, env, bands, row["beats"], model=model)


def cross_val_predict(rows: list[dict]) -> list[np.ndarray]:
    """Each clip's downbeats from a model trained without its fold (see module doc)."""
    genres = sorted({r["clip"].group for r in rows if r["clip"].dataset == "gtzan-dev"})
    fold = [genres.index(r["clip"].group) if r["clip"].dataset == "gtzan-dev"
            else int(r["clip"].group[4:]) for r in rows]
    out: list[np.ndarray] = [np.zeros(0)] * len(rows)
    for k in sorted(set(fold)):
        model = fit([r for r, f in zip(rows, fold) if f != k])
        for i, r in enumerate(rows):
            if fold[i] == k:
                out[i] = predict(r, model)
    return out


def main() -> None:
    rows = examples(labelled_clips())
    model = fit(rows)
    dest = ROOT / "src" / "underdog" / "analysis" / "data" / downbeats.MODEL_FILE
    model.save(dest)
    print(f"{len(rows)} clips, {model.weights.size} weights -> {dest}")


if __name__ == "__main__":
    main()
