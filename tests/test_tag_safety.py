"""`underdog tag` never damages a file: kill -9 at random points while it grows the ID3 tag of
a large MP3 with no tag padding, a full disk (a small tmpfs, and an ENOSPC injected at the
write calls), Ctrl-C. After each, the file is byte-identical either to the original or to
the finished result (which PyAV decodes to the end), its audio bytes are the original's,
and no temporary file is left behind (except, after a kill -9, the one it was writing).

The MP3 is made at test time from a demo track (its audio frames repeated to ~24 MB) with an
ID3 tag that has zero padding, so adding TBPM/TKEY must move all 24 MB: the old in-place
rewrite left it unplayable when killed.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
from mutagen.id3 import ID3, TIT2, TPE1
from typer.testing import CliRunner

from underdog.analysis import TrackAnalysis
from underdog.cli import app
from underdog.library.db import open_library
from underdog.library.tags import read_tags

from .conftest import DEMO_LIBRARY
from .test_atomic_writes import debris, full_disk

BIG_BYTES = 24_000_000
KILLS = 20
runner = CliRunner()


def id3_end(data: bytes) -> int:
    """Bytes taken by a leading ID3v2 tag (0 if none)."""
    if data[:3] != b"ID3":
        return 0
    n = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
    return 10 + n + (10 if data[5] & 0x10 else 0)


def payload(data: bytes) -> bytes:
    """The MPEG audio frames: after the ID3v2 tag, before an ID3v1 tag."""
    end = len(data) - 128 if data[-128:-125] == b"TAG" else len(data)
    return data[id3_end(data):end]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_unpadded_mp3(path: Path, size: int) -> None:
    frames = payload((DEMO_LIBRARY / "Muldjord - Armygeddon.mp3").read_bytes())
    path.write_bytes(frames * max(1, -(-size // len(frames))))
    tags = ID3()
    tags.add(TIT2(encoding=3, text=["Armygeddon (long)"]))
    tags.add(TPE1(encoding=3, text=["Muldjord"]))
    tags.save(str(path), padding=lambda info: 0)
    assert ID3(str(path))._padding == 0  # a new frame cannot fit: the tag must grow


def add_to_library(db: Path, path: Path) -> None:
    with open_library(db) as lib:
        tags = read_tags(str(path))
        st = path.stat()
        lib.save_analysis(str(path), tags, (st.st_size, st.st_mtime_ns), None,
                          TrackAnalysis(str(path), duration_s=tags["duration_s"], bpm=127.6,
                                        key="A minor", camelot="8A"))


def decoded_samples(path: Path) -> int:
    """Decode every frame (raises on a broken stream); the sample count."""
    n = 0
    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.audio[0]):
            n += frame.samples
    return n


def tag_cmd(path: Path, db: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "underdog.cli", "tag", str(path), "--db", str(db), *extra]


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """(folder, file, db, original bytes): a ~24 MB unpadded MP3 in a one-track library."""
    folder = tmp_path_factory.mktemp("big")
    f = folder / "long.mp3"
    make_unpadded_mp3(f, BIG_BYTES)
    db = folder.parent / (folder.name + ".db")
    add_to_library(db, f)
    return folder, f, db, f.read_bytes()


def write_started(p: subprocess.Popen, f: Path) -> float | None:
    """When the process first changes anything in ``f``'s folder (a new file beside it, or
    ``f``'s size or time): the start of its write. None if it exits first."""
    st0 = f.stat()
    while p.poll() is None:
        st = f.stat()
        if (st.st_size, st.st_mtime_ns) != (st0.st_size, st0.st_mtime_ns) \
                or len(os.listdir(f.parent)) > 1:
            return time.monotonic()
        time.sleep(0.0005)
    return None


