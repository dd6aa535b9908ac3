"""`underdog like`: references of every kind, what is learned, exclusion rules, the TOML round
trip and unusable references. Real audio: the demo library, scanned once into a tmp SQLite DB."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from underdog.cli import app
from underdog.library.db import open_library
from underdog.library.executors import SerialExecutor
from underdog.library.scan import scan
from underdog.models import Track
from underdog.planning.arcs import load_toml, parse_toml
from underdog.app.planning import like_from_library as like
from underdog.app.reference import load_reference
from underdog.planning.reference import (Reference, UnusableReference, distances,
                                         exclusion_ids, fold_octaves, learn, profile)

from .conftest import demo_tracks

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    """The 12 demo tracks, scanned (full pipeline) into a SQLite library, once."""
    p = tmp_path_factory.mktemp("lib") / "library.db"
    with open_library(p) as lib:
        scan([str(demo_tracks()[0].parent)], lib, executor=SerialExecutor())
        assert lib.count("ok") == 12
    return p


@pytest.fixture
def lib(demo_db):
    with open_library(demo_db) as lib:
        yield lib


def _rows(lib) -> int:
    return len(lib.tracks(include_failed=True))


def _pick(names: list[str]) -> list[Path]:
    by = {p.stem: p for p in demo_tracks()}
    return [by[n] for n in names]


REF = ["Shawn Parrotte - Caves", "Sectoid - War of Freedom", "Muldjord - Chaos God",
       "Nexuiz - Ninesix"]


def _m3u8(path: Path, files: list[Path]) -> Path:
    path.write_text("#EXTM3U\n" + "".join(f"#EXTINF:-1,{f.stem}\n{f}\n" for f in files),
                    encoding="utf-8")
    return path


def _copies(folder: Path, names: list[str]) -> Path:
    """Demo files copied under new paths: not in the library, so analyzed on the fly."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in _pick(names):
        shutil.copy2(f, folder / f.name)
    return folder


# ---------------------------------------------------------------- reference kinds

def test_m3u8_reference_uses_the_stored_analysis(lib, tmp_path):
    files = _pick(REF)
    ref = load_reference(_m3u8(tmp_path / "ref.m3u8", files), lib)
    assert ref.kind == "playlist"
    assert [t.path for t in ref.tracks] == [str(f.resolve()) for f in files]   # in order
    assert ref.from_library == 4 and ref.analyzed == 0 and not ref.skipped
    assert len(ref.library_ids) == 4
    assert ref.minutes == pytest.approx(sum(t.duration_s for t in ref.tracks) / 60)


def test_xspf_reference(lib, tmp_path):
    files = _pick(REF[:3])
    locs = "".join(f"<track><location>{f.resolve().as_uri()}</location></track>"
                   for f in files)
    x = tmp_path / "ref.xspf"
    x.write_text('<?xml version="1.0" encoding="UTF-8"?><playlist version="1" '
                 f'xmlns="http://xspf.org/ns/0/"><trackList>{locs}</trackList></playlist>',
                 encoding="utf-8")
    ref = load_reference(x, lib)
    assert ref.kind == "playlist" and ref.from_library == 3
    assert [t.path for t in ref.tracks] == [str(f.resolve()) for f in files]


def test_folder_reference_is_analyzed_on_the_fly_and_not_stored(lib, tmp_path):
    folder = _copies(tmp_path / "ref", ["Shawn Parrotte - Caves", "Nexuiz - Stairs"])
    before = _rows(lib)
    ref = load_reference(folder, lib)
    assert ref.kind == "folder" and ref.analyzed == 2 and ref.from_library == 0
    assert not ref.library_ids
    assert _rows(lib) == before                     # the user's DB is untouched
    stored = {Path(t.path).name: t for t in lib.tracks()}
    for t in ref.tracks:
        # Same audio, same pipeline: the on-the-fly analysis equals the scanned one.
        s = stored[Path(t.path).name]
        assert t.bpm == pytest.approx(s.bpm) and t.energy == pytest.approx(s.energy)
        assert t.artist == s.artist and t.duration_s == pytest.approx(s.duration_s, abs=0.1)


def test_tracklist_reference_resolves_through_the_matcher(lib, tmp_path):
    tl = tmp_path / "film.txt"
    tl.write_text("Sectoid - War of Freedom\nMuldjord - Chaos God\n"
                  "Nobody Famous - Not In This Library\n", encoding="utf-8")
    ref = load_reference(tl, lib)
    assert ref.kind == "tracklist"
    assert [t.title for t in ref.tracks] == ["War of Freedom", "Chaos God"]
    assert ref.from_library == 2
    assert len(ref.missing) == 1 and "Not In This Library" in ref.missing[0]


# ---------------------------------------------------------------- unusable references

def test_unanalyzable_reference_names_the_file_and_why(lib, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    bad = folder / "not really.mp3"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes())
    with pytest.raises(UnusableReference) as ei:
        load_reference(folder, lib)
    msg = str(ei.value)
    assert str(folder) in msg and "not really.mp3" in msg and "could be analyzed" in msg
    # The CLI shows the same one line and fails.
    r = runner.invoke(app, ["like", str(folder), "--db", str(lib.path)])
    assert r.exit_code != 0 and "not really.mp3" in r.output


