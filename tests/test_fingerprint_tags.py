"""Tags are not content: `underdog tag` (or any tag editor) then `scan` decodes nothing.

Issue 12 item 8. Real demo files of every format `underdog tag` writes (MP3/ID3, FLAC,
Ogg Vorbis, Opus, M4A) plus WAV and AIFF made with PyAV; tags grown with mutagen well past
any padding, so every later byte moves and every later Ogg page is renumbered.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from underdog.library.db import open_library
from underdog.library.executors import SerialExecutor
from underdog.library.scan import fingerprint, scan

from .conftest import DEMO_LIBRARY

pytestmark = pytest.mark.timeout(240)

# one demo file per format `underdog tag` writes
DEMO = {
    ".mp3": "Shawn Parrotte - Hell.mp3",
    ".flac": "Shawn Parrotte - Caves.flac",
    ".ogg": "Nexuiz - Beast of Insanity.ogg",
    ".opus": "Max McCracken - Awakening.opus",
    ".m4a": "Sectoid - War of Freedom.m4a",
}


def _copies(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for ext, name in DEMO.items():
        dst = folder / f"t{ext}"
        shutil.copy(DEMO_LIBRARY / name, dst)
        out.append(dst)
    return out


def _pcm(folder: Path) -> list[Path]:
    """Short WAV and AIFF clips (PyAV), which carry ID3 in a RIFF/IFF chunk."""
    import av
    import numpy as np

    out = []
    for ext, codec, fmt in ((".wav", "pcm_s16le", "wav"), (".aiff", "pcm_s16be", "aiff")):
        dst = folder / f"pcm{ext}"
        y = np.sin(np.arange(22050 * 3) * 0.05).astype(np.float32)[None, :]
        with av.open(str(dst), "w", format=fmt) as c:
            st = c.add_stream(codec, rate=22050)
            st.layout = "mono"
            frame = av.AudioFrame.from_ndarray(y, format="fltp", layout="mono")
            frame.sample_rate = 22050
            for pkt in st.encode(frame):
                c.mux(pkt)
            for pkt in st.encode(None):
                c.mux(pkt)
        out.append(dst)
    return out


def _grow_tags(path: Path, n: int = 300_000) -> None:
    """Add a comment of ``n`` characters with mutagen (far beyond any padding)."""
    import mutagen
    from mutagen.id3 import COMM

    f = mutagen.File(path)
    if f.tags is None:
        f.add_tags()
    big = "x" * n
    if hasattr(f.tags, "setall"):  # ID3 (mp3, wav, aiff)
        f.tags.add(COMM(encoding=3, lang="eng", desc="big", text=[big]))
    elif path.suffix == ".m4a":
        f.tags["\xa9cmt"] = [big]
    else:
        f.tags["COMMENT"] = [big]
    f.save()


def test_fingerprint_ignores_tags_and_sees_audio(tmp_path):
    from underdog.library.fingerprint import is_current, legacy_fingerprint, payload_span

    files = _copies(tmp_path) + _pcm(tmp_path)
    for p in files:
        before_fp, before_size = fingerprint(str(p)), p.stat().st_size
        assert is_current(before_fp)
        with open(p, "rb") as f:
            start, end, _ = payload_span(f, before_size)
        assert 0 < end - start <= before_size, p.name
        _grow_tags(p)
        assert p.stat().st_size > before_size + 200_000, p.name
        assert fingerprint(str(p)) == before_fp, f"{p.name}: a tag edit changed the fingerprint"
        assert legacy_fingerprint(str(p)) != before_fp
        # ... while one changed byte of audio in the middle of the payload is seen
        with open(p, "r+b") as f:
            start, end, _ = payload_span(f, p.stat().st_size)
            mid = start + (end - start) // 2
            f.seek(mid)
            b = f.read(1)
            f.seek(mid)
            f.write(bytes([b[0] ^ 0x55]))
        assert fingerprint(str(p)) != before_fp, f"{p.name}: audio change not seen"


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "underdog.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagscan")
    from .test_scan import write_clip

    music = root / "music"
    files = _copies(music)
    files.append(music / "t.wav")  # `underdog tag` writes WAV too (an ID3 chunk)
    write_clip(files[-1], 3, dur_s=10.0)
    db = str(root / "lib.db")
    with open_library(db) as lib:
        stats = scan([music], lib, jobs=2)
    assert stats.analyzed == len(files)
    return root, music, files, db


def _state(db: str) -> dict[str, tuple]:
    con = sqlite3.connect(db)
    try:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT path, size, mtime_ns, fingerprint, tag_bpm, tag_key, analysis_version "
            "FROM tracks")}
    finally:
        con.close()


def test_underdog_tag_then_scan_reanalyzes_nothing(scanned):
    root, music, files, db = scanned
    before = _state(db)
    time.sleep(0.01)
    r = _cli("tag", str(music), "--db", db)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"changed {len(files)} file(s)" in r.stdout
    after = _state(db)
    for p in files:
        old, new = before[str(p)], after[str(p)]
        st = p.stat()
        assert new[:2] == (st.st_size, st.st_mtime_ns), "stored file state refreshed"
        assert new[2] == old[2], "same audio, same fingerprint"
        assert new[3] is not None and new[4], "the tags just written are in the library"
    with open_library(db) as lib:
        stats = scan([music], lib, executor=SerialExecutor())
    assert (stats.decoded, stats.analyzed, stats.unchanged) == (0, 0, len(files))


def test_other_tag_editor_then_scan_reanalyzes_nothing(scanned):
    """Without the refresh (a tag editor that is not underdog): the fingerprint decides."""
    root, music, files, db = scanned
    for p in files:
        _grow_tags(p, 100_000)
    with open_library(db) as lib:
        stats = scan([music], lib, executor=SerialExecutor())
    assert (stats.decoded, stats.analyzed, stats.unchanged) == (0, 0, len(files))
    assert all(s[:2] == (Path(p).stat().st_size, Path(p).stat().st_mtime_ns)
               for p, s in _state(db).items())


def test_old_fingerprints_upgrade_without_decoding(tmp_path):
    """A library written by the previous release (head-of-file fingerprints) is upgraded in
    place by the next scan: nothing decoded, whether the files were touched or not."""
    from underdog.library.fingerprint import legacy_fingerprint

    from .test_scan import write_clip

    music = tmp_path / "music"
    music.mkdir()
    files = [music / f"c{ext}" for ext in (".mp3", ".flac", ".ogg")]
    for i, p in enumerate(files):
        write_clip(p, 0, start_s=20.0 + 5 * i, dur_s=4.0)
    db = str(tmp_path / "lib.db")
    with open_library(db) as lib:
        assert scan([music], lib, executor=SerialExecutor()).analyzed == 3
    con = sqlite3.connect(db)
    for p in files:
        con.execute("UPDATE tracks SET fingerprint = ? WHERE path = ?",
                    (legacy_fingerprint(str(p)), str(p)))
    con.commit()
    con.close()
    os.utime(files[0], ns=(time.time_ns(), time.time_ns() + 10**9))  # touched: stat differs
    moved = music / "sub"
    moved.mkdir()
    os.rename(files[1], moved / files[1].name)  # moved: found by its old fingerprint
    with open_library(db) as lib:
        stats = scan([music], lib, executor=SerialExecutor())
        assert stats.decoded == 0 and (stats.unchanged, stats.moved) == (2, 1)
    assert all(s[2].startswith("p1:") for s in _state(db).values())
