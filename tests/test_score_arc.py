"""`underdog score` grades a plan against the arc it was planned for (issue 16.5): the arc
travels in the plan JSON (``arc_spec``) and in an ``#UNDERDOG-ARC:`` line of the M3U8;
``--arc`` overrides; a playlist naming none is graded against montage and says so. The
report has one row per track (real scan of demo clips, real SQLite)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from underdog.cli import app
from underdog.export.playlists import read_playlist

from .conftest import clip_folder

runner = CliRunner()
CLIPS = ["Nexuiz - Beast of Insanity.ogg", "Muldjord - Chaos God.ogg",
         "Nexuiz - Stairs.mp3", "Max McCracken - Awakening.opus",
         "Max McCracken - Through Space.ogg", "Muldjord - Armygeddon.mp3"]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    """Six 40-s clips of demo tracks, scanned into SQLite."""
    d = tmp_path_factory.mktemp("scorearc")
    music = clip_folder(d / "music", [(src, 30) for src in CLIPS], 40)
    db = str(d / "lib.db")
    r = runner.invoke(app, ["scan", str(music), "--db", db])
    assert r.exit_code == 0, r.output
    return {"db": db, "dir": d}


def _run(*args):
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.fixture(scope="module")
def planned(lib):
    """A run plan at cadence 160 written as .m3u8 and .json."""
    d = lib["dir"]
    m3u, js = d / "run.m3u8", d / "run.json"
    _run("plan", "--db", lib["db"], "--arc", "run", "--cadence", "160", "--minutes", "4",
         "--no-record", "-o", m3u, "-o", js)
    return m3u, js, json.loads(js.read_text())


@pytest.mark.parametrize("kind", ["m3u8", "json"])
def test_score_grades_against_the_plans_own_arc(lib, planned, kind):
    m3u, js, plan = planned
    path = m3u if kind == "m3u8" else js
    doc = json.loads(_run("score", path, "--db", lib["db"], "--format", "json"))
    assert doc["arc"] == plan["arc"] == "run"
    assert doc["arc_source"] == "the playlist's own"
    assert doc["session_minutes"] == pytest.approx(plan["session_minutes"], abs=0.01)
    # The same tracks against the same arc: the plan's own report objective (no seeded
    # variety in either), to within the durations' rounding.
    assert doc["objective"] == pytest.approx(plan["report"]["objective"], rel=1e-3, abs=1e-3)
    rows = doc["rows"]
    assert [r["position"] for r in rows] == list(range(1, len(plan["entries"]) + 1))
    assert [r["path"] for r in rows] == [e["path"] for e in plan["entries"]]
    for r, e in zip(rows, plan["entries"]):
        assert r["segment"] == e["segment"]
        assert r["target_bpm"] == pytest.approx(e["target"]["bpm"], abs=0.1)
    # Graded against montage (the old default), the same playlist scores differently.
    mont = json.loads(_run("score", path, "--db", lib["db"], "--arc", "montage",
                           "--format", "json"))
    assert mont["arc"] == "montage" and mont["arc_source"] == "--arc"
    assert mont["objective"] != pytest.approx(doc["objective"], rel=1e-3)


def test_the_m3u8_names_its_arc_and_players_still_read_paths(planned):
    from underdog.export.playlists import read_arc_spec

    m3u, js, plan = planned
    text = m3u.read_text()
    assert text.startswith("#EXTM3U\n#UNDERDOG-ARC:")
    assert read_arc_spec(m3u) == {"arc": "run", "cadence": 160.0,
                                  "minutes": pytest.approx(plan["session_minutes"])}
    assert read_arc_spec(js)["arc"] == "run"
    assert read_playlist(m3u) == [e["path"] for e in plan["entries"]]


def test_table_has_one_row_per_track_and_a_hand_made_list_says_montage(lib, planned):
    m3u, _, plan = planned
    out = _run("score", m3u, "--db", lib["db"])
    assert "graded against the run arc (the playlist's own)" in out
    n = len(plan["entries"])
    body = [ln for ln in out.splitlines() if ln.strip()[:2].strip().isdigit()
            and " BPM E" in ln]
    assert len(body) == n, out
    hand = lib["dir"] / "hand.m3u8"
    hand.write_text("\n".join(e["path"] for e in plan["entries"]) + "\n")
    out = _run("score", hand, "--db", lib["db"])
    assert "graded against the montage arc (the playlist names none)" in out


def test_a_malformed_arc_line_is_one_clear_error(lib, planned):
    m3u, _, _ = planned
    bad = lib["dir"] / "bad.m3u8"
    bad.write_text(m3u.read_text().replace("#UNDERDOG-ARC:{", "#UNDERDOG-ARC:{oops"))
    r = runner.invoke(app, ["score", str(bad), "--db", lib["db"]])
    assert r.exit_code != 0
    assert "UNDERDOG-ARC" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("kind", ["m3u8", "json"])
def test_score_reads_the_playlist_once(lib, planned, kind, monkeypatch):
    """Its tracks, their excerpts and its arc come from one read of the file."""
    from underdog import app as ops
    from underdog.export import playlists

    m3u, js, _ = planned
    path = m3u if kind == "m3u8" else js
    reads = []
    real = playlists.read_capped
    monkeypatch.setattr(playlists, "read_capped", lambda p: reads.append(p) or real(p))
    r = ops.score(path, db=lib["db"])
    assert r.arc_source == "the playlist's own" and r.report.rows
    assert reads == [str(path)]


def test_an_arc_given_ignores_the_playlists_own_line(lib, planned):
    m3u, _, _ = planned
    bad = lib["dir"] / "bad-but-overridden.m3u8"
    bad.write_text(m3u.read_text().replace("#UNDERDOG-ARC:{", "#UNDERDOG-ARC:{oops"))
    doc = json.loads(_run("score", bad, "--db", lib["db"], "--arc", "montage",
                          "--format", "json"))
    assert doc["arc_source"] == "--arc"
