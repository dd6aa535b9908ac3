"""`underdog like REFERENCE`: learn a reference soundtrack's logic, rebuild it from the library."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..errors import UnderdogError
from ..library.db import LibraryError
from ..planning.arcs import ArcError
from ..planning.reference import Distances, LikeResult, like as run_like, load_reference
from ..planning.sequencer import PlanError
from .root import app
from .options import (DB_OPTION, OUTPUT_OPTION, PLOT_OPTION, RELATIVE_TO_OPTION,
                      minutes_option, seed_option)
from .output import line, make_console
from .plan import OUT_TYPES, _fail, _lib, _print_plan, plot_rows, plot_text


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
           else "") + f"); rebuilt over {r.minutes:.1f} min, {r.excluded} library tracks "
        "left out", highlight=False, soft_wrap=True)
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
    output: List[Path] = OUTPUT_OPTION,
    plot: Optional[Path] = PLOT_OPTION,
    explain: bool = typer.Option(False, "--explain", help="One row per track: target, "
                                 "actual, why."),
    seed: int = seed_option("Same reference, library and seed: same playlist (and the "
                            "same random baseline)."),
    relative_to: Optional[Path] = RELATIVE_TO_OPTION,
    record: bool = typer.Option(True, "--record/--no-record", help="Remember this plan for "
                                "`underdog plan --avoid-recent`."),
    db: Optional[Path] = DB_OPTION,
) -> None:
    """Learn a reference soundtrack's shape and rebuild it from your library."""
    for o in output:
        if o.suffix.lower() not in OUT_TYPES:
            _fail(f"{o}: unknown playlist type {o.suffix or '(none)'!r}; use "
                  f"{', '.join(OUT_TYPES)}")
    lib = _lib(db)
    console = make_console()
    if not console.is_terminal:
        console = make_console(width=220 if explain else 120)  # piped: keep rows on one line
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # skipped files are listed below instead
            ref = load_reference(reference, lib)
        for p, why in ref.skipped:
            console.print(line(("warning", "yellow"), f" reference: skipped {p}: {why}"),
                          soft_wrap=True)
        for m in ref.missing:
            console.print(line(("not in the library", "yellow"), " ", m), soft_wrap=True)
        r = run_like(lib, ref, minutes, exclude_reference=exclude_reference,
                     exclude_artists=exclude_artists, seed=seed)
        if record and r.plan.entries:
            lib.record_plan([e.track.id for e in r.plan.entries], r.plan.arc.name, seed)
    except (UnderdogError, LibraryError, PlanError, ArcError) as exc:
        _fail(str(exc))
    finally:
        lib.close()
    from ..export.playlists import write_json, write_m3u8, write_xspf
    from ..fileio import write_atomic

    try:
        if save_arc is not None:
            save_arc.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(save_arc, r.learned.toml)
    except OSError as exc:
        _fail(f"{save_arc}: {exc.strerror or exc}")
    except UnderdogError as exc:  # fileio.OutputError: disk full, ...; no file touched
        _fail(str(exc))
    _print_plan(console, r.plan, explain)
    print_report(console, r)
    if save_arc is not None:
        console.print(f"wrote {save_arc}", highlight=False)
    try:
        for o in output:
            ext = o.suffix.lower()
            if ext in (".m3u8", ".m3u"):
                write_m3u8(r.plan.entries, o, relative_to=relative_to)
            elif ext == ".xspf":
                write_xspf(r.plan.entries, o, title=f"underdog {r.plan.arc.name}")
            else:
                d = r.plan.as_dict()
                d["reference"] = {"source": ref.source, "tracks": [t.path for t in ref.tracks],
                                  "skipped": ref.skipped, "missing": ref.missing}
                d["distances"] = {k: dict(zip(Distances.NAMES, v.values()))
                                  for k, v in r.rows.items()}
                write_json(d, o)
            console.print(f"wrote {o}", highlight=False)
        if plot is not None:
            from ..export.plot import plot_plan

            segs, ents = plot_rows(r.plan)
            plot_plan(segs, ents, plot, title=plot_text(f"underdog {r.plan.arc.name}"))
            console.print(f"wrote {plot}", highlight=False)
    except (UnderdogError, OSError) as exc:
        _fail(str(exc))
