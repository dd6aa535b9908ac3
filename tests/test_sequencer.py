"""The sequencer on real SQLite libraries built with Library.add_tracks: hard rules,
determinism, novelty, half/double time, missing values and the "can't fill" message."""

from __future__ import annotations

import numpy as np
import pytest

from underdog.library.db import open_library
from underdog.models import Track
from underdog.planning import PlanOptions, load_arc, plan, score_tracks
from underdog.planning.arcs import Arc, Segment
from underdog.planning.score import ARTIST_GAP, Pool, plan_cost

STYLES = ("heavy", "indie_synth", "hiphop", "atmospheric")


def make_tracks(n: int, seed: int, *, bpm=(100.0, 160.0), n_artists: int | None = None,
                start: int = 1) -> list[Track]:
    rng = np.random.default_rng(seed)
    n_artists = n_artists or max(2, n // 4)
    out = []
    for i in range(n):
        p = rng.dirichlet(np.ones(4))
        dur = float(rng.uniform(150, 300))
        out.append(Track(
            id=None, path=f"/music/{seed}/{start + i:05d}.ogg",
            artist=f"Band {int(rng.integers(n_artists))}", title=f"Song {start + i}",
            duration_s=dur, bpm=float(rng.uniform(*bpm)), energy=float(rng.uniform(0, 1)),
            camelot=f"{int(rng.integers(1, 13))}{'AB'[int(rng.integers(2))]}",
            style={s: float(x) for s, x in zip(STYLES, p)}, style_label=STYLES[int(p.argmax())],
            drops=[{"time_s": float(rng.uniform(5, dur - 5)), "strength": float(rng.uniform())}]))
    return out


@pytest.fixture
def lib(tmp_path):
    with open_library(tmp_path / "lib.db") as lib:
        lib.add_tracks(make_tracks(400, 1))
        yield lib


def _check_hard_rules(p, minutes):
    ids = [e.track.id for e in p.entries]
    assert len(ids) == len(set(ids)), "a track twice"
    arts = [e.track.artist for e in p.entries]
    for i in range(len(arts)):
        for j in range(i + 1, min(i + ARTIST_GAP + 1, len(arts))):
            assert arts[i] != arts[j], f"{arts[i]} at {i} and {j}"
    end = p.entries[-1].end_s
    last = p.entries[-1].track.duration_s
    assert minutes * 60 <= end < minutes * 60 + last  # within one track of the target
    assert p.entries[-1].start_s < minutes * 60


@pytest.mark.parametrize("arc,minutes", [("montage", 45), ("hiit", 40), ("lift", 30)])
def test_hard_rules_and_length(lib, arc, minutes):
    p = plan(lib, load_arc(arc), minutes)
    _check_hard_rules(p, minutes)
    assert p.report.artist_violations == 0


def test_failed_and_missing_tracks_are_never_used(tmp_path):
    with open_library(tmp_path / "x.db") as lib:
        good = make_tracks(120, 2)
        # Perfect fits for a run at 150, but failed or missing.
        bad = [Track(id=None, path=f"/music/bad{i}.ogg", artist=f"Bad {i}", title="x",
                     duration_s=240, bpm=150.0, energy=0.67, camelot="8A",
                     style={"heavy": 1.0}, style_label="heavy",
                     status="failed" if i % 2 else "missing") for i in range(30)]
        lib.add_tracks(good + bad)
        p = plan(lib, load_arc("run", cadence=150), 30)
        assert p.entries
        assert all(e.track.status == "ok" for e in p.entries)
        assert not any(e.track.path.startswith("/music/bad") for e in p.entries)


def test_same_seed_same_playlist_other_seeds_vary(lib):
    arc = load_arc("montage")
    runs = [[e.track.id for e in plan(lib, arc, 45, PlanOptions(seed=s)).entries]
            for s in (7, 7, *range(8, 16))]
    # The search often lands on the same best plan; over 8 other seeds it does not always.
    assert runs[0] == runs[1]
    assert len({tuple(r) for r in runs}) >= 2


def test_plan_objective_is_the_reported_one_and_beats_a_shuffle(lib):
    arc = load_arc("montage")
    p = plan(lib, arc, 45)
    r = score_tracks(p.tracks, arc.timeline(45))
    assert r.objective == pytest.approx(p.report.objective)
    assert r.objective == pytest.approx(p.cost.total)
    # A random order of the same tracks scores worse on the same objective.
    rng = np.random.default_rng(0)
    pool = Pool(p.tracks)
    worse = 0
    for _ in range(5):
        order = list(rng.permutation(len(p.tracks)))
        worse += plan_cost(pool, order, arc.timeline(45)).total > p.cost.total
    assert worse == 5
    assert p.report.within_6pct >= 0.8


def test_order_costs_are_plan_for_order_costs():
    """Ranking hand edits costs each order without planning it: the same cost as the
    plan of that order."""
    from underdog.planning.sequencer import order_costs, plan_for_order

    arc, tracks = load_arc("montage"), make_tracks(14, 7)
    for k, t in enumerate(tracks):
        t.id = k + 1
    orders = [tracks[:12], tracks[11::-1], tracks[2:14]]
    got = order_costs(orders, arc, 45)
    assert [c.total for c in got] == [plan_for_order(o, arc, 45).cost.total for o in orders]
    assert len({c.total for c in got}) == 3


def test_avoid_recent_skips_the_last_plans(lib):
    arc = load_arc("montage")
    first = plan(lib, arc, 30)
    lib.record_plan([e.track.id for e in first.entries], arc.name, 0)
    second = plan(lib, arc, 30, PlanOptions(avoid_recent=1))
    assert not {e.track.id for e in first.entries} & {e.track.id for e in second.entries}
    again = plan(lib, arc, 30)  # without the option the same plan comes back
    assert [e.track.id for e in again.entries] == [e.track.id for e in first.entries]


def test_half_time_counts_for_a_run(tmp_path):
    with open_library(tmp_path / "x.db") as lib:
        lib.add_tracks(make_tracks(60, 3, bpm=(78.0, 82.0)) +
                       make_tracks(60, 4, bpm=(100.0, 120.0), start=1000))
        p = plan(lib, load_arc("run", cadence=160), 30)
        assert all(e.half_double == "double" for e in p.entries)
        assert all(78 <= e.track.bpm <= 82 for e in p.entries)
        assert p.report.within_6pct == 1.0 and p.report.bpm_mae < 4


def test_missing_values_are_a_weaker_fit_not_a_crash(tmp_path):
    with open_library(tmp_path / "x.db") as lib:
        ts = make_tracks(80, 5)
        for i, t in enumerate(ts):
            if i % 2:
                t.energy, t.camelot, t.style, t.style_label, t.drops = None, None, {}, None, []
        lib.add_tracks(ts)
        p = plan(lib, load_arc("montage"), 30)
        _check_hard_rules(p, 30)
        assert any(e.level is None for e in p.entries) or p.entries
        for e in p.entries:
            assert e.why


def test_cannot_fill_says_where_and_why(tmp_path):
    arc = Arc("sprint", [
        Segment("easy", bpm=(120.0, 120.0), energy=(4.0, 4.0), share=0.5),
        Segment("sprint", bpm=(150.0, 160.0), energy=(9.5, 9.5), share=0.5,
                half_double=False, peak=True),
    ])
    with open_library(tmp_path / "x.db") as lib:
        # Nothing above 132 BPM.
        lib.add_tracks(make_tracks(150, 6, bpm=(110.0, 132.0)))
        p = plan(lib, arc, 30)
        _check_hard_rules(p, 30)  # it still does its best
        msg = " | ".join(p.warnings)
        assert "'sprint'" in msg and "no tracks at" in msg
        assert "BPM" in msg and "energy ≥ 8" in msg and "nearest:" in msg
        # The nearest tracks named are the fastest the library has.
        fastest = max(t.bpm for t in lib.tracks())
        assert f"({fastest:.0f} BPM" in msg
        assert "'easy'" not in msg
