"""The library database on real SQLite: schema, queries against a brute-force check, writes."""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest

from underdog.analysis import TrackAnalysis
from underdog.library.db import (SCHEMA_VERSION, Library, LibraryError, default_db_path,
                                 open_library)
from underdog.models import Track

STYLES = ["heavy", "electronic", "rock", "orchestral", "hiphop", "ambient"]


def synthetic(n: int, seed: int = 0) -> list[Track]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        probs = rng.dirichlet(np.ones(len(STYLES)))
        out.append(Track(
            id=None, path=f"/music/{i:05d}.mp3", artist=f"Artist {i % 37}", title=f"T{i}",
            bpm=float(rng.uniform(60, 190)), energy=float(rng.uniform(1, 10)),
            energy_level=int(rng.integers(1, 11)),
            camelot=f"{int(rng.integers(1, 13))}{'AB'[int(rng.integers(2))]}",
            key=None, style=dict(zip(STYLES, probs.round(4).tolist())),
            style_label=STYLES[int(np.argmax(probs))], duration_s=float(rng.uniform(60, 400)),
            energy_curve=rng.random(50).astype(np.float32), energy_curve_hop_s=2.0,
            drops=[{"time_s": 61.5, "strength": 0.8}] if i % 3 == 0 else []))
    return out


@pytest.fixture
def lib(tmp_path):
    with open_library(tmp_path / "sub" / "dir" / "lib.db") as lib:
        yield lib


def test_schema_created_with_version_and_wal(tmp_path):
    p = tmp_path / "a" / "b" / "lib.db"
    with open_library(p) as lib:
        assert lib.schema_version == SCHEMA_VERSION
    con = sqlite3.connect(p)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"tracks_bpm", "tracks_energy", "tracks_style_bpm", "tracks_camelot",
            "tracks_artist"} <= names
    con.close()
    with open_library(p) as lib:  # reopening migrates nothing and keeps the data
        assert lib.schema_version == SCHEMA_VERSION


def test_newer_schema_and_garbage_file_are_clear_errors(tmp_path):
    p = tmp_path / "new.db"
    con = sqlite3.connect(p)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    con.close()
    with pytest.raises(LibraryError, match="newer"):
        open_library(p)
    g = tmp_path / "garbage.db"
    g.write_bytes(b"not a database at all" * 100)
    with pytest.raises(LibraryError, match="not a usable library"):
        open_library(g)


