"""plan --style, --max-track-minutes, --alternatives (issue 16): only the styles asked for,
no track longer than asked, N plans with different tracks (real scan, real SQLite)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from underdog.cli import app
from underdog.library.db import open_library
from underdog.planning.arcs import montage
from underdog.planning.sequencer import PlanOptions, alternatives, plan

from .conftest import clip_folder

runner = CliRunner()
# (file, start s, length s): lengths differ so a length limit has something to cut
CLIPS = [("Nexuiz - Beast of Insanity.ogg", 30, 45), ("Muldjord - Chaos God.ogg", 30, 60),
         ("Muldjord - Armygeddon.mp3", 40, 30), ("Shawn Parrotte - Caves.flac", 10, 50),
         ("Max McCracken - Through Space.ogg", 20, 40), ("Nexuiz - Stairs.mp3", 30, 35),
         ("Shawn Parrotte - Hell.mp3", 20, 45), ("Max McCracken - Awakening.opus", 5, 55)]
MINUTES = 2.5


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    d = tmp_path_factory.mktemp("planopts")
    music = clip_folder(d / "music", CLIPS)
    path = str(d / "lib.db")
    r = runner.invoke(app, ["scan", str(music), "--db", path])
    assert r.exit_code == 0, r.output
    return path


def test_styles_keep_only_those(db):
    with open_library(db) as lib:
        labels = {t.style_label for t in lib.tracks()}
        free = plan(lib, montage(), MINUTES)
        assert len({t.style_label for t in free.tracks}) > 1  # the limit has work to do
        keep = sorted(labels)[:1]
        p = plan(lib, montage(), MINUTES, PlanOptions(styles=frozenset(keep)))
    assert p.tracks and {t.style_label for t in p.tracks} == set(keep)


def test_max_track_length(db):
    with open_library(db) as lib:
        p = plan(lib, montage(), MINUTES, PlanOptions(max_track_s=46.0))
    assert p.tracks and max(t.duration_s for t in p.tracks) <= 46.0


def test_alternatives_use_different_tracks(db):
    with open_library(db) as lib:
        plans, note = alternatives(lib, montage(), 3, 1.5)
        again, _ = alternatives(lib, montage(), 3, 1.5)
    assert len(plans) == 3 and note is None
    ids = [{t.id for t in p.tracks} for p in plans]
    for k in range(1, 3):  # each shares at most half its tracks with every earlier plan
        assert ids[k] and all(len(ids[k] & ids[j]) <= 0.5 * len(ids[k]) for j in range(k))
    assert [[e.track.id for e in p.entries] for p in again] == \
        [[e.track.id for e in p.entries] for p in plans]  # the same again


# ---------------------------------------------------------------- the CLI

def _tracks(db):
    import json

    r = runner.invoke(app, ["tracks", "--db", db, "-f", "json"])
    assert r.exit_code == 0, r.output
    return {t["path"]: t for t in json.loads(r.stdout)}


def _planned(path):
    import json

    return [e["path"] for e in json.loads(path.read_text())["entries"]]


def test_cli_style_and_max_track_minutes(db, tmp_path):
    info = _tracks(db)
    keep = sorted({t["style_label"] for t in info.values()})[0]
    out = tmp_path / "p.json"
    r = runner.invoke(app, ["plan", "--arc", "warmup", "-m", "3", "--db", db, "--no-record",
                            "--style", keep, "--max-track-minutes", "0.9", "-o", str(out)])
    assert r.exit_code == 0, r.output
    got = _planned(out)
    assert got and all(info[p]["style_label"] == keep for p in got)
    assert all(info[p]["duration_s"] <= 54.0 for p in got)
    r = runner.invoke(app, ["plan", "--db", db, "--style", "heavy,polka"])
    assert r.exit_code == 2 and "unknown style polka" in r.output


def test_cli_alternatives_print_and_write_each(db, tmp_path):
    out = tmp_path / "p.json"
    r = runner.invoke(app, ["plan", "--arc", "warmup", "-m", "1.5", "--db", db, "--no-record",
                            "--alternatives", "2", "-o", str(out)])
    assert r.exit_code == 0, r.output
    alt = tmp_path / "p.alt2.json"
    said = "".join(r.output.split())  # a long temporary path wraps at 80 columns
    assert "alternative2:objective" in said and f"wrote{alt}" in said
    a, b = _planned(out), _planned(alt)
    assert a and b and len(set(a) & set(b)) <= 0.5 * len(set(b))
    assert "tracks in earlier plans" in " ".join(r.output.split())


def test_every_plan_option_has_help():
    import typer.main

    cmd = typer.main.get_command(app).commands["plan"]
    missing = [p.name for p in cmd.params if not getattr(p, "help", None)]
    assert not missing, missing


# ---------------------------------------------------------------- bench/reference.py

def test_fair_baseline_picks_the_nearest_unused_track_in_order(db):
    """Issue 16.10: the fair baseline of bench/reference.py sees the reference."""
    import math
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        from reference import nearest
    finally:
        sys.path.pop(0)
    from underdog.planning.score import track_level

    with open_library(db) as lib:
        tracks = lib.tracks()
    ref = tracks[:3]
    got = nearest(ref, tracks, frozenset(t.id for t in ref))
    assert len(got) == 3 and len({t.id for t in got}) == 3
    assert not {t.id for t in got} & {t.id for t in ref}
    # the first pick is the closest of all the others to the first reference track
    def d(a, b):
        x = math.log2(a.bpm / b.bpm)
        return ((abs(x - round(x)) / 0.1) ** 2 + (track_level(a) - track_level(b)) ** 2
                + (a.style_label != b.style_label))
    others = [t for t in tracks if t.id not in {r.id for r in ref}]
    assert d(got[0], ref[0]) == min(d(t, ref[0]) for t in others)
