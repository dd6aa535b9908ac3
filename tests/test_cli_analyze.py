"""`underdog analyze`: the table, the JSON lines, and failures that don't stop the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import DEMO_LIBRARY

REQUIRED = {"path", "duration_s", "bpm", "bpm_confidence", "bpm_candidates", "beats"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}  # a wide terminal: the table does not wrap names
    return subprocess.run([sys.executable, "-m", "underdog.cli", *args],
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def jsonl_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("lib")
    bad = d / "broken.mp3"
    bad.write_bytes(b"\x00not audio" * 500)
    good = DEMO_LIBRARY / "Sectoid - War of Freedom.m4a"
    return run_cli("analyze", "--format", "jsonl", str(good), str(bad))


def test_jsonl_has_one_object_per_file_and_exit_code_1(jsonl_run):
    assert jsonl_run.returncode == 1, jsonl_run.stderr
    objs = [json.loads(line) for line in jsonl_run.stdout.splitlines() if line.strip()]
    assert len(objs) == 2
    good, bad = objs
    assert REQUIRED <= set(good)
    assert "error" not in good
    assert good["duration_s"] > 100
    assert 40 <= good["bpm"] <= 250
    assert all(len(c) == 2 for c in good["bpm_candidates"])
    assert len(good["beats"]) > good["duration_s"] * good["bpm"] / 60 * 0.5
    assert set(bad) == {"path", "error"}
    assert "broken.mp3" in bad["error"]
    assert "Traceback" not in jsonl_run.stderr


def test_table_lists_every_file(tmp_path):
    src = DEMO_LIBRARY / "Shawn Parrotte - Caves.flac"
    link = tmp_path / "Caves copy.flac"
    os.symlink(src, link)
    out = run_cli("analyze", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "Caves copy.flac" in out.stdout
    assert "BPM" in out.stdout


def test_analyze_does_not_import_the_planner():
    """The first run's cost: `underdog analyze` loads only its own command module."""
    code = ("import sys\n"
            "sys.argv = ['underdog', 'analyze', '--help']\n"
            "from underdog.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('underdog.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120).stdout
    assert "underdog.cli.analyze" in out
    assert "underdog.planning" not in out and "underdog.cli.plan" not in out


def test_analyze_keeps_heavy_imports_off_the_first_run():
    """Analyzing a 44.1 kHz Ogg and a 48 kHz Opus file never imports scipy.signal (over a
    second on a slow host), scipy.ndimage, scipy.stats or pydantic (typer >= 0.29)."""
    files = [str(DEMO_LIBRARY / "Nexuiz - Beast of Insanity.ogg"),
             str(DEMO_LIBRARY / "Nexuiz - Digital Pursuit.opus")]
    code = ("import sys\n"
            f"sys.argv = ['underdog', 'analyze', '--format', 'jsonl', *{files!r}]\n"
            "from underdog.cli import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'pydantic')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3 and all('"bpm"' in ln for ln in lines[:2])
    loaded = lines[-1]
    for heavy in ("scipy.signal", "scipy.ndimage", "scipy.stats", "pydantic"):
        assert f"'{heavy}" not in loaded, (heavy, loaded)
