"""Downbeat accuracy and speed: underdog beside madmom and a simple baseline.

    .venv/bin/python bench/downbeats.py                      # gtzan-dev, midi-dev, speed
    .venv/bin/python bench/downbeats.py --no-madmom --datasets gtzan

F: mir_eval's beat F-measure (+-70 ms) on downbeat times. "F" skips the first 5 s
(mir_eval.beat.trim_beats, as bench/tempo.py does for beats); "F all" scores every
downbeat. gtzan-dev labels come from its ``.beats`` files (position 1 = downbeat; the 69
clips that have positions). midi-dev labels are derived from the MIDI bar grid (see
training/train_downbeats.py); madmom's agreement with them says how far to trust them.

underdog's beat-position model is trained on gtzan-dev and midi-dev, so its F here is
cross-validated: ten folds, each clip scored by a model that never saw its fold (gtzan-dev:
leave one genre out). The shipped model's (in-sample) F is shown for reference.

Speed: seconds of audio per CPU second of the process (``time.process_time``: on a shared
host wall time measures the neighbours), from the file (decode included), one core:
underdog's decode + tempo + beats + downbeats + phrases (``analyze(steps={"tempo"})``),
madmom's RNNDownBeatProcessor + DBNDownBeatTrackingProcessor. The last table times the
downbeat step against the whole analysis (every step) on full-length tracks.
"""

from __future__ import annotations

import os

import _one_core  # noqa: E402,F401  (before numpy: one thread, one CPU)

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "training"), str(ROOT / "bench")]
MADMOM_PY = ROOT / ".venv-madmom" / "bin" / "python"
MADMOM_CACHE = ROOT / "bench" / "out" / "madmom_downbeats.jsonl"
warnings.filterwarnings("ignore")


def f_measure(ref: np.ndarray, est: np.ndarray, trim: bool = True) -> float:
    import mir_eval

    ref, est = np.asarray(ref, float), np.asarray(est, float)
    if trim:
        ref, est = mir_eval.beat.trim_beats(ref), mir_eval.beat.trim_beats(est)
    return float(mir_eval.beat.f_measure(ref, est))


