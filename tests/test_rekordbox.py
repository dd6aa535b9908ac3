"""rekordbox XML export (issue 14): it parses, has the structure rekordbox reads, round-trips
(tracks, beat grid, cues, playlist order) and survives hostile names."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import numpy as np
import pytest

from underdog.errors import PlaylistError
from underdog.export.rekordbox import (GRID_TOLERANCE_S, grid_beats, location,
                                       path_of_location, read_rekordbox, rekordbox_xml,
                                       tempo_markers, write_rekordbox)
from underdog.models import Track

from .excerpt_library import demo_db  # noqa: F401  (the session's scan of the demo library)


def _file(tmp_path, name: str | bytes, size: int = 1000) -> str:
    """A real file (so Size is known), its name given as text or raw bytes."""
    raw = os.fsencode(tmp_path) + b"/" + (name if isinstance(name, bytes) else name.encode())
    with open(raw, "wb") as f:
        f.write(b"\0" * size)
    return os.fsdecode(raw)


def _entry(path, start_s, in_s=None, out_s=None, drop_at_s=None, **track):
    t = Track(id=track.pop("id", None), path=path, **track)
    return SimpleNamespace(track=t, path=path, artist=t.artist, title=t.title,
                           duration_s=t.duration_s, start_s=start_s, in_s=in_s, out_s=out_s,
                           drop_at_s=drop_at_s, tempo_bpm=track.get("bpm"),
                           drop_on_peak_s=None)


def _beats(bpm: float, first: float, dur: float, jitter: float = 0.004, seed: int = 0):
    b = np.arange(first, dur, 60.0 / bpm)
    b = b + np.random.default_rng(seed).normal(0, jitter, len(b))
    return b, b[1::4]  # the second beat is a downbeat: beat 0 is beat 4 of a pickup bar


@pytest.fixture
def plan(tmp_path):
    a = _file(tmp_path, "a.mp3", 1234)
    b = _file(tmp_path, "b.flac", 5678)
    c = _file(tmp_path, "c.ogg", 99)
    entries = [
        _entry(a, 0.0, 12.0, 52.0, 18.2, artist="Art A", title="Song A", album="Alb",
               duration_s=200.4, bpm=128.0, key="A minor", camelot="8A",
               drops=[{"time_s": 30.0, "strength": 0.9}]),
        _entry(b, 40.0, 60.5, 90.25, None, artist="Art B", title="Song B", duration_s=180.0,
               bpm=140.0, camelot="3B"),
        _entry(c, 70.0, None, None, None, title="Whole", duration_s=120.0, bpm=100.0,
               key="F# major"),
        _entry(a, 190.0, 100.0, 130.0, None, artist="Art A", title="Song A", album="Alb",
               duration_s=200.4, bpm=128.0, key="A minor", camelot="8A"),
    ]
    grids = {a: _beats(128.0, 0.3, 200.0), b: _beats(140.0, 0.1, 180.0, seed=1)}
    # b drifts: a second half 3 % faster
    bb, _ = grids[b]
    bb = np.concatenate([bb[:200], bb[199] + np.cumsum(np.full(len(bb) - 200, 60 / 144.2))])
    grids[b] = (bb, bb[1::4])
    return entries, grids


def test_structure_is_what_rekordbox_reads(plan, tmp_path):
    entries, grids = plan
    out = tmp_path / "plan.xml"
    write_rekordbox(entries, out, "underdog hiit", grid=lambda e: grids.get(e.path))
    root = ET.parse(out).getroot()
    assert root.tag == "DJ_PLAYLISTS" and root.get("Version") == "1.0.0"
    assert [c.tag for c in root] == ["PRODUCT", "COLLECTION", "PLAYLISTS"]
    assert root.find("PRODUCT").get("Name") == "underdog"
    coll = root.find("COLLECTION")
    tracks = coll.findall("TRACK")
    assert coll.get("Entries") == "3" and len(tracks) == 3  # a is used twice, listed once
    t = tracks[0].attrib
    assert t["TrackID"] == "1" and t["Name"] == "Song A" and t["Artist"] == "Art A"
    assert t["Album"] == "Alb" and t["Kind"] == "MP3 File" and t["Size"] == "1234"
    assert t["TotalTime"] == "200" and t["AverageBpm"] == "128.00" and t["Tonality"] == "Am"
    assert t["Location"].startswith("file://localhost/") and t["Location"].endswith("/a.mp3")
    assert tracks[1].get("Kind") == "FLAC File" and tracks[1].get("Tonality") == "Db"
    assert tracks[2].get("Tonality") == "F#"
    for tempo in tracks[0].findall("TEMPO"):
        assert set(tempo.attrib) == {"Inizio", "Bpm", "Metro", "Battito"}
        assert tempo.get("Metro") == "4/4" and tempo.get("Battito") in "1234"
    assert len(tracks[0].findall("TEMPO")) == 1  # steady: one marker
    assert len(tracks[1].findall("TEMPO")) >= 2  # the tempo change needs another
    assert tracks[2].findall("TEMPO") == []  # no stored beats: rekordbox analyses it
    marks = [(m.get("Name"), m.get("Type"), m.get("Start"), m.get("Num"))
             for m in tracks[0].findall("POSITION_MARK")]
    assert marks == [("in", "0", "12.000", "-1"), ("in", "0", "12.000", "0"),
                     ("drop", "0", "30.000", "-1"), ("drop", "0", "30.000", "1"),
                     ("out", "0", "52.000", "-1"), ("out", "0", "52.000", "2"),
                     ("in 2", "0", "100.000", "-1"), ("in 2", "0", "100.000", "3"),
                     ("out 2", "0", "130.000", "-1"), ("out 2", "0", "130.000", "4")]
    # A whole-track entry without a drop: no cue at all.
    assert tracks[2].findall("POSITION_MARK") == []
    (folder,) = root.find("PLAYLISTS").findall("NODE")
    assert folder.attrib == {"Type": "0", "Name": "ROOT", "Count": "1"}
    (pl,) = folder.findall("NODE")
    assert pl.attrib == {"Type": "1", "Name": "underdog hiit", "KeyType": "0", "Entries": "4"}
    assert [k.get("Key") for k in pl.findall("TRACK")] == ["1", "2", "3", "1"]


def test_round_trip(plan, tmp_path):
    entries, grids = plan
    out = tmp_path / "plan.xml"
    write_rekordbox(entries, out, "mine", grid=lambda e: grids.get(e.path))
    doc = read_rekordbox(out)
    assert [t.path for t in doc.tracks] == [entries[0].path, entries[1].path, entries[2].path]
    assert [t.name for t in doc.tracks] == ["Song A", "Song B", "Whole"]
    assert [t.bpm for t in doc.tracks] == [128.0, 140.0, 100.0]
    assert [t.tonality for t in doc.tracks] == ["Am", "Db", "F#"]
    (pl,) = doc.playlists
    assert pl.name == "mine" and pl.folder == ("ROOT",) and pl.track_ids == [1, 2, 3, 1]
    # Cues: in, drop, out of each use, to the millisecond.
    a = doc.track(1)
    memory = [(m.name, m.start_s) for m in a.marks if m.num == -1]
    assert memory == [("in", 12.0), ("drop", 30.0), ("out", 52.0), ("in 2", 100.0),
                      ("out 2", 130.0)]
    assert sorted(m.num for m in a.marks if m.num >= 0) == [0, 1, 2, 3, 4]
    assert [(m.name, m.start_s) for m in doc.track(2).marks if m.num == -1] == [
        ("in", 60.5), ("out", 90.25)]
    # The grid: every stored beat within the tolerance of a grid beat, downbeats on beat 1.
    for t in doc.tracks[:2]:
        beats, downbeats = grids[t.path]
        g, num = grid_beats(t.tempos, beats[-1] + 0.1)
        near = np.abs(g[None, :] - beats[:, None]).argmin(axis=1)
        err = np.abs(g[near] - beats)
        assert err.max() <= GRID_TOLERANCE_S + 0.0015, err.max()
        on_down = np.abs(g[None, :] - downbeats[:, None]).argmin(axis=1)
        assert (num[on_down] == 1).all()


def test_tempo_markers_steady_drifting_and_odd_bars():
    beats, down = _beats(120.0, 0.5, 300.0)
    (m,) = tempo_markers(beats, down)
    assert abs(m.bpm - 120.0) < 0.05 and m.battito == 4 and abs(m.inizio_s - 0.5) < 0.01
    # A steady slowdown: several markers, each within tolerance.
    b = np.cumsum(np.full(400, 0.5) * np.linspace(1.0, 1.1, 400))
    ms = tempo_markers(b, b[::4])
    assert 2 <= len(ms) < 40 and ms[0].bpm > ms[-1].bpm
    # A 3-beat bar in a 4/4 track: the count restarts there, so later downbeats stay on 1.
    b = np.arange(0, 40, 0.5)
    down = np.concatenate([b[0:16:4], b[15::4]])
    ms = tempo_markers(b, down)
    g, num = grid_beats(ms, b[-1] + 0.01)
    idx = np.abs(g[None, :] - down[:, None]).argmin(axis=1)
    assert (num[idx] == 1).all() and len(ms) == 2
    assert tempo_markers(np.array([1.0]), np.array([])) == []


def test_hostile_names_stay_well_formed_and_exact(tmp_path):
    raw = b"caf\xe9 <b>&amp;\"'\x01.mp3"  # Latin-1 byte, markup, a control character
    p = _file(tmp_path, raw)
    title = 'Evil <script>alert("x")</script> & \x07bell\x1b[31m\nnext\ud800'
    entries = [_entry(p, 0.0, 1.0, 21.0, None, title=title, artist="A&B <C>",
                      album="]]><!--", duration_s=60.0, bpm=120.0)]
    out = tmp_path / "x.xml"
    write_rekordbox(entries, out, title="play<list>\x00 & co")
    data = out.read_bytes()
    data.decode("utf-8")  # valid UTF-8
    root = ET.fromstring(data)  # well-formed
    doc = read_rekordbox(out)
    (t,) = doc.tracks
    assert os.fsencode(t.path) == os.fsencode(p)  # the exact bytes come back
    assert "<script>" in t.name and "&" in t.name
    assert not any(ord(ch) < 0x20 for ch in t.name + t.artist + t.album)
    assert t.artist == "A&B <C>" and t.album == "]]><!--"
    assert doc.playlists[0].name == "play<list> & co"
    assert root.find("COLLECTION/TRACK").get("Location").endswith(
        "caf%E9%20%3Cb%3E%26amp%3B%22%27%01.mp3")


def test_location_uri_forms():
    assert location("/music/a b#c%.mp3") == "file://localhost/music/a%20b%23c%25.mp3"
    assert path_of_location("file://localhost/music/a%20b.mp3") == "/music/a b.mp3"
    assert path_of_location("file:///music/x.mp3") == "/music/x.mp3"
    assert path_of_location("file://localhost/C:/Music/x.mp3") == "C:/Music/x.mp3"
    with pytest.raises(ValueError):
        path_of_location("http://example.com/x.mp3")


def test_reader_refuses_what_is_not_rekordbox(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<DJ_PLAYLISTS><COLLECTION>")
    with pytest.raises(PlaylistError, match="not well-formed"):
        read_rekordbox(bad)
    other = tmp_path / "other.xml"
    other.write_text('<?xml version="1.0"?><playlist/>')
    with pytest.raises(PlaylistError, match="not a rekordbox"):
        read_rekordbox(other)
    broken = tmp_path / "broken.xml"
    broken.write_text('<DJ_PLAYLISTS><COLLECTION><TRACK Name="x"/></COLLECTION></DJ_PLAYLISTS>')
    with pytest.raises(PlaylistError, match="malformed"):
        read_rekordbox(broken)


def test_text_without_a_grid_callable():
    text = rekordbox_xml([{"path": "/m/x.mp3", "title": "X", "duration_s": 10.0}])
    root = ET.fromstring(text)
    assert root.find("COLLECTION/TRACK").get("Name") == "X"
    assert root.find("COLLECTION/TRACK/TEMPO") is None


# ---------------------------------------------------------------- a real excerpt plan

@pytest.fixture(scope="module")
def scanned(demo_db, tmp_path_factory):  # noqa: F811
    """The demo library's session scan and an excerpt plan of it (hiit, 2 rounds)."""
    from underdog.library.db import open_library
    from underdog.planning.arcs import hiit
    from underdog.planning.sequencer import PlanOptions, plan

    lib = open_library(demo_db)
    p = plan(lib, hiit(work=1.0, rest=0.5, rounds=2), 4.0, PlanOptions(excerpts=True))
    yield tmp_path_factory.mktemp("rekordbox"), lib, p
    lib.close()


