"""The shapes of the built-in arcs at several session lengths: valleys are real valleys,
cool-downs only fall, and ``run`` warms up to its cadence."""

import numpy as np
import pytest

from underdog.planning.arcs import BUILTIN, load_arc

LENGTHS = (20, 30, 45, 60)
MIN_ENERGY_GAP = 2.0   # levels a valley sits below each neighbouring peak
MIN_BPM_GAP = 8.0      # BPM a valley sits below each neighbouring peak


def _timeline(name, minutes):
    arc = load_arc(name)
    if name == "hiit":  # the default 4 × (4 + 3) needs 28 min of intervals
        arc = load_arc(name, work=2, rest=1.5, rounds=4) if minutes < 40 else arc
    return arc.timeline(minutes)


def _span_targets(tl, sp):
    """(BPM, level) targets over a span: ramps are linear, so their ends bound them."""
    return np.array(sp.segment.bpm), np.array(sp.segment.energy)


@pytest.mark.parametrize("minutes", LENGTHS)
@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_valleys_sit_well_below_their_peaks(name, minutes):
    tl = _timeline(name, minutes)
    peaks = [sp for sp in tl.spans if sp.segment.peak]
    for p0, p1 in zip(peaks, peaks[1:]):
        for sp in tl.spans[p0.index + 1:p1.index]:  # the valleys between two peaks
            vb, vl = _span_targets(tl, sp)
            for p in (p0, p1):
                pb, pl = _span_targets(tl, p)
                assert vb.max() <= pb.min() - MIN_BPM_GAP, (name, sp.segment.name, p.segment.name)
                assert vl.max() <= pl.min() - MIN_ENERGY_GAP, (name, sp.segment.name)


def _cool_down(tl):
    """The stretch after the last peak (the whole arc when it has no peak but is a
    cool-down); None when the arc has none."""
    peaks = [sp for sp in tl.spans if sp.segment.peak]
    if peaks:
        after = tl.spans[peaks[-1].index + 1:]
        return after or None
    return list(tl.spans) if tl.arc.name == "cooldown" else None


WITH_COOL_DOWN = [n for n in sorted(BUILTIN) if _cool_down(_timeline(n, 45)) is not None]


def test_only_run_and_warmup_end_without_a_cool_down():
    assert set(BUILTIN) - set(WITH_COOL_DOWN) == {"run", "warmup"}


@pytest.mark.parametrize("minutes", LENGTHS)
@pytest.mark.parametrize("name", WITH_COOL_DOWN)
def test_cool_downs_fall_monotonically(name, minutes):
    tl = _timeline(name, minutes)
    spans = _cool_down(tl)
    t = np.arange(spans[0].start_s, min(spans[-1].end_s, tl.total_s), 1.0)
    bpm, lvl, _ = tl.targets(t)
    assert np.all(np.diff(lvl) <= 1e-9), (name, lvl[np.r_[False, np.diff(lvl) > 0]])
    assert np.all(np.diff(bpm) <= 1e-9), (name, bpm[np.r_[False, np.diff(bpm) > 0]])
    assert lvl[-1] < lvl[0] and bpm[-1] < bpm[0]


@pytest.mark.parametrize("minutes", LENGTHS)
@pytest.mark.parametrize("cadence", (150.0, 160.0, 180.0))
def test_run_warms_up_to_its_cadence(cadence, minutes):
    tl = load_arc("run", cadence=cadence).timeline(minutes)
    t = np.arange(0, tl.total_s, 1.0)
    bpm, lvl, _ = tl.targets(t)
    assert bpm[0] <= 0.9 * cadence and bpm[0] >= 0.8 * cadence
    assert np.all(np.diff(bpm) >= -1e-9) and np.all(np.diff(lvl) >= -1e-9)  # only rises
    reached = t[np.isclose(bpm, cadence)]
    assert reached.size and reached[0] <= max(0.15 * tl.total_s, 180.0)
    assert np.allclose(bpm[t >= reached[0]], cadence)  # and holds it


def test_montage_at_45_minutes_numbers():
    tl = load_arc("montage").timeline(45)
    valleys = [sp for sp in tl.spans if sp.segment.name.startswith("valley")]
    assert valleys and all(max(sp.segment.bpm) <= 132 for sp in valleys)
