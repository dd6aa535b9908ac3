"""`underdog render PLAN.json -o mix.flac`: render a montage plan into one audio file."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from .output import make_console, shown_path
from .root import app


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
                         progress=progress)
    for w in rep.warnings:
        console.print(f"warning: {w}")
    m, s = divmod(int(round(rep.duration_s)), 60)
    make_console().print(f"{shown_path(rep.path)}: {m}:{s:02d}, {len(rep.chapters)} excerpts")
