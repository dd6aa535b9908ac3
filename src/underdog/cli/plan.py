"""`underdog plan` and `underdog score`: plan a session playlist, or grade any playlist."""

from __future__ import annotations

import math
import os
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..errors import UnderdogError
from ..export.playlists import read_playlist
from ..library.db import LibraryError, open_library
from ..planning.arcs import BUILTIN, Arc, ArcError, load_arc
from ..planning.score import ScoreReport, score_tracks
from ..planning.sequencer import Plan, PlanError, PlanOptions, plan as make_plan
from .root import app
from .options import (AVOID_RECENT, CADENCE_OPTION, DB_OPTION, MINUTES, OUTPUT_OPTION,
                      PLOT_OPTION, RELATIVE_TO_OPTION, REST_OPTION, ROUNDS_OPTION, WORK_OPTION,
                      minutes_option, seed_option, within)
from .output import fail as _fail, json_text, line, make_console, visible

OUT_TYPES = (".m3u8", ".m3u", ".xspf", ".json")


def _mmss(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60}:{s % 60:02d}"


def _arc(name: str, cadence, work, rest, rounds) -> Arc:
    try:
        a = load_arc(name, cadence=cadence, work=work, rest=rest, rounds=rounds)
    except ArcError as exc:
        _fail(str(exc))
    if not a.minutes <= MINUTES[1]:  # e.g. hiit's 100 rounds of 60 + 60 minutes
        _fail(f"arc {a.name!r} lasts {a.minutes:g} minutes; at most {MINUTES[1]:g}")
    return a


def _arc_spec(arc: str, a: Arc, session_min: float, cadence, work, rest, rounds) -> dict:
    """What ``score`` needs to rebuild the arc: the built-in name (or the TOML file's
    absolute path), the parameters given, and the session's minutes."""
    spec = {"arc": arc if arc in BUILTIN and not os.path.isfile(arc) else os.path.abspath(arc)}
    for k, v in (("cadence", cadence), ("work", work), ("rest", rest), ("rounds", rounds)):
        if v is not None:
            spec[k] = v
    spec["minutes"] = round(session_min, 4)
    return spec


def _lib(db: Optional[Path]):
    try:
        return open_library(db)
    except LibraryError as exc:
        _fail(str(exc))


def plot_text(s: str) -> str:
    """A name for the plot: visible, and a '$' literal (matplotlib reads $...$ as maths)."""
    return visible(s).replace("$", r"\$")


