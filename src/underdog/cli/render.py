"""`underdog render PLAN.json -o mix.flac`: render a montage plan into one audio file."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from .options import DB_OPTION
from .output import error, make_console, shown_path
from .root import app


def library_beats(db: Optional[Path]):
    """A ``beats_for`` that takes each track's beats and downbeats from the library when it
    holds them (no second decode), and analyzes only the files it lacks. The library is
    opened only if it exists; one that cannot be opened is skipped with a warning."""
    import numpy as np

    from ..library.db import LibraryError, default_db_path, open_library
    from ..render.render import analysis_beats

    path = os.fspath(db) if db is not None else default_db_path()
    if not os.path.exists(path):
        return analysis_beats
    try:
        lib = open_library(path)
    except LibraryError as exc:
        error(f"{exc}; beats come from a fresh analysis", what="warning", style="yellow")
        return analysis_beats

    def beats_for(track_path: str) -> tuple[np.ndarray, np.ndarray]:
        t = lib.get_track(track_path)
        if t is not None and t.status == "ok":
            beats, downbeats, _ = lib.rhythm(t.id)
            if len(beats) >= 4 and len(downbeats):
                return beats.astype(np.float64), downbeats.astype(np.float64)
        return analysis_beats(track_path)

    return beats_for


class Cue(str, Enum):
    bell = "bell"
    beep = "beep"
    none = "none"


class Stretcher(str, Enum):
    wsola = "wsola"
    pv = "pv"
    atempo = "atempo"


@app.command()
def render(
    plan: Path = typer.Argument(..., help="A plan JSON (excerpts with in_s/out_s, start_s, "
                                          "tempo and transition)."),
    out: Path = typer.Option(..., "-o", "--out", help="The mix: .flac, .opus, .mp3, .m4a "
                                                      "or .wav (a .cue sheet goes beside it)."),
    lufs: float = typer.Option(-14.0, "--lufs", help="Target integrated loudness (LUFS)."),
    cues: Cue = typer.Option(Cue.bell, "--cues", help="Round cue sound."),
    stretcher: Stretcher = typer.Option(Stretcher.wsola, "--stretcher",
                                        help="Time-stretcher (see docs/render.md)."),
    db: Optional[Path] = DB_OPTION,
) -> None:
    """Render PLAN into one continuous, beat-matched, levelled mix with chapters."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ..render.render import read_plan
    from ..render.render import render as run_render

    console = make_console(stderr=True)
    p = read_plan(plan)
    with Progress(TextColumn("rendering"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("render", total=None)

        def progress(done: float, total: float, eta: float | None) -> None:
            bar.update(task, completed=done, total=total)

        rep = run_render(p, out, lufs=lufs, cues=cues.value, method=stretcher.value,
                         beats_for=library_beats(db), progress=progress)
    for w in rep.warnings:
        console.print(f"warning: {w}")
    m, s = divmod(int(round(rep.duration_s)), 60)
    make_console().print(f"{shown_path(rep.path)}: {m}:{s:02d}, {len(rep.chapters)} excerpts")
