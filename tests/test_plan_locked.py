"""Locked tracks (PlanOptions.locked): the planner keeps each at its position and plans
the other places around it under the same rules; on real SQLite libraries (synthetic
Track rows through Library.add_tracks) and through plan_candidates and app.plan."""

from __future__ import annotations

import numpy as np
import pytest

from underdog import app
from underdog.library.db import open_library
from underdog.models import Track
from underdog.planning import PlanOptions, load_arc, plan
from underdog.planning.sequencer import PlanError, plan_candidates

from .test_sequencer import _check_hard_rules

MIN = 30.0


def _rows(n: int, seed: int) -> list[Track]:
    """``n`` analysed tracks of 2.5-5 minutes at 90-170 BPM, about four per artist."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        dur = float(rng.uniform(150, 300))
        out.append(Track(
            id=None, path=f"/locked/{i:04d}.ogg", artist=f"Artist {i % (n // 4)}",
            title=f"Tune {i}", duration_s=dur, bpm=float(rng.uniform(90, 170)),
            energy=float(rng.uniform(0, 1)), camelot=f"{i % 12 + 1}{'AB'[i % 2]}",
            style_label="heavy", style={"heavy": 1.0},
            drops=[{"time_s": float(rng.uniform(5, dur - 5)), "strength": 0.5}]))
    return out


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "lib.db"
    with open_library(path) as lib:
        lib.add_tracks(_rows(200, 3))
    return path


def _rules(p, minutes=MIN):
    _check_hard_rules(p, minutes)  # the sequencer's hard rules: no repeats, artist gap, length


def test_locked_tracks_keep_their_places_and_the_rest_is_replanned(db):
    arc = load_arc("montage")
    with open_library(db) as lib:
        base = plan(lib, arc, MIN)
        ids = [e.track.id for e in base.entries]
        # two of the plan's own tracks at their places, and one it did not pick at 4
        outsider = next(t for t in lib.tracks() if t.id not in ids
                        and t.artist not in {e.track.artist for e in base.entries[:7]})
        locked = ((2, ids[1]), (4, outsider.id), (6, ids[5]))
        p = plan(lib, arc, MIN, PlanOptions(seed=1, locked=locked))
        again = plan(lib, arc, MIN, PlanOptions(seed=1, locked=dict(locked)))
    got = [e.track.id for e in p.entries]
    for pos, tid in locked:
        assert got[pos - 1] == tid
    _rules(p)
    assert p.report.artist_violations == 0
    assert got == [e.track.id for e in again.entries]  # a mapping is the same lock
    # the other places were planned again, not copied from the seed-0 plan
    free = [k for k in range(len(got)) if k + 1 not in dict(locked)]
    assert any(k >= len(ids) or got[k] != ids[k] for k in free)
    assert sum(got.count(t) for t in ids[6:]) < len(ids[6:])


def test_app_plan_takes_locks(db):
    with open_library(db) as lib:
        first = lib.tracks(sort="bpm")[100]
    r = app.plan("montage", MIN, db=db, seed=2, record=False,
                 options=PlanOptions(locked=((3, first.id),)))
    assert r.plan.entries[2].track.id == first.id
    _rules(r.plan)


def test_plan_candidates_takes_locks_whatever_the_filters():
    tracks = _rows(80, 5)
    for i, t in enumerate(tracks):
        t.id = i + 1
    tracks[9].style_label, tracks[9].style = "hiphop", {"hiphop": 1.0}
    arc = load_arc("montage")
    opts = PlanOptions(locked={1: 10}, styles=frozenset({"heavy"}))
    p = plan_candidates(tracks, arc, 20.0, opts)
    assert p.entries[0].track.id == 10  # locked though its style is not asked for
    _rules(p, 20.0)
    assert all(e.track.style_label == "heavy" for e in p.entries[1:])


def test_unusable_locks_are_one_clear_error(db):
    arc = load_arc("montage")
    with open_library(db) as lib:
        t = lib.tracks()[0]
        cases = [
            (((2, 999_999),), r"locked track 999999 \(position 2\) is not an analysed track"),
            (((1, t.id), (3, t.id)), "a track is locked twice"),
            (((0, t.id),), "a locked position is 1 or more"),
            (((60, t.id),), f"locked track {t.id} cannot stay at position 60"),
        ]
        for locked, msg in cases:
            with pytest.raises(PlanError, match=msg):
                plan(lib, arc, 10.0, PlanOptions(locked=locked))
        with pytest.raises(PlanError, match="also left out"):
            plan(lib, arc, 10.0, PlanOptions(locked=((1, t.id),),
                                             exclude_ids=frozenset({t.id})))
        with pytest.raises(PlanError, match="whole-track plans only"):
            plan(lib, arc, 10.0, PlanOptions(locked=((1, t.id),), excerpts=True))
    # a track that failed analysis
    bad = Track(id=None, path="/locked/broken.ogg", status="failed")
    with open_library(db) as lib:
        lib.add_tracks([bad])
        bid = lib.get_track("/locked/broken.ogg").id
        with pytest.raises(PlanError, match=f"locked track {bid} .* not an analysed"):
            plan(lib, arc, 10.0, PlanOptions(locked=((1, bid),)))


class _PrintReads:
    """A library that notes the track ids whose sound prints are read."""

    def __init__(self, lib):
        self.lib, self.reads = lib, []

    def identities(self, ids):
        ids = list(ids)
        self.reads += ids
        return self.lib.identities(ids)

    def __getattr__(self, name):
        return getattr(self.lib, name)


def test_a_locked_copy_keeps_its_place_and_its_twin_stays_out(tmp_path):
    """Real clips scanned into SQLite: a locked FLAC copy of one recording (the copy the
    one-per-recording rule would drop) is planned at its place, its twin never."""
    from .conftest import DEMO_LIBRARY, flac_clip

    music = tmp_path / "music"
    (music / "a").mkdir(parents=True)
    (music / "z").mkdir()
    srcs = [("Nexuiz - Beast of Insanity.ogg", 30), ("Muldjord - Chaos God.ogg", 30),
            ("Muldjord - Armygeddon.mp3", 40), ("Shawn Parrotte - Caves.flac", 10),
            ("Nexuiz - Stairs.mp3", 30)]
    for name, start in srcs:
        flac_clip(DEMO_LIBRARY / name, music / "a" / (name[:-4] + ".flac"), start, 35.0)
    flac_clip(DEMO_LIBRARY / "Shawn Parrotte - Caves.flac", music / "z" / "caves.flac",
              10, 35.0)
    db = tmp_path / "lib.db"
    app.scan([music], db, jobs=1)
    with open_library(db) as lib:
        caves = sorted(t.id for t in lib.tracks() if "aves" in t.path)
        assert len(caves) == 2 and len(lib.tracks()) == 6
        copy = caves[1]  # the higher id: the one the rule drops without a lock
        counted = _PrintReads(lib)
        p = plan(counted, load_arc("montage"), 2.8, PlanOptions(locked=((2, copy),)))
    ids = [e.track.id for e in p.entries]
    assert ids[1] == copy and caves[0] not in ids, ids
    # each candidate's sound print is read once (the locks used to read them all again)
    assert counted.reads and len(counted.reads) == len(set(counted.reads)), counted.reads
    assert len(ids) == len(set(ids)) and p.entries[-1].end_s >= 2.8 * 60


def test_the_web_replan_keeps_the_locks_and_changes_the_rest(db, tmp_path):
    from underdog.web import ops

    toml = app.arc_toml(load_arc("montage"))
    st = ops.build_plan(str(db), toml, MIN)
    old = [e.track.id for e in st.plan.entries]
    st.locked = {old[1], old[3]}
    r = ops.replan(str(db), st)
    new = [e.track.id for e in r.plan.entries]
    assert new[1] == old[1] and new[3] == old[3] and r.locked == st.locked
    _rules(r.plan)
    # 200 tracks: the other places get tracks they did not have
    assert not set(new) & (set(old) - st.locked), (old, new)
