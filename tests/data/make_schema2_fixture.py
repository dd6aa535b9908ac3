"""Make tests/data/schema2_library.sql: a library as the schema-2 release wrote it.

Run with the release's code first on the path (it was made from commit 2a0bf37, the last
with schema 2 and one ANALYSIS_VERSION, 4):

    git archive 2a0bf37 src | tar -x -C /tmp/release
    PYTHONPATH=/tmp/release/src:. python tests/data/make_schema2_fixture.py

It scans three 20-s clips of the demo library (made by ``clips`` below, which the test
repeats to rebuild the same audio) and one empty file, records a plan, then moves the
paths under ``/underdog-fixture/music`` and writes the database as SQL text.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = "/underdog-fixture/music"
CLIPS = (("Shawn Parrotte - Caves.flac", 30.0), ("Muldjord - Chaos God.ogg", 40.0),
         ("Max McCracken - Through Space.ogg", 20.0))


def clips(music: Path) -> list[Path]:
    """The fixture's audio: 20 s of three demo tracks as FLAC, and an empty MP3."""
    from tests.conftest import DEMO_LIBRARY, flac_clip

    music.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (name, start) in enumerate(CLIPS):
        dst = music / f"clip{i}.flac"
        flac_clip(DEMO_LIBRARY / name, dst, start, 20.0)
        out.append(dst)
    (music / "empty.mp3").write_bytes(b"")
    return out


def main() -> None:
    from underdog.library.db import SCHEMA_VERSION, open_library
    from underdog.library.executors import SerialExecutor
    from underdog.library.scan import scan

    assert SCHEMA_VERSION == 2, "run with the schema-2 release first on PYTHONPATH"
    with tempfile.TemporaryDirectory() as tmp:
        music = Path(tmp) / "music"
        clips(music)
        db = os.path.join(tmp, "lib.db")
        with open_library(db) as lib:
            scan([music], lib, executor=SerialExecutor())
            ids = [t.id for t in lib.tracks()]
            lib.record_plan(ids, "montage", 7)
        con = sqlite3.connect(db)
        for table in ("tracks", "errors"):
            con.execute(f"UPDATE {table} SET path = replace(path, ?, ?)", (str(music), ROOT))
        con.commit()
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        version = con.execute("PRAGMA user_version").fetchone()[0]
        text = "\n".join(ln for ln in con.iterdump() if "sqlite_stat" not in ln)
        con.close()
    out = Path(__file__).with_name("schema2_library.sql")
    out.write_text(f"PRAGMA user_version = {version};\n{text}\n")
    print(out, len(text), "chars", file=sys.stderr)


if __name__ == "__main__":
    main()
