"""`underdog tag TRACK_OR_DIR...`: opt-in, write the library's BPM and key into the files.

Nothing is written unless the user runs this command and names the files or folders; a
folder means every analysed track of the library under it. Only tag blocks change (see
``export.tags``); ``--dry-run`` prints the same changes and writes nothing.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from ..app.tag import TagOutcome, leftover_lines, tag_targets, write_tags
from .root import app
from .options import DB_OPTION
from .output import error, make_console, shown_path


class KeyNotation(str, Enum):
    musical = "musical"
    camelot = "camelot"


def _show(v) -> str:
    return "-" if v is None else str(v)


@app.command("tag")
def tag(
    targets: List[Path] = typer.Argument(..., metavar="TRACK_OR_DIR...", help="Audio files, or folders: every analysed "
                                         "library track under them."),
    db: Optional[Path] = DB_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show old → new; write nothing."),
    key_notation: KeyNotation = typer.Option(KeyNotation.musical, "--key-notation",
                                             help="Key as musical (Am) or Camelot (8A)."),
) -> None:
    """Write the analysed BPM and key from the library into the named files' tags."""
    out = make_console()

    def each(f: TagOutcome) -> None:
        if f.status == "same":
            out.print(f"{shown_path(f.path)}: already tagged")
        elif f.status == "changed":
            what = ", ".join(f"{k} {_show(old)} → {_show(new)}"
                             for k, (old, new) in f.changes.items())
            out.print(f"{shown_path(f.path)}: {what}")

    tracks, problems = tag_targets(targets, db)
    if dry_run:
        out.print("dry run: nothing is written")
    res = write_tags(tracks, db, problems=problems, dry_run=dry_run,
                     key_notation=key_notation.value, each=each)
    for msg in leftover_lines(res.temps_removed, res.temps_kept, dry_run):
        out.print(msg, highlight=False)
    for msg in res.problems:
        error(msg)
    verb = "would change" if dry_run else "changed"
    n_failed = res.count("failed")
    failed = f"{n_failed} failed (left unchanged), " if n_failed else ""
    out.print(f"{verb} {res.count('changed')} file(s), {res.count('same')} already tagged, "
              f"{failed}{len(res.problems)} problem(s)")
    if res.problems:
        raise typer.Exit(1)