def test_a_real_excerpt_plan_round_trips(scanned):
    d, lib, p = scanned
    assert p.entries and all(e.in_s is not None for e in p.entries)
    out = d / "plan.xml"
    write_rekordbox(p.entries, out, "underdog hiit", grid=lambda e: lib.rhythm(e.track.id)[:2])
    doc = read_rekordbox(out)
    by_id = {t.track_id: t for t in doc.tracks}
    (pl,) = doc.playlists
    assert [by_id[k].path for k in pl.track_ids] == [e.path for e in p.entries]
    uses: dict[str, int] = {}
    for e in p.entries:
        uses[e.path] = uses.get(e.path, 0) + 1
        t = next(t for t in doc.tracks if t.path == e.path)
        sfx = "" if uses[e.path] == 1 else f" {uses[e.path]}"
        memory = {m.name: m.start_s for m in t.marks if m.num == -1}
        assert memory["in" + sfx] == round(e.in_s, 3) and memory["out" + sfx] == round(e.out_s, 3)
        if ("drop" + sfx) in memory:
            assert e.in_s <= memory["drop" + sfx] <= e.out_s
        assert t.bpm == round(e.track.bpm, 2) and t.total_time_s == round(e.track.duration_s)
    for t in doc.tracks:  # the grid lays out the stored beats, downbeats on beat 1
        beats, downbeats, _ = lib.rhythm(next(e.track.id for e in p.entries if e.path == t.path))
        assert t.tempos, t.path
        g, num = grid_beats(t.tempos, float(beats[-1]) + 0.1)
        err = np.abs(g[None, :] - beats[:, None]).min(axis=1)
        assert err.max() <= GRID_TOLERANCE_S + 0.0015, (t.path, err.max())
        # where one marker hands over to the next, no beat is laid twice
        assert np.diff(g).min() > 0.5 * np.median(np.diff(beats)), t.path
        on = np.abs(g[None, :] - downbeats[:, None]).argmin(axis=1)
        assert (num[on] == 1).all(), t.path


def test_soundtrack_match_writes_rekordbox_xml(demo_db, tmp_path):  # noqa: F811
    """soundtrack match -o film.xml: the found tracks in film order, with their grids."""
    from typer.testing import CliRunner

    from underdog.cli import app

    tl = tmp_path / "film.txt"
    tl.write_text("Muldjord - Armygeddon 00:10:00\nNobody - Not In The Library 00:20:00\n"
                  "Muldjord - Chaos God 00:05:00\n")
    out = tmp_path / "film.xml"
    r = CliRunner().invoke(app, ["soundtrack", "match", str(tl), "--db", demo_db, "-o",
                                 str(out)])
    assert r.exit_code == 0, r.output
    doc = read_rekordbox(out)
    by_id = {t.track_id: t for t in doc.tracks}
    names = [by_id[k].name for k in doc.playlists[0].track_ids]
    assert names == ["Chaos God", "Armygeddon"] and doc.playlists[0].name == "film"
    assert all(t.tempos for t in doc.tracks)
