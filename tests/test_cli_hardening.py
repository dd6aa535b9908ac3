"""The CLI against hostile text and numbers: no traceback, no raw terminal escapes, no hang.

A library is scanned from two demo tracks copied under hostile names (``[/x]`` in the
path, a title tag ``Song [feat. Drake]``, a file name that is not UTF-8 and holds a
terminal escape, a broken file); every command is then run on it through ``python -m
underdog.cli`` (the real entry point, with its top-level error handler).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from underdog.cli import load, run
from underdog.errors import UnderdogError
from underdog.fileio import path_from_json
from underdog.library.db import open_library

from .conftest import DEMO_LIBRARY
from .test_sequencer import make_tracks

ESC = "\x1b]0;PWNED\x07"                      # sets the terminal's title, then rings
MARKUP_NAME = "[/x] Song [feat. Drake].mp3"   # lives in a folder named "[": path has "[/x]"
RAW_NAME = b"caf\xe9 " + ESC.encode() + b".opus"  # Latin-1 byte: not UTF-8
LOCALES = {
    "utf8-mode": {"LC_ALL": "C.UTF-8", "PYTHONUTF8": "1"},
    "C.UTF-8": {"LC_ALL": "C.UTF-8"},
    "strict": {"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8:strict"},
}


def cli(*args: str | os.PathLike, env: dict | None = None, timeout: float = 60,
        cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``underdog ARGS`` in a fresh interpreter; stdout and stderr as bytes."""
    e = {**os.environ, "COLUMNS": "200", **(env or {})}
    e.pop("UNDERDOG_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "underdog.cli", *map(os.fsencode, args)],
                          capture_output=True, env=e, timeout=timeout, cwd=cwd)


