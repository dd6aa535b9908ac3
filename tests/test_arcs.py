"""Arcs: built-ins lay out correctly, TOML arcs load through the same model, bad files name
the key and the line."""

from __future__ import annotations

import numpy as np
import pytest

from underdog.planning.arcs import (BUILTIN, ArcError, arc_to_toml, load_arc, load_toml,
                                    parse_toml)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_timelines_cover_the_session(name):
    arc = load_arc(name)
    tl = arc.timeline(45)
    assert tl.spans[0].start_s == 0
    assert tl.spans[-1].end_s == pytest.approx(45 * 60)
    for a, b in zip(tl.spans, tl.spans[1:]):
        assert a.end_s == pytest.approx(b.start_s)
        assert b.end_s > b.start_s
    bpm, lvl, seg = tl.targets(np.arange(0, 2700, 30.0))
    assert np.all((bpm >= 30) & (bpm <= 300)) and np.all((lvl >= 1) & (lvl <= 10))
    assert np.all(np.diff(seg) >= 0)  # segments in order


def test_montage_has_peaks_near_140_with_valleys_between():
    tl = load_arc("montage").timeline(45)
    peaks = [sp for sp in tl.spans if sp.segment.peak]
    assert len(peaks) >= 2
    for sp in peaks:
        assert all(130 <= b <= 150 for b in sp.segment.bpm)
    # Between two peaks there is a lower-energy stretch.
    for p0, p1 in zip(peaks, peaks[1:]):
        between = [sp for sp in tl.spans if p0.index < sp.index < p1.index]
        assert between and max(max(sp.segment.energy) for sp in between) < min(
            p0.segment.energy + p1.segment.energy)
    # It opens calmer than it peaks, and ends calmer than it peaks.
    assert max(tl.spans[0].segment.energy) < min(peaks[0].segment.energy)
    assert min(tl.spans[-1].segment.energy) < min(peaks[-1].segment.energy)
    assert tl.arc.style_max.get("heavy", 1) < 1  # "not too heavy on the heavy"


def test_run_cadence_and_hiit_intervals():
    tl = load_arc("run", cadence=172).timeline(30)
    bpm, _, seg = tl.targets(np.arange(0, 1800, 60.0))
    warm = tl.spans[0].end_s  # a warm-up ramp from 85 % of the cadence, then steady
    assert bpm[0] < 172 and np.allclose(bpm[np.arange(0, 1800, 60.0) >= warm], 172)
    assert tl.half_double.all()
    arc = load_arc("hiit", work=3, rest=1.5, rounds=5)
    tl = arc.timeline(40)
    work = [sp for sp in tl.spans if sp.segment.name.startswith("work")]
    rest = [sp for sp in tl.spans if sp.segment.name.startswith("rest")]
    assert len(work) == 5 and len(rest) == 5
    assert all(sp.end_s - sp.start_s == pytest.approx(180) for sp in work)
    assert all(sp.end_s - sp.start_s == pytest.approx(90) for sp in rest)
    assert all(sp.segment.peak for sp in work) and not any(sp.segment.peak for sp in rest)
    with pytest.raises(ArcError, match="needs more than"):
        arc.timeline(20)  # 5 × 4.5 min of intervals do not fit in 20 minutes


def test_unknown_arc_name_suggests():
    with pytest.raises(ArcError, match="did you mean 'montage'"):
        load_arc("montag")


GOOD = """\
name = "tempo run"
description = "a user arc"
minutes = 30
style_max = { heavy = 0.5 }

[[segment]]
name = "easy"
minutes = 10
bpm = [150, 160]
energy = 5
half_double = true

[[segment]]
name = "push"
share = 1.0
bpm = 170
tolerance = 4
energy = [7, 9]
peak = true
style = { heavy = 1.0, hiphop = 0.5 }
"""


def test_toml_arc_loads_and_round_trips(tmp_path):
    p = tmp_path / "tempo.toml"
    p.write_text(GOOD)
    arc = load_arc(str(p))
    assert arc.name == "tempo run" and arc.minutes == 30
    assert [s.name for s in arc.segments] == ["easy", "push"]
    assert arc.segments[0].bpm == (150, 160) and arc.segments[1].bpm == (170, 170)
    assert arc.segments[1].tolerance_pct == 4 and arc.segments[1].peak
    tl = arc.timeline(40)  # 10 fixed minutes + the share takes the other 30
    assert tl.spans[1].start_s == 600 and tl.spans[1].end_s == 2400
    again = parse_toml(arc_to_toml(arc))
    assert again == arc


def _err(tmp_path, text: str) -> str:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ArcError) as ei:
        load_toml(p)
    return str(ei.value)


def _line_of(text: str, needle: str) -> int:
    return next(i + 1 for i, ln in enumerate(text.splitlines()) if needle in ln)


@pytest.mark.parametrize("old,new,key,needle", [
    ("half_double = true", "halfdouble = true", "'halfdouble'", "halfdouble"),
    ("minutes = 10", "minutes = -5", "'minutes' = -5", "minutes = -5"),
    ("bpm = 170", "bpm = 1700", "'bpm' = 1700", "bpm = 1700"),
    ("energy = [7, 9]", "energy = [7, 19]", "'energy' = 19", "energy = [7, 19]"),
    ("heavy = 1.0, hiphop", "haevy = 1.0, hiphop", "unknown style 'haevy'", "haevy"),
    ("description =", "descripton =", "'descripton'", "descripton"),
])
def test_bad_toml_names_key_and_line(tmp_path, old, new, key, needle):
    text = GOOD.replace(old, new, 1)
    assert text != GOOD
    msg = _err(tmp_path, text)
    assert key in msg
    assert f"bad.toml:{_line_of(text, needle)}:" in msg


def test_bad_toml_hints_and_syntax(tmp_path):
    msg = _err(tmp_path, GOOD.replace("half_double = true", "halfdouble = true"))
    assert "did you mean 'half_double'" in msg and "segment 1" in msg
    text = GOOD.replace('name = "push"', 'name = "push')
    msg = _err(tmp_path, text)
    ln = _line_of(text, 'name = "push')
    assert "not valid TOML" in msg and f"line {ln}" in msg
    msg = _err(tmp_path, 'name = "x"\n')
    assert "at least one [[segment]]" in msg
