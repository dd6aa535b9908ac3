"""Hardening, round 9: damaged files and honest reports. The excerpt reader
(render/source.py) on files damaged at test time from the demo library lands where a
full decode has the sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from underdog.render.source import read_span

from .conftest import DEMO_LIBRARY
from .test_render_source import _offset

pytestmark = pytest.mark.timeout(300)
SR = 44100


def _flip(src: Path, dst: Path, at: float = 0.45, span: int = 4000) -> None:
    """``src`` with every 7th byte of ``span`` bytes from ``at`` of its length flipped:
    a few packets in the middle that the codec rejects."""
    b = bytearray(src.read_bytes())
    for k in range(int(len(b) * at), int(len(b) * at) + span, 7):
        b[k] ^= 0xA5
    dst.write_bytes(bytes(b))


@pytest.mark.parametrize("name", ["Nexuiz - Ninesix.m4a", "Nexuiz - Stairs.mp3"])
def test_reads_past_undecodable_packets_land_where_the_full_decode_has_them(tmp_path, name):
    """Old code counted every AAC/MP3 packet as a full frame: reads after the damage
    came back 17,408 (M4A) and 8,064 (MP3) samples off, and a read of the last second
    went on past the end of the full decode."""
    bad = tmp_path / f"bad{Path(name).suffix}"
    _flip(DEMO_LIBRARY / name, bad)
    full = read_span(bad)
    mono = full.mean(axis=0)
    dur = full.shape[1] / SR
    got = []
    for t0 in np.random.default_rng(9).uniform(0.55 * dur, dur - 3.0, 4):
        x = read_span(bad, t0, t0 + 2.0)
        got.append((x.shape[1], _offset(mono, t0, x)))
    assert got == [(2 * SR, 0)] * 4
    tail = read_span(bad, dur - 1.0, dur + 1.0)  # the last second: no more than there is
    assert tail.shape[1] == full.shape[1] - int(round((dur - 1.0) * SR))


def test_a_files_count_fixes_are_learnt_once_per_render(tmp_path):
    """The damage scan decodes the file whole: a render's FileMaps keeps it for the
    file's next reads, and learns it again when the file changes."""
    from underdog.render.source import FileMaps

    bad = tmp_path / "bad.m4a"
    _flip(DEMO_LIBRARY / "Nexuiz - Ninesix.m4a", bad)
    maps = FileMaps()

    def again():
        raise AssertionError("learnt again")

    a = read_span(bad, 150.0, 152.0, maps=maps)
    fixes = maps.get("fixes", str(bad), again)
    assert np.array_equal(a, read_span(bad, 150.0, 152.0, maps=maps))
    assert len(fixes) == 17 and set(fixes.values()) == {0}  # 17 packets rejected
    _flip(DEMO_LIBRARY / "Nexuiz - Ninesix.m4a", bad, at=0.7)  # changed: learnt again
    read_span(bad, 150.0, 152.0, maps=maps)
    assert maps.get("fixes", str(bad), again).keys().isdisjoint(fixes)


def test_a_libsndfile_read_that_breaks_mid_file_says_so_in_one_line(tmp_path, monkeypatch):
    """A file FFmpeg refuses is read through libsndfile; a FLAC damaged in its middle
    loses sync there. Old code: only the first piece was wrapped, so the
    LibsndfileError escaped as a traceback."""
    import av

    from underdog.errors import DecodeError
    from underdog.render import source

    bad = tmp_path / "caves-bad.flac"
    _flip(DEMO_LIBRARY / "Shawn Parrotte - Caves.flac", bad, at=0.6, span=20000)
    real_open = av.open

    def refuse(p, *a, **k):  # FFmpeg refuses the file, as it does three free-library Oggs
        if str(p) == str(bad):
            raise av.error.InvalidDataError(1094995529, "Invalid data found when "
                                            "processing input", str(p))
        return real_open(p, *a, **k)

    monkeypatch.setattr(source.av, "open", refuse)
    assert read_span(bad, 5.0, 8.0).shape[1] == 3 * SR  # before the damage: read
    with pytest.raises(DecodeError, match=r"flac decoder lost sync at \d+\.\d s$") as err:
        read_span(bad, 5.0, None)
    assert "\n" not in str(err.value)


