"""The application layer (underdog.app): every user operation as a function that opens the
library itself and returns plain records, never printing. Real audio: six clips of the demo
library scanned into a real SQLite library through ``app.scan``."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from underdog import app
from underdog.app.common import track_csv_record
from underdog.errors import NotFoundError, UnderdogError, UsageError
from underdog.library.db import LibraryError

from .conftest import clip_folder

CLIPS = [("Shawn Parrotte - Caves.flac", 10), ("Max McCracken - Awakening.opus", 5),
         ("Muldjord - Armygeddon.mp3", 60), ("Nexuiz - Beast of Insanity.ogg", 60),
         ("Muldjord - Chaos God.ogg", 30), ("Nexuiz - Stairs.mp3", 40)]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    """(db path, music folder, progress events) after one app.scan of the clips."""
    d = tmp_path_factory.mktemp("app")
    music = clip_folder(d / "music", CLIPS, 45)
    db = str(d / "lib.db")
    events = []
    res = app.scan([music], db, jobs=0, progress=events.append)
    assert res.stats.analyzed == 6 and res.tracks == 6 and res.db_path == db
    return db, music, events


def test_scan_reports_progress_per_file(lib):
    _, _, events = lib
    assert [e.kind for e in events] == ["start"] + ["file"] * 6
    assert events[0].total_files == 6 and events[0].to_analyze == 6
    last = events[-1]
    assert last.done == 6 and last.analyzed == 6 and last.failed == 0
    assert last.audio_s == pytest.approx(6 * 45, abs=1)
    assert all(e.outcome == "analyzed" for e in events[1:])
    assert json.dumps(last.as_dict())  # JSON-ready for the web page's stream


def test_rescan_is_all_unchanged_and_a_missing_path_is_a_usage_error(lib, tmp_path):
    db, music, _ = lib
    res = app.scan([music], db, jobs=0)
    assert res.stats.unchanged == 6 and res.stats.decoded == 0
    with pytest.raises(UsageError, match="no such file or folder"):
        app.scan([tmp_path / "nowhere"], db)


def test_query_pages_in_sql_with_a_total(lib):
    db, _, _ = lib
    every = app.query_tracks(db, sort="bpm")
    assert every.total == 6 and len(every.tracks) == 6
    bpms = [t.bpm for t in every.tracks]
    assert bpms == sorted(bpms)
    page = app.query_tracks(db, sort="bpm", offset=2, limit=3)
    assert page.total == 6 and [t.id for t in page.tracks] == [t.id for t in every.tracks[2:5]]
    tail = app.query_tracks(db, sort="-bpm", offset=4, limit=10)
    assert len(tail.tracks) == 2 and tail.total == 6
    # Filters count what matches, not the page.
    lo = sorted(bpms)[3]
    some = app.query_tracks(db, bpm=f"{lo}-", limit=1)
    assert some.total == sum(b >= lo for b in bpms) and len(some.tracks) == 1
    assert app.query_tracks(db, energy=(1, 10)).total == 6
    rec = page.records()[0]
    assert set(app.TRACK_FIELDS) <= set(rec) and 1.0 <= rec["energy"] <= 10.0
    assert 0.0 <= rec["energy_raw"] <= 1.0 and "energy_level" not in rec
    # CSV: a track's drops are one cell of their times, its warnings one JSON array.
    assert "drops" in app.TRACK_FIELDS and "warnings" in app.TRACK_FIELDS
    for r in every.records():
        row = track_csv_record(r)
        assert row["drops"] == " ".join(f"{d['time_s']:.2f}" for d in r["drops"])
        assert row["warnings"] == (json.dumps(r["warnings"]) if r["warnings"] else "")
    row = track_csv_record({"id": 1, "drops": [{"time_s": 9.868, "strength": 0.7},
                                               {"time_s": 51.04, "strength": 0.4}],
                            "warnings": ["truncated", "odd tag"]})
    assert row == {"id": 1, "drops": "9.87 51.04", "warnings": '["truncated", "odd tag"]'}
    with pytest.raises(UsageError, match="unknown sort key"):
        app.query_tracks(db, sort="loudest")
    with pytest.raises(UsageError, match="range must look like"):
        app.query_tracks(db, bpm="fast")


def test_show_track_has_rhythm_drops_and_sections(lib):
    db, music, _ = lib
    t = app.query_tracks(db, sort="id").tracks[0]
    d = app.show_track(t.id, db)
    assert d.fields["path"] == t.path and d.fields["bpm"] == t.bpm
    assert len(d.beats) > 20 and len(d.downbeats) > 4 and d.beats.dtype == np.float32
    assert np.all(np.diff(d.beats) > 0)
    assert set(d.sections) == {"intro_end_s", "outro_start_s", "buildups", "drops"}
    assert d.drops == d.sections["drops"]
    doc = json.loads(json.dumps(d.as_dict()))
    assert len(doc["beats"]) == len(d.beats) and len(doc["energy_curve"]) == len(d.energy_curve)
    assert app.show_track(t.path, db).fields["id"] == t.id  # by path too
    with pytest.raises(NotFoundError) as ei:
        app.show_track(999999, db)
    assert ei.value.exit_code == 1 and "no track 999999" in ei.value.message


def test_arcs_list_load_and_toml_round_trip(tmp_path):
    names = [a["name"] for a in app.list_arcs()]
    assert {"montage", "hiit", "run"} <= set(names)
    run = app.get_arc("run", cadence=150)
    text = app.arc_toml(run)
    back = app.arc_from_toml(text)
    assert back.segments == run.segments
    f = tmp_path / "mine.toml"
    f.write_text(text)
    assert app.get_arc(str(f)).segments == run.segments
    with pytest.raises(UnderdogError, match="unknown arc"):
        app.get_arc("montagee")
    # The web page's form: the arc as JSON, back to the same arc, checked like a file.
    hiit = app.get_arc("hiit")
    doc = json.loads(json.dumps(app.arc_record(hiit)))
    assert app.arc_from_record(doc) == hiit
    doc["segments"][0]["bpm"] = [1000, 120]
    with pytest.raises(UnderdogError, match="BPM must be within"):
        app.arc_from_record(doc)
    doc["segments"][0]["tempo"] = 1
    with pytest.raises(UsageError, match="unknown key 'tempo'"):
        app.arc_from_record(doc)


def test_plan_score_and_outputs(lib, tmp_path):
    db, _, _ = lib
    r = app.plan("montage", 3, db=db, record=False)
    assert r.plan.entries and r.arc.name == "montage" and r.arc_spec["arc"] == "montage"
    doc = r.as_dict()
    assert doc["arc_spec"]["minutes"] == pytest.approx(3) and doc["entries"]
    m3u = app.write_playlist(r.plan.entries, tmp_path / "p.m3u8", title="t", document=doc,
                             arc_spec=r.arc_spec)
    js = app.write_playlist(r.plan.entries, tmp_path / "p.json", title="t", document=doc)
    png = app.write_plot(r.plan, tmp_path / "p.png", "a plot $1")
    assert os.path.getsize(png) > 10_000
    assert json.loads(open(js).read())["arc_spec"] == r.arc_spec
    with pytest.raises(UsageError, match="unknown playlist type"):
        app.check_outputs([tmp_path / "p.txt"])
    s = app.score(m3u, db=db)
    assert s.arc_source == "the playlist's own" and s.unknown == []
    assert s.report.objective == pytest.approx(r.plan.report.objective, rel=1e-6)
    assert len(s.as_dict()["rows"]) == len(r.plan.entries)
    # A hand-made order (the web page's swap): the same tracks reversed, costed as such.
    ids = [e.track.id for e in r.plan.entries]
    same = app.plan_order(ids, "montage", 3, db=db)
    assert same.cost.total == pytest.approx(r.plan.cost.total, rel=1e-9)
    if len(ids) > 1:
        rev = app.plan_order(ids[::-1], "montage", 3, db=db)
        assert [e.track.id for e in rev.entries] == ids[::-1] and rev.report.objective > 0
    with pytest.raises(NotFoundError):
        app.plan_order([999999], "montage", 3, db=db)
    # An arc object (edited, no file) plans the same as its name.
    r2 = app.plan(app.get_arc("montage"), 3, db=db, record=False)
    assert [e.track.id for e in r2.plan.entries] == [e.track.id for e in r.plan.entries]
    assert r2.arc_spec["arc"] == "montage"


def test_like_resolves_a_playlist_reference(lib, tmp_path):
    db, music, _ = lib
    ref = tmp_path / "ref.m3u8"
    files = sorted(music.iterdir())[:2]
    ref.write_text("#EXTM3U\n" + "".join(f"{f}\n" for f in files), encoding="utf-8")
    r = app.like(ref, 1.5, db=db, record=False)
    assert r.reference.from_library == 2 and r.reference.analyzed == 0
    assert r.plan.tracks and not {t.id for t in r.plan.tracks} & r.reference.library_ids
    assert set(r.rows) == {"underdog", "montage", "random"}
    assert r.learned.toml.startswith("# Learned by `underdog like`")
    held, unknown = app.playlist_tracks(ref, db)
    assert [t.path for t in held] == [str(f) for f in files] and unknown == []
    from underdog.app.planning import like_record

    d = like_record(r)
    assert d["reference"]["tracks"] == [str(f) for f in files] and "distances" in d


def test_soundtrack_tag_and_analyze(lib, tmp_path):
    db, music, _ = lib
    tl = tmp_path / "film.txt"
    tl.write_text("Muldjord - Armygeddon\nNobody Famous - Not Here\n", encoding="utf-8")
    m = app.match_soundtrack(tl, db, output=tmp_path / "film.m3u8")
    assert [r.status for r in m.results] == ["found", "missing"]
    assert m.summary().found == 1 and len(m.records(missing_only=True)) == 1
    assert "Armygeddon" in open(m.playlist, encoding="utf-8").read()
    with pytest.raises(LibraryError, match="no library database"):
        app.match_soundtrack(tl, tmp_path / "absent.db")
    seen = []
    t = app.tag_files([music], db, dry_run=True, each=seen.append)
    assert len(t.files) == 6 and [f.path for f in seen] == [f.path for f in t.files]
    assert all(f.status in ("changed", "same") for f in t.files) and t.count("changed") == 6
    assert all(f.changes for f in t.files)
    one = app.analyze_file(sorted(music.iterdir())[0])
    assert one["bpm"] and 1.0 <= one["energy"] <= 10.0 and "error" not in one
    bad = tmp_path / "x.mp3"
    bad.write_bytes(b"not audio")
    assert "error" in app.analyze_file(bad)


def test_no_exported_name_is_shadowed_by_a_submodule():
    """``app.tag`` once ``underdog.app.tag`` is imported would be the module, not a function."""
    import pkgutil

    subs = {m.name for m in pkgutil.iter_modules(app.__path__)}
    assert not subs & set(app.__all__)
    for name in app.__all__:
        assert not isinstance(getattr(app, name), type(pkgutil)), name


def test_problems_and_prune(lib):
    db, _, _ = lib
    p = app.list_problems(db)
    assert p.errors == [] and p.files_with_warnings == 0
    assert app.prune(db) == 0


def test_plan_leaves_out_both_the_options_and_the_playlists_tracks(lib, tmp_path):
    """``options.exclude_ids`` and ``exclude`` playlists join (the web page leaves tracks
    out by id, without writing a playlist)."""
    from underdog.planning.sequencer import PlanOptions

    db, _, _ = lib
    first = app.plan("montage", 2, db=db, record=False).plan.entries
    skip = tmp_path / "skip.m3u8"
    skip.write_text(f"#EXTM3U\n{first[0].track.path}\n", encoding="utf-8")
    out = {first[0].track.id, first[1].track.id}
    r = app.plan("montage", 2, db=db, record=False, exclude=[skip],
                 options=PlanOptions(exclude_ids=frozenset({first[1].track.id})))
    got = {e.track.id for e in r.plan.entries}
    assert got and not got & out, (got, out)


def test_like_reads_the_library_whole_once(lib, tmp_path, monkeypatch):
    """The rebuild, the montage baseline and the random pick share one read of it."""
    from underdog.library.db import Library

    db, music, _ = lib
    ref = tmp_path / "ref.m3u8"
    ref.write_text("#EXTM3U\n" + "".join(f"{f}\n" for f in sorted(music.iterdir())[:2]),
                   encoding="utf-8")
    whole = []
    real = Library.tracks

    def tracks(self, **filters):
        whole.append(not filters)
        return real(self, **filters)

    monkeypatch.setattr(Library, "tracks", tracks)
    r = app.like(ref, 1.5, db=db, record=False)
    assert r.plan.tracks and r.montage.tracks
    assert sum(whole) == 1, whole