def test_default_db_path_env(monkeypatch, tmp_path):
    monkeypatch.setenv("UNDERDOG_DB", str(tmp_path / "x.db"))
    assert default_db_path() == str(tmp_path / "x.db")
    monkeypatch.delenv("UNDERDOG_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db_path() == str(tmp_path / "xdg" / "underdog" / "library.db")
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_db_path() == os.path.expanduser("~/.local/share/underdog/library.db")


def test_filters_match_brute_force(lib):
    tracks = synthetic(3000)
    ids = lib.add_tracks(tracks)
    assert ids == list(range(1, 3001))
    for bpm, energy, style, key, artist in [
            ((120, 140), None, "heavy", None, None), (None, (7, 10), None, None, None),
            ((None, 90), None, None, "8A", None), (None, None, None, None, "artist 3"),
            ((100, 180), (2, 6), "rock", None, "Artist 1")]:
        got = lib.tracks(bpm=bpm, energy=energy, style=style, key=key, artist=artist)
        want = [t for t in tracks
                if (bpm is None or ((bpm[0] is None or t.bpm >= bpm[0]) and
                                    (bpm[1] is None or t.bpm <= bpm[1])))
                and (energy is None or energy[0] <= t.energy <= energy[1])
                and (style is None or t.style_label == style)
                and (key is None or t.camelot == key)
                and (artist is None or artist.lower() in t.artist.lower())]
        assert sorted(t.path for t in got) == sorted(t.path for t in want), (bpm, style, key)
        assert len(want) > 0


def test_rows_round_trip_and_sort(lib):
    tracks = synthetic(200)
    lib.add_tracks(tracks)
    got = {t.path: t for t in lib.tracks()}
    for t in tracks:
        g = got[t.path]
        assert g.bpm == pytest.approx(t.bpm) and g.style_label == t.style_label
        assert g.style == pytest.approx(t.style)
        assert g.drops == t.drops
        assert g.energy_curve.dtype == np.float32
        np.testing.assert_array_equal(g.energy_curve, t.energy_curve)
    by_energy = lib.tracks(sort="-energy", limit=10)
    assert [t.energy for t in by_energy] == sorted((t.energy for t in tracks), reverse=True)[:10]
    with pytest.raises(ValueError):
        lib.tracks(sort="nonsense")


def test_indexes_are_used(lib):
    lib.add_tracks(synthetic(500))
    plan = " ".join(lib.explain_tracks(bpm=(120, 140), style="heavy"))
    assert "INDEX tracks_style_bpm" in plan
    assert "INDEX tracks_camelot" in " ".join(lib.explain_tracks(key="8A"))
    # the plan of the query tracks() runs, its own index choice included
    assert "INDEX tracks_text" in " ".join(lib.explain_tracks(text="tune", sort="bpm"))


def test_save_analysis_error_cycle_and_beats(lib):
    beats = np.arange(0, 30, 0.5, dtype=np.float32)
    a = TrackAnalysis(path="/m/x.flac", duration_s=30.0, bpm=np.float64(120.0),
                      bpm_confidence=0.9, beats=beats, energy=6.5, energy_level=7,
                      energy_curve=np.linspace(0, 1, 15, dtype=np.float32),
                      energy_curve_hop_s=2.0, camelot="8A", key="A minor",
                      style={"heavy": 0.7, "rock": 0.3}, style_label="heavy",
                      bpm_candidates=[(120.0, 0.9), (60.0, 0.1)], loudness_lufs=float("nan"))
    tid = lib.save_analysis("/m/x.flac", {"artist": "X", "year": 1999}, (100, 5), "fp1", a)
    t = lib.get_track(tid)
    assert (t.artist, t.year, t.bpm, t.camelot, t.loudness_lufs) == ("X", 1999, 120.0, "8A",
                                                                     None)
    np.testing.assert_array_equal(lib.beats(tid), beats)
    assert lib.get_track("/m/x.flac").id == tid
    assert lib.tracks(key="a minor")[0].id == tid
    # the file breaks: recorded, hidden from queries, same id; then fixed again
    assert lib.save_error("/m/x.flac", (50, 6), "cannot decode: corrupt") == tid
    assert lib.tracks() == [] and len(lib.tracks(include_failed=True)) == 1
    assert [e.reason for e in lib.errors()] == ["cannot decode: corrupt"]
    assert lib.save_analysis("/m/x.flac", {}, (100, 7), "fp1", a) == tid
    assert lib.errors() == [] and lib.count() == 1
    d = lib.track_details(tid)
    assert d["bpm_candidates"] == [[120.0, 0.9], [60.0, 0.1]] and len(d["beats"]) == 60


def test_missing_prune_and_move(lib):
    ids = lib.add_tracks(synthetic(5))
    lib.mark_missing(ids[:2])
    assert len(lib.tracks()) == 3 and len(lib.tracks(include_missing=True)) == 5
    lib.move_track(ids[0], "/music/new place.mp3", (1, 2))
    assert lib.get_track("/music/new place.mp3").id == ids[0]
    assert lib.prune() == 1
    assert lib.count(None) == 4


def test_add_tracks_with_analyses_and_duplicate_path(lib):
    tracks = synthetic(3)
    analyses = [TrackAnalysis(path=t.path, duration_s=10.0, bpm=t.bpm,
                              beats=np.array([0.5, 1.0, 1.5], np.float32)) for t in tracks]
    ids = lib.add_tracks(tracks, analyses)
    np.testing.assert_array_equal(lib.beats(ids[1]), [0.5, 1.0, 1.5])
    with pytest.raises(sqlite3.IntegrityError):
        lib.add_tracks(synthetic(1))
    assert lib.count() == 3  # the failed bulk insert left nothing behind


def test_plan_history(lib):
    ids = lib.add_tracks(synthetic(10))
    lib.record_plan(ids[:3], "classic", 1)
    lib.record_plan(ids[3:5], "hiit", None)
    lib.record_plan(ids[5:6], "classic", 2)
    assert lib.recent_plan_track_ids(1) == {ids[5]}
    assert lib.recent_plan_track_ids(2) == set(ids[3:6])
    assert lib.recent_plan_track_ids(10) == set(ids[:6])
    assert lib.recent_plan_track_ids(0) == set()


def test_non_utf8_path_round_trips(lib):
    p = os.fsdecode(b"/music/caf\xe9.mp3")
    tid = lib.save_error(p, None, "cannot decode: x")
    assert lib.get_track(tid).path == p and lib.get_track(p).id == tid
    assert lib.errors()[0].path == p


def test_downbeats_and_phrases_round_trip(tmp_path):
    from types import SimpleNamespace

    import numpy as np

    beats = np.arange(0.5, 60, 0.5, dtype=np.float32)
    a = SimpleNamespace(duration_s=60.0, beats=beats, downbeats=beats[::4], phrases=beats[::32])
    with open_library(tmp_path / "lib.db") as lib:
        tid = lib.save_analysis("/m/a.ogg", {}, (1, 2), "p:x", a)
        b, d, p = lib.rhythm(tid)
        assert np.allclose(b, beats) and np.allclose(d, beats[::4]) and np.allclose(p, beats[::32])
        assert np.allclose(lib.beats(tid), beats)
        # an analysis without bars stores empty ones, not stale ones
        lib.save_analysis("/m/a.ogg", {}, (1, 2), "p:x", SimpleNamespace(duration_s=60.0, beats=beats))
        b, d, p = lib.rhythm(tid)
        assert len(b) == len(beats) and len(d) == 0 and len(p) == 0