def test_playlist_of_missing_files_and_empty_folder(lib, tmp_path):
    m = _m3u8(tmp_path / "gone.m3u8", [tmp_path / "gone 1.ogg", tmp_path / "gone 2.ogg"])
    with pytest.raises(UnusableReference, match="gone 1.ogg: file not found"):
        load_reference(m, lib)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnusableReference, match="no audio files"):
        load_reference(tmp_path / "empty", lib)
    with pytest.raises(UnusableReference, match="no such file"):
        load_reference(tmp_path / "nothing here", lib)


def test_one_bad_file_is_skipped_with_a_warning(lib, tmp_path):
    folder = _copies(tmp_path / "ref", ["Shawn Parrotte - Caves"])
    (folder / "zz broken.ogg").write_bytes(b"OggS" + bytes(500))
    with pytest.warns(UserWarning, match="zz broken.ogg"):
        ref = load_reference(folder, lib)
    assert len(ref.tracks) == 1 and ref.skipped[0][0].endswith("zz broken.ogg")


# ---------------------------------------------------------------- exclusion rules

def test_reference_tracks_are_left_out_by_default(lib, tmp_path):
    ref = load_reference(_m3u8(tmp_path / "ref.m3u8", _pick(REF)), lib)
    r = like(lib, ref, seed=0)
    used = {t.id for t in r.plan.tracks}
    assert used and not used & ref.library_ids
    assert r.excluded == 4
    assert exclusion_ids(lib.tracks(), ref, exclude_reference=False) == frozenset()
    # With --include-reference the whole library is open again: a plan as long as the
    # library can only be filled by using the reference's tracks too.
    everything = sum(t.duration_s for t in lib.tracks()) / 60
    r2 = like(lib, ref, everything - 1, exclude_reference=False)
    assert {t.id for t in r2.plan.tracks} & ref.library_ids


def test_exclude_artists_leaves_out_every_track_by_them(lib, tmp_path):
    # Copies (not in the DB) carry the tags of Nexuiz and Muldjord.
    ref = load_reference(_copies(tmp_path / "ref", ["Nexuiz - Stairs", "Muldjord - Armygeddon"]),
                         lib)
    assert not ref.library_ids
    ids = exclusion_ids(lib.tracks(), ref, exclude_artists=True)
    by_artist = {t.id for t in lib.tracks() if t.artist in ("Nexuiz team", "Muldjord")}
    assert ids == by_artist and len(ids) == 6
    r = like(lib, ref, exclude_artists=True)
    assert r.plan.tracks and not {t.artist for t in r.plan.tracks} & {"Nexuiz team", "Muldjord"}


# ---------------------------------------------------------------- the TOML round trip

def _paths(js: Path) -> list[str]:
    return [e["path"] for e in json.loads(js.read_text())["entries"]]


@pytest.mark.parametrize("kind", ["folder", "playlist", "playlist-excluded"])
def test_saved_arc_through_plan_reproduces_like(demo_db, tmp_path, kind):
    plan_extra: list[str] = []
    if kind == "folder":   # copies of library tracks: by sound, the library's own
        spec, extra = _copies(tmp_path / "ref", REF[:3]), ["--include-reference"]
    elif kind == "playlist":  # library tracks allowed back in
        spec, extra = _m3u8(tmp_path / "ref.m3u8", _pick(REF)), ["--include-reference"]
    else:                  # the default: `like` leaves them out, `plan --exclude` does too
        spec, extra = _m3u8(tmp_path / "ref.m3u8", _pick(REF)), []
        plan_extra = ["--exclude", str(spec)]
    arc, a, b = tmp_path / "learned.toml", tmp_path / "like.json", tmp_path / "plan.json"
    r = runner.invoke(app, ["like", str(spec), "--db", str(demo_db), "--seed", "3",
                            "--no-record", "--save-arc", str(arc), "-o", str(a), *extra])
    assert r.exit_code == 0, r.output
    assert "underdog" in r.output and "montage" in r.output and "random" in r.output
    text = arc.read_text()
    assert text.startswith("# Learned by `underdog like`") and "[[segment]]" in text
    r2 = runner.invoke(app, ["plan", "--arc", str(arc), "--db", str(demo_db), "--seed", "3",
                             "--no-record", "-o", str(b), *plan_extra])
    assert r2.exit_code == 0, r2.output
    assert _paths(a) and _paths(a) == _paths(b)
    assert json.loads(a.read_text())["distances"]["underdog"]["tempo W1"] >= 0


def test_learned_toml_loads_back_to_the_planned_arc(lib, tmp_path):
    ref = load_reference(_m3u8(tmp_path / "ref.m3u8", _pick(REF)), lib)
    L = learn(ref)
    f = tmp_path / "a.toml"
    f.write_text(L.toml)
    assert load_toml(f).segments == L.arc.segments
    assert load_toml(f).minutes == pytest.approx(ref.minutes, abs=0.01)
    assert sum(s.share for s in L.arc.segments) == pytest.approx(1.0, abs=0.01)


