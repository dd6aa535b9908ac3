"""Round arcs (issue 14): boxing presets, tabata and hiit plan every work/rest boundary on a
transition or a drop, to the beat; the plan marks its round cues; a library too small for
the rounds warns once per round and never crashes. Real scan of the demo library."""

from __future__ import annotations

import shutil

import pytest
from underdog.library.db import open_library
from underdog.planning.arcs import ArcError, load_arc
from underdog.planning.sequencer import PlanOptions, plan, plan_candidates

from .excerpt_library import demo_db  # noqa: F401  (the shared scan)


@pytest.fixture(scope="module")
def lib(demo_db):  # noqa: F811
    with open_library(demo_db) as lib:
        yield lib


def _boundaries(p) -> list[float]:
    """Session times of every work/rest boundary (a round's start and end)."""
    out = []
    for sp in p.timeline.spans:
        if sp.segment.round:
            out += [sp.start_s, sp.end_s]
    return sorted(set(round(x, 6) for x in out))


def _on_transition_or_drop(p, t: float) -> bool:
    for e in p.entries:
        beat = 60.0 / e.tempo_bpm
        if abs(e.start_s - t) <= beat or (e.drop_at_s is not None
                                           and abs(e.drop_at_s - t) <= beat):
            return True
    return False


@pytest.mark.parametrize("name,kw,rounds", [
    ("boxing", {}, 3),                              # amateur: 3 × 3 min / 1 min
    ("boxing", {"preset": "pro-women", "rounds": 4}, 4),
    ("tabata", {}, 8),                              # 8 × 20 s / 10 s
    ("hiit", {"work": 1.0, "rest": 0.5, "rounds": 3}, 3),
])
def test_every_round_boundary_is_on_a_transition_or_a_drop(lib, name, kw, rounds):
    arc = load_arc(name, **kw)
    p = plan(lib, arc, None, PlanOptions(excerpts=None))  # the arc's default: excerpts
    assert p.excerpts
    bounds = _boundaries(p)
    assert len(bounds) >= 2 * rounds - 1
    missed = [t for t in bounds if not _on_transition_or_drop(p, t)]
    assert not missed, missed
    cues = p.as_dict()["cues"]
    assert [c["kind"] for c in cues] == ["round_start", "round_end"] * rounds
    assert [c["round"] for c in cues[::2]] == list(range(1, rounds + 1))
    work = [sp for sp in p.timeline.spans if sp.segment.round and sp.segment.peak]
    assert [c["at_s"] for c in cues[::2]] == [pytest.approx(sp.start_s, abs=1e-3) for sp in work]
    # every excerpt is whole bars at its tempo: its slot ends on a beat of its grid
    for e in p.entries:
        assert e.in_s < e.out_s and e.bars >= 1
    if name == "tabata":  # 20 s of work: whole bars at (about) the target tempo
        for sp in work:
            e = next(e for e in p.entries if abs(e.start_s - sp.start_s) < 1.0)
            body = e.bars * 240.0 / e.tempo_bpm
            assert body == pytest.approx(20.0, abs=60.0 / e.tempo_bpm)


def test_boxing_presets_and_overrides():
    assert [s.round for s in load_arc("boxing", preset="pro").segments
            if s.peak] == list(range(1, 13))
    pro = load_arc("boxing", preset="pro")
    assert pro.minutes == pytest.approx(5 + 12 * 3 + 11 * 1 + 5)
    women = load_arc("boxing", preset="pro-women")
    assert sum(1 for s in women.segments if s.peak) == 10
    assert all(s.minutes == 2.0 for s in women.segments if s.peak)
    assert "custom" in load_arc("boxing", preset="pro", rounds=4).description
    with pytest.raises(ArcError, match="unknown boxing preset 'pros'.*did you mean 'pro'"):
        load_arc("boxing", preset="pros")
    with pytest.raises(ArcError, match="--preset is for"):
        load_arc("montage", preset="pro")


