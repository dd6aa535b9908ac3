"""A library made by the schema-2 release migrates keeping every row and value.

tests/data/schema2_library.sql is that release's database (three 20-s demo clips scanned,
one empty file, one plan), written by tests/data/make_schema2_fixture.py with the release's
own code. The clips are made again here from the demo library, byte for byte.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from underdog import fields
from underdog.analysis import VERSIONS
from underdog.library.db import SCHEMA_VERSION, open_library
from underdog.library.executors import SerialExecutor
from underdog.library.scan import scan

from .data.make_schema2_fixture import ROOT, clips

pytestmark = pytest.mark.timeout(240)

FIXTURE = Path(__file__).parent / "data" / "schema2_library.sql"
TABLES = ("tracks", "beats", "errors", "plans", "plan_tracks")


def _load(db: Path) -> None:
    con = sqlite3.connect(db)
    con.executescript(FIXTURE.read_text())
    con.close()


def _dump(db: Path, cols: dict[str, list[str]] | None = None) -> dict[str, tuple]:
    """Every table's columns and rows (only ``cols`` when given), ordered by rowid."""
    con = sqlite3.connect(db)
    try:
        out = {}
        for t in TABLES:
            names = cols[t] if cols else [r[1] for r in con.execute(f"PRAGMA table_info({t})")]
            rows = con.execute(f"SELECT {', '.join(names)} FROM {t} ORDER BY rowid").fetchall()
            out[t] = (names, rows)
        return out
    finally:
        con.close()


def test_schema2_library_migrates_keeping_every_row_and_value(tmp_path):
    db = tmp_path / "lib.db"
    _load(db)
    before = _dump(db)
    assert len(before["tracks"][1]) == 4 and len(before["beats"][1]) == 3
    with open_library(db) as lib:
        assert lib.schema_version == SCHEMA_VERSION >= 3  # 4: schema 3 + an index
        assert lib.integrity_check() == "ok"
        got = {t.id: t for t in lib.tracks(include_failed=True)}
    after = _dump(db, {t: names for t, (names, _) in before.items()})
    assert after == before  # every row, every value, bit for bit (floats and blobs)

    con = sqlite3.connect(db)
    cols = {t: [r[1] for r in con.execute(f"PRAGMA table_info({t})")]
            for t in ("tracks", "beats", "features")}
    # the new columns and tables are the declared ones, and empty
    assert cols["tracks"][:len(before["tracks"][0])] == before["tracks"][0]
    assert set(cols["tracks"]) == {f.name for f in fields.in_table("tracks")}
    assert cols["features"] == ["track_id"] + [f.name for f in fields.in_table("features")]
    assert con.execute("SELECT count(*) FROM tracks WHERE analysers IS NOT NULL").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM features").fetchone() == (0,)
    raw = {r[0]: r for r in con.execute(
        "SELECT id, bpm, camelot, style, drops, tempo_segments, energy_curve, status "
        "FROM tracks")}
    con.close()

    # the rows read back as the release stored them
    assert sorted(got) == [1, 2, 3, 4]
    for i, t in got.items():
        _, bpm, camelot, style, drops, segments, curve, status = raw[i]
        assert (t.bpm, t.camelot, t.status) == (bpm, camelot, status)
        assert t.style == (json.loads(style) if style else {})
        assert t.drops == (json.loads(drops) if drops else [])
        assert t.tempo_segments == [tuple(s) for s in json.loads(segments or "[]")]
        assert len(t.energy_curve) == len(curve or b"") // 4
    assert got[4].status == "failed" and all(got[i].bpm for i in (1, 2, 3))


def _restore_files(db: Path, music: Path) -> None:
    """The fixture's files again, at ``music`` with the stored mtimes, and the library's
    paths moved there."""
    clips(music)
    con = sqlite3.connect(db)
    for table in ("tracks", "errors"):
        con.execute(f"UPDATE {table} SET path = replace(path, ?, ?)", (ROOT, str(music)))
    for path, mtime_ns in con.execute("SELECT path, mtime_ns FROM tracks").fetchall():
        os.utime(path, ns=(mtime_ns, mtime_ns))
    con.commit()
    con.close()


def test_migrated_library_rescans_without_decoding(tmp_path):
    db = tmp_path / "lib.db"
    _load(db)
    _restore_files(db, tmp_path / "music")
    with open_library(db) as lib:
        stats = scan([tmp_path / "music"], lib, executor=SerialExecutor())
        # Sound prints (the identity analyser) came after this release: the first rescan
        # decodes each file once for them (the failed one is retried), nothing else re-runs;
        # the next rescan decodes nothing.
        assert (stats.decoded, stats.analyzed, stats.failed) == (4, 3, 1)
        stats = scan([tmp_path / "music"], lib, executor=SerialExecutor())
        assert (stats.decoded, stats.unchanged, stats.failed) == (0, 3, 1)
        # The release kept no style features: a new style model decodes these tracks
        # once (the features are kept from then on) and a second one decodes nothing.
        bumped = {**VERSIONS, "style": VERSIONS["style"] + 1}
        stats = scan([tmp_path / "music"], lib, executor=SerialExecutor(), versions=bumped)
        assert (stats.decoded, stats.analyzed, stats.updated) == (3, 3, 0)
        again = {**bumped, "style": bumped["style"] + 1}
        stats = scan([tmp_path / "music"], lib, executor=SerialExecutor(), versions=again)
        assert (stats.decoded, stats.updated, stats.unchanged) == (0, 3, 0)