def assert_clean(r: subprocess.CompletedProcess, codes=(0,)) -> str:
    """No traceback, no raw ESC/BEL, valid UTF-8 on both streams; the stdout text."""
    both = r.stdout + r.stderr
    assert b"Traceback" not in both, both.decode("utf-8", "replace")
    assert b"\x1b" not in both and b"\x07" not in both, both
    both.decode("utf-8")  # strict
    assert r.returncode in codes, (r.returncode, both.decode("utf-8", "replace"))
    return r.stdout.decode("utf-8")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A library of two real tracks with hostile names, one broken file, and its DB."""
    from mutagen.easyid3 import EasyID3

    root = tmp_path_factory.mktemp("hostile")
    music = root / "music"
    (music / "[").mkdir(parents=True)
    marked = music / "[" / MARKUP_NAME[2:]  # music/[/x] Song [feat. Drake].mp3
    shutil.copy(DEMO_LIBRARY / "Nexuiz - Stairs.mp3", marked)
    tags = EasyID3(marked)
    tags["title"] = "Song [feat. Drake]"
    tags["artist"] = "[/x] " + ESC
    tags.save()
    raw = os.path.join(os.fsencode(music), RAW_NAME)
    shutil.copy(DEMO_LIBRARY / "Max McCracken - Awakening.opus", raw)
    (music / "[" / ("x] broken " + ESC + ".mp3")).write_bytes(b"\xff\xfb" + b"\x00" * 5000)
    db = root / "lib.db"
    r = cli("scan", music, "--db", db, "-j", "0", timeout=300)
    scan_out = assert_clean(r, codes=(0, 1))
    return {"root": root, "music": music, "db": db, "marked": os.fspath(marked),
            "raw": os.fsdecode(raw), "scan": scan_out + r.stderr.decode()}


# ---------------------------------------------------------------- markup and escapes

def test_scan_and_errors_show_hostile_names_literally(hostile):
    assert "failed" in hostile["scan"] and "broken \\x1b]0;PWNED\\x07" in hostile["scan"]
    out = assert_clean(cli("errors", "--db", hostile["db"]))
    assert "[/x] broken \\x1b]0;PWNED\\x07.mp3" in out
    # a folder that does not exist, named with markup
    r = cli("scan", hostile["root"] / "[" / "x] nowhere", "--db", hostile["db"])
    assert_clean(r, codes=(2,))
    assert b"[/x] nowhere: no such file or folder" in r.stderr


def test_tracks_and_show_print_tags_and_paths_literally(hostile):
    out = assert_clean(cli("tracks", "--db", hostile["db"]))
    assert "[/x] \\x1b]0;PWNED\\x07 - Song [feat. Drake]" in out
    out = assert_clean(cli("tracks", "-f", "csv", "--db", hostile["db"]))
    assert "[/x] \\x1b]0;PWNED\\x07,Song [feat. Drake]" in out and "caf\\xe9" in out
    with open_library(hostile["db"]) as lib:
        marked, raw = lib.get_track(hostile["marked"]), lib.get_track(hostile["raw"])
    out = assert_clean(cli("show", str(marked.id), "--db", hostile["db"]))
    assert "Song [feat. Drake]" in out and hostile["marked"] in out
    out = assert_clean(cli("show", str(raw.id), "--db", hostile["db"]))
    assert "caf\\xe9 \\x1b]0;PWNED\\x07.opus" in out
    r = cli("show", hostile["root"] / "[" / "x] not a track", "--db", hostile["db"])
    assert_clean(r, codes=(1,))
    assert b"[/x] not a track" in r.stderr


def test_plan_with_an_arc_named_in_markup(hostile, tmp_path):
    arc = tmp_path / "a.toml"
    arc.write_text('name = "[/x] $x^$"\n[[segment]]\nname = "[/x] \\u001b]0;PWNED\\u0007"\n'
                   'share = 1\nbpm = 120\n')
    out_file, png = tmp_path / "out.xspf", tmp_path / "plot.png"
    r = cli("plan", "--arc", arc, "--db", hostile["db"], "--minutes", "5", "--no-record",
            "--explain", "-o", out_file, "--plot", png)
    out = assert_clean(r)
    assert out_file.exists()  # the crash came before the playlist was written
    assert png.stat().st_size > 10_000  # "$x^$" is no maths for matplotlib
    assert "[/x] $x^$:" in out and "\\x1b]0;PWNED\\x07" in out and "Song [feat. Drake]" in out


def test_score_and_like_with_hostile_playlist_entries(hostile, tmp_path):
    pl = tmp_path / "p.m3u8"
    pl.write_bytes(b"#EXTM3U\n" + os.fsencode(hostile["marked"]) + b"\n"
                   + os.path.join(os.fsencode(hostile["music"]), RAW_NAME) + b"\n"
                   + b"/nowhere/[/x] " + ESC.encode() + b".mp3\n")
    out = assert_clean(cli("score", pl, "--db", hostile["db"]))
    assert "not in the library /nowhere/[/x] \\x1b]0;PWNED\\x07.mp3" in out
    out = assert_clean(cli("like", pl, "--db", hostile["db"], "--no-record",
                           "--include-reference"))
    assert "skipped /nowhere/[/x] \\x1b]0;PWNED\\x07.mp3" in out
    assert "Song [feat. Drake]" in out


def test_soundtrack_with_hostile_tracklist_lines(hostile, tmp_path):
    tl = tmp_path / "film.txt"
    tl.write_text(f"[/x] {ESC} - Song [feat. Drake]\nNobody - Nothing [/x] {ESC} 1:00\n")
    r = cli("soundtrack", "match", tl, "--db", hostile["db"])
    assert_clean(r, codes=(2,))  # "[feat.]" is no tracklist tag: the error quotes it whole
    assert b"[feat.]" in r.stderr and b"[/x] \\x1b]0;PWNED\\x07 - Song [feat. Drake]" in r.stderr
    tl.write_text(f"[/x] {ESC} - Song\nNobody - Nothing [/x] {ESC} 1:00\n")
    out = assert_clean(cli("soundtrack", "match", tl, "--db", hostile["db"]))
    assert "[/x] \\x1b]0;PWNED\\x07" in out and "missing" in out


def test_tag_dry_run_with_hostile_names(hostile):
    out = assert_clean(cli("tag", hostile["music"], "--db", hostile["db"], "--dry-run"))
    assert hostile["marked"] in out and "caf\\xe9 \\x1b]0;PWNED\\x07.opus" in out


# ---------------------------------------------------------------- names that are not UTF-8

@pytest.mark.parametrize("locale", list(LOCALES))
def test_json_outputs_are_valid_utf8_and_lossless(hostile, locale):
    env = LOCALES[locale]
    raw_path = hostile["raw"]
    with open_library(hostile["db"]) as lib:
        raw_id = lib.get_track(raw_path).id
    r = cli("analyze", "-f", "jsonl", raw_path, env=env)
    objs = [json.loads(ln) for ln in assert_clean(r).splitlines()]
    assert path_from_json(objs[0]) == raw_path and "path_bytes_b64" in objs[0]
    tracks = json.loads(assert_clean(cli("tracks", "-f", "json", "--db", hostile["db"],
                                         env=env)))
    assert raw_path in {path_from_json(t) for t in tracks}
    assert hostile["marked"] in {path_from_json(t) for t in tracks}
    shown = json.loads(assert_clean(cli("show", str(raw_id), "-f", "json", "--db",
                                        hostile["db"], env=env)))
    assert path_from_json(shown) == raw_path
    # a table too: the name with visible escapes
    assert "caf\\xe9" in assert_clean(cli("show", str(raw_id), "--db", hostile["db"],
                                          env=env))


def test_tables_under_a_strict_locale(hostile):
    env = LOCALES["strict"]
    out = assert_clean(cli("tracks", "--all", "--db", hostile["db"], env=env))
    assert "[failed]" in out and "Song [feat. Drake]" in out
    out = assert_clean(cli("analyze", hostile["marked"], hostile["raw"], env=env))
    assert "caf\\xe9" in out and "[feat." in out


def test_an_ascii_terminal_gets_escapes_not_a_crash(hostile, tmp_path):
    # plan's table has '·' and '−'; an ASCII-only stdout used to end in UnicodeEncodeError
    env = {"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii:strict"}
    out = assert_clean(cli("plan", "--db", hostile["db"], "--minutes", "10", "--no-record",
                           "--explain", "-o", tmp_path / "p.m3u8", env=env))
    assert "\\xb7" in out or "\\u2212" in out
    assert (tmp_path / "p.m3u8").exists()
    data = json.loads(assert_clean(cli("tracks", "--db", hostile["db"], "-f", "json", env=env)))
    assert data and all("path" in d for d in data)


# ---------------------------------------------------------------- numbers

ISSUE_ROWS = [  # the issue's rows, through the real entry point
    ("plan", "--seed", "-1"),
    ("show", "99999999999999999999"),
    ("tracks", "--limit", "99999999999999999999"),
    ("plan", "--minutes", "1e9"),
    ("plan", "--minutes", "1e6"),
    ("plan", "--arc", "hiit", "--rounds", "100000"),
    ("plan", "--arc", "hiit", "--rounds", "100"),  # 100 × 7 min: longer than 600 min
]
MORE_ROWS = [  # the same bounds on every other numeric option (in process: faster)
    ("plan", "--seed", str(2**32)),
    ("plan", "--minutes", "nan"),
    ("plan", "--minutes", "0"),
    ("plan", "--arc", "hiit", "--work", "-1"),
    ("plan", "--arc", "hiit", "--rest", "inf"),
    ("plan", "--arc", "run", "--cadence", "1e400"),
    ("plan", "--avoid-recent", "99999999999999999999"),
    ("like", "{music}", "--seed", "-1"),
    ("like", "{music}", "--minutes", "-inf"),
    ("score", "{m3u}", "--minutes", "1e6"),
    ("score", "{m3u}", "--arc", "hiit", "--rounds", "0"),
    ("show", "0"),
    ("show", "\u00b2"),                 # a digit to str.isdigit, not to int()
    ("tracks", "--limit", "0"),
    ("tracks", "--bpm", "nan-200"),
    ("scan", "{music}", "--jobs", "100000"),
]


@pytest.mark.parametrize("args", ISSUE_ROWS, ids=" ".join)
def test_numeric_options_out_of_bounds_are_one_line_usage_errors(hostile, args):
    r = cli(*args, "--db", hostile["db"], timeout=30)  # was a traceback, or a hang
    assert_clean(r, codes=(2,))
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error "), lines
    assert r.stdout == b""


@pytest.mark.parametrize("args", MORE_ROWS, ids=" ".join)
def test_every_numeric_option_is_bounded(hostile, tmp_path, args):
    m3u = tmp_path / "p.m3u8"
    m3u.write_text(hostile["marked"] + "\n")
    args = [a.format(music=hostile["music"], m3u=m3u) for a in args]
    t0 = time.monotonic()
    r = CliRunner().invoke(load(), [*args, "--db", str(hostile["db"])])
    assert time.monotonic() - t0 < 20
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit), (r.exception, r.output)


# ---------------------------------------------------------------- the top-level handler

def _app_raising(exc: BaseException):
    import typer

    app = typer.Typer()

    @app.command()
    def boom(n: int = 0) -> None:
        """Raise."""
        raise exc

    return lambda: app


@pytest.mark.parametrize("exc, code, line", [
    (UnderdogError("x.m3u8: bad [/x] " + ESC), 2, "error x.m3u8: bad [/x] \\x1b]0;PWNED\\x07"),
    (ZeroDivisionError("division by zero"), 70,
     "internal error: ZeroDivisionError: division by zero; please report it"),
    (MemoryError(), 1, "error out of memory"),
    (PermissionError(13, "Permission denied", "/x/[/x]"), 1,
     "error /x/[/x]: permission denied"),
    (KeyboardInterrupt(), 130, None),
])
def test_run_maps_every_exception_to_one_line_and_a_code(capfd, monkeypatch, exc, code, line):
    monkeypatch.delenv("UNDERDOG_DEBUG", raising=False)
    assert run(_app_raising(exc), []) == code
    err = capfd.readouterr().err
    assert "Traceback" not in err
    if line is None:
        assert err == ""
    else:
        assert err.splitlines() == [err.splitlines()[0]] and err.startswith(line), err


def test_debug_env_shows_the_traceback_and_usage_errors_are_one_line(capfd, monkeypatch):
    monkeypatch.setenv("UNDERDOG_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        run(_app_raising(ZeroDivisionError("x")), [])
    monkeypatch.delenv("UNDERDOG_DEBUG")
    assert run(_app_raising(ZeroDivisionError("x")), ["--n", "[/x]" + ESC]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "'[/x]\\x1b]0;PWNED\\x07' is not a valid int" in err


def test_a_closed_pipe_ends_quietly(tmp_path):
    db = tmp_path / "big.db"
    with open_library(db) as lib:
        lib.add_tracks(make_tracks(400, 3))
    p = subprocess.Popen([sys.executable, "-m", "underdog.cli", "tracks", "-f", "json",
                          "--db", str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.read(10)
    p.stdout.close()  # as `| head -c 10` does
    err = p.stderr.read()
    assert p.wait(timeout=60) in (0, 1, -signal.SIGPIPE)
    assert b"Traceback" not in err and b"Exception ignored" not in err, err


def test_every_option_and_argument_has_help():
    import typer.main

    missing = []

    def walk(cmd, name):
        for p in cmd.params:
            if not getattr(p, "help", None):
                missing.append(f"{name} {p.name}")
        for n, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{name} {n}")

    walk(typer.main.get_command(load()), "underdog")
    assert not missing
    r = CliRunner().invoke(load(), ["soundtrack", "match", "--help"], env={"COLUMNS": "300"})
    assert "'Artist - Title [tags] hh:mm:ss'" in r.output  # help is Rich markup: escaped


# ---------------------------------------------------------------- hypothesis

_number_text = st.one_of(
    st.integers(min_value=-2**70, max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "-nan", "inf", "1e400", "-0", "0x10", "1_000", " 5", "", "½",
                     "\u0663", "\u00b2", "9" * 40, "1e-320", "[/x]", ESC]),
    st.text(max_size=12),
)
_OPTIONS = [("plan", "--minutes"), ("plan", "--rounds"), ("plan", "--work"),
            ("plan", "--rest"), ("plan", "--cadence"), ("plan", "--seed"),
            ("plan", "--avoid-recent"), ("score", "--minutes"), ("score", "--rounds"),
            ("like", "--seed"), ("like", "--minutes"), ("tracks", "--limit"),
            ("show", None)]
_ARC_FOR = {"--rounds": "hiit", "--work": "hiit", "--rest": "hiit", "--cadence": "run"}


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("empty") / "empty.db"
    open_library(db).close()
    return db


def test_numeric_options_never_traceback_or_hang(hostile, empty_db, tmp_path_factory):
    """Random numbers and strings for every numeric option (in process): a usage error (2)
    or a clean run/failure (0, 1, 2), never an exception, each within seconds. ``plan``
    runs on an empty library (its arc is still built from the options)."""
    m3u = tmp_path_factory.mktemp("hyp") / "p.m3u8"
    m3u.write_text(hostile["marked"] + "\n")
    runner = CliRunner()
    app = load()
    seen = {"n": 0, "exceptions": []}

    @settings(max_examples=100, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(_OPTIONS), _number_text)
    def check(cmd_opt, value):
        cmd, opt = cmd_opt
        args = [cmd]
        if cmd == "show":
            args += [value]
        else:
            if cmd == "score":
                args += [str(m3u)]
            if cmd == "like":
                args += [str(m3u)]
            if opt in _ARC_FOR and cmd != "like":
                args += ["--arc", _ARC_FOR[opt]]
            args += [f"{opt}={value}"]
        db = empty_db if cmd == "plan" else hostile["db"]
        args += ["--db", str(db)] + (["--no-record"] if cmd in ("plan", "like") else [])
        t0 = time.monotonic()
        r = runner.invoke(app, args)
        seen["n"] += 1
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            seen["exceptions"].append((args, repr(r.exception)))
        assert r.exit_code in (0, 1, 2), (args, r.exit_code, r.output)
        assert "\x1b" not in r.output
        assert time.monotonic() - t0 < 20, args

    check()
    assert seen["n"] >= 100 and not seen["exceptions"], seen
