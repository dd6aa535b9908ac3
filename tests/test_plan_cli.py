"""`underdog plan` and `underdog score` end to end on a real SQLite library."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from underdog.cli import app
from underdog.library.db import open_library

from .test_sequencer import make_tracks

XSD = Path(__file__).parent / "data" / "xspf-1_0.xsd"
runner = CliRunner()


@pytest.fixture
def db(tmp_path) -> Path:
    p = tmp_path / "lib.db"
    with open_library(p) as lib:
        lib.add_tracks(make_tracks(300, 11))
    return p


def test_plan_writes_every_format_and_explains(db, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    m3u, xspf, js, png = (out / f"montage.{e}" for e in ("m3u8", "xspf", "json", "png"))
    r = runner.invoke(app, ["plan", "--db", str(db), "--minutes", "40", "--seed", "3",
                            "--explain", "-o", str(m3u), "-o", str(xspf), "-o", str(js),
                            "--plot", str(png)])
    assert r.exit_code == 0, r.output
    data = json.loads(js.read_text())
    entries = data["entries"]
    assert data["arc"] == "montage" and data["seed"] == 3 and len(entries) >= 8
    for e in entries:
        assert e["why"] and "tempo" in e["why"]
        assert {"tempo_dev_pct", "transition_pct", "cost"} <= set(e["scores"])
        assert {"bpm", "energy"} <= set(e["target"])
    # The explain table has one row per track, with its time.
    for e in entries:
        s = int(round(e["start_s"]))
        assert f"{s // 60}:{s % 60:02d}" in r.output
    lines = m3u.read_text().splitlines()
    assert lines[0] == "#EXTM3U"
    assert [ln for ln in lines if not ln.startswith("#")] == [e["path"] for e in entries]
    assert sum(ln.startswith("#EXTINF:") for ln in lines) == len(entries)
    xmlschema = pytest.importorskip("xmlschema")
    xmlschema.XMLSchema11(str(XSD)).validate(str(xspf))
    ns = {"x": "http://xspf.org/ns/0/"}
    assert len(ET.parse(xspf).getroot().findall(".//x:track", ns)) == len(entries)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    # The same seed gives the same playlist (the plan was recorded; no --avoid-recent).
    r2 = runner.invoke(app, ["plan", "--db", str(db), "--minutes", "40", "--seed", "3",
                             "-o", str(out / "again.m3u8")])
    assert r2.exit_code == 0, r2.output
    assert (out / "again.m3u8").read_text() == m3u.read_text()
    # --avoid-recent 1 skips every track of the last plan.
    r3 = runner.invoke(app, ["plan", "--db", str(db), "--minutes", "40", "--seed", "3",
                             "--avoid-recent", "1", "-o", str(out / "fresh.m3u8")])
    assert r3.exit_code == 0, r3.output
    fresh = {ln for ln in (out / "fresh.m3u8").read_text().splitlines()
             if not ln.startswith("#")}
    assert not fresh & {e["path"] for e in entries}


def test_score_grades_plans_and_hand_made_playlists(db, tmp_path):
    m3u = tmp_path / "p.m3u8"
    r = runner.invoke(app, ["plan", "--db", str(db), "--arc", "run", "--cadence", "150",
                            "--minutes", "30", "-o", str(m3u), "--no-record"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["score", str(m3u), "--db", str(db), "--arc", "run",
                            "--cadence", "150", "--json"])
    assert r.exit_code == 0, r.output
    planned = json.loads(r.output)
    # A hand-made playlist: the library's first tracks in id order, plus one unknown file.
    with open_library(db) as lib:
        paths = [t.path for t in lib.tracks(sort="id", limit=9)]
    hand = tmp_path / "hand.m3u8"
    hand.write_text("#EXTM3U\n" + "\n".join(paths + ["/elsewhere/not-scanned.mp3"]) + "\n")
    r = runner.invoke(app, ["score", str(hand), "--db", str(db), "--arc", "run",
                            "--cadence", "150", "--json"])
    assert r.exit_code == 0, r.output
    handmade = json.loads(r.output)
    assert handmade["tracks"] == 9 and handmade["unknown_paths"] == [
        "/elsewhere/not-scanned.mp3"]
    for k in ("bpm_mae", "energy_mae", "within_6pct", "camelot_ok", "style_shares",
              "drops_on_peaks", "artist_violations"):
        assert k in handmade
    assert planned["bpm_mae"] < handmade["bpm_mae"]
    assert planned["within_6pct"] > handmade["within_6pct"]
    assert planned["objective_per_min"] < handmade["objective_per_min"]
    r = runner.invoke(app, ["score", str(hand), "--db", str(db)])
    assert r.exit_code == 0 and "transitions within ±6 % BPM" in r.output
    assert "not in the library" in r.output


def test_plan_reports_a_bad_arc_file(db, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n\n[[segment]]\nshare = 1\nbpm = 140\ntempo = 3\n')
    r = runner.invoke(app, ["plan", "--db", str(db), "--arc", str(bad)])
    assert r.exit_code == 2
    assert "bad.toml:6" in r.output and "unknown key 'tempo'" in r.output
    r = runner.invoke(app, ["plan", "--db", str(db), "-o", str(tmp_path / "x.txt")])
    assert r.exit_code == 2 and "unknown playlist type" in r.output


def test_plan_lock_keeps_tracks_in_place(db, tmp_path):
    """`--lock PLACE=ID` keeps each track at its place and plans the rest around it; it
    implies whole tracks; a malformed lock and an excerpt plan with locks are one-line
    errors."""
    js = tmp_path / "run.json"
    base = ["plan", "--db", str(db), "--arc", "run", "--minutes", "30", "--no-record"]
    r = runner.invoke(app, base + ["-o", str(js)])
    assert r.exit_code == 0, r.output
    first = [e["id"] for e in json.loads(js.read_text())["entries"]]
    with open_library(db) as lib:
        spare = [t.id for t in lib.tracks() if t.id not in first]
    locks = {2: spare[0], 4: spare[1]}  # tracks the free plan did not choose
    r = runner.invoke(app, base + ["-o", str(js)] + [a for p, t in locks.items()
                                                     for a in ("--lock", f"{p}={t}")])
    assert r.exit_code == 0, r.output
    got = [e["id"] for e in json.loads(js.read_text())["entries"]]
    assert all(got[p - 1] == t for p, t in locks.items()), got
    assert len(set(got)) == len(got)
    assert "note: --lock holds whole tracks" not in r.output  # a run plays whole tracks
    r = runner.invoke(app, base + ["--arc", "montage", "--lock", f"2={spare[0]}"])
    assert r.exit_code == 0 and "note: --lock holds whole tracks, so this montage" in r.output
    r = runner.invoke(app, base + ["--lock", "two=5"])
    assert r.exit_code != 0 and "PLACE=TRACK_ID" in r.output
    r = runner.invoke(app, base + ["--arc", "montage", "--excerpts", "--lock", "1=5"])
    assert r.exit_code != 0 and "whole-track plans only" in r.output


def test_a_note_that_a_warning_says_is_printed_once(db):
    """A plan's report note that its warnings repeat (the style-mix bound) prints once,
    as the warning; `score` (no warnings) still prints it as a note."""
    import dataclasses
    import io

    from underdog.app.planning import plan
    from underdog.cli.common import print_plan, print_score_report
    from underdog.cli.output import make_console

    p = plan("montage", 20.0, db=db, record=False).plan
    note = "session: heavy 9/10 above its 40% bound"
    p = dataclasses.replace(p, report=dataclasses.replace(p.report, notes=[note]),
                            warnings=[f"style mix: {note}"])
    buf = io.StringIO()
    print_plan(make_console(file=buf, width=300), p, False)
    out = buf.getvalue()
    assert out.count(note) == 1 and f"warning style mix: {note}" in out
    buf = io.StringIO()
    print_score_report(make_console(file=buf, width=300), p.report)
    assert f"note: {note}" in buf.getvalue()
