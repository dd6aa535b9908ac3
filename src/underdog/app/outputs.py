"""Write what a plan made: playlists (by extension, dispatched here once) and the arc
plot."""

from __future__ import annotations

import os
from typing import Any, Sequence

from ..errors import OutputError, UsageError

PLAYLIST_TYPES = (".m3u8", ".m3u", ".xspf", ".json", ".xml")


def check_outputs(outputs: Sequence[str | os.PathLike]) -> None:
    """Raise UsageError for an output whose extension names no playlist type (before any
    work is done)."""
    for o in outputs:
        ext = os.path.splitext(os.fspath(o))[1]
        if ext.lower() not in PLAYLIST_TYPES:
            raise UsageError(f"{os.fspath(o)}: unknown playlist type {ext or '(none)'!r}; use "
                             f"{', '.join(PLAYLIST_TYPES)}")


def write_playlist(entries: Sequence[Any], out: str | os.PathLike, *, title: str,
                   document: dict[str, Any], relative_to: str | os.PathLike | None = None,
                   arc_spec: dict[str, Any] | None = None, db: Any = None) -> str:
    """Write one playlist of plan ``entries``, its type from ``out``'s extension: M3U8
    (paths relative to ``relative_to`` if given; ``arc_spec`` as an #UNDERDOG-ARC line),
    XSPF (``title``), JSON (``document``, the whole plan) or rekordbox XML (``title``; each
    track's beat grid from the library ``db`` where it holds the track's beats). Returns
    the path written.
    Raises OutputError (nothing written) or UsageError (an unknown extension)."""
    from ..export.playlists import write_json, write_m3u8, write_xspf

    check_outputs([out])
    ext = os.path.splitext(os.fspath(out))[1].lower()
    try:
        if ext in (".m3u8", ".m3u"):
            write_m3u8(entries, out, relative_to=relative_to, arc=arc_spec)
        elif ext == ".xspf":
            write_xspf(entries, out, title=title)
        elif ext == ".xml":
            write_rekordbox_xml(entries, out, title, db)
        else:
            write_json(document, out)
    except OSError as exc:
        from ..fileio import os_reason

        raise OutputError(os.fspath(out), os_reason(exc)) from None
    return os.fspath(out)


def write_rekordbox_xml(entries: Sequence[Any], out: str | os.PathLike, title: str,
                        db: Any = None) -> None:
    """rekordbox XML of ``entries``, with the beats and downbeats the library at ``db``
    holds for each track (none where it holds none, or there is no library)."""
    import numpy as np

    from ..export.rekordbox import write_rekordbox
    from .common import db_path, library

    if not os.path.exists(db_path(db)):
        write_rekordbox(entries, out, title)
        return
    with library(db) as lib:
        def grid(e: Any) -> tuple[np.ndarray, np.ndarray] | None:
            t = getattr(e, "track", None)
            if t is None:
                path = e.get("path") if isinstance(e, dict) else getattr(e, "path", None)
                t = lib.get_track(os.fspath(path)) if path else None
            if t is None or t.id is None:
                return None
            beats, downbeats, _ = lib.rhythm(t.id)
            return (beats, downbeats) if len(beats) >= 2 else None

        write_rekordbox(entries, out, title, grid)


def write_plot(plan: Any, out: str | os.PathLike, title: str) -> str:
    """The arc plot (PNG) of a plan: targets against what the tracks give. Returns the
    path written; raises OutputError."""
    from ..export.plot import plot_cues, plot_plan, plot_rows, plot_text

    segs, ents = plot_rows(plan)
    try:
        plot_plan(segs, ents, out, title=plot_text(title), cues=plot_cues(plan))
    except OSError as exc:
        from ..fileio import os_reason

        raise OutputError(os.fspath(out), os_reason(exc)) from None
    return os.fspath(out)


def write_score_plot(result: Any, out: str | os.PathLike, title: str) -> str:
    """The arc plot (PNG) of a graded playlist (``planning.ScoreResult``): the arc's
    segments, each track or excerpt where score placed it, at the tempo it plays, its
    drops and the round boundaries, drawn as a plan's. Returns the path; raises
    OutputError."""
    from ..export.plot import plot_plan, plot_text

    segs, ents = result.plot_rows()
    try:
        plot_plan(segs, ents, out, title=plot_text(title), cues=result.report.cues)
    except OSError as exc:
        from ..fileio import os_reason

        raise OutputError(os.fspath(out), os_reason(exc)) from None
    return os.fspath(out)


def write_text(out: str | os.PathLike, text: str) -> str:
    """Write ``text`` (UTF-8) to ``out`` atomically, creating its folder; e.g. a learned
    arc's TOML. Returns the path; raises OutputError (the old file, if any, intact)."""
    from ..fileio import os_reason, write_atomic

    out = os.fspath(out)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        write_atomic(out, text)
    except OSError as exc:
        raise OutputError(out, os_reason(exc)) from None
    return out
