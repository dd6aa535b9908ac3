"""The arc plot: what the plan asked for against what the tracks give, on one time axis.

Top panel: the target BPM band of each segment (peaks highlighted) and each track's
effective tempo as steps. Bottom panel: target energy against each track's energy. Drops
are ▼ markers on both; short track labels run along the top (an excerpt's with the part
of the track it plays, "(1:02–1:44)"); round starts and ends are vertical lines. Rendered
with matplotlib's Agg canvas directly (no pyplot state), so it is safe in workers and tests.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MultipleLocator
from matplotlib.transforms import offset_copy

from ..fileio import atomic_write
from ..text import mmss

SEGMENT_KEYS = ("start_min", "end_min", "bpm_lo", "bpm_hi", "energy")
ENTRY_KEYS = ("start_min", "end_min", "bpm", "energy")

FIGSIZE = (12.0, 7.0)  # inches
DPI = 110

# Colours (colour-blind safe pairs: blue for "actual", orange for "target/peak").
BAND = "#a6cee3"
PEAK_BAND = "#fdae61"
PEAK_SPAN = "#fee8d0"
TRACK = "#1f4e8c"
TARGET_E = "#e66101"
DROP = "#b2182b"
GRID = "#d9d9d9"
CUE = "#4d4d4d"

TARGET_LW, TARGET_ALPHA = 7.0, 0.4  # a wide soft line: the track's line stays visible on it
LABEL_CHARS = 22
LABEL_ROTATION = 32  # degrees


def effective_bpm(bpm: float, half_double: str | None) -> float:
    """The tempo a track counts at: ``"half"`` halves its BPM, ``"double"`` doubles it."""
    if half_double in (None, "", "none"):
        return float(bpm)
    if half_double == "half":
        return float(bpm) / 2.0
    if half_double == "double":
        return float(bpm) * 2.0
    raise ValueError(f"half_double must be 'half', 'double' or None, not {half_double!r}")


def _check(rows: Sequence[Mapping[str, Any]], keys: tuple[str, ...], what: str) -> None:
    for i, r in enumerate(rows):
        missing = [k for k in keys if r.get(k) is None]
        if missing:
            raise ValueError(f"{what} {i} lacks {', '.join(missing)}: {dict(r)!r}")
        if not float(r["end_min"]) > float(r["start_min"]):
            raise ValueError(f"{what} {i} ends before it starts: {dict(r)!r}")


def _short(label: Any, n: int = LABEL_CHARS) -> str:
    """At most ``n`` characters; a long "Artist - Title" keeps the title, which tells
    tracks apart better."""
    s = " ".join(str(label or "").split())
    if len(s) > n and " - " in s:
        s = s.split(" - ", 1)[1]
    return s if len(s) <= n else s[: n - 1].rstrip() + "…"


def _minute_step(total: float) -> tuple[float, float]:
    """Major and minor tick spacing (minutes) for a plan of ``total`` minutes."""
    for limit, major, minor in ((12, 1, 0.5), (30, 5, 1), (75, 5, 1), (150, 10, 5),
                                (400, 30, 10)):
        if total <= limit:
            return major, minor
    return 60, 15


def plot_plan(segments: Sequence[Mapping[str, Any]], entries: Sequence[Mapping[str, Any]],
              out_png: str | os.PathLike | None, title: str | None = None,
              cues: Sequence[Mapping[str, Any]] = ()) -> Figure:
    """Draw the arc plot and save it as a PNG at ``out_png`` (skip saving when None),
    through a temporary file renamed into place (an OS error: ``OutputError``).

    ``segments``: dicts with ``start_min, end_min, bpm_lo, bpm_hi, energy`` (the energy
    level 1–10) and optionally ``peak`` (bool) and ``label``.
    ``entries``: dicts with ``start_min, end_min, bpm, energy`` (level 1–10) and optionally
    ``label``, ``drops_min`` (drop times in plan minutes, i.e. on the same axis as ``start_min``) and
    ``half_double`` (``"half"``: the track counts at bpm/2; ``"double"``: at bpm×2). The
    effective tempo is plotted, dashed, with a ½×/2× badge. An excerpt has ``span``
    ``(in_s, out_s)``, the part of the track it plays (track seconds), shown in its label.
    ``cues``: round boundaries, dicts with ``at_s`` (session seconds), ``kind``
    (``round_start`` / ``round_end``) and ``round``, drawn as vertical lines.

    Returns the figure (its two axes are ``fig.axes[0]`` BPM and ``fig.axes[1]`` energy)."""
    _check(segments, SEGMENT_KEYS, "segment")
    _check(entries, ENTRY_KEYS, "entry")
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax_bpm, ax_e = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})

    ends = [float(s["end_min"]) for s in segments] + [float(e["end_min"]) for e in entries]
    total = max(ends) if ends else 1.0
    eff = [effective_bpm(e["bpm"], e.get("half_double")) for e in entries]

    _draw_segments(ax_bpm, ax_e, segments, total)
    _draw_tracks(fig, ax_bpm, ax_e, entries, eff)

    # Axes, ticks, limits.
    lo = [float(s["bpm_lo"]) for s in segments] + eff
    hi = [float(s["bpm_hi"]) for s in segments] + eff
    if lo:
        span = max(max(hi) - min(lo), 10.0)
        ax_bpm.set_ylim(min(lo) - 0.12 * span, max(hi) + 0.22 * span)  # headroom for labels
    ax_e.set_ylim(0.5, 11.0)  # energy levels 1–10, with headroom
    ax_e.yaxis.set_major_locator(MultipleLocator(1.0))
    major, minor = _minute_step(total)
    ax_e.set_xlim(0, total)
    ax_e.xaxis.set_major_locator(MultipleLocator(major))
    ax_e.xaxis.set_minor_locator(MultipleLocator(minor))
    ax_e.set_xlabel("time (minutes)")
    ax_bpm.set_ylabel("tempo (BPM)")
    ax_e.set_ylabel("energy level")
    for ax in (ax_bpm, ax_e):
        ax.grid(True, which="major", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        ax.spines["right"].set_visible(False)

    _draw_cues(ax_bpm, ax_e, cues)
    _track_labels(fig, ax_bpm, entries, total)
    _legends(ax_bpm, ax_e, segments, entries, bool(cues))
    if title:
        fig.suptitle(title, fontsize=13, fontweight="bold")
    if out_png is not None:  # all at once: a failed save leaves an older plot intact
        with atomic_write(out_png, "wb") as f:
            fig.savefig(f, dpi=DPI, format="png")
    return fig


def _draw_segments(ax_bpm, ax_e, segments, total: float) -> None:
    fig = ax_bpm.figure
    width_px = FIGSIZE[0] * DPI * 0.85
    for s in segments:
        a, b = float(s["start_min"]), float(s["end_min"])
        peak = bool(s.get("peak"))
        if peak:
            for ax in (ax_bpm, ax_e):
                ax.axvspan(a, b, color=PEAK_SPAN, zorder=0, linewidth=0)
        ax_bpm.fill_between([a, b], float(s["bpm_lo"]), float(s["bpm_hi"]),
                            color=PEAK_BAND if peak else BAND, alpha=0.75 if peak else 0.6,
                            linewidth=0, zorder=1)
        ax_e.plot([a, b], [float(s["energy"])] * 2, color=TARGET_E, linewidth=TARGET_LW,
                  alpha=TARGET_ALPHA, solid_capstyle="butt", zorder=2)
        # Segment name along the top edge, when it fits in the segment's width.
        label = _short(s.get("label"), 18)
        if label:
            seg_px = (b - a) / total * width_px
            fontsize = 8
            if len(label) * fontsize * 0.62 * DPI / 72 <= seg_px:
                ax_bpm.text((a + b) / 2, 0.975, label, transform=ax_bpm.get_xaxis_transform(),
                            ha="center", va="top", fontsize=fontsize,
                            color="#a63603" if peak else "#4d4d4d",
                            fontweight="bold" if peak else "normal", zorder=6)
    # Target energy: connect consecutive segments so the target reads as one line.
    ordered = sorted(segments, key=lambda s: float(s["start_min"]))
    for s0, s1 in zip(ordered, ordered[1:]):
        if math.isclose(float(s0["end_min"]), float(s1["start_min"]), abs_tol=1e-6):
            x = float(s1["start_min"])
            ax_e.plot([x, x], [float(s0["energy"]), float(s1["energy"])], color=TARGET_E,
                      linewidth=1.5, alpha=TARGET_ALPHA, zorder=2)


def _draw_tracks(fig, ax_bpm, ax_e, entries, eff: list[float]) -> None:
    above = {ax: offset_copy(ax.transData, fig=fig, y=7, units="points")
             for ax in (ax_bpm, ax_e)}
    order = sorted(range(len(entries)), key=lambda i: float(entries[i]["start_min"]))
    prev = None
    for i in order:
        e = entries[i]
        a, b = float(e["start_min"]), float(e["end_min"])
        y, en = eff[i], float(e["energy"])
        hd = e.get("half_double")
        style = "--" if hd in ("half", "double") else "-"
        ax_bpm.plot([a, b], [y, y], color=TRACK, linewidth=2.4, linestyle=style,
                    solid_capstyle="butt", zorder=4)
        ax_e.plot([a, b], [en, en], color=TRACK, linewidth=2.4, solid_capstyle="butt",
                  zorder=4)
        if prev is not None and math.isclose(prev[0], a, abs_tol=0.05):
            ax_bpm.plot([a, a], [prev[1], y], color=TRACK, linewidth=1.0, alpha=0.7, zorder=3)
            ax_e.plot([a, a], [prev[2], en], color=TRACK, linewidth=1.0, alpha=0.7, zorder=3)
        prev = (b, y, en)
        for ax in (ax_bpm, ax_e):  # faint track boundaries, to match the labels above
            ax.axvline(a, color="#969696", linewidth=0.5, linestyle=":", zorder=1)
        if hd in ("half", "double"):
            ax_bpm.text(a + 0.08, y, "½×" if hd == "half" else "2×", transform=above[ax_bpm],
                        ha="left", va="bottom", fontsize=8, color=TRACK, fontweight="bold",
                        zorder=6)
        drops = [float(t) for t in (e.get("drops_min") or [])]
        if drops:
            ax_bpm.plot(drops, [y] * len(drops), linestyle="none", marker="v", markersize=8,
                        color=DROP, transform=above[ax_bpm], zorder=5, clip_on=False)
            ax_e.plot(drops, [en] * len(drops), linestyle="none", marker="v", markersize=8,
                      color=DROP, transform=above[ax_e], zorder=5, clip_on=False)


def _track_labels(fig, ax_bpm, entries, total: float) -> None:
    """Short labels at each track's middle on a top axis; thinned when too dense to read."""
    if not entries:
        return
    order = sorted(entries, key=lambda e: float(e["start_min"]))
    mids = [(float(e["start_min"]) + float(e["end_min"])) / 2 for e in order]
    labels = [f"{n}. {_short(e.get('label'))}{_span(e.get('span'))}" if e.get("label")
              else f"{n}.{_span(e.get('span'))}" for n, e in enumerate(order, start=1)]
    width_px = FIGSIZE[0] * DPI * 0.85
    fontsize = 8
    need_px = fontsize * DPI / 72 * 1.3 / math.sin(math.radians(LABEL_ROTATION))
    gaps = [(m1 - m0) / total * width_px for m0, m1 in zip(mids, mids[1:])]
    step = 1
    while gaps and min(sum(gaps[i:i + step]) for i in range(0, len(gaps), step)) < need_px \
            and step < len(mids):
        step += 1
    top = ax_bpm.secondary_xaxis("top")
    top.set_xticks(mids[::step], labels[::step])
    top.tick_params(axis="x", length=0, pad=2, labelsize=fontsize)
    for t in top.get_xticklabels():
        t.set_rotation(LABEL_ROTATION)
        t.set_ha("left")
        t.set_rotation_mode("anchor")
    top.spines["top"].set_visible(False)


