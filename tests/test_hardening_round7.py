"""Hardening, round 7: AIFF files are scanned and tagged; the temporary file a killed
`underdog tag` leaves is removed by the next `tag` or `scan` (never indexed, never a user's
file); a genre tag edit re-decides the style without decoding; an arc's rounds survive its
TOML. Real demo audio, converted at test time with PyAV; real SQLite; real SIGKILL."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from underdog.app.tag import tag_files
from underdog.fileio import is_temp_name, remove_stale_temps
from underdog.library.db import open_library
from underdog.library.executors import SerialExecutor
from underdog.library.scan import scan
from underdog.library.tags import read_tags

from .conftest import DEMO_LIBRARY

pytestmark = pytest.mark.timeout(300)


def pcm_clip(src: Path, dst: Path, start_s: float, seconds: float, fmt: str) -> None:
    """``seconds`` of ``src`` from ``start_s`` as 16-bit PCM in container ``fmt`` ("aiff",
    "wav"), decoded and re-encoded with PyAV (44.1 kHz stereo)."""
    import av

    codec = "pcm_s16be" if fmt == "aiff" else "pcm_s16le"
    rs = av.AudioResampler(format="s16", layout="stereo", rate=44100)
    need = int(seconds * 44100)
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt) as out:
        st = out.add_stream(codec, rate=44100)
        st.layout = "stereo"
        inp.seek(int(start_s * 1_000_000))
        done = 0
        for frame in inp.decode(audio=0):
            for f in rs.resample(frame):
                if done >= need:
                    break
                f.pts = None
                for pkt in st.encode(f):
                    out.mux(pkt)
                done += f.samples
            if done >= need:
                break
        for pkt in st.encode(None):
            out.mux(pkt)


def set_tags(path: Path, **frames: str | None) -> None:
    """Set (a value) or remove (None) ID3 text frames (TCON, TPE1, ...) with mutagen."""
    import mutagen
    from mutagen import id3

    f = mutagen.File(path)
    if f.tags is None:
        f.add_tags()
    for name, value in frames.items():
        if value is None:
            f.tags.delall(name)
        else:
            f.tags.setall(name, [getattr(id3, name)(encoding=3, text=[value])])
    f.save()


def ssnd_digest(path: Path) -> str:
    """sha256 of an AIFF's sound data chunk: the audio as stored."""
    from underdog.library.fingerprint import payload_span

    with open(path, "rb") as f:
        start, end, _ = payload_span(f, os.fstat(f.fileno()).st_size)
        f.seek(start)
        return hashlib.sha256(f.read(end - start)).hexdigest()


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> tuple[Path, str, dict[str, Path]]:
    """Two AIFF clips (.aiff and .aif, ID3 chunks by mutagen) and one WAV, 8 s of demo
    tracks each, scanned into a library."""
    root = tmp_path_factory.mktemp("round7")
    folder = root / "music"
    folder.mkdir()
    files = {"aiff": folder / "caves.aiff", "aif": folder / "hell.aif",
             "wav": folder / "stairs.wav"}
    pcm_clip(DEMO_LIBRARY / "Shawn Parrotte - Caves.flac", files["aiff"], 40.0, 8.0, "aiff")
    pcm_clip(DEMO_LIBRARY / "Shawn Parrotte - Hell.mp3", files["aif"], 40.0, 8.0, "aiff")
    pcm_clip(DEMO_LIBRARY / "Nexuiz - Stairs.mp3", files["wav"], 40.0, 8.0, "wav")
    set_tags(files["aiff"], TPE1="Shawn Parrotte", TIT2="Caves", TCON="Metal")
    set_tags(files["aif"], TPE1="Shawn Parrotte", TIT2="Hell")
    db = str(root / "lib.db")
    with open_library(db) as lib:
        stats = scan([folder], lib, executor=SerialExecutor())
    return folder, db, files, stats


# ---------------------------------------------------------------- 1. AIFF


def test_aiff_files_are_scanned_with_their_tags(music):
    folder, db, files, stats = music
    assert (stats.found, stats.analyzed, stats.failed) == (3, 3, 0), stats.failures
    with open_library(db) as lib:
        t = lib.get_track(str(files["aiff"]))
        assert t is not None and t.status == "ok" and t.bpm and t.key
        assert (t.artist, t.title, t.genre) == ("Shawn Parrotte", "Caves", "Metal")
        assert (t.style_label, t.style_source) == ("heavy", "tag")
        assert t.duration_s == pytest.approx(8.0, abs=0.05)
        assert lib.get_track(str(files["aif"])).status == "ok"


