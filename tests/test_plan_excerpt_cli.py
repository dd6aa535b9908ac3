"""`underdog plan` for excerpt plans and round arcs (issue 14): excerpts by default for
montage/hiit/boxing/tabata, --whole-tracks and --excerpts, --min-bars, boxing --preset, the
plan JSON's cues, and a too-small library warning per round without a traceback. Real scan
of the demo library."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from underdog.cli import app
from underdog.library.db import open_library

from .excerpt_library import demo_db  # noqa: F401  (the shared scan)

runner = CliRunner()


def test_cli_excerpts_by_default_for_montage_whole_tracks_on_request(demo_db, tmp_path):  # noqa: F811
    out = tmp_path / "m.json"
    r = runner.invoke(app, ["plan", "--db", demo_db, "--minutes", "10", "--no-record",
                            "-o", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["mode"] == "excerpts" and all("in_s" in e for e in doc["entries"])
    r = runner.invoke(app, ["plan", "--db", demo_db, "--minutes", "10", "--no-record",
                            "--whole-tracks", "-o", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["mode"] == "whole_tracks" and not any("in_s" in e for e in doc["entries"])
    # run stays whole tracks by default; --excerpts cuts it too
    r = runner.invoke(app, ["plan", "--db", demo_db, "--arc", "run", "--minutes", "10",
                            "--no-record", "--excerpts", "--min-bars", "16", "-o", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["mode"] == "excerpts" and min(e["bars"] for e in doc["entries"]) >= 16


def test_cli_boxing_preset_writes_cues(demo_db, tmp_path):  # noqa: F811
    out = tmp_path / "box.json"
    r = runner.invoke(app, ["plan", "--db", demo_db, "--arc", "boxing", "--preset", "pro",
                            "--rounds", "2", "--no-record", "-o", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["mode"] == "excerpts"
    assert [c["kind"] for c in doc["cues"]] == ["round_start", "round_end"] * 2
    assert doc["arc_spec"]["rounds"] == 2 and doc["arc_spec"]["work"] == 3.0
    r = runner.invoke(app, ["plan", "--db", demo_db, "--arc", "boxing", "--preset", "nope",
                            "--no-record"])
    assert r.exit_code == 2 and "unknown boxing preset" in r.output
    assert "Traceback" not in r.output


def test_cli_tabata_on_a_too_small_library_warns_per_round(demo_db, tmp_path):  # noqa: F811
    small = tmp_path / "small.db"
    shutil.copy(demo_db, small)
    with open_library(small) as lib:
        keep = {t.id for t in lib.tracks() if "Beast" in t.display or "Hell" in t.display}
        lib.forget([t.path for t in lib.tracks() if t.id not in keep])
    r = runner.invoke(app, ["plan", "--db", str(small), "--arc", "tabata", "--no-record"])
    assert r.exit_code == 0, r.output
    assert r.output.count("round ") >= 8 and "Traceback" not in r.output
