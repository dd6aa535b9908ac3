"""`underdog score` places an excerpt plan's excerpts where the plan put them (issue 14):
each at its ``start_s`` (blends overlap the one before), graded up to the next one's, so
the targets, the energy error, the length and the drops on peaks are the plan's. Playlists
without start times (whole tracks, an M3U8) still play back to back. Real scan of the demo
library, the CLI and real JSON; one small case on made-up tracks for the drop rule."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from underdog.cli import app
from underdog.export.playlists import read_playlist
from underdog.models import Track
from underdog.planning.arcs import montage
from underdog.planning.score import score_tracks

from .excerpt_library import demo_db  # noqa: F401  (the shared scan)


def _run(*args) -> str:
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.fixture(scope="module")
def planned(demo_db, tmp_path_factory):  # noqa: F811
    """A 12-minute montage of excerpts as JSON and M3U8, the plan, and score of the JSON."""
    d = tmp_path_factory.mktemp("score-placement")
    js, m3u = d / "montage.json", d / "montage.m3u8"
    _run("plan", "--db", demo_db, "--arc", "montage", "--minutes", "12", "--no-record",
         "-o", js, "-o", m3u)
    plan = json.loads(js.read_text())
    assert plan["mode"] == "excerpts"
    scored = json.loads(_run("score", js, "--db", demo_db, "--format", "json"))
    return {"dir": d, "json": js, "m3u8": m3u, "plan": plan, "scored": scored}


def test_score_places_each_excerpt_at_its_start(planned):
    plan, scored = planned["plan"], planned["scored"]
    entries, report, rows = plan["entries"], plan["report"], scored["rows"]
    # Blends overlap: laid end to end the excerpts ran past the 12 minutes (old code).
    assert scored["minutes"] == pytest.approx(report["minutes"], abs=0.01)
    assert [r["start_s"] for r in rows] == pytest.approx([e["start_s"] for e in entries],
                                                         abs=0.051)
    for r, e in zip(rows, entries):
        assert r["segment"] == e["segment"]
        assert r["target_energy"] == pytest.approx(e["target"]["energy"], abs=0.051)
        if e["drop_at_s"] is not None:  # where the plan lands its drop
            assert r["drop_at_s"] == pytest.approx(e["drop_at_s"], abs=0.15)
    # The same excerpts at the same tempi against the same targets: the same figures
    # (the plan's targets on a ramp are taken a little off the slot's middle, and its
    # energy from the bars' middles, score's from the whole energy curve).
    assert scored["bpm_mae"] == pytest.approx(report["bpm_mae"], abs=0.15)
    assert scored["energy_mae"] == pytest.approx(report["energy_mae"], abs=0.05)
    assert scored["drops_on_peaks"] == report["drops_on_peaks"]
    assert scored["within_6pct"] == report["within_6pct"]


def test_without_start_times_the_excerpts_play_back_to_back(planned, demo_db):  # noqa: F811
    plan, d = planned["plan"], planned["dir"]
    bare = json.loads(planned["json"].read_text())
    for e in bare["entries"]:
        del e["start_s"]
    (d / "bare.json").write_text(json.dumps(bare))
    played_min = sum(e["out_s"] - e["in_s"] for e in plan["entries"]) / 60.0
    for path in (d / "bare.json", planned["m3u8"]):
        doc = json.loads(_run("score", path, "--db", demo_db, "--format", "json"))
        assert doc["minutes"] == pytest.approx(played_min, abs=0.01), path
        starts = [r["start_s"] for r in doc["rows"]]
        assert starts[1] == pytest.approx(
            plan["entries"][0]["out_s"] - plan["entries"][0]["in_s"], abs=0.06)


def test_a_whole_track_plan_scores_as_before(demo_db, tmp_path):  # noqa: F811
    js = tmp_path / "whole.json"
    _run("plan", "--db", demo_db, "--arc", "montage", "--minutes", "30", "--whole-tracks",
         "--no-record", "-o", js)
    plan = json.loads(js.read_text())
    assert plan["mode"] != "excerpts" and all(e["start_s"] is not None
                                              for e in plan["entries"])
    doc = json.loads(_run("score", js, "--db", demo_db, "--format", "json"))
    bare = json.loads(js.read_text())
    for e in bare["entries"]:
        e.pop("start_s")
    (tmp_path / "bare.json").write_text(json.dumps(bare))
    doc_bare = json.loads(_run("score", tmp_path / "bare.json", "--db", demo_db,
                               "--format", "json"))
    assert doc == doc_bare  # back to back, start times or not
    for k in ("bpm_mae", "energy_mae", "minutes", "drops_on_peaks", "within_6pct"):
        assert doc[k] == pytest.approx(plan["report"][k], abs=1e-6), k


def test_the_reader_gives_json_places_and_m3u8_none(planned):
    places: list = []
    read_playlist(planned["json"], places=places)
    entries = planned["plan"]["entries"]
    assert [p["start_s"] for p in places] == [e["start_s"] for e in entries]
    assert [p["end_s"] for p in places] == [e["end_s"] for e in entries]
    assert [p["bars"] for p in places] == [e["bars"] for e in entries]
    m3u_places: list = []
    assert read_playlist(planned["m3u8"], places=m3u_places)
    assert m3u_places == [None] * len(entries)


def _track(i: int, bpm: float, drops=()) -> Track:
    return Track(id=i, path=f"/music/{i}.ogg", artist=f"Band {i}", title=f"Song {i}",
                 duration_s=300.0, bpm=bpm, energy=0.8, camelot="8A",
                 drops=[{"time_s": t, "strength": 0.9} for t in drops])


@pytest.mark.parametrize("tempo,start,hit", [
    (140.0, 170.0, True),              # its drop (10 s in) lands on peak 1 at 3:00
    (147.0, 180.0 - 10 * 140 / 147, True),  # stretched +5 %: 10 track s are 9.52 played
    (140.0, 171.0, False),             # a second late: more than a beat (0.43 s) off
])
def test_a_drop_counts_on_the_peaks_first_beat(tempo, start, hit):
    """A 12-minute montage's peak 1 starts at 3:00; the second excerpt is placed so that
    its drop lands there (or a second late). ``bars``: 35 bars of its own 140 BPM."""
    tl = montage().timeline(12)
    assert tl.peak_starts_s[0] == pytest.approx(180.0)
    a, b = _track(1, 120.0), _track(2, 140.0, drops=[40.0])
    end = start + 35 * 240.0 / tempo
    rep = score_tracks([a, b], tl, spans=[(10.0, 190.0), (30.0, 90.0)],
                       tempi=[120.0, tempo],
                       places=[{"start_s": 0.0, "end_s": 180.0, "bars": 90},
                               {"start_s": start, "end_s": end, "bars": 35}])
    assert [r["start_s"] for r in rep.rows] == pytest.approx([0.0, start], abs=0.051)
    assert rep.minutes == pytest.approx(end / 60.0, abs=0.006)
    assert rep.rows[1]["drop_at_s"] == pytest.approx(start + 10 * 140 / tempo, abs=0.051)
    assert rep.drops_on_peaks == ("1/1" if hit else "0/1")
    # laid back to back (no places), the second excerpt would start at 3:00, not before
    flat = score_tracks([a, b], tl, spans=[(10.0, 190.0), (30.0, 90.0)],
                        tempi=[120.0, tempo])
    assert flat.rows[1]["start_s"] == pytest.approx(180.0)


def test_score_places_a_drop_after_a_blend_from_a_faster_track(demo_db, tmp_path):  # noqa: F811
    """The demo library's 45-min montage cools down from a peak at 142 into Digital Pursuit
    (own 120): the render ramps the peak's track down to a tempo both can reach before
    the blend, and score reads the blend from there as the planner does; read from the
    peak's 142, score put that excerpt's drop 0.47 s before the plan's."""
    js = tmp_path / "montage.json"
    _run("plan", "--db", demo_db, "--arc", "montage", "--no-record", "--no-check-beats",
         "-o", js)
    plan = json.loads(js.read_text())
    rows = json.loads(_run("score", js, "--db", demo_db, "--format", "json"))["rows"]
    checked = 0
    for r, e in zip(rows, plan["entries"]):
        if e["drop_at_s"] is not None:
            assert r["drop_at_s"] == pytest.approx(e["drop_at_s"], abs=0.15), e["title"]
            checked += 1
    assert checked >= 4
