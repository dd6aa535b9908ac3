"""One energy scale for users (issue 16.2): the level 1–10, one decimal, in filters,
tables, JSON and plots; the raw 0..1 value only as ``energy_raw`` (a real scan of demo
clips into real SQLite)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from underdog.cli import app
from underdog.models import energy_to_level, level_to_energy

from .conftest import DEMO_LIBRARY, clip_folder, flac_clip

runner = CliRunner()
# Quiet and loud parts of demo tracks, 20 s each.
CLIPS = [("Shawn Parrotte - Caves.flac", 10), ("Max McCracken - Awakening.opus", 5),
         ("Muldjord - Armygeddon.mp3", 60), ("Nexuiz - Beast of Insanity.ogg", 60)]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    d = tmp_path_factory.mktemp("energy")
    music = clip_folder(d / "music", CLIPS, 20)
    path = str(d / "lib.db")
    r = runner.invoke(app, ["scan", str(music), "--db", path])
    assert r.exit_code == 0, r.output
    return path


def _json(*args):
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_mapping_is_one_function_and_its_inverse():
    assert energy_to_level(0.0) == 1.0 and energy_to_level(1.0) == 10.0
    assert energy_to_level(-0.2) == 1.0 and energy_to_level(None) is None
    for lv in (1.0, 4.5, 7.0, 10.0):
        assert energy_to_level(level_to_energy(lv)) == pytest.approx(lv)


def test_tracks_json_carries_level_and_raw(db):
    rows = _json("tracks", "--db", db, "-f", "json")
    assert len(rows) == len(CLIPS)
    for t in rows:
        assert 1.0 <= t["energy"] <= 10.0 and 0.0 <= t["energy_raw"] <= 1.0
        assert t["energy"] == round(energy_to_level(t["energy_raw"]), 1)
        assert "energy_level" not in t
    # the clips span the scale: the test below needs loud and quiet ones
    assert max(t["energy"] for t in rows) >= 7.0 and min(t["energy"] for t in rows) < 7.0


def test_energy_filter_is_in_levels(db):
    rows = _json("tracks", "--db", db, "-f", "json")
    loud = sorted(t["id"] for t in rows if energy_to_level(t["energy_raw"]) >= 7.0)
    got = sorted(t["id"] for t in _json("tracks", "--db", db, "--energy", "7-10", "-f", "json"))
    assert got == loud and loud  # the old filter read 7-10 as raw 0..1: nothing
    quiet = _json("tracks", "--db", db, "--energy", "-6.9", "-f", "json")
    assert sorted(t["id"] for t in quiet) == sorted(t["id"] for t in rows if t["id"] not in loud)


def test_tracks_table_shows_levels(db):
    rows = _json("tracks", "--db", db, "-f", "json")
    r = runner.invoke(app, ["tracks", "--db", db], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    for t in rows:
        line = next(ln for ln in r.stdout.splitlines() if ln.strip().strip("│┃ ").startswith(
            str(t["id"]) + " "))
        assert f"{t['energy']:.1f}" in line
    quiet = min(rows, key=lambda t: t["energy"])
    assert quiet["energy"] >= 1.0 and quiet["energy_raw"] < 0.5  # once shown as "0.x"


def test_show_json_carries_level_and_raw(db):
    t = _json("tracks", "--db", db, "-f", "json")[0]
    d = _json("show", str(t["id"]), "--db", db, "-f", "json")
    assert d["energy"] == t["energy"] and d["energy_raw"] == pytest.approx(t["energy_raw"])
    assert "energy_level" not in d


def test_plot_rows_and_axis_are_in_levels(tmp_path):
    from underdog.export.plot import plot_rows
    from underdog.export.plot import plot_plan
    from underdog.library.db import open_library
    from underdog.planning.arcs import load_arc
    from underdog.planning.sequencer import plan

    from .test_sequencer import make_tracks

    with open_library(tmp_path / "x.db") as lib:
        lib.add_tracks(make_tracks(120, 2))
        p = plan(lib, load_arc("run", cadence=150), 30)
    segs, ents = plot_rows(p)
    assert ents and all(1.0 <= s["energy"] <= 10.0 for s in segs)
    for row, e in zip(ents, p.entries):
        assert row["energy"] == pytest.approx(energy_to_level(e.track.energy))
    assert max(r["energy"] for r in ents) > 2.0  # levels, not the raw 0..1
    fig = plot_plan(segs, ents, None)
    lo, hi = fig.axes[1].get_ylim()
    assert lo <= 1.0 and hi >= 10.0 and fig.axes[1].get_ylabel() == "energy level"


def test_analyze_json_uses_the_same_scale(tmp_path):
    clip = tmp_path / "a.flac"
    flac_clip(DEMO_LIBRARY / "Muldjord - Armygeddon.mp3", clip, 60, 15)
    (a,) = _json("analyze", str(clip), "-f", "json")
    assert a["energy"] == round(energy_to_level(a["energy_raw"]), 1) and "energy_level" not in a
