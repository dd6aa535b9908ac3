"""Excerpts whose bars hold the session's 4 beats. The planner counts a track's tempo and
the session's clock in bars of 4 beats; where a track's downbeats hold a bar of 3 or 5
beats (a real odd bar, or one the downbeat tracker put a beat off), a short excerpt over
it plays all its beats that much off the slot's tempo, more in its body, where the render
absorbs it (the demo library's tabata: an excerpt refitted 1.039x -> 1.063x, warned), and
a track in 3/4 would be read at 4/3 of its tempo. Real scan of the demo library."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from underdog.app.render import open_library_beats
from underdog.library.db import open_library
from underdog.planning.arcs import load_arc, montage
from underdog.planning.excerpts import (Slot, bar_first_beats, choose_excerpt, fill_windows,
                                        track_grid)
from underdog.planning.score import Weights
from underdog.planning.sequencer import PlanOptions, plan
from underdog.render.render import lay_out, plan_from_json

from .excerpt_library import demo_db  # noqa: F401  (the shared scan)


def _off_four(beats: np.ndarray, downbeats: np.ndarray, in_s: float, out_s: float) -> float:
    """How far (fraction) the stored beats from ``in_s`` to ``out_s`` are from 4 a bar."""
    at = bar_first_beats(beats, np.array([in_s, out_s]), float(np.median(np.diff(beats))))
    bars = int(np.sum((downbeats >= in_s - 0.05) & (downbeats <= out_s + 0.05))) - 1
    return abs(int(at[1] - at[0]) - 4 * bars) / (4 * bars)


@pytest.fixture(scope="module")
def plans(demo_db):  # noqa: F811
    arcs = [(montage(), 30.0), (load_arc("boxing"), None), (load_arc("tabata"), None)]
    with open_library(demo_db) as lib:
        beats_for = open_library_beats(lib)
        out = []
        for arc, minutes in arcs:
            p = plan(lib, arc, minutes, PlanOptions(excerpts=True))
            rp = plan_from_json({"entries": [e.as_dict() for e in p.entries]})
            out.append((arc.name, p, lay_out(rp, beats_for, refine=False), beats_for))
        yield out


def test_no_short_excerpt_over_a_bar_of_3_or_5_beats(plans):
    """Every excerpt's beats within 1.25 % of 4 a bar (a bar of 5 beats in 20 bars or
    more); the old planner played 65 beats as 16 bars (montage), 1.43 % (boxing) and
    2.27 % (tabata)."""
    for name, p, _, beats_for in plans:
        for e in p.entries:
            beats, downbeats = beats_for(e.path)
            assert _off_four(beats, downbeats, e.in_s, e.out_s) <= 0.0125, \
                (name, e.position, e.title, e.bars)


def test_the_render_keeps_every_excerpt_at_its_planned_rate(plans):
    """No body refitted past 2 % to keep the plan's timing."""
    said = [(name, e.position, w) for name, p, places, _ in plans
            for e, pl in zip(p.entries, places) for w in pl.warnings
            if "to keep the plan's timing" in w]
    assert said == []


def test_a_track_in_three_four_is_not_cut_into_four_beat_bars(demo_db):  # noqa: F811
    """The same stored beats of a demo track, with a downbeat every 4th beat, give an
    excerpt at its tempo; with one every 3rd (3/4), none, at its tempo or at 4/3 of it
    (where the old planner, counting 4 beats a bar, cut it as a track of that tempo): its
    bars cannot be the session's."""
    with open_library(demo_db) as lib:
        t = next(t for t in lib.tracks() if t.title == "Beast of Insanity")
        beats = np.asarray(lib.rhythm(t.id)[0], np.float64)
    tempo = 60.0 * (len(beats) - 1) / float(beats[-1] - beats[0])
    slot = Slot(index=0, span=0, start_s=0.0, end_s=16 * 240.0 / tempo, bars=16, tempo=tempo,
                target_bpm=tempo, target_level=8.0, cut_in=True, want_drop=False)
    four = track_grid(t, (beats, beats[::4], beats[::32]))
    three = track_grid(dataclasses.replace(t, id=t.id + 1000), (beats, beats[::3], beats[::24]))
    ex = choose_excerpt(t, four, slot, Weights(), False)
    assert ex is not None and ex.own_bpm == pytest.approx(tempo, rel=0.02)
    for bpm in (tempo, tempo * 4 / 3):  # counted 4 beats a bar, it would fit the second
        fast = dataclasses.replace(slot, tempo=bpm, target_bpm=bpm)
        assert choose_excerpt(t, three, fast, Weights(), True) is None, bpm


def test_fill_windows_skips_a_window_over_an_odd_bar():
    """A work round's filling takes no window whose beats are off 4 a bar: of two equally
    loud 4-bar stretches, the one whose second bar holds 5 beats is passed over."""
    levels = np.array([9.0, 9.0, 9.0, 9.0, 3.0, 9.0, 9.0, 9.0, 9.0])
    per_bar = np.array([4, 5, 4, 4, 4, 4, 4, 4, 4])
    beats_cum = np.concatenate([[0], np.cumsum(per_bar)])
    total, wins = fill_windows([(levels, 1.0, beats_cum)], [4], [9.0], [1])
    assert total == 0.0 and wins[0][0][1] == 5
    total, wins = fill_windows([(levels, 1.0)], [4], [9.0], [1])
    assert total == 0.0 and wins[0][0][1] == 0  # without the beats: the first
