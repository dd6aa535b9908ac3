"""A whole-track plan's BPM column says the tempo the render plays each track at: the
arc's target, held within ±8 % of the track's own tempo (or its half/double)."""

from __future__ import annotations

import numpy as np

from underdog import app
from underdog.app.render import open_library_beats
from underdog.library.db import open_library
from underdog.planning.sequencer import PlanOptions
from underdog.render.render import lay_out, plan_from_json

from .excerpt_library import demo_db  # noqa: F401  (fixture)


def test_whole_tracks_show_the_tempo_the_render_plays(demo_db):  # noqa: F811
    r = app.plan("run", 15, db=demo_db, cadence=170, record=False,
                 options=PlanOptions(max_track_s=240.0))
    shown = 0
    with open_library(demo_db) as lib:
        beats_for = open_library_beats(lib)
        places = lay_out(plan_from_json(r.as_dict()), beats_for, refine=False)
        for e, p in zip(r.plan.entries, places):
            if e.ramps:  # a track riding a ramp says its two ends (tested elsewhere)
                continue
            beats = np.asarray(beats_for(e.track.path)[0])
            body = beats[(beats > p.knots_t[0] + 20) & (beats < p.knots_t[-1] - 20)]
            # a line through them (the track's tempo wanders a little; the render's rate
            # is one for the body)
            played = 60.0 / float(np.polyfit(np.arange(len(body)), p.session_time(body), 1)[0])
            said = float(e.bpm_text.split("→")[-1])
            level = min((0.5, 1.0, 2.0), key=lambda m: abs(np.log(said / (played * m))))
            assert abs(said / (played * level) - 1.0) < 0.01, (e.title, e.bpm_text, played)
            shown += "→" in e.bpm_text
    assert shown >= 2  # tracks that cannot reach 170 say the +8 % they are held to


def test_whole_tracks_too_far_apart_to_blend_are_cut(demo_db):  # noqa: F811
    """A run at 170 from the demo library: Ninesix (89, at double time 178) next to Hell
    (127, which cannot reach 170): no tempo lies within ±8 % of both, so the render would
    stretch one beyond that through the blend; the plan cuts there instead, says why, and
    the render's layout warns of no overlap beyond ±8 %."""
    r = app.plan("run", 15, db=demo_db, cadence=170, record=False,
                 options=PlanOptions(max_track_s=240.0))
    entries = r.plan.entries
    apart = [e for e in entries if (e.transition or {}).get("reason") == "tempi apart"]
    assert apart and any("too far apart" in n for n in r.plan.report.notes)
    for a, b in zip(entries, entries[1:]):
        if (b.transition or {}).get("shape") != "cut":  # every blend left can meet
            assert max(a.played_bpm, b.played_bpm) / min(a.played_bpm, b.played_bpm) <= 1.08 / 0.92
    with open_library(demo_db) as lib:
        places = lay_out(plan_from_json(r.as_dict()), open_library_beats(lib), refine=False)
    assert not [w for p in places for w in p.warnings if "in an overlap" in w]
