"""A version per analyser: a scan re-runs only the analysers whose version changed.

Three 20-s clips of the demo library are scanned once; each test copies that library,
marks the stored outputs (values no analyser writes), bumps one analyser's version and
scans again: the bumped analyser's outputs come back, every other mark stays.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from underdog.analysis import ANALYSERS, VERSIONS, needs_decode, stale_analysers
from underdog.analysis.style import FEATURE_NAMES
from underdog.library.db import open_library
from underdog.library.executors import SerialExecutor
from underdog.library.scan import scan

from .conftest import DEMO_LIBRARY, flac_clip

pytestmark = pytest.mark.timeout(240)

CLIPS = (("Shawn Parrotte - Caves.flac", 30.0), ("Muldjord - Chaos God.ogg", 40.0),
         ("Max McCracken - Through Space.ogg", 20.0))
# One column of each analyser, and a value it never writes (none an input of another).
MARKS = {"tempo": ("bpm_confidence", -1.0), "energy": ("energy", -1.0), "key": ("camelot", "0Z"),
         "sections": ("intro_end_s", -1.0), "loudness": ("loudness_lufs", 99.0),
         "style": ("style_label", "marked")}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("versions")
    music = root / "music"
    music.mkdir()
    for i, (name, start) in enumerate(CLIPS):
        flac_clip(DEMO_LIBRARY / name, music / f"clip{i}.flac", start, 20.0)
    db = root / "lib.db"
    with open_library(db) as lib:
        stats = scan([music], lib, executor=SerialExecutor())
    assert stats.analyzed == 3
    return music, db


def _copy(scanned, tmp_path) -> Path:
    db = tmp_path / "lib.db"
    with open_library(scanned[1]) as lib:  # checkpoints the WAL into the file
        pass
    shutil.copy(scanned[1], db)
    return db


def _columns(db: Path) -> dict[str, list]:
    con = sqlite3.connect(db)
    try:
        cols = [c for c, _ in MARKS.values()] + ["style", "analysers"]
        rows = con.execute(f"SELECT {', '.join(cols)} FROM tracks ORDER BY id").fetchall()
        return {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    finally:
        con.close()


def _outputs(db: Path) -> list[tuple]:
    """Outputs of energy and sections that carry no mark: the same after a re-run."""
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT energy_level, energy_curve, energy_curve_hop_s, drops, "
                           "buildups, outro_start_s FROM tracks ORDER BY id").fetchall()
    finally:
        con.close()


def _mark(db: Path) -> None:
    con = sqlite3.connect(db)
    con.execute("UPDATE tracks SET " + ", ".join(f"{c} = ?" for c, _ in MARKS.values()),
                [v for _, v in MARKS.values()])
    con.commit()
    con.close()


def _rescan(scanned, db: Path, bump: str):
    versions = {**VERSIONS, bump: VERSIONS[bump] + 1}
    with open_library(db) as lib:
        stats = scan([scanned[0]], lib, executor=SerialExecutor(), versions=versions)
        again = scan([scanned[0]], lib, executor=SerialExecutor(), versions=versions)
    assert (again.unchanged, again.decoded, again.updated) == (3, 0, 0)  # now current
    return stats, versions


def _rerun_analysers(before: dict, after: dict) -> set[str]:
    """The analysers whose mark was overwritten, each checked to hold its first value."""
    out = set()
    for name, (col, mark) in MARKS.items():
        if after[col] != [mark] * 3:
            assert after[col] == before[col], name
            out.add(name)
    return out


def test_fresh_scan_stores_every_version_and_the_style_features(scanned, tmp_path):
    db = _copy(scanned, tmp_path)
    with open_library(db) as lib:
        for t in lib.tracks():
            feats = lib.style_features(t.id, len(FEATURE_NAMES))
            assert feats is not None and 1 <= feats.shape[0] <= 8
    import json

    assert [json.loads(v) for v in _columns(db)["analysers"]] == [dict(VERSIONS)] * 3


def test_bumping_style_reruns_only_style_without_decoding(scanned, tmp_path):
    db = _copy(scanned, tmp_path)
    before = _columns(db)
    _mark(db)
    stats, versions = _rescan(scanned, db, "style")
    assert (stats.decoded, stats.updated, stats.analyzed, stats.unchanged) == (0, 3, 0, 0)
    after = _columns(db)
    assert _rerun_analysers(before, after) == {"style"}
    assert after["style"] == before["style"]  # the same model over the kept features


@pytest.mark.parametrize("bump, rerun", [("key", {"key"}),
                                         ("tempo", {"tempo", "energy", "sections"}),
                                         ("sections", {"sections"}),
                                         ("loudness", {"loudness", "energy"})])
def test_bumping_a_decoding_analyser_reruns_it_and_its_dependents_only(
        scanned, tmp_path, bump, rerun):
    db = _copy(scanned, tmp_path)
    before, outputs = _columns(db), _outputs(db)
    _mark(db)
    stats, versions = _rescan(scanned, db, bump)
    assert (stats.decoded, stats.analyzed, stats.updated) == (3, 3, 0)
    assert _outputs(db) == outputs
    after = _columns(db)
    # each re-run analyser's output is the one of the first scan: energy and sections
    # read the stored beat grid when tempo is kept, and it is the grid they were made on
    assert _rerun_analysers(before, after) == rerun
    import json

    assert [json.loads(v) for v in after["analysers"]] == [versions] * 3


def test_stale_analysers_is_one_pure_decision():
    assert stale_analysers(VERSIONS) == frozenset()
    assert stale_analysers(None) == frozenset(VERSIONS)
    assert stale_analysers({**VERSIONS, "style": 0}) == {"style"}
    assert stale_analysers({**VERSIONS, "style_features": 0}) == {"style_features", "style"}
    assert stale_analysers({**VERSIONS, "loudness": 0}) == {"loudness", "energy"}
    assert stale_analysers({k: v for k, v in VERSIONS.items() if k != "key"}) == {"key"}
    assert not needs_decode({"style"}) and needs_decode({"style", "key"})
    assert needs_decode({"no such analyser"})
    # every analyser's needs are analysers declared before it
    seen: set[str] = set()
    for a in ANALYSERS:
        assert set(a.needs) <= seen, a.name
        seen.add(a.name)


def test_energy_rerun_reads_the_stored_tempo(scanned, tmp_path):
    """Energy's bars come from the stored tempo when tempo itself is current (no tempo
    step in the re-run): a stored 60 BPM gives 4-s bars."""
    db = _copy(scanned, tmp_path)
    con = sqlite3.connect(db)
    con.execute("UPDATE tracks SET bpm = 60.0")
    con.commit()
    con.close()
    stats, _ = _rescan(scanned, db, "energy")
    assert stats.decoded == 3
    con = sqlite3.connect(db)
    assert con.execute("SELECT DISTINCT energy_curve_hop_s, bpm FROM tracks").fetchall() == \
        [(4.0, 60.0)]
    con.close()

