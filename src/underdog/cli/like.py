"""`underdog like REFERENCE`: learn a reference soundtrack's logic, rebuild it from the library."""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..app.outputs import write_playlist, write_plot, write_text
from ..app.planning import like as like_playlist, like_record
from ..planning.reference import Distances, LikeResult
from .common import print_plan
from .render import MixRequest, with_mix_options
from .root import app
from .options import (CHECK_BEATS_OPTION, DB_OPTION, OUTPUT_OPTION, PLOT_OPTION,
                      RELATIVE_TO_OPTION, minutes_option, seed_option)
from .output import line, output_console


def _f(v, nd: int = 3, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v * 100:.0f} %" if pct else f"{v:.{nd}f}"


def print_report(console: Console, r: LikeResult) -> None:
    """The reference summary and the distance table: underdog beside montage and random."""
    ref = r.reference
    console.print(
        f"reference {ref.source}: {len(ref.tracks)} tracks, {ref.minutes:.1f} min "
        f"({ref.from_library} from the library, {ref.analyzed} analyzed now"
        + (f", {len(ref.skipped)} skipped" if ref.skipped else "")
        + (f", {len(ref.missing)} tracklist entries not in the library" if ref.missing
           else "") + f"); {ref.order or 'in the order given'}; rebuilt over "
        f"{r.minutes:.1f} min, {r.excluded} library tracks left out (the reference's "
        "recordings by sound, wherever they sit)", highlight=False, soft_wrap=True)
    ex = r.extras()
    tab = Table(title="distance to the reference, lower is closer (tempo: octaves of effective "
                "BPM; energy: levels 1–10; W1 = Wasserstein; arc = RMSE of the curves over "
                "normalized time)", title_justify="left")
    tab.add_column("playlist", no_wrap=True)
    for name in Distances.NAMES:
        tab.add_column(name, justify="right")
    for col in ("tracks", "min", "minor keys", "BPM step"):
        tab.add_column(col, justify="right")
    e = ex["reference"]
    tab.add_row("reference", *["·"] * len(Distances.NAMES), str(e["tracks"]),
                f"{e['minutes']:.1f}", _f(e["minor"], pct=True), _f(e["bpm_step"], 1))
    best = [min(d.values()[i] for d in r.rows.values()) for i in range(len(Distances.NAMES))]
    for name, d in r.rows.items():
        e = ex[name]
        cells = [(Text(_f(v), style="bold") if v == best[i] else _f(v))
                 for i, v in enumerate(d.values())]
        tab.add_row(name, *cells, str(e["tracks"]), f"{e['minutes']:.1f}",
                    _f(e["minor"], pct=True), _f(e["bpm_step"], 1))
    console.print(tab)


@app.command()
@with_mix_options
def like(
    reference: Path = typer.Argument(..., help="A playlist (.m3u8/.m3u/.xspf), a folder of "
                                     "audio files, or a tracklist (Artist - Title lines, "
                                     ".csv, .json) matched against the library."),
    minutes: Optional[float] = minutes_option("Session length in minutes (default: the "
                                              "reference's)."),
    exclude_reference: bool = typer.Option(True, "--exclude-reference/--include-reference",
                                           help="Leave the reference's own tracks out "
                                           "(default) or allow them."),
    exclude_artists: bool = typer.Option(False, "--exclude-artists", help="Also leave out "
                                         "every track by the reference's artists."),
    save_arc: Optional[Path] = typer.Option(None, "--save-arc", help="Write the learned arc "
                                            "as TOML (reuse: underdog plan --arc FILE)."),
    seed: int = seed_option("Same reference, library and seed: same playlist (and the "
                            "same random baseline)."),
    output: List[Path] = OUTPUT_OPTION,
    plot: Optional[Path] = PLOT_OPTION,
    explain: bool = typer.Option(False, "--explain", help="One row per track: target, "
                                 "actual, why."),
    relative_to: Optional[Path] = RELATIVE_TO_OPTION,
    record: bool = typer.Option(True, "--record/--no-record", help="Remember this plan for "
                                "`underdog plan --avoid-recent`."),
    check_beats: bool = CHECK_BEATS_OPTION,
    db: Optional[Path] = DB_OPTION,
    mix: MixRequest = None,
) -> None:
    """Learn a reference soundtrack's shape and rebuild it from your library."""
    console = output_console(output, piped_width=220 if explain else 120)
    r = like_playlist(reference, minutes, db=db, exclude_reference=exclude_reference,
                      exclude_artists=exclude_artists, seed=seed, record=record,
                      check_beats=check_beats)
    ref = r.reference
    for p, why in ref.skipped:
        console.print(line(("warning", "yellow"), f" reference: skipped {p}: {why}"),
                      soft_wrap=True)
    for m in ref.missing:
        console.print(line(("not in the library", "yellow"), " ", m), soft_wrap=True)
    if save_arc is not None:
        write_text(save_arc, r.learned.toml)
    print_plan(console, r.plan, explain)
    print_report(console, r)
    if save_arc is not None:
        console.print(f"wrote {save_arc}", highlight=False)
    for o in output:
        write_playlist(r.plan.entries, o, title=f"underdog {r.plan.arc.name}",
                       document=like_record(r), relative_to=relative_to, db=db)
        console.print(f"wrote {o}", highlight=False)
    if plot is not None:
        write_plot(r.plan, plot, f"underdog {r.plan.arc.name}")
        console.print(f"wrote {plot}", highlight=False)
    mix.render(like_record(r), db, r.heard_lines)  # --render: the plan's JSON, to the renderer
