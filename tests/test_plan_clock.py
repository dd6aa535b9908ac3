"""An excerpt plan the render can play as planned: every excerpt's tempo, ramp and bars
fit the plan's clock, so the render's layout neither refits a body (past 2 % it warns
"instead of ... to keep the plan's timing") nor stretches past ±8 %. On the demo library's
30-minute montage the old planner asked for four such things (`make demo` printed them):
a peak after a valley read its start tempo from the valley (the arc's per-second table
holds the neighbouring segment at a boundary that floating point puts a hair early), a
cool-down ramp held short by a track's reach ran behind the clock, and an excerpt
shortened by an unclear beat kept the tempo of its longer span. Real scan of the demo
library; the render's own layout (no audio refinement)."""

from __future__ import annotations

import pytest
from underdog.app.render import open_library_beats
from underdog.library.db import open_library
from underdog.planning.arcs import Arc, Segment, Timeline, load_arc, montage
from underdog.planning.excerpts import MAX_STRETCH
from underdog.planning.sequencer import PlanOptions, plan
from underdog.render.render import lay_out, plan_from_json

from .excerpt_library import demo_db  # noqa: F401  (the shared scan)

REACH = (1 + MAX_STRETCH) / (1 - MAX_STRETCH)


@pytest.fixture(scope="module")
def plans(demo_db):  # noqa: F811
    cool = Arc("cool", [Segment("steady", bpm=(120.0, 120.0), energy=(6.0, 6.0), minutes=2.0),
                        Segment("cool down", bpm=(126.0, 112.0), energy=(5.0, 3.0),
                                minutes=6.0)], minutes=8.0)
    arcs = [(montage(), 30.0), (load_arc("boxing"), None), (load_arc("hiit"), None),
            (load_arc("tabata"), None), (cool, None)]
    with open_library(demo_db) as lib:
        out = []
        for arc, minutes in arcs:
            p = plan(lib, arc, minutes, PlanOptions(excerpts=True))
            rp = plan_from_json({"entries": [e.as_dict() for e in p.entries]})
            out.append((arc.name, p, lay_out(rp, open_library_beats(lib), refine=False)))
        yield out


def test_a_segment_reads_its_own_line_at_its_edges():
    tl = Timeline.build(montage(), 30.0)
    for sp in tl.spans:
        assert sp.bpm_at(sp.start_s) == sp.segment.bpm[0]
        assert sp.bpm_at(sp.end_s) == sp.segment.bpm[1]
        assert sp.bpm_at(sp.start_s - 5.0) == sp.segment.bpm[0]  # clamped to the span


def test_the_render_plays_every_excerpt_as_planned(plans):
    said = [(name, e.position, w) for name, p, places in plans
            for e, pl in zip(p.entries, places) for w in pl.warnings]
    assert said == []


def test_each_excerpt_is_stretched_from_the_bars_it_plays(plans):
    """The tempo a plan says it stretches from is the excerpt's own over its bars (4 beats
    a bar from its in to its out downbeat), also where an unclear beat shortened it."""
    for name, p, _ in plans:
        for e in p.entries:
            own = e.tempo_bpm / (1 + e.stretch_pct / 100)
            assert own == pytest.approx(240.0 * e.bars / (e.out_s - e.in_s), rel=1e-6), \
                (name, e.position, e.title)


def test_blends_join_tempi_that_can_meet(plans):
    """No blend between two excerpts whose own tempi (the octave each plays in) are beyond
    ±8 % of one tempo: the demo's hiit forces Digital Pursuit (120 BPM) into a work round
    beside Chaos God (170), and that blend is a cut, said in the report. The same holds
    for the bars a blend lays over: the tabata's cool-down met War of Freedom (139.4 BPM
    over its excerpt, 141.1 over its last 8 bars) and Awakening (120.0) at the edge of
    both reaches, and the render played the overlap at 1.085x (the test above)."""
    for name, p, _ in plans:
        for a, b in zip(p.entries, p.entries[1:]):
            if b.transition["shape"] == "cut":
                continue
            own_a = a.tempo_bpm / (1 + a.stretch_pct / 100)
            own_b = b.tempo_bpm / (1 + b.stretch_pct / 100)
            assert max(own_a, own_b) / min(own_a, own_b) <= REACH + 1e-9, (name, b.position)
    hiit = next(p for name, p, _ in plans if name == "hiit")
    apart = [e for e in hiit.entries if e.transition.get("reason") == "tempi apart"]
    assert apart
    assert any("tempi too far apart" in n for n in hiit.report.notes)


def test_a_cool_down_blends_at_one_tempo_and_keeps_the_clock(plans):
    """A cool-down whose excerpts blend: each one enters at the tempo the one before
    leaves at (within the two tracks' reach) and only falls; that each plays in the time
    the plan gives it is the test above."""
    _, p, places = next(x for x in plans if x[0] == "cool")
    cool = [(e, pl) for e, pl in zip(p.entries, places) if e.segment == "cool down"]
    assert len(cool) >= 2
    for (a, _), (b, _) in zip(cool, cool[1:]):
        if b.transition["shape"] != "cut":
            assert a.tempo_out_bpm == pytest.approx(b.tempo_in_bpm, rel=0.002)
    for e, _ in cool:
        assert e.ramps and e.tempo_in_bpm > e.tempo_out_bpm
