"""Plans checked by ear (app.planning.heard_plans): a blend whose beat the render's beat
check would hear unsteady is planned again before any render. Real audio: the demo
library, one track's file swapped for a copy whose beat moves by a 16th inside a blend."""

from __future__ import annotations

import shutil
from pathlib import Path
import sqlite3

import numpy as np
import pytest
import soundfile as sf

from underdog import app
from underdog.app.planning import get_arc, heard_plans
from underdog.library.db import open_library
from underdog.planning.excerpts import beats_of_bars
from underdog.planning.sequencer import PlanOptions, alternatives
from underdog.render.source import MIX_SR, read_span

from .excerpt_library import demo_db  # noqa: F401  (fixture)

READABLE = (".mp3", ".ogg", ".flac")  # what libsndfile reads here (for the copy)


def _blend_into_readable(p):
    """The first blend of plan ``p`` into a track libsndfile can read: (entry index)."""
    for k, e in enumerate(p.entries[1:], start=1):
        if (e.transition or {}).get("shape") != "cut" and \
                e.track.path.endswith(READABLE):
            return k
    pytest.skip("the demo montage has no blend into an MP3/Ogg/FLAC track")


def test_a_blend_the_render_would_warn_of_is_planned_again(demo_db, tmp_path):  # noqa: F811
    db = tmp_path / "u.db"
    shutil.copyfile(demo_db, db)
    first = app.plan("montage", 20, db=db, record=False, check_beats=False).plan
    k = _blend_into_readable(first)
    e = first.entries[k]
    tid, bars = e.track.id, (e.transition or {}).get("bars", 8)  # none: the render's 8
    with open_library(db) as lib:
        beats, down, _ = lib.rhythm(tid)
        stored = np.array(lib.beat_clarity(tid))
        # untouched, its blend is heard steady: nothing is planned again
        calls: list = []
        kept, _ = heard_plans(lib, [first], None, lambda src: (calls.append(src), ([], None))[1])
        assert not calls and kept == [first]
    # the incoming track's audio from the middle of its blend on comes a 16th later
    period = float(np.median(np.diff(beats)))
    start = float(e.in_s) if e.in_s is not None else float(beats[0])  # a whole track: its
    mid = start + bars * 4 * period / 2                                  # first beat
    x = read_span(e.track.path, 0.0, float(beats[-1]) + 5.0, MIX_SR)
    a, d = int(round(mid * MIX_SR)), int(round(0.25 * period * MIX_SR))
    y = np.concatenate([x[:, :a], x[:, a - d:]], axis=1)
    jumped = tmp_path / "jumped.flac"
    sf.write(jumped, y.T, MIX_SR)
    with sqlite3.connect(db) as c:
        c.execute("UPDATE tracks SET path = ? WHERE id = ?", (str(jumped), tid))
    again = app.plan("montage", 20, db=db, record=False, check_beats=False).plan
    k2 = next((i for i, x2 in enumerate(again.entries) if x2.track.id == tid), None)
    if k2 is None or again.entries[k2].in_s != e.in_s or \
            (again.entries[k2].transition or {}).get("shape") == "cut":
        pytest.skip("the plan changed with the track's path")
    seen = []
    with open_library(db) as lib:
        plans, note = heard_plans(lib, [again], None,
                                  lambda src: (seen.append(src), alternatives(
                                      src, get_arc("montage"), 1, 12, PlanOptions()))[1])
        assert seen, "the blend over the moved beat was not heard"
        heard = np.asarray(seen[0].beat_clarity(tid))
        marked = np.flatnonzero(heard == 0)
        new = np.flatnonzero((heard == 0) & (stored != 0))
        assert len(new)
        np.testing.assert_array_equal(lib.beat_clarity(tid), stored)  # the library untouched
        # whole bars: every beat of a bar that got a new mark is marked
        bar = np.searchsorted(np.round(down, 3), np.round(beats, 3), side="right")
        assert all((heard[bar == bar[i]] == 0).all() for i in new)
        # over a quarter of the blend's beats: the line meets one side of the jump only
        blend = np.flatnonzero((beats >= start - 0.1) & (beats < start + bars * 4 * period))
        assert np.isin(blend, marked).mean() > 0.25
    new = plans[0]
    k3 = next((i for i, x3 in enumerate(new.entries) if x3.track.id == tid), None)
    assert k3 is None or new.entries[k3].in_s != e.in_s or \
        (new.entries[k3].transition or {}).get("shape") == "cut" or \
        new.entries[k3].transition.get("bars", 0) < bars
    assert any("beat check heard" in n for n in new.report.notes)


def test_beats_of_bars_marks_whole_bars():
    beats = np.arange(40) * 0.5
    down = beats[::4]
    got = beats_of_bars(beats, down, np.array([5.1, 12.0]))
    assert got == set(range(8, 12)) | set(range(24, 28))
    assert beats_of_bars(beats, down, np.zeros(0)) == set()
    assert beats_of_bars(beats, down[:2], np.array([5.1])) == set(range(8, 12))  # no downbeats


def test_the_render_of_a_checked_plan_reads_its_lines_once(demo_db, tmp_path):  # noqa: F811
    """``plan --render``: the render takes the beat lines the plan's check read (at the mix
    rate whatever the output's), so it reads none again and makes the same mix."""
    import av

    r = app.plan("montage", 4, db=demo_db, record=False)
    assert r.heard_lines  # the lines of its overlaps (cuts onto drops too)
    got = {}
    for name, lines in (("again", None), ("reused", r.heard_lines)):
        out = tmp_path / f"{name}.opus"  # 48 kHz: the check read at 44.1
        rep = app.render_plan(r.as_dict(), out, db=demo_db, heard_lines=lines)
        with av.open(str(out)) as c:
            got[name] = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
        got[name + " refine s"] = rep.seconds["refine"]
    assert got["reused refine s"] == 0.0 < got["again refine s"]
    np.testing.assert_array_equal(got["reused"], got["again"])


def test_like_render_reuses_the_lines_its_check_read(demo_db, tmp_path):  # noqa: F811
    """``like --render``: the rebuild's check by ear hands its beat lines to the render."""
    ref = tmp_path / "ref.m3u8"
    lib_dir = Path(__file__).resolve().parents[1] / "examples" / "library"
    ref.write_text("#EXTM3U\n" + "".join(
        f"{lib_dir / n}\n" for n in ("Sectoid - Feelings.opus", "Nexuiz - Stairs.mp3",
                                     "Muldjord - Chaos God.ogg")))
    r = app.like(str(ref), 5, db=demo_db, record=False)
    assert len(r.plan.entries) >= 2 and r.heard_lines
    rep = app.render_plan(app.planning.like_record(r), tmp_path / "mix.opus", db=demo_db,
                          heard_lines=r.heard_lines)
    assert rep.seconds["refine"] == 0.0
