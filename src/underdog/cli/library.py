"""`underdog scan | tracks | show | errors | prune`: the library commands (thin)."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn,
                           TextColumn, TimeElapsedColumn)
from rich.table import Table
from rich.text import Text

from ..library.db import Library, LibraryError, SORT_KEYS, open_library
from .root import app
from .options import DB_OPTION



def shown_path(path: str) -> str:
    """A path printable on any terminal: undecodable bytes and control characters escaped."""
    s = os.fsencode(path).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)


def _open(db: Optional[Path]) -> Library:
    try:
        return open_library(db)
    except LibraryError as exc:
        Console(stderr=True).print(f"[red]error[/red] {exc}", highlight=False)
        raise typer.Exit(2)


# ---------------------------------------------------------------- scan

class _AudioRateColumn(ProgressColumn):
    def render(self, task) -> Text:
        el = task.elapsed or 0.0
        audio_s = task.fields.get("audio_s", 0.0)
        if el <= 0 or audio_s <= 0:
            return Text("– audio h/s", style="cyan")
        return Text(f"{audio_s / 3600 / el:.2f} audio h/s (×{audio_s / el:.0f})", style="cyan")


class _EtaColumn(ProgressColumn):
    def render(self, task) -> Text:
        todo = task.fields.get("to_analyze", 0)
        done = task.fields.get("analyzed", 0)
        t0 = task.fields.get("t_analysis")
        if not todo or done >= todo:
            return Text("ETA –", style="progress.remaining")
        if not done or t0 is None:
            return Text("ETA …", style="progress.remaining")
        left = (time.monotonic() - t0) / done * (todo - done)
        return Text(f"ETA {int(left // 60)}:{int(left % 60):02d}", style="progress.remaining")


class _RichObserver:
    def __init__(self, progress: Progress):
        self.p = progress
        self.task = None

    def start(self, total_files: int, to_analyze: int) -> None:
        self.task = self.p.add_task("scanning", total=total_files, audio_s=0.0,
                                    to_analyze=to_analyze, analyzed=0,
                                    t_analysis=time.monotonic())

    def advance(self, path: str, outcome: str, audio_s: float = 0.0,
                reason: Optional[str] = None, decoded: bool = False) -> None:
        f = self.p.tasks[self.task].fields
        upd = {"audio_s": f.get("audio_s", 0.0) + audio_s}
        if decoded:
            upd["analyzed"] = f.get("analyzed", 0) + 1
        if outcome == "failed":
            self.p.console.print(Text.assemble(("failed ", "red"), shown_path(path),
                                               f": {reason}"), soft_wrap=True)
        self.p.update(self.task, advance=1, **upd)


@app.command()
def scan(
    dirs: List[Path] = typer.Argument(..., help="Music folders (or files) to scan."),
    db: Optional[Path] = DB_OPTION,
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Worker processes "
                                       "(default: all cores; 0 = in this process)."),
    force: bool = typer.Option(False, "--force", help="Re-analyze every file."),
) -> None:
    """Scan folders into the library: new and changed files are analyzed, the rest kept."""
    from ..library.scan import scan as run_scan

    console = Console()
    for d in dirs:
        if not os.path.exists(d):
            console.print(f"[red]error[/red] {shown_path(os.fspath(d))}: no such file or folder",
                          highlight=False)
            raise typer.Exit(2)
    lib = _open(db)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("files"), _AudioRateColumn(),
                        _EtaColumn(), TimeElapsedColumn(), console=console, transient=False)
    try:
        with progress:
            stats = run_scan([os.fspath(d) for d in dirs], lib, jobs=jobs, force=force,
                             observer=_RichObserver(progress))
    except KeyboardInterrupt:
        n = lib.count()
        lib.close()
        console.print(f"interrupted: {n} tracks are saved; run the same scan again to resume")
        raise typer.Exit(130)
    n_total = lib.count()
    db_path = lib.path
    lib.close()
    rt = stats.audio_s / stats.wall_s if stats.wall_s > 0 else 0.0
    console.print(
        f"[bold]{stats.found}[/bold] files in {stats.wall_s:.1f} s: "
        f"[green]{stats.analyzed} analyzed[/green] ({stats.audio_s / 3600:.2f} h of audio, "
        f"×{rt:.0f} realtime), {stats.unchanged} unchanged, {stats.moved} moved, "
        f"{stats.missing} missing, [red]{stats.failed} failed[/red]; "
        f"{stats.decoded} decoded", highlight=False)
    for reason, n in stats.failure_reasons():
        console.print(f"  {n:>4} × {reason}", highlight=False, markup=False)
    console.print(f"library: {n_total} tracks in {db_path}", highlight=False, markup=False)


# ---------------------------------------------------------------- tracks

class TracksFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def parse_range(text: Optional[str], what: str) -> Optional[tuple]:
    """"120-140" → (120.0, 140.0); "120-" / "-140" open-ended; "128" → (128.0, 128.0)."""
    if text is None:
        return None
    t = text.strip()
    try:
        if "-" in t[1:] or t.startswith("-"):
            i = t.index("-", 1) if "-" in t[1:] else 0
            lo, hi = t[:i].strip(), t[i + 1:].strip()
            rng = (float(lo) if lo else None, float(hi) if hi else None)
        else:
            rng = (float(t), float(t))
    except ValueError:
        raise typer.BadParameter(f"{what} range must look like 120-140, 120- or -140") from None
    if rng[0] is not None and rng[1] is not None and rng[0] > rng[1]:
        raise typer.BadParameter(f"{what} range {text}: low end is above high end")
    return rng


_CSV_FIELDS = ["id", "artist", "title", "album", "albumartist", "genre", "year", "track_no",
               "duration_s", "bpm", "bpm_confidence", "loudness_lufs", "energy", "energy_level",
               "key", "camelot", "key_confidence", "style_label", "intro_end_s",
               "outro_start_s", "status", "path"]


def track_dict(t) -> dict:
    d = {k: getattr(t, k) for k in _CSV_FIELDS}
    d["style"] = t.style
    d["drops"] = t.drops
    return d


@app.command()
def tracks(
    bpm: Optional[str] = typer.Option(None, "--bpm", help="BPM range, e.g. 120-140."),
    energy: Optional[str] = typer.Option(None, "--energy", help="Energy range, e.g. 7-10."),
    style: Optional[str] = typer.Option(None, "--style", help="Style label, e.g. heavy."),
    key: Optional[str] = typer.Option(None, "--key", help="Camelot code (8A) or key name."),
    artist: Optional[str] = typer.Option(None, "--artist", help="Artist (substring, any case)."),
    sort: Optional[str] = typer.Option(None, "--sort", help="Sort by " + ", ".join(SORT_KEYS)
                                       + " ('-' prefix: descending)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most this many rows."),
    all_: bool = typer.Option(False, "--all", help="Include failed and missing files."),
    format: TracksFormat = typer.Option(TracksFormat.table, "--format", "-f"),
    db: Optional[Path] = DB_OPTION,
) -> None:
    """List library tracks, filtered and sorted."""
    brange, erange = parse_range(bpm, "BPM"), parse_range(energy, "energy")
    with _open(db) as lib:
        try:
            rows = lib.tracks(bpm=brange, energy=erange, style=style, key=key, artist=artist,
                              sort=sort, include_failed=all_, include_missing=all_, limit=limit)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    if format == TracksFormat.json:
        sys.stdout.write(json.dumps([track_dict(t) for t in rows], ensure_ascii=False,
                                    indent=1, default=str) + "\n")
        return
    if format == TracksFormat.csv:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=_CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for t in rows:
            d = track_dict(t)
            d["path"] = shown_path(d["path"])
            w.writerow(d)
        sys.stdout.write(buf.getvalue())
        return
    console = Console()
    table = Table(header_style="bold")
    for col, just in [("id", "right"), ("track", "left"), ("time", "right"), ("BPM", "right"),
                      ("key", "left"), ("energy", "right"), ("LUFS", "right"),
                      ("style", "left"), ("drops", "right")]:
        table.add_column(col, justify=just)
    for t in rows:
        d = t.duration_s or 0.0
        name = t.display if t.status == "ok" else f"{t.display} [{t.status}]"
        table.add_row(str(t.id), Text(shown_path(name)),
                      f"{int(d // 60)}:{int(d % 60):02d}" if t.duration_s else "–",
                      _f(t.bpm, ".1f"), t.camelot or "–", _f(t.energy, ".1f"),
                      _f(t.loudness_lufs, ".1f"), t.style_label or "–", str(len(t.drops)))
    console.print(table)
    console.print(f"{len(rows)} tracks", highlight=False)


def _f(v, spec: str) -> str:
    return "–" if v is None else format(v, spec)


# ---------------------------------------------------------------- show / errors / prune

@app.command()
def show(
    track: str = typer.Argument(..., help="Track id or file path."),
    db: Optional[Path] = DB_OPTION,
    format: TracksFormat = typer.Option(TracksFormat.table, "--format", "-f",
                                        help="table or json (csv: same as json)."),
) -> None:
    """Print everything the library knows about one track."""
    with _open(db) as lib:
        t = lib.get_track(track)
        if t is None:
            Console(stderr=True).print(f"[red]error[/red] no track {shown_path(track)!s} in "
                                       f"the library", highlight=False)
            raise typer.Exit(1)
        d = lib.track_details(t.id)
    beats = d.pop("beats")
    curve = d.pop("energy_curve")
    if format != TracksFormat.table:
        d["beats"] = [round(float(x), 3) for x in beats]
        d["energy_curve"] = [round(float(x), 4) for x in curve]
        sys.stdout.write(json.dumps(d, ensure_ascii=False, indent=1, default=str) + "\n")
        return
    console = Console()
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for k, v in d.items():
        if v is None or v == [] or v == {}:
            continue
        if k in ("added_at", "updated_at"):
            v = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v))
        elif k == "path":
            v = shown_path(v)
        elif k == "style" and isinstance(v, dict):
            v = ", ".join(f"{s} {p:.2f}" for s, p in sorted(v.items(), key=lambda x: -x[1]))
        elif isinstance(v, float):
            v = f"{v:.3f}"
        elif isinstance(v, (list, dict)):
            v = json.dumps(v, ensure_ascii=False)
        table.add_row(k, Text(str(v)))
    if len(beats):
        head = ", ".join(f"{b:.2f}" for b in beats[:8])
        table.add_row("beats", Text(f"{len(beats)} beats: {head}{', …' if len(beats) > 8 else ''}"))
    if len(curve):
        table.add_row("energy_curve", Text(f"{len(curve)} points, min {curve.min():.2f}, "
                                           f"mean {curve.mean():.2f}, max {curve.max():.2f}"))
    console.print(table)


@app.command()
def errors(db: Optional[Path] = DB_OPTION) -> None:
    """List the files the scan could not analyze, with the reason."""
    with _open(db) as lib:
        rows = lib.errors()
    console = Console()
    for e in rows:
        console.print(Text.assemble((shown_path(e.path), "bold"), f": {e.reason}"),
                      soft_wrap=True)
    console.print(f"{len(rows)} files failed", highlight=False)


@app.command()
def prune(db: Optional[Path] = DB_OPTION) -> None:
    """Delete the tracks whose files are gone (marked missing by the last scans)."""
    with _open(db) as lib:
        n = lib.prune()
    Console().print(f"pruned {n} missing tracks", highlight=False)
