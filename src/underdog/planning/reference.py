"""Learn a reference soundtrack's logic and rebuild it from the library.

Pure: this module learns from track records and never opens the library, reads a file
or decodes audio.

1. **Load** (``underdog.app.reference``, not here): an M3U/M3U8/XSPF playlist, a folder of
   audio files, or a tracklist resolved through the soundtrack matcher becomes a
   :class:`Reference` of tracks (stored analyses, or files analyzed on the fly).
2. **Learn** (:func:`learn`): the effective tempo (log2 BPM, octave-folded so half/double
   time counts as one tempo family) and the energy level over normalized time, smoothed,
   turned into a handful of arc segments by a piecewise-linear fit; style preferences per
   segment and share bounds for the session; peaks where energy is high; plus the
   major/minor share and the transition statistics (reported, and written as comments).
3. **Plan** (``underdog.app.planning.like``) with the same sequencer as ``underdog plan``
   (reference tracks left out by default, :func:`exclusion_ids`), beside the built-in
   ``montage`` arc and a seeded random pick of equal length (:func:`random_pick`).
4. **Measure** (:func:`distances`): Wasserstein distances of the effective-tempo and energy
   distributions, the style-share total variation, and the RMSE of the tempo and energy
   curves over normalized time (50 points). Every distribution is weighted by play time.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.stats import wasserstein_distance

from ..errors import UnderdogError
from ..models import Track
from .arcs import BPM_RANGE, KNOWN_STYLES, Arc, Segment, arc_to_toml, parse_toml
from ..theory import fold_octaves as theory_fold, wheel_coords, wheel_steps
from .score import TRANSITION_OK_PCT, NO_ARTIST, track_level
from .sequencer import Plan, PlanOptions

CURVE_POINTS = 50          # the arc-shape error compares curves at this many points
CURVE_SIGMA = 0.04         # smoothing of every curve (share of the session)
FIT_POINTS = 100           # grid of the piecewise-linear segment fit
MAX_SEGMENTS = 6
SEGMENT_PENALTY = 0.06     # per extra segment, in mean squared (scaled) error
TEMPO_SCALE = 0.1          # octaves that weigh like one energy level in the fit
STYLE_SLACK = 0.15         # learned session bounds: the reference's share ± this
MIN_TRACK_S = PlanOptions().min_track_s


class UnusableReference(UnderdogError):
    """A reference that cannot be used: nothing readable in it, or it cannot be read."""


# ---------------------------------------------------------------- loading

@dataclass
class Reference:
    """The reference's tracks in order, and what could not be used."""

    source: str
    kind: str                                  # playlist | folder | tracklist
    tracks: list[Track]
    from_library: int = 0                      # tracks with a stored analysis
    analyzed: int = 0                          # tracks analyzed on the fly
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    missing: list[str] = field(default_factory=list)   # tracklist entries not found
    order: str = ""                            # how the tracks were put in order

    @property
    def minutes(self) -> float:
        return sum(t.duration_s or 0.0 for t in self.tracks) / 60.0

    @property
    def library_ids(self) -> set[int]:
        return {t.id for t in self.tracks if t.id is not None}

    @property
    def name(self) -> str:
        base = os.path.basename(os.path.normpath(self.source))
        return os.path.splitext(base)[0] if self.kind != "folder" else base


# ---------------------------------------------------------------- features