def plot_rows(p: Plan) -> tuple[list[dict], list[dict]]:
    """The plot's segments (ramps drawn as steps of ~2.5 min) and entries."""
    segs = []
    for sp in p.timeline.spans:
        seg = sp.segment
        length = sp.end_s - sp.start_s
        ramp = seg.bpm[0] != seg.bpm[1] or seg.energy[0] != seg.energy[1]
        n = max(1, round(length / 150.0)) if ramp else 1
        for k in range(n):
            a = sp.start_s + length * k / n
            b = sp.start_s + length * (k + 1) / n
            bpm, lvl, _ = p.timeline.targets((a + b) / 2.0)
            tol = seg.tolerance_pct / 100.0
            segs.append({"start_min": a / 60.0, "end_min": b / 60.0,
                         "bpm_lo": float(bpm) * (1 - tol), "bpm_hi": float(bpm) * (1 + tol),
                         "energy": float(lvl), "peak": seg.peak,
                         "label": plot_text(seg.name) if k == n // 2 else None})
    ents = []
    for e in p.entries:
        t = e.track
        ents.append({"start_min": e.start_s / 60.0, "end_min": e.end_s / 60.0,
                     "bpm": t.bpm if t.bpm else math.nan,
                     "energy": float(e.level) if e.level is not None else math.nan,
                     "label": plot_text(t.display),
                     "drops_min": [(e.start_s + float(d["time_s"])) / 60.0 for d in t.drops
                                   if isinstance(d, dict) and d.get("time_s") is not None],
                     "half_double": e.half_double})
    return segs, ents


def _print_plan(console: Console, p: Plan, explain: bool) -> None:
    title = (f"{p.arc.name}: {len(p.entries)} tracks, {p.cost.end_s / 60:.1f} min "
             f"(asked {p.timeline.total_s / 60:.0f}), seed {p.seed}")
    tab = Table(title=title, title_justify="left", show_lines=False)
    tab.add_column("time", justify="right")
    tab.add_column("segment")
    if explain:
        tab.add_column("target", no_wrap=True)
        tab.add_column("actual", no_wrap=True)
        tab.add_column("track", max_width=34)
        tab.add_column("why", ratio=1)
    else:
        tab.add_column("track")
        tab.add_column("BPM", justify="right")
        tab.add_column("energy", justify="right")
        tab.add_column("key")
    for e in p.entries:
        t = e.track
        bpm = f"{t.bpm:.0f}" if t.bpm else "?"
        if e.half_double and e.played_bpm:
            bpm += f"→{e.played_bpm:.0f}"
        lvl = f"{e.level:.1f}" if e.level is not None else "?"
        seg = e.segment + (" ▲" if e.peak else "")
        if explain:
            tab.add_row(_mmss(e.start_s), seg,
                        f"{e.target_bpm:.0f} BPM · E{e.target_level:.1f}",
                        f"{bpm} BPM · E{lvl} · {t.camelot or '?'} · {t.style_label or '?'}",
                        t.display, e.why)
        else:
            tab.add_row(_mmss(e.start_s), seg, t.display, bpm, lvl, t.camelot or "?")
    console.print(tab)
    _print_report(console, p.report)
    for w in p.warnings:
        console.print(line(("warning", "yellow"), " ", w), soft_wrap=True)


def _fmt(v, pct: bool = False, nd: int = 1) -> str:
    if v is None:
        return "–"
    return f"{v * 100:.0f} %" if pct else f"{v:.{nd}f}"


def _print_report(console: Console, r: ScoreReport) -> None:
    styles = ", ".join(f"{k} {v:.0%}" for k, v in r.style_shares.items() if v > 0) or "–"
    gap = ("no artist repeats" if r.artist_min_gap is None else
           f"closest repeat {r.artist_min_gap} tracks apart, {r.artist_violations} within 3")
    by = r.artist_spacing_by
    if by and set(by) != {"artist"}:  # say what stood in for missing artist tags
        gap += " (artist spacing by: " + ", ".join(f"{k} {v:.0%}" for k, v in by.items()) + ")"
    console.print(
        f"arc fit: mean |BPM − target| {_fmt(r.bpm_mae)}, energy error {_fmt(r.energy_mae)}; "
        f"transitions within ±6 % BPM {_fmt(r.within_6pct, True)}; Camelot-compatible "
        f"{_fmt(r.camelot_ok, True)}; {gap}; drops on peaks {r.drops_on_peaks}; "
        f"styles {styles}; objective {r.objective:.1f} ({r.objective_per_min:.2f}/min)",
        highlight=False, soft_wrap=True)
    for n in r.notes:
        console.print(f"note: {n}", highlight=False, soft_wrap=True)


def _print_rows(console: Console, r: ScoreReport) -> None:
    """The per-track table: target, actual, deviations, transition, artist spacing."""
    t = Table(box=None, pad_edge=False, show_edge=False)
    for col, just in (("#", "right"), ("track", "left"), ("segment", "left"),
                      ("target", "right"), ("actual", "right"), ("ΔBPM", "right"),
                      ("ΔE", "right"), ("trans.", "right"), ("key", "right"),
                      ("spacing", "left")):
        t.add_column(col, justify=just, overflow="fold" if col == "track" else "ellipsis")
    f = lambda v, fmt: "–" if v is None else format(v, fmt)  # noqa: E731
    pct = lambda v: "–" if v is None else f"{v:.1f} %"  # noqa: E731
    for row in r.rows:
        t.add_row(str(row["position"]), Text(visible(row["track"])),
                  Text(visible(row["segment"])),
                  f"{f(row['target_bpm'], '.0f')} BPM E{f(row['target_energy'], '.1f')}",
                  f"{f(row['bpm'], '.0f')} BPM E{f(row['energy'], '.1f')}",
                  pct(row["bpm_dev_pct"]),
                  f(row["energy_dev"], "+.1f"),
                  "" if row["position"] == 1 else pct(row["transition_pct"]),
                  "" if row["position"] == 1 else f(row["camelot_step"], "d"),
                  row["spacing"] or "ok")
    console.print(t)


@app.command()
def plan(
    arc: str = typer.Option("montage", "--arc", help="montage, hiit, run, lift, warmup, "
                            "cooldown, or an arc .toml file (see docs/arcs.md)."),
    minutes: Optional[float] = minutes_option("Session length in minutes (default: the "
                                              "arc's own, 45 for montage)."),
    cadence: Optional[float] = CADENCE_OPTION,
    work: Optional[float] = WORK_OPTION,
    rest: Optional[float] = REST_OPTION,
    rounds: Optional[int] = ROUNDS_OPTION,
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
    db: Optional[Path] = DB_OPTION,
) -> None:
    """Plan a playlist that follows a session arc, from your library."""
    for o in output:
        if o.suffix.lower() not in OUT_TYPES:
            _fail(f"{o}: unknown playlist type {o.suffix or '(none)'!r}; use "
                  f"{', '.join(OUT_TYPES)}")
    a = _arc(arc, cadence, work, rest, rounds)
    lib = _lib(db)
    console = make_console()
    if explain and not console.is_terminal:
        console = make_console(width=220)  # piped: keep one row per track
    try:
        skip = frozenset(t.id for pl in exclude for path in read_playlist(pl)
                         if (t := lib.get_track(path)) is not None)
        p = make_plan(lib, a, minutes, PlanOptions(seed=seed, avoid_recent=avoid_recent,
                                                   exclude_ids=skip))
        if record and p.entries:
            lib.record_plan([e.track.id for e in p.entries], a.name, seed)
    except (PlanError, ArcError, UnderdogError) as exc:
        _fail(str(exc))
    finally:
        lib.close()
    _print_plan(console, p, explain)
    from ..export.playlists import write_json, write_m3u8, write_xspf

    spec = _arc_spec(arc, a, p.timeline.total_s / 60.0, cadence, work, rest, rounds)

    try:
        for o in output:
            ext = o.suffix.lower()
            if ext in (".m3u8", ".m3u"):
                write_m3u8(p.entries, o, relative_to=relative_to, arc=spec)
            elif ext == ".xspf":
                write_xspf(p.entries, o, title=f"underdog {a.name}")
            else:
                write_json({**p.as_dict(), "arc_spec": spec}, o)
            console.print(f"wrote {o}", highlight=False)
        if plot is not None:
            from ..export.plot import plot_plan

            segs, ents = plot_rows(p)
            plot_plan(segs, ents, plot, title=plot_text(f"underdog {a.name}: {a.description}"))
            console.print(f"wrote {plot}", highlight=False)
    except (UnderdogError, OSError) as exc:
        _fail(str(exc))


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
    minutes: Optional[float] = minutes_option("Session length in minutes (default: the "
                                              "playlist's own length)."),
    cadence: Optional[float] = CADENCE_OPTION,
    work: Optional[float] = WORK_OPTION,
    rest: Optional[float] = REST_OPTION,
    rounds: Optional[int] = ROUNDS_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    format: ScoreFormat = typer.Option(ScoreFormat.table, "--format", "-f",
                                       help="table; json: the report as one JSON document; "
                                       "jsonl: the same on one line."),
    db: Optional[Path] = typer.Option(None, "--db", help="Library database."),
) -> None:
    """Grade a playlist against an arc: fit, transitions, keys, artists, styles, drops;
    then one row per track."""
    from ..export.playlists import read_arc_spec, read_playlist

    try:
        paths = read_playlist(playlist)
        spec = read_arc_spec(playlist) if arc is None else None
    except UnderdogError as exc:
        _fail(str(exc))
    if arc is not None:
        source = "--arc"
    elif spec is not None:
        source = "the playlist's own"
        arc = spec["arc"]
        cadence = cadence if cadence is not None else spec.get("cadence")
        work = work if work is not None else spec.get("work")
        rest = rest if rest is not None else spec.get("rest")
        rounds = rounds if rounds is not None else spec.get("rounds")
        minutes = minutes if minutes is not None else spec.get("minutes")
    else:
        source = "the playlist names none"
        arc = "montage"
    a = _arc(arc, cadence, work, rest, rounds)
    lib = _lib(db)
    tracks, unknown = [], []
    try:
        for p in paths:
            t = lib.get_track(p)
            if t is None or t.status != "ok" or not t.duration_s:
                unknown.append(p)
            else:
                tracks.append(t)
    finally:
        lib.close()
    if not tracks:
        _fail(f"{playlist}: none of its {len(paths)} tracks is an analyzed track of the "
              "library (scan their folder first)")
    total_min = minutes if minutes is not None else sum(t.duration_s for t in tracks) / 60.0
    try:
        r = score_tracks(tracks, a.timeline(total_min), unknown_paths=unknown)
    except ArcError as exc:
        _fail(str(exc))
    console = make_console()
    if as_json or format != ScoreFormat.table:
        from ..export.playlists import jsonable

        one_line = format == ScoreFormat.jsonl and not as_json
        doc = {**r.as_dict(), "arc_source": source}
        sys.stdout.write(json_text(jsonable(doc), indent=None if one_line else 2) + "\n")
        return
    if not console.is_terminal:
        console = make_console(width=200)  # piped: keep one row per track
    console.print(f"{playlist}: {r.tracks} tracks, {r.minutes:.1f} min, graded against the "
                  f"{r.arc} arc ({source}) over {r.session_minutes:.0f} min", highlight=False)
    _print_report(console, r)
    _print_rows(console, r)
    for p in unknown:
        console.print(line(("not in the library", "yellow"), " ", p), soft_wrap=True)
