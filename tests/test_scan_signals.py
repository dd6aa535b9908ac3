"""A scan stopped by a signal leaves no process behind; two scans of one library don't race.

`underdog scan --jobs 2` runs as a subprocess in its own session; the signal goes to the
scan process only (as `timeout`, a service manager or a closed terminal sends it), after
its workers started. Afterwards no process of that session may remain, the database is
intact, and a rescan finishes the work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from underdog.library.db import open_library
from underdog.library.executors import SerialExecutor
from underdog.library.scan import scan

from .test_scan import write_clip

pytestmark = pytest.mark.timeout(180)

N_FILES = 8


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[bytes]:
    src = tmp_path_factory.mktemp("clips")
    out = []
    for i in range(N_FILES):
        p = src / f"c{i}.ogg"
        write_clip(p, i % 2, start_s=25.0 + 7 * i, dur_s=14.0)  # two sources: fast setup
        out.append(p.read_bytes())
    return out


def _music(tmp_path: Path, clips: list[bytes]) -> Path:
    music = tmp_path / "music"
    music.mkdir()
    for i, data in enumerate(clips):
        (music / f"c{i}.ogg").write_bytes(data)
    return music


def session_pids(sid: int) -> list[int]:
    """Processes whose session id is ``sid`` (read from /proc; no psutil)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # after "(comm)": state ppid pgrp session ...; a zombie is already gone for our purpose
        if int(fields[3]) == sid and fields[0] != b"Z":
            out.append(int(name))
    return out


def _start_scan(music: Path, db: str) -> subprocess.Popen:
    env = dict(os.environ, COLUMNS="200")
    # SIGINT as a terminal has it: a test run started in the background by a shell without
    # job control inherits it ignored, and the scan then never hears it
    return subprocess.Popen([sys.executable, "-m", "underdog.cli", "scan", str(music),
                             "--db", db, "--jobs", "2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_workers(proc: subprocess.Popen, n: int = 4, timeout: float = 60) -> None:
    """Until the session holds the scan, the forkserver and two workers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the scan ended before its workers were seen"
        if len(session_pids(proc.pid)) >= n:
            time.sleep(0.3)  # the workers are busy now
            return
        time.sleep(0.05)
    raise AssertionError("no workers started")


def _none_left(sid: int, timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = session_pids(sid)
        if not left:
            return []
        time.sleep(0.1)
    return session_pids(sid)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL],
                         ids=lambda s: signal.Signals(s).name)
def test_signal_stops_workers(tmp_path, clips, sig):
    music = _music(tmp_path, clips)
    db = str(tmp_path / "lib.db")
    proc = _start_scan(music, db)
    try:
        _wait_for_workers(proc)
        os.kill(proc.pid, sig)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    left = _none_left(proc.pid)
    if left:
        os.killpg(proc.pid, signal.SIGKILL)
    assert not left, f"processes left behind after {signal.Signals(sig).name}: {left}"
    text = out.decode(errors="replace")
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 128 + sig, text
        assert "Traceback" not in text and "interrupted" in text, text
    with open_library(db) as lib:
        assert lib.integrity_check() == "ok"
        done = lib.count()
        assert done < N_FILES, "the signal must land mid-scan"
        stats = scan([music], lib, executor=SerialExecutor())  # the rescan finishes the work
        assert stats.decoded == N_FILES - done and stats.failed == 0
        paths = [t.path for t in lib.tracks(include_failed=True, include_missing=True)]
        assert sorted(paths) == sorted(str(music / f"c{i}.ogg") for i in range(N_FILES))


def test_second_scan_is_refused_then_the_lock_is_free(tmp_path):
    """While a scan holds the library (here: this process), `underdog scan` refuses at once
    with the holder's pid; afterwards the lock is free and the next scan runs."""
    from underdog.library.db import LibraryError

    music = tmp_path / "music"
    music.mkdir()
    write_clip(music / "a.flac", 1, dur_s=3.0)
    db = str(tmp_path / "lib.db")
    with open_library(db) as lib:
        with lib.scan_lock():
            r = subprocess.run([sys.executable, "-m", "underdog.cli", "scan", str(music),
                                "--db", db, "--jobs", "0"], capture_output=True, text=True,
                               timeout=60, env=dict(os.environ, COLUMNS="200"))
            assert r.returncode == 2 and "Traceback" not in r.stdout + r.stderr
            assert f"another scan is running on this library (pid {os.getpid()})" in \
                r.stdout + r.stderr
            with open_library(db) as other:
                with pytest.raises(LibraryError, match=f"pid {os.getpid()}"):
                    scan([music], other, executor=SerialExecutor())
                assert other.count() == 0, "the refused scan analyzed nothing"
        assert scan([music], lib, executor=SerialExecutor()).analyzed == 1