def test_underdog_tag_writes_aiff_through_its_id3_chunk(music):
    folder, db, files, _ = music
    aiff = files["aiff"]
    audio = ssnd_digest(aiff)
    res = tag_files([aiff], db)
    assert not res.problems and res.count("changed") == 1, res.problems
    t = read_tags(str(aiff))
    with open_library(db) as lib:
        stored = lib.get_track(str(aiff))
    assert t["tag_bpm"] == round(stored.bpm) and t["tag_key"]
    assert ssnd_digest(aiff) == audio, "the sound data changed"
    with open_library(db) as lib:  # the tag write is recorded: nothing to decode
        again = scan([folder], lib, executor=SerialExecutor())
    assert (again.decoded, again.analyzed, again.unchanged) == (0, 0, 3)


def test_tag_refuses_a_format_without_tags_in_one_line(tmp_path):
    """A raw ADTS .aac (scanned, but mutagen writes no tags there): one line, exit 1,
    the file byte-identical (it raised mutagen's AACError through a traceback)."""
    import av
    from typer.testing import CliRunner

    from underdog.analysis import TrackAnalysis
    from underdog.cli import app

    f = tmp_path / "x.aac"
    with av.open(str(DEMO_LIBRARY / "Nexuiz - Stairs.mp3")) as inp, \
            av.open(str(f), "w", format="adts") as out:
        st = out.add_stream("aac", rate=44100)
        for i, frame in enumerate(inp.decode(audio=0)):
            if i > 100:
                break
            frame.pts = None
            for pkt in st.encode(frame):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    before = f.read_bytes()
    db = tmp_path / "lib.db"
    with open_library(db) as lib:
        st_ = f.stat()
        lib.save_analysis(str(f), read_tags(str(f)), (st_.st_size, st_.st_mtime_ns), None,
                          TrackAnalysis(str(f), duration_s=2.6, bpm=120.0, key="A minor",
                                        camelot="8A"))
    r = CliRunner().invoke(app, ["tag", str(f), "--db", str(db)])
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.exception
    assert "AAC files hold no tags mutagen can write; the file is unchanged" in r.output
    assert "Traceback" not in r.output and f.read_bytes() == before


# ---------------------------------------------------------------- 2. leftovers of kill -9

HOLD = """
import sys, time
from underdog.fileio import rewrite_atomic
def edit(copy):
    print(copy, flush=True)
    time.sleep(120)
rewrite_atomic(sys.argv[1], edit)
"""


def killed_mid_write(target: Path) -> Path:
    """Run a real rewrite of ``target`` in a child, SIGKILL it while the copy is being
    edited; returns the temporary file it left (checked to be held while it lived)."""
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(target)], stdout=subprocess.PIPE,
                         text=True)
    try:
        tmp = Path(p.stdout.readline().strip())
        assert tmp.parent == target.parent and is_temp_name(tmp.name), tmp
        # held by a live writer: never removed, however old it looks
        os.utime(tmp, (time.time() - 3600, time.time() - 3600))
        assert remove_stale_temps([tmp], before=time.time()) == ([], [str(tmp)])
        assert tmp.exists()
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
    assert tmp.exists(), "the kill should leave the temporary file"
    return tmp


