"""`underdog soundtrack match TRACKLIST`: what the library has of a film's tracklist."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table
from rich.text import Text

from ..app.soundtrack import match_soundtrack
from ..soundtrack.fill import N_STAND_INS
from ..soundtrack.match import AMBIGUOUS, FOUND, MISSING
from ..soundtrack.report import film_order, summarize
from .root import app
from .options import DB_OPTION
from .output import make_console, plain, print_records

soundtrack_app = typer.Typer(no_args_is_help=True,
                             help="Complete a film soundtrack from a tracklist.")
app.add_typer(soundtrack_app, name="soundtrack")


class MatchFormat(str, Enum):
    table = "table"
    json = "json"    # one JSON document: an array of entries
    jsonl = "jsonl"  # one object per entry per line


class TracklistFormat(str, Enum):
    text = "text"
    csv = "csv"
    json = "json"


@soundtrack_app.command("match")
def match(
    tracklist: Path = typer.Argument(..., help="Tracklist: text 'Artist - Title \\[tags] "
                                     "hh:mm:ss' lines, CSV artist,title,tags,time, or JSON."),
    db: Optional[Path] = DB_OPTION,
    output: List[Path] = typer.Option([], "-o", "--output", help="Write the film-order "
                                      "M3U8 (found tracks; '# missing:' comments), or with "
                                      "a .xml name a rekordbox XML playlist; repeatable."),
    format: MatchFormat = typer.Option(MatchFormat.table, "--format", "-f",
                                       help="table; json: one JSON array of entries; "
                                       "jsonl: one object per entry per line."),
    missing_only: bool = typer.Option(False, "--missing-only",
                                      help="Print only entries not found (missing, ambiguous)."),
    relative_to: Optional[Path] = typer.Option(None, "--relative-to", help="M3U8 paths "
                                               "relative to this folder (default: absolute)."),
    input_format: Optional[TracklistFormat] = typer.Option(
        None, "--input-format", help="Tracklist format (default: from the extension)."),
    fill: bool = typer.Option(False, "--fill", help=f"For each missing entry, offer up to "
                              f"{N_STAND_INS} stand-ins from the library that fit its bpm, "
                              "energy and style (tracklist columns), else the found entries "
                              "around it and the film's style mix; the playlist (-o) plays "
                              "the best one in its place, marked as a stand-in."),
) -> None:
    """Match a film's tracklist against the library: found, missing, ambiguous, in film order."""
    m = match_soundtrack(tracklist, db, input_format=input_format.value if input_format
                         else None, output=output, relative_to=relative_to, fill=fill)
    if format != MatchFormat.table:  # input order
        print_records(m.records(missing_only), format.value)
        return
    results = m.results
    shown = [r for r in results if not (missing_only and r.status == FOUND)]
    gap_of = {id(r): g for r in results if (g := m.gap_of(r)) is not None}
    _print_table(shown, results, m.playlist, gap_of)


def _print_table(shown, results, output, gap_of) -> None:
    console = make_console()
    table = Table(header_style="bold")
    timed = any(r.entry.time for r in shown)  # no empty time column
    for col, just in [("#", "right"), ("time", "left"), ("entry [tags]", "left"),
                      ("status", "left"), ("conf", "right"), ("library file / candidates",
                                                              "left")]:
        if col != "time" or timed:
            table.add_column(col, justify=just)
    order = {id(r): i for i, r in enumerate(results, start=1)}
    colour = {FOUND: "green", MISSING: "red"}
    for r in film_order(shown):
        e = r.entry
        if r.status == FOUND:
            where = plain(r.match.path)
        elif r.status == AMBIGUOUS:  # name every close candidate by its file
            where = Text("\n").join(plain(f"{c.item.path} ({c.confidence:.2f})")
                                    for c in r.candidates)
        else:
            where = Text("\n").join(plain(f"{c.item.artist} - {c.item.title} "
                                          f"({c.confidence:.2f})") for c in r.candidates)
            gap = gap_of.get(id(r))
            if gap is not None:
                lines = [plain(f"wanted: {gap.target.describe()}")]
                lines += [Text("stand-in: ", style="cyan") + plain(f"{s.track.path} ({s.why})")
                          for s in gap.stand_ins] or [plain(gap.note)]
                where = Text("\n").join(([where] if r.candidates else []) + lines)
        st = colour.get(r.status, "yellow")
        table.add_row(str(order[id(r)]), *([plain(e.time or "")] if timed else []),
                      plain(e.display), Text(r.status, style=st),
                      f"{r.confidence:.2f}" if r.candidates else "", where)
    console.print(table)
    s = summarize(results)
    filled = sum(1 for g in gap_of.values() if g.stand_ins)
    fill_note = f"; {filled} of {len(gap_of)} missing filled with stand-ins" if gap_of else ""
    console.print(s.line() + fill_note + (f"; playlist written to {output}" if output else ""))
