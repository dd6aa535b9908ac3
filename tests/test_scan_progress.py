"""Scan progress (issue 16.7): tracks/s and × realtime, an ETA from the audio's length read
from the headers before decoding, a first line at once, names cut to any terminal width."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from underdog.cli.progress import ScanProgress, cut_middle, eta_seconds, status_line
from underdog.library.db import open_library
from underdog.library.scan import scan

from .conftest import DEMO_LIBRARY, flac_clip

NAME = "Some Artist With A Long Name - A Very Long Title Indeed (Extended Mix).flac"


@pytest.mark.parametrize("width", [40, 80, 200])
def test_line_fits_every_width_and_keeps_what_matters(width):
    s = status_line(width, 37, 146, analyzed=30, to_analyze=140, audio_s=3600.0,
                    todo_audio_s=9 * 3600.0, elapsed_s=60.0, name="/music/x/" + NAME)
    assert len(s) <= width and "\n" not in s
    assert s.startswith("scanning 37/146")
    assert "ETA 8:00" in s  # 8 h of audio left at 1 h per minute
    assert s.rstrip().endswith(".flac")  # some of the name, always, its extension whole
    if width >= 80:
        assert "0.5 tracks/s" in s and "×60 realtime" in s
        assert s.rstrip().endswith(".flac")  # the name keeps its extension when cut
    if width >= 200:
        assert NAME in s  # room: the whole name
    else:
        assert NAME not in s


def test_cut_middle():
    assert cut_middle("abcdef", 10) == "abcdef"
    c = cut_middle(NAME, 20)
    assert len(c) == 20 and "…" in c and c.endswith("x).flac")


def test_eta_follows_the_audio_not_the_file_count():
    # one 60-s file done in 1 s; one 600-s file left: 10 s left, not 1 s
    assert eta_seconds(1, 2, 60.0, 660.0, 1.0) == pytest.approx(10.0)
    assert eta_seconds(1, 2, 60.0, None, 1.0) == pytest.approx(1.0)  # no headers: by files
    assert eta_seconds(0, 2, 0.0, 660.0, 1.0) is None


def test_first_line_comes_before_the_walk():
    buf = io.StringIO()
    con = Console(file=buf, force_terminal=True, width=80)
    with ScanProgress(con):
        assert "finding files" in buf.getvalue()


def test_real_scan_reads_header_lengths_and_reports_rates(tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    for i, (src, start) in enumerate([("Shawn Parrotte - Caves.flac", 10),
                                      ("Nexuiz - Stairs.mp3", 40)]):
        flac_clip(DEMO_LIBRARY / src, music / f"{i} {src.rsplit('.', 1)[0]}.flac", start, 15)
    buf = io.StringIO()
    con = Console(file=buf, force_terminal=True, width=80)
    with open_library(str(tmp_path / "lib.db")) as lib, ScanProgress(con) as prog:
        stats = scan([str(music)], lib, jobs=0, observer=prog)
        f = prog.p.tasks[prog.task].fields
    assert stats.analyzed == 2
    assert f["todo_audio_s"] == pytest.approx(30.0, abs=0.5)  # from the headers
    assert f["analyzed"] == 2 and f["audio_s"] == pytest.approx(30.0, abs=0.5)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "\n", buf.getvalue()).replace("\r", "\n")
    last = [x for x in shown.splitlines() if x.strip()][-1]
    assert "scanning 2/2" in last and "tracks/s" in last and "realtime" in last
