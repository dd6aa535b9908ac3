"""The ``render`` operation: a plan JSON into one continuous, levelled mix."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from .common import DbPath, db_path


def library_beats(db: DbPath = None, warn: Callable[[str], None] | None = None):
    """A ``beats_for`` that takes each track's beats and downbeats from the library when it
    holds them (no second decode), and analyzes only the files it lacks. The library is
    opened only if it exists; one that cannot be opened is skipped (``warn`` gets one
    line). The function's ``close()`` closes the library it opened."""
    from ..library.db import LibraryError, open_library
    from ..render.render import analysis_beats

    path = db_path(db)
    if not os.path.exists(path):
        return analysis_beats
    try:
        lib = open_library(path)
    except LibraryError as exc:
        if warn is not None:
            warn(f"{exc}; beats come from a fresh analysis")
        return analysis_beats

    beats_for = open_library_beats(lib)
    beats_for.close = lib.close  # type: ignore[attr-defined]
    return beats_for


def open_library_beats(lib):
    """A ``beats_for`` on the open library ``lib``: its beats and downbeats where it holds
    the track, else a fresh analysis of the file."""
    from ..render.render import analysis_beats

    def beats_for(track_path: str) -> tuple[np.ndarray, np.ndarray]:
        t = lib.get_track(track_path)
        if t is not None and t.status == "ok":
            beats, downbeats, _ = lib.rhythm(t.id)
            if len(beats) >= 4 and len(downbeats):
                return beats.astype(np.float64), downbeats.astype(np.float64)
        return analysis_beats(track_path)

    return beats_for


def check_mix(out: str | os.PathLike | None) -> None:
    """Raise UsageError when ``out`` (a mix to render; None: none) has an extension render
    cannot write, before any work is done."""
    from ..errors import UsageError
    from ..render.render import FORMATS

    ext = os.path.splitext(os.fspath(out))[1].lower() if out is not None else None
    if ext is not None and ext not in FORMATS:
        raise UsageError(f"{os.fspath(out)}: unknown mix format {ext or '(none)'!r}; use "
                         f"{', '.join(sorted(FORMATS))}")


def render_plan(plan: str | os.PathLike | Mapping[str, Any], out: str | os.PathLike, *,
                lufs: float = -14.0,
                cues: str = "bell", stretcher: str = "wsola", db: DbPath = None,
                progress: Callable[[float, float, float | None], None] | None = None,
                warn: Callable[[str], None] | None = None, tempo: str = "follow",
                heard_lines: dict | None = None):
    """Render the plan JSON ``plan`` (a file, or the document itself, as ``plan --render``
    hands it over) into ``out`` (.flac, .opus, .mp3, .m4a or .wav; a
    .cue sheet beside it): beat-matched, levelled to ``lufs``, round ``cues`` ("bell",
    "beep", "none"), time-stretched by ``stretcher`` ("wsola", "pv", "atempo"). Beats
    come from the library ``db`` where it holds the track. ``progress(done, total,
    eta_s)`` is called as it goes; ``tempo`` "follow" (the plan's tempi) or "own";
    ``heard_lines``: the beat lines the plan's check already read (``PlanResult``'s). Returns the ``render.render.RenderReport`` (path,
    duration, chapters, warnings). Raises render.PlanFileError, OutputError."""
    from ..render.render import plan_from_json, read_plan
    from ..render.render import render as run_render

    if isinstance(plan, Mapping):
        from ..export.playlists import jsonable

        p = plan_from_json(jsonable(plan), "the plan")
    else:
        p = read_plan(plan)
    beats_for = library_beats(db, warn)
    try:
        return run_render(p, out, lufs=lufs, cues=cues, method=stretcher,
                          beats_for=beats_for, progress=progress, tempo=tempo,
                          heard_lines=heard_lines)
    finally:
        close = getattr(beats_for, "close", None)
        if close is not None:  # the library it opened (a server renders many times)
            close()
