"""plan --style, --max-track-minutes, --alternatives (issue 16): only the styles asked for,
no track longer than asked, N plans with different tracks (real scan, real SQLite)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from underdog.cli import app
from underdog.library.db import open_library
from underdog.planning.arcs import montage
from underdog.planning.sequencer import PlanOptions, alternatives, plan

from .conftest import DEMO_LIBRARY, flac_clip

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
    music = d / "music"
    music.mkdir()
    for src, start, length in CLIPS:
        flac_clip(DEMO_LIBRARY / src, music / (src.rsplit(".", 1)[0] + ".flac"), start, length)
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
        plans, note = alternatives(lib, montage(), 2, 1.5)
    assert len(plans) == 2 and note is None
    a, b = ({t.id for t in p.tracks} for p in plans)
    assert a and b and not a & b
    assert plans[0].report.objective <= plans[1].report.objective