def test_kill_9_while_the_tag_grows_never_damages_the_file(big):
    folder, f, db, original = big
    env = dict(os.environ, COLUMNS="200")
    # Calibrate: how long the write takes, from its first change in the folder to the end.
    p = subprocess.Popen(tag_cmd(f, db), env=env, stdout=subprocess.PIPE, text=True)
    t_start = write_started(p, f)
    out = p.communicate()[0]
    t_write = time.monotonic() - t_start
    assert p.returncode == 0 and "changed 1 file(s)" in out, out
    final = f.read_bytes()
    assert len(final) > len(original) and payload(final) == payload(original)
    assert id3_end(final) > id3_end(original)  # the tag grew: all the audio moved
    # It plays to the end: as many samples as the demo track's times its copies.
    one = DEMO_LIBRARY / "Muldjord - Armygeddon.mp3"
    copies = len(payload(original)) // len(payload(one.read_bytes()))
    n_one = decoded_samples(one)
    # (each later copy keeps its encoder delay and padding: up to 4 frames more)
    assert abs(decoded_samples(f) - copies * n_one) <= copies * 4608

    rng = random.Random(19)
    seen = {"original": 0, "finished": 0, "temp file left": 0, "exited first": 0}
    for i in range(KILLS):
        f.write_bytes(original)
        delay = rng.uniform(0, t_write)
        p = subprocess.Popen(tag_cmd(f, db), env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        if write_started(p, f) is not None:
            time.sleep(delay)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        else:
            seen["exited first"] += 1
        p.wait()
        left = debris(folder)
        seen["temp file left"] += bool(left)
        for name in left:
            (folder / name).unlink()
        data = f.read_bytes()
        state = {sha(original): "original", sha(final): "finished"}.get(sha(data))
        assert state, (f"kill {i}, {delay:.3f} s into the write: the file is neither the "
                       f"original nor the finished file ({len(data)} bytes)")
        assert payload(data) == payload(original)
        seen[state] += 1
    print(f"\n{KILLS} kills at 0-{t_write:.2f} s into the write: {seen}")
    assert seen["exited first"] <= KILLS // 2, f"too few kills landed during the write: {seen}"
    f.write_bytes(original)


@pytest.fixture
def small(tmp_path):
    """An unpadded MP3 of one demo track (2.4 MB) in a one-track library."""
    folder = tmp_path / "music"
    folder.mkdir()
    f = folder / "one.mp3"
    make_unpadded_mp3(f, 1)
    db = tmp_path / "lib.db"
    add_to_library(db, f)
    return folder, f, db


def test_full_tmpfs_leaves_the_file_alone(small, tmp_path):
    folder, f, db = small
    disk = tmp_path / "disk"
    disk.mkdir()
    size = -(-f.stat().st_size // 4096) * 4096  # exactly the file's pages: no room left
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)],
                       capture_output=True, text=True)
    if m.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({m.stderr.strip() or m.returncode}); "
                    "test_enospc_at_the_write_call covers a full disk")
    try:
        g = disk / f.name
        shutil.copyfile(f, g)
        add_to_library(db, g)
        before = g.read_bytes()
        r = subprocess.run(tag_cmd(g, db), env=dict(os.environ, COLUMNS="300"),
                           capture_output=True, text=True, timeout=120)
        assert g.read_bytes() == before
        assert debris(disk) == []
        assert r.returncode != 0
        errors = r.stderr.strip().splitlines()
        assert len(errors) == 1 and "disk full" in errors[0], r.stderr
        assert "the file is unchanged" in errors[0] and "Traceback" not in r.stderr
        assert "changed 0 file(s)" in r.stdout and "1 failed" in r.stdout
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.mark.parametrize("where", ["copy", "copy's tag"])
@pytest.mark.parametrize("exc", [OSError, KeyboardInterrupt])
def test_enospc_at_the_write_call(small, monkeypatch, where, exc):
    """The disk fills up half-way through the copy, or just after it while the copy's tag
    grows (an OSError(ENOSPC) at the write call); or Ctrl-C there."""
    folder, f, db = small
    before = f.read_bytes()
    budget = len(before) // 2 if where == "copy" else len(before) + 1000
    with full_disk(monkeypatch, budget, exc, under=folder) as disk:
        r = runner.invoke(app, ["tag", str(f), "--db", str(db)], env={"COLUMNS": "300"})
    assert disk.hits >= 1
    assert f.read_bytes() == before
    assert debris(folder) == []
    assert r.exit_code != 0
    if exc is OSError:
        lines = [ln for ln in r.output.splitlines() if "error" in ln]
        assert len(lines) == 1 and "disk full" in lines[0] and "unchanged" in lines[0], r.output
        assert "1 failed" in r.output and "changed 1" not in r.output
    # With room again the same command works, and the audio frames are untouched.
    r = runner.invoke(app, ["tag", str(f), "--db", str(db)])
    assert r.exit_code == 0, r.output
    after = f.read_bytes()
    assert payload(after) == payload(before) and id3_end(after) > id3_end(before)
    assert ID3(str(f))["TBPM"].text == ["128"]
