"""Every output is written all at once (underdog.fileio): with the disk filling up, or Ctrl-C,
in the middle of a write, an existing file keeps its old bytes and no temporary file stays.

The fault is an OS error injected at the write calls (the only stand-in these tests use):
:func:`full_disk` lets a budget of bytes through every write path Python code has (file
objects from ``open``/``io.open``/``os.fdopen``, ``os.write``, ``os.sendfile``) and then
raises ``OSError(ENOSPC)``, as a disk that fills up would. No underdog code is replaced.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from underdog.cli import app
from underdog.errors import OutputError, UnderdogError
from underdog.export.playlists import read_playlist, write_json, write_m3u8, write_xspf
from underdog.fileio import atomic_write, rewrite_atomic, write_atomic
from underdog.library.db import open_library

from .test_sequencer import make_tracks

runner = CliRunner()


# ---------------------------------------------------------------- the fault


class _Budget:
    def __init__(self, n: int, exc: type[BaseException]):
        self.left, self.exc, self.hits = n, exc, 0

    def take(self, n: int) -> int:
        """How many of ``n`` bytes may still be written (raises when none may)."""
        if self.left <= 0 and n > 0:
            self.hits += 1
            if self.exc is OSError:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            raise self.exc()
        k = min(n, self.left)
        self.left -= k
        return k


class _FaultyFile:
    """A writable file object whose writes draw on a budget (then fail as a full disk)."""

    def __init__(self, f, budget: _Budget):
        self._f, self._b = f, budget

    def write(self, data):
        data = bytes(data) if not isinstance(data, str) else data
        k = self._b.take(len(data))
        if k < len(data):
            self._f.write(data[:k])  # a full disk takes what fits, then refuses
            self._f.flush()
            self._b.take(len(data) - k)
        return self._f.write(data)

    def writelines(self, lines):
        for x in lines:
            self.write(x)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self._f.close()

    def __iter__(self):
        return iter(self._f)

    def __getattr__(self, name):
        return getattr(self._f, name)


@contextlib.contextmanager
def full_disk(monkeypatch, budget: int, exc: type[BaseException] = OSError,
              under: Path | None = None):
    """Writes (to files under ``under``, or any file) get ``budget`` bytes in all; past
    that, each raises ``OSError(ENOSPC)`` (or ``exc``, e.g. KeyboardInterrupt)."""
    b = _Budget(budget, exc)
    real_open, real_fdopen = builtins.open, os.fdopen
    real_write, real_sendfile = os.write, os.sendfile
    root = os.fsencode(os.path.abspath(under)) if under is not None else None

    def ours(name) -> bool:
        if root is None:
            return True
        try:
            return os.fsencode(os.path.abspath(os.fspath(name))).startswith(root)
        except TypeError:
            return False

    def writable(mode) -> bool:
        return any(c in str(mode) for c in "wax+")

    def fopen(file, mode="r", *a, **k):
        f = real_open(file, mode, *a, **k)
        return _FaultyFile(f, b) if writable(mode) and not isinstance(file, int) \
            and ours(file) else f

    def ffdopen(fd, mode="r", *a, **k):
        f = real_fdopen(fd, mode, *a, **k)
        if writable(mode) and ours(os.readlink(f"/proc/self/fd/{fd}")):
            return _FaultyFile(f, b)
        return f

    def fwrite(fd, data):
        return real_write(fd, bytes(data)[:b.take(len(data))])

    def fsendfile(out_fd, in_fd, offset, count):
        return real_sendfile(out_fd, in_fd, offset, b.take(count))

    monkeypatch.setattr(builtins, "open", fopen)
    monkeypatch.setattr(io, "open", fopen)
    monkeypatch.setattr(os, "fdopen", ffdopen)
    monkeypatch.setattr(os, "write", fwrite)
    monkeypatch.setattr(os, "sendfile", fsendfile)
    try:
        yield b
    finally:
        monkeypatch.undo()


def debris(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ---------------------------------------------------------------- fileio itself


@pytest.mark.parametrize("budget", [0, 5, 50_000])
@pytest.mark.parametrize("exc", [OSError, KeyboardInterrupt])
def test_atomic_write_keeps_the_old_file(tmp_path, monkeypatch, budget, exc):
    out = tmp_path / "out.bin"
    out.write_bytes(b"old content\n")
    os.chmod(out, 0o640)
    with full_disk(monkeypatch, budget, exc, under=tmp_path) as disk:
        with pytest.raises(OutputError if exc is OSError else exc) as e:
            write_atomic(out, b"x" * 100_000)
    assert disk.hits == 1
    assert out.read_bytes() == b"old content\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert debris(tmp_path) == []
    if exc is OSError:
        assert str(e.value) == f"{out}: cannot write: disk full (no space left on device)"
        assert isinstance(e.value, UnderdogError)


def test_atomic_write_keeps_mode_follows_links_and_creates(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    os.chmod(real, 0o600)
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    with atomic_write(link, "w") as f:
        f.write("new ✓")
    assert link.is_symlink() and real.read_text(encoding="utf-8") == "new ✓"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    fresh = tmp_path / "fresh.txt"
    write_atomic(fresh, "hi")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0600
    with pytest.raises(OutputError, match="no such folder"):
        write_atomic(tmp_path / "nope" / "x.txt", "hi")
    assert debris(tmp_path) == []


def test_a_stream_target_is_written_in_place_never_renamed_over(tmp_path):
    """``-o /dev/stdout`` or a FIFO: renaming a file over it would replace the device."""
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    write_atomic(fifo, "#EXTM3U\n")
    reader.join(10)
    assert got == [b"#EXTM3U\n"] and stat.S_ISFIFO(fifo.stat().st_mode)
    with pytest.raises(OutputError, match="not a regular file"):
        rewrite_atomic(fifo, lambda copy: None)
    assert debris(tmp_path) == []


def test_rewrite_atomic_edits_a_copy_and_refuses_a_bad_result(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"0123456789")
    os.chmod(f, 0o604)
    ino = f.stat().st_ino

    def edit(copy):
        with open(copy, "r+b") as h:
            assert h.read() == b"0123456789"
            h.seek(0)
            h.write(b"AB")
        return "done"

    def refuse(orig, copy):
        raise ValueError("bad")

    with pytest.raises(ValueError):
        rewrite_atomic(f, edit, refuse)
    assert f.read_bytes() == b"0123456789" and f.stat().st_ino == ino and debris(tmp_path) == []
    assert rewrite_atomic(f, edit, lambda o, c: None) == "done"
    assert f.read_bytes() == b"AB23456789" and stat.S_IMODE(f.stat().st_mode) == 0o604
    assert debris(tmp_path) == []


# ---------------------------------------------------------------- playlists, plot, arc


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("lib") / "lib.db"
    with open_library(p) as lib:
        lib.add_tracks(make_tracks(120, 5))
    return p


@pytest.mark.parametrize("writer, ext", [(write_m3u8, "m3u8"), (write_xspf, "xspf"),
                                         (write_json, "json")])
def test_playlist_writers_keep_the_old_playlist(tmp_path, monkeypatch, writer, ext):
    tracks = make_tracks(40, 2)

    def data(ts):
        return {"entries": [{"path": t.path} for t in ts]} if ext == "json" else ts

    out = tmp_path / f"p.{ext}"
    writer(data(tracks[:2]), out)
    before = out.read_bytes()
    with full_disk(monkeypatch, 300, under=tmp_path) as disk:
        with pytest.raises(OutputError, match="disk full"):
            writer(data(tracks), out)
    assert disk.hits == 1
    assert out.read_bytes() == before
    assert debris(tmp_path) == []
    assert read_playlist(out) == [t.path for t in tracks[:2]]


def test_plot_on_a_full_disk_keeps_the_old_plot(db, tmp_path, monkeypatch):
    png = tmp_path / "montage.png"
    before = b"\x89PNG\r\n\x1a\n an older plot"
    png.write_bytes(before)
    # The case: 4 KB of space left; plan must fail in one line, the plot intact.
    with full_disk(monkeypatch, 4096, under=tmp_path) as disk:
        r = runner.invoke(app, ["plan", "--db", str(db), "--minutes", "20", "--no-record",
                                "--plot", str(png)])
    assert disk.hits >= 1
    assert png.read_bytes() == before  # today: a 4,096-byte fragment
    assert debris(tmp_path) == []
    assert r.exit_code != 0
    assert "disk full" in r.output and "Traceback" not in r.output
    # No space at all, straight through the plot function.
    from underdog.export.plot import plot_plan

    seg = [{"start_min": 0, "end_min": 5, "bpm_lo": 120, "bpm_hi": 130, "energy": 0.5}]
    ent = [{"start_min": 0, "end_min": 5, "bpm": 125, "energy": 0.6}]
    with full_disk(monkeypatch, 0, under=tmp_path):
        with pytest.raises(OutputError, match="disk full"):
            plot_plan(seg, ent, png)
    assert png.read_bytes() == before and debris(tmp_path) == []
    plot_plan(seg, ent, png)  # and with space it is written
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_save_arc_on_a_full_disk_keeps_the_old_arc(db, tmp_path, monkeypatch):
    with open_library(db) as lib:
        ref = [t.path for t in lib.tracks()[:4]]
    m3u = tmp_path / "ref.m3u8"
    m3u.write_text("#EXTM3U\n" + "".join(f"{p}\n" for p in ref), encoding="utf-8")
    arc = tmp_path / "learned.toml"
    before = b'name = "an older arc"\n' * 50
    arc.write_bytes(before)
    # Half the arc fits: today's write_text left it cut (or 0 bytes with no space).
    with full_disk(monkeypatch, 400, under=tmp_path) as disk:
        r = runner.invoke(app, ["like", str(m3u), "--db", str(db), "--no-record",
                                "--save-arc", str(arc)])
    assert disk.hits >= 1
    assert arc.read_bytes() == before  # today: cut at 400 bytes
    assert debris(tmp_path) == []
    assert r.exit_code != 0 and "disk full" in r.output, r.output
    assert "Traceback" not in r.output
