"""The ``render`` operation: a plan JSON into one continuous, levelled mix."""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from .common import DbPath, db_path


def library_beats(db: DbPath = None, warn: Callable[[str], None] | None = None):
    """A ``beats_for`` that takes each track's beats and downbeats from the library when it
    holds them (no second decode), and analyzes only the files it lacks. The library is
    opened only if it exists; one that cannot be opened is skipped (``warn`` gets one
    line)."""
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

    def beats_for(track_path: str) -> tuple[np.ndarray, np.ndarray]:
        t = lib.get_track(track_path)
        if t is not None and t.status == "ok":
            beats, downbeats, _ = lib.rhythm(t.id)
            if len(beats) >= 4 and len(downbeats):
                return beats.astype(np.float64), downbeats.astype(np.float64)
        return analysis_beats(track_path)

    return beats_for


def render_plan(plan: str | os.PathLike, out: str | os.PathLike, *, lufs: float = -14.0,
                cues: str = "bell", stretcher: str = "wsola", db: DbPath = None,
                progress: Callable[[float, float, float | None], None] | None = None,
                warn: Callable[[str], None] | None = None, tempo: str = "follow"):
    """Render the plan JSON ``plan`` into ``out`` (.flac, .opus, .mp3, .m4a or .wav; a
    .cue sheet beside it): beat-matched, levelled to ``lufs``, round ``cues`` ("bell",
    "beep", "none"), time-stretched by ``stretcher`` ("wsola", "pv", "atempo"). Beats
    come from the library ``db`` where it holds the track. ``progress(done, total,
    eta_s)`` is called as it goes; ``tempo`` "follow" (the plan's tempi) or "own". Returns the ``render.render.RenderReport`` (path,
    duration, chapters, warnings). Raises render's PlanError, OutputError."""
    from ..render.render import read_plan
    from ..render.render import render as run_render

    p = read_plan(plan)
    return run_render(p, out, lufs=lufs, cues=cues, method=stretcher,
                      beats_for=library_beats(db, warn), progress=progress, tempo=tempo)