def test_a_library_too_small_for_the_rounds_warns_per_round(demo_db, tmp_path):  # noqa: F811
    small = tmp_path / "small.db"
    shutil.copy(demo_db, small)
    with open_library(small) as lib:
        keep = {t.id for t in lib.tracks() if "Beast" in t.display or "Hell" in t.display}
        assert len(keep) == 2
        lib.forget([t.path for t in lib.tracks() if t.id not in keep])
        assert lib.count() == 2
        p = plan(lib, load_arc("boxing", preset="pro"), None, PlanOptions(excerpts=True))
    assert p.entries and p.entries[-1].end_s == pytest.approx(p.timeline.total_s)
    for r in range(1, 13):
        lines = [w for w in p.warnings if w.startswith(f"round {r} (work)")]
        assert len(lines) == 1, (r, p.warnings)
    assert all("used twice" in w or "energy" in w or "tempo" in w
               for w in p.warnings if w.startswith("round"))


def _bench_planner():
    """bench/planner.py as a module (the bound lives with the benchmark that quotes it)."""
    import importlib
    import sys
    from pathlib import Path

    bench = str(Path(__file__).resolve().parents[1] / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    return importlib.import_module("planner")


def test_contiguous_bound_is_the_best_disjoint_windows(lib):
    """The bench's contiguity-aware bound on the work rounds' energy error equals a brute
    force over the demo library: one work slot, the best window of consecutive bars of any
    track that can play there; two, the best two disjoint windows (one track or two)."""
    import math

    import numpy as np
    from underdog.planning.excerpts import (ExcerptOptions, make_slots, play_multiple,
                                            track_grid)

    bp = _bench_planner()
    tracks = [t for t in lib.tracks() if t.duration_s and t.duration_s >= 20]
    for rounds in (1, 2):
        arc = load_arc("hiit", work=0.5, rest=0.5, rounds=rounds)
        for seg in arc.segments:  # work at 120 BPM, which several demo tracks can play
            seg.bpm = (120.0, 120.0) if seg.round and seg.peak else seg.bpm
        tl = arc.timeline(None)
        work = [s for s in make_slots(tl, ExcerptOptions()) if s.work]
        assert len(work) == rounds and len({s.bars for s in work}) == 1
        n, tempo, target = work[0].bars, work[0].tempo, work[0].target_level
        singles, pairs = [], []
        for t in tracks:
            g = track_grid(t, lib.rhythm(t.id))
            m = play_multiple(240.0 * g.n_bars / float(g.downbeats[-1] - g.downbeats[0]),
                              tempo, True) if g is not None else None
            if m is None:
                continue
            w = int(math.ceil(n / m - 1e-9))
            err = np.array([np.mean(np.abs(g.levels[i:i + w] - target))
                            for i in range(g.n_bars - w + 1)])
            if not len(err):
                continue
            singles.append(float(err.min()))
            pairs += [float(err[i] + err[j]) for i in range(len(err))
                      for j in range(i + w, len(err))]
        singles.sort()
        brute = singles[0] if rounds == 1 else min(pairs + [singles[0] + singles[1]]) / 2
        got = bp._contiguous_bound(lib, tracks, tl)
        assert got == pytest.approx(brute, abs=1e-9)


def _copies(lib, n: int, seed: int):
    """``n`` copies of the demo library's analysed tracks, each a little faster or slower
    (tempo × e^N(0, 0.03): every time scaled, as bench/planner.py's copied library), with
    their real bars and energy curves; their rhythm by id. A library large enough for
    rounds without playing a part twice."""
    import dataclasses
    import os

    import numpy as np

    rng = np.random.default_rng(seed)
    base = [t for t in lib.tracks() if t.bpm and t.duration_s]
    tracks, rhythm = [], {}
    for c in range(n):
        for t in base:
            f = float(np.exp(rng.normal(0.0, 0.03)))
            k = 1000 * (c + 1) + t.id
            tracks.append(dataclasses.replace(
                t, id=k, path=f"/copies/{c}/{os.path.basename(t.path)}",
                artist=f"{t.artist} {c}", bpm=t.bpm * f, duration_s=t.duration_s / f,
                drops=[{**d, "time_s": d["time_s"] / f} for d in (t.drops or [])],
                energy_curve_hop_s=(t.energy_curve_hop_s / f if t.energy_curve_hop_s
                                    else None), tempo_segments=[]))
            rhythm[k] = tuple(np.asarray(a, np.float64) / f for a in lib.rhythm(t.id)[:3])
    return tracks, rhythm


def _work_bars(p, rhythm):
    """Per work excerpt of plan ``p``: (track bars it plays, their mean |level − target|
    as the planner reads bar levels, at most 6 a bar)."""
    import numpy as np
    from underdog.planning.excerpts import track_grid

    out = []
    for e in p.entries:
        if e.peak and e.round:
            g = track_grid(e.track, rhythm[e.track.id])
            i, j = (int(np.argmin(np.abs(g.downbeats - x))) for x in (e.in_s, e.out_s))
            out.append((j - i, float(np.mean(np.minimum(np.abs(g.levels[i:j] - e.target_level),
                                                        6.0)))))
    return out


def _played_twice_s(p) -> float:
    spans: dict = {}
    for e in p.entries:
        spans.setdefault(e.track.id, []).append((e.in_s, e.out_s))
    total = 0.0
    for v in spans.values():
        v.sort()
        end = -float("inf")
        for a, b in v:
            total += max(0.0, min(b, end) - a)
            end = max(end, b)
    return total


def test_work_rounds_keep_the_reuse_gap_in_their_filling(lib):
    """Work rounds, loud first, with the reuse gap in the filling: a track comes back 10
    excerpts later at most, so the best filling of the work slots gives it no more windows
    than it can play, and each window gets a work slot where it may play. Four copies of
    the demo library (48 tracks, real bars and energy curves), boxing's amateur format:
    the old filling gave one loud part to two work slots 4 excerpts apart, and the plan
    played it twice (165 s); now no part is played twice and every work excerpt is
    within a level of the target."""
    tracks, rhythm = _copies(lib, 4, seed=1)
    p = plan_candidates(tracks, load_arc("boxing"), None, PlanOptions(excerpts=True),
                        rhythm=rhythm)
    assert _played_twice_s(p) == 0.0, [(e.track.id, e.in_s, e.out_s) for e in p.entries]
    work = _work_bars(p, rhythm)
    assert len(work) == 6 and max(e for _, e in work) <= 1.0, work


def test_tabata_work_slots_reach_the_filling_under_the_reuse_gap(lib):
    """Tabata (8 × 20 s of work at 160 BPM, level 9) on four copies of the demo library:
    the work excerpts are the best filling's windows under the reuse gap, so their bars
    are as near the target as that filling (fill_windows with its caps: a window per
    track at most as many as there are work slots 10 or more excerpts apart: 2) allows
    (0.295 levels a bar; the old planner, whose filling ignored the gap, 0.341)."""
    from underdog.planning.excerpts import (ExcerptOptions, REUSE_GAP, fill_windows,
                                            make_slots, play_multiple, track_grid)

    tracks, rhythm = _copies(lib, 4, seed=1)
    arc = load_arc("tabata")
    p = plan_candidates(tracks, arc, None, PlanOptions(excerpts=True), rhythm=rhythm)
    work = _work_bars(p, rhythm)
    got = sum(n * e for n, e in work) / sum(n for n, _ in work)
    slots = make_slots(arc.timeline(None), ExcerptOptions())
    ws = [s for s in slots if s.work]
    assert len(ws) == 8 and len({(s.bars + s.overlap_out, s.target_level) for s in ws}) == 1
    pos = [s.index for s in ws]
    cap, last = 0, -REUSE_GAP  # work slots REUSE_GAP or more apart: a track's most windows
    for x in pos:
        if x - last >= REUSE_GAP:
            cap, last = cap + 1, x
    items = []
    for t in tracks:
        g = track_grid(t, rhythm[t.id])
        own = 240.0 * g.n_bars / float(g.downbeats[-1] - g.downbeats[0])
        m = play_multiple(own, ws[0].tempo, True)
        if m is not None:
            items.append((g.levels, m))
    n = ws[0].bars + ws[0].overlap_out
    best, _ = fill_windows(items, [n], [9.0], [8], 6.0, ([cap], cap))
    assert cap == 2
    assert got <= best / (8 * n) + 0.02, (got, best / (8 * n), work)


def test_fill_windows_keeps_an_artist_to_what_the_artist_rule_lets_play():
    """fill_windows with groups (an artist's tracks, the most windows they may hold in
    all) against a brute force: three slots of 2 bars at level 9; the three loudest
    tracks are one artist's; an artist may hold 1 window (a track without one, any).
    Without the groups the filling gives that artist all three (the free library's
    boxing 12 x 3/1: one artist held 14 of 24 windows, the schedule could play 8, and
    found none)."""
    import itertools

    import numpy as np
    from underdog.planning.excerpts import fill_windows

    levels = [np.array(x, np.float64) for x in ([9, 9, 1, 9, 9, 2], [9, 8.5, 8, 9, 2, 2],
                                                [9, 9, 3, 3, 3, 3], [8, 8, 7, 8, 8, 7],
                                                [6, 7, 7, 6, 1, 1])]
    artist = [0, 0, 0, 1, -1]
    tracks = [(lv, 1.0) for lv in levels]

    def brute(cap: int) -> float:
        wins = [(t, b, float(np.abs(lv[b:b + 2] - 9.0).sum()))
                for t, lv in enumerate(levels) for b in range(len(lv) - 1)]
        best = np.inf
        for pick in itertools.combinations(wins, 3):
            held = [(t, b) for t, b, _ in pick]
            if any(t1 == t2 and abs(b1 - b2) < 2 for (t1, b1), (t2, b2)
                   in itertools.combinations(held, 2)):
                continue
            if any(sum(artist[t] == a for t, _ in held) > cap for a in (0, 1)):
                continue
            best = min(best, sum(e for _, _, e in pick))
        return best

    free, wins = fill_windows(tracks, [2], [9.0], [3])
    assert free == pytest.approx(brute(3)) and all(artist[t] == 0 for t, _, _ in wins[0])
    got, wins = fill_windows(tracks, [2], [9.0], [3], groups=(artist, 1))
    assert got == pytest.approx(brute(1)) and got > free
    assert sum(artist[t] == 0 for t, _, _ in wins[0]) == 1 and len(wins[0]) == 3
    held = sorted((t, b) for t, b, _ in wins[0])
    assert all(t1 != t2 or b2 - b1 >= 2 for (t1, b1), (t2, b2) in zip(held, held[1:]))
    assert got == pytest.approx(sum(2 * e for _, _, e in wins[0]))


def test_schedule_starts_at_the_open_slots_an_artist_forces():
    """_schedule where one artist holds more windows than the artist rule lets it play
    (boxing 12 x 3/1, work slots 2 of every 3 excerpts: an artist plays at most 8 of
    them; it holds 14 of 24): 6 slots must stay open. Searching from 0 open slots spent
    the whole budget proving 0-4 impossible and gave no schedule, leaving every work
    slot to the beam (on the free library, a round 12 at level 3.5); starting at 6 it
    finds one at once, every window of that artist 4 or more excerpts apart."""
    import numpy as np
    from underdog.planning.excerpts import _schedule

    work = [3 * r + k for r in range(1, 13) for k in (0, 1)]
    kind = [k for _ in range(12) for k in (0, 1)]
    wins = [[(20 * k + j, 0, 0.1 * j) for j in range(12)] for k in (0, 1)]
    artist = np.full(40, -1)
    for k in (0, 1):
        for j in range(12):
            artist[20 * k + j] = 0 if j < 7 else 1 + 5 * k + (j - 7)
    got = _schedule(work, kind, wins, artist, 3)
    assert got is not None and sum(x is None for x in got) == 6
    last = {}
    for p, x in zip(work, got):
        if x is not None:
            a = int(artist[x[0]])
            assert p - last.get(a, -99) > 3
            last[a] = p
    assert sum(x is not None and artist[x[0]] == 0 for x in got) == 8
