"""Scanning real audio into a real SQLite library: formats, bad input, incremental rescans.

The corpus is built in tmp from the demo library: the 12 demo tracks, short clips of them
re-encoded in every format with PyAV, awkward file names, and the bad-input list of
issue 4. Scans use the real analysis pipeline and a real process pool.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from underdog.audio import decode
from underdog.library.db import open_library
from underdog.library.executors import SerialExecutor
from underdog.library.scan import fingerprint, scan

from .conftest import demo_tracks

pytestmark = pytest.mark.timeout(240)

SR = 22050
_ENCODERS = {  # ext: (codec, rate, layout, muxer)
    ".mp3": ("libmp3lame", 22050, "mono", None),
    ".m4a": ("aac", 22050, "mono", "ipod"),
    ".flac": ("flac", 22050, "mono", None),
    ".ogg": ("vorbis", 22050, "stereo", None),
    ".opus": ("libopus", 48000, "mono", "ogg"),
    ".wav": ("pcm_s16le", 22050, "mono", None),
}
_SIGNALS: dict[str, np.ndarray] = {}


def demo_signal(i: int) -> np.ndarray:
    p = demo_tracks()[i % len(demo_tracks())]
    if str(p) not in _SIGNALS:
        _SIGNALS[str(p)] = decode(p).samples
    return _SIGNALS[str(p)]


def write_audio(y: np.ndarray, dst: str | bytes, sr: int = SR) -> None:
    """Encode mono ``y`` to ``dst`` in the format its extension names (PyAV)."""
    import av

    ext = os.path.splitext(os.fsdecode(dst))[1].lower()
    codec, rate, layout, muxer = _ENCODERS[ext]
    if rate != sr:
        t = np.arange(int(len(y) * rate / sr)) * (sr / rate)
        y = np.interp(t, np.arange(len(y)), y).astype(np.float32)
    ch = 2 if layout == "stereo" else 1
    with av.open(os.fsdecode(dst), "w", format=muxer) as out:
        st = out.add_stream(codec, rate=rate)
        st.layout = layout
        if codec == "vorbis":
            st.codec_context.options = {"strict": "-2"}
        for i in range(0, len(y), 4096):
            blk = np.ascontiguousarray(np.repeat(y[None, i:i + 4096], ch, 0), dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(blk, format="fltp", layout=layout)
            frame.sample_rate, frame.pts = rate, i
            for pkt in st.encode(frame):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)


def write_clip(dst, i: int, start_s: float = 30.0, dur_s: float = 6.0) -> None:
    y = demo_signal(i)
    a = int(start_s * SR) % max(1, len(y) - int(dur_s * SR))
    write_audio(y[a:a + int(dur_s * SR)], dst)


def wav_header(n_frames: int, sr: int = 22050) -> bytes:
    import struct

    data = n_frames * 2
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16) + b"data" +
            struct.pack("<I", data))


def build_corpus(lib_dir: Path) -> tuple[list[str], dict[str, str]]:
    """Good files (paths) and bad files (path → what is wrong) under ``lib_dir``."""
    good: list[str] = []
    bad: dict[str, str] = {}
    demo = lib_dir / "demo"
    demo.mkdir(parents=True)
    for p in demo_tracks():
        shutil.copy(p, demo / p.name)
        good.append(str(demo / p.name))
    fmt = lib_dir / "formats"
    fmt.mkdir()
    for i, ext in enumerate(_ENCODERS):
        dst = fmt / f"clip{ext}"
        write_clip(dst, i)
        good.append(str(dst))
    names = lib_dir / "names"
    names.mkdir()
    for i, name in enumerate(["with spaces and 'quotes' \"double\".mp3", "new\nline.ogg",
                              "tab\tand ümlaut.flac"]):
        write_clip(names / name, i + 3)
        good.append(str(names / name))
    latin1 = os.path.join(os.fsencode(names), b"caf\xe9 latin-1.wav")  # not UTF-8
    write_clip(latin1, 7)
    good.append(os.fsdecode(latin1))
    (lib_dir / "x.mp3").mkdir()  # a folder named like audio, with a good file inside
    write_clip(lib_dir / "x.mp3" / "inside.m4a", 8)
    good.append(str(lib_dir / "x.mp3" / "inside.m4a"))
    bad[str(lib_dir / "x.mp3")] = "folder"

    b = lib_dir / "bad"
    b.mkdir()
    (b / "zero.mp3").write_bytes(b"")
    bad[str(b / "zero.mp3")] = "empty"
    mp3 = (demo / "Nexuiz - Stairs.mp3").read_bytes()
    (b / "truncated.mp3").write_bytes(mp3[: len(mp3) * 4 // 10])
    bad[str(b / "truncated.mp3")] = "truncated"
    flac = (demo / "Shawn Parrotte - Caves.flac").read_bytes()
    (b / "truncated.flac").write_bytes(flac[: len(flac) * 4 // 10])
    bad[str(b / "truncated.flac")] = "truncated"
    (b / "random.mp3").write_bytes(np.random.default_rng(4).bytes(50_000))
    bad[str(b / "random.mp3")] = "random bytes"
    (b / "text.ogg").write_text("this is not audio\n" * 100)
    bad[str(b / "text.ogg")] = "text"
    (b / "header-only.wav").write_bytes(wav_header(0))
    bad[str(b / "header-only.wav")] = "header only"
    (b / "one-sample.wav").write_bytes(wav_header(1) + b"\x10\x00")
    bad[str(b / "one-sample.wav")] = "1 sample"
    os.symlink("loop.mp3", b / "loop.mp3")
    bad[str(b / "loop.mp3")] = "symlink loop"
    os.symlink(b, b / "back")  # a folder loop: must be walked once
    noperm = b / "unreadable.mp3"
    write_clip(noperm, 9)
    noperm.chmod(0)
    if os.access(noperm, os.R_OK):  # root reads anything: then it is a good file here
        good.append(str(noperm))
    else:
        bad[str(noperm)] = "permission"
    (b / "notes.txt").write_text("not audio, not an audio name: ignored")
    return good, bad


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    good, bad = build_corpus(root / "music")
    return root, good, bad


@pytest.fixture(scope="module")
def scanned(corpus):
    """The corpus scanned once with a 2-worker process pool."""
    root, good, bad = corpus
    db = str(root / "library.db")
    with open_library(db) as lib:
        stats = scan([root / "music"], lib, jobs=2)
    return root, good, bad, db, stats


def test_every_good_file_analyzed_every_bad_file_recorded(scanned):
    root, good, bad, db, stats = scanned
    with open_library(db) as lib:
        ok = {t.path: t for t in lib.tracks()}
        errors = {e.path: e.reason for e in lib.errors()}
    # A truncated file is refused, or analyzed with a warning: never stored as complete.
    warned = {p for p, what in bad.items() if what == "truncated" and p in ok}
    for p in warned:
        assert any("truncated" in w for w in ok[p].warnings), (p, ok[p].warnings)
    bad = {p: what for p, what in bad.items() if p not in warned}
    assert sorted(set(ok) - warned) == sorted(good), "every good file is an analyzed track"
    for t in ok.values():
        assert t.duration_s and t.duration_s > 2.0
        assert t.status == "ok"
    assert sorted(errors) == sorted(bad), "every bad file is in the errors table"
    for path, reason in errors.items():
        assert reason and "\n" not in reason and "Traceback" not in reason, (path, reason)
    assert "empty" in errors[str(root / "music" / "bad" / "zero.mp3")]
    for name in ("truncated.mp3", "truncated.flac"):
        p = str(root / "music" / "bad" / name)
        assert p in warned or "truncated" in errors[p]
    assert "loop" in errors[str(root / "music" / "bad" / "loop.mp3")]
    assert "folder" in errors[str(root / "music" / "x.mp3")]
    assert stats.analyzed == len(good) + len(warned) and stats.failed == len(bad)
    # the folder and the loop are never decoded
    assert stats.decoded == len(good) + len(warned) + len(bad) - 2


def test_tags_and_analysis_stored(scanned):
    root, good, bad, db, stats = scanned
    with open_library(db) as lib:
        t = lib.get_track(os.path.join(root, "music", "demo", "Muldjord - Chaos God.ogg"))
        assert (t.artist, t.title, t.genre) == ("Muldjord", "Chaos God", "Metal")
        assert t.bpm is not None and 40 < t.bpm < 250
        beats = lib.beats(t.id)
        assert beats.dtype == np.float32 and len(beats) > 100
        assert np.all(np.diff(beats) > 0)
        assert lib.get_track(t.id).path == t.path
        latin1 = [p for p in good if "\udce9" in p][0]
        assert lib.get_track(latin1).path == latin1  # undecodable bytes round-trip exactly
        assert lib.integrity_check() == "ok"


def test_rescan_unchanged_decodes_nothing(scanned):
    root, good, bad, db, _ = scanned
    with open_library(db) as lib:
        stats = scan([root / "music"], lib, executor=SerialExecutor())
        n_warned = len([p for p in bad if lib.get_track(p) and lib.get_track(p).status == "ok"])
        assert stats.decoded == 0
        assert stats.unchanged == len(good) + n_warned and stats.analyzed == 0
        assert stats.failed == len(bad) - n_warned  # still reported, not retried
        assert lib.count() == len(good) + n_warned


def test_rename_move_touch_delete_prune(tmp_path):
    music = tmp_path / "music"
    (music / "a").mkdir(parents=True)
    for i in range(4):
        write_clip(music / "a" / f"t{i}.mp3", i, dur_s=4.0)
    db = str(tmp_path / "lib.db")
    with open_library(db) as lib:
        first = scan([music], lib, executor=SerialExecutor())
        assert first.analyzed == 4 and first.decoded == 4
        ids = {t.title or t.path: t.id for t in lib.tracks()}
        # rename one, move one to a new folder, touch one (mtime only), delete one
        os.rename(music / "a" / "t0.mp3", music / "a" / "renamed.mp3")
        (music / "b").mkdir()
        os.rename(music / "a" / "t1.mp3", music / "b" / "t1.mp3")
        os.utime(music / "a" / "t2.mp3", ns=(time.time_ns(), time.time_ns() + 10**9))
        os.remove(music / "a" / "t3.mp3")
        second = scan([music], lib, executor=SerialExecutor())
        assert second.decoded == 0
        assert (second.moved, second.unchanged, second.missing) == (2, 1, 1)
        assert len(lib.tracks()) == 3
        assert len(lib.tracks(include_missing=True)) == 4
        assert set(t.id for t in lib.tracks(include_missing=True)) == set(ids.values())
        assert lib.prune() == 1
        assert len(lib.tracks(include_missing=True)) == 3
        # new content under an old name is analyzed again
        write_clip(music / "a" / "t2.mp3", 5, start_s=60.0, dur_s=4.5)
        third = scan([music], lib, executor=SerialExecutor())
        assert third.decoded == 1 and third.analyzed == 1
        fourth = scan([music], lib, executor=SerialExecutor(), force=True)
        assert fourth.decoded == 3 and fourth.analyzed == 3
        assert lib.count() == 3


def test_older_analysis_version_is_reanalyzed(tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    for i in range(2):
        write_clip(music / f"t{i}.flac", i, dur_s=3.0)
    db = str(tmp_path / "lib.db")
    with open_library(db) as lib:
        scan([music], lib, executor=SerialExecutor())
    con = sqlite3.connect(db)  # a row an older release wrote with an older pipeline
    con.execute("UPDATE tracks SET analysers = NULL, analysis_version = 3 WHERE path LIKE "
                "'%t0.flac'")
    con.commit()
    con.close()
    with open_library(db) as lib:
        stats = scan([music], lib, executor=SerialExecutor())
        assert stats.decoded == 1 and stats.unchanged == 1


def test_fingerprint_reads_head_middle_tail(tmp_path):
    p = tmp_path / "f.bin"
    data = bytearray(np.random.default_rng(0).bytes(1_000_000))
    p.write_bytes(bytes(data))
    fp = fingerprint(str(p))
    data[300_000] ^= 1  # outside the three sampled chunks: same fingerprint
    p.write_bytes(bytes(data))
    assert fingerprint(str(p)) == fp
    data[5] ^= 1
    p.write_bytes(bytes(data))
    assert fingerprint(str(p)) != fp
    assert fingerprint(str(tmp_path / "nope")) is None


def _cli(*args: str, **kw) -> list[str]:
    return [sys.executable, "-m", "underdog.cli", *args]


def test_kill_minus_9_then_resume(tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    n = 14
    for i in range(n):
        write_clip(music / f"k{i:02d}.ogg", i, start_s=20.0 + i, dur_s=20.0)
    db = str(tmp_path / "lib.db")
    env = dict(os.environ)
    proc = subprocess.Popen(_cli("scan", str(music), "--db", db, "--jobs", "1"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    done_before = 0
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            if os.path.exists(db):
                try:
                    with open_library(db) as lib:
                        done_before = lib.count()
                except Exception:
                    continue
                if done_before >= 3:
                    break
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the scan and its workers, mid-way
        proc.wait()
    assert 3 <= done_before < n, "the kill must land mid-scan"
    with open_library(db) as lib:
        assert lib.integrity_check() == "ok"
        kept = {t.path for t in lib.tracks()}
        assert len(kept) >= done_before
        stats = scan([music], lib, executor=SerialExecutor())
        assert stats.decoded == n - len(kept)  # only the unfinished files are decoded
        paths = [t.path for t in lib.tracks(include_failed=True, include_missing=True)]
        assert len(paths) == len(set(paths)) == n
        assert sorted(paths) == sorted(str(music / f"k{i:02d}.ogg") for i in range(n))
        assert lib.integrity_check() == "ok"


def test_cli_scan_summary_and_tracks(tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    write_clip(music / "good one.opus", 2, dur_s=4.0)
    (music / "zero.mp3").write_bytes(b"")
    db = str(tmp_path / "lib.db")
    env = dict(os.environ, COLUMNS="200")
    r = subprocess.run(_cli("scan", str(music), "--db", db, "--jobs", "1"), env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr  # some file failed
    assert "Traceback" not in r.stdout + r.stderr
    assert "1 analyzed" in r.stdout and "1 failed" in r.stdout
    assert "zero.mp3: cannot decode: empty file" in r.stdout
    r = subprocess.run(_cli("tracks", "--db", db, "--format", "csv"), env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.count("\n") == 2 and "good one.opus" in r.stdout
    r = subprocess.run(_cli("errors", "--db", db), env=env, capture_output=True, text=True,
                       timeout=60)
    assert "zero.mp3" in r.stdout and "1 files failed" in r.stdout
    r = subprocess.run(_cli("show", "1", "--db", db), env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "good one.opus" in r.stdout and "beats" in r.stdout


def _scan_as_nobody(music: str, db: str) -> tuple[int, dict]:
    """Fork, drop to uid 65534 (imports already done), scan in-process; report via a pipe."""
    import json

    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(rfd)
            os.setgid(65534)
            os.setuid(65534)
            with open_library(db) as lib:
                stats = scan([music], lib, executor=SerialExecutor())
                out = {"analyzed": stats.analyzed, "errors": {e.path: e.reason
                                                              for e in lib.errors()}}
            os.write(wfd, json.dumps(out).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(wfd)
    data = b""
    while chunk := os.read(rfd, 65536):
        data += chunk
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), (json.loads(data) if data else {})


def test_unreadable_file_is_recorded(tmp_path):
    import tempfile

    if os.geteuid() != 0:
        music = tmp_path / "music"
        music.mkdir()
        write_clip(music / "ok.wav", 1, dur_s=3.0)
        write_clip(music / "secret.wav", 2, dur_s=3.0)
        (music / "secret.wav").chmod(0)
        with open_library(tmp_path / "lib.db") as lib:
            stats = scan([music], lib, executor=SerialExecutor())
            errors = {e.path: e.reason for e in lib.errors()}
        assert stats.analyzed == 1
        assert "permission denied" in errors[str(music / "secret.wav")]
        return
    # root reads any file: scan from a child process that dropped to user "nobody".
    base = tempfile.mkdtemp(prefix="underdog-perm-")
    try:
        os.chmod(base, 0o777)
        music = os.path.join(base, "music")
        os.mkdir(music)
        os.chmod(music, 0o755)
        write_clip(os.path.join(music, "ok.wav"), 1, dur_s=3.0)
        write_clip(os.path.join(music, "secret.wav"), 2, dur_s=3.0)
        os.chmod(os.path.join(music, "ok.wav"), 0o644)
        os.chmod(os.path.join(music, "secret.wav"), 0)
        with open_library(os.path.join(base, "warm.db")) as lib:  # warm every import first
            scan([os.path.join(music, "ok.wav")], lib, executor=SerialExecutor())
        code, out = _scan_as_nobody(music, os.path.join(base, "lib.db"))
        assert code == 0, "the scan as nobody must not crash"
        assert out["analyzed"] == 1
        assert "permission denied" in out["errors"][os.path.join(music, "secret.wav")]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_cli_tracks_search_and_drops(scanned):
    """`tracks --search` matches artist, title or album (any case); `--drops/--no-drops`
    split the library in two; both agree with the stored rows."""
    import json

    _, _, _, db, _ = scanned
    with open_library(db) as lib:
        rows = lib.tracks()
    assert rows

    def listed(*args: str) -> set[int]:
        r = subprocess.run(_cli("tracks", "--db", db, "-f", "json", *args),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        rows = json.loads(r.stdout)
        # numbers in their declared JSON form: at most 4 decimals (not 0.046012532878920515)
        assert all(round(v, 4) == v for d in rows for v in d.values() if isinstance(v, float))
        return {d["id"] for d in rows}

    t = next(t for t in rows if t.title)
    word = t.title[1:4].upper()
    want = {u.id for u in rows if any(word.lower() in (v or "").lower()
                                      for v in (u.artist, u.title, u.album))}
    got = listed("--search", word)
    assert t.id in got and got == want
    with_drops, without = listed("--drops"), listed("--no-drops")
    assert with_drops == {u.id for u in rows if u.drops}
    assert with_drops | without == {u.id for u in rows} and not with_drops & without