def tempo_class(log2_bpm: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The centre of a list's tempo family, in log2 BPM: the circular mean of log2 BPM
    mod 1 (so half/double time agree), placed in the octave of the weighted median."""
    x = np.asarray(log2_bpm, dtype=np.float64)
    ok = np.isfinite(x)
    if not ok.any():
        return math.nan
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    ang = 2 * np.pi * x[ok]
    phase = math.atan2(float(np.sum(w[ok] * np.sin(ang))),
                       float(np.sum(w[ok] * np.cos(ang)))) / (2 * np.pi)
    med = _wmedian(x[ok], w[ok])
    return phase + round(med - phase)


def fold_octaves(log2_bpm: np.ndarray, center: float | None = None) -> np.ndarray:
    """Effective tempo: every log2 BPM moved by whole octaves into the half-open octave
    around ``center`` (default: the list's own :func:`tempo_class`), so a 70-BPM track in
    a 140 family counts as 140 (half time) while a list of 70s stays at 70
    (:func:`underdog.theory.fold_octaves`). NaN stays NaN."""
    x = np.asarray(log2_bpm, dtype=np.float64)
    if center is None:
        center = tempo_class(x)
    if not math.isfinite(center):
        return x.copy()
    return theory_fold(x, center)


def _wmedian(x: np.ndarray, w: np.ndarray) -> float:
    o = np.argsort(x, kind="stable")
    cw = np.cumsum(w[o])
    return float(x[o][np.searchsorted(cw, 0.5 * cw[-1])])


@dataclass
class Profile:
    """Per-track features of an ordered list, and where each track sits in normalized time."""

    dur: np.ndarray
    raw_log2: np.ndarray       # log2 BPM as analyzed
    eff_log2: np.ndarray       # octave-folded (effective) log2 BPM
    level: np.ndarray          # energy level 1–10
    label: list[str | None]
    camelot: list[str | None]
    t0: np.ndarray             # start, share of the session
    t1: np.ndarray             # end
    center: float              # the tempo family everything is folded around (log2 BPM)

    def __len__(self) -> int:
        return len(self.dur)


def profile(tracks: Sequence[Track], center: float | None = None) -> Profile:
    """Features of ``tracks``; tempi fold around ``center`` (default: their own family)."""
    tracks = [t for t in tracks if t.duration_s and t.duration_s > 0]
    dur = np.array([float(t.duration_s) for t in tracks])
    raw = np.array([math.log2(t.bpm) if t.bpm and t.bpm > 0 else math.nan for t in tracks])
    c = tempo_class(raw, dur) if center is None else center
    eff = fold_octaves(raw, c)
    lvl = np.array([track_level(t) for t in tracks])
    edges = np.concatenate([[0.0], np.cumsum(dur)]) / max(float(dur.sum()), 1e-9)
    return Profile(dur, raw, eff, lvl, [t.style_label for t in tracks],
                   [t.camelot for t in tracks], edges[:-1], edges[1:], c)


def step_curve(p: Profile, values: np.ndarray, n: int, sigma: float = CURVE_SIGMA
               ) -> np.ndarray:
    """``values`` (one per track) as played over normalized time, at n points, smoothed
    with a Gaussian of ``sigma`` (share of the session). Unknown values are filled from
    the known ones (nearest in time)."""
    x = (np.arange(n) + 0.5) / n
    k = np.clip(np.searchsorted(p.t1, x, side="right"), 0, len(p) - 1)
    v = np.asarray(values, dtype=np.float64)[k]
    ok = np.isfinite(v)
    if not ok.any():
        return np.full(n, np.nan)
    if not ok.all():
        v = np.interp(x, x[ok], v[ok])
    return gaussian_filter1d(v, sigma * n, mode="nearest") if sigma > 0 else v


def style_shares(p: Profile, by_time: bool = True) -> dict[str, float]:
    w = p.dur if by_time else np.ones(len(p))
    tot = float(w.sum()) or 1.0
    out = {s: float(sum(wi for wi, lab in zip(w, p.label) if lab == s)) / tot
           for s in KNOWN_STYLES}
    unk = 1.0 - sum(out.values())
    if unk > 1e-9:
        out["unknown"] = unk
    return out


def transition_stats(p: Profile) -> dict:
    """Typical BPM step (half/double counted) and Camelot moves between neighbours."""
    if len(p) < 2:
        return {"bpm_step_median_pct": None, "within_6pct": None, "camelot": {}}
    r = np.abs(np.diff(p.raw_log2))
    r = np.minimum(r, np.abs(r - 1.0))              # half/double counts as no change
    pct = (np.power(2.0, r) - 1.0) * 100.0
    pct = pct[np.isfinite(pct)]
    cam = [wheel_coords(c) for c in p.camelot]
    d = wheel_steps([c[0] for c in cam[:-1]], [c[1] for c in cam[:-1]],
                         [c[0] for c in cam[1:]], [c[1] for c in cam[1:]])
    d = d[d >= 0]
    moves = {}
    if len(d):
        moves = {"same key": float(np.mean(d == 0)), "neighbour": float(np.mean(d == 1)),
                 "2 steps": float(np.mean(d == 2)), "3+ steps": float(np.mean(d >= 3))}
    return {"bpm_step_median_pct": float(np.median(pct)) if len(pct) else None,
            "within_6pct": float(np.mean(pct <= TRANSITION_OK_PCT)) if len(pct) else None,
            "camelot": moves}


def minor_share(p: Profile) -> float | None:
    """Share of play time in minor keys (Camelot A), among tracks with a known key."""
    cam = [wheel_coords(c) for c in p.camelot]
    known = np.array([c[0] >= 0 for c in cam])
    if not known.any():
        return None
    minor = np.array([c[1] == 0 for c in cam])
    return float(p.dur[known & minor].sum() / p.dur[known].sum())


# ---------------------------------------------------------------- learning

def _line_sse(y: np.ndarray) -> np.ndarray:
    """SSE[a, b]: squared error of the least-squares line through y[a:b] (b exclusive)."""
    n = len(y)
    x = np.arange(n, dtype=np.float64)
    c = lambda v: np.concatenate([[0.0], np.cumsum(v)])  # noqa: E731
    S1, Sx, Sxx, Sy, Sxy, Syy = c(np.ones(n)), c(x), c(x * x), c(y), c(x * y), c(y * y)
    a = np.arange(n + 1)[:, None]
    b = np.arange(n + 1)[None, :]
    m = S1[b] - S1[a]
    sx, sxx, sy, sxy, syy = (S[b] - S[a] for S in (Sx, Sxx, Sy, Sxy, Syy))
    with np.errstate(invalid="ignore", divide="ignore"):
        vxx = sxx - sx * sx / m
        vxy = sxy - sx * sy / m
        vyy = syy - sy * sy / m
        sse = np.where(vxx > 1e-12, vyy - vxy * vxy / vxx, vyy)
    return np.where(b > a, np.maximum(sse, 0.0), np.inf)


def fit_segments(curves: Sequence[np.ndarray], min_len: int, max_k: int = MAX_SEGMENTS,
                 penalty: float = SEGMENT_PENALTY) -> list[tuple[int, int]]:
    """Breakpoints of a piecewise-linear fit of the curves (same length, already scaled):
    exact dynamic programming for each segment count, then the count that minimizes
    mean squared error + ``penalty`` × segments. Returns [(start, end)] grid indices."""
    n = len(curves[0])
    cost = sum(_line_sse(c) for c in curves)
    ln = np.arange(n + 1)[None, :] - np.arange(n + 1)[:, None]
    cost = np.where(ln >= min_len, cost, np.inf)
    max_k = max(1, min(max_k, n // max(min_len, 1)))
    D = np.full((max_k + 1, n + 1), np.inf)
    back = np.zeros((max_k + 1, n + 1), np.int64)
    D[0, 0] = 0.0
    for k in range(1, max_k + 1):
        tot = D[k - 1][:, None] + cost                 # [a, b]
        back[k] = np.argmin(tot, axis=0)
        D[k] = tot[back[k], np.arange(n + 1)]
    scores = [D[k, n] / n + penalty * k if np.isfinite(D[k, n]) else np.inf
              for k in range(1, max_k + 1)]
    k = int(np.argmin(scores)) + 1
    out, b = [], n
    for kk in range(k, 0, -1):
        a = int(back[kk, b])
        out.append((a, b))
        b = a
    return out[::-1]


def _split_at_highs(spans: list[tuple[int, int]], energy: np.ndarray, n: int, high: float,
                    min_len: int) -> list[tuple[int, int]]:
    """Split a segment whose fitted energy ramps across ``high`` where it crosses, so that
    the high part can be a peak (a build's top, a cool-down's start)."""
    out = []
    for a, b in spans:
        e0, e1 = _line(energy, a, b, n)
        if (e0 < high <= e1 or e1 < high <= e0) and len(spans) + len(out) < 2 * MAX_SEGMENTS:
            cut = a + int(round((b - a) * (high - e0) / (e1 - e0)))
            if cut - a >= min_len and b - cut >= min_len:
                out += [(a, cut), (cut, b)]
                continue
        out.append((a, b))
    return out


def _line(y: np.ndarray, a: int, b: int, n: int) -> tuple[float, float]:
    """The fitted line's values at the segment's edges (normalized times a/n and b/n)."""
    x = (np.arange(a, b) + 0.5) / n
    if b - a >= 2:
        slope, icpt = np.polyfit(x, y[a:b], 1)
    else:
        slope, icpt = 0.0, float(y[a])
    return float(icpt + slope * a / n), float(icpt + slope * b / n)


TRACK_SPAN = 1.5   # learned track lengths: the reference's 10th–90th percentile, widened ×/÷ this


def track_window(dur_s: np.ndarray) -> tuple[float, float]:
    """The track lengths (minutes) a rebuild may use: like the reference's own."""
    lo, hi = np.percentile(dur_s, [10, 90]) / 60.0
    return (round(max(0.1, lo / TRACK_SPAN), 2), round(min(120.0, hi * TRACK_SPAN), 2))


@dataclass
class Learned:
    """What a reference teaches: an arc (plans with it) and the statistics behind it."""

    arc: Arc
    toml: str                    # arc_to_toml + comments; loads back to ``arc``
    stats: dict


def _round_to(v: float, step: float) -> float:
    return round(round(v / step) * step, 4)


def _segment_name(i: int, segs: list[tuple[float, float, bool]], peak_no: int) -> str:
    e0, e1, peak = segs[i]
    mean = (e0 + e1) / 2
    if peak:
        return f"peak {peak_no}"
    prev = (sum(segs[i - 1][:2]) / 2) if i > 0 else None
    nxt = (sum(segs[i + 1][:2]) / 2) if i + 1 < len(segs) else None
    if e1 - e0 >= 1.0:
        return "open" if i == 0 and e0 < 5 else "build"
    if e0 - e1 >= 1.0:
        return "cool down" if i == len(segs) - 1 else "ease off"
    if prev is not None and nxt is not None and mean < prev - 0.5 and mean < nxt - 0.5:
        return "valley"
    return "open" if i == 0 else ("close" if i == len(segs) - 1 else "steady")


def learn(ref: Reference, name: str | None = None) -> Learned:
    """The arc and statistics of a reference (see the module docstring)."""
    p = profile(ref.tracks)
    if len(p) == 0:
        raise UnusableReference(f"{ref.source}: no track with a duration to learn from")
    n = FIT_POINTS
    share_med = float(np.median(p.dur)) / float(p.dur.sum())
    tempo = step_curve(p, p.eff_log2, n)
    energy = step_curve(p, p.level, n)
    if not np.isfinite(tempo).all():
        raise UnusableReference(f"{ref.source}: no track of the reference has a known tempo")
    if not np.isfinite(energy).all():
        energy = np.full(n, 5.0)
    min_len = max(4, int(round(0.5 * share_med * n)))
    spans = fit_segments([tempo / TEMPO_SCALE, energy], min_len,
                         max_k=min(MAX_SEGMENTS, len(p)))
    e_mean = float(np.mean(energy))
    spans = _split_at_highs(spans, energy, n, max(7.0, e_mean + 0.5), min_len)
    raw_segs, peaks = [], []
    for a, b in spans:
        e0, e1 = (min(max(v, 1.0), 10.0) for v in _line(energy, a, b, n))
        m = (e0 + e1) / 2
        peaks.append(m >= 7.0 and m >= e_mean + 0.5)
        raw_segs.append((e0, e1))
    if not any(peaks):  # the highest stretch of an energetic reference is still a peak
        means = [(e0 + e1) / 2 for e0, e1 in raw_segs]
        j = int(np.argmax(means))
        if means[j] >= 7.5 and len(spans) > 1:
            peaks[j] = True
    labelled = [(e0, e1, pk) for (e0, e1), pk in zip(raw_segs, peaks)]
    segments, seg_stats, peak_no = [], [], 0
    for i, (a, b) in enumerate(spans):
        t0, t1 = _line(tempo, a, b, n)
        e0, e1 = raw_segs[i]
        lo, hi = a / n, b / n
        # Reference tracks overlapping the segment, weighted by the overlap.
        ov = np.clip(np.minimum(p.t1, hi) - np.maximum(p.t0, lo), 0.0, None)
        inside = ov > 1e-9
        bpm0, bpm1 = (min(max(2.0 ** v, BPM_RANGE[0]), BPM_RANGE[1]) for v in (t0, t1))
        if abs(t1 - t0) < math.log2(1.02):
            bpm0 = bpm1 = 2.0 ** ((t0 + t1) / 2)
        if abs(e1 - e0) < 0.3:
            e0 = e1 = (e0 + e1) / 2
        # Tolerance: how far the reference's own tracks stray from the line (4–10 %).
        x_mid = (p.t0 + p.t1) / 2
        fit_at = t0 + (t1 - t0) * np.clip((x_mid - lo) / max(hi - lo, 1e-9), 0, 1)
        res = (p.eff_log2 - fit_at)[inside & np.isfinite(p.eff_log2)]
        w_in = ov[inside & np.isfinite(p.eff_log2)]
        rms_pct = (float(np.sqrt(np.average(res ** 2, weights=w_in))) * math.log(2) * 100
                   if len(res) else 6.0)
        tol = float(np.clip(round(rms_pct), 4.0, 10.0))
        # Half/double counts where the reference itself plays tracks in the other octave.
        folded = np.abs(p.eff_log2 - p.raw_log2) > 0.5
        hd_share = float(np.sum(ov[inside & folded]) / max(np.sum(ov[inside]), 1e-9))
        half_double = hd_share >= 0.2
        labs: dict[str, float] = {}
        for w_i, lab in zip(ov, p.label):
            if w_i > 1e-9 and lab in KNOWN_STYLES:
                labs[lab] = labs.get(lab, 0.0) + float(w_i)
        tot = sum(labs.values())
        style = {s: _round_to(v / tot, 0.05) for s, v in sorted(labs.items(),
                                                                  key=lambda kv: -kv[1])
                 if tot and v / tot >= 0.1}
        style = {s: v for s, v in style.items() if v > 0}
        peak = peaks[i]
        if peak:
            peak_no += 1
        segments.append(Segment(
            name=_segment_name(i, labelled, peak_no), share=round((b - a) / n, 3),
            bpm=(_round_to(bpm0, 0.5), _round_to(bpm1, 0.5)),
            energy=(_round_to(e0, 0.1), _round_to(e1, 0.1)), tolerance_pct=tol,
            half_double=half_double, style=style, peak=peak))
        seg_stats.append({"tracks": int(inside.sum()), "tempo_rms_pct": rms_pct,
                          "half_double_share": hd_share})
    counts = style_shares(p, by_time=False)
    st_min, st_max = {}, {}
    for s in KNOWN_STYLES:
        sh = counts.get(s, 0.0)
        hi_b = _round_to(min(1.0, sh + STYLE_SLACK), 0.05)
        lo_b = _round_to(max(0.0, sh - STYLE_SLACK), 0.05)
        if hi_b < 1.0:
            st_max[s] = hi_b
        if lo_b >= 0.05:
            st_min[s] = lo_b
    nm = name or f"like {ref.name}"
    arc = Arc(nm, segments, description=f"learned from {ref.name} ({len(p)} tracks, "
              f"{ref.minutes:.1f} min)", minutes=round(max(ref.minutes, 1.0), 2),
              style_min=st_min, style_max=st_max, track_minutes=track_window(p.dur))
    bpm_eff = np.power(2.0, p.eff_log2)
    ok = np.isfinite(bpm_eff)
    stats = {
        "tracks": len(p), "minutes": ref.minutes,
        "tempo_quartiles": (np.percentile(bpm_eff[ok], [25, 50, 75]).tolist()
                            if ok.any() else None),
        "energy_quartiles": np.nanpercentile(p.level, [25, 50, 75]).tolist()
        if np.isfinite(p.level).any() else None,
        "half_double_share": float(np.mean(np.abs(p.eff_log2 - p.raw_log2)[ok] > 0.5))
        if ok.any() else 0.0,
        "style_shares_tracks": counts, "style_shares_time": style_shares(p),
        "minor_share": minor_share(p), "transitions": transition_stats(p),
        "segments": seg_stats, "curve_tempo": tempo, "curve_energy": energy,
    }
    text = arc_to_toml(arc)
    arc = parse_toml(text, f"<{nm}>")   # plan with exactly what the TOML says
    return Learned(arc, _commented(text, arc, stats, ref), stats)


def _pct(v) -> str:
    return "–" if v is None else f"{v * 100:.0f} %"


def _commented(text: str, arc: Arc, st: dict, ref: Reference) -> str:
    """The TOML with comments: where each value came from, and what the planner cannot
    use (key mode, transition style) but the reference showed."""
    tq, eq = st["tempo_quartiles"], st["energy_quartiles"]
    tr = st["transitions"]
    cam = ", ".join(f"{k} {_pct(v)}" for k, v in tr["camelot"].items()) or "unknown keys"
    head = [
        f"# Learned by `underdog like` from {ref.source}",
        f"# ({len(ref.tracks)} tracks, {ref.minutes:.1f} min; {ref.from_library} from the "
        f"library, {ref.analyzed} analyzed now).",
        "# Reuse: underdog plan --arc THIS_FILE.toml [--minutes M]. Edit freely: see docs/arcs.md.",
        "#",
        "# Tempo is the effective tempo: each track moved by whole octaves into the",
        "# reference's tempo family (half/double time counts as the same tempo);",
        f"# {_pct(st['half_double_share'])} of its tracks were folded that way.",
    ]
    if tq:
        head.append(f"# Effective tempo quartiles: {tq[0]:.0f} / {tq[1]:.0f} / {tq[2]:.0f} BPM.")
    if eq:
        head.append(f"# Energy level quartiles (1–10): {eq[0]:.1f} / {eq[1]:.1f} / {eq[2]:.1f}.")
    head += [
        "# Segments: a piecewise-linear fit of the smoothed tempo and energy curves over",
        "# normalized time (shares); tolerance = how far the reference's own tracks stray.",
        "# Session style bounds: the reference's share of tracks per style ± "
        f"{STYLE_SLACK:.2f}",
        "# (" + ", ".join(f"{k} {_pct(v)}" for k, v in st["style_shares_tracks"].items()) + ").",
        f"# Minor keys: {_pct(st['minor_share'])} of play time (not a planner key: "
        "reported only).",
        f"# Transitions: median BPM step {tr['bpm_step_median_pct'] or 0:.1f} %, "
        f"{_pct(tr['within_6pct'])} within ±6 %;",
        f"# Camelot moves: {cam}. (The planner's own transition weights apply.)",
        *([f"# track_minutes: the reference's 10th–90th percentile track length, widened "
           f"{TRACK_SPAN:g}x"] if arc.track_minutes else []),
        "",
    ]
    out, k = [], 0
    for line in text.splitlines():
        if line == "[[segment]]":
            s, ss = arc.segments[k], st["segments"][k]
            out.append(f"# segment {k + 1}: {ss['tracks']} reference track(s); tempo spread "
                       f"{ss['tempo_rms_pct']:.1f} %; {_pct(ss['half_double_share'])} played "
                       "in the other octave" + ("; high energy: a peak" if s.peak else ""))
            k += 1
        out.append(line)
    return "\n".join(head + out) + "\n"


# ---------------------------------------------------------------- distances

@dataclass
class Distances:
    """Result vs reference; lower is closer."""

    tempo_w: float      # Wasserstein, effective log2 BPM (octaves)
    energy_w: float     # Wasserstein, energy level (1–10)
    style_tv: float     # total variation of style shares (0–1)
    arc_tempo: float    # RMSE of the effective log2-BPM curves over normalized time
    arc_energy: float   # RMSE of the energy-level curves

    NAMES = ("tempo W1", "energy W1", "style TV", "arc tempo", "arc energy")

    def values(self) -> tuple[float, ...]:
        return (self.tempo_w, self.energy_w, self.style_tv, self.arc_tempo, self.arc_energy)


def _w1(a: np.ndarray, wa: np.ndarray, b: np.ndarray, wb: np.ndarray) -> float:
    ma, mb = np.isfinite(a), np.isfinite(b)
    if not ma.any() or not mb.any():
        return math.nan
    return float(wasserstein_distance(a[ma], b[mb], wa[ma], wb[mb]))


def distances(ref: Sequence[Track] | Profile, other: Sequence[Track]) -> Distances:
    """How far ``other`` is from ``ref`` (both ordered lists; weights = play time).
    Tempi of both fold around the reference's tempo family (half/double time counts)."""
    p = ref if isinstance(ref, Profile) else profile(ref)
    q = profile(other, center=p.center)
    if len(q) == 0:
        return Distances(*(math.nan,) * 5)
    sp, sq = style_shares(p), style_shares(q)
    tv = 0.5 * sum(abs(sp.get(k, 0.0) - sq.get(k, 0.0)) for k in set(sp) | set(sq))
    n = CURVE_POINTS
    rm = lambda a, b: float(np.sqrt(np.nanmean((a - b) ** 2)))  # noqa: E731
    return Distances(
        tempo_w=_w1(p.eff_log2, p.dur, q.eff_log2, q.dur),
        energy_w=_w1(p.level, p.dur, q.level, q.dur),
        style_tv=tv,
        arc_tempo=rm(step_curve(p, p.eff_log2, n), step_curve(q, q.eff_log2, n)),
        arc_energy=rm(step_curve(p, p.level, n), step_curve(q, q.level, n)))


# ---------------------------------------------------------------- rebuilding

def exclusion_ids(candidates: Iterable[Track], ref: Reference,
                  exclude_reference: bool = True,
                  exclude_artists: bool = False) -> frozenset[int]:
    """Track ids the rebuild may not use: the reference's own library tracks (default)
    and, optionally, every candidate by one of the reference's artists."""
    ids: set[int] = set(ref.library_ids) if exclude_reference else set()
    if exclude_artists:
        arts = {(t.artist or "").strip().casefold() for t in ref.tracks} - NO_ARTIST
        ids |= {t.id for t in candidates if (t.artist or "").strip().casefold() in arts}
    return frozenset(ids)


def random_pick(candidates: Sequence[Track], minutes: float,
                exclude_ids: frozenset[int] = frozenset(), seed: int = 0) -> list[Track]:
    """A seeded random pick of usable candidates filling ``minutes`` (the baseline)."""
    pool = [t for t in candidates if t.duration_s and t.duration_s >= MIN_TRACK_S
            and t.id not in exclude_ids]
    rng = np.random.default_rng(seed)
    out, total = [], 0.0
    for i in rng.permutation(len(pool)):
        if total >= minutes * 60.0:
            break
        out.append(pool[int(i)])
        total += pool[int(i)].duration_s
    return out


@dataclass
class LikeResult:
    reference: Reference
    learned: Learned
    plan: Plan
    montage: Plan
    random: list[Track]
    minutes: float
    excluded: int
    rows: dict[str, Distances]           # underdog / montage / random
    # the beat lines the plan's check by ear read, for a render in this process to reuse
    heard_lines: dict = field(default_factory=dict)

    def extras(self) -> dict[str, dict]:
        """Informational, not planned for: minor-key share and transition stats."""
        lists = {"reference": self.reference.tracks, "underdog": self.plan.tracks,
                 "montage": self.montage.tracks, "random": self.random}
        out = {}
        for k, tr in lists.items():
            pr = profile(tr)
            ts = transition_stats(pr)
            out[k] = {"tracks": len(pr), "minutes": float(pr.dur.sum()) / 60.0,
                      "minor": minor_share(pr), "bpm_step": ts["bpm_step_median_pct"],
                      "within_6pct": ts["within_6pct"]}
        return out


def compare(ref: Reference, lists: dict[str, Sequence[Track]]) -> dict[str, Distances]:
    """:func:`distances` from the reference to each named list of tracks."""
    p = profile(ref.tracks)
    return {name: distances(p, tracks) for name, tracks in lists.items()}
