"""Each track field is declared once (underdog.fields.FIELDS): the records, the schema, the
row mapping and the JSON form all follow the declaration."""

from __future__ import annotations

import dataclasses
import sqlite3

import numpy as np

from underdog import fields
from underdog.analysis import VERSIONS, TrackAnalysis
from underdog.library.db import open_library
from underdog.models import Track


def _names(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def test_records_are_the_declared_fields_in_order():
    assert _names(Track) == [f.name for f in fields.on(fields.TRACK)]
    assert _names(TrackAnalysis) == [f.name for f in fields.on(fields.ANALYSIS)]
    # positional construction as before: Track(id, path, artist, title, ...)
    t = Track(None, "/m/a.ogg", "Artist", "Title")
    assert (t.artist, t.title, t.status, t.style, t.energy_curve) == ("Artist", "Title", "ok",
                                                                     {}, None)
    a = TrackAnalysis("/m/a.ogg", 12.5)
    assert a.duration_s == 12.5 and a.beats.dtype == np.float32 and len(a.beats) == 0
    assert a.analysers == dict(VERSIONS)  # made by hand: claims the current analysers
    assert Track(1, "/x").drops is not Track(2, "/y").drops  # fresh containers


def test_schema_is_the_declaration(tmp_path):
    db = tmp_path / "lib.db"
    with open_library(db):
        pass
    con = sqlite3.connect(db)
    for table in ("tracks", "beats", "features"):
        cols = {r[1]: r[2] for r in con.execute(f"PRAGMA table_info({table})")}
        cols.pop("track_id", None)
        declared = {f.name: fields.SQL_TYPES[f.kind] for f in fields.in_table(table)}
        assert set(cols) == set(declared), table
        assert all(cols[c].split()[0] == declared[c] for c in cols), table
    con.close()


def test_a_declared_column_a_database_lacks_is_added_on_open(tmp_path):
    db = tmp_path / "lib.db"
    with open_library(db) as lib:
        lib.save_analysis("/m/a.ogg", {}, (1, 2), None, TrackAnalysis("/m/a.ogg", 3.0, bpm=99.0))
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE tracks DROP COLUMN key_confidence")
    con.execute("DROP TABLE features")
    con.commit()
    con.close()
    with open_library(db) as lib:
        assert lib.get_track("/m/a.ogg").bpm == 99.0
    con = sqlite3.connect(db)
    assert "key_confidence" in [r[1] for r in con.execute("PRAGMA table_info(tracks)")]
    assert con.execute("SELECT count(*) FROM features").fetchone() == (0,)
    con.close()


def _full_analysis() -> TrackAnalysis:
    beats = np.arange(0.5, 30.0, 0.5, dtype=np.float32)
    return TrackAnalysis(
        "/m/full.flac", 30.0, bpm=np.float64(120.0), bpm_confidence=0.9,
        bpm_candidates=[(120.0, 0.9), (60.0, 0.1)], tempo_segments=[(0.0, 30.0, 120.0)],
        beats=beats, downbeats=beats[::4], phrases=beats[::32], loudness_lufs=-9.5,
        loudness_range_lu=4.0, peak_dbfs=-0.3, energy=0.7, energy_level=np.int64(7),
        energy_curve=np.linspace(0, 1, 8, dtype=np.float32), energy_curve_hop_s=2.0,
        key="A minor", camelot="8A", key_confidence=0.6,
        drops=[{"time_s": 12.0, "strength": 0.8}], buildups=[{"start_s": 8.0, "end_s": 12.0}],
        intro_end_s=4.0, outro_start_s=26.0, style={"heavy": 0.7, "hiphop": 0.3},
        style_label="heavy", style_source="audio",
        style_features=np.arange(12.0).reshape(2, 6), warnings=["one caveat"])


def test_every_declared_field_round_trips_through_the_library(tmp_path):
    a = _full_analysis()
    with open_library(tmp_path / "lib.db") as lib:
        tid = lib.save_analysis(a.path, {"artist": "A", "year": 1999}, (1, 2), "p:x", a)
        t = lib.get_track(tid)
        for f in fields.on(fields.TRACK, "tracks"):
            if fields.ANALYSIS not in f.on:
                continue
            got, want = getattr(t, f.name), getattr(a, f.name)
            if isinstance(want, np.ndarray):
                np.testing.assert_array_equal(got, want, err_msg=f.name)
            else:
                assert got == want, f.name
        assert (t.artist, t.year, t.status) == ("A", 1999, "ok")
        b, d, p = lib.rhythm(tid)
        np.testing.assert_array_equal(b, a.beats)
        np.testing.assert_array_equal(d, a.downbeats)
        np.testing.assert_array_equal(p, a.phrases)
        np.testing.assert_array_equal(lib.style_features(tid, 6), a.style_features)
        assert lib.style_features(tid, 5) is None  # another model's feature count
        details = lib.track_details(tid)
        assert details["bpm_candidates"] == [[120.0, 0.9], [60.0, 0.1]]
        assert details["buildups"] == a.buildups and details["analysers"] == dict(VERSIONS)


def test_every_kind_is_stored_and_read_back():
    from underdog.library.db import _FROM_DB, _TO_DB

    assert set(_TO_DB) == set(_FROM_DB) == set(fields.SQL_TYPES)
    words = np.array([0, 1, 2**32 - 1], np.uint32)
    back = _FROM_DB["u32"](_TO_DB["u32"](words))
    assert back.dtype == np.uint32 and back.tolist() == words.tolist()
    assert _FROM_DB["u32"](b"\x01\x02").size == 0  # a damaged blob reads as none
    for kind in set(fields.SQL_TYPES) - {"path"}:  # empty reads back as the kind's empty
        f = fields.Field("x", kind)
        empty = f.empty()
        got = _FROM_DB[kind](_TO_DB[kind](empty))
        assert type(got) is type(empty) or empty is None, kind


def test_json_form_follows_the_declaration():
    a = _full_analysis()
    a.bpm, a.energy = 120.123456, float("nan")
    j = a.to_json()
    assert list(j) == [f.name for f in fields.on(fields.ANALYSIS) if f.json]
    assert "style_features" not in j and j["analysers"] == dict(VERSIONS)
    assert j["bpm"] == 120.1235 and j["energy"] is None and j["energy_level"] == 7
    assert j["beats"][:2] == [0.5, 1.0] and j["tempo_segments"] == [[0.0, 30.0, 120.0]]
    assert fields.plain(np.float32(0.5)) == 0.5 and fields.plain((np.int8(3),)) == [3]


def test_table_cells_come_from_the_declaration():
    assert fields.column("bpm") == ("BPM", "right")
    assert fields.cell("duration_s", 245.6) == "4:06"  # rounded, as every other m:ss
    assert fields.cell("energy", 1.0) == "10.0" and fields.cell("energy", None) == "–"
    assert fields.cell("drops", [{}, {}]) == "2" and fields.cell("camelot", None) == "–"


def test_sort_keys_come_from_the_declaration(tmp_path):
    assert fields.SORT_KEYS["duration"] == "duration_s" and fields.SORT_KEYS["key"] == "camelot"
    with open_library(tmp_path / "lib.db") as lib:
        for i, d in enumerate((30.0, 10.0, 20.0)):
            lib.save_analysis(f"/m/{i}.ogg", {"title": "bcA"[i]}, (1, 2), None,
                              TrackAnalysis(f"/m/{i}.ogg", d))
        assert [t.duration_s for t in lib.tracks(sort="-duration")] == [30.0, 20.0, 10.0]
        assert [t.title for t in lib.tracks(sort="title")] == ["A", "b", "c"]  # any case
        for key in fields.SORT_KEYS:
            lib.tracks(sort=key)  # every term is valid SQL on the declared columns


def test_a_track_from_an_analysis_and_tags_takes_every_shared_field():
    a = _full_analysis()
    t = Track.from_analysis(a, {"artist": "A", "title": "T", "year": 2001, "genres": ["x"]})
    assert (t.id, t.path, t.artist, t.title, t.year, t.album) == (None, a.path, "A", "T",
                                                                   2001, None)
    for f in fields.on(fields.TRACK):
        if fields.ANALYSIS in f.on:
            assert getattr(t, f.name) is getattr(a, f.name), f.name

