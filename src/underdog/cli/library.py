"""`underdog scan | tracks | show | errors | prune`: the library commands (thin)."""

from __future__ import annotations

import json
import os
import time
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table
from rich.text import Text

from ..app.common import TRACK_FIELDS, parse_range as app_parse_range, track_csv_record
from ..app.tag import leftover_lines
from ..app.library import (ScanInterrupted, list_problems, prepare_scan,
                           prune as prune_missing, query_tracks, show_track)
from ..errors import UsageError
from ..library.db import SORT_KEYS
from .. import fields
from ..models import energy_to_level
from .root import app
from .options import DB_OPTION, JOBS, LIMIT, TRACK_ID, within
from .output import line, make_console, plain, print_records, shown_path
from .progress import ScanProgress


# ---------------------------------------------------------------- scan

class ScanEngine(str, Enum):
    local = "local"
    ray = "ray"


@app.command()
def scan(
    dirs: List[Path] = typer.Argument(..., help="Music folders (or files) to scan."),
    db: Optional[Path] = DB_OPTION,
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", callback=within(JOBS),
                                       help="Worker processes (default: all cores; 0 = in "
                                       "this process). 0–256."),
    force: bool = typer.Option(False, "--force", help="Re-analyze every file."),
    engine: ScanEngine = typer.Option(ScanEngine.local, "--engine",
                                      help="local: a process pool on this machine; ray: Ray "
                                      "tasks (the 'ray' extra; files on a shared filesystem)."),
    address: Optional[str] = typer.Option(None, "--address",
                                          help="Ray cluster with --engine ray: 'auto' (this "
                                          "machine's cluster) or ray://HOST:PORT; default: "
                                          "a local Ray for this scan."),
) -> None:
    """Scan folders into the library: new and changed files are analyzed, the rest kept.

    Exit status: 0 when every file was analyzed, 1 when some failed (listed, and kept in
    'underdog errors'), 2 when the library cannot be used, 128 + N on signal N.
    """
    console = make_console()
    job = prepare_scan(dirs, db, jobs=jobs, force=force, engine=engine.value, address=address)
    try:
        with ScanProgress(console) as progress:
            res = job.run(observer=progress)
    except ScanInterrupted as exc:  # Ctrl-C, or SIGTERM/SIGHUP
        console.print(f"interrupted: {exc.saved} tracks are saved; run the same scan again "
                      "to resume")
        raise typer.Exit(128 + exc.signum)
    stats, n_total, db_path = res.stats, res.tracks, res.db_path
    rt = stats.audio_s / stats.wall_s if stats.wall_s > 0 else 0.0
    console.print(line(
        (str(stats.found), "bold"), f" files in {stats.wall_s:.1f} s: ",
        (f"{stats.analyzed} analyzed", "green"), f" ({stats.audio_s / 3600:.2f} h of audio, "
        f"×{rt:.0f} realtime), {stats.unchanged} unchanged, {stats.moved} moved, "
        + (f"{stats.updated} updated without decoding, " if stats.updated else "")
        + f"{stats.missing} missing, ", (f"{stats.failed} failed", "red"),
        f"; {stats.decoded} decoded"))
    for reason, n in stats.failure_reasons():
        console.print(f"  {n:>4} × {reason}")
    for line_ in leftover_lines(stats.temps_removed, stats.temps_kept):
        console.print(line_, highlight=False)
    console.print(f"library: {n_total} tracks in {db_path}")
    if stats.failed:
        raise typer.Exit(1)


# ---------------------------------------------------------------- tracks

class TracksFormat(str, Enum):
    table = "table"
    json = "json"    # one JSON document
    jsonl = "jsonl"  # one object per line
    csv = "csv"


