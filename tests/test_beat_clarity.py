"""Beat clarity (issue 15: blends only over bars whose beat is clear): the analyser on real
audio made ambiguous (a demo track with its off-beats as strong as its beats), its storage
(one byte per beat, only the new analyser re-run on an old row), and the planner's use of
it (spans move to clear bars; blends over unclear bars become shorter or cuts, and say
why). Real audio, real SQLite."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from underdog.analysis import analyze_signal
from underdog.audio import load
from underdog.cli import app
from underdog.library.db import open_library
from underdog.models import Track
from underdog.planning.arcs import load_arc
from underdog.planning.excerpts import (CLEAR, UNCLEAR_SHARE, Slot, choose_excerpt,
                                        stored_clarity, track_grid)
from underdog.planning.score import Weights
from underdog.planning.sequencer import PlanOptions, plan

from .conftest import DEMO_LIBRARY
from .excerpt_library import demo_db  # noqa: F401  (the shared scan)

STEPS = {"tempo", "beat_clarity"}


def _ambiguous(seconds: float = 90.0, ambiguous_s: float = 45.0):
    """Nexuiz - Ninesix (a clear, steady beat) from 30 s, mono, with a copy of itself half
    a beat later mixed into its first ``ambiguous_s`` seconds: there the off-beat is as
    strong as the beat (the free library's chipdisko and track25 in a clean form)."""
    y, sr = load(DEMO_LIBRARY / "Nexuiz - Ninesix.m4a")
    y = np.asarray(y[int(30 * sr):int((30 + seconds) * sr)], np.float32)
    beats = np.asarray(analyze_signal(y, sr, steps={"tempo"}).beats, np.float64)
    k = int(round(float(np.median(np.diff(beats))) / 2 * sr))
    h = int(ambiguous_s * sr)
    z = y.copy()
    z[k:h] = 0.5 * (y[k:h] + y[:h - k])
    return z, sr, ambiguous_s


@pytest.fixture(scope="module")
def ambiguous():
    z, sr, edge = _ambiguous()
    return z, sr, edge, analyze_signal(z, sr, steps=STEPS)


def test_clarity_drops_where_the_off_beat_is_as_strong_as_the_beat(ambiguous):
    z, sr, edge, a = ambiguous
    b = np.asarray(a.beats, np.float64)
    c = stored_clarity(a.beat_clarity, len(b))
    assert a.beat_clarity.dtype == np.uint8 and len(a.beat_clarity) == len(b)
    inside = (b > 3.0) & (b < edge - 3.0)  # a bar of context away from the edges
    after = b > edge + 3.0
    # measured: 90 % / 0 % of beats below CLEAR (median clarity 0.04 / 0.46)
    assert np.mean(c[inside] < CLEAR) >= 0.6
    assert np.mean(c[after] < CLEAR) <= 0.1
    assert np.median(c[after]) > 3 * CLEAR


def test_a_span_moves_off_the_ambiguous_bars(ambiguous):
    """An excerpt blended in and out over 8 bars: with the clarity, its blend bars are on
    clear beats; without it (the old planner: equal energy everywhere, the first span
    wins) they lie over the ambiguous bars."""
    z, sr, edge, a = ambiguous
    t = Track(id=1, path="ninesix-ambiguous", duration_s=len(z) / sr, bpm=a.bpm)
    rhythm = (a.beats, a.downbeats, a.phrases, a.beat_clarity)
    g = track_grid(t, rhythm)
    old = track_grid(t, rhythm[:3])
    bar_s = 240.0 / a.bpm
    slot = Slot(index=1, span=0, start_s=60.0, end_s=60.0 + 8 * bar_s, bars=8, tempo=a.bpm,
                target_bpm=a.bpm, target_level=5.0, cut_in=False, want_drop=False,
                overlap_out=8, overlap_in=8)
    new_ex = choose_excerpt(t, g, slot, Weights(), False)
    old_ex = choose_excerpt(t, old, slot, Weights(), False)
    assert new_ex is not None and old_ex is not None

    def blends_unclear(ex) -> bool:
        end = ex.i_in + ex.n_bars
        return bool(g.unclear(ex.i_in, ex.i_in + 8) or g.unclear(end - 8, end))

    assert blends_unclear(old_ex)  # the old choice blends over the ambiguous bars
    assert not blends_unclear(new_ex)
    assert new_ex.in_s >= edge - bar_s


def _unclear_side(lib, entry, first: bool, beats_n: int) -> bool:
    c = stored_clarity(lib.beat_clarity(entry.track.id), len(lib.beats(entry.track.id)))
    b = np.asarray(lib.beats(entry.track.id), np.float64)
    if c is None:
        return False
    if entry.in_s is None:  # whole track: the renderer's first / last beats
        side = c[:beats_n + 1] if first else c[-beats_n - 1:]
    else:
        lo, hi = (entry.in_s, entry.in_s + beats_n * 60.0 / entry.track.bpm) if first else \
            (entry.out_s - beats_n * 60.0 / entry.track.bpm, entry.out_s)
        side = c[(b >= lo - 0.05) & (b < hi - 0.05)]
    return bool(len(side)) and float(np.mean(side < CLEAR)) > UNCLEAR_SHARE


def test_an_excerpt_plan_blends_only_over_clear_beats(demo_db):  # noqa: F811
    """The demo library's montage: every blend's bars have a clear beat on both sides;
    blends that could not are cuts or shorter, and say why (the old planner blended over
    Sectoid - War of Freedom's entry, whose first bars have loose onsets)."""
    with open_library(demo_db) as lib:
        assert len(lib.beat_clarity(1)) == len(lib.beats(1))
        p = plan(lib, load_arc("montage"), 20, PlanOptions(excerpts=True))
        changed = 0
        for prev, e in zip(p.entries, p.entries[1:]):
            tr = e.transition
            changed += tr.get("reason") == "unclear beat"
            if tr["shape"] == "cut":
                continue
            n_out = int(round(4 * tr["bars"] * prev.track.bpm / prev.tempo_bpm))
            n_in = int(round(4 * tr["bars"] * e.track.bpm / e.tempo_bpm))
            assert not _unclear_side(lib, prev, False, n_out), (prev.track.path, tr)
            assert not _unclear_side(lib, e, True, n_in), (e.track.path, tr)
    assert p.stats["unclear_beat"]["shorter"] + p.stats["unclear_beat"]["cuts"] == changed
    assert changed >= 1  # the demo's intros and War of Freedom's entry
    assert any("without a clear beat" in n for n in p.report.notes)
    js = [e.as_dict()["transition"] for e in p.entries]
    assert sum(t.get("reason") == "unclear beat" for t in js) == changed


def test_a_whole_track_plan_cuts_where_an_intro_or_outro_has_no_clear_beat(demo_db):  # noqa: F811
    with open_library(demo_db) as lib:
        p = plan(lib, load_arc("run"), 30, PlanOptions(excerpts=False))
        changed = 0
        for prev, e in zip(p.entries, p.entries[1:]):
            tr = e.transition or {"shape": "equal_power", "bars": 8}  # the renderer's default
            changed += bool(e.transition)
            if tr["shape"] == "cut":
                assert tr["reason"] == "unclear beat"
                continue
            m_prev = {"double": 2.0, "half": 0.5}.get(prev.half_double or "", 1.0)
            m_e = {"double": 2.0, "half": 0.5}.get(e.half_double or "", 1.0)
            assert not _unclear_side(lib, prev, False, int(round(4 * tr["bars"] / m_prev)))
            assert not _unclear_side(lib, e, True, int(round(4 * tr["bars"] / m_e)))
    assert changed >= 1
    assert p.stats["unclear_beat"]["shorter"] + p.stats["unclear_beat"]["cuts"] == changed
    assert "transition" in p.entries[[bool(e.transition) for e in p.entries].index(True)
                                     ].as_dict()


def test_only_the_new_analyser_runs_on_an_old_row(tmp_path):
    """A library scanned before beat clarity (its rows lack it) gets it from a rescan that
    runs only that analyser: beats and everything else stay as stored; the clarity is one
    byte per stored beat. A row without it plans as before (neutral)."""
    y, sr = load(DEMO_LIBRARY / "Nexuiz - Stairs.mp3")
    d = tmp_path / "music"
    d.mkdir()
    sf.write(str(d / "stairs.flac"), y[int(20 * sr):int(80 * sr)], sr)
    db = tmp_path / "lib.db"
    r = CliRunner().invoke(app, ["scan", str(d), "--db", str(db)])
    assert r.exit_code == 0, r.output
    con = sqlite3.connect(db)
    before = con.execute("SELECT beats, downbeats, phrases FROM beats").fetchall()
    rows = con.execute("SELECT * FROM tracks").fetchall()
    n_beats = len(np.frombuffer(before[0][0], "<f4"))
    assert len(con.execute("SELECT beat_clarity FROM clarity").fetchone()[0]) == n_beats
    # make it an old row: no clarity, no version for it
    con.execute("DELETE FROM clarity")
    con.execute("UPDATE tracks SET analysers = json_remove(analysers, '$.beat_clarity')")
    con.commit()
    with open_library(str(db)) as lib:
        assert len(lib.beat_clarity(1)) == 0
        t = lib.get_track(1)
        assert track_grid(t, tuple(lib.rhythm(1)) + (lib.beat_clarity(1),)).unclear_cum is None
    r = CliRunner().invoke(app, ["scan", str(d), "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert con.execute("SELECT beats, downbeats, phrases FROM beats").fetchall() == before
    after = con.execute("SELECT * FROM tracks").fetchall()
    cols = [c[1] for c in con.execute("PRAGMA table_info(tracks)")]
    changed = {c for c, x, y2 in zip(cols, rows[0], after[0]) if x != y2}
    assert changed <= {"updated_at"}, changed
    assert len(con.execute("SELECT beat_clarity FROM clarity").fetchone()[0]) == n_beats
    con.close()
