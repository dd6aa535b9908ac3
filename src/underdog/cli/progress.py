"""The scan's progress line: tracks/s, × realtime, an ETA from the audio's length, and the
file being finished, all cut to fit the terminal's width.

``status_line`` is pure (numbers in, one string out, never wider than asked); the rich
column and observer around it feed it from the scanner's hooks.
"""

from __future__ import annotations

import os
import time
from typing import Optional

from rich.console import Console
from rich.progress import Progress, ProgressColumn
from rich.text import Text

from ..text import mmss
from .output import line, visible

BAR_MIN = 10  # narrowest bar worth drawing
NAME_MIN = 12  # narrowest file name worth showing (below it, no name)
NAME_KEEP = 32  # room kept for the name before the optional parts and the bar




def cut_middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: the middle replaced by "…" (a file name
    keeps its start and its extension)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail = width - 1 - (width - 1) * 2 // 3
    ext = os.path.splitext(text)[1]
    if ext and len(ext) <= width - 4:  # the extension whole, and a little of the start
        tail = max(tail, len(ext))
    head = width - 1 - tail
    return text[:head] + "…" + (text[-tail:] if tail else "")


def eta_seconds(done_files: int, todo_files: int, done_audio_s: float,
                todo_audio_s: float | None, elapsed_s: float) -> float | None:
    """Seconds left: the audio still to analyze over the audio rate so far, when the
    headers gave the total audio; else the files left over the file rate. None before the
    first file is done."""
    if elapsed_s <= 0 or done_files <= 0:
        return None
    if todo_audio_s and done_audio_s > 0:
        return max(todo_audio_s - done_audio_s, 0.0) / (done_audio_s / elapsed_s)
    return max(todo_files - done_files, 0) * elapsed_s / done_files


def status_line(width: int, done: int, total: int, *, analyzed: int = 0,
                to_analyze: int = 0, audio_s: float = 0.0, todo_audio_s: float | None = None,
                elapsed_s: float = 0.0, name: str = "", phase: str = "scanning") -> str:
    """One progress line no wider than ``width`` characters.

    Parameters
    ----------
    width : int
        Terminal columns to fill at most.
    done, total : int
        Files handled so far, and found.
    analyzed, to_analyze : int
        Files decoded and analyzed so far, and to be.
    audio_s : float
        Seconds of audio analyzed so far.
    todo_audio_s : float or None
        Seconds of audio to analyze in all, from the files' headers (None: unknown yet).
    elapsed_s : float
        Seconds since the analysis started.
    name : str
        The file just finished (its base name is shown, cut in the middle to fit).
    phase : str
        What is happening ("scanning", or "finding files" before the count is known).

    Returns
    -------
    str
        What fits, most important first: the count, ETA, tracks/s and × realtime, then
        the file name (up to ``NAME_KEEP`` characters kept for it), the audio to analyze,
        the elapsed time and a bar; the name takes what is left, cut in the middle.
    """
    width = max(int(width), 1)
    count = f"{phase} {done}/{total}" if total else f"{phase}…"
    core = [count]  # dropped from the end until they fit
    eta = eta_seconds(analyzed, to_analyze, audio_s, todo_audio_s, elapsed_s)
    if to_analyze and analyzed < to_analyze:
        core.append(f"ETA {mmss(eta, hours=True)}" if eta is not None else "ETA …")
    if elapsed_s > 0 and analyzed:
        core.append(f"{analyzed / elapsed_s:.1f} tracks/s")
        if audio_s > 0:
            core.append(f"×{audio_s / elapsed_s:.0f} realtime")
    while len(core) > 2 and len("  ".join(core)) + 2 + NAME_MIN > width:
        core.pop()  # rates go before the name does
    while len(core) > 1 and len("  ".join(core)) > width:
        core.pop()
    text = "  ".join(core)
    if len(text) > width:
        return cut_middle(text, width)
    base = visible(os.path.basename(name)) if name else ""  # a file name shown inert
    keep = min(len(base), NAME_KEEP) + 2 if base else 0  # room the name gets first
    extras = []
    if todo_audio_s and to_analyze:
        extras.append(f"{todo_audio_s / 3600:.1f} h to analyze")
    if elapsed_s > 0:
        extras.append(mmss(elapsed_s, hours=True))
    for part in extras:
        if len(text) + 2 + len(part) + keep <= width:
            text += "  " + part
    bar_w = min(width - len(text) - 2 - keep, 40)
    if total and bar_w >= BAR_MIN:
        fill = int(round(bar_w * min(done, total) / total))
        text += "  " + "━" * fill + "─" * (bar_w - fill)
    room = width - len(text) - 2
    if base and room >= min(NAME_MIN, len(base)):
        text += "  " + cut_middle(base, room)
    return text


class StatusColumn(ProgressColumn):
    """The whole progress line as one column, cut to the console's width."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def render(self, task) -> Text:
        f = task.fields
        t0 = f.get("t_analysis")
        el = time.monotonic() - t0 if t0 is not None else 0.0
        return Text(status_line(
            self.console.width - 1, int(task.completed), int(task.total or 0),
            analyzed=f.get("analyzed", 0), to_analyze=f.get("to_analyze", 0),
            audio_s=f.get("audio_s", 0.0), todo_audio_s=f.get("todo_audio_s"),
            elapsed_s=el, name=f.get("name", ""), phase=task.description), no_wrap=True,
            overflow="crop")


class ScanProgress:
    """The scanner's observer drawing :class:`StatusColumn`: a first line at once (before
    the folders are walked), then one refreshed line."""

    def __init__(self, console: Console) -> None:
        self.p = Progress(StatusColumn(console), console=console, transient=False)
        self.task = self.p.add_task("finding files", total=None, audio_s=0.0, analyzed=0,
                                    to_analyze=0, t_analysis=None, name="")

    def __enter__(self) -> "ScanProgress":
        self.p.__enter__()
        self.p.refresh()  # the first line now, not after the walk
        return self

    def __exit__(self, *exc) -> None:
        self.p.__exit__(*exc)

    def start(self, total_files: int, to_analyze: int) -> None:
        self.p.update(self.task, description="scanning", total=total_files,
                      to_analyze=to_analyze, t_analysis=time.monotonic())

    def audio_to_analyze(self, seconds: float) -> None:
        """The audio still to analyze, from the files' headers (read before decoding)."""
        self.p.update(self.task, todo_audio_s=seconds)

    def advance(self, path: str, outcome: str, audio_s: float = 0.0,
                reason: Optional[str] = None, decoded: bool = False) -> None:
        f = self.p.tasks[self.task].fields
        upd = {"audio_s": f.get("audio_s", 0.0) + audio_s, "name": path}
        if decoded:
            upd["analyzed"] = f.get("analyzed", 0) + 1
        if outcome == "failed":
            self.p.console.print(line(("failed ", "red"), path, f": {reason}"), soft_wrap=True)
        self.p.update(self.task, advance=1, **upd)