def test_the_csv_warnings_cell_splits_back_into_the_warnings(tmp_path):
    """``tracks -f csv`` puts a track's warnings in one cell, a JSON array: a warning
    that itself holds " | " comes back whole (old code joined them with " | ", so this
    one split into three). Real scan, real SQLite, the CLI, Python's csv module."""
    import csv
    import io
    import json
    import sqlite3
    import subprocess
    import sys

    from .conftest import flac_clip

    music = tmp_path / "music"
    music.mkdir()
    flac_clip(DEMO_LIBRARY / "Shawn Parrotte - Caves.flac", music / "caves.flac", 10.0, 8.0)
    db = str(tmp_path / "lib.db")

    def cli(*args: str) -> str:
        r = subprocess.run([sys.executable, "-m", "underdog.cli", *args, "--db", db],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        return r.stdout

    cli("scan", str(music), "--jobs", "1")
    warnings = ["decoding stopped at 7.9 s (lost sync | bad frame): the file looks damaged",
                'a "quoted", comma, line']
    with sqlite3.connect(db) as con:
        con.execute("UPDATE tracks SET warnings = ?", (json.dumps(warnings),))
    rows = list(csv.DictReader(io.StringIO(cli("tracks", "-f", "csv"))))
    assert len(rows) == 1 and json.loads(rows[0]["warnings"]) == warnings
    with sqlite3.connect(db) as con:  # none: an empty cell
        con.execute("UPDATE tracks SET warnings = NULL")
    assert list(csv.DictReader(io.StringIO(cli("tracks", "-f", "csv"))))[0]["warnings"] == ""


def test_score_grades_an_excerpt_at_the_tempo_it_plays(tmp_path):
    """An excerpt plan stretches each excerpt to its slot's tempo (``tempo_bpm``): the
    report grades that, not the track's own tempo. Old code: own tempi 150 -> 168 -> 150
    made every transition a 12 % jump (within ±6 %: 0) and each excerpt 6-7 % off the
    160-BPM target, though all three play at 160. A whole-track entry is unchanged."""
    import json

    from typer.testing import CliRunner

    from underdog.cli import app
    from underdog.library.db import open_library
    from underdog.models import Track

    own = [150.0, 168.0, 150.0, 164.0]
    tracks = [Track(id=None, path=f"/music/x{i}/{i}.ogg", title=f"t{i}", artist=f"a{i}",
                    duration_s=240.0, bpm=b, energy=0.6, camelot="8A",
                    style={"heavy": 1.0}, style_label="heavy") for i, b in enumerate(own)]
    db = tmp_path / "lib.db"
    with open_library(db) as lib:
        lib.add_tracks(tracks)
    entries = [{"path": t.path, "in_s": 30.0, "out_s": 90.0, "tempo_bpm": 160.0}
               for t in tracks[:3]] + [{"path": tracks[3].path}]  # the last: whole
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"entries": entries}))
    r = CliRunner().invoke(app, ["score", str(plan), "--db", str(db), "--arc", "run",
                                 "--cadence", "160", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    rows = doc["rows"]
    assert [row["bpm"] for row in rows] == [160.0, 160.0, 160.0, 164.0]
    assert [row["own_bpm"] for row in rows] == [150.0, 168.0, 150.0, None]
    assert [row["transition_pct"] for row in rows] == [None, 0.0, 0.0, 2.5]
    assert doc["within_6pct"] == 1.0
    for row in rows[:3]:  # off the target by the played tempo (the run's warm-up ramps)
        assert row["bpm_dev_pct"] == pytest.approx(
            abs(160.0 / row["target_bpm"] - 1.0) * 100.0, abs=0.15)


def test_an_oggs_page_index_is_built_once_per_render():
    """A render's FileMaps keeps an Ogg's page index for the file's next reads (old code
    built it again on every read, ~6 ms for a 4-minute file); the reads are the same."""
    from underdog.render.source import FileMaps

    path = str(DEMO_LIBRARY / "Nexuiz - Beast of Insanity.ogg")
    maps = FileMaps()

    def again():
        raise AssertionError("built again")

    for t0 in (50.1, 120.0, 50.1):
        x = read_span(path, t0, t0 + 2.0, maps=maps)
        assert np.array_equal(x, read_span(path, t0, t0 + 2.0))  # without: the same
        assert maps.get("ogg vorbis", path, again) is not None
