"""`underdog plan` and `underdog score`: plan a session playlist, or grade any playlist."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from ..app.outputs import write_playlist, write_plot
from ..planning.arcs import KNOWN_STYLES
from ..app.planning import plan as plan_playlist, score as score_playlist
from ..planning.arcs import boxing_preset
from ..planning.excerpts import ExcerptOptions
from ..planning.sequencer import PlanOptions
from .common import print_plan, print_score_report, print_score_rows
from .render import MixRequest, with_mix_options
from .root import app
from .options import (AVOID_RECENT, CADENCE_OPTION, CHECK_BEATS_OPTION, DB_OPTION,
                      OUTPUT_OPTION, PLOT_OPTION, RELATIVE_TO_OPTION, REST_OPTION,
                      ROUNDS_OPTION, WORK_OPTION, minutes_option, seed_option, within)
from .output import line, output_console, print_records


def _styles(text: Optional[str]) -> Optional[frozenset]:
    """``--style heavy,indie_synth`` -> the set; an unknown name is a usage error."""
    if text is None:
        return None
    names = frozenset(x.strip().lower() for x in text.split(",") if x.strip())
    bad = sorted(names - set(KNOWN_STYLES))
    if bad or not names:
        raise typer.BadParameter(f"unknown style {', '.join(bad) or repr(text)}; styles: "
                                 + ", ".join(KNOWN_STYLES))
    return names


def _locks(values: List[str]) -> tuple[tuple[int, int], ...]:
    """``--lock 3=42`` (place 3 holds track 42) -> ((3, 42), ...); malformed: usage error."""
    out = []
    for v in values:
        place, _, tid = v.partition("=")
        try:
            pair = int(place), int(tid)
        except ValueError:
            raise typer.BadParameter(f"{v!r}: give PLACE=TRACK_ID, e.g. 3=42 (track ids: "
                                     "underdog tracks)") from None
        if pair[0] < 1 or pair[0] > 10_000:
            raise typer.BadParameter(f"{v!r}: the place is 1-based (1-10000)")
        out.append(pair)
    return tuple(out)


@app.command()
@with_mix_options
def plan(
    arc: str = typer.Option("montage", "--arc", help="montage, hiit, boxing, tabata, run, "
                            "lift, warmup, cooldown, or an arc .toml file (see docs/arcs.md)."),
    minutes: Optional[float] = minutes_option("Session length in minutes (default: the "
                                              "arc's own, 45 for montage)."),
    cadence: Optional[float] = CADENCE_OPTION,
    work: Optional[float] = WORK_OPTION,
    rest: Optional[float] = REST_OPTION,
    rounds: Optional[int] = ROUNDS_OPTION,
    preset: Optional[str] = typer.Option(None, "--preset", help="boxing: amateur (3 × 3 min, "
                                         "1 min rest), pro (12 × 3/1), pro-women (10 × 2/1), "
                                         "pro-8 (8 × 3/1); --work/--rest/--rounds override."),
    whole_tracks: Optional[bool] = typer.Option(
        None, "--whole-tracks/--excerpts", help="Whole tracks, or excerpts cut on bars and "
        "phrases (default: excerpts for montage, hiit, boxing and tabata; see docs/arcs.md)."),
    min_bars: int = typer.Option(8, "--min-bars", min=1, max=256, help="An excerpt lasts at "
                                 "least this many bars …"),
    min_seconds: float = typer.Option(20.0, "--min-seconds", min=1.0, max=600.0,
                                      help="… and this many seconds (a shorter interval, "
                                      "e.g. a tabata rest, is one excerpt)."),
    output: List[Path] = OUTPUT_OPTION,
    plot: Optional[Path] = PLOT_OPTION,
    explain: bool = typer.Option(False, "--explain", help="One row per track: time, target, "
                                 "actual, and why it was chosen."),
    seed: int = seed_option("0: the best playlist; other seeds: near-best alternatives. "
                            "Same library, arc and seed: same playlist."),
    avoid_recent: int = typer.Option(0, "--avoid-recent", callback=within(AVOID_RECENT),
                                     help="Skip tracks used in the last N plans (used only "
                                     "if nothing else fits). 0–100000."),
    relative_to: Optional[Path] = RELATIVE_TO_OPTION,
    record: bool = typer.Option(True, "--record/--no-record", help="Remember this plan for "
                                "--avoid-recent."),
    exclude: List[Path] = typer.Option([], "--exclude", help="Leave out the tracks of this "
                                       "playlist (.m3u8/.xspf; repeatable), e.g. the "
                                       "reference an arc was learned from."),
    style: Optional[str] = typer.Option(None, "--style", callback=_styles, help="Only tracks "
                                        "of these styles, comma-separated: "
                                        + ", ".join(KNOWN_STYLES) + "."),
    max_track_minutes: Optional[float] = typer.Option(
        None, "--max-track-minutes", callback=within((0.5, 600.0), " minutes"),
        help="Leave out tracks longer than this many minutes. 0.5–600."),
    alternatives: int = typer.Option(1, "--alternatives", callback=within((1, 20)),
                                     help="Plan N playlists: the best, then near-best ones "
                                     "sharing at most half their tracks with an earlier one; "
                                     "each printed with its objective; "
                                     "-o writes them as NAME.alt2.EXT, ... 1–20."),
    lock: List[str] = typer.Option([], "--lock", callback=_locks, help="Keep a track at "
                                   "its place: PLACE=TRACK_ID (1-based; repeatable), e.g. "
                                   "--lock 1=42; the planner plans the rest around it. "
                                   "Whole-track plans."),
    check_beats: bool = CHECK_BEATS_OPTION,
    db: Optional[Path] = DB_OPTION,
    mix: MixRequest = None,
) -> None:
    """Plan a playlist that follows a session arc, from your library."""
    console = output_console(output, piped_width=220 if explain else None)
    if preset is not None:  # a boxing format: its numbers, unless given
        rounds, work, rest = boxing_preset(arc, preset, rounds, work, rest)
    lock_whole = bool(lock) and whole_tracks is None
    if lock_whole:  # locks hold whole tracks
        whole_tracks = True
    opts = PlanOptions(excerpts=None if whole_tracks is None else not whole_tracks,
                       locked=lock,
                       excerpt=ExcerptOptions(min_bars=min_bars, min_s=min_seconds),
                       styles=style or frozenset(),
                       max_track_s=60.0 * (max_track_minutes or math.inf))
    r = plan_playlist(arc, minutes, db=db, cadence=cadence, work=work, rest=rest,
                      rounds=rounds, seed=seed, avoid_recent=avoid_recent, exclude=exclude,
                      record=record, options=opts, alternatives=alternatives,
                      check_beats=check_beats)
    p, a = r.plan, r.arc
    print_plan(console, p, explain)
    if lock_whole and a.excerpts:
        console.print(f"note: --lock holds whole tracks, so this {a.name} plays whole tracks "
                      "(it cuts excerpts without locks)", highlight=False, soft_wrap=True)
    _write_outputs(console, r, p, output, f"underdog {a.name}", relative_to, db)
    if plot is not None:
        write_plot(p, plot, f"underdog {a.name}: {a.description}")
        console.print(f"wrote {plot}", highlight=False)
    mix.render(r.as_dict(), db, r.heard_lines)  # --render: the plan's JSON, to the renderer
    best = p.report.objective
    earlier = {t.id for t in p.tracks}
    for k, alt in enumerate(r.alternatives, start=2):
        more = (alt.report.objective / best - 1.0) * 100.0 if best > 0 else 0.0
        ids = {t.id for t in alt.tracks}
        shared, earlier = len(ids & earlier), earlier | ids
        console.print(f"\nalternative {k}: objective {alt.report.objective:.1f} "
                      f"({more:+.0f} % against the first), {shared or 'none'} of its "
                      f"{len(ids)} tracks in earlier plans", highlight=False)
        print_plan(console, alt, explain)
        _write_outputs(console, r, alt, [o.with_name(f"{o.stem}.alt{k}{o.suffix}") for o in output],
                       f"underdog {a.name} ({k})", relative_to, db)
    if r.alternatives_note:
        console.print(r.alternatives_note, highlight=False)


def _write_outputs(console, r, p, outputs, title: str, relative_to, db) -> None:
    """Write plan ``p`` (the result's plan or one of its alternatives) to each output."""
    for o in outputs:
        write_playlist(p.entries, o, title=title, document=r.as_dict(p),
                       relative_to=relative_to, arc_spec=r.arc_spec, db=db)
        console.print(f"wrote {o}", highlight=False)

class ScoreFormat(str, Enum):
    table = "table"
    json = "json"    # one JSON document
    jsonl = "jsonl"  # the same, on one line


@app.command()
def score(
    playlist: Path = typer.Argument(..., help="An .m3u8/.m3u or .xspf playlist (any, "
                                    "including hand-made ones)."),
    arc: Optional[str] = typer.Option(None, "--arc", help="The arc to grade against "
                                      "(default: the one the playlist was planned for, "
                                      "else montage)."),
    cadence: Optional[float] = CADENCE_OPTION,
    work: Optional[float] = WORK_OPTION,
    rest: Optional[float] = REST_OPTION,
    rounds: Optional[int] = ROUNDS_OPTION,
    minutes: Optional[float] = minutes_option("Session length in minutes (default: the "
                                              "playlist's own length)."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    format: ScoreFormat = typer.Option(ScoreFormat.table, "--format", "-f",
                                       help="table; json: the report as one JSON document; "
                                       "jsonl: the same on one line."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the arc plot (PNG) of "
                                        "what plays, where score placed it."),
    db: Optional[Path] = typer.Option(None, "--db", help="Library database."),
) -> None:
    """Grade a playlist against an arc: fit, transitions, keys, artists, styles, drops;
    then one row per track."""
    res = score_playlist(playlist, arc=arc, minutes=minutes, cadence=cadence, work=work,
                         rest=rest, rounds=rounds, db=db, plot=plot)
    r, source = res.report, res.arc_source
    if as_json or format != ScoreFormat.table:
        from ..export.playlists import jsonable

        print_records(jsonable(res.as_dict()), "json" if as_json else format.value, indent=2)
        return
    console = output_console(piped_width=200)
    console.print(f"{playlist}: {r.tracks} tracks, {r.minutes:.1f} min, graded against the "
                  f"{r.arc} arc ({source}) over {r.session_minutes:.0f} min", highlight=False)
    print_score_report(console, r)
    print_score_rows(console, r)
    for p in res.unknown:
        console.print(line(("not in the library", "yellow"), " ", p), soft_wrap=True)
    if plot is not None:
        console.print(f"wrote {plot}", highlight=False)
