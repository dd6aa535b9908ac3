"""Printing shared by several commands: plans, score reports, times. Public names only,
so no command module reaches into another's private helpers."""

from __future__ import annotations

from typing import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..planning.score import ScoreReport
from ..planning.sequencer import Plan
from ..text import mmss
from .output import line, visible


def excerpt_cells(in_s, out_s, drop_at_s) -> tuple[str, str]:
    """("0:30–0:59", the part of the track an excerpt plays; "1:02", the session time its
    drop lands), "–" for what it lacks; ("whole", "–") for a whole track."""
    span = "whole" if in_s is None or out_s is None else f"{mmss(in_s)}–{mmss(out_s)}"
    return span, ("–" if drop_at_s is None else mmss(drop_at_s))


def cue_text(c: dict) -> str:
    """"round 2 starts" / "round 2 ends"."""
    what = "ends" if c.get("kind") == "round_end" else "starts"
    return f"┄ round {c.get('round', '?')} {what}"


def print_plan(console: Console, p: Plan, explain: bool) -> None:
    """The plan table (``explain``: target, actual and why per track), its score report
    and its warnings. An excerpt plan adds the part of each track it plays (track time),
    where its drop lands (session time), and a row at each round's start and end. BPM is
    the track's own, then "→" the tempo it plays at where that differs (half/double time,
    an excerpt stretched to its slot), or the ends of the arc's ramp it rides (``PlanEntry.bpm_text``)."""
    title = (f"{p.arc.name}: {len(p.entries)} tracks, {p.cost.end_s / 60:.1f} min "
             f"(asked {p.timeline.total_s / 60:.0f}), seed {p.seed}")
    tab = Table(title=title, title_justify="left", show_lines=False)
    tab.add_column("time", justify="right")
    tab.add_column("segment")
    excerpts = any(getattr(e, "in_s", None) is not None for e in p.entries)
    if excerpts:
        tab.add_column("excerpt", no_wrap=True)
        tab.add_column("drop", justify="right")
    cues = list(p.timeline.cues()) if hasattr(p.timeline, "cues") else []
    blank = [""] * (4 + 2 * excerpts)  # the cells after time and segment
    if explain:
        tab.add_column("target", no_wrap=True)
        tab.add_column("actual", no_wrap=True)
        tab.add_column("track", max_width=34)
        tab.add_column("why", ratio=1)
    else:
        tab.add_column("track")
        # never cut: a ramp's "127→131↗136" is wider than a tempo; the track names wrap
        widest = max((len(e.bpm_text) for e in p.entries), default=3)
        tab.add_column("BPM", justify="right", no_wrap=True, min_width=widest)
        tab.add_column("energy", justify="right")
        tab.add_column("key")
    for e in p.entries:
        while cues and cues[0]["at_s"] <= e.start_s + 0.5:
            c = cues.pop(0)
            tab.add_row(mmss(c["at_s"]), Text(cue_text(c), style="dim"), *blank)
        t = e.track
        ex = list(excerpt_cells(e.in_s, e.out_s, e.drop_at_s)) if excerpts else []
        bpm = e.bpm_text
        lvl = f"{e.level:.1f}" if e.level is not None else "?"
        seg = e.segment + (" ▲" if e.peak else "")
        if explain:
            tab.add_row(mmss(e.start_s), seg, *ex,
                        f"{e.target_bpm:.0f} BPM · E{e.target_level:.1f}",
                        f"{bpm} BPM · E{lvl} · {t.camelot or '?'} · {t.style_label or '?'}",
                        t.display, e.why)
        else:
            tab.add_row(mmss(e.start_s), seg, *ex, t.display, bpm, lvl, t.camelot or "?")
    for c in cues:
        tab.add_row(mmss(c["at_s"]), Text(cue_text(c), style="dim"), *blank)
    console.print(tab)
    print_score_report(console, p.report, said=p.warnings)
    for w in p.warnings:
        console.print(line(("warning", "yellow"), " ", w), soft_wrap=True)


def fmt(v, pct: bool = False, nd: int = 1) -> str:
    """A number for a table: "–" when unknown, ``pct``: as a whole percentage."""
    if v is None:
        return "–"
    return f"{v * 100:.0f} %" if pct else f"{v:.{nd}f}"