def _span(span: Any) -> str:
    """" (1:02–1:44)" for an excerpt's (in_s, out_s); "" for a whole track."""
    if not span:
        return ""
    return f" ({mmss(float(span[0]))}–{mmss(float(span[1]))})"


def _draw_cues(ax_bpm, ax_e, cues) -> None:
    """Round boundaries: a solid line at each round's start (``R1`` above it), dashed at
    its end."""
    for c in cues:
        x = float(c["at_s"]) / 60.0
        start = c.get("kind") != "round_end"
        for ax in (ax_bpm, ax_e):
            ax.axvline(x, color=CUE, linewidth=1.1 if start else 0.9,
                       linestyle="-" if start else "--", alpha=0.8, zorder=3)
        if start and c.get("round"):
            ax_e.text(x, 0.02, f"R{c['round']}", transform=ax_e.get_xaxis_transform(),
                      ha="left", va="bottom", fontsize=7, color=CUE, zorder=6)


def _legends(ax_bpm, ax_e, segments, entries, cues: bool = False) -> None:
    h_bpm = [Patch(color=BAND, alpha=0.6, label="target BPM band")]
    if any(s.get("peak") for s in segments):
        h_bpm.append(Patch(color=PEAK_BAND, alpha=0.75, label="peak target"))
    h_bpm.append(Line2D([], [], color=TRACK, linewidth=2.4, label="track tempo"))
    if any(e.get("half_double") in ("half", "double") for e in entries):
        h_bpm.append(Line2D([], [], color=TRACK, linewidth=2.4, linestyle="--",
                            label="half/double time\n(effective tempo)"))
    has_drops = any(e.get("drops_min") for e in entries)
    h_e = [Line2D([], [], color=TARGET_E, linewidth=TARGET_LW, alpha=TARGET_ALPHA,
                  label="target energy"),
           Line2D([], [], color=TRACK, linewidth=2.4, label="track energy")]
    if has_drops:
        drop = Line2D([], [], color=DROP, marker="v", linestyle="none", markersize=8,
                      label="drop")
        h_bpm.append(drop)
        h_e.append(drop)
    if cues:
        h_e += [Line2D([], [], color=CUE, linewidth=1.1, label="round start"),
                Line2D([], [], color=CUE, linewidth=0.9, linestyle="--", label="round end")]
    for ax, handles in ((ax_bpm, h_bpm), (ax_e, h_e)):
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0, fontsize=8, frameon=False)


