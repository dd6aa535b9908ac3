"""The library database never loses data and never prints a traceback (issue 19, "DB").

Real SQLite files, damaged the ways a user's disk, a second tool or an old release damages
them: read-only files and folders, a dropped table, a corrupt blob, a corrupt page, a lost
``user_version``, a full disk; plus the 1 → 2 schema migration on a database built by the
current release's first migration, and the three fields it adds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from underdog.library.db import MIGRATIONS, SCHEMA_VERSION, LibraryError, open_library
from underdog.models import Track

pytestmark = pytest.mark.timeout(180)

ENV = dict(os.environ, COLUMNS="200", PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "underdog.cli", *args], env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def _one_clear_line(r: subprocess.CompletedProcess, *words: str) -> None:
    out = r.stdout + r.stderr
    assert r.returncode not in (0, 70), out  # failed, but not as an internal error
    assert "Traceback" not in out, out
    for w in words:
        assert w in out, (w, out)


def _tracks(n: int) -> list[Track]:
    rng = np.random.default_rng(1)
    styles = ["calm", "groove", "drive", "heavy"]
    out = []
    for i in range(n):
        out.append(Track(id=None, path=f"/music/{i:03d}.ogg", artist=f"Band {i % 7}",
                         title=f"Song {i}", duration_s=float(rng.uniform(150, 300)),
                         bpm=float(rng.uniform(90, 170)), energy=float(rng.uniform(0, 1)),
                         camelot=f"{i % 12 + 1}A", style={s: 0.25 for s in styles},
                         style_label=styles[i % 4], energy_curve=rng.uniform(0, 1, 64),
                         energy_curve_hop_s=4.0))
    return out


@pytest.fixture
def db(tmp_path) -> str:
    path = str(tmp_path / "lib.db")
    with open_library(path) as lib:
        lib.add_tracks(_tracks(40))
    return path


# ---------------------------------------------------------------- migration and new fields

def _v1_database(path: str) -> None:
    """A database as the release with schema 1 wrote it, rows in every table."""
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[0])
    con.execute("PRAGMA user_version = 1")
    con.execute("PRAGMA journal_mode=WAL")
    curve = np.linspace(0, 1, 50, dtype="<f4").tobytes()
    for i in range(30):
        con.execute(
            "INSERT INTO tracks (path, status, size, mtime_ns, fingerprint, artist, title, "
            "genre, year, duration_s, bpm, bpm_candidates, energy, camelot, style_label, "
            "style, drops, analysis_version, added_at, updated_at, energy_curve, "
            "energy_curve_hop_s) VALUES (?, 'ok', ?, ?, ?, ?, ?, 'Rock', 1999, 200.5, ?, "
            "'[[120.0,0.9]]', 0.5, '8A', 'drive', '{\"drive\":0.7}', '[{\"time_s\":30.0}]', 3, "
            "1.0, 2.0, ?, 4.0)",
            (f"/m/{i}.mp3", 1000 + i, 10**18 + i, f"{i:032x}", f"A{i}", f"T{i}", 100.0 + i,
             curve))
        con.execute("INSERT INTO beats (track_id, beats) VALUES (?, ?)",
                    (i + 1, np.arange(10, dtype="<f4").tobytes()))
    con.execute("INSERT INTO errors (path, reason, size, mtime_ns, at) VALUES "
                "('/m/bad.mp3', 'cannot decode: empty file', 0, 1, 3.0)")
    con.execute("INSERT INTO tracks (path, status, added_at, updated_at) VALUES "
                "('/m/bad.mp3', 'failed', 1.0, 1.0)")
    con.execute("INSERT INTO plans (arc_name, seed, created_at) VALUES ('montage', 3, 5.0)")
    con.executemany("INSERT INTO plan_tracks VALUES (1, ?, ?)", [(k, k + 1) for k in range(5)])
    con.commit()
    con.close()


def _dump(path: str) -> dict[str, list]:
    con = sqlite3.connect(path)
    try:
        cols = [r[1] for r in con.execute("PRAGMA table_info(tracks)")]
        v1 = [c for c in cols if c not in ("style_source", "tempo_segments", "warnings",
                                           "analysers")]
        return {
            "tracks": con.execute(f"SELECT {', '.join(v1)} FROM tracks ORDER BY id").fetchall(),
            "beats": con.execute("SELECT track_id, beats FROM beats ORDER BY track_id").fetchall(),
            "errors": con.execute("SELECT * FROM errors").fetchall(),
            "plans": con.execute("SELECT * FROM plans").fetchall(),
            "plan_tracks": con.execute("SELECT * FROM plan_tracks").fetchall(),
        }
    finally:
        con.close()


def test_migration_1_to_2_keeps_every_row(tmp_path):
    path = str(tmp_path / "v1.db")
    _v1_database(path)
    before = _dump(path)
    with open_library(path) as lib:
        assert lib.schema_version == SCHEMA_VERSION >= 2
        t = lib.get_track("/m/7.mp3")
        assert (t.bpm, t.style_source, t.tempo_segments, t.warnings) == (107.0, None, [], [])
        assert len(t.energy_curve) == 50
        assert lib.count() == 30 and lib.count("failed") == 1
        assert lib.integrity_check() == "ok"
    assert _dump(path) == before
    con = sqlite3.connect(path)
    cols = {r[1]: r[2] for r in con.execute("PRAGMA table_info(tracks)")}
    assert {k: cols[k] for k in ("style_source", "tempo_segments", "warnings")} == \
        {"style_source": "TEXT", "tempo_segments": "TEXT", "warnings": "TEXT"}
    con.close()


def _analysis(**kw):
    base = dict(duration_s=180.0, bpm=128.0, bpm_confidence=0.9, energy=0.6, camelot="8A",
                key="A minor", style={"drive": 0.8}, style_label="drive",
                energy_curve=np.linspace(0, 1, 20), energy_curve_hop_s=4.0, beats=np.arange(8.0),
                style_source="tag", tempo_segments=[(0.0, 90.0, 128.0), (90.0, 180.0, 100.0)],
                warnings=["truncated: decoded 90.0 s of 180.0 s"])
    base.update(kw)
    return SimpleNamespace(**base)


def test_new_fields_stored_read_and_listed(tmp_path):
    path = str(tmp_path / "lib.db")
    with open_library(path) as lib:
        tid = lib.save_analysis("/m/a.ogg", {"artist": "A"}, (10, 20), "p1:x", _analysis())
        lib.save_analysis("/m/b.ogg", {}, (10, 20), "p1:y", _analysis(warnings=[]))
        lib.save_error("/m/c.ogg", (1, 2), "cannot decode: empty file")
        t = lib.get_track(tid)
        assert t.style_source == "tag"
        assert t.tempo_segments == [(0.0, 90.0, 128.0), (90.0, 180.0, 100.0)]
        assert t.warnings == ["truncated: decoded 90.0 s of 180.0 s"]
        d = lib.track_details(tid)
        assert d["warnings"] == t.warnings and d["tempo_segments"] == [[0, 90, 128], [90, 180, 100]]
        assert [(w.path, w.kind) for w in lib.warnings()] == [("/m/a.ogg", "warning")]
        assert lib.get_track("/m/b.ogg").warnings == []
    r = _cli("errors", "--db", path)
    assert r.returncode == 0 and "Traceback" not in r.stderr
    lines = r.stdout.splitlines()
    assert any("c.ogg" in ln and "empty file" in ln for ln in lines)
    warn = [ln for ln in lines if "a.ogg" in ln]
    assert len(warn) == 1 and "warning" in warn[0] and "truncated" in warn[0]
    assert lines.index(warn[0]) > [i for i, ln in enumerate(lines) if "c.ogg" in ln][0]
    r = _cli("show", str(tid), "--db", path)
    assert r.returncode == 0 and "truncated: decoded 90.0 s" in r.stdout
    assert "style_source" in r.stdout and "tag" in r.stdout
    import json

    r = _cli("tracks", "--db", path, "--format", "json")
    rows = {d["path"]: d for d in json.loads(r.stdout)}
    assert rows["/m/a.ogg"]["warnings"] == ["truncated: decoded 90.0 s of 180.0 s"]
    assert rows["/m/a.ogg"]["tempo_segments"] == [[0.0, 90.0, 128.0], [90.0, 180.0, 100.0]]
    assert rows["/m/a.ogg"]["style_source"] == "tag"


# ---------------------------------------------------------------- damaged databases

def test_corrupt_energy_curve_is_a_missing_curve_with_a_warning(db):
    con = sqlite3.connect(db)
    con.execute("UPDATE tracks SET energy_curve = x'0102030405' WHERE id = 3")
    # SQLite keeps any type in any column: text where numbers belong (another tool wrote it)
    con.execute("UPDATE tracks SET bpm = 'fast', energy = 'high', year = 'x', style = '7', "
                "drops = '{\"a\": 1}', warnings = '3' WHERE id = 4")
    con.commit()
    con.close()
    with open_library(db) as lib:
        t = lib.get_track(3)
        assert len(t.energy_curve) == 0
        assert any("energy curve is damaged" in w for w in t.warnings)
        t = lib.get_track(4)
        assert (t.bpm, t.energy, t.year, t.style, t.drops, t.warnings) == \
            (None, None, None, {}, [], [])
        assert len(lib.tracks()) == 40
        assert len(lib.track_details(3)["energy_curve"]) == 0
    for args in (("plan", "--minutes", "20", "--no-record"), ("tracks",)):
        r = _cli(*args, "--db", db)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Traceback" not in r.stdout + r.stderr


@pytest.mark.parametrize("table", ["tracks", "beats", "errors"])
def test_dropped_table_is_a_clear_error(db, table):
    con = sqlite3.connect(db)
    con.execute(f"DROP TABLE {table}")
    con.commit()
    con.close()
    with pytest.raises(LibraryError, match=f"damaged: table {table} missing"):
        open_library(db)
    _one_clear_line(_cli("tracks", "--db", db), f"table {table} missing", "remove the file")


def test_corrupt_page_is_reported_clearly(db):
    with open_library(db) as lib:
        lib.add_tracks(_tracks(400)[40:])
    con = sqlite3.connect(db)
    page = con.execute("PRAGMA page_size").fetchone()[0]
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    size = os.path.getsize(db)
    with open(db, "r+b") as f:  # garbage over the interior pages (not the header page)
        for off in range(2 * page, size - page, 3 * page):
            f.seek(off)
            f.write(os.urandom(page))
    r = _cli("tracks", "--db", db)
    _one_clear_line(r, "malformed")
    assert len([ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]) == 1


@pytest.mark.parametrize("version", [0, -1])
def test_lost_user_version_is_repaired_when_tables_match(db, version):
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA user_version = {version}")
    con.commit()
    con.close()
    with open_library(db) as lib:
        assert lib.schema_version == SCHEMA_VERSION
        assert lib.count() == 40
    r = _cli("tracks", "--db", db)
    assert r.returncode == 0 and "40 tracks" in r.stdout


def test_unknown_tables_with_user_version_0_is_a_clear_error(tmp_path):
    path = str(tmp_path / "other.db")
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE tracks (x INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(LibraryError, match="unknown schema"):
        open_library(path)
    _one_clear_line(_cli("tracks", "--db", path), "unknown schema")


# ---------------------------------------------------------------- read-only

@pytest.fixture
def shared_dir():
    """A folder user 'nobody' can use (pytest's tmp_path is root-only)."""
    base = tempfile.mkdtemp(prefix="underdog-ro-")
    os.chmod(base, 0o777)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _cli_as_nobody(*args: str) -> subprocess.CompletedProcess:
    """The CLI as user 'nobody' when root (root writes read-only files), else as this user.

    The venv's interpreter lives under /root, which 'nobody' cannot run, so the command runs
    in a forked child that dropped its privileges after the imports were warmed up (the
    same command ran once in this process on a scratch library).
    """
    if os.geteuid() != 0:
        return _cli(*args)
    with tempfile.TemporaryDirectory() as scratch:  # warm every import the command makes
        _main([a if a != _db_arg(args) else os.path.join(scratch, "w.db") for a in args])
    outs = [tempfile.TemporaryFile(mode="w+") for _ in range(2)]
    pid = os.fork()
    if pid == 0:  # child
        code = 70
        try:
            os.dup2(outs[0].fileno(), 1)
            os.dup2(outs[1].fileno(), 2)
            sys.stdout = open(1, "w", closefd=False)  # pytest had replaced both
            sys.stderr = open(2, "w", closefd=False)
            os.setgid(65534)
            os.setuid(65534)
            os.environ["COLUMNS"] = "200"
            code = _main(list(args))
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    texts = []
    for f in outs:
        f.seek(0)
        texts.append(f.read())
        f.close()
    return subprocess.CompletedProcess(args, os.waitstatus_to_exitcode(status), *texts)


def _main(args: list[str]) -> int:
    """``underdog ARGS`` in this process; its exit status."""
    from underdog.cli import main

    argv = sys.argv
    sys.argv = ["underdog", *args]
    try:
        main()
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv


def _db_arg(args: tuple[str, ...]) -> str:
    return args[args.index("--db") + 1]


def test_read_only_db_file(shared_dir):
    db = os.path.join(shared_dir, "lib.db")
    with open_library(db) as lib:
        lib.add_tracks(_tracks(40))
        lib.mark_missing([1, 2])
    os.chmod(db, 0o444)
    music = os.path.join(shared_dir, "music")
    os.mkdir(music)
    shutil.copy(sorted(p for p in (Path(__file__).parents[1] / "examples" / "library").iterdir()
                       if p.suffix == ".opus")[0], music)
    r = _cli_as_nobody("tracks", "--db", db)
    assert r.returncode == 0 and "38 tracks" in r.stdout, r.stdout + r.stderr
    _one_clear_line(_cli_as_nobody("prune", "--db", db), "read-only")
    _one_clear_line(_cli_as_nobody("scan", music, "--db", db, "--jobs", "0"), "read-only")
    _one_clear_line(_cli_as_nobody("plan", "--db", db, "--minutes", "20"), "read-only")
    with open_library(db) as lib:
        assert lib.count() == 38 and lib.count("missing") == 2


@contextlib.contextmanager
def tmpfs(mnt: Path, size: str):
    """A tmpfs of ``size`` mounted at ``mnt`` for the block (root only; skips elsewhere)."""
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def ro_mount(tmp_path):
    """A tmpfs for a library, to be remounted read-only by the test."""
    with tmpfs(tmp_path / "mnt", "8m") as mnt:
        yield mnt


def test_db_in_read_only_folder_reads_work(ro_mount, tmp_path):
    db = str(ro_mount / "lib.db")
    with open_library(db) as lib:
        lib.add_tracks(_tracks(40))
        lib.mark_missing([5])
    subprocess.run(["mount", "-o", "remount,ro", str(ro_mount)], check=True)
    with open_library(db) as lib:
        assert lib.read_only and len(lib.tracks()) == 39
        with pytest.raises(LibraryError, match="read-only"):
            lib.prune()
    r = _cli("tracks", "--db", db)
    assert r.returncode == 0 and "39 tracks" in r.stdout, r.stdout + r.stderr
    r = _cli("show", "1", "--db", db)
    assert r.returncode == 0 and "Song 0" in r.stdout
    _one_clear_line(_cli("prune", "--db", db), "read-only")
    music = tmp_path / "music"
    music.mkdir()
    _one_clear_line(_cli("scan", str(music), "--db", db, "--jobs", "0"), "read-only")


# ---------------------------------------------------------------- disk full

def test_disk_full_during_scan(tmp_path):
    from .test_scan import write_clip

    music = tmp_path / "music"
    music.mkdir()
    for i in range(3):
        write_clip(music / f"c{i}.wav", i % 2, start_s=20.0 + 9 * i, dur_s=8.0)
    with tmpfs(tmp_path / "mnt", "400k") as mnt:
        db = str(mnt / "lib.db")
        with open_library(db) as lib:
            lib.add_tracks(_tracks(20))
        free = shutil.disk_usage(mnt).free
        with open(mnt / "filler", "wb") as f:  # leave ~40 KB: room for a track or two
            f.write(b"\0" * max(0, free - 40 * 1024))
        r = _cli("scan", str(music), "--db", db, "--jobs", "0")
        _one_clear_line(r, "disk full")
        os.remove(mnt / "filler")
        with open_library(db) as lib:
            assert lib.integrity_check() == "ok"
            assert lib.count() >= 20
            assert len({t.path for t in lib.tracks()}) == lib.count()
        r = _cli("scan", str(music), "--db", db, "--jobs", "0")
        assert r.returncode == 0, r.stdout + r.stderr  # 0: every file analyzed
        with open_library(db) as lib:
            assert lib.count() == 23


# ---------------------------------------------------------------- scan rows

def test_unreadable_file_is_retried_after_chmod(shared_dir):
    from .test_scan import write_clip

    music = os.path.join(shared_dir, "music")
    os.mkdir(music)
    os.chmod(music, 0o755)
    secret = os.path.join(music, "secret.wav")
    write_clip(secret, 2, dur_s=3.0)
    os.chmod(secret, 0)
    db = os.path.join(shared_dir, "lib.db")
    if os.geteuid() != 0 and os.access(secret, os.R_OK):
        pytest.skip("this user reads mode-0 files")
    r = _cli_as_nobody("scan", music, "--db", db, "--jobs", "0")
    assert r.returncode == 1 and "permission denied" in r.stdout, r.stdout + r.stderr
    mtime = os.stat(secret).st_mtime_ns
    os.chmod(secret, 0o644)  # mtime unchanged: only the permission changed
    assert os.stat(secret).st_mtime_ns == mtime
    r = _cli_as_nobody("scan", music, "--db", db, "--jobs", "0")
    assert r.returncode == 0 and "1 analyzed" in r.stdout, r.stdout + r.stderr
    with open_library(db) as lib:
        assert lib.errors() == [] and lib.count() == 1


def test_truncated_ogg_and_opus_are_never_stored_as_complete(tmp_path):
    """Cut at 50 %: refused, or analyzed with a warning that says so (stored, listed)."""
    from underdog.library.executors import SerialExecutor
    from underdog.library.scan import scan

    from .test_scan import write_clip

    music = tmp_path / "music"
    music.mkdir()
    for i, ext in enumerate((".ogg", ".opus")):
        whole = tmp_path / f"whole{ext}"
        write_clip(whole, i, dur_s=12.0)
        data = whole.read_bytes()
        (music / f"half{ext}").write_bytes(data[: len(data) // 2 + 77])
    db = str(tmp_path / "lib.db")
    with open_library(db) as lib:
        scan([music], lib, executor=SerialExecutor())
        refused = {e.path for e in lib.errors() if "truncated" in e.reason}
        warned = {w.path for w in lib.warnings() if "truncated" in w.reason}
        for p in music.iterdir():
            assert str(p) in refused | warned, f"{p.name}: no word of the truncation"
    r = _cli("errors", "--db", db)
    assert r.stdout.count("half.") == 2 and "Traceback" not in r.stderr
