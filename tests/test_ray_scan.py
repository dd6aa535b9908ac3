"""`scan --engine ray` against a real local Ray instance (two CPUs, one for the module).

A Ray scan stores what a local scan stores, field by field; a Ray worker killed (SIGKILL,
by the task itself, on its first attempt only) mid-task is retried and its file stored
once; a driver killed mid-scan leaves its finished files saved and the next scan resumes
from them, ending with the same rows.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from underdog.library.db import open_library
from underdog.library.executors import (KILL_ONCE_ENV, LocalPoolExecutor, RayExecutor,
                                        kill_request_name)
from underdog.library.scan import scan

from .conftest import demo_tracks, flac_clip

pytestmark = pytest.mark.timeout(300)

N_CLIPS = 10
# Columns that differ between two scans of the same files by construction.
VOLATILE = {"id", "path", "added_at", "updated_at"}


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory):
    """A local Ray (num_cpus=2) for the module; workers see the kill-request folder."""
    ray = pytest.importorskip("ray", reason="the 'ray' extra is not installed "
                              "(pip install 'underdog[ray]')")
    kill_dir = tmp_path_factory.mktemp("kill-requests")
    old = os.environ.get(KILL_ONCE_ENV)
    os.environ[KILL_ONCE_ENV] = str(kill_dir)  # inherited by the raylet and its workers
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
             log_to_driver=False, _system_config={"worker_niceness": 0})  # as RayExecutor
    try:
        yield ray.get_runtime_context().gcs_address, kill_dir
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop(KILL_ONCE_ENV, None)
        else:
            os.environ[KILL_ONCE_ENV] = old


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """N_CLIPS 40-second FLAC clips of the demo tracks libsndfile reads."""
    d = tmp_path_factory.mktemp("clips") / "music"
    d.mkdir()
    srcs = [p for p in demo_tracks() if p.suffix in (".mp3", ".ogg", ".flac")]
    for i in range(N_CLIPS):
        flac_clip(srcs[i % len(srcs)], d / f"clip{i:02d}.flac", 20.0 + 9 * (i // len(srcs)),
                  40.0)
    return d


@pytest.fixture(scope="module")
def clips_local(clips, tmp_path_factory) -> dict:
    """Rows of a local (process pool) scan of the clips."""
    db = tmp_path_factory.mktemp("local") / "clips.db"
    with open_library(db) as lib:
        st = scan([clips], lib, executor=LocalPoolExecutor(2))
    assert st.analyzed == N_CLIPS and not st.failures
    return rows(db)


def rows(db: Path) -> dict[str, dict]:
    """Every stored column of every track (and its beats), keyed by file name."""
    con = sqlite3.connect(db)
    try:
        cur = con.execute("SELECT * FROM tracks")
        names = [c[0] for c in cur.description]
        out: dict[str, dict] = {}
        for r in cur.fetchall():
            rec = dict(zip(names, r))
            key = os.path.basename(rec["path"])
            assert key not in out, f"{key} stored twice"
            b = con.execute("SELECT * FROM beats WHERE track_id = ?", (rec["id"],))
            bnames = [c[0] for c in b.description]
            for brow in b.fetchall():
                rec.update({f"beats.{k}": v for k, v in zip(bnames, brow) if k != "track_id"})
            out[key] = {k: v for k, v in rec.items() if k not in VOLATILE}
        errors = con.execute("SELECT count(*) FROM errors").fetchone()[0]
        assert errors == 0, "errors stored"
        return out
    finally:
        con.close()


def assert_same_rows(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for name in want:
        diff = {k: (got[name].get(k), v) for k, v in want[name].items() if got[name].get(k) != v}
        assert not diff, f"{name}: {sorted(diff)} differ"
        assert set(got[name]) == set(want[name])


def test_ray_scan_of_the_demo_library_matches_a_local_scan(ray_address, tmp_path):
    with open_library(tmp_path / "local.db") as lib:
        local = scan([demo_tracks()[0].parent], lib, executor=LocalPoolExecutor(2))
    with open_library(tmp_path / "ray.db") as lib:
        st = scan([demo_tracks()[0].parent], lib, executor=RayExecutor())
    assert st.analyzed == local.analyzed == len(demo_tracks()) and not st.failures
    want, got = rows(tmp_path / "local.db"), rows(tmp_path / "ray.db")
    assert len(want) == len(demo_tracks())
    assert_same_rows(got, want)
    assert all(w["bpm"] and w["style_label"] and w["camelot"] for w in want.values())


def test_killed_worker_is_retried_and_its_file_stored_once(ray_address, clips, clips_local,
                                                           tmp_path):
    _, kill_dir = ray_address
    victims = [str(clips / "clip03.flac"), str(clips / "clip07.flac")]
    for v in victims:
        (kill_dir / kill_request_name(v)).touch()
    with open_library(tmp_path / "ray.db") as lib:
        st = scan([clips], lib, executor=RayExecutor(max_retries=2))
    # each request was claimed by a worker that then SIGKILLed itself: a real death
    for v in victims:
        assert not (kill_dir / kill_request_name(v)).exists()
        claimed = list(kill_dir.glob(kill_request_name(v) + "ed-*"))
        assert len(claimed) == 1, "the task never ran its first attempt's kill"
        pid = int(claimed[0].name.rsplit("-", 1)[1])
        assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid), "worker still alive"
    assert st.analyzed == N_CLIPS and not st.failures
    assert_same_rows(rows(tmp_path / "ray.db"), clips_local)


def test_killed_worker_without_retries_is_a_failure_for_the_next_scan(ray_address, clips,
                                                                     tmp_path):
    """The control: with max_retries=0 the same kill loses the file (kept for a rescan)."""
    _, kill_dir = ray_address
    victim = str(clips / "clip05.flac")
    (kill_dir / kill_request_name(victim)).touch()
    with open_library(tmp_path / "ray.db") as lib:
        st = scan([clips], lib, executor=RayExecutor(max_retries=0))
        assert [p for p, _ in st.failures] == [victim]
        assert "Ray worker lost" in st.failures[0][1]
        again = scan([clips], lib, executor=RayExecutor())
    assert again.analyzed == 1 and again.unchanged == N_CLIPS - 1 and not again.failures


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True


def test_killed_driver_then_rescan_resumes_with_the_same_rows(ray_address, clips, clips_local,
                                                              tmp_path):
    address, _ = ray_address
    db = tmp_path / "driver.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "underdog.cli", "scan", str(clips), "--db", str(db),
         "--engine", "ray", "--address", address],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    saved = 0
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            saved = _count(db)
            if saved >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"driver ended early: {proc.stderr.read().decode()[-600:]}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    saved = _count(db)
    assert 2 <= saved < N_CLIPS, f"{saved} saved: the kill came too late to test a resume"
    with open_library(db) as lib:
        st = scan([clips], lib, executor=RayExecutor())
    assert st.unchanged == saved and st.analyzed == N_CLIPS - saved and not st.failures
    assert_same_rows(rows(db), clips_local)


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT count(*) FROM tracks WHERE status = 'ok'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_spool_keeps_order_past_memory(tmp_path):
    """The scanner's walk and job lists spill to a temp file past ``in_memory`` items."""
    from underdog.library.scan import Job
    from underdog.library.spool import Spool

    sp: Spool[Job] = Spool(in_memory=3)
    jobs = [Job(f"/m/{i}.mp3", (i, i * 10), f"fp{i}") for i in range(1000)]
    for j in jobs:
        sp.append(j)
    assert len(sp) == 1000 and sp._file is not None
    assert list(sp) == jobs and list(sp) == jobs  # twice: iteration rereads the file
    sp.close()