# ---------------------------------------------------------------- learning (pure)

def _synthetic(bpms, levels, styles=None, minutes=3.0) -> list[Track]:
    styles = styles or ["heavy"] * len(bpms)
    return [Track(id=None, path=f"/x/{i}.ogg", artist=f"A{i}", title=f"T{i}",
                  duration_s=minutes * 60, bpm=b, energy=(lv - 1) / 9, camelot="8A",
                  style_label=s)
            for i, (b, lv, s) in enumerate(zip(bpms, levels, styles))]


def test_fold_octaves_counts_half_and_double_time():
    x = np.log2([140, 70, 142, 280, 138])
    f = 2 ** fold_octaves(x)
    assert np.allclose(f, [140, 140, 142, 140, 138])
    slow = 2 ** fold_octaves(np.log2([70, 72, 68]))
    assert np.allclose(slow, [70, 72, 68])           # a slow list stays slow


def test_a_rising_build_is_learned_as_a_rising_arc():
    tr = _synthetic(np.geomspace(95, 150, 10), np.linspace(2, 9, 10),
                    ["atmospheric"] * 4 + ["heavy"] * 6)
    L = learn(Reference("build", "playlist", tr))
    segs = L.arc.segments
    mids = [(s.energy[0] + s.energy[1]) / 2 for s in segs]
    bpms = [(s.bpm[0] + s.bpm[1]) / 2 for s in segs]
    assert mids == sorted(mids) and bpms == sorted(bpms)
    assert segs[0].energy[0] < 4 and segs[-1].energy[1] > 7.5
    assert segs[0].bpm[0] < 110 and segs[-1].bpm[1] > 135
    assert segs[-1].peak and not segs[0].peak
    assert "atmospheric" in segs[0].style and "heavy" in segs[-1].style
    # Session bounds around the reference's style shares (40 % / 60 %).
    assert L.arc.style_min["heavy"] <= 0.6 <= L.arc.style_max.get("heavy", 1.0)
    assert L.stats["minor_share"] == 1.0
    assert parse_toml(L.toml).segments == segs        # the comments are TOML comments


def test_a_valley_is_learned_as_down_then_up():
    lv = [8, 8, 7, 5, 3, 2, 2, 3, 5, 7, 8, 8]
    tr = _synthetic([140, 138, 130, 118, 105, 100, 100, 105, 118, 130, 138, 140], lv)
    segs = learn(Reference("valley", "playlist", tr)).arc.segments
    assert len(segs) >= 3
    mids = np.array([(s.energy[0] + s.energy[1]) / 2 for s in segs])
    lo = int(np.argmin(mids))
    assert 0 < lo < len(segs) - 1 and mids[lo] < 4 and mids[0] > 6 and mids[-1] > 6
    t = np.cumsum([0] + [s.share for s in segs])
    assert t[lo] < 0.6 and t[lo + 1] > 0.4          # the valley sits in the middle


def test_distances_are_zero_for_the_reference_itself_and_grow_with_change():
    tr = _synthetic([100, 120, 140, 160], [3, 5, 7, 9])
    d0 = distances(tr, tr)
    assert all(abs(v) < 1e-9 for v in d0.values())
    rev = distances(tr, tr[::-1])
    assert rev.tempo_w < 1e-9 and rev.energy_w < 1e-9     # same distributions …
    assert rev.arc_tempo > 0.1 and rev.arc_energy > 1.0   # … opposite shape
    other = _synthetic([100, 120, 140, 160], [3, 5, 7, 9], ["atmospheric"] * 4)
    assert distances(tr, other).style_tv == pytest.approx(1.0)
    # Half time counts as the same tempo.
    half = _synthetic([100, 60, 140, 80], [3, 5, 7, 9])
    assert distances(tr, half).tempo_w < 1e-9
    assert math.isnan(distances(tr, []).tempo_w)


def test_profile_times_are_normalized():
    p = profile(_synthetic([100, 120], [3, 5], minutes=2.0) +
                _synthetic([130], [6], minutes=4.0))
    assert np.allclose(p.t0, [0, 0.25, 0.5]) and np.allclose(p.t1, [0.25, 0.5, 1.0])


def test_learning_quietly_ignores_nothing(lib, tmp_path):
    """A tracklist with no match at all is an error naming what was missing."""
    tl = tmp_path / "none.txt"
    tl.write_text("Nobody Famous - Not In This Library\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UnusableReference, match="Not In This Library"):
            load_reference(tl, lib)


def test_zero_byte_mp3_and_text_named_ogg_give_a_clear_error(lib, tmp_path):
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    text = tmp_path / "readme.ogg"
    text.write_text("just text named .ogg\n" * 20)
    pl = _m3u8(tmp_path / "bad.m3u8", [empty, text])
    with pytest.raises(UnusableReference) as ei:
        load_reference(pl, lib)
    msg = str(ei.value)
    assert str(pl) in msg and str(empty) in msg and str(text) in msg
    r = runner.invoke(app, ["like", str(pl), "--db", str(lib.path)])
    assert r.exit_code != 0
    assert "empty.mp3" in r.output and "readme.ogg" in r.output and "cannot learn" in r.output