def print_score_report(console: Console, r: ScoreReport, said: Sequence[str] = ()) -> None:
    """One summary line of a score report (fit, transitions, keys, artists, drops,
    styles, objective), then its notes (but those a line of ``said`` already holds, such
    as a plan's warnings printed after it)."""
    styles = ", ".join(f"{k} {v:.0%}" for k, v in r.style_shares.items() if v > 0) or "–"
    gap = ("no artist repeats" if r.artist_min_gap is None else
           f"closest repeat {r.artist_min_gap} tracks apart, {r.artist_violations} within 3")
    by = r.artist_spacing_by
    if by and set(by) != {"artist"}:  # say what stood in for missing artist tags
        gap += " (artist spacing by: " + ", ".join(f"{k} {v:.0%}" for k, v in by.items()) + ")"
    own = getattr(r, "bpm_mae_own", None)  # an excerpt plan's, before stretching
    bpm = fmt(r.bpm_mae) + ("" if own is None else f" played ({fmt(own)} own)")
    console.print(
        f"arc fit: mean |BPM − target| {bpm}, energy error {fmt(r.energy_mae)}; "
        f"transitions within ±6 % BPM {fmt(r.within_6pct, True)}; Camelot-compatible "
        f"{fmt(r.camelot_ok, True)}; {gap}; drops on peaks {r.drops_on_peaks}; "
        f"styles {styles}; objective {r.objective:.1f} ({r.objective_per_min:.2f}/min)",
        highlight=False, soft_wrap=True)
    for n in r.notes:
        if not any(n in w for w in said):
            console.print(f"note: {n}", highlight=False, soft_wrap=True)


def print_score_rows(console: Console, r: ScoreReport) -> None:
    """The per-track table: target, actual, deviations, transition, artist spacing; for a
    playlist of excerpts, each one's span (track time) and drop (session time); then the
    arc's round cues."""
    t = Table(box=None, pad_edge=False, show_edge=False)
    excerpts = any("in_s" in row for row in r.rows)
    cols = (("excerpt", "left"), ("drop", "right")) if excerpts else ()
    for col, just in (("#", "right"), ("track", "left"), *cols, ("segment", "left"),
                      ("target", "right"), ("actual", "right"), ("ΔBPM", "right"),
                      ("ΔE", "right"), ("trans.", "right"), ("key", "right"),
                      ("spacing", "left")):
        t.add_column(col, justify=just, overflow="fold" if col == "track" else "ellipsis")
    f = lambda v, spec: "–" if v is None else format(v, spec)  # noqa: E731
    pct = lambda v: "–" if v is None else f"{v:.1f} %"  # noqa: E731
    for row in r.rows:
        ex = excerpt_cells(row.get("in_s"), row.get("out_s"), row.get("drop_at_s")) \
            if excerpts else ()
        t.add_row(str(row["position"]), Text(visible(row["track"])), *ex,
                  Text(visible(row["segment"])),
                  f"{f(row['target_bpm'], '.0f')} BPM E{f(row['target_energy'], '.1f')}",
                  f"{f(row['bpm'], '.0f')} BPM E{f(row['energy'], '.1f')}",
                  pct(row["bpm_dev_pct"]),
                  f(row["energy_dev"], "+.1f"),
                  "" if row["position"] == 1 else pct(row["transition_pct"]),
                  "" if row["position"] == 1 else f(row["camelot_step"], "d"),
                  row["spacing"] or "ok")
    console.print(t)
    if r.cues:
        console.print(f"rounds: {rounds_text(r.cues)}", highlight=False)


def rounds_text(cues: list[dict]) -> str:
    """"1 0:30–1:30, 2 2:00–3:00": each round's start and end (session time)."""
    starts = {c.get("round"): c["at_s"] for c in cues if c.get("kind") != "round_end"}
    ends = {c.get("round"): c["at_s"] for c in cues if c.get("kind") == "round_end"}
    return ", ".join(f"{n} {mmss(a)}–{mmss(ends[n])}" if n in ends else f"{n} from {mmss(a)}"
                     for n, a in starts.items())
