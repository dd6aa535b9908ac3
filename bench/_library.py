"""Benchmark libraries, built once and cached under bench/out/.

- ``realistic_library()``: the get-free-music library (/work/free-music, or
  $UNDERDOG_FREE_MUSIC) plus ../shared/data/midi-dev, scanned with the full analysis
  pipeline through ``underdog.library.scan`` and its process executor into
  bench/out/realistic.db. A rescan is incremental, so reuse costs a walk and a stat.
- ``synthetic_library(n)``: n rows with realistic distributions of tempo, energy, key,
  style, drops and duration, inserted through ``Library.add_tracks`` into
  bench/out/synthetic-{n}.db (rebuilt only when the row count differs).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from underdog.library.db import open_library  # noqa: E402
from underdog.models import Track  # noqa: E402

OUT = ROOT / "bench" / "out"
FREE_MUSIC = Path(os.environ.get("UNDERDOG_FREE_MUSIC", "/work/free-music"))
SHARED = Path(os.environ.get("UNDERDOG_SHARED_DATA", ROOT.parent / "shared" / "data"))
MIDI_DEV = SHARED / "midi-dev" / "audio"
STYLES = ("heavy", "indie_synth", "hiphop", "atmospheric")


def realistic_library(jobs: int = 2, db_path: Path | None = None, verbose: bool = True) -> Path:
    """Scan free-music + midi-dev into a cached DB (incremental); returns its path."""
    from underdog.library.executors import LocalPoolExecutor
    from underdog.library.scan import scan

    db_path = db_path or OUT / "realistic.db"
    roots = [str(p) for p in (FREE_MUSIC, MIDI_DEV) if p.exists()]
    if not roots:
        raise SystemExit(f"no music found at {FREE_MUSIC} or {MIDI_DEV}")
    if FREE_MUSIC.exists() and not (FREE_MUSIC / "manifest.csv").exists():
        raise SystemExit(f"{FREE_MUSIC} has no manifest.csv: the fetch has not finished")
    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open_library(db_path) as lib:
        stats = scan(roots, lib, executor=LocalPoolExecutor(jobs))
        n_ok, n_failed = lib.count("ok"), lib.count("failed")
    if verbose:
        print(f"# realistic library: {n_ok} tracks ok, {n_failed} failed "
              f"({', '.join(roots)}); scan {time.perf_counter() - t0:.1f} s, "
              f"{getattr(stats, 'analyzed', '?')} analyzed this run", file=sys.stderr)
    return db_path


def synthetic_tracks(n: int, seed: int = 0, start_id: int = 1) -> list[Track]:
    """n tracks with plausible joint distributions (tempo clusters, energy loosely tied
    to tempo and style, random keys, 0–3 drops, 2–7 minute durations)."""
    rng = np.random.default_rng(seed)
    centers = np.array([92.0, 110.0, 124.0, 140.0, 165.0])
    probs = np.array([0.2, 0.15, 0.3, 0.25, 0.1])
    c = rng.choice(len(centers), size=n, p=probs)
    bpm = np.clip(centers[c] * np.exp(rng.normal(0, 0.06, n)), 60, 200)
    style_p = rng.dirichlet(np.full(4, 0.6), size=n)
    label = style_p.argmax(1)
    base = np.array([0.7, 0.5, 0.6, 0.25])[label]
    energy = np.clip(base + 0.15 * (bpm - 125) / 40 + rng.normal(0, 0.15, n), 0, 1)
    dur = np.clip(rng.lognormal(np.log(225), 0.3, n), 90, 480)
    n_art = max(1, n // 6)
    artist = rng.integers(0, n_art, n)
    cam_n = rng.integers(1, 13, n)
    cam_l = rng.integers(0, 2, n)
    n_drops = rng.integers(0, 4, n)
    out = []
    for i in range(n):
        drops = sorted(({"time_s": float(round(rng.uniform(10, dur[i] - 10), 2)),
                         "strength": float(round(rng.uniform(0.2, 1.0), 3))}
                        for _ in range(n_drops[i])), key=lambda d: d["time_s"])
        out.append(Track(
            id=start_id + i, path=f"/synthetic/{seed}/{i:06d}.flac",
            artist=f"Artist {artist[i]:05d}", title=f"Track {i:06d}",
            duration_s=float(round(dur[i], 2)), bpm=float(round(bpm[i], 2)),
            energy=float(round(energy[i], 4)),
            energy_level=int(np.clip(np.ceil(energy[i] * 10), 1, 10)),
            camelot=f"{cam_n[i]}{'AB'[cam_l[i]]}",
            style={s: float(round(p, 4)) for s, p in zip(STYLES, style_p[i])},
            style_label=STYLES[label[i]], drops=drops))
    return out


def synthetic_library(n: int, seed: int = 0) -> Path:
    """A cached DB of n synthetic tracks (bench/out/synthetic-{n}.db)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"synthetic-{n}-{seed}.db"
    if path.exists():
        with open_library(path) as lib:
            if lib.count() == n:
                return path
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    with open_library(path) as lib:
        lib.add_tracks(synthetic_tracks(n, seed))
    return path
