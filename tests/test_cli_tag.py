"""`underdog tag`: BPM and key from a real SQLite library into tmp copies of demo files;
audio packets untouched, --dry-run writes nothing, folders, notation, refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from underdog.analysis import TrackAnalysis
from underdog.cli import app
from underdog.library.db import open_library
from underdog.library.tags import read_tags

from .conftest import DEMO_LIBRARY
from .test_tags_write import audio_digest, file_digest

runner = CliRunner()
# name -> (bpm, key, camelot) the library holds for it
DB_VALUES = {"Nexuiz - Stairs.mp3": (127.6, "A minor", "8A"),
             "Shawn Parrotte - Caves.flac": (93.25, "F# major", "2B"),
             "Sectoid - War of Freedom.m4a": (140.0, "E minor", "9A")}


@pytest.fixture
def lib(tmp_path):
    music = tmp_path / "music"
    (music / "sub").mkdir(parents=True)
    files = {}
    for i, (name, (bpm, key, cam)) in enumerate(DB_VALUES.items()):
        dst = (music / "sub" if i == 2 else music) / name
        shutil.copyfile(DEMO_LIBRARY / name, dst)
        files[name] = dst
    stray = music / "not-scanned.mp3"
    shutil.copyfile(DEMO_LIBRARY / "Shawn Parrotte - Hell.mp3", stray)
    db = tmp_path / "lib.db"
    with open_library(db) as lb:
        for name, p in files.items():
            bpm, key, cam = DB_VALUES[name]
            tags = read_tags(str(p))
            st = p.stat()
            lb.save_analysis(str(p), tags, (st.st_size, st.st_mtime_ns), None,
                             TrackAnalysis(str(p), duration_s=tags["duration_s"], bpm=bpm,
                                           key=key, camelot=cam))
    return music, db, files, stray


def test_dry_run_changes_nothing(lib):
    music, db, files, _ = lib
    before = {p: file_digest(p) for p in files.values()}
    r = runner.invoke(app, ["tag", str(music), "--db", str(db), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert {p: file_digest(p) for p in files.values()} == before
    out = " ".join(r.output.split())
    assert "dry run" in out and "would change 3 file(s)" in out
    assert "TBPM - → 128" in out and "TKEY - → Am" in out          # mp3 (ID3)
    assert "BPM - → 93.25" in out and "INITIALKEY - → F#" in out    # flac (Vorbis)
    assert "tmpo - → 140" in out                                    # m4a


def test_writes_db_values_and_leaves_audio_alone(lib):
    music, db, files, stray = lib
    audio = {p: audio_digest(p) for p in files.values()}
    stray_bytes = file_digest(stray)
    mp3, flac = files["Nexuiz - Stairs.mp3"], files["Shawn Parrotte - Caves.flac"]
    r = runner.invoke(app, ["tag", str(mp3), str(flac), "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "changed 2 file(s)" in r.output
    for p in (mp3, flac):
        assert audio_digest(p) == audio[p]
    t = read_tags(str(mp3))
    assert (t["tag_bpm"], t["tag_key"]) == (128, "Am")
    t = read_tags(str(flac))
    assert t["tag_bpm"] == pytest.approx(93.25) and t["tag_key"] == "F#"
    # The m4a was not named: untouched. So was the file the library does not hold.
    m4a = files["Sectoid - War of Freedom.m4a"]
    assert read_tags(str(m4a)).get("tag_bpm") is None
    assert file_digest(stray) == stray_bytes
    # A second run finds nothing to do.
    r = runner.invoke(app, ["tag", str(mp3), "--db", str(db)])
    assert r.exit_code == 0 and "already tagged" in r.output


def test_folder_and_camelot_notation(lib):
    music, db, files, stray = lib
    m4a = files["Sectoid - War of Freedom.m4a"]
    audio = audio_digest(m4a)
    stray_bytes = file_digest(stray)
    r = runner.invoke(app, ["tag", str(music / "sub"), "--db", str(db),
                            "--key-notation", "camelot"])
    assert r.exit_code == 0, r.output
    assert "changed 1 file(s)" in r.output
    assert audio_digest(m4a) == audio
    t = read_tags(str(m4a))
    assert t["tag_bpm"] == 140 and t["tag_key"] == "9A"
    r = runner.invoke(app, ["tag", str(music), "--db", str(db)])  # the whole folder
    assert r.exit_code == 0, r.output
    assert "changed 3 file(s)" in r.output  # the m4a's key goes from 9A to Em
    assert read_tags(str(m4a))["tag_key"] == "Em"
    assert file_digest(stray) == stray_bytes  # not in the library: never touched


def test_refusals(lib, tmp_path):
    music, db, files, stray = lib
    r = runner.invoke(app, ["tag", str(stray), "--db", str(db)])
    assert r.exit_code == 1 and "not an analysed track" in " ".join(r.output.split())
    r = runner.invoke(app, ["tag", str(music / "nope.mp3"), "--db", str(db)])
    assert r.exit_code == 1 and "no such file" in r.output
    r = runner.invoke(app, ["tag", str(music), "--db", str(tmp_path / "none.db")])
    assert r.exit_code == 2 and "no library database" in r.output
    r = runner.invoke(app, ["tag", "--db", str(db)])  # nothing named: nothing runs
    assert r.exit_code != 0
