"""`underdog render PLAN.json -o mix.flac`: render a montage plan into one audio file."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from ..app.render import check_mix, library_beats, render_plan
from ..text import mmss
from .options import DB_OPTION
from .output import error, make_console, shown_path
from .root import app

__all__ = ["MixRequest", "library_beats", "render", "render_mix", "with_mix_options"]


class Cue(str, Enum):
    bell = "bell"
    beep = "beep"
    none = "none"


class Tempo(str, Enum):
    follow = "follow"
    own = "own"


class Stretcher(str, Enum):
    wsola = "wsola"
    pv = "pv"
    atempo = "atempo"


RENDER_OPTION = typer.Option(None, "--render", help="Also render the plan into this mix "
                             "(.flac, .opus, .mp3, .m4a or .wav; a .cue sheet beside it), as "
                             "`underdog render` does; --lufs, --cues, --stretcher and --tempo "
                             "as there.")
LUFS_OPTION = typer.Option(-14.0, "--lufs", help="Target integrated loudness (LUFS).")
CUES_OPTION = typer.Option(Cue.bell, "--cues", help="Round cue sound.")
STRETCHER_OPTION = typer.Option(Stretcher.wsola, "--stretcher",
                                help="Time-stretcher (see docs/render.md).")
TEMPO_OPTION = typer.Option(Tempo.follow, "--tempo",
                            help="follow: each excerpt at the plan's tempo (the arc's "
                                 "target, within ±8 % of its own or half/double); own: "
                                 "each at its own tempo, only the overlaps ramp.")


@dataclass(frozen=True)
class MixRequest:
    """``--render MIX`` and its settings, as a command that plans (plan, like) gets them."""

    out: Optional[Path]
    lufs: float
    cues: Cue
    stretcher: Stretcher
    tempo: Tempo

    def render(self, plan, db: Optional[Path], heard_lines: Optional[dict] = None) -> None:
        """Render the plan's JSON document into ``out``, if one was asked for
        (``heard_lines``: what the plan's check by ear read, not read again)."""
        if self.out is not None:
            render_mix(plan, self.out, lufs=self.lufs, cues=self.cues,
                       stretcher=self.stretcher, tempo=self.tempo, db=db,
                       heard_lines=heard_lines)


_MIX_PARAMS = (("render", Optional[Path], RENDER_OPTION), ("lufs", float, LUFS_OPTION),
               ("cues", Cue, CUES_OPTION), ("stretcher", Stretcher, STRETCHER_OPTION),
               ("tempo", Tempo, TEMPO_OPTION))


def with_mix_options(command):
    """Give a command the --render, --lufs, --cues, --stretcher and --tempo options (declared
    here once); the command takes them as one ``mix: MixRequest`` argument, checked."""
    sig = inspect.signature(command)
    params = [p for p in sig.parameters.values() if p.name != "mix"]
    params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option,
                                 annotation=kind) for name, kind, option in _MIX_PARAMS]

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        mix = MixRequest(*(kwargs.pop(name) for name, _, _ in _MIX_PARAMS))
        check_mix(mix.out)  # a mix it can't write is refused before any planning
        return command(*args, mix=mix, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=params)
    return wrapper


def render_mix(plan, out: Path, *, lufs: float, cues: Cue, stretcher: Stretcher,
               tempo: Tempo, db: Optional[Path], heard_lines: Optional[dict] = None) -> None:
    """Render a plan (a JSON file, or the plan's JSON document) into ``out`` with a
    progress bar on stderr, then print the mix's path, length and excerpts."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    console = make_console(stderr=True)
    with Progress(TextColumn("rendering"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("render", total=None)

        def progress(done: float, total: float, eta: float | None) -> None:
            bar.update(task, completed=done, total=total)

        def warn(msg: str) -> None:
            error(msg, what="warning", style="yellow")

        rep = render_plan(plan, out, lufs=lufs, cues=cues.value, stretcher=stretcher.value,
                          db=db, progress=progress, warn=warn, tempo=tempo.value,
                          heard_lines=heard_lines)
    for w in rep.warnings:
        console.print(f"warning: {w}")
    make_console().print(f"{shown_path(rep.path)}: {mmss(rep.duration_s)}, "
                         f"{len(rep.chapters)} excerpts")


@app.command()
def render(
    plan: Path = typer.Argument(..., help="A plan JSON (excerpts with in_s/out_s, start_s, "
                                          "tempo and transition)."),
    out: Path = typer.Option(..., "-o", "--out", help="The mix: .flac, .opus, .mp3, .m4a "
                                                      "or .wav (a .cue sheet goes beside it)."),
    lufs: float = LUFS_OPTION,
    cues: Cue = CUES_OPTION,
    stretcher: Stretcher = STRETCHER_OPTION,
    tempo: Tempo = TEMPO_OPTION,
    db: Optional[Path] = DB_OPTION,
) -> None:
    """Render PLAN into one continuous, beat-matched, levelled mix with chapters."""
    render_mix(plan, out, lufs=lufs, cues=cues, stretcher=stretcher, tempo=tempo, db=db)
