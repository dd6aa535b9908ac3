"""`underdog tag TRACK_OR_DIR...`: opt-in, write the library's BPM and key into the files.

Nothing is written unless the user runs this command and names the files or folders; a
folder means every analysed track of the library under it. Only tag blocks change (see
``export.tags``); ``--dry-run`` prints the same changes and writes nothing.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import UnderdogError
from ..library.db import LibraryError, default_db_path, open_library
from .root import app
from .options import DB_OPTION
from .output import error, fail, make_console, shown_path


class KeyNotation(str, Enum):
    musical = "musical"
    camelot = "camelot"


def _under(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip(os.sep) + os.sep)


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
    from ..export.tags import write_bpm_key_tags

    out = make_console()
    db_path = os.fspath(db) if db is not None else default_db_path()
    if not os.path.exists(db_path):
        fail(f"{db_path}: no library database; run 'underdog scan DIR' first (or pass --db)")
    try:
        with open_library(db_path) as lib:
            tracks, problems = [], []
            for t in targets:
                p = os.path.abspath(os.fspath(t))
                if os.path.isdir(p):
                    under = [x for x in lib.tracks() if _under(x.path, p)]
                    if not under:
                        problems.append(f"{shown_path(p)}: no analysed tracks under this folder")
                    tracks += under
                elif not os.path.exists(p):
                    problems.append(f"{shown_path(p)}: no such file")
                else:
                    tr = lib.get_track(p)
                    if tr is None or tr.status != "ok":
                        problems.append(f"{shown_path(p)}: not an analysed track of the library; "
                                        "run 'underdog scan' on it first")
                    else:
                        tracks.append(tr)
    except LibraryError as exc:
        fail(exc)

    seen: set[str] = set()
    written: list[str] = []
    n_changed = n_same = n_failed = 0
    if dry_run:
        out.print("dry run: nothing is written")
    for t in tracks:
        if t.path in seen:
            continue
        seen.add(t.path)
        if t.bpm is None and t.key is None and t.camelot is None:
            problems.append(f"{shown_path(t.path)}: the library holds no BPM or key for it")
            continue
        try:
            changes = write_bpm_key_tags(t.path, t.bpm, t.key, t.camelot, dry_run=dry_run,
                                         key_notation=key_notation.value)
        except UnderdogError as exc:
            problems.append(str(exc))
            n_failed += 1
            continue
        if not changes:
            n_same += 1
            out.print(f"{shown_path(t.path)}: already tagged")
            continue
        n_changed += 1
        if not dry_run:
            written.append(t.path)
        what = ", ".join(f"{k} {_show(old)} → {_show(new)}" for k, (old, new) in changes.items())
        out.print(f"{shown_path(t.path)}: {what}")
    if written:  # new size/mtime/tags stored, so the next scan decodes none of these files
        try:
            with open_library(db_path) as lib:
                for p in written:
                    lib.refresh_file_state(p)
        except LibraryError as exc:
            problems.append(f"tags written, but the library could not record it: {exc}")
    for msg in problems:
        error(msg)
    verb = "would change" if dry_run else "changed"
    failed = f"{n_failed} failed (left unchanged), " if n_failed else ""
    out.print(f"{verb} {n_changed} file(s), {n_same} already tagged, {failed}"
              f"{len(problems)} problem(s)")
    if problems:
        raise typer.Exit(1)
