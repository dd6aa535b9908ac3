"""Key accuracy on midi-dev against each clip's symbolic key: underdog beside essentia and librosa.

    .venv/bin/python bench/key.py [--limit N] [--tools underdog]

Reference: metadata.csv's symbolic_key (Krumhansl key of the excerpt's own MIDI notes), on
the clips whose symbolic_key_margin > 0.05. Score: MIREX weighted (mir_eval). Speed: audio
seconds per second, from the file (decode included), one core.
"""

from __future__ import annotations

import os

import _one_core  # noqa: E402,F401  (before numpy: one thread, one CPU)

import argparse  # noqa: E402
import csv  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("UNDERDOG_SHARED_DATA", ROOT.parent / "shared" / "data"))
warnings.filterwarnings("ignore")

from underdog import theory  # noqa: E402
from underdog.analysis import key, spectral  # noqa: E402
from underdog.audio import ANALYSIS_SR, decode  # noqa: E402


def underdog(profile):
    def run(path):
        y = decode(path, ANALYSIS_SR).samples
        s = spectral.compute(y, ANALYSIS_SR)
        return key.estimate_key(s.key_chroma, profile).name, len(y) / ANALYSIS_SR
    return run


def essentia_key(profile):
    import essentia
    import essentia.standard as es

    essentia.log.infoActive = False

    def run(path):
        y = es.MonoLoader(filename=str(path), sampleRate=44100)()
        k, scale, _ = es.KeyExtractor(profileType=profile, sampleRate=44100)(y)
        return f"{k} {scale}", len(y) / 44100.0
    return run


def librosa_kk(path):
    import librosa

    y, sr = librosa.load(path, sr=22050)
    c = librosa.feature.chroma_cqt(y=y, sr=sr, tuning=0.0).mean(axis=1)  # see bench/pipeline.py
    s = key.key_scores(c, "krumhansl", partials=1)  # the textbook baseline: plain profile
    b = int(np.argmax(s))
    return key.key_name(b % 12, b >= 12), len(y) / sr


def mirex_name(name: str) -> str:
    t, minor = theory.parse_key(name)
    return key.key_name(t, minor)


def main() -> None:
    import mir_eval

    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--tools", default="", help="only the tools whose row name contains this "
                    "(e.g. 'underdog'; the speed ratio is then against the first row run)")
    args = ap.parse_args()
    with open(DATA / "midi-dev" / "metadata.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if float(r["symbolic_key_margin"]) > 0.05]
    if args.limit:
        rows = rows[: args.limit]
    tools = {"underdog (Krumhansl + overtones, shipped)": underdog("krumhansl"),
             "underdog chroma, Temperley + overtones": underdog("temperley"),
             "librosa chroma_cqt + Krumhansl": librosa_kk}
    for prof in ("edma", "krumhansl", "temperley"):
        tools[f"essentia KeyExtractor ({prof})"] = essentia_key(prof)
    tools = {k: v for k, v in tools.items() if args.tools in k}
    table = []
    for name, fn in tools.items():
        fn(DATA / "midi-dev" / rows[0]["relative_path"])  # warm up
        scores, cats, spent, audio = [], {}, 0.0, 0.0
        for r in rows:
            t = time.perf_counter()
            est, dur = fn(DATA / "midi-dev" / r["relative_path"])
            spent += time.perf_counter() - t
            audio += dur
            ref = mirex_name(r["symbolic_key"])
            est = mirex_name(est)
            s = mir_eval.key.weighted_score(ref, est)
            scores.append(s)
            label = {1.0: "correct", 0.5: "fifth", 0.3: "relative", 0.2: "parallel"}.get(s, "other")
            cats[label] = cats.get(label, 0) + 1
        table.append((name, float(np.mean(scores)), cats, audio / spent))
    n = len(rows)
    print(f"## key on midi-dev: {n} clips with symbolic_key_margin > 0.05")
    print("| tool | MIREX weighted | correct | fifth | relative | parallel | other | x realtime "
          "| underdog speed / tool speed |")
    print("|---|---|---|---|---|---|---|---|---|")
    base = table[0][3]
    for name, score, cats, xrt in table:
        shares = " | ".join(f"{cats.get(c, 0) / n:.2f}"
                            for c in ("correct", "fifth", "relative", "parallel", "other"))
        print(f"| {name} | {score:.3f} | {shares} | {xrt:.0f}x | {base / xrt:.2f} |")


if __name__ == "__main__":
    main()
