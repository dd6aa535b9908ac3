"""A file whose name is not UTF-8 (``caf\\xe9.ogg``, Latin-1) goes from the library through
plan, like and soundtrack to M3U8, XSPF and JSON and comes back as the same name: the M3U8
holds the raw bytes, the XSPF percent-encodes them, the JSON adds ``path_bytes_b64``. Under
C.UTF-8, UTF-8 mode and a strict ASCII locale (the CLI runs as a subprocess with each)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mutagen
import pytest

from underdog.export.playlists import read_playlist, write_json, write_m3u8, write_xspf
from underdog.fileio import path_from_json, path_json
from underdog.analysis import TrackAnalysis
from underdog.library.db import open_library
from underdog.library.scan import walk_audio
from underdog.library.tags import read_tags

from .conftest import DEMO_LIBRARY

NAME = b"caf\xe9.ogg"  # Latin-1 é: not valid UTF-8

LOCALES = {
    "C.UTF-8": {"LC_ALL": "C.UTF-8"},
    "utf8-mode": {"LC_ALL": "C", "PYTHONUTF8": "1"},
    # File names in ASCII (surrogate escapes for every byte >= 0x80); the terminal stays
    # UTF-8 here: what the tables print under an ASCII stdout is the CLI output's business.
    "strict-ascii": {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
                     "PYTHONIOENCODING": "utf-8"},
}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> tuple[Path, str, Path]:
    """(library db, the track's path as underdog holds it, the folder): one demo track
    copied to a non-UTF-8 name, its tags removed (so titles fall back to the name), stored."""
    root = tmp_path_factory.mktemp("nonutf8")
    music = root / "music"
    music.mkdir()
    raw = os.path.join(os.fsencode(music), NAME)
    shutil.copyfile(DEMO_LIBRARY / "Max McCracken - Through Space.ogg", raw)
    mutagen.File(raw).delete()
    db = root / "lib.db"
    with open_library(db) as lib:
        # Found by the scanner's walk, its tags read from the file; the analysis is given
        # (these tests are about names, and must not hang on the analysers' state).
        (entry,) = [e for e in walk_audio([str(music)]) if e.problem is None]
        tags = read_tags(entry.path)
        st = os.stat(entry.path)
        lib.save_analysis(entry.path, tags, (st.st_size, st.st_mtime_ns), None, TrackAnalysis(
            entry.path, duration_s=tags["duration_s"], bpm=120.0, energy=0.6, energy_level=6,
            key="A minor", camelot="8A", style={"heavy": 1.0}, style_label="heavy"))
        tracks = lib.tracks()
    assert len(tracks) == 1 and tracks[0].status == "ok"
    path = tracks[0].path
    assert os.fsencode(path) == raw and not tracks[0].title
    return db, path, root


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LC_", "PYTHONUTF8", "PYTHONCOERCE", "PYTHONIOENCODING"))}
    env.update(extra, LANG=extra["LC_ALL"], COLUMNS="200")
    return env


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "underdog.cli", *args], env=env,
                          capture_output=True, timeout=120)


def _check_outputs(path: str, m3u: Path, js: Path, xspf: Path) -> None:
    raw = os.fsencode(path)
    body = m3u.read_bytes()
    assert b"\n" + raw + b"\n" in body  # the exact bytes a player opens
    assert b"#EXTINF:" in body and b"caf\xef\xbf\xbd" in body  # the title: U+FFFD
    doc = json.loads(js.read_bytes().decode("utf-8"))  # strict: the JSON is valid UTF-8
    e = doc["entries"][0]
    assert e["path"] == raw.decode("utf-8", "replace")
    assert base64.b64decode(e["path_bytes_b64"]) == raw
    text = xspf.read_bytes().decode("utf-8")  # strict: valid UTF-8, no raw byte
    assert "/caf%E9.ogg</location>" in text  # the byte percent-encoded
    for pl in (m3u, js, xspf):
        assert read_playlist(pl) == [path], pl.name


@pytest.mark.parametrize("locale", list(LOCALES))
def test_plan_writes_each_format_and_reads_back(scanned, tmp_path, locale):
    db, path, _ = scanned
    m3u, js, xspf = (tmp_path / f"x.{e}" for e in ("m3u8", "json", "xspf"))
    # Whole tracks: the names are the point here (an excerpt montage cuts the one track
    # into several entries; tests/test_m3u8_excerpts.py covers excerpt playlists).
    r = _cli(["plan", "--db", str(db), "--minutes", "3", "--whole-tracks", "--no-record",
              "-o", str(m3u),
              "-o", str(js), "-o", str(xspf)], _env(LOCALES[locale]))
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    assert b"Traceback" not in r.stderr
    _check_outputs(path, m3u, js, xspf)
    # A relative M3U8 keeps the raw bytes too, and the plan JSON reads back as a playlist
    # for --exclude: nothing is left to plan.
    rel = tmp_path / "rel.m3u8"
    r = _cli(["plan", "--db", str(db), "--minutes", "3", "--whole-tracks", "--no-record",
              "-o", str(rel),
              "--relative-to", str(tmp_path)], _env(LOCALES[locale]))
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    assert read_playlist(rel) == [path]
    assert os.fsencode(os.path.relpath(path, tmp_path)) in rel.read_bytes()


def test_like_writes_lossless_playlists(scanned, tmp_path):
    db, path, root = scanned
    m3u, js, xspf = (tmp_path / f"l.{e}" for e in ("m3u8", "json", "xspf"))
    ref = tmp_path / "ref.m3u8"
    write_m3u8([{"path": path}], ref)
    r = _cli(["like", str(ref), "--db", str(db), "--minutes", "3", "--include-reference",
              "--no-record", "-o", str(m3u), "-o", str(js), "-o", str(xspf)],
             _env(LOCALES["C.UTF-8"]))
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    _check_outputs(path, m3u, js, xspf)
    # The reference's own list of tracks in the JSON is valid UTF-8 as well.
    doc = json.loads(js.read_bytes().decode("utf-8"))
    assert doc["reference"]["tracks"] == [os.fsencode(path).decode("utf-8", "replace")]


def test_writers_and_path_json_round_trip(tmp_path):
    """In-process, several awkward names at once (no scan needed)."""
    names = [b"caf\xe9.ogg", b"\xff\xfe odd.mp3", "Olá [feat. X] #1.flac".encode(),
             b"semi;colon%41.mp3"]
    entries = []
    for n in names:
        p = os.path.join(os.fsencode(tmp_path), n)
        open(p, "wb").close()
        entries.append({"path": os.fsdecode(p), "duration_s": 60})
    paths = [e["path"] for e in entries]
    for writer, ext in ((write_m3u8, "m3u8"), (write_m3u8, "m3u"), (write_xspf, "xspf")):
        out = tmp_path / f"all.{ext}"
        writer(entries, out)
        assert read_playlist(out) == paths, ext
    write_json({"entries": entries}, tmp_path / "all.json")
    assert read_playlist(tmp_path / "all.json") == paths
    for p in paths:
        d = path_json(p)
        assert path_from_json(json.loads(json.dumps(d))) == p
        assert ("path_bytes_b64" in d) == (p != os.fsencode(p).decode("utf-8", "replace"))


def test_soundtrack_match_playlist_keeps_the_name(scanned, tmp_path):
    """`soundtrack match -o`'s writer, on the scanned track (tags given back in memory)."""
    import dataclasses

    from underdog.soundtrack.match import match_tracklist
    from underdog.soundtrack.report import write_m3u8 as write_report
    from underdog.soundtrack.tracklist import read_tracklist

    db, path, _ = scanned
    with open_library(db) as lib:
        t = dataclasses.replace(lib.tracks()[0], artist="Max McCracken", title="Through Space")
    film = tmp_path / "film.txt"
    film.write_text("Max McCracken - Through Space\nNobody - Nothing\n", encoding="utf-8")
    out = tmp_path / "film.m3u8"
    write_report(match_tracklist(read_tracklist(film), [t]), out, title="film")
    body = out.read_bytes()
    assert b"\n" + os.fsencode(path) + b"\n" in body and b"# missing: Nobody - Nothing" in body
    assert read_playlist(out) == [path]
