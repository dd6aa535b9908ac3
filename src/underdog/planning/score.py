"""The planner's objective, term by term, and the quality report for any playlist.

Every term is a vectorized numpy function, so the sequencer (many candidates at once), the
exact solver in ``bench/`` and the report (one playlist) share one definition. Costs are
"points"; lower is better. The weights and shapes are documented in ``docs/arcs.md``.

A playlist is laid out back to back from t = 0: track k starts at the sum of the earlier
durations. An excerpt plan's JSON places each excerpt itself (its ``start_s``; blends
overlap): the report then grades each from its start to the next one's. A track's *target*
(BPM, energy level, segment) is the arc at its midpoint.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Sequence

import numpy as np

from ..models import Track, energy_to_level
from ..ramp import Ramp, blend_from, blend_s, session_at
# Keys as (Camelot number - 1, side) pairs and their wheel distance (-1 unknown), vectorized;
# the names are the ones reference.py and the sequencer import from here.
from ..theory import wheel_coords as _camelot
from ..theory import wheel_steps as camelot_distance
from .arcs import KNOWN_STYLES, Timeline

LN2 = math.log(2.0)
TRANSITION_OK_PCT = 6.0     # a transition within ±6 % BPM (half/double counted) is smooth
DROP_WINDOW_S = 60.0        # a drop this close to a peak start counts as "on the peak"
ARTIST_GAP = 3              # the same artist may not recur within 3 tracks
NO_ARTIST = {"", "unknown", "unknown artist", "various", "various artists", "[unknown]"}
NO_ALBUM = {"", "unknown", "unknown album", "[unknown]"}
# What stands in for a missing artist tag when spacing tracks, in order of preference.
SPACING_BASES = ("artist", "album artist", "album", "folder")
FOLDER_MAX_SHARE = 0.5      # planning: a folder with more of the pool is not a spacing key


def spacing_key(t: Track) -> tuple[str, str] | None:
    """(basis, key) the artist rule spaces ``t`` by, or None when nothing identifies it.

    The artist tag, else the album artist (same names: one key), else the album, else the
    parent folder, so an untagged soundtrack's tracks still count as one source.
    """
    for basis, v in (("artist", t.artist), ("album artist", t.albumartist)):
        a = (v or "").strip().casefold()
        if a not in NO_ARTIST:
            return basis, "a:" + a
    album = (t.album or "").strip().casefold()
    if album not in NO_ALBUM:
        return "album", "b:" + album
    folder = os.path.dirname(os.path.normpath(t.path)) if t.path else ""
    return ("folder", "f:" + folder) if folder else None


@dataclass(frozen=True)
class Weights:
    """Weights of the objective (see docs/arcs.md for each term's shape)."""

    tempo: float = 1.0        # per minute of track, × tempo miss (1 at the tolerance)
    energy: float = 0.6       # per minute, × |level − target| / 2
    style: float = 0.5        # per minute, × (1 − preferred-style probability)
    novelty: float = 3.0      # per minute of a track used in the last --avoid-recent plans
    bpm_jump: float = 1.0     # per transition: 0–0.5 within ±6 %, 3 + (pct − 6)/2 beyond
    key: float = 1.0          # per transition: 0 same key, 0.3 neighbour, 1.2 clash
    drop: float = 3.0         # per peak start, × (1 − drop quality)
    style_bound: float = 4.0  # per track beyond a style share bound
    unfilled: float = 10.0    # per minute the playlist falls short of the session


# ---------------------------------------------------------------- features

def track_level(t: Track) -> float:
    """Energy level 1–10: from the continuous energy (0..1) when known, else the stored level."""
    lv = energy_to_level(t.energy)
    if lv is not None:
        return lv
    if t.energy_level is not None:
        return float(t.energy_level)
    return math.nan


class Pool:
    """The planner's view of a list of tracks: one numpy array per feature."""

    MAX_DROPS = 6

    def __init__(self, tracks: Sequence[Track], styles: Sequence[str] = KNOWN_STYLES,
                 recent_ids: set[int] | frozenset = frozenset(),
                 planning: bool = False):
        # planning: a folder holding more than FOLDER_MAX_SHARE of the tracks is no spacing
        # key (a flat untagged library would allow one track); a report keys every folder.
        self.tracks = list(tracks)
        self.styles = list(styles)
        n = len(self.tracks)
        f = lambda v: math.nan if v is None else float(v)  # noqa: E731
        self.ids = np.array([t.id if t.id is not None else -1 for t in self.tracks], np.int64)
        self.dur_s = np.array([f(t.duration_s) for t in self.tracks])
        self.bpm = np.array([f(t.bpm) if (t.bpm or 0) > 0 else math.nan for t in self.tracks])
        self.level = np.array([track_level(t) for t in self.tracks])
        cam = [_camelot(t.camelot) for t in self.tracks]
        self.cam_num = np.array([c[0] for c in cam], np.int64)
        self.cam_let = np.array([c[1] for c in cam], np.int64)
        s_idx = {s: i for i, s in enumerate(self.styles)}
        self.style_p = np.full((n, len(self.styles)), np.nan)
        self.label = np.full(n, -1, np.int64)
        for i, t in enumerate(self.tracks):
            if t.style:
                row = np.zeros(len(self.styles))
                for k, p in t.style.items():
                    if k in s_idx and p is not None:
                        row[s_idx[k]] = float(p)
                self.style_p[i] = row
            lab = t.style_label or (max(t.style, key=lambda k: t.style[k]) if t.style else None)
            if lab in s_idx:
                self.label[i] = s_idx[lab]
                if not t.style:
                    self.style_p[i] = np.eye(len(self.styles))[s_idx[lab]]
        # The artist rule's key per track (negative: none); spacing_by names its basis.
        keys = [spacing_key(t) for t in self.tracks]
        self.spacing_notes: list[str] = []
        if planning and n:
            big = Counter(k[1] for k in keys if k and k[0] == "folder")
            for f, c in big.items():
                if c > FOLDER_MAX_SHARE * n:
                    self.spacing_notes.append(
                        f"{c} of the {n} tracks lack artist and album tags and sit in "
                        f"{f[2:]}: too many to space by folder")
            keys = [None if k and k[0] == "folder" and big[k[1]] > FOLDER_MAX_SHARE * n
                    else k for k in keys]
        names: dict[str, int] = {}
        art = np.empty(n, np.int64)
        for i, k in enumerate(keys):
            art[i] = -(i + 1) if k is None else names.setdefault(k[1], len(names))
        self.artist = art
        self.spacing_by = [k[0] if k else "none" for k in keys]
        self.drop_t = np.full((n, self.MAX_DROPS), np.nan)
        self.drop_q = np.zeros((n, self.MAX_DROPS))
        for i, t in enumerate(self.tracks):
            ds = sorted(drops_in(t), key=lambda d: -float(d.get("strength") or 0.0))
            ds = ds[:self.MAX_DROPS]
            for j, d in enumerate(ds):
                self.drop_t[i, j] = float(d["time_s"])
                self.drop_q[i, j] = min(max(float(d.get("strength") or 0.0), 0.0), 1.0)
        self.recent = np.array([t.id in recent_ids for t in self.tracks], bool)
        self.bias = np.zeros(n)  # per-minute seeded variety (the planner sets it)

    def __len__(self) -> int:
        return len(self.tracks)


# ---------------------------------------------------------------- terms

def tempo_fit(bpm, target, tol_pct, half_double):
    """(played BPM, |deviation| in %, cost) of tracks at ``bpm`` against ``target``.

    Where half/double time counts, the track plays at bpm × 2 or bpm / 2 if that is
    closer. Cost: deviation / tolerance up to 1, then rising twice as fast, capped at 8;
    an unknown tempo costs the cap.
    """
    bpm, target, tol, hd = np.broadcast_arrays(*map(np.asarray, (bpm, target, tol_pct,
                                                                  half_double)))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.log(bpm / target)
        alt = np.where(r > 0, r - LN2, r + LN2)
        r_eff = np.where(hd & (np.abs(alt) < np.abs(r)), alt, r)
        played = target * np.exp(r_eff)
        dev = np.abs(np.exp(r_eff) - 1.0) * 100.0
        x = dev / tol
        cost = np.minimum(np.where(x <= 1.0, x, 1.0 + 2.0 * (x - 1.0)), 8.0)
    cost = np.where(np.isfinite(cost), cost, 8.0)
    return played, dev, cost


def energy_cost(level, target):
    """|level − target| / 2, capped at 3; unknown energy costs 1.5 (a weaker fit)."""
    d = np.abs(np.asarray(level) - np.asarray(target))
    return np.where(np.isfinite(d), np.minimum(d, 6.0) / 2.0, 1.5)


def style_cost(style_p, prefs: np.ndarray | None):
    """1 − the probability mass on the segment's preferred styles (weights scaled to a max
    of 1); 0 where the segment prefers nothing, 0.5 where the style is unknown."""
    if prefs is None or not np.any(prefs > 0):
        return np.zeros(style_p.shape[0])
    w = prefs / prefs.max()
    c = 1.0 - np.clip(style_p @ w, 0.0, 1.0)
    return np.where(np.isfinite(c), c, 0.5)


def transition_pct(bpm_a, bpm_b, half_double):
    """BPM change (%) from a to b; with half/double, the octave that is closest counts."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.abs(np.log(np.asarray(bpm_b) / np.asarray(bpm_a)))
        r = np.where(np.asarray(half_double), np.minimum(r, np.abs(r - LN2)), r)
        return (np.exp(r) - 1.0) * 100.0


def transition_cost(pool: Pool, a, b, half_double, w: Weights):
    """Cost of playing b right after a (vectorized over a and/or b)."""
    j = transition_pct(pool.bpm[a], pool.bpm[b], half_double)
    c_bpm = np.where(j <= TRANSITION_OK_PCT, 0.5 * j / TRANSITION_OK_PCT,
                     3.0 + (j - TRANSITION_OK_PCT) / 2.0)
    c_bpm = np.where(np.isfinite(c_bpm), np.minimum(c_bpm, 10.0), 3.0)
    d = camelot_distance(pool.cam_num[a], pool.cam_let[a], pool.cam_num[b], pool.cam_let[b])
    c_key = np.select([d < 0, d == 0, d == 1], [0.6, 0.0, 0.3], 1.2)
    return w.bpm_jump * c_bpm + w.key * c_key


def drop_quality(pool: Pool, idx, start_s, peak_s: float):
    """How well a drop of track ``idx`` (starting at ``start_s``) lands on ``peak_s``:
    strength × closeness (1 at the peak start, 0 at ±DROP_WINDOW_S); 0 without drops."""
    t = np.asarray(start_s)[..., None] + pool.drop_t[idx]
    close = np.clip(1.0 - np.abs(t - peak_s) / DROP_WINDOW_S, 0.0, 1.0)
    q = np.where(np.isfinite(t), close * pool.drop_q[idx], 0.0)
    return q.max(axis=-1)


def segment_prefs(tl: Timeline, styles: Sequence[str]) -> list[np.ndarray | None]:
    out = []
    for sp in tl.spans:
        if sp.segment.style:
            out.append(np.array([sp.segment.style.get(s, 0.0) for s in styles]))
        else:
            out.append(None)
    return out


def unary_cost(pool: Pool, idx, start_s, tl: Timeline, w: Weights,
               prefs: list | None = None, bias: bool = False):
    """Per-track cost of placing tracks ``idx`` starting at ``start_s`` (vectorized):
    (tempo + energy + style + novelty) per minute × minutes, plus the drop term for every
    peak start the track spans. Returns (total, parts dict)."""
    idx = np.asarray(idx)
    start_s = np.broadcast_to(np.asarray(start_s, dtype=np.float64), idx.shape)
    dur = pool.dur_s[idx]
    mid = start_s + dur / 2.0
    t_bpm, t_lvl, seg = tl.targets(mid)
    played, dev, c_tempo = tempo_fit(pool.bpm[idx], t_bpm, tl.tol[seg], tl.half_double[seg])
    c_energy = energy_cost(pool.level[idx], t_lvl)
    prefs = prefs if prefs is not None else segment_prefs(tl, pool.styles)
    c_style = np.zeros(idx.shape)
    sp = pool.style_p[idx]
    for g in np.unique(seg):
        m = seg == g
        if prefs[g] is not None:
            c_style[m] = style_cost(sp[m], prefs[g])
    minutes = dur / 60.0
    rate = (w.tempo * c_tempo + w.energy * c_energy + w.style * c_style +
            w.novelty * pool.recent[idx])
    if bias:
        rate = rate + pool.bias[idx]
    total = rate * minutes
    c_drop = np.zeros(idx.shape)
    end = start_s + dur
    for p in tl.peak_starts_s:
        on = (start_s <= p) & (p < end)
        if np.any(on):
            q = drop_quality(pool, idx, start_s, p)
            c_drop = c_drop + np.where(on, w.drop * (1.0 - q), 0.0)
    total = total + c_drop
    return total, {"tempo": c_tempo, "energy": c_energy, "style": c_style, "played": played,
                   "dev": dev, "target_bpm": t_bpm, "target_level": t_lvl, "seg": seg,
                   "drop": c_drop, "minutes": minutes}


def bound_penalty(pool: Pool, order: Sequence[int], seg_of: np.ndarray, tl: Timeline,
                  w: Weights) -> tuple[float, list[str]]:
    """Style shares outside the arc's and the segments' bounds: w × excess tracks."""
    labels = pool.label[np.asarray(order, dtype=np.int64)] if len(order) else np.zeros(0, int)
    pen, notes = 0.0, []
    groups = [("session", tl.arc.style_min, tl.arc.style_max, np.ones(len(labels), bool))]
    groups += [(f"'{sp.segment.name}'", sp.segment.style_min, sp.segment.style_max,
                seg_of == sp.index) for sp in tl.spans]
    for where, lo, hi, m in groups:
        n = int(m.sum())
        if n == 0 or not (lo or hi):
            continue
        for s, share in hi.items():
            if s in pool.styles:
                c = int((labels[m] == pool.styles.index(s)).sum())
                ex = max(0.0, c - share * n)
                if ex > 1e-9:
                    pen += w.style_bound * ex
                    notes.append(f"{where}: {s} {c}/{n} above its {share:.0%} bound")
        for s, share in lo.items():
            if s in pool.styles:
                c = int((labels[m] == pool.styles.index(s)).sum())
                de = max(0.0, share * n - c)
                if de > 1e-9:
                    pen += w.style_bound * de
                    notes.append(f"{where}: {s} {c}/{n} below its {share:.0%} bound")
    return pen, notes


@dataclass
class PlanCost:
    """The objective of one ordered playlist and everything the report needs."""

    total: float
    terms: dict[str, float]
    start_s: np.ndarray
    unary: np.ndarray
    parts: dict[str, np.ndarray]
    transitions: np.ndarray          # cost into track k (k >= 1)
    transition_pct: np.ndarray       # BPM change into track k, half/double counted
    camelot_dist: np.ndarray
    bound_notes: list[str]
    end_s: float


def plan_cost(pool: Pool, order: Sequence[int], tl: Timeline, w: Weights = Weights(),
              prefs: list | None = None, bias: bool = False,
              start_s: np.ndarray | None = None) -> PlanCost:
    """The full objective of playing ``order`` (pool indices) back to back, or each from
    its ``start_s`` (session seconds) where given. ``bias`` adds the seeded variety the
    planner optimizes with (never in reports)."""
    order = np.asarray(order, dtype=np.int64)
    dur = pool.dur_s[order]
    if start_s is not None:
        start = np.asarray(start_s, np.float64)
    else:
        start = np.concatenate([[0.0], np.cumsum(dur)[:-1]]) if len(order) else np.zeros(0)
    unary, parts = unary_cost(pool, order, start, tl, w, prefs, bias)
    seg = parts["seg"]
    hd = tl.half_double[seg]
    if len(order) > 1:
        trans = transition_cost(pool, order[:-1], order[1:], hd[1:], w)
        tpct = transition_pct(pool.bpm[order[:-1]], pool.bpm[order[1:]], hd[1:])
        cdist = camelot_distance(pool.cam_num[order[:-1]], pool.cam_let[order[:-1]],
                                 pool.cam_num[order[1:]], pool.cam_let[order[1:]])
    else:
        trans, tpct, cdist = np.zeros(0), np.zeros(0), np.zeros(0, int)
    pen, notes = bound_penalty(pool, order, seg, tl, w)
    end = float(start[-1] + dur[-1]) if len(order) else 0.0
    short_min = max(0.0, tl.total_s - end) / 60.0
    m = parts["minutes"]
    terms = {
        "tempo": float(np.sum(w.tempo * parts["tempo"] * m)),
        "energy": float(np.sum(w.energy * parts["energy"] * m)),
        "style": float(np.sum(w.style * parts["style"] * m)),
        "novelty": float(np.sum(w.novelty * pool.recent[order] * m)),
        "transitions": float(np.sum(trans)),
        "drops": float(np.sum(parts["drop"])),
        "style_bounds": pen,
        "unfilled": w.unfilled * short_min,
    }
    total = float(np.sum(unary) + np.sum(trans) + pen + w.unfilled * short_min)
    return PlanCost(total, terms, start, unary, parts, trans, tpct, cdist, notes, end)


# ---------------------------------------------------------------- the report

@dataclass
class ScoreReport:
    """The quality report of one playlist against an arc (``underdog score``)."""

    arc: str
    tracks: int
    minutes: float
    session_minutes: float
    bpm_mae: float | None            # mean |played BPM − target| (half/double where allowed)
    energy_mae: float | None         # mean |level − target| (levels 1–10)
    within_6pct: float | None        # share of transitions within ±6 % BPM
    camelot_ok: float | None         # share of transitions with compatible keys (known keys)
    artist_min_gap: int | None       # fewest tracks between two by one artist (None: no repeat)
    artist_violations: int           # repeats within ARTIST_GAP tracks
    style_shares: dict[str, float]
    drops_on_peaks: str              # "k/n" peak starts with a drop within ±60 s (placed
                                     # excerpts: within one beat)
    objective: float                 # the combined objective (lower is better)
    objective_per_min: float
    terms: dict[str, float]
    notes: list[str] = field(default_factory=list)
    unknown_paths: list[str] = field(default_factory=list)
    # share of tracks spaced by each basis (artist, album artist, album, folder, none)
    artist_spacing_by: dict[str, float] = field(default_factory=dict)
    # one dict per track, in order (see track_rows)
    rows: list[dict] = field(default_factory=list)
    # round boundaries of the arc: {"at_s", "kind" (round_start/round_end), "round"}
    cues: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def artist_spacing(pool: Pool, order: Sequence[int]) -> tuple[int | None, int]:
    """(smallest gap in tracks between two by the same artist, repeats within ARTIST_GAP).

    "Artist" is the spacing key (see ``spacing_key``): the album artist, album or folder
    where the artist tag is missing.
    """
    last: dict[int, int] = {}
    gap, bad = None, 0
    for pos, i in enumerate(order):
        a = int(pool.artist[i])
        if a >= 0 and a in last:
            g = pos - last[a] - 1
            gap = g if gap is None else min(gap, g)
            bad += g < ARTIST_GAP
        last[a] = pos
    return gap, bad


def _num(v, nd: int = 2):
    return None if v is None or not math.isfinite(float(v)) else round(float(v), nd)


def track_rows(pool: Pool, order: Sequence[int], pc: PlanCost, tl: Timeline,
               levels: Sequence[float] | None = None) -> list[dict]:
    """Per track, in order: position (1-based), name, segment, target and actual BPM and
    energy level, their deviations (BPM in %, energy in levels), the transition into it
    (BPM change in %, Camelot steps) and the artist-spacing note ("" when spaced well).
    ``levels``: the energy level of each place (an excerpt's bars), not the track's."""
    order = np.asarray(order, dtype=np.int64)
    parts = pc.parts
    last: dict[int, int] = {}
    rows = []
    for k, i in enumerate(order.tolist()):
        t = pool.tracks[i]
        name = " – ".join(x for x in (t.artist, t.title) if x) or os.path.basename(t.path or "")
        a = int(pool.artist[i])
        spacing = ""
        if a >= 0 and a in last and k - last[a] - 1 < ARTIST_GAP:
            spacing = (f"same {pool.spacing_by[i]} as #{last[a] + 1}, "
                       f"{k - last[a] - 1} apart")
        if a >= 0:
            last[a] = k
        level = float(pool.level[i] if levels is None else levels[k])
        seg = int(parts["seg"][k])
        rows.append({
            "position": k + 1, "track": name, "path": t.path, "id": t.id,
            "segment": tl.spans[seg].segment.name,
            "start_s": _num(pc.start_s[k], 1),
            "target_bpm": _num(parts["target_bpm"][k], 1),
            "target_energy": _num(parts["target_level"][k], 1),
            "bpm": _num(parts["played"][k], 1) if np.isfinite(pool.bpm[i]) else None,
            "energy": _num(level, 1),
            "bpm_dev_pct": _num(parts["dev"][k], 1),
            "energy_dev": _num(level - float(parts["target_level"][k]), 1),
            "transition_pct": _num(pc.transition_pct[k - 1], 1) if k else None,
            "camelot_step": (int(pc.camelot_dist[k - 1]) if k and pc.camelot_dist[k - 1] >= 0
                             else None),
            "spacing": spacing,
            "cost": _num(pc.unary[k] + (pc.transitions[k - 1] if k else 0.0), 3),
        })
    return rows


def peak_drops(pool: Pool, order: Sequence[int], start_s: np.ndarray, tl: Timeline) -> list:
    """Per peak start within the playlist: (peak_s, track position or None, quality)."""
    out = []
    order = np.asarray(order, dtype=np.int64)
    end = start_s + pool.dur_s[order]
    for p in tl.peak_starts_s:
        k = np.nonzero((start_s <= p) & (p < end))[0]
        if len(k) == 0:
            continue
        k = int(k[0])
        q = float(drop_quality(pool, order[k:k + 1], start_s[k:k + 1], p)[0])
        out.append((p, k, q))
    return out


def beat_drops(pool: Pool, order: Sequence[int], start_s: np.ndarray, tl: Timeline,
               end_s: float) -> tuple[int, int]:
    """(peak starts before ``end_s``, those with a drop of some track within one beat of
    them, at the tempo it plays at): how an excerpt plan's drops are graded, since the
    planner lands them on the peak's first beat."""
    order = np.asarray(order, dtype=np.int64)
    peaks = [p for p in tl.peak_starts_s if p < end_s]
    at = np.asarray(start_s)[:, None] + pool.drop_t[order]          # session seconds
    beat = 60.0 / pool.bpm[order]
    with np.errstate(invalid="ignore"):
        hits = sum(bool(np.any(np.abs(at - p) <= beat[:, None] + 1e-6)) for p in peaks)
    return len(peaks), hits


def score_order(pool: Pool, order: Sequence[int], tl: Timeline, w: Weights = Weights(),
                unknown_paths: Sequence[str] = (),
                start_s: np.ndarray | None = None) -> ScoreReport:
    """The report of ``order`` (pool indices) laid back to back, or placed at ``start_s``
    (session seconds; an excerpt plan): then each is graded from its start to the next
    one's (the pool's durations say so) and a drop counts on a peak within one beat."""
    pc = plan_cost(pool, order, tl, w, start_s=start_s)
    order = np.asarray(order, dtype=np.int64)
    n = len(order)
    parts = pc.parts
    have_bpm = np.isfinite(pool.bpm[order])
    bpm_mae = (float(np.mean(np.abs(parts["played"] - parts["target_bpm"])[have_bpm]))
               if have_bpm.any() else None)
    lv = np.isfinite(pool.level[order])
    energy_mae = (float(np.mean(np.abs(pool.level[order] - parts["target_level"])[lv]))
                  if lv.any() else None)
    tp = pc.transition_pct
    tp_ok = np.isfinite(tp)
    within = float(np.mean(tp[tp_ok] <= TRANSITION_OK_PCT + 1e-9)) if tp_ok.any() else None
    known = pc.camelot_dist >= 0
    cam = float(np.mean(pc.camelot_dist[known] <= 1)) if known.any() else None
    gap, bad = artist_spacing(pool, order)
    shares: dict[str, float] = {}
    if n:
        for s_i, s in enumerate(pool.styles):
            shares[s] = float(np.mean(pool.label[order] == s_i))
        unl = float(np.mean(pool.label[order] < 0))
        if unl:
            shares["unknown"] = unl
    if start_s is None:
        pk = peak_drops(pool, order, pc.start_s, tl)
        n_peaks, hits = len(pk), sum(q > 0 for _, _, q in pk)
    else:
        n_peaks, hits = beat_drops(pool, order, pc.start_s, tl, pc.end_s)
    notes = list(pc.bound_notes) + list(pool.spacing_notes)
    by = Counter(pool.spacing_by[i] for i in order.tolist())
    spacing_by = {b: by[b] / n for b in SPACING_BASES + ("none",) if by[b]}
    if pc.end_s < tl.total_s - 1:
        notes.append(f"{(tl.total_s - pc.end_s) / 60:.1f} min short of the "
                     f"{tl.total_s / 60:.0f}-minute session")
    minutes = pc.end_s / 60.0
    return ScoreReport(
        arc=tl.arc.name, tracks=n, minutes=round(minutes, 2),
        session_minutes=round(tl.total_s / 60.0, 2), bpm_mae=bpm_mae, energy_mae=energy_mae,
        within_6pct=within, camelot_ok=cam, artist_min_gap=gap, artist_violations=bad,
        style_shares=shares, drops_on_peaks=f"{hits}/{n_peaks}", objective=pc.total,
        objective_per_min=pc.total / max(minutes, 1e-9), terms=pc.terms, notes=notes,
        unknown_paths=list(unknown_paths), artist_spacing_by=spacing_by,
        rows=track_rows(pool, order, pc, tl))


def excerpt_track(t: Track, in_s: float, out_s: float, bpm: float | None = None) -> Track:
    """``t`` as its excerpt ``in_s``..``out_s`` (track seconds) plays it: that long, its
    drops in the excerpt's own time (those outside left out), its energy the mean of its
    energy curve over the span (the whole track's when it has no curve), its tempo
    ``bpm`` where it is stretched to one (a plan's ``tempo_bpm``; None: its own)."""
    energy = t.energy
    curve, hop = t.energy_curve, t.energy_curve_hop_s
    if curve is not None and len(curve) and hop and hop > 0:
        part = np.asarray(curve, np.float64)[int(in_s / hop):int(math.ceil(out_s / hop))]
        if len(part):
            energy = float(np.mean(np.clip(part, 0.0, 1.0)))
    drops = [{**d, "time_s": float(d["time_s"]) - in_s} for d in drops_in(t, in_s, out_s)]
    return replace(t, duration_s=out_s - in_s, energy=energy, drops=drops,
                   bpm=t.bpm if bpm is None else float(bpm))


def drops_in(t: Track, in_s: float = -math.inf, out_s: float = math.inf) -> list[dict]:
    """The stored drops of ``t`` at track seconds in [in_s, out_s) (malformed ones left
    out), in stored order."""
    return [d for d in (t.drops or []) if isinstance(d, dict) and d.get("time_s") is not None
            and in_s <= float(d["time_s"]) < out_s]


def strongest_drop(t: Track, in_s: float = -math.inf, out_s: float = math.inf
                   ) -> float | None:
    """Track seconds of the strongest stored drop of ``t`` in [in_s, out_s) (the first of
    equals); None without one."""
    best = max(drops_in(t, in_s, out_s), key=lambda d: float(d.get("strength") or 0.0),
               default=None)
    return None if best is None else float(best["time_s"])


def score_tracks(tracks: Sequence[Track], tl: Timeline, w: Weights = Weights(),
                 unknown_paths: Sequence[str] = (),
                 spans: Sequence[tuple[float, float] | None] | None = None,
                 tempi: Sequence[float | None] | None = None,
                 places: Sequence[dict | None] | None = None) -> ScoreReport:
    """The report for an ordered list of library tracks (a plan or a hand-made playlist).

    ``spans`` gives, per track, the excerpt that plays ((in_s, out_s), track seconds; None:
    the whole track): each is graded as that excerpt (:func:`excerpt_track`), and its row
    shows ``in_s``, ``out_s`` and ``drop_at_s`` (session seconds where its strongest drop
    plays; None without one). ``tempi`` gives the tempo (BPM) each excerpt is stretched to
    (an excerpt plan's ``tempo_bpm``; None: its own): the tempo fit, the transitions and
    ``within_6pct`` grade that played tempo, and the row shows the track's own as
    ``own_bpm`` (None for a whole track, which plays at its own). ``places`` gives where
    each sits in the session (``{"start_s", "end_s", "bars"}``: an excerpt plan's JSON):
    where there are excerpts and every track has one, each is placed at its ``start_s``
    and graded up to the next one's (:func:`placed_tracks`); otherwise the tracks are laid
    back to back. The report lists the arc's round cues."""
    if spans is None:
        spans = [None] * len(tracks)
    if tempi is None:
        tempi = [None] * len(tracks)
    if places is None:
        places = [None] * len(tracks)
    kept = [(t, sp, bpm if sp else None, pl) for t, sp, bpm, pl
            in zip(tracks, spans, tempi, places) if t.duration_s]
    played = [excerpt_track(t, *sp, bpm) if sp else t for t, sp, bpm, _ in kept]
    starts = None
    if any(sp for _, sp, _, _ in kept):
        placed = placed_tracks([(t, sp, pl) for (t, sp, _, pl) in kept], played)
        if placed is not None:
            played, starts = placed
    pool = Pool(played)
    rep = score_order(pool, list(range(len(played))), tl, w, unknown_paths, start_s=starts)
    rep.cues = list(tl.cues()) if hasattr(tl, "cues") else []
    if any(sp for _, sp, _, _ in kept):
        for row, t, (own, sp, bpm, _) in zip(rep.rows, played, kept):
            best = strongest_drop(t)
            row["in_s"] = _num(sp[0], 3) if sp else None
            row["out_s"] = _num(sp[1], 3) if sp else None
            row["own_bpm"] = _num(own.bpm, 1) if bpm is not None and own.bpm else None
            row["drop_at_s"] = (_num((row["start_s"] or 0.0) + best, 1)
                                if best is not None else None)
    return rep


def placed_tracks(entries: Sequence[tuple[Track, tuple[float, float] | None, dict | None]],
                  played: Sequence[Track]) -> tuple[list[Track], np.ndarray] | None:
    """An excerpt plan's tracks where its JSON places them: (the ``played`` tracks, each
    as long as from its ``start_s`` to the next one's (the last: to its ``end_s``), its
    drops in session seconds from its start; the starts). ``entries``: (library track,
    excerpt span or None, place) per played track. The session seconds an excerpt lasts:
    its ``bars`` at the tempo it plays at, else ``end_s`` − ``start_s``; its drops move by
    that stretch. None (lay them back to back) where a track has no place or the starts
    go back in time."""
    if not entries or any(pl is None for _, _, pl in entries):
        return None
    starts = np.array([pl["start_s"] for _, _, pl in entries], np.float64)
    if np.any(np.diff(starts) < 0):
        return None
    out = []
    prev_out = prev_own = None  # the tempo the excerpt before ends at, and its own
    for k, ((t, sp, pl), p) in enumerate(zip(entries, played)):
        a, b = sp if sp else (0.0, float(t.duration_s))
        length = None  # session seconds the whole entry plays (its blend out included)
        if pl.get("bars") and p.bpm and sp:
            length = pl["bars"] * 240.0 / float(p.bpm)
        elif pl.get("end_s") is not None:
            length = pl["end_s"] - pl["start_s"]
        rate = (b - a) / length if length and length > 0 else 1.0  # track s per session s
        if k + 1 < len(entries):
            end = starts[k + 1]
        else:
            end = pl["end_s"] if pl.get("end_s") is not None else starts[k] + (length or b - a)
        if end <= starts[k]:  # an entry wholly under the next one's blend
            end = starts[k] + (length or (b - a))
        if pl.get("bars") and p.bpm and sp and b > a:
            # an excerpt of a plan's JSON places its drops as the planner and the render
            # play it: its blend in at the blend's tempo, its body (ramped where the JSON
            # has tempo_in/out_bpm: held through its blends, a line between, bent at its
            # tempo_via) scaled to end
            # where the next one enters, as the render keeps the plan's clock
            nxt = entries[k + 1][2] if k + 1 < len(entries) else None
            beat_s = (b - a) / (4.0 * pl["bars"])  # track seconds per session beat
            t_in = pl.get("tempo_in_bpm") or float(p.bpm)
            t_out = pl.get("tempo_out_bpm") or float(p.bpm)
            k_in = int(pl.get("blend_in_bars") or 0)
            k_out = int((nxt or {}).get("blend_in_bars") or 0)
            via = tuple((u, v * beat_s / 60.0) for u, v in pl.get("tempo_via") or ())
            ramp = Ramp.held(a, b, t_in * beat_s / 60.0, t_out * beat_s / 60.0, beat_s,
                             k_in, k_out, via)
            own = 60.0 / beat_s  # its own tempo over its bars, in the octave it plays at
            blend = blend_s(k_in, blend_from(prev_out, prev_own, own) if prev_out else t_in,
                            t_in) if k_in else 0.0
            next_s = float(starts[k + 1] - starts[k]) if nxt is not None else None
            drops = [{**d, "time_s": session_at(ramp, a + float(d["time_s"]), 0.0, beat_s, k_in,
                                                blend, k_out, next_s, float(p.bpm) * beat_s / 60.0)}
                     for d in drops_in(p)]
            prev_out, prev_own = t_out, own
        else:
            drops = [{**d, "time_s": float(d["time_s"]) / rate} for d in drops_in(p)]
            prev_out = None
        out.append(replace(p, duration_s=float(end - starts[k]), drops=drops))
    return out, starts
