"""Benchmark the planner: quality against baselines, optimality gap, speed.

    python bench/planner.py [--parts compare,exact,speed,seeds] [--library realistic|synthetic]
                            [--db LIBRARY.db] [--instances 24] [--runs 5]

1. compare: a realistic library (get-free-music + ../shared/data/midi-dev, scanned with the
   full pipeline into bench/out/realistic.db by bench/_library.py) planned for `montage`
   (45 min), `hiit` (its own 38 min) and `run --cadence 160` (30 min) by underdog and by three
   baselines, every `underdog score` metric in one table:
   - random: a seeded shuffle of the in-range tracks (tempo within any segment's window,
     half/double where allowed), taken until the session is full (mean of 5 seeds);
   - bpm-sort: the same random selection, sorted by BPM (what DJ tools do; mean of 5);
   - greedy: at each position the unused track with the best tempo/energy/style fit to the
     target there (the planner's own fit cost), obeying the hard rules; no look-ahead.
2. exact: random small instances (60 synthetic candidates with whole-second durations,
   up to 10 slots, built-in arcs over 20–24 min) solved to optimality by branch and bound
   over the same objective (``score.plan_cost``). Its bound is a dynamic program over
   (elapsed second, last track) that relaxes only the no-repeat and artist rules and the
   style-share penalty, so it never overestimates. Each row: underdog's objective (the
   real `plan()` on an in-memory library), the optimum, the gap.
3. speed: a 45-minute montage from synthetic libraries of 10,000 and 100,000 rows inserted
   through Library.add_tracks: median of --runs plans (the greedy baseline timed beside).
4. seeds (not in the default parts): a 45-minute montage for seeds 0–9 on the realistic
   library (or --db): the objective's min/median/max, the number of distinct plans, and
   whether a seed planned twice gives the same plan.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _library import realistic_library, synthetic_library, synthetic_tracks  # noqa: E402

from underdog.library.db import open_library  # noqa: E402
from underdog.planning.arcs import load_arc  # noqa: E402
from underdog.planning.score import (ARTIST_GAP, Pool, Weights, plan_cost,  # noqa: E402
                                     score_order, tempo_fit, transition_cost, unary_cost)
from underdog.planning.sequencer import PlanOptions, plan  # noqa: E402

W = Weights()
OPTS = PlanOptions(seed=0)


# ---------------------------------------------------------------- baselines

def _fill(pool: Pool, order, total_s: float) -> list[int]:
    out, t = [], 0.0
    for i in order:
        out.append(int(i))
        t += pool.dur_s[i]
        if t >= total_s:
            break
    return out


def in_range(pool: Pool, tl) -> np.ndarray:
    ok = np.zeros(len(pool), bool)
    for sp in tl.spans:
        s = sp.segment
        for b in (min(s.bpm), max(s.bpm), sum(s.bpm) / 2):
            _, dev, _ = tempo_fit(pool.bpm, b, s.tolerance_pct, s.half_double)
            ok |= dev <= s.tolerance_pct
    return np.nonzero(ok)[0]


def baseline_random(pool, tl, seed):
    idx = in_range(pool, tl)
    rng = np.random.default_rng(seed)
    return _fill(pool, rng.permutation(idx), tl.total_s)


def baseline_bpm_sort(pool, tl, seed):
    sel = baseline_random(pool, tl, seed)
    return sorted(sel, key=lambda i: (pool.bpm[i], i))


def baseline_greedy(pool, tl):
    order, t = [], 0.0
    all_idx = np.arange(len(pool))
    while t < tl.total_s:
        c, parts = unary_cost(pool, all_idx, t, tl, W)
        rate = (c - parts["drop"]) / parts["minutes"]
        if order:
            rate[order] = np.inf
            for o in order[-ARTIST_GAP:]:
                if pool.artist[o] >= 0:
                    rate[pool.artist == pool.artist[o]] = np.inf
        if not np.isfinite(rate).any():
            break
        k = int(np.argmin(rate))
        order.append(k)
        t += pool.dur_s[k]
    return order


# ---------------------------------------------------------------- compare

METRICS = ("objective", "objective_per_min", "within_6pct", "bpm_mae", "energy_mae",
           "camelot_ok", "artist_violations", "drops_on_peaks", "tracks", "minutes")


def _row(reports) -> dict:
    out = {}
    for m in METRICS:
        vals = [getattr(r, m) for r in reports]
        if m == "drops_on_peaks":
            hits = [int(v.split("/")[0]) for v in vals]
            out[m] = f"{statistics.mean(hits):.1f}/{vals[0].split('/')[1]}"
        elif any(v is None for v in vals):
            out[m] = None
        else:
            out[m] = statistics.mean(vals)
    shares = {}
    for r in reports:
        for k, v in r.style_shares.items():
            shares[k] = shares.get(k, 0.0) + v / len(reports)
    out["styles"] = " ".join(f"{k[:5]}{v:.0%}" for k, v in shares.items() if v > 0)
    return out


def compare(db_path: Path) -> None:
    arcs = [("montage", load_arc("montage"), 45.0),
            ("hiit", load_arc("hiit"), None),
            ("run --cadence 160", load_arc("run", cadence=160), 30.0)]
    with open_library(db_path) as lib:
        tracks = [t for t in lib.tracks() if t.duration_s and t.duration_s >= 20]
        n_lib = lib.count()
        rows = []
        for name, arc, minutes in arcs:
            tl = arc.timeline(minutes)
            p = plan(lib, arc, minutes, PlanOptions(seed=0))
            pool = Pool(tracks)
            pos = {int(t.id): i for i, t in enumerate(tracks)}
            ud = score_order(pool, [pos[e.track.id] for e in p.entries], tl, W)
            rows.append((name, "underdog", _row([ud]), p.stats["total_s"]))
            rows.append((name, "random ×5", _row([score_order(
                pool, baseline_random(pool, tl, s), tl, W) for s in range(5)]), None))
            rows.append((name, "bpm-sort ×5", _row([score_order(
                pool, baseline_bpm_sort(pool, tl, s), tl, W) for s in range(5)]), None))
            rows.append((name, "greedy", _row([score_order(
                pool, baseline_greedy(pool, tl), tl, W)]), None))
            for w in p.warnings:
                print(f"# {name}: {w}")
    print(f"\n## Quality: {n_lib} analyzed tracks ({db_path.name}); lower objective is "
          "better; within ±6 % counts half/double where the arc allows\n")
    head = ("| arc | method | objective | /min | ratio | within ±6 % | mean abs BPM err | "
            "energy err | Camelot ok | artist viol. | drops on peaks | tracks | min | "
            "styles |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    f = lambda v, p=False, nd=2: "–" if v is None else (  # noqa: E731
        f"{v * 100:.0f} %" if p else f"{v:.{nd}f}")
    for k in range(0, len(rows), 4):
        ref = rows[k][2]["objective"]
        for name, method, r, _ in rows[k:k + 4]:
            print(f"| {name} | {method} | {r['objective']:.1f} | {r['objective_per_min']:.2f} | "
                  f"{r['objective'] / ref:.2f} | {f(r['within_6pct'], True)} | "
                  f"{f(r['bpm_mae'], nd=1)} | {f(r['energy_mae'])} | "
                  f"{f(r['camelot_ok'], True)} | {r['artist_violations']:.1f} | "
                  f"{r['drops_on_peaks']} | {r['tracks']:.1f} | {r['minutes']:.1f} | "
                  f"{r['styles']} |")


# ---------------------------------------------------------------- exact solver

def exact_optimum(pool: Pool, tl, w: Weights = W, node_limit: int = 3_000_000):
    """The minimum of plan_cost over every valid playlist (durations in whole seconds).

    Returns (cost, order, nodes, proven)."""
    C = len(pool)
    T = int(math.ceil(tl.total_s))
    d = pool.dur_s.astype(np.int64)
    assert np.all(d == pool.dur_s), "whole-second durations only"
    E = np.broadcast_to(np.arange(T, dtype=np.float64), (C, T))
    idx = np.broadcast_to(np.arange(C)[:, None], (C, T))
    U, parts = unary_cost(pool, idx, E, tl, w)
    HD = tl.half_double[parts["seg"]]
    a, b = np.meshgrid(np.arange(C), np.arange(C), indexing="ij")
    TH = transition_cost(pool, a, b, True, w)
    TN = transition_cost(pool, a, b, False, w)
    same = (a == b) | ((pool.artist[a] == pool.artist[b]) & (pool.artist[a] >= 0))
    TH = np.where(same, np.inf, TH)
    TN = np.where(same, np.inf, TN)
    # V[e, j]: least cost to finish when track j ended at second e (rules relaxed).
    V = np.zeros((T, C))
    ar = np.arange(C)
    for e in range(T - 1, -1, -1):
        nxt = e + d
        cont = np.where(nxt >= T, 0.0, V[np.minimum(nxt, T - 1), ar])
        gain = U[:, e] + cont
        V[e] = np.min(np.where(HD[:, e][None, :], TH, TN) + gain[None, :], axis=1)
    best = [math.inf, None]
    nodes = [0]

    def dfs(order: list[int], e: int, cost: float) -> None:
        nodes[0] += 1
        if nodes[0] > node_limit:
            return
        last = order[-1] if order else None
        blocked = set(order)
        for o in order[-ARTIST_GAP:]:
            if pool.artist[o] >= 0:
                blocked |= set(np.nonzero(pool.artist == pool.artist[o])[0].tolist())
        inc = U[:, e].copy()
        if last is not None:
            inc += np.where(HD[:, e], TH[last], TN[last])
        nxt = e + d
        lb = cost + inc + np.where(nxt >= T, 0.0, V[np.minimum(nxt, T - 1), ar])
        for k in np.argsort(lb, kind="stable"):
            k = int(k)
            if lb[k] >= best[0] - 1e-9:
                break
            if k in blocked:
                continue
            if nxt[k] >= T:
                full = plan_cost(pool, order + [k], tl, w).total
                if full < best[0] - 1e-9:
                    best[0], best[1] = full, order + [k]
            else:
                dfs(order + [k], int(nxt[k]), cost + float(inc[k]))

    dfs([], 0, 0.0)
    return best[0], best[1], nodes[0], nodes[0] <= node_limit


def exact_instances(n: int) -> None:
    kinds = [("montage", lambda: load_arc("montage"), 24.0),
             ("hiit", lambda: load_arc("hiit", work=3, rest=2, rounds=2), 22.0),
             ("run 160", lambda: load_arc("run", cadence=160), 20.0),
             ("lift", lambda: load_arc("lift"), 20.0)]
    print("\n## Near-optimality: underdog vs the exact optimum (branch and bound)\n")
    print("| # | arc | candidates | slots | underdog | optimum | gap | B&B nodes | B&B s | "
          "underdog s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    gaps = []
    for i in range(n):
        name, mk, minutes = kinds[i % len(kinds)]
        arc = mk()
        tl = arc.timeline(minutes)
        rng = np.random.default_rng(500 + i)
        tracks = synthetic_tracks(60, seed=500 + i)
        for t in tracks:
            t.duration_s = float(rng.integers(145, 281))
            t.artist = f"Artist {int(rng.integers(0, 15))}"
        with open_library(":memory:") as lib:
            lib.add_tracks(tracks)
            t0 = time.perf_counter()
            p = plan(lib, arc, minutes, OPTS)
            t_ud = time.perf_counter() - t0
            stored = lib.tracks(sort="id")
        pool = Pool(stored)
        pos = {int(t.id): k for k, t in enumerate(stored)}
        ud = plan_cost(pool, [pos[e.track.id] for e in p.entries], tl, W).total
        t0 = time.perf_counter()
        opt, order, nodes, proven = exact_optimum(pool, tl)
        t_bb = time.perf_counter() - t0
        gap = (ud - opt) / opt
        gaps.append(gap)
        print(f"| {i + 1} | {name} | 60 | {len(order)} | {ud:.3f} | {opt:.3f}"
              f"{'' if proven else ' (not proven)'} | {gap * 100:.2f} % | {nodes} | "
              f"{t_bb:.1f} | {t_ud:.2f} |", flush=True)
    print(f"\ngap: max {max(gaps) * 100:.2f} %, mean {statistics.mean(gaps) * 100:.2f} %, "
          f"within 3 % on {sum(g <= 0.03 for g in gaps)}/{len(gaps)} instances")


# ---------------------------------------------------------------- speed

def speed(runs: int, sizes=(10_000, 100_000)) -> None:
    print("\n## Speed: a 45-minute montage (median of %d plans, wall clock)\n" % runs)
    print("| library rows | underdog median s | min s | max s | rows read | candidates | "
          "objective | within ±6 % | greedy baseline s (all rows) |")
    print("|---|---|---|---|---|---|---|---|---|")
    arc = load_arc("montage")
    for n in sizes:
        path = synthetic_library(n)
        with open_library(path) as lib:
            times = []
            for r in range(runs):
                t0 = time.perf_counter()
                p = plan(lib, arc, 45, PlanOptions(seed=r))
                times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            pool = Pool([t for t in lib.tracks() if t.duration_s >= 20])
            baseline_greedy(pool, arc.timeline(45))
            t_g = time.perf_counter() - t0
        print(f"| {n:,} | {statistics.median(times):.3f} | {min(times):.3f} | "
              f"{max(times):.3f} | {p.stats['library_tracks_read']} | "
              f"{p.stats['candidates']} | {p.report.objective:.1f} | "
              f"{p.report.within_6pct * 100:.0f} % | {t_g:.2f} |", flush=True)


def seeds(db_path: Path, n_seeds: int = 10) -> None:
    """The spread of the objective over seeds 0..n-1 (45-min montage)."""
    arc = load_arc("montage")
    with open_library(db_path) as lib:
        n_lib = lib.count("ok")
        runs = [plan(lib, arc, 45.0, PlanOptions(seed=s)) for s in range(n_seeds)]
        again = plan(lib, arc, 45.0, PlanOptions(seed=1))
    obj = [p.cost.total for p in runs]
    orders = [tuple(e.track.id for e in p.entries) for p in runs]
    print(f"\n## Seeds: a 45-minute montage for seeds 0–{n_seeds - 1} ({n_lib} analyzed "
          f"tracks, {db_path.name}; PlanOptions.variety {PlanOptions().variety})\n")
    print("| objective min | median | max | max/min | distinct plans | seed 1 repeats |")
    print("|---|---|---|---|---|---|")
    print(f"| {min(obj):.2f} | {statistics.median(obj):.2f} | {max(obj):.2f} | "
          f"{max(obj) / min(obj):.3f} | {len(set(orders))} of {n_seeds} | "
          f"{tuple(e.track.id for e in again.entries) == orders[1]} |")
    print("\nper seed: " + ", ".join(f"{s}: {o:.2f}" for s, o in enumerate(obj)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", default="compare,exact,speed")
    ap.add_argument("--library", choices=("realistic", "synthetic"), default="realistic")
    ap.add_argument("--instances", type=int, default=24)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--db", type=Path, default=None,
                    help="an already scanned library for compare and seeds (skips the scan)")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    if "seeds" in parts:
        seeds(args.db or (realistic_library(jobs=args.jobs) if args.library == "realistic"
                          else synthetic_library(2000)))
    if "compare" in parts:
        db = args.db or (realistic_library(jobs=args.jobs) if args.library == "realistic"
                         else synthetic_library(2000))
        compare(db)
    if "exact" in parts:
        exact_instances(args.instances)
    if "speed" in parts:
        speed(args.runs)


if __name__ == "__main__":
    main()
