"""The ``tag`` operation: write the library's BPM and key into the named files' tags
(opt-in; only tag blocks change, see ``export.tags``)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..errors import UnderdogError
from ..library.db import LibraryError
from ..models import Track
from .common import DbPath, library


@dataclass
class TagOutcome:
    """One file: ``status`` is "changed" (or would be, in a dry run), "same" (already
    tagged) or "failed"; ``changes`` maps each tag to (old, new)."""

    path: str
    status: str
    changes: dict = field(default_factory=dict)
    error: str | None = None


@dataclass
class TagResult:
    """Every file's outcome, in order, and the problems (one line each: targets that are
    not analysed library tracks, failed writes, a library that could not record them)."""

    dry_run: bool
    files: list[TagOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # ``.underdog-*.tmp`` files an interrupted run left in these folders: removed (a dry
    # run: would be), or kept (another process is writing it, or it is newer than this run)
    temps_removed: list[str] = field(default_factory=list)
    temps_kept: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.files)


def leftover_lines(removed: list[str], kept: list[str], dry_run: bool = False) -> list[str]:
    """One line each about the temporary files an interrupted ``underdog tag`` left."""
    out = []
    if removed:
        out.append(f"{'would remove' if dry_run else 'removed'} {len(removed)} leftover "
                   ".underdog-*.tmp file(s) of an interrupted 'underdog tag'")
    for p in kept:
        out.append(f"{p}: an underdog temporary file in use, newer than this run or not "
                   "removable; left in place")
    return out


def _stale_temps_in(folders: Iterable[str], before: float, dry_run: bool
                    ) -> tuple[list[str], list[str]]:
    """:func:`fileio.remove_stale_temps` over our temporary files in ``folders``."""
    from ..fileio import is_temp_name, remove_stale_temps

    found: list[str] = []
    for d in sorted(set(folders)):
        try:
            with os.scandir(d) as it:
                found += [e.path for e in it if is_temp_name(e.name)]
        except OSError:
            continue  # the write itself reports an unreadable folder
    return remove_stale_temps(found, before, dry_run=dry_run)


def _under(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip(os.sep) + os.sep)


def tag_targets(targets: Iterable[str | os.PathLike], db: DbPath = None
                ) -> tuple[list[Track], list[str]]:
    """The analysed library tracks the targets name (files, or folders: every analysed
    track under them), and one problem line per target that names none."""
    tracks: list[Track] = []
    problems: list[str] = []
    with library(db, must_exist=True) as lib:
        for t in targets:
            p = os.path.abspath(os.fspath(t))
            if os.path.isdir(p):
                under = [x for x in lib.tracks() if _under(x.path, p)]
                if not under:
                    problems.append(f"{p}: no analysed tracks under this folder")
                tracks += under
            elif not os.path.exists(p):
                problems.append(f"{p}: no such file")
            else:
                tr = lib.get_track(p)
                if tr is None or tr.status != "ok":
                    problems.append(f"{p}: not an analysed track of the library; "
                                    "run 'underdog scan' on it first")
                else:
                    tracks.append(tr)
    return tracks, problems


def tag_files(targets: Iterable[str | os.PathLike], db: DbPath = None, *, dry_run: bool = False,
        key_notation: str = "musical",
        each: Callable[[TagOutcome], None] | None = None) -> TagResult:
    """Write the analysed BPM and key (``key_notation``: "musical" Am, or "camelot" 8A)
    into the targets' tags; ``dry_run`` computes the same changes and writes nothing.
    ``each`` is called with every file's outcome as it is done. The library's stored file
    state is refreshed after writing, so the next scan decodes none of these files.
    Raises LibraryError when there is no library database."""
    tracks, problems = tag_targets(targets, db)
    return write_tags(tracks, db, problems=problems, dry_run=dry_run,
                      key_notation=key_notation, each=each)


def write_tags(tracks: Iterable[Track], db: DbPath = None, *, problems: list[str] | None = None,
               dry_run: bool = False, key_notation: str = "musical",
               each: Callable[[TagOutcome], None] | None = None) -> TagResult:
    """:func:`tag_files` for tracks already resolved (:func:`tag_targets`); ``problems``: the
    lines found so far, continued."""
    from ..export.tags import write_bpm_key_tags

    started = time.time()
    tracks = list(tracks)
    problems = problems if problems is not None else []
    res = TagResult(dry_run, problems=problems)
    # what a killed earlier run left beside these files goes first (a dry run: counted)
    res.temps_removed, res.temps_kept = _stale_temps_in(
        (os.path.dirname(t.path) for t in tracks), started, dry_run)
    seen: set[str] = set()
    written: list[str] = []
    for t in tracks:
        if t.path in seen:
            continue
        seen.add(t.path)
        if t.bpm is None and t.key is None and t.camelot is None:
            problems.append(f"{t.path}: the library holds no BPM or key for it")
            continue
        try:
            changes = write_bpm_key_tags(t.path, t.bpm, t.key, t.camelot, dry_run=dry_run,
                                         key_notation=key_notation)
        except UnderdogError as exc:
            problems.append(str(exc))
            out = TagOutcome(t.path, "failed", error=str(exc))
        else:
            out = TagOutcome(t.path, "changed" if changes else "same", changes)
            if changes and not dry_run:
                written.append(t.path)
        res.files.append(out)
        if each is not None:
            each(out)
    if written:  # new size/mtime/tags stored, so the next scan decodes none of these files
        try:
            with library(db) as lib:
                for p in written:
                    lib.refresh_file_state(p)
        except LibraryError as exc:
            problems.append(f"tags written, but the library could not record it: {exc}")
    return res
