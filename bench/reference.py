"""Rebuild reference soundtracks from the rest of a realistic library: is underdog closer to
the reference than the built-in montage arc and a random pick of equal length?

References (6–12 tracks each) come from the realistic library (get-free-music + midi-dev,
scanned by bench/_library.py into bench/out/realistic.db):
- hand-made shapes: tracks picked slot by slot nearest to a target tempo/energy curve
  (a rising build, a valley in the middle, a descending cool-down, a steady 160 run, ...);
- samples from style-homogeneous pools (heavy-only, atmospheric-only, ...), in random order.
Each is rebuilt with the reference's tracks left out, for the reference's length:
underdog (the learned arc), `montage` (same sequencer, built-in arc), random (mean of 5
seeded picks), and the fair baseline "nearest": for each reference track in order, the
nearest unused library track (octave-folded tempo in tenths of an octave, energy in levels,
one more for another style) -- the one baseline that, like underdog, sees the reference.
Distances (lower is closer, play-time weighted): Wasserstein of effective
log2 BPM (octaves) and of energy level (1–10), style-share total variation, RMSE of the
tempo (octaves) and energy (levels) curves over normalized time at 50 points.

    .venv/bin/python bench/reference.py [--quick] [--db SCANNED.db]

``--db`` uses an already scanned library (a copy is opened) instead of the realistic one.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _library import OUT, realistic_library  # noqa: E402

from underdog.library.db import open_library  # noqa: E402
from underdog.models import Track  # noqa: E402
from underdog.app.planning import like_from_library as like  # noqa: E402
from underdog.planning.reference import (Distances, Reference, distances, learn,  # noqa: E402
                                         profile, random_pick)
from underdog.planning.score import NO_ARTIST, track_level  # noqa: E402

RANDOM_SEEDS = (1, 2, 3, 4, 5)


def _artist(t: Track) -> str | None:
    a = (t.artist or "").strip().casefold()
    return None if a in NO_ARTIST else a


def shaped(tracks: list[Track], bpm: list[float], level: list[float], rng) -> list[Track]:
    """Slot by slot, one of the 3 unused tracks nearest to (target BPM, target level)
    (tempo in tenths of an octave, energy in levels), no artist within 3 slots."""
    x = np.array([math.log2(t.bpm) for t in tracks])
    e = np.array([track_level(t) for t in tracks])
    used: set[int] = set()
    out: list[Track] = []
    for b, lv in zip(bpm, level):
        d = ((x - math.log2(b)) / 0.1) ** 2 + (e - lv) ** 2
        recent = {_artist(t) for t in out[-3:]} - {None}
        cand = [int(i) for i in np.argsort(d, kind="stable")
                if int(i) not in used and _artist(tracks[int(i)]) not in recent][:3]
        k = cand[int(rng.integers(len(cand)))]
        used.add(k)
        out.append(tracks[k])
    return out


def nearest(reference: list[Track], tracks: list[Track], exclude: frozenset[int]) -> list[Track]:
    """The fair baseline: for each reference track in order, the nearest library track not
    yet used and not excluded (tempo distance folded to within half an octave, in tenths of
    an octave; energy in levels; +1 for another style label)."""
    pool = [t for t in tracks if t.id not in exclude]
    x = np.array([math.log2(t.bpm) for t in pool])
    e = np.array([track_level(t) for t in pool])
    st = np.array([t.style_label or "" for t in pool])
    used = np.zeros(len(pool), bool)
    out: list[Track] = []
    for r in reference:
        dx = x - math.log2(r.bpm)
        dx = np.abs(dx - np.round(dx))
        d = (dx / 0.1) ** 2 + (e - track_level(r)) ** 2 + (st != (r.style_label or ""))
        d[used] = np.inf
        k = int(np.argmin(d))
        used[k] = True
        out.append(pool[k])
    return out


def sampled(pool: list[Track], n: int, rng) -> list[Track]:
    return [pool[int(i)] for i in rng.choice(len(pool), size=min(n, len(pool)), replace=False)]


def references(tracks: list[Track], seed: int = 7) -> list[tuple[str, list[Track]]]:
    rng = np.random.default_rng(seed)
    lin = lambda a, b, n: list(np.linspace(a, b, n))  # noqa: E731
    geo = lambda a, b, n: list(np.geomspace(a, b, n))  # noqa: E731
    refs = [
        ("rising build", shaped(tracks, geo(100, 150, 8), lin(3, 8.5, 8), rng)),
        ("valley in the middle", shaped(tracks, [140, 135, 125, 110, 105, 110, 125, 135, 140],
                                        [8, 7, 5.5, 4, 3, 4, 5.5, 7, 8], rng)),
        ("descending cool-down", shaped(tracks, geo(135, 90, 8), lin(7, 2, 8), rng)),
        ("steady 160 run", shaped(tracks, [160] * 10, [7] * 10, rng)),
        ("peaks and valleys", shaped(tracks, [128, 134, 140, 134, 140, 134, 142, 126, 116, 110],
                                     [4, 6, 8.5, 5, 9, 5.5, 9, 6, 4, 3], rng)),
        ("slow burn", shaped(tracks, [88] * 7, lin(2, 6.5, 7), rng)),
    ]
    pools = [
        ("heavy-only", [t for t in tracks if t.style_label == "heavy"], 8),
        ("atmospheric-only", [t for t in tracks if t.style_label == "atmospheric"], 10),
        ("indie_synth-only", [t for t in tracks if t.style_label == "indie_synth"], 8),
        ("high-energy (≥ 7.5)", [t for t in tracks if track_level(t) >= 7.5], 10),
        ("low-tempo (< 95 BPM)", [t for t in tracks if t.bpm < 95], 8),
        ("long tracks (≥ 2 min)", [t for t in tracks if t.duration_s >= 120], 6),
    ]
    for name, pool, n in pools:
        refs.append((name, sampled(pool, n, rng)))
    return refs


def fmt(v: float) -> str:
    return "–" if not math.isfinite(v) else f"{v:.3f}"


def main(quick: bool = False, db: str | None = None) -> None:
    if db is None:
        db = realistic_library(verbose=True)
    else:  # a copy: opening may migrate the schema
        import shutil
        import tempfile

        copy = Path(tempfile.mkdtemp()) / "library.db"
        shutil.copy(db, copy)
        db = copy
    with open_library(db) as lib:
        tracks = [t for t in lib.tracks() if t.bpm and t.duration_s and t.duration_s >= 20
                  and t.energy is not None]
        refs = references(tracks)
        if quick:
            refs = refs[::3]
        rows = []
        t_all = time.perf_counter()
        for name, rt in refs:
            ref = Reference(source=name, kind="playlist", tracks=rt, from_library=len(rt))
            t0 = time.perf_counter()
            r = like(lib, ref, seed=0, learned=learn(ref, name=f"like {name}"))
            dt = time.perf_counter() - t0
            prof = profile(rt)
            rnd = np.array([distances(prof, random_pick(lib.tracks(), r.minutes, frozenset(
                ref.library_ids), s)).values() for s in RANDOM_SEEDS]).mean(axis=0)
            near = np.array(distances(prof, nearest(rt, tracks, frozenset(
                ref.library_ids))).values())
            rows.append((name, len(rt), ref.minutes, len(r.plan.tracks),
                         np.array(r.rows["underdog"].values()),
                         np.array(r.rows["montage"].values()), rnd, dt,
                         len(r.learned.arc.segments), near))
        total = time.perf_counter() - t_all
    names = Distances.NAMES
    print(f"\n## Rebuilding {len(rows)} references from the rest of the realistic library "
          f"({len(tracks)} usable tracks); cells: underdog / montage / random (mean of "
          f"{len(RANDOM_SEEDS)} seeds) / nearest (the fair baseline); lower is closer\n")
    print("| reference | tracks | min | segs | " + " | ".join(names) + " | s |")
    print("|---|---|---|---|" + "---|" * len(names) + "---|")
    for name, n, mins, n_out, u, m, rd, dt, k, nr in rows:
        cells = [f"**{fmt(u[i])}** / {fmt(m[i])} / {fmt(rd[i])} / {fmt(nr[i])}"
                 for i in range(len(names))]
        print(f"| {name} | {n} → {n_out} | {mins:.1f} | {k} | " + " | ".join(cells) +
              f" | {dt:.1f} |")
    U = np.nanmean([r[4] for r in rows], axis=0)
    M = np.nanmean([r[5] for r in rows], axis=0)
    R = np.nanmean([r[6] for r in rows], axis=0)
    N = np.nanmean([r[9] for r in rows], axis=0)
    print("| **average** | | | | " + " | ".join(
        f"**{fmt(U[i])}** / {fmt(M[i])} / {fmt(R[i])} / {fmt(N[i])}"
        for i in range(len(names))) + " | |")
    print("| ratio montage/underdog · random/underdog · nearest/underdog | | | | " + " | ".join(
        f"{M[i] / U[i]:.2f} · {R[i] / U[i]:.2f} · {N[i] / U[i]:.2f}"
        for i in range(len(names))) + " | |")
    wins_m = sum(bool(np.all(r[4] <= r[5])) for r in rows)
    wins_r = sum(bool(np.all(r[4] <= r[6])) for r in rows)
    per = [f"{names[i]} {sum(r[4][i] < r[5][i] and r[4][i] < r[6][i] for r in rows)}/"
           f"{len(rows)}" for i in range(len(names))]
    ok = bool(np.all(U < M) and np.all(U < R))
    vs_near = [f"{names[i]} {sum(r[4][i] < r[9][i] for r in rows)}/{len(rows)}"
               for i in range(len(names))]
    print(f"\nacceptance (underdog closer than montage and random on every distance, averaged "
          f"over references): {'PASS' if ok else 'FAIL'}. References where underdog is "
          f"closest per distance: {', '.join(per)}; on all five at once: {wins_m}/{len(rows)} "
          f"vs montage, {wins_r}/{len(rows)} vs random. Time: {total:.1f} s for "
          f"{len(rows)} references (learn + 2 plans each).")
    print(f"Against the fair baseline (nearest library track per reference track), "
          f"underdog is closer on: {', '.join(vs_near)}; on average on "
          f"{', '.join(names[i] for i in range(len(names)) if U[i] < N[i]) or 'none'}, "
          f"farther on {', '.join(names[i] for i in range(len(names)) if U[i] >= N[i]) or 'none'}.")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "reference.txt").write_text("done\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(quick="--quick" in args, db=args[args.index("--db") + 1] if "--db" in args else None)
