"""What re-running one analyser costs: a scan after bumping one analyser's version.

    python bench/analysers.py [--music DIR] [--only tempo,style]

Scans --music (default: the demo library) into a fresh library in one process (no pool:
the times are one core's), then, for each analyser, bumps its version on a copy of that
library and scans again. Prints, per bumped analyser: which analysers re-ran (it and
those that need it), how many files were decoded, and the wall time against the full
scan's. Timings are wall clock on whatever machine runs it (note the load).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from underdog.analysis import ANALYSERS, VERSIONS, needs_decode, stale_analysers  # noqa: E402
from underdog.library.db import open_library  # noqa: E402
from underdog.library.executors import SerialExecutor  # noqa: E402
from underdog.library.scan import scan  # noqa: E402


def _scan(music: Path, db: Path, versions: dict[str, int]) -> tuple[float, object]:
    with open_library(db) as lib:
        t0 = time.perf_counter()
        stats = scan([music], lib, executor=SerialExecutor(), versions=versions)
        return time.perf_counter() - t0, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--music", type=Path, default=ROOT / "examples" / "library")
    ap.add_argument("--only", default="", help="comma-separated analysers (default: all)")
    args = ap.parse_args()
    names = [a.name for a in ANALYSERS if not args.only or a.name in args.only.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.db"
        full_s, stats = _scan(args.music, base, dict(VERSIONS))
        n, audio_min = stats.analyzed, stats.audio_s / 60
        print(f"full scan: {n} files, {audio_min:.1f} min of audio, {full_s:.1f} s "
              f"({full_s / n * 1000:.0f} ms a file)")
        print("| bumped | re-runs | decodes | wall s | ms a file | of a full scan |")
        print("|---|---|---|---|---|---|")
        for name in names:
            db = Path(tmp) / f"{name}.db"
            shutil.copy(base, db)
            bumped = {**VERSIONS, name: VERSIONS[name] + 1}
            rerun = sorted(stale_analysers(VERSIONS, bumped))
            wall, st = _scan(args.music, db, bumped)
            assert needs_decode(rerun) == (st.decoded > 0)
            print(f"| {name} | {', '.join(rerun)} | {st.decoded} | {wall:.2f} | "
                  f"{wall / n * 1000:.0f} | {wall / full_s:.0%} |")


if __name__ == "__main__":
    main()
