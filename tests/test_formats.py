"""Output formats mean one thing on every command: ``--format json`` prints one JSON
document, ``--format jsonl`` one object per line (a real scan of demo clips, real SQLite)."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from underdog.cli import app

from .conftest import DEMO_LIBRARY, ROOT, flac_clip

runner = CliRunner()
NBD = ROOT / "examples" / "tracklists" / "never-back-down-2008.txt"
CLIPS = [("Nexuiz - Beast of Insanity.ogg", b"Beast of Insanity.flac"),
         ("Muldjord - Chaos God.ogg", b"Chaos God.flac"),
         ("Shawn Parrotte - Hell.mp3", b"caf\xe9 Hell.flac")]  # a name that is not UTF-8


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    """Three 25-s clips of demo tracks (one under a Latin-1 name), scanned into SQLite."""
    d = tmp_path_factory.mktemp("fmt")
    music = os.path.join(os.fsencode(d), b"music")
    os.mkdir(music)
    paths = []
    for src, name in CLIPS:
        out = os.path.join(music, name)
        flac_clip(DEMO_LIBRARY / src, out, 40, 25)
        paths.append(out)
    db = str(d / "lib.db")
    r = runner.invoke(app, ["scan", os.fsdecode(music), "--db", db])
    assert r.exit_code == 0, r.output
    m3u = d / "clips.m3u8"
    m3u.write_bytes(b"#EXTM3U\n" + b"\n".join(paths) + b"\n")
    return {"db": db, "paths": paths, "m3u": str(m3u), "music": os.fsdecode(music)}


def _run(*args):
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r.stdout


def _one_document(text):
    return json.loads(text)  # raises on JSON Lines of more than one object


def _lines(text):
    return [json.loads(ln) for ln in text.splitlines() if ln.strip()]


def _raw_paths(objs):
    """Every file's exact bytes, from ``path`` or its lossless ``path_bytes_b64``."""
    import base64
    return sorted(base64.b64decode(o["path_bytes_b64"]) if "path_bytes_b64" in o
                  else os.fsencode(o["path"]) for o in objs)


def test_soundtrack_match_json_is_one_document_jsonl_one_per_line(lib):
    doc = _one_document(_run("soundtrack", "match", str(NBD), "--db", lib["db"],
                             "--format", "json"))
    rows = _lines(_run("soundtrack", "match", str(NBD), "--db", lib["db"], "-f", "jsonl"))
    assert isinstance(doc, list) and len(doc) == 10 and doc == rows
    assert {"entry", "status", "confidence", "match", "candidates"} <= set(doc[0])


def test_tracks_json_and_jsonl_agree_and_keep_raw_paths(lib):
    doc = _one_document(_run("tracks", "--db", lib["db"], "--format", "json"))
    rows = _lines(_run("tracks", "--db", lib["db"], "--format", "jsonl"))
    assert isinstance(doc, list) and len(doc) == 3 and doc == rows
    assert _raw_paths(rows) == sorted(lib["paths"])


def test_show_json_and_jsonl(lib):
    doc = _one_document(_run("show", "1", "--db", lib["db"], "-f", "json"))
    rows = _lines(_run("show", "1", "--db", lib["db"], "-f", "jsonl"))
    assert isinstance(doc, dict) and rows == [doc]


def test_score_format_json_jsonl_and_the_json_alias(lib):
    doc = _one_document(_run("score", lib["m3u"], "--db", lib["db"], "--format", "json"))
    alias = _one_document(_run("score", lib["m3u"], "--db", lib["db"], "--json"))
    rows = _lines(_run("score", lib["m3u"], "--db", lib["db"], "--format", "jsonl"))
    assert isinstance(doc, dict) and rows == [doc]
    assert set(alias) == set(doc)


def test_analyze_json_is_one_document_jsonl_one_per_line(lib):
    one = os.fsdecode(lib["paths"][0])
    doc = _one_document(_run("analyze", one, os.fsdecode(lib["paths"][2]), "--format", "json"))
    rows = _lines(_run("analyze", one, os.fsdecode(lib["paths"][2]), "--format", "jsonl"))
    assert isinstance(doc, list) and len(doc) == 2 and len(rows) == 2
    assert [o.get("bpm") for o in doc] == [o.get("bpm") for o in rows]
    assert _raw_paths(doc) == _raw_paths(rows) == sorted([lib["paths"][0], lib["paths"][2]])
