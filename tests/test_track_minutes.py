"""The arc's optional track-length window (`track_minutes`), as `underdog like` learns it."""

from __future__ import annotations

import pytest

from underdog.library.db import open_library
from underdog.planning.arcs import ArcError, arc_to_toml, montage, parse_toml
from underdog.planning.sequencer import PlanOptions, plan

from .test_sequencer import make_tracks

ARC = """name = "short"
minutes = 20.0
track_minutes = [2.5, 4.0]

[[segment]]
share = 1.0
bpm = 120.0
"""


def test_toml_round_trip_and_errors():
    a = parse_toml(ARC)
    assert a.track_minutes == (2.5, 4.0)
    assert parse_toml(arc_to_toml(a)).track_minutes == (2.5, 4.0)
    assert "track_minutes" not in arc_to_toml(montage())
    with pytest.raises(ArcError, match=r":3: .*min above max"):
        parse_toml(ARC.replace("[2.5, 4.0]", "[4.0, 2.5]"))
    with pytest.raises(ArcError, match="impossible"):
        parse_toml(ARC.replace("[2.5, 4.0]", "[0.0, 4.0]"))


def test_plan_keeps_to_the_window_and_widens_when_it_cannot(tmp_path):
    with open_library(tmp_path / "lib.db") as lib:
        lib.add_tracks(make_tracks(300, 5))          # 2.5–5 minute tracks
        p = plan(lib, parse_toml(ARC), 20, PlanOptions())
        assert p.tracks and all(150 <= t.duration_s <= 240 for t in p.tracks)
        assert not any("track length" in w for w in p.warnings)
        none = parse_toml(ARC.replace("[2.5, 4.0]", "[0.5, 1.0]"))
        p2 = plan(lib, none, 20, PlanOptions())
        assert p2.tracks and "track length 0.5–1 min" in p2.warnings[0]