def plot_text(s: str) -> str:
    """A name for the plot: visible, and a '$' literal (matplotlib reads $...$ as maths)."""
    from ..text import visible

    return visible(s).replace("$", r"\$")


def plot_segments(timeline: Any) -> list[dict]:
    """The plot's segment rows of an arc's ``Timeline``: ramps drawn as steps of ~2.5 min;
    BPM band, energy level 1–10."""
    segs = []
    for sp in timeline.spans:
        seg = sp.segment
        length = sp.end_s - sp.start_s
        ramp = seg.bpm[0] != seg.bpm[1] or seg.energy[0] != seg.energy[1]
        n = max(1, round(length / 150.0)) if ramp else 1
        for k in range(n):
            a = sp.start_s + length * k / n
            b = sp.start_s + length * (k + 1) / n
            bpm, lvl, _ = timeline.targets((a + b) / 2.0)
            tol = seg.tolerance_pct / 100.0
            segs.append({"start_min": a / 60.0, "end_min": b / 60.0,
                         "bpm_lo": float(bpm) * (1 - tol), "bpm_hi": float(bpm) * (1 + tol),
                         "energy": float(lvl), "peak": seg.peak,
                         "label": plot_text(seg.name) if k == n // 2 else None})
    return segs


def plot_rows(p: Any) -> tuple[list[dict], list[dict]]:
    """The plot's rows of a plan (``planning.sequencer.Plan``): its segments
    (:func:`plot_segments`) and its entries (effective BPM, level, drops in plan minutes),
    ready for :func:`plot_plan`."""
    segs = plot_segments(p.timeline)
    ents = []
    for e in p.entries:
        t = e.track
        span = (e.in_s, e.out_s) if getattr(e, "in_s", None) is not None else None
        if span:  # an excerpt: the drop it plays, where the plan lands it
            at = getattr(e, "drop_at_s", None)
            drops = [at / 60.0] if at is not None else []
        else:
            drops = [(e.start_s + float(d["time_s"])) / 60.0 for d in t.drops
                     if isinstance(d, dict) and d.get("time_s") is not None]
        ents.append({"start_min": e.start_s / 60.0, "end_min": e.end_s / 60.0,
                     "bpm": (getattr(e, "tempo_bpm", None) or t.bpm) if span else
                     (t.bpm if t.bpm else math.nan),
                     "energy": float(e.level) if e.level is not None else math.nan,
                     "label": plot_text(t.display), "span": span,
                     "drops_min": drops,
                     "half_double": None if span else e.half_double})
    return segs, ents


def plot_cues(p: Any) -> list[dict]:
    """The round boundaries of a plan's timeline (none where it has no rounds)."""
    cues = getattr(p.timeline, "cues", None)
    return list(cues()) if cues else []


def score_entries(rows: Sequence[Mapping[str, Any]], tracks: Sequence[Any], end_s: float,
                  tempi: Sequence[float | None] | None = None) -> list[dict]:
    """The plot's entries of a graded playlist (``underdog score``): one per score row,
    where score placed it (from its ``start_s`` to the next row's, the last to ``end_s``,
    session seconds), at the tempo it plays (an excerpt: its ``tempo_bpm``; a whole track:
    its own, ½×/2× where score counted it so), its energy level, an excerpt's span
    (``in_s``, ``out_s``) and drop (``drop_at_s``), a whole track's drops from its start.
    ``tracks``: the library tracks of the rows, in order; ``tempi``: the tempo each
    excerpt is stretched to (None: its own), as score was given them."""
    ents = []
    starts = [float(r.get("start_s") or 0.0) for r in rows]
    for k, (r, t) in enumerate(zip(rows, tracks)):
        a = starts[k]
        b = starts[k + 1] if k + 1 < len(rows) else float(end_s)
        span = (r["in_s"], r["out_s"]) if r.get("in_s") is not None else None
        if span:
            drops = [r["drop_at_s"] / 60.0] if r.get("drop_at_s") is not None else []
        else:
            drops = [(a + float(d["time_s"])) / 60.0 for d in (t.drops or [])
                     if isinstance(d, dict) and d.get("time_s") is not None
                     and a + float(d["time_s"]) < b]
        tempo = tempi[k] if tempi is not None and span else None
        bpm, played = tempo or t.bpm, r.get("bpm")
        hd = None
        if not span and bpm and played:  # score's played tempo: own, half or double
            hd = min((None, "half", "double"),
                     key=lambda h: abs(effective_bpm(bpm, h) - float(played)))
        ents.append({"start_min": a / 60.0, "end_min": max(b, a + 1e-3) / 60.0,
                     "bpm": float(bpm) if bpm else math.nan,
                     "energy": float(r["energy"]) if r.get("energy") is not None else math.nan,
                     "label": plot_text(t.display), "span": span, "drops_min": drops,
                     "half_double": hd})
    return ents
