"""Soundtrack gaps (issue 16.8): `soundtrack match --fill` offers up to 3 stand-ins per
missing entry that fit its bpm/energy/style columns, or the found entries around it, and
writes the best into the playlist marked as a stand-in (real scan, real SQLite)."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from underdog.cli import app
from underdog.soundtrack.tracklist import read_tracklist, TracklistError

from .conftest import clip_folder

runner = CliRunner()
CLIPS = [("Shawn Parrotte - Caves.flac", 10), ("Max McCracken - Awakening.opus", 5),
         ("Muldjord - Armygeddon.mp3", 60), ("Nexuiz - Beast of Insanity.ogg", 60),
         ("Sectoid - Feelings.opus", 40), ("Nexuiz - Stairs.mp3", 40)]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    d = tmp_path_factory.mktemp("fill")
    music = clip_folder(d / "music", CLIPS, 20)
    db = str(d / "lib.db")
    r = runner.invoke(app, ["scan", str(music), "--db", db])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["tracks", "--db", db, "-f", "json"])
    assert r.exit_code == 0, r.output
    return d, db, json.loads(r.stdout)


def _octaves(a: float, b: float) -> float:
    x = math.log2(a / b)
    return abs(x - round(x))


def test_fill_fits_the_tracklist_columns_and_marks_stand_ins(lib, tmp_path):
    d, db, rows = lib
    by_title = {r["title"] or r["path"].rsplit("/", 1)[-1][:-5]: r for r in rows}
    assert len(by_title) == len(CLIPS)
    # two entries the library has, two it lacks: one with a tempo, one with nothing
    slow = min(rows, key=lambda r: r["bpm"])
    tl = tmp_path / "film.csv"
    tl.write_text("artist,title,tags,time,bpm,energy,style\n"
                  "Shawn Parrotte,Caves,film,00:01:00,,,\n"
                  f"Nobody,Not In The Library,film,00:02:00,{slow['bpm']:.1f},,\n"
                  "Muldjord,Armygeddon,film,00:03:00,,,\n"
                  "Someone Else,Also Absent,film,00:04:00,,,\n", encoding="utf-8")
    out = tmp_path / "film.m3u8"
    r = runner.invoke(app, ["soundtrack", "match", str(tl), "--db", db, "--fill",
                            "-o", str(out), "-f", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [e["status"] for e in doc] == ["found", "missing", "found", "missing"]
    found_paths = {e["match"]["path"] for e in doc if e["match"]}
    played = []
    for e in (doc[1], doc[3]):
        ins = e["gap"]["stand_ins"]
        assert 1 <= len(ins) <= 3
        assert not found_paths & {s["path"] for s in ins}  # never a track already held
        played.append(ins[0]["path"])
    assert len(played) == len(set(played))  # one track fills one gap
    # the tempo column decides: the first stand-in is the library's closest tempo
    # (octave-folded) among the tracks not already in the film
    free = [r for r in rows if r["path"] not in found_paths]
    best = min(free, key=lambda r: (_octaves(r["bpm"], slow["bpm"]), r["path"]))
    assert doc[1]["gap"]["stand_ins"][0]["path"] == best["path"]
    assert "tracklist bpm" in doc[1]["gap"]["target"]
    # no column: the found entries around it (Armygeddon before it) set the target
    assert "found entries around it" in doc[3]["gap"]["target"]
    text = out.read_text(encoding="utf-8")
    assert "# stand-in for: Nobody - Not In The Library" in text
    assert "[stand-in]" in text and best["path"] in text
    assert "# other stand-ins:" in text or len(doc[1]["gap"]["stand_ins"]) == 1
    # the table says it too
    r = runner.invoke(app, ["soundtrack", "match", str(tl), "--db", db, "--fill"])
    assert r.exit_code == 0, r.output
    assert "stand-in" in r.output and "2 of 2 missing filled" in r.output


def test_energy_and_style_columns_steer_the_pick(lib, tmp_path):
    d, db, rows = lib
    loud = max(rows, key=lambda r: r["energy"])
    quiet = min(rows, key=lambda r: r["energy"])
    tl = tmp_path / "film.json"
    tl.write_text(json.dumps([
        {"artist": "X", "title": "Loud One", "energy": 10, "style": loud["style_label"]},
        {"artist": "Y", "title": "Quiet One", "energy": 1, "style": quiet["style_label"]}]))
    r = runner.invoke(app, ["soundtrack", "match", str(tl), "--db", db, "--fill", "-f", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    first = [e["gap"]["stand_ins"][0] for e in doc]
    assert first[0]["energy"] > first[1]["energy"]
    assert first[0]["path"] == loud["path"]


def test_bad_sound_columns_are_one_clear_error(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("artist,title,bpm,style\nA,B,fast,heavy\n")
    with pytest.raises(TracklistError, match="bpm"):
        read_tracklist(p)
    p.write_text("artist,title,bpm,style\nA,B,120,polka\n")
    with pytest.raises(TracklistError, match="unknown style"):
        read_tracklist(p)
    p.write_text("artist,title,energy\nA,B,7.5\n")
    assert read_tracklist(p)[0].energy == 7.5


def test_nothing_found_nothing_given_falls_back_to_the_montage_arc(lib, tmp_path):
    # the Never Back Down case: no entry in the library, no columns, no song by the artists
    d, db, rows = lib
    tl = tmp_path / "film.txt"
    tl.write_text("The Bravery - Above and Below [film]\nKanye West - Stronger [marketing]\n"
                  "Mellowdrone - Orange Marmalade [film-only]\n", encoding="utf-8")
    r = runner.invoke(app, ["soundtrack", "match", str(tl), "--db", db, "--fill", "-f", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [e["status"] for e in doc] == ["missing"] * 3
    for e in doc:
        assert e["gap"]["stand_ins"] and "montage arc" in e["gap"]["target"]
    # the arc's peak (Stronger, a third in) asks for more energy than its opening
    first = [e["gap"]["stand_ins"][0]["energy"] for e in doc]
    assert first[1] > first[0]