def run_madmom(paths: list[str]) -> dict[str, tuple[np.ndarray, float]]:
    """madmom's downbeats and CPU seconds per file; results are kept in ``MADMOM_CACHE``
    (one JSON line per file) so that a rerun of the tables does not redo an hour of madmom."""
    cached = {}
    if MADMOM_CACHE.exists():
        for line in MADMOM_CACHE.read_text().splitlines():
            r = json.loads(line)
            cached[r["path"]] = r
    todo = [p for p in paths if p not in cached]
    if todo:
        proc = subprocess.Popen([str(MADMOM_PY), "-W", "ignore",
                                 str(ROOT / "bench" / "_madmom_downbeats.py")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
        proc.stdin.write("\n".join(todo))
        proc.stdin.close()
        MADMOM_CACHE.parent.mkdir(parents=True, exist_ok=True)
        with open(MADMOM_CACHE, "a") as f:
            for line in proc.stdout:
                r = json.loads(line)
                if "error" in r:
                    print(f"  madmom: {Path(r['path']).name}: {r['error']}", file=sys.stderr)
                    continue
                f.write(line)
                f.flush()
                cached[r["path"]] = r
        err = proc.stderr.read()
        if proc.wait() != 0:
            print(f"  madmom stopped: {err.strip()[-300:]}", file=sys.stderr)
    return {p: (np.array(cached[p]["downbeats"]), cached[p]["cpu"]) for p in paths
            if p in cached}


def run_underdog(path: str) -> tuple[np.ndarray, float, float]:
    from underdog.analysis import analyze

    t = time.process_time()
    a = analyze(path, steps={"tempo"})
    return np.asarray(a.downbeats), time.process_time() - t, a.duration_s


def row(tool: str, clips, est: dict, spent: float | None) -> dict:
    fs = [f_measure(c.downbeats, est[c.path]) for c in clips if c.path in est]
    fa = [f_measure(c.downbeats, est[c.path], trim=False) for c in clips if c.path in est]
    audio = sum(c.duration_s for c in clips if c.path in est)
    return {"tool": tool, "n": len(fs), "f": float(np.mean(fs)), "f_all": float(np.mean(fa)),
            "xrt": audio / spent if spent else None}


def evaluate(name: str, clips, rows, cv, madmom_limit: int, use_madmom: bool) -> list[dict]:
    from underdog.analysis import downbeats

    idx = [i for i, r in enumerate(rows) if r["clip"].dataset == name]
    sel = [rows[i]["clip"] for i in idx]
    out = []
    # underdog, from the file (its own timing), then its cross-validated downbeats
    shipped, spent = {}, 0.0
    run_underdog(sel[0].path)  # warm
    for c in sel:
        d, el, _ = run_underdog(c.path)
        shipped[c.path], spent = d, spent + el
    out.append(row("underdog (cross-validated)", sel, {rows[i]["clip"].path: cv[i] for i in idx},
                   spent))
    out.append(row("underdog, shipped model (saw these clips)", sel, shipped, spent))
    out.append(row("baseline: every 4th underdog beat from the first", sel,
                   {rows[i]["clip"].path: rows[i]["beats"][::4] for i in idx}, None))
    oracle = {}
    for i in idx:
        b = rows[i]["beats"]
        oracle[rows[i]["clip"].path] = max((b[p::4] for p in range(4)),
                                           key=lambda e: f_measure(rows[i]["clip"].downbeats, e))
    out.append(row("oracle: best fixed phase of underdog's beats", sel, oracle, None))
    if use_madmom and MADMOM_PY.exists():
        msel = sel if madmom_limit <= 0 else sel[::max(1, len(sel) // madmom_limit)]
        mm = run_madmom([c.path for c in msel])
        got = [c for c in msel if c.path in mm]
        r = row("madmom RNN + DBNDownBeatTracking", got, {p: v[0] for p, v in mm.items()},
                sum(v[1] for v in mm.values()))
        if len(got) < len(sel):  # compare like with like: underdog on the same clips
            r["tool"] += f" ({len(got)} clips)"
            same = row(f"underdog (cross-validated), the same {len(got)} clips", got,
                       {rows[i]["clip"].path: cv[i] for i in idx}, None)
            out.append(same)
        out.append(r)
    _ = downbeats  # imported for the model's load time to fall outside the timings
    return out


def print_table(title: str, rows: list[dict]) -> None:
    base = rows[0]["xrt"]
    print(f"\n## {title}")
    print("| tool | clips | F | F all | x realtime | underdog speed / tool speed |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        x = f"{r['xrt']:.0f}x" if r["xrt"] else "-"
        ratio = f"{base / r['xrt']:.0f}" if r["xrt"] and base else "-"
        print(f"| {r['tool']} | {r['n']} | {r['f']:.3f} | {r['f_all']:.3f} | {x} | {ratio} |")


def share_table(paths: list[Path]) -> None:
    """The downbeat step's cost against the whole analysis, on full-length tracks."""
    from underdog.analysis import analyze_signal, beats, downbeats, onset, spectral, tempo
    from underdog.audio import ANALYSIS_SR, decode

    whole = step = audio = 0.0
    for p in paths:
        t = time.process_time()
        a = decode(p, ANALYSIS_SR)
        analyze_signal(a.samples, a.sr, path=str(p))
        whole += time.process_time() - t
        spec = spectral.compute(a.samples, a.sr, key_chroma=False)
        env, bands = onset.onset_bands(spec)
        est = tempo.estimate_tempo(env, spec.fps, bands)
        bt = beats.track_beats_segments(env, spec.fps, est.segments)
        t = time.process_time()
        downbeats.bars_and_phrases(spec, env, bands, bt)
        step += time.process_time() - t
        audio += a.duration_s
    print(f"\n## the downbeat step in the whole analysis: {len(paths)} full-length tracks, "
          f"{audio / 60:.1f} min, one core")
    print("| part | CPU time | x realtime | share |")
    print("|---|---|---|---|")
    print(f"| decode + every step (downbeats included) | {whole:.2f} s | {audio / whole:.0f}x "
          f"| 100 % |")
    print(f"| downbeats + phrases | {step:.3f} s | {audio / step:.0f}x "
          f"| {100 * step / whole:.1f} % |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="gtzan,midi,speed")
    ap.add_argument("--no-madmom", action="store_true")
    ap.add_argument("--madmom-midi", type=int, default=40,
                    help="madmom on this many midi-dev clips (0: all 299, ~40 min here)")
    args = ap.parse_args()
    names = args.datasets.split(",")
    import train_downbeats as td

    clips = [c for c in td.labelled_clips()
             if (c.dataset == "gtzan-dev" and "gtzan" in names)
             or (c.dataset == "midi-dev" and "midi" in names)]
    if clips:
        rows = td.examples(td.labelled_clips())  # cross-validation trains on both sets
        cv = td.cross_val_predict(rows)
        for name, key in (("gtzan-dev", "gtzan"), ("midi-dev", "midi")):
            if key in names:
                lim = args.madmom_midi if key == "midi" else 0
                print_table(f"{name} downbeats",
                            evaluate(name, clips, rows, cv, lim, not args.no_madmom))
    if "speed" in names:
        lib = ROOT / "examples" / "library"
        share_table(sorted(p for p in lib.iterdir() if p.suffix != ".md"))


if __name__ == "__main__":
    main()
