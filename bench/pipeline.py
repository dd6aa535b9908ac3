"""Whole-pipeline speed and the cost of each descriptor, beside librosa doing similar work.

    .venv/bin/python bench/pipeline.py [--files 20]

Full-length 44.1 kHz stereo Ogg tracks from get-free-music ($UNDERDOG_FREE_MUSIC or
../free-music), one core. underdog: one decode with the loudness meter on the channels,
then every step. librosa peer: load + beat_track + chroma_stft + RMS + spectral centroid
(no loudness, key profiles, drops or style).
"""

from __future__ import annotations

import os

import _one_core  # noqa: E402,F401  (before numpy: one thread, one CPU)

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "bench")]
FREE = Path(os.environ.get("UNDERDOG_FREE_MUSIC", ROOT.parent / "free-music"))
warnings.filterwarnings("ignore")

from underdog.analysis import (beats, energy, key, loudness, onset, sections,  # noqa: E402
                               spectral, style, tempo)
from underdog.audio import ANALYSIS_SR, decode  # noqa: E402


def files(limit: int) -> list[str]:
    from _free_music import stereo_oggs

    return stereo_oggs(FREE, limit)


def underdog_steps(path: str, cost: dict) -> float:
    def tick(name, t0):
        t1 = time.perf_counter()
        cost[name] = cost.get(name, 0.0) + t1 - t0
        return t1

    t = time.perf_counter()
    meter = loudness.LoudnessMeter()
    a = decode(path, ANALYSIS_SR, channel_sink=meter.push)
    t = tick("decode + loudness meter", t)
    spec = spectral.compute(a.samples, a.sr)
    t = tick("spectral (STFT, mel, chroma)", t)
    env, bands = onset.onset_bands(spec)
    est = tempo.estimate_tempo(env, spec.fps, bands)
    t = tick("onset + tempo", t)
    bt = beats.track_beats(env, spec.fps, est.bpm)
    t = tick("beats", t)
    loud = meter.result()
    t = tick("loudness (gating)", t)
    energy.describe_energy(spec, env, loud, bt, est.bpm)
    t = tick("energy", t)
    key.estimate_key(spec.key_chroma)
    t = tick("key", t)
    sections.find_sections(spec, env, bt, est.bpm)
    t = tick("sections (drops, mix points)", t)
    style.classify_style(spec, env, est.bpm)
    tick("style", t)
    return a.duration_s


def librosa_peer(path: str) -> float:
    import librosa

    y, sr = librosa.load(path, sr=22050)
    librosa.beat.beat_track(y=y, sr=sr)
    librosa.feature.chroma_stft(y=y, sr=sr, tuning=0.0)  # its tuning estimate crashes numba here
    librosa.feature.rms(y=y)
    librosa.feature.spectral_centroid(y=y, sr=sr)
    return len(y) / sr


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20)
    args = ap.parse_args()
    fs = files(args.files)
    underdog_steps(fs[0], {})
    librosa_peer(fs[0])  # warm both (imports, numba JIT)
    cost: dict[str, float] = {}
    audio = sum(underdog_steps(p, cost) for p in fs)
    total = sum(cost.values())
    t = time.perf_counter()
    peer_audio = sum(librosa_peer(p) for p in fs)
    peer = time.perf_counter() - t
    print(f"## pipeline: {len(fs)} full-length 44.1 kHz stereo Ogg tracks "
          f"({audio / 60:.1f} min), one core")
    print("| step | seconds | ms per audio minute | share |")
    print("|---|---|---|---|")
    for k, v in cost.items():
        print(f"| {k} | {v:.2f} | {1000 * v / (audio / 60):.1f} | {v / total:.0%} |")
    print(f"| **underdog, whole pipeline** | {total:.2f} | {1000 * total / (audio / 60):.1f} "
          f"| {audio / total:.0f}x realtime |")
    print(f"| librosa load+beat_track+chroma+rms+centroid | {peer:.2f} "
          f"| {1000 * peer / (peer_audio / 60):.1f} | {peer_audio / peer:.0f}x realtime "
          f"(underdog {(audio / total) / (peer_audio / peer):.2f}x its speed) |")


if __name__ == "__main__":
    main()
