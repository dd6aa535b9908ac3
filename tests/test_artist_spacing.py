"""Artist spacing on untagged files: the album artist, album or folder stands in for a
missing artist tag, in the planner and in the report (issue 16, item 4). Real SQLite
libraries built with Library.add_tracks."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from underdog.cli import app
from underdog.library.db import open_library
from underdog.models import Track
from underdog.planning import load_arc, plan, score_tracks
from underdog.planning.score import ARTIST_GAP, spacing_key

runner = CliRunner()


def _track(path: str, bpm: float, energy: float, rng, **tags) -> Track:
    return Track(id=None, path=path, title=os.path.basename(path), duration_s=200.0,
                 bpm=bpm, energy=energy, camelot="8A", style={"heavy": 1.0},
                 style_label="heavy", **tags)


def _untagged_library(db, seed: int = 0) -> None:
    """A game soundtrack (12 untagged tracks in one folder) that fits a run at 160 BPM
    perfectly, and 60 untagged tracks in 20 other folders that fit a little worse."""
    rng = np.random.default_rng(seed)
    ost = [_track(f"/music/game-ost/{i:02d}.ogg", 160.0, 0.667, rng) for i in range(12)]
    other = [_track(f"/music/misc{i % 20:02d}/{i:03d}.ogg", float(rng.uniform(150, 170)),
                    float(rng.uniform(0.5, 0.8)), rng) for i in range(60)]
    with open_library(db) as lib:
        lib.add_tracks(ost + other)


def _folder_gaps_ok(paths: list[str]) -> bool:
    folders = [os.path.dirname(p) for p in paths]
    return all(folders[i] != folders[j] for i in range(len(folders))
               for j in range(i + 1, min(i + ARTIST_GAP + 1, len(folders))))


def test_spacing_key_falls_back_in_order():
    t = Track(id=None, path="/m/ost/a.ogg", artist="Band", albumartist="Label", album="LP")
    assert spacing_key(t) == ("artist", "a:band")
    t.artist = "Unknown Artist"
    assert spacing_key(t) == ("album artist", "a:label")
    t.albumartist = "Band"  # the same name as an artist tag elsewhere: one key
    assert spacing_key(t)[1] == spacing_key(Track(id=None, path="/x", artist="band"))[1]
    t.albumartist = None
    assert spacing_key(t) == ("album", "b:lp")
    t.album = ""
    assert spacing_key(t) == ("folder", "f:" + os.path.normpath("/m/ost"))


def test_run_plan_spaces_an_untagged_soundtrack_by_folder(tmp_path):
    db = tmp_path / "lib.db"
    _untagged_library(db)
    with open_library(db) as lib:
        p = plan(lib, load_arc("run"), 30)
    paths = [e.track.path for e in p.entries]
    n_ost = sum("/game-ost/" in x for x in paths)
    assert n_ost >= 2, paths  # the soundtrack is still used, just spaced out
    assert _folder_gaps_ok(paths), paths
    assert p.report.artist_violations == 0
    assert p.report.artist_spacing_by == {"folder": 1.0}


def test_score_names_the_folder_fallback(tmp_path):
    """Six soundtrack tracks back to back (what the old planner made) are repeats."""
    db = tmp_path / "lib.db"
    _untagged_library(db)
    with open_library(db) as lib:
        ost = [t for t in lib.tracks(sort="id") if "/game-ost/" in t.path][:6]
    r = score_tracks(ost, load_arc("run").timeline(20))
    assert r.artist_min_gap == 0 and r.artist_violations == 5
    assert r.artist_spacing_by == {"folder": 1.0}
    m3u = tmp_path / "ost.m3u8"
    m3u.write_text("#EXTM3U\n" + "\n".join(t.path for t in ost) + "\n")
    out = runner.invoke(app, ["score", str(m3u), "--db", str(db), "--arc", "run"])
    assert out.exit_code == 0, out.output
    assert "closest repeat 0 tracks apart, 5 within 3" in out.output
    assert "artist spacing by: folder 100%" in out.output
    js = runner.invoke(app, ["score", str(m3u), "--db", str(db), "--arc", "run", "--json"])
    assert json.loads(js.output)["artist_spacing_by"] == {"folder": 1.0}


def test_tagged_artists_still_space_by_artist(tmp_path):
    """Every track in one folder but tagged with 8 artists: the artist decides."""
    rng = np.random.default_rng(1)
    tracks = [_track(f"/music/all/{i:03d}.ogg", float(rng.uniform(150, 170)),
                     float(rng.uniform(0.5, 0.8)), rng, artist=f"Band {i % 8}")
              for i in range(48)]
    with open_library(tmp_path / "lib.db") as lib:
        lib.add_tracks(tracks)
        p = plan(lib, load_arc("run"), 30)
    arts = [e.track.artist for e in p.entries]
    assert all(arts[i] != arts[j] for i in range(len(arts))
               for j in range(i + 1, min(i + ARTIST_GAP + 1, len(arts))))
    assert p.report.artist_spacing_by == {"artist": 1.0}
    assert p.report.artist_violations == 0


def test_flat_untagged_library_still_fills_and_says_why(tmp_path):
    """All untagged files in one folder: spacing by folder would allow one track, so the
    planner leaves the folder out of the rule and notes it; the plan still fills."""
    rng = np.random.default_rng(2)
    tracks = [_track(f"/music/flat/{i:03d}.ogg", float(rng.uniform(150, 170)),
                     float(rng.uniform(0.5, 0.8)), rng) for i in range(30)]
    with open_library(tmp_path / "lib.db") as lib:
        lib.add_tracks(tracks)
        p = plan(lib, load_arc("run"), 30)
    assert p.entries[-1].end_s >= 30 * 60
    assert p.report.artist_spacing_by == {"none": 1.0}
    assert any("too many to space by folder" in n for n in p.report.notes)