def parse_range(text: Optional[str], what: str) -> Optional[tuple]:
    """The app's range parser, its error as a usage error of the option."""
    try:
        return app_parse_range(text, what)
    except UsageError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def tracks(
    bpm: Optional[str] = typer.Option(None, "--bpm", help="BPM range, e.g. 120-140."),
    energy: Optional[str] = typer.Option(None, "--energy", help="Energy level range (1–10), "
                                         "e.g. 7-10."),
    style: Optional[str] = typer.Option(None, "--style", help="Style label, e.g. heavy."),
    key: Optional[str] = typer.Option(None, "--key", help="Camelot code (8A) or key name."),
    artist: Optional[str] = typer.Option(None, "--artist", help="Artist (substring, any case)."),
    search: Optional[str] = typer.Option(None, "--search", "-s", help="Artist, title or album "
                                         "(substring, any case)."),
    drops: Optional[bool] = typer.Option(None, "--drops/--no-drops", help="Only tracks with a "
                                         "drop (or only those without)."),
    sort: Optional[str] = typer.Option(None, "--sort", help="Sort by " + ", ".join(SORT_KEYS)
                                       + " ('-' prefix: descending)."),
    limit: Optional[int] = typer.Option(None, "--limit", callback=within(LIMIT),
                                        help="At most this many rows. 1–1000000."),
    all_: bool = typer.Option(False, "--all", help="Include failed and missing files."),
    format: TracksFormat = typer.Option(TracksFormat.table, "--format", "-f",
                                        help="table; json: one JSON array; jsonl: one "
                                        "track per line; or csv."),
    db: Optional[Path] = DB_OPTION,
) -> None:
    """List library tracks, filtered and sorted."""
    brange, erange = parse_range(bpm, "BPM"), parse_range(energy, "energy")
    try:
        page = query_tracks(db, bpm=brange, energy=erange, style=style, key=key,
                            artist=artist, search=search, drops=drops, sort=sort,
                            include_failed=all_, include_missing=all_, limit=limit,
                            count=False)
    except UsageError as exc:  # an unknown sort key
        raise typer.BadParameter(str(exc)) from None
    rows = page.tracks
    if format != TracksFormat.table:
        records = page.records()
        if format == TracksFormat.csv:
            records = [track_csv_record(r) for r in records]
        print_records(records, format.value, csv_fields=TRACK_FIELDS)
        return
    console = make_console()
    table = Table(header_style="bold")
    table.add_column("id", justify="right")
    table.add_column("track")
    for name in _TABLE_FIELDS:  # headings and cells as the fields declare them
        head, just = fields.column(name)
        table.add_column(head, justify=just)
    for t in rows:
        name = t.display if t.status == "ok" else f"{t.display} [{t.status}]"
        table.add_row(str(t.id), plain(name),
                      *(fields.cell(f, getattr(t, f)) for f in _TABLE_FIELDS))
    console.print(table)
    console.print(f"{len(rows)} track{'' if len(rows) == 1 else 's'}")


_TABLE_FIELDS = ("duration_s", "bpm", "camelot", "energy", "loudness_lufs", "style_label",
                 "drops")


# ---------------------------------------------------------------- show / errors / prune

@app.command()
def show(
    track: str = typer.Argument(..., help="Track id or file path."),
    db: Optional[Path] = DB_OPTION,
    format: TracksFormat = typer.Option(TracksFormat.table, "--format", "-f",
                                        help="table; json: one JSON document; jsonl: "
                                        "the same on one line (csv: same as json)."),
) -> None:
    """Print everything the library knows about one track."""
    if track.isdigit() and not os.path.exists(track):  # an id: within SQLite's integers
        try:
            within(TRACK_ID)(int(track))
        except ValueError:  # digits int() does not read (e.g. superscripts), or too long
            raise typer.BadParameter(f"{track!r} is neither a track id nor a file",
                                     param_hint="'TRACK'") from None
        except typer.BadParameter as exc:
            raise typer.BadParameter(f"track id {exc.message}", param_hint="'TRACK'") from None
    info = show_track(track, db)
    d, beats, downbeats, phrases = info.fields, info.beats, info.downbeats, info.phrases
    curve = info.energy_curve
    if format != TracksFormat.table:
        print_records(info.as_dict(), "jsonl" if format == TracksFormat.jsonl else "json")
        return
    console = make_console()
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
        elif k == "warnings" and isinstance(v, list):
            v = "\n".join(str(w) for w in v)
        elif k == "energy":
            v = f"{v:.1f}"
        elif isinstance(v, float):
            v = f"{v:.3f}"
        elif isinstance(v, (list, dict)):
            v = json.dumps(v, ensure_ascii=False)
        table.add_row(k, plain(v))
    if len(beats):
        head = ", ".join(f"{b:.2f}" for b in beats[:8])
        table.add_row("beats", Text(f"{len(beats)} beats: {head}{', …' if len(beats) > 8 else ''}"))
    if len(downbeats):
        table.add_row("bars", Text(f"{len(downbeats)} downbeats, {len(phrases)} phrases"))
    if len(curve):
        lv = [energy_to_level(float(v)) for v in (curve.min(), curve.mean(), curve.max())]
        table.add_row("energy_curve", Text(f"{len(curve)} points, levels min {lv[0]:.1f}, "
                                           f"mean {lv[1]:.1f}, max {lv[2]:.1f}"))
    console.print(table)


@app.command()
def errors(db: Optional[Path] = DB_OPTION) -> None:
    """List the files the scan could not analyze, then analyzed files with warnings."""
    found = list_problems(db)
    rows, warns = found.errors, found.warnings
    console = make_console()
    for e in rows:
        console.print(line((e.path, "bold"), f": {e.reason}"), soft_wrap=True)
    for w in warns:
        console.print(line(("warning ", "yellow"), (w.path, "bold"), f": {w.reason}"),
                      soft_wrap=True)
    console.print(f"{len(rows)} files failed" +
                  (f", {found.files_with_warnings} analyzed with warnings" if warns else ""))


@app.command()
def prune(db: Optional[Path] = DB_OPTION) -> None:
    """Delete the tracks whose files are gone (marked missing by the last scans)."""
    n = prune_missing(db)
    make_console().print(f"pruned {n} missing tracks")