def test_scan_and_tag_remove_what_a_killed_tag_left_and_nothing_else(music, tmp_path):
    folder, db, files, _ = music
    target = files["wav"]
    before = target.read_bytes()
    # names that are not exactly ours: a user's files, never touched
    lookalikes = [folder / n for n in (".underdog-not-ours.tmp", ".underdog-abcdefgh.tmp.bak",
                                       "x.underdog-abcdefgh.tmp", ".underdog-ABCDEFGH.tmp",
                                       ".underdog-abcdefg.tmp")]
    for p in lookalikes:
        p.write_bytes(b"user data")
        os.utime(p, (time.time() - 3600, time.time() - 3600))
    tmp = killed_mid_write(target)
    assert target.read_bytes() == before
    with open_library(db) as lib:
        stats = scan([folder], lib, executor=SerialExecutor())
        paths = {t.path for t in lib.tracks(include_failed=True, include_missing=True)}
    assert stats.temps_removed == [str(tmp)] and stats.temps_kept == []
    assert not tmp.exists() and str(tmp) not in paths
    assert stats.found == 3 and stats.decoded == 0
    assert all(p.read_bytes() == b"user data" for p in lookalikes)

    tmp = killed_mid_write(target)
    dry = tag_files([folder], db, dry_run=True)
    assert dry.temps_removed == [str(tmp)] and tmp.exists()  # a dry run only counts it
    res = tag_files([folder], db)
    assert res.temps_removed == [str(tmp)] and not tmp.exists()
    assert all(p.read_bytes() == b"user data" for p in lookalikes)
    # a leftover newer than the run that looks at it is kept (it may be a writer's)
    young = folder / ".underdog-young123.tmp"
    young.write_bytes(b"")
    assert remove_stale_temps([young], before=time.time() - 60) == ([], [str(young)])
    young.unlink()
    for p in lookalikes:
        p.unlink()


def test_a_temp_file_named_on_the_command_line_is_no_track(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    f = folder / "a.wav"
    pcm_clip(DEMO_LIBRARY / "Nexuiz - Stairs.mp3", f, 10.0, 3.0, "wav")
    tmp = killed_mid_write(f)
    with open_library(tmp_path / "lib.db") as lib:
        stats = scan([tmp], lib, executor=SerialExecutor())
        assert lib.count(None) == 0
    assert stats.found == 0 and stats.temps_removed == [str(tmp)]


# ---------------------------------------------------------------- 3. genre edits restyle


def test_a_genre_tag_edit_restyles_without_decoding(music):
    folder, db, files, _ = music
    aiff, aif = files["aiff"], files["aif"]
    with open_library(db) as lib:
        audio_label = lib.get_track(str(aif)).style_label
        assert lib.get_track(str(aif)).style_source == "audio"
    set_tags(aiff, TCON="Country")  # Metal -> Country
    set_tags(aif, TCON="Country")   # none -> Country
    time.sleep(0.01)
    os.utime(files["wav"])          # touched only: stays unchanged
    with open_library(db) as lib:
        stats = scan([folder], lib, executor=SerialExecutor())
        assert (stats.decoded, stats.analyzed, stats.updated, stats.unchanged) == (0, 0, 2, 1)
        for p in (aiff, aif):
            t = lib.get_track(str(p))
            assert (t.genre, t.style_label, t.style_source) == ("Country", "atmospheric", "tag")
    set_tags(aif, TCON=None)        # the tag removed: the audio decides again
    with open_library(db) as lib:
        stats = scan([folder], lib, executor=SerialExecutor())
        assert (stats.decoded, stats.updated, stats.unchanged) == (0, 1, 2)
        t = lib.get_track(str(aif))
        assert (t.genre, t.style_label, t.style_source) == (None, audio_label, "audio")


# ---------------------------------------------------------------- 4. arcs keep their rounds


@pytest.mark.parametrize("name,kw", [("boxing", {}), ("boxing", {"preset": "pro-women"}),
                                     ("tabata", {}), ("hiit", {"rounds": 3})])
def test_a_round_arc_saved_and_read_back_gives_the_same_plan_cues(tmp_path, name, kw):
    from underdog.app.planning import arc_from_toml, arc_toml
    from underdog.planning.arcs import load_arc

    arc = load_arc(name, **kw)
    p = tmp_path / f"{name}.toml"
    p.write_text(arc_toml(arc))
    again = load_arc(str(p))
    assert again == arc  # every field, rounds and the excerpt default included
    assert arc_from_toml(p.read_text()) == arc
    for minutes in (None, 40.0):
        cues = arc.timeline(minutes).cues()
        assert cues and again.timeline(minutes).cues() == cues
    assert {c["round"] for c in cues} == set(range(1, max(c["round"] for c in cues) + 1))


def test_a_bad_round_names_its_line(tmp_path):
    from underdog.planning.arcs import ArcError, load_toml

    p = tmp_path / "r.toml"
    p.write_text('[[segment]]\nname = "w"\nminutes = 3\nbpm = 150\nround = "two"\n')
    with pytest.raises(ArcError, match=r"r.toml:5: segment 1: 'round' must be a whole"):
        load_toml(p)
