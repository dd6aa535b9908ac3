"""Select and order library tracks to fit an arc.

1. **Candidates.** For each segment, BPM windows around its targets (and at half/double
   where that counts) and an energy band are read through the library's indexed queries.
   A segment with too few tracks widens the way a user would: any energy, then ±15 % BPM
   (or 2.5× the tolerance), then the whole library; the report says so.
2. **Pre-selection.** Each segment keeps the tracks with the lowest per-minute fit cost
   anywhere in it (at most ``per_segment``, more for libraries of short tracks).
3. **Beam search** over positions: each state is a partial playlist laid from t = 0; an
   expansion adds one track (hard rules: no track twice, no artist within 3 tracks) and
   pays its fit cost at its own midpoint, its transition from the previous track and the
   drop term on any peak start it spans. States are ranked by cost so far plus a lower
   bound of the remaining minutes. A state is complete once it reaches the session
   length, so every playlist ends within one track of ``--minutes``.
4. **Local search** on the best complete playlist: replace one track or swap two, keep
   the change when the full objective (``score.plan_cost``) drops, until no move helps
   or a fixed number of evaluations is spent (fixed, so the result is deterministic).

Locked tracks (``PlanOptions.locked``, whole-track plans only): each stays at its
position (1-based) in the beam search and the local search, is used nowhere else, and
the other places are filled under the same rules around it.

Seed 0 (the default) plans the best playlist for the objective. Any other seed adds a
seeded per-track variety cost (up to ``variety`` points per minute), so different seeds
give different near-best playlists; the same seed always gives the same one.
"""

from __future__ import annotations

import math
import time
import dataclasses
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Protocol, Sequence

import numpy as np

from ..errors import UnderdogError
from ..fields import plain
from ..models import Track, level_to_energy
from ..ramp import Ramp, blend_from, blend_s, body_fit, session_at
from ..text import mmss
from .arcs import Arc, Timeline
from .excerpts import (MAX_STRETCH, ExcerptOptions, align_drops, RhythmLookup, Slot,
                       level_range, loud_blend, make_slots, preselect, rhythm_of, search,
                       far_tempi_blends, tempi_meet, track_grid, unclear_blends)
from .score import (ARTIST_GAP, TRANSITION_OK_PCT, PlanCost, Pool, ScoreReport, Weights,
                    artist_spacing, camelot_distance, plan_cost, score_order, segment_prefs,
                    strongest_drop, tempo_fit, track_level, track_rows, transition_cost,
                    transition_pct, unary_cost)

ENERGY_BAND = 1.5          # levels either side of the target that still count as a fit
LENGTH_FILL = 1.5          # an arc's track-length window must leave this × the session
TYPICAL_TRACK_MIN = 3.5    # for sizing candidate sets before the tracks are known


class TrackSource(Protocol):
    """What the planner reads from a library. ``library.db.Library`` implements it by
    indexed queries; any object with these methods can supply candidates (a catalogue
    service, another store), and :func:`plan_candidates` needs none of it."""

    def tracks(self, **filters) -> list[Track]: ...

    def count(self, status: str | None = "ok") -> int: ...

    def rhythm(self, track_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def identities(self, track_ids: Iterable[int]) -> Mapping[int, np.ndarray]: ...

    def recent_plan_track_ids(self, n_plans: int) -> set[int]: ...

    def get_track(self, key: int) -> Track | None: ...  # a locked track by id


@dataclass
class PlanOptions:
    seed: int = 0
    avoid_recent: int = 0          # skip tracks used in the last N recorded plans
    weights: Weights = field(default_factory=Weights)
    beam_width: int = 32
    per_segment: int = 40          # candidates kept per segment (more for short tracks)
    min_track_s: float = 20.0      # shorter files (jingles, stingers) are left out
    read_all_below: int = 3000     # libraries this small are read whole
    search_all_below: int = 250    # candidate pools this small are searched whole
    variety: float = 0.3           # seeded per-minute variety cost, at most (seed != 0)
    local_evals: int = 1500        # evaluation budget of the local search
    exclude_ids: frozenset = frozenset()  # never use these tracks (e.g. a reference's)
    styles: frozenset = frozenset()  # only tracks of these style labels (empty: any style)
    max_track_s: float = math.inf  # longer tracks are left out
    excerpts: bool | None = False  # excerpts (the montage edit); None: the arc's default
    excerpt: ExcerptOptions = field(default_factory=ExcerptOptions)
    # tracks kept at their places: (position, track id) pairs (1-based) or a mapping of
    # position to track id; whole-track plans only (excerpt plans raise PlanError)
    locked: tuple | Mapping = ()


@dataclass
class PlanEntry:
    """One planned track with its place, targets, fit and explanation."""

    track: Track
    position: int
    start_s: float
    end_s: float
    segment: str
    peak: bool
    target_bpm: float
    target_level: float
    played_bpm: float | None
    half_double: str | None        # "half" / "double" when it plays in the other octave
    tempo_dev_pct: float | None
    level: float | None
    transition_pct: float | None   # BPM change from the previous track (half/double counted)
    camelot_step: int | None       # wheel steps from the previous track's key
    drop_on_peak_s: float | None   # a drop landing on a peak start (track time, seconds)
    cost: float
    costs: dict[str, float]
    why: str
    # Excerpt plans only (None in whole-track plans): track seconds, on downbeats …
    in_s: float | None = None
    out_s: float | None = None
    downbeat_s: float | None = None    # the downbeat it enters on (track time)
    drop_at_s: float | None = None     # session time where its drop lands
    tempo_bpm: float | None = None     # the session tempo it plays at
    transition: dict | None = None     # how it comes in: {"shape", "bars"}
    round: int = 0                     # the round it plays in (0: none)
    bars: int | None = None            # session bars from in_s to out_s
    on_phrase: tuple[bool, bool] | None = None  # in_s, out_s on phrase boundaries
    # An excerpt plays at tempo_bpm (= played_bpm): its tempo_dev_pct and transition_pct
    # grade that, as `underdog score` grades the plan's JSON; before stretching:
    stretch_pct: float | None = None        # played / its own tempo (its bars) − 1, in %
    own_tempo_dev_pct: float | None = None  # its own tempo (its bars) against the target
    # where its segment's tempo ramps: the session tempo at its start and at its end (the
    # render plays a line between them; tempo_bpm is the one at its slot's middle)
    tempo_in_bpm: float | None = None
    tempo_out_bpm: float | None = None
    # a whole track across ramping segments: (track s, BPM) where each later one starts
    tempo_via: tuple[tuple[float, float], ...] = ()

    # Exporters read .path, .artist, .title, .duration_s
    @property
    def path(self) -> str:
        return self.track.path

    @property
    def artist(self) -> str | None:
        return self.track.artist

    @property
    def title(self) -> str | None:
        return self.track.title

    @property
    def duration_s(self) -> float | None:
        return self.track.duration_s

    @property
    def ramps(self) -> bool:
        """Its tempo ramps through it (see ``tempo_in_bpm``)."""
        ref = self.tempo_bpm or self.target_bpm
        return (bool(ref) and self.tempo_in_bpm is not None and self.tempo_out_bpm is not None
                and max(abs(b / ref - 1.0) for b in (self.tempo_in_bpm, self.tempo_out_bpm,
                                                     *(b for _, b in self.tempo_via))) > 1e-4)

    @property
    def bpm_text(self) -> str:
        """Its BPM for people: its own, then what it plays at where that differs ("128→126",
        an excerpt stretched to its slot or a track in the other octave), or the two ends
        of the arc's ramp it rides ("128→126↘118": the render plays a line between them;
        "119→109": a ramp out of its reach, held at ±8 % throughout); a whole track, the
        target it is played at, held within ±8 % as the render holds it."""
        own = f"{self.track.bpm:.0f}" if self.track.bpm else "?"
        if self.ramps:
            a, b = f"{self.tempo_in_bpm:.0f}", f"{self.tempo_out_bpm:.0f}"
            if a != b:
                return f"{own}→{a}{'↗' if self.tempo_out_bpm > self.tempo_in_bpm else '↘'}{b}"
            if a != own:
                return f"{own}→{a}"
        if self.in_s is None and self.target_bpm and self.played_bpm:
            # a whole track: the render plays it at the target, held within ±8 % of the
            # tempo it plays at ("127→137" at a run's 170; "89→170" at double time)
            held = _held(self.target_bpm, self.played_bpm)
            return f"{own}→{held:.0f}" if f"{held:.0f}" != own else own
        if self.played_bpm and (self.half_double or (self.in_s is not None  # stretched
                                                     and f"{self.played_bpm:.0f}" != own)):
            return f"{own}→{self.played_bpm:.0f}"
        return own

    @property
    def annotation(self) -> str:  # XSPF carries the explanation
        return self.why

    def as_dict(self) -> dict:
        t = self.track
        ramp = {"tempo_in_bpm": round(self.tempo_in_bpm, 3),
                "tempo_out_bpm": round(self.tempo_out_bpm, 3),
                **({"tempo_via": [[round(u, 3), round(b, 3)] for u, b in self.tempo_via]}
                   if self.tempo_via else {})} if self.ramps else {}
        return {
            "position": self.position, "path": t.path, "artist": t.artist, "title": t.title,
            "id": t.id, "start_s": round(self.start_s, 2), "end_s": round(self.end_s, 2),
            "duration_s": t.duration_s, "segment": self.segment, "peak": self.peak,
            "target": {"bpm": round(self.target_bpm, 2), "energy": round(self.target_level, 2)},
            "actual": {"bpm": t.bpm, "played_bpm": plain(self.played_bpm, 2),
                       "half_double": self.half_double, "energy": plain(self.level, 2),
                       "camelot": t.camelot, "style": t.style_label,
                       "drops": t.drops},
            "scores": {"tempo_dev_pct": plain(self.tempo_dev_pct, 2),
                       **({} if self.in_s is None else {
                           "stretch_pct": plain(self.stretch_pct, 2),
                           "own_tempo_dev_pct": plain(self.own_tempo_dev_pct, 2)}),
                       "transition_pct": plain(self.transition_pct, 2),
                       "camelot_step": self.camelot_step,
                       "drop_on_peak_s": plain(self.drop_on_peak_s, 2),
                       "cost": round(self.cost, 4),
                       **{k: round(v, 4) for k, v in self.costs.items()}},
            "why": self.why,
            **({} if self.in_s is None else {
                "in_s": round(self.in_s, 4), "out_s": round(self.out_s, 4),
                "downbeat_s": round(self.downbeat_s, 4), "drop_at_s": plain(self.drop_at_s, 3),
                "tempo_bpm": round(self.tempo_bpm, 3), **ramp,
                "transition": self.transition,
                "round": self.round or None, "bars": self.bars,
                "on_phrase": list(self.on_phrase) if self.on_phrase else None}),
            # a whole-track blend changed over an unclear beat (_whole_unclear)
            **({"transition": self.transition}
               if self.in_s is None and self.transition else {}),
            # a whole track under a ramp of the arc: the render (--tempo follow) rides it
            **(ramp if self.in_s is None else {}),
        }


@dataclass
class Plan:
    arc: Arc
    timeline: Timeline
    entries: list[PlanEntry]
    cost: PlanCost
    report: ScoreReport
    warnings: list[str]
    seed: int
    stats: dict

    @property
    def tracks(self) -> list[Track]:
        return [e.track for e in self.entries]

    def as_dict(self) -> dict:
        return {"arc": self.arc.name, "description": self.arc.description, "seed": self.seed,
                "session_minutes": self.timeline.total_s / 60.0,
                "minutes": self.cost.end_s / 60.0,
                "segments": [{"name": sp.segment.name, "start_s": sp.start_s,
                              "end_s": sp.end_s, "bpm": list(sp.segment.bpm),
                              "energy": list(sp.segment.energy),
                              "half_double": sp.segment.half_double,
                              "peak": sp.segment.peak} for sp in self.timeline.spans],
                "mode": "excerpts" if self.excerpts else "whole_tracks",
                "cues": self.timeline.cues(),
                "report": self.report.as_dict(), "warnings": self.warnings,
                "entries": [e.as_dict() for e in self.entries], "stats": self.stats}

    @property
    def excerpts(self) -> bool:
        return bool(self.entries) and self.entries[0].in_s is not None


class PlanError(UnderdogError):
    """No playlist at all can be made (e.g. an empty library)."""


# ---------------------------------------------------------------- candidates

# Candidate reading, per sample point of a segment (its target every ~2 minutes):
# the NEAREST_N tracks just above and just below the target BPM (and its half/double),
# read in BPM order through the bpm index, first within ±0.5 energy levels, then within
# the strict band (±ENERGY_BAND). Only a segment left with too few tracks widens:
# any energy, then ±15 % BPM (or 2.5× its tolerance), then the whole library.
NEAREST_N = 30
SAMPLE_EVERY_S = 120.0
WIDEN_NAMES = {1: "any energy", 2: "±15 % BPM or more, any energy", 3: "the whole library"}
WHOLE_LIBRARY = 3


def _fits(t: Track, sp) -> bool:
    """Is ``t`` within a segment's strict window (tempo within tolerance, half/double where
    allowed, and energy within ENERGY_BAND of the target) anywhere along it?"""
    if not t.bpm:
        return False
    for b, e in _sample_targets(sp):
        _, dev, _ = tempo_fit(t.bpm, b, sp.segment.tolerance_pct, sp.segment.half_double)
        lvl = track_level(t)
        if dev <= sp.segment.tolerance_pct and (math.isnan(lvl) or abs(lvl - e) <= ENERGY_BAND):
            return True
    return False


def _sample_targets(sp) -> list[tuple[float, float]]:
    """(BPM, level) targets along a segment: its middle when flat, else every ~2 minutes."""
    seg = sp.segment
    if seg.bpm[0] == seg.bpm[1] and seg.energy[0] == seg.energy[1]:
        return [(seg.bpm[0], seg.energy[0])]
    n = max(2, int(math.ceil((sp.end_s - sp.start_s) / SAMPLE_EVERY_S)) + 1)
    fr = [k / (n - 1) for k in range(n)]
    return [(seg.bpm[0] + (seg.bpm[1] - seg.bpm[0]) * f,
             seg.energy[0] + (seg.energy[1] - seg.energy[0]) * f) for f in fr]


def _energy_range(level: float, band: float) -> tuple[float, float]:
    return level_to_energy(max(level - band, 1.0)), level_to_energy(min(level + band, 10.0))


def describe_window(sp) -> str:
    """'150–160 BPM (or 75–80 / 300–320) with energy ≥ 8' for a segment's strict window."""
    seg = sp.segment
    tol = seg.tolerance_pct / 100.0
    lo, hi = min(seg.bpm) * (1 - tol), max(seg.bpm) * (1 + tol)
    txt = f"{lo:.0f}–{hi:.0f} BPM"
    if seg.half_double:
        txt += f" (or {lo / 2:.0f}–{hi / 2:.0f})"
    e_lo = max(min(seg.energy) - ENERGY_BAND, 1.0)
    e_hi = min(max(seg.energy) + ENERGY_BAND, 10.0)
    if e_hi >= 10.0 and e_lo > 1.0:
        txt += f" with energy ≥ {e_lo:g}"
    elif e_lo <= 1.0 and e_hi < 10.0:
        txt += f" with energy ≤ {e_hi:g}"
    elif e_lo > 1.0:
        txt += f" with energy {e_lo:g}–{e_hi:g}"
    return txt


class _Loader:
    """Reads candidate tracks through the source's ``tracks`` query, caching each query."""

    def __init__(self, lib: TrackSource, usable, nearest_n: int = NEAREST_N):
        self.lib = lib
        self.usable = usable
        self.nearest_n = nearest_n
        self.cache: dict = {}
        self.queries = 0

    def get(self, **kw) -> list[Track]:
        key = tuple(sorted((k, tuple(round(x, 4) for x in v) if isinstance(v, tuple) else v)
                           for k, v in kw.items()))
        if key not in self.cache:
            self.queries += 1
            self.cache[key] = [t for t in self.lib.tracks(**kw) if self.usable(t)]
        return self.cache[key]

    def nearest(self, bpm: float, lo: float, hi: float, energy) -> list[Track]:
        """The NEAREST_N tracks at or above ``bpm`` (up to hi) and at or below (down to lo)."""
        n = self.nearest_n
        return (self.get(bpm=(bpm, hi), energy=energy, sort="bpm", limit=n) +
                self.get(bpm=(lo, bpm), energy=energy, sort="-bpm", limit=n))


def _chosen(t: Track, opts: PlanOptions) -> bool:
    """The user's own limits: ``opts.styles`` (only these) and ``opts.max_track_s``."""
    return ((not opts.styles or t.style_label in opts.styles)
            and (t.duration_s is None or t.duration_s <= opts.max_track_s))


def load_candidates(lib: TrackSource, tl: Timeline, opts: PlanOptions,
                    window: tuple[float, float] | None = None,
                    bands: tuple[float, ...] = (0.5, ENERGY_BAND), nearest_n: int = NEAREST_N):
    """Tracks for every segment, widening where a segment has too few; ``window`` (minutes)
    keeps only tracks of that length.

    Returns (tracks sorted by id, per-segment widening step, per-segment count of strict
    fits found (a lower bound when it reached the read limit), number of queries).
    """
    lo_s, hi_s = opts.min_track_s, math.inf
    if window is not None:
        lo_s, hi_s = max(lo_s, 60.0 * window[0]), 60.0 * window[1]

    ld = _Loader(lib, lambda t: _usable(t, opts, lo_s, hi_s), nearest_n)
    found: dict[int, Track] = {}
    widen_used, strict_n = [], []
    whole = lib.count() <= opts.read_all_below
    if whole:
        found = {t.id: t for t in ld.get()}  # small library: read it whole, search it all
    for sp in tl.spans:
        seg = sp.segment
        seg_min = (sp.end_s - sp.start_s) / 60.0
        need = max(10, int(math.ceil(3 * seg_min / TYPICAL_TRACK_MIN)) + ARTIST_GAP)
        mults = (1.0, 0.5, 2.0) if seg.half_double else (1.0,)
        tol = seg.tolerance_pct / 100.0
        got: dict[int, Track] = {}
        if whole:  # (a large library is never read whole just to ask this)
            got = {k: t for k, t in found.items() if _fits(t, sp)}
            strict_n.append(len(got))
            widen_used.append(0 if len(got) >= need else WHOLE_LIBRARY)
            continue
        for b, e in _sample_targets(sp):
            for m in mults:
                for band in bands:
                    for t in ld.nearest(b * m, b * m * (1 - tol), b * m * (1 + tol),
                                        _energy_range(e, band)):
                        got[t.id] = t
        strict_n.append(len(got))
        step = 0
        while len(got) < need and step < 3:
            step += 1
            if step == 3:
                rows = ld.get()
            else:
                wt = tol if step == 1 else max(2.5 * tol, 0.15)
                lo, hi = min(seg.bpm) * (1 - wt), max(seg.bpm) * (1 + wt)
                rows = [t for m in mults for t in ld.get(bpm=(lo * m, hi * m))]
            for t in rows:
                got[t.id] = t
        widen_used.append(step)
        found.update(got)
    tracks = [found[k] for k in sorted(found)]
    return tracks, widen_used, strict_n, ld.queries


def _usable(t: Track, opts: PlanOptions, lo_s: float, hi_s: float = math.inf) -> bool:
    """A track the plan may use: analysed, ``lo_s``–``hi_s`` long, not left out, of a
    chosen style."""
    return (t.status == "ok" and t.duration_s is not None and lo_s <= t.duration_s <= hi_s
            and t.id not in opts.exclude_ids and _chosen(t, opts))


def _length_note(window: tuple[float, float], have_s: float, total_s: float) -> str:
    """Why a plan used tracks of every length: too little music of the arc's lengths."""
    return (f"track length {window[0]:g}–{window[1]:g} min: only {have_s / 60:.0f} min of "
            f"such tracks for a {total_s / 60:.0f}-min session; used tracks of every length")


def _preselect(pool: Pool, tl: Timeline, opts: PlanOptions, prefs) -> np.ndarray:
    """Pool indices worth searching: per segment, the best per-minute fits."""
    n = len(pool)
    if n <= opts.search_all_below:
        return np.arange(n)
    med = float(np.nanmedian(pool.dur_s)) if n else 210.0
    keep = np.zeros(n, bool)
    all_idx = np.arange(n)
    for sp in tl.spans:
        span = sp.end_s - sp.start_s
        ramp = sp.segment.bpm[0] != sp.segment.bpm[1] or sp.segment.energy[0] != \
            sp.segment.energy[1]
        times = [sp.start_s + f * span for f in ((0.1, 0.5, 0.9) if ramp else (0.5,))]
        best = np.full(n, np.inf)
        for t in times:
            c, parts = unary_cost(pool, all_idx, t - pool.dur_s / 2.0, tl, opts.weights,
                                  prefs, bias=True)
            best = np.minimum(best, (c - parts["drop"]) / parts["minutes"])
        k = max(opts.per_segment, int(4 * span / max(med, 1.0)) + 4 * ARTIST_GAP)
        if n <= k:
            keep[:] = True
            break
        sel = np.argpartition(best, k)[:k]
        keep[sel] = True
        # Peak starts: also the tracks whose drops make the best entrance.
        if sp.segment.peak and np.any(pool.drop_q > 0):
            strength = pool.drop_q.max(axis=1)
            keep[np.argsort(-strength, kind="stable")[:max(k // 4, 8)]] = True
    return np.nonzero(keep)[0]


# ---------------------------------------------------------------- search

@dataclass
class _State:
    key: float
    cost: float
    order: tuple
    end_s: float
    labels: dict


def completion_table(pool: Pool, cand: np.ndarray, tl: Timeline, w: Weights, prefs,
                     budget: float = 6e7) -> tuple[np.ndarray, float]:
    """V[g, j]: the least cost to finish the session after candidate j ends at second
    g × step, by dynamic programming over (time, last track) with the no-repeat and artist
    rules and the style bounds relaxed (so it never overestimates at the grid points).
    The step is 1 s when the table is small enough, coarser otherwise (``budget`` cells ×
    candidates). Returns (V, step_s)."""
    C = len(cand)
    T = int(math.ceil(tl.total_s))
    step = max(1, int(math.ceil(T * C * C / budget)))
    G = T // step + 1
    starts = np.arange(G, dtype=np.float64) * step
    idx = np.broadcast_to(cand[:, None], (C, G))
    U, parts = unary_cost(pool, idx, np.broadcast_to(starts, (C, G)), tl, w, prefs, bias=True)
    HD = tl.half_double[parts["seg"]]
    a, b = cand[:, None], cand[None, :]
    TH = transition_cost(pool, a, b, True, w)
    TN = transition_cost(pool, a, b, False, w)
    art = pool.artist[cand]
    same = np.eye(C, dtype=bool) | ((art[:, None] == art[None, :]) & (art[:, None] >= 0))
    TH[same] = np.inf
    TN[same] = np.inf
    dur = pool.dur_s[cand]
    V = np.zeros((G, C))
    ar = np.arange(C)
    for g in range(G - 1, -1, -1):
        end = starts[g] + dur
        nxt = np.minimum(np.rint(end / step).astype(np.int64), G - 1)
        gain = U[:, g] + np.where(end >= tl.total_s, 0.0, V[nxt, ar])
        V[g] = np.min(np.where(HD[:, g][None, :], TH, TN) + gain[None, :], axis=1)
    return V, float(step)


def _bound_targets(tl: Timeline, pool: Pool):
    """(label index, share, is_max) for the arc's style bounds (the beam projects them)."""
    out = []
    for bounds, is_max in ((tl.arc.style_max, True), (tl.arc.style_min, False)):
        for s, share in bounds.items():
            if s in pool.styles:
                out.append((pool.styles.index(s), share, is_max))
    return out


def beam_search(pool: Pool, cand: np.ndarray, tl: Timeline, opts: PlanOptions,
                prefs) -> list[int]:
    w = opts.weights
    total = tl.total_s
    V, step = completion_table(pool, cand, tl, w, prefs)
    G = V.shape[0]
    ar = np.arange(len(cand))
    med = float(np.median(pool.dur_s[cand]))
    bounds = _bound_targets(tl, pool)
    dur = pool.dur_s[cand]
    artist = pool.artist[cand]
    label = pool.label[cand]
    pos_of = {int(p): i for i, p in enumerate(cand)}
    locks = _locks(pool, opts)
    lock_c = {k: pos_of[i] for k, i in locks.items()}  # position -> index into cand
    locked_c = np.fromiter(lock_c.values(), np.int64, len(lock_c))
    n_min = max(locks) + 1 if locks else 0  # a playlist holds every locked place
    beam = [_State(0.0, 0.0, (), 0.0, {})]
    finished: list[tuple[float, tuple]] = []
    best_partial: tuple = ()
    B = opts.beam_width
    while beam:
        pool_keys, pool_cost, pool_from, pool_pick = [], [], [], []
        for si, st in enumerate(beam):
            inc, parts = unary_cost(pool, cand, st.end_s, tl, w, prefs, bias=True)
            if st.order:
                last = st.order[-1]
                inc = inc + transition_cost(pool, last, cand,
                                            tl.half_double[parts["seg"]], w)
                used = np.fromiter((pos_of[o] for o in st.order), np.int64, len(st.order))
                inc[used] = np.inf
                for o in st.order[-ARTIST_GAP:]:
                    a = pool.artist[o]
                    if a >= 0:
                        inc[artist == a] = np.inf
            if locks:
                inc = _lock_mask(inc, len(st.order), lock_c, locked_c, locks, pool, artist)
            new_end = st.end_s + dur
            rest = V[np.minimum(np.rint(new_end / step).astype(np.int64), G - 1), ar]
            # No continuation at all (one track, or one artist only): the rest of the
            # session stays unfilled, which costs what plan_cost charges for it.
            rest = np.where(np.isfinite(rest), rest,
                            w.unfilled * np.maximum(total - new_end, 0.0) / 60.0)
            key = st.cost + inc + np.where(new_end >= total, 0.0, rest)
            # Style bounds: the part of a share penalty that no future track can undo
            # (as if every remaining track, at the median length, helped), so states are
            # not judged on a mix that is still in the making.
            if bounds:
                n0 = len(st.order) + 1
                r = np.maximum(total - new_end, 0.0) / med
                for li, share, is_max in bounds:
                    c0 = st.labels.get(li, 0) + (label == li)
                    gap = c0 - share * (n0 + r) if is_max else share * n0 - c0 - r * (1 - share)
                    key = key + w.style_bound * np.maximum(gap, 0.0)
            k = min(B, len(cand))
            pick = np.argpartition(key, k - 1)[:k] if k < len(cand) else np.arange(len(cand))
            pick = pick[np.isfinite(key[pick])]
            pool_keys.append(key[pick])
            pool_cost.append(st.cost + inc[pick])
            pool_from.append(np.full(len(pick), si))
            pool_pick.append(pick)
        if not pool_keys or sum(len(p) for p in pool_pick) == 0:
            break
        keys = np.concatenate(pool_keys)
        costs = np.concatenate(pool_cost)
        frm = np.concatenate(pool_from)
        picks = np.concatenate(pool_pick)
        order = np.lexsort((picks, frm, keys))
        nxt: list[_State] = []
        seen = set()
        for j in order:
            st = beam[frm[j]]
            p = int(picks[j])
            new_order = st.order + (int(cand[p]),)
            sig = (frozenset(new_order), new_order[-ARTIST_GAP:])  # same future options
            if sig in seen:
                continue
            seen.add(sig)
            end = st.end_s + dur[p]
            if end >= total:
                if len(new_order) >= n_min:  # else it ends before a locked place
                    finished.append((float(keys[j]), new_order))
                continue
            if len(nxt) < B:
                labels = dict(st.labels)
                if label[p] >= 0:
                    labels[int(label[p])] = labels.get(int(label[p]), 0) + 1
                nxt.append(_State(float(keys[j]), float(costs[j]), new_order, end, labels))
        if nxt:
            best_partial = nxt[0].order
        beam = nxt
    if not finished:
        return list(best_partial)
    # Rank complete playlists by the full objective (bounds included).
    scored = [(plan_cost(pool, o, tl, w, prefs, bias=True).total, o) for c, o in
              sorted(finished, key=lambda x: (x[0], x[1]))[:4 * B]]
    scored.sort(key=lambda x: (x[0], x[1]))
    return list(scored[0][1])


def _locks(pool: Pool, opts: PlanOptions) -> dict[int, int]:
    """The locked tracks as {position (0-based): pool index}."""
    if not opts.locked:
        return {}
    at = {int(t): i for i, t in enumerate(pool.ids)}
    return {p - 1: at[tid] for p, tid in _lock_pairs(opts.locked)}


def _lock_mask(inc: np.ndarray, k: int, lock_c: dict, locked_c: np.ndarray,
               locks: dict, pool: Pool, artist: np.ndarray) -> np.ndarray:
    """The beam's step costs at position ``k`` with the locks: a locked place takes its
    track only; elsewhere no locked track, nor its artist within ARTIST_GAP before it."""
    out = np.full_like(inc, np.inf)
    if k in lock_c:
        out[lock_c[k]] = inc[lock_c[k]]
        return out
    out[:] = inc
    out[locked_c] = np.inf
    for q in range(k + 1, k + 1 + ARTIST_GAP):
        if q in locks and pool.artist[locks[q]] >= 0:
            out[artist == pool.artist[locks[q]]] = np.inf
    return out


def _valid(pool: Pool, order: Sequence[int], locks: dict[int, int] | None = None) -> bool:
    if len(set(order)) != len(order):
        return False
    if locks and any(p >= len(order) or order[p] != i for p, i in locks.items()):
        return False
    arts = pool.artist[np.asarray(order, dtype=np.int64)]
    for k in range(1, ARTIST_GAP + 1):
        a, b = arts[:-k], arts[k:]
        if np.any((a == b) & (a >= 0)):
            return False
    return True


def _fit_length(pool: Pool, order: list[int], total_s: float) -> list[int] | None:
    """Cut tracks that would start after the session end; None if it falls short."""
    t = 0.0
    for i, o in enumerate(order):
        t += pool.dur_s[o]
        if t >= total_s:
            return order[:i + 1]
    return None


def _best_trial(pool: Pool, trials, tl: Timeline, w, prefs, cur_cost: float, locks=None):
    """The cheapest valid order among ``trials`` if it beats ``cur_cost``:
    ``(cost, order or None, orders evaluated)``."""
    best_cost, best, n = cur_cost, None, 0
    for trial in trials:
        trial, c = _trial(pool, trial, tl, w, prefs, locks)
        if trial is None:
            continue
        n += 1
        if c < best_cost - 1e-9:
            best_cost, best = c, trial
    return best_cost, best, n


def _trial(pool: Pool, order: list[int], tl: Timeline, w, prefs, locks=None):
    """``order`` fitted to the session and its cost, or ``(None, inf)`` if it breaks a rule
    (``locks``: {position: pool index} it must keep)."""
    order = _fit_length(pool, order, tl.total_s)
    if order is None or not _valid(pool, order, locks):
        return None, math.inf
    return order, plan_cost(pool, order, tl, w, prefs, bias=True).total


def local_search(pool: Pool, cand: np.ndarray, order: list[int], tl: Timeline,
                 opts: PlanOptions, prefs) -> tuple[list[int], int]:
    w = opts.weights
    locks = _locks(pool, opts)  # every move keeps these; the others are never moved there
    evals = 0
    cur = list(order)
    cur_cost = plan_cost(pool, cur, tl, w, prefs, bias=True).total
    R = 12
    improved = True
    while improved and evals < opts.local_evals:
        improved = False
        # Replace: for each position, the best few candidates by a quick local estimate.
        pc = plan_cost(pool, cur, tl, w, prefs, bias=True)
        # An accepted move may shorten ``cur`` (the new track ends the session sooner), so
        # every loop below re-checks its index against the current length.
        for i in range(len(cur)):
            if evals >= opts.local_evals or i >= len(cur):
                break
            if i in locks:
                continue
            start = pc.start_s[i] if i < len(pc.start_s) else 0.0
            est, parts = unary_cost(pool, cand, start, tl, w, prefs, bias=True)
            hd = tl.half_double[parts["seg"]]
            if i > 0:
                est = est + transition_cost(pool, cur[i - 1], cand, hd, w)
            if i + 1 < len(cur):
                est = est + transition_cost(pool, cand, cur[i + 1], hd, w)
            used = set(cur)
            mask = np.array([c in used for c in cand.tolist()])
            est[mask] = np.inf
            k = min(R, int(np.isfinite(est).sum()))
            if k == 0:
                continue
            top = np.argpartition(est, k - 1)[:k]
            top = top[np.argsort(est[top], kind="stable")]
            best = _best_trial(pool, (cur[:i] + [int(cand[p])] + cur[i + 1:] for p in top),
                               tl, w, prefs, cur_cost, locks)
            evals += best[2]
            if best[1] is not None:
                cur, cur_cost = best[1], best[0]
                pc = plan_cost(pool, cur, tl, w, prefs, bias=True)
                improved = True
        # Swap two positions.
        n = len(cur)
        for i in range(n):
            for j in range(i + 1, n):
                if evals >= opts.local_evals or j >= len(cur):
                    break
                if i in locks or j in locks:
                    continue
                trial = list(cur)
                trial[i], trial[j] = trial[j], trial[i]
                c, trial, k = _best_trial(pool, [trial], tl, w, prefs, cur_cost, locks)
                evals += k
                if trial is not None:
                    cur, cur_cost = trial, c
                    improved = True
                    n = len(cur)
                    break
        # Drop a track when the rest still fills the session.
        for i in range(len(cur)):
            trial = cur[:i] + cur[i + 1:]
            if _fit_length(pool, trial, tl.total_s) != trial or not _valid(pool, trial, locks):
                continue
            evals += 1
            c = plan_cost(pool, trial, tl, w, prefs, bias=True).total
            if c < cur_cost - 1e-9:
                cur, cur_cost = trial, c
                improved = True
                break
        # Merge two neighbours into one track, or split one into two: changes the count.
        for i in range(len(cur)):
            if evals >= opts.local_evals or i >= len(cur):
                break
            start = float(np.sum(pool.dur_s[cur[:i]]))
            est, parts = unary_cost(pool, cand, start, tl, w, prefs, bias=True)
            used = set(cur)
            est[np.array([c in used for c in cand.tolist()])] = np.inf
            k = min(R // 2, int(np.isfinite(est).sum()))
            if k == 0:
                continue
            top = np.argpartition(est, k - 1)[:k]
            top = [int(cand[p]) for p in top[np.argsort(est[top], kind="stable")]]
            trials = []
            if i + 1 < len(cur):
                trials += [cur[:i] + [p] + cur[i + 2:] for p in top]
            trials += [cur[:i] + [p, q] + cur[i + 1:] for p in top[:3] for q in top[:6]
                       if p != q]
            best = _best_trial(pool, trials, tl, w, prefs, cur_cost, locks)
            evals += best[2]
            if best[1] is not None:
                cur, cur_cost = best[1], best[0]
                improved = True
    return cur, evals


def variety_bias(ids: np.ndarray, opts: PlanOptions) -> np.ndarray:
    """The seeded per-minute variety cost of each track (zeros for seed 0).

    Keyed by track id, so a track's cost does not depend on which other tracks were read
    or in what order.
    """
    if opts.variety <= 0 or opts.seed == 0 or not len(ids):
        return np.zeros(len(ids))
    ids = np.clip(np.asarray(ids, np.int64), 0, None)
    u = np.random.default_rng(opts.seed).random(int(ids.max()) + 1)
    return opts.variety * u[ids]


def optimize(pool: Pool, cand: np.ndarray, tl: Timeline, opts: PlanOptions,
             prefs=None) -> tuple[list[int], dict]:
    """Beam search then local search over pool indices ``cand``; returns (order, stats).

    The seed acts through ``pool.bias`` (see ``variety_bias``), which must be set before
    pre-selection so that pre-selection and search rank tracks alike.
    """
    prefs = prefs if prefs is not None else segment_prefs(tl, pool.styles)
    t0 = time.perf_counter()
    order = beam_search(pool, cand, tl, opts, prefs)
    t1 = time.perf_counter()
    order, evals = local_search(pool, cand, order, tl, opts, prefs) if order else (order, 0)
    t2 = time.perf_counter()
    return order, {"beam_s": t1 - t0, "local_s": t2 - t1, "local_evals": evals}


# ---------------------------------------------------------------- the planner

def plan(lib: TrackSource, arc: Arc, minutes: float | None = None,
         opts: PlanOptions | None = None) -> Plan:
    """Plan a playlist for ``arc`` over ``minutes`` from the library ``lib``: read the
    candidates through the library's indexed queries, then :func:`plan_candidates`."""
    opts = _check(opts or PlanOptions(), arc)
    t0 = time.perf_counter()
    tl = arc.timeline(minutes)
    recent = lib.recent_plan_track_ids(opts.avoid_recent) if opts.avoid_recent > 0 else set()
    window, length_note = (None if opts.excerpts else arc.track_minutes), None
    # Excerpts: a track's bars span its energy, so one energy band per target is enough,
    # and fewer tracks per query (each track fills a minute or two, not four).
    bands = (ENERGY_BAND,) if opts.excerpts else (0.5, ENERGY_BAND)
    near = NEAREST_N // 2 if opts.excerpts else NEAREST_N
    locked = [lib.get_track(tid) for _, tid in opts.locked]  # they join whatever is read
    prints = _Prints(lib)
    tracks, widen, strict_n, n_queries = load_candidates(lib, tl, opts, window, bands, near)
    tracks, have_s = _one_per_recording(tracks, locked, prints, opts)
    if window is not None and have_s < LENGTH_FILL * tl.total_s:
        # Too little music of the arc's track lengths: use every length, and say so.
        length_note = _length_note(window, have_s, tl.total_s)
        tracks, widen, strict_n, n_queries = load_candidates(lib, tl, opts)
        tracks, _ = _one_per_recording(tracks, locked, prints, opts)
    found = _Found(widen, strict_n, n_queries, length_note, t0)
    return _plan_over(tracks, tl, opts, _with_clarity(lib), recent, found)


def _with_clarity(lib: TrackSource) -> RhythmLookup:
    """``lib.rhythm`` plus each beat's clarity where the source keeps it
    (``Library.beat_clarity``; analysis/beat_clarity.py)."""
    clarity = getattr(lib, "beat_clarity", None)
    if clarity is None:
        return lib.rhythm
    return lambda tid: tuple(lib.rhythm(tid)) + (clarity(tid),)


class _Prints:
    """The sound prints of a plan's candidates, each read from the source once."""

    def __init__(self, lib: TrackSource):
        self.lib = lib
        self.asked: set[int] = set()
        self.have: dict[int, np.ndarray] = {}

    def of(self, tracks: Sequence[Track]) -> Mapping[int, np.ndarray]:
        new = {t.id for t in tracks if t.id is not None} - self.asked
        if new:
            self.have.update(self.lib.identities(new))
            self.asked |= new
        return self.have


def _one_per_recording(tracks: list[Track], locked: list[Track | None], prints: _Prints,
                       opts: PlanOptions) -> tuple[list[Track], float]:
    """The candidates read, with the locked tracks added, and each recording once (two
    files of one song, found by their sound prints: analysis/identity.py), so no plan
    holds one recording twice: a locked track stays and its copies go, whatever their
    ids. Also the seconds of music left among the tracks read (locks not counted)."""
    from ..analysis.identity import one_per_recording

    read = {t.id for t in tracks}
    if opts.locked:
        tracks = _with_locked(tracks, locked, opts)
    keep = {tid for _, tid in opts.locked}
    tracks = one_per_recording(tracks, prints.of(tracks), keep=keep)[0]
    return tracks, sum(t.duration_s for t in tracks if t.id in read)


ALT_SHARE = 0.5   # an alternative shares at most this share of its tracks with an earlier plan
ALT_SEEDS = 6     # seeds tried for each alternative before the fallback


def alternatives(lib: TrackSource, arc: Arc, n: int, minutes: float | None = None,
                 opts: PlanOptions | None = None) -> tuple[list[Plan], str | None]:
    """Up to ``n`` plans for one arc: the best, then near-best ones with other tracks.

    Each alternative comes from the next seeds (their variety cost steers the search to
    other tracks of near-equal fit): the first that shares at most ``ALT_SHARE`` of its
    tracks with every earlier plan. When ``ALT_SEEDS`` seeds give none, the last seed's plan
    without as many of its shared tracks as it takes (:func:`_fewer_shared`); failing that,
    the best plan from tracks no earlier plan used (further from the arc).

    Returns the plans and, when the library ran out of tracks before ``n``, a note saying
    so. The first plan's PlanError propagates."""
    opts = opts or PlanOptions()
    plans: list[Plan] = [plan(lib, arc, minutes, opts)]
    seen = [_track_ids(plans[0])]
    seed, note = opts.seed, None
    while len(plans) < max(n, 1):
        p = None
        for _ in range(ALT_SEEDS):
            seed += 1
            q = plan(lib, arc, minutes, dataclasses.replace(opts, seed=seed))
            ids = _track_ids(q)
            if ids and all(len(ids & s) <= ALT_SHARE * len(ids) for s in seen):
                p = q
                break
        if p is None:  # the seeds keep finding the same tracks: leave some of them out
            try:
                p = _fewer_shared(lib, arc, minutes, dataclasses.replace(opts, seed=seed), seen)
            except PlanError:
                p = None
        if p is None:  # … or every used one
            used = frozenset().union(*seen)
            try:
                p = plan(lib, arc, minutes, dataclasses.replace(
                    opts, exclude_ids=frozenset(opts.exclude_ids) | used))
            except PlanError as exc:
                note = (f"only {len(plans)} of {n} plans with other tracks: without the "
                        f"{len(used)} tracks already used, {exc}")
                break
        plans.append(p)
        seen.append(_track_ids(p))
    return plans, note


def _fewer_shared(lib: TrackSource, arc: Arc, minutes: float | None, opts: PlanOptions,
                  seen: list[set[int]], rounds: int = ALT_SEEDS) -> Plan | None:
    """A plan sharing at most ``ALT_SHARE`` of its tracks with each of ``seen``, leaving
    out only the shared tracks it must: each round re-plans without the excess shared
    tracks of the last plan, those that fit their places worst (cost per second) first.
    None after ``rounds`` tries. (Leaving out every used track cost the 45-min excerpt
    montage on the free library +96 % for its first alternative; this, +61 %.)"""
    out = set(opts.exclude_ids)
    for _ in range(rounds):
        q = plan(lib, arc, minutes, dataclasses.replace(opts, exclude_ids=frozenset(out)))
        ids = _track_ids(q)
        if not ids:
            return None
        over = [(s & ids, len(s & ids) - int(ALT_SHARE * len(ids))) for s in seen]
        if all(k <= 0 for _, k in over):
            return q
        rate: dict[int, float] = {}
        for e in q.entries:
            per_s = e.cost / max(e.end_s - e.start_s, 1.0)
            rate[e.track.id] = rate.get(e.track.id, 0.0) + per_s
        for shared, k in over:
            out |= set(sorted(shared - out, key=lambda t: (-rate.get(t, 0.0), t))[:max(k, 0)])
    return None


def _track_ids(p: Plan) -> set[int]:
    return {t.id for t in p.tracks if t.id is not None}


def plan_candidates(tracks: Sequence[Track], arc: Arc, minutes: float | None = None,
                    opts: PlanOptions | None = None, *, rhythm: RhythmLookup | None = None,
                    recent_ids: set[int] | frozenset = frozenset()) -> Plan:
    """Plan from a plain sequence of tracks (no library): the same planner as :func:`plan`.

    ``rhythm`` gives a track id's (beats, downbeats, phrase starts), as a mapping or a
    callable; excerpt plans need it (without it, bars come from the tempo alone).
    ``recent_ids`` are tracks to use only when nothing else fits.
    """
    opts = _check(opts or PlanOptions(), arc)
    t0 = time.perf_counter()
    tl = arc.timeline(minutes)
    window = None if opts.excerpts else arc.track_minutes
    rows = [t for t in tracks if _usable(t, opts, opts.min_track_s)]
    rows.sort(key=lambda t: (t.id is None, t.id if t.id is not None else 0))
    note = None
    if window is not None:
        fit = [t for t in rows if 60.0 * window[0] <= t.duration_s <= 60.0 * window[1]]
        have_s = sum(t.duration_s for t in fit)
        if have_s >= LENGTH_FILL * tl.total_s:
            rows = fit
        else:
            note = _length_note(window, have_s, tl.total_s)
    strict_n = [sum(_fits(t, sp) for t in rows) for sp in tl.spans]
    if opts.locked:
        by_id = {t.id: t for t in tracks if t.id is not None}
        rows = _with_locked(rows, [by_id.get(tid) for _, tid in opts.locked], opts)
    found = _Found([0] * len(tl.spans), strict_n, 0, note, t0)
    return _plan_over(rows, tl, opts, rhythm, set(recent_ids), found)


@dataclass
class _Found:
    """How the candidates were read: per-segment widening and strict-fit counts."""

    widen: list[int]
    strict_n: list[int]
    queries: int
    length_note: str | None
    t0: float


def _check(opts: PlanOptions, arc: Arc) -> PlanOptions:
    """``opts`` with ``excerpts`` resolved (None: the arc's default); a bad seed raises."""
    if opts.seed < 0:
        raise PlanError(f"seed {opts.seed} is negative; a seed is 0 or more")
    if opts.excerpts is None:
        opts = dataclasses.replace(opts, excerpts=arc.excerpts)
    if opts.locked:
        opts = dataclasses.replace(opts, locked=_lock_pairs(opts.locked))
        if opts.excerpts:
            raise PlanError("locked tracks work in whole-track plans only, not in "
                            "excerpt plans")
    return opts


def _lock_pairs(locked) -> tuple[tuple[int, int], ...]:
    """``PlanOptions.locked`` as sorted (position, track id) pairs; PlanError when a
    position is below 1, or a position or a track is locked twice."""
    pairs = locked.items() if isinstance(locked, Mapping) else locked
    try:
        out = tuple(sorted((int(p), int(t)) for p, t in pairs))
    except (TypeError, ValueError):
        raise PlanError("locked tracks must be (position, track id) pairs") from None
    if any(p < 1 for p, _ in out):
        raise PlanError("a locked position is 1 or more")
    for k, what in ((0, "position"), (1, "track")):
        vals = [x[k] for x in out]
        if len(set(vals)) != len(vals):
            raise PlanError(f"a {what} is locked twice")
    return out


def _with_locked(rows: list[Track], locked: list[Track | None], opts: PlanOptions
                 ) -> list[Track]:
    """``rows`` (sorted by id) with the locked tracks added; PlanError for a locked track
    that is not an analysed track, or that the options leave out."""
    have = {t.id for t in rows}
    for (p, tid), t in zip(opts.locked, locked):
        if t is None or t.status != "ok" or not t.duration_s:
            raise PlanError(f"locked track {tid} (position {p}) is not an analysed track "
                            "of the library")
        if tid in opts.exclude_ids:
            raise PlanError(f"locked track {tid} (position {p}) is also left out")
        if tid not in have:
            rows = rows + [t]
            have.add(tid)
    return sorted(rows, key=lambda t: (t.id is None, t.id if t.id is not None else 0))


def _plan_over(tracks: list[Track], tl: Timeline, opts: PlanOptions, rhythm, recent,
               found: _Found) -> Plan:
    arc = tl.arc
    if not tracks:
        raise PlanError("the library has no analyzed tracks to plan with (run "
                        "`underdog scan DIR` first)")
    t_load = time.perf_counter()
    pool = Pool(tracks, recent_ids=recent, planning=True)
    pool.bias = variety_bias(pool.ids, opts)  # before pre-selection: the seed reaches it
    if opts.excerpts:
        return _plan_excerpts(pool, tl, opts, rhythm, found, t_load)
    prefs = segment_prefs(tl, pool.styles)
    cand = _preselect(pool, tl, opts, prefs)
    if opts.locked:  # the locked tracks are searched whatever their fit
        cand = np.union1d(cand, np.fromiter(_locks(pool, opts).values(), np.int64))
    t_pre = time.perf_counter()
    order, st = optimize(pool, cand, tl, opts, prefs)
    if not order:
        raise PlanError(f"no playlist could be made for arc {arc.name!r} from the "
                        f"{len(tracks)} usable track(s)")
    for p, tid in opts.locked:
        if p > len(order) or int(pool.ids[order[p - 1]]) != tid:
            raise PlanError(f"locked track {tid} cannot stay at position {p}: no playlist "
                            "of this session keeps every locked track at its place under "
                            "the rules (no repeats, artist spacing, the session's length)")
    pc = plan_cost(pool, order, tl, opts.weights, prefs)
    report = score_order(pool, order, tl, opts.weights)
    entries = _entries(pool, order, pc, tl, opts.weights)
    unclear = _whole_unclear(entries, rhythm)
    _note_unclear(report, unclear)
    _note_far(report, _whole_far_tempi(entries))
    warnings = _warnings(pool, order, pc, tl, found.widen, found.strict_n, opts)
    if found.length_note:
        warnings.insert(0, found.length_note)
    stats = {"library_tracks_read": len(tracks), "candidates": int(len(cand)),
             "queries": found.queries, "load_s": t_load - found.t0,
             "preselect_s": t_pre - t_load, **st, "unclear_beat": unclear,
             "total_s": time.perf_counter() - found.t0}
    return Plan(arc, tl, entries, pc, report, warnings, opts.seed, stats)


def _whole_unclear(entries: list[PlanEntry], rhythm) -> dict[str, int]:
    """Whole-track plans: the renderer blends the outgoing track's last 8 bars into the
    incoming one's first 8. Where either side holds more than UNCLEAR_SHARE unclear beats
    (analysis/beat_clarity.py), the blend shortens to the last/first 4 bars when those are
    clear, else becomes a cut; the entry's ``transition`` says so (``"reason"``). Tracks
    without a stored clarity blend as before. Returns how many became shorter and cuts."""
    from .excerpts import CLEAR, OVERLAP_BARS, UNCLEAR_SHARE, stored_clarity

    out = {"shorter": 0, "cuts": 0}
    if rhythm is None:
        return out

    def side(e: PlanEntry):
        r = rhythm_of(rhythm, e.track.id) if e.track.id is not None else None
        if r is None or len(r) < 4:
            return None
        c = stored_clarity(r[3], len(r[0]))
        m = {"double": 2.0, "half": 0.5}.get(e.half_double or "", 1.0)  # session per own beat
        return None if c is None else (c < CLEAR, m)

    sides = [side(e) for e in entries]
    for k in range(1, len(entries)):
        a, b = sides[k - 1], sides[k]
        if a is None or b is None:
            continue

        def clear(bars: int) -> bool:
            na, nb = int(round(4 * bars / a[1])), int(round(4 * bars / b[1]))
            ua, ub = a[0][-na - 1:], b[0][:nb + 1]  # the beats the renderer lines up
            return ua.mean() <= UNCLEAR_SHARE and ub.mean() <= UNCLEAR_SHARE

        if clear(OVERLAP_BARS):
            continue
        half = OVERLAP_BARS // 2
        tr = ({"shape": "equal_power", "bars": half} if clear(half)
              else {"shape": "cut", "bars": 0})
        entries[k].transition = {**tr, "reason": "unclear beat"}
        out["shorter" if tr["bars"] else "cuts"] += 1
    return out


def _whole_far_tempi(entries: list[PlanEntry]) -> int:
    """Whole-track plans: the renderer meets two blending tracks at one tempo within ±8 %
    of each one's own (in the octave it plays at); two tempi further apart than that
    (1.08 / 0.92) would be stretched beyond it through the overlap, which sounds like a
    tempo warp, so the blend becomes a cut, as a DJ would make it (``"reason"``: "tempi
    apart"). Returns how many."""
    n = 0
    for a, b in zip(entries, entries[1:]):
        if (b.transition or {}).get("shape") == "cut" or not a.played_bpm or not b.played_bpm:
            continue
        if not tempi_meet(a.played_bpm, b.played_bpm):
            b.transition = {"shape": "cut", "bars": 0, "reason": "tempi apart"}
            n += 1
    return n


def _note_far(report: ScoreReport, far: int) -> None:
    """The report's note of blends made cuts because their tempi cannot meet."""
    if far:
        report.notes.append(f"{far} blend{'s' * (far != 1)} between tempi too far apart to "
                            f"meet within ±8 % of both: made {'cuts' if far != 1 else 'a cut'}")


def _note_unclear(report: ScoreReport, unclear: dict[str, int]) -> None:
    """The report's note of blends that became shorter or cuts over an unclear beat."""
    n = unclear["shorter"] + unclear["cuts"]
    if n:
        report.notes.append(f"{n} blend{'s' * (n != 1)} over bars without a clear beat: "
                            f"{unclear['shorter']} shortened, {unclear['cuts']} made cuts")


# ---------------------------------------------------------------- excerpt plans

def _plan_excerpts(pool: Pool, tl: Timeline, opts: PlanOptions, rhythm, found: _Found,
                   t_load: float) -> Plan:
    """The montage edit (see planning/excerpts.py): slots, candidates, beam search."""
    w, xo = opts.weights, opts.excerpt
    ranges = np.array([level_range(t) for t in pool.tracks], np.float64).reshape(-1, 2)
    grids: dict = {}
    for k in range(4):  # slots too long for every track there is: shorter slots
        slots = make_slots(tl, dataclasses.replace(xo, excerpt_s=xo.excerpt_s / 2 ** k))
        cands = preselect(pool, slots, tl, w, xo.per_slot, ranges)
        need = sorted({int(i) for c in cands for i in c})
        for i in need:
            if i not in grids:
                t = pool.tracks[i]
                grids[i] = track_grid(t, rhythm_of(rhythm, t.id) if t.id is not None else None)
        t_pre = time.perf_counter()
        choices = search(pool, slots, tl, w, grids, cands, xo)
        if choices:
            break
    unclear = unclear_blends(choices, grids)
    far = far_tempi_blends(choices, grids)
    align_drops(choices)
    if not choices:
        raise PlanError(f"no excerpt plan could be made for arc {tl.arc.name!r}: none of the "
                        f"{len(pool)} usable track(s) has a beat grid and a tempo within "
                        "±8 % of the arc's (or half/double it); try --whole-tracks")
    t_search = time.perf_counter()
    entries = _excerpt_entries(pool, choices, slots, tl)
    pc, report = _excerpt_report(pool, choices, entries, tl, w)
    _note_unclear(report, unclear)
    _note_far(report, far)
    warnings = _excerpt_warnings(pool, choices, tl, found.strict_n)
    if found.length_note:
        warnings.insert(0, found.length_note)
    stats = {"library_tracks_read": len(pool), "candidates": len(need), "slots": len(slots),
             "queries": found.queries, "load_s": t_load - found.t0,
             "preselect_s": t_pre - t_load, "search_s": t_search - t_pre,
             "unclear_beat": unclear, "tempi_apart": far,
             "total_s": time.perf_counter() - found.t0}
    return Plan(tl.arc, tl, entries, pc, report, warnings, opts.seed, stats)


def _excerpt_entries(pool: Pool, choices, slots: list[Slot], tl: Timeline) -> list[PlanEntry]:
    out: list[PlanEntry] = []
    prev_out = prev_own = 0.0  # the tempo the excerpt before ends at, and its own
    for k, ch in enumerate(choices):
        s, ex, t = ch.slot, ch.excerpt, pool.tracks[ch.index]
        tempo = _played_tempo(ch)
        end = s.end_s
        if k + 1 < len(choices) and not choices[k + 1].slot.cut_in:  # the blend out of it
            t_next = _played_tempo(choices[k + 1])
            end += blend_s(s.overlap_out, tempo, t_next)
        own_played = ex.own_bpm * ex.multiple
        t_in, t_out = _ramp_tempi(tl, s, tempo, own_played, s.start_s, s.end_s)
        beat_s = 60.0 / own_played  # track seconds per session beat
        nxt = choices[k + 1] if k + 1 < len(choices) else None
        blend_in = s.overlap_in if k > 0 and not s.cut_in else 0
        blend_out = s.overlap_out if nxt and not nxt.slot.cut_in else 0
        meet = None
        met_out = prev_out  # where the blend in starts
        if blend_in and prev_own:  # the render meets the two within ±8 % of both: it
            # enters at that tempo, then rides to the arc's (the one before held short)
            meet = (prev_own * (1 - MAX_STRETCH), prev_own * (1 + MAX_STRETCH))
            t_in = min(max(t_in, meet[0]), meet[1])
            met_out = blend_from(prev_out, prev_own, own_played)

        def clock(r: Ramp) -> tuple:  # session_at's and body_fit's arguments after ramp
            b_in = blend_s(blend_in, met_out, r.r_in * own_played) if blend_in else 0.0
            return (s.start_s, beat_s, blend_in, b_in, blend_out, s.end_s if nxt else None,
                    tempo / own_played)

        ramp = _ramp_on_clock(
            Ramp.held(ex.in_s, ex.out_s, t_in / own_played, t_out / own_played, beat_s,
                      s.overlap_in, s.overlap_out),
            lambda r: body_fit(r, *clock(r)), own_played, tempo, s.overlap_in > 0,
            s.overlap_out > 0, meet)
        t_in, t_out = ramp.r_in * own_played, ramp.r_out * own_played
        via = tuple((u, r * own_played) for u, r in ramp.via)
        drop_at, drop_track = None, ex.drop_s
        if drop_track is None:  # any drop inside the excerpt: the strongest
            drop_track = strongest_drop(t, ex.in_s, ex.out_s)
        if drop_track is not None:  # where the render will play it (its blends, the clock)
            drop_at = session_at(ramp, drop_track, *clock(ramp))
        prev_out, prev_own = t_out, own_played
        if k == 0 or s.cut_in:
            tr = {"shape": "cut", "bars": 0}
        else:
            prev = choices[k - 1]
            shape = "bass_swap" if loud_blend(prev.excerpt, ex) and \
                prev.slot.overlap_out >= 4 else "equal_power"
            tr = {"shape": shape, "bars": prev.slot.overlap_out}
        if s.reason:
            tr["reason"] = s.reason
        sp = tl.spans[s.span]
        # graded as it plays, stretched to `tempo` (as `underdog score` grades the JSON);
        # its own tempo over its bars, in the octave it plays, is what it is stretched from
        dev = abs(tempo / s.target_bpm - 1.0) * 100.0
        own_dev = abs(own_played / s.target_bpm - 1.0) * 100.0
        stretch = (tempo / own_played - 1.0) * 100.0
        hd = None if ex.multiple == 1.0 else ("double" if ex.multiple > 1 else "half")
        tp = cs = None
        if k > 0:
            a, b = choices[k - 1], ch
            tp = float(transition_pct(_played_tempo(a), tempo, False))
            d = camelot_distance(pool.cam_num[a.index], pool.cam_let[a.index],
                                 pool.cam_num[b.index], pool.cam_let[b.index])
            cs = int(d) if d >= 0 else None
        costs = {"excerpt": ch.cost, "transition": ch.transition}
        why = _why(t, sp, dev, hd, tempo, ex.level, s.target_level, tp, cs,
                   None, 1.0, bool(pool.recent[ch.index]), stretch=(stretch, ex.own_bpm))
        why = (f"bars {ex.i_in + 1}–{ex.i_in + ex.n_bars} ({mmss(ex.in_s)}–{mmss(ex.out_s)})"
               + ("" if ex.phrase_in and ex.phrase_out else ", off a phrase boundary") + "; "
               + why + ("; its drop lands on the first beat" if ex.drop_s is not None else "")
               + "".join("; " + n for n in ch.notes))
        out.append(PlanEntry(
            track=t, position=k + 1, start_s=s.start_s, end_s=end, segment=sp.segment.name,
            peak=sp.segment.peak, target_bpm=s.target_bpm, target_level=s.target_level,
            played_bpm=tempo, half_double=hd, tempo_dev_pct=dev, level=ex.level,
            transition_pct=tp, camelot_step=cs, drop_on_peak_s=ex.drop_s,
            cost=ch.cost + ch.transition, costs=costs, why=why,
            in_s=ex.in_s, out_s=ex.out_s, downbeat_s=ex.in_s, drop_at_s=drop_at,
            tempo_bpm=tempo, transition=tr, round=s.round,
            bars=(ex.body_bars or s.bars) + s.overlap_out, on_phrase=(ex.phrase_in, ex.phrase_out),
            stretch_pct=stretch, own_tempo_dev_pct=own_dev,
            tempo_in_bpm=t_in, tempo_out_bpm=t_out, tempo_via=via))
    return out


def _held(bpm: float, own_played: float, tempo: float | None = None) -> float:
    """``bpm`` held within ±8 % of ``own_played`` (the tempo a track plays at before any
    stretch), as the render holds it; never nearer than ``tempo`` (a forced excerpt's
    tempo, itself beyond that reach)."""
    tempo = own_played if tempo is None else tempo
    return min(max(bpm, min(tempo, own_played * (1 - MAX_STRETCH))),
               max(tempo, own_played * (1 + MAX_STRETCH)))


def _ramp_tempi(tl: Timeline, s: Slot, tempo: float, own_played: float, t0: float,
                t1: float) -> tuple[float, float]:
    """The session tempo an excerpt playing ``tempo`` (its slot's, at the slot's middle)
    has where its slot starts and ends (``t0``, ``t1``: it holds them through its blends),
    where its segment's tempo ramps (a cool-down, a build): the arc's target there, scaled
    as the slot's, read inside its own segment and held within ±8 % of its own tempo
    (``own_played``)."""
    sp = tl.spans[s.span]
    out = []
    for t in (t0, t1):
        b = sp.bpm_at(t)
        out.append(_held(tempo * b / s.target_bpm if s.target_bpm > 0 else tempo,
                         own_played, tempo))
    return out[0], out[1]


def _ramp_on_clock(ramp: Ramp, fit, own_played: float, tempo: float, blend_in: bool,
                   blend_out: bool, meet: tuple[float, float] | None = None) -> Ramp:
    """``ramp`` (an excerpt's, its ends from the arc) changed so that its body takes the
    session time the plan's clock leaves it (``fit(ramp)``: ``ramp.body_fit``'s (body,
    want)), which the render would otherwise get by scaling the whole ramp: holding an end
    within ±8 % of ``own_played`` (a cool-down far below a track's own tempo), or bars
    counted at another tempo than a line through their beats, leave its mean off the
    clock. An end that blends (``blend_in``, ``blend_out``) stays where it is if it can,
    so the two tracks meet at one tempo: the end at a cut moves alone, else the line bends
    at the middle of its body; failing both, the ends move together (the end that blends
    in kept within ``meet``, BPM, the tempi the excerpt before can meet), and failing
    that, the nearest of these (the render refits the rest). Each rate stays within ±8 %
    (never nearer than ``tempo``, a forced excerpt's). A steady ramp, or one the clock
    already fits, is returned as is."""
    if ramp.flat:
        return ramp
    body, want = fit(ramp)
    if not (body > 0 and want > 0) or abs(body / want - 1.0) < 1e-4:
        return ramp
    lo = min(tempo, own_played * (1 - MAX_STRETCH)) / own_played
    hi = max(tempo, own_played * (1 + MAX_STRETCH)) / own_played
    lo_in, hi_in = lo, hi
    if meet is not None:
        lo_in = min(max(meet[0] / own_played, lo), hi)
        hi_in = max(min(meet[1] / own_played, hi), lo_in)
    a, b = ramp.edges()

    def err(r: Ramp) -> float:  # > 0: too slow for the clock
        got, need = fit(r)
        return got - need

    def solve(make, x0: float, x1: float) -> Ramp | None:
        """``make(x)`` at the x in [x0, x1] where ``err`` crosses 0 (it falls with x)."""
        if err(make(x0)) < 0 or err(make(x1)) > 0:
            return None
        for _ in range(40):
            x = 0.5 * (x0 + x1)
            if err(make(x)) > 0:
                x0 = x
            else:
                x1 = x
        return make(0.5 * (x0 + x1))

    tries = []
    if blend_in != blend_out:  # the end at the cut
        tries.append(((lambda v: dataclasses.replace(ramp, r_out=v)) if blend_in else
                      (lambda v: dataclasses.replace(ramp, r_in=v)), lo, hi))
    if (blend_in or blend_out) and b - a > 1e-6:  # a bend between the ends
        tries.append((lambda v: dataclasses.replace(ramp, via=((0.5 * (a + b), v),)), lo, hi))
    tries.append((lambda d: dataclasses.replace(  # the two ends together
        ramp, r_in=min(max(ramp.r_in * math.exp(d), lo_in), hi_in),
        r_out=min(max(ramp.r_out * math.exp(d), lo), hi)), -0.5, 0.5))
    for make, x0, x1 in tries:
        got = solve(make, x0, x1)
        if got is not None:
            return got
    return min((make(x) for make, x0, x1 in tries for x in (x0, x1)),
               key=lambda r: abs(err(r)))


def _played_tempo(ch) -> float:
    """The session tempo an excerpt choice plays at (its own, else its slot's)."""
    return ch.excerpt.tempo or ch.slot.tempo


@dataclass
class ExcerptReport(ScoreReport):
    """An excerpt plan's report. Its tempo figures grade what plays (each excerpt at its
    ``tempo_bpm``), as ``underdog score`` grades the plan's JSON; ``bpm_mae_own`` keeps the
    fit before stretching beside them."""

    bpm_mae_own: float | None = None  # mean |own BPM (its bars, its octave) − target|


def _excerpt_report(pool: Pool, choices, entries: list[PlanEntry], tl: Timeline,
                    w: Weights) -> tuple[PlanCost, ExcerptReport]:
    """The objective and the report of an excerpt plan, in the whole-track report's terms:
    tempo fit and transitions at the tempo each excerpt plays at (stretched), the fit of
    the excerpts' own tempi beside it (``bpm_mae_own``, rows' ``own_bpm``)."""
    n = len(entries)
    order = [c.index for c in choices]
    unary = np.array([c.cost for c in choices])
    trans = np.array([c.transition for c in choices[1:]])
    tpct = np.array([e.transition_pct for e in entries[1:]], np.float64)
    cdist = np.array([-1 if e.camelot_step is None else e.camelot_step for e in entries[1:]],
                     np.int64)
    start = np.array([e.start_s for e in entries])
    end_s = max(e.end_s for e in entries)
    target = np.array([e.target_bpm for e in entries])
    played = np.array([e.tempo_bpm for e in entries])
    own = np.array([c.excerpt.own_bpm * c.excerpt.multiple for c in choices])
    lv = np.array([e.level for e in entries], np.float64)
    tgt_lv = np.array([e.target_level for e in entries])
    parts = {"seg": np.array([c.slot.span for c in choices]), "target_bpm": target,
             "target_level": tgt_lv, "played": played,
             "dev": np.array([e.tempo_dev_pct for e in entries]),
             "minutes": np.array([(c.slot.end_s - c.slot.start_s) / 60.0 for c in choices])}
    total = float(unary.sum() + trans.sum())
    terms = {"excerpts": float(unary.sum()), "transitions": float(trans.sum())}
    pc = PlanCost(total, terms, start, unary, parts, trans, tpct, cdist, [], end_s)
    gap, bad = artist_spacing(pool, order)
    peaks = [sp for sp in tl.spans if sp.segment.peak]
    starts = [sp.start_s for sp in peaks]
    hits = sum(1 for p in starts if any(
        e.drop_at_s is not None and abs(e.drop_at_s - p) <= 60.0 / e.tempo_bpm
        for e in entries))
    shares = {s: float(np.mean(pool.label[order] == i)) for i, s in enumerate(pool.styles)}
    within = float(np.mean(tpct <= TRANSITION_OK_PCT + 1e-9)) if len(tpct) else None
    known = cdist >= 0
    rows = track_rows(pool, order, pc, tl, levels=lv)
    for r, e in zip(rows, entries):
        # the keys `score` gives an excerpt's row
        r["in_s"], r["out_s"] = round(e.in_s, 2), round(e.out_s, 2)
        r["own_bpm"] = plain(e.track.bpm, 1) if e.track.bpm else None
        r["drop_at_s"] = plain(e.drop_at_s, 1)
    minutes = (end_s) / 60.0
    report = ExcerptReport(
        arc=tl.arc.name, tracks=n, minutes=round(minutes, 2),
        session_minutes=round(tl.total_s / 60.0, 2),
        bpm_mae=float(np.mean(np.abs(played - target))), energy_mae=float(
            np.mean(np.abs(lv - tgt_lv))), within_6pct=within,
        camelot_ok=float(np.mean(cdist[known] <= 1)) if known.any() else None,
        artist_min_gap=gap, artist_violations=bad, style_shares=shares,
        drops_on_peaks=f"{hits}/{len(peaks)}", objective=total,
        objective_per_min=total / max(minutes, 1e-9), terms=terms,
        notes=list(pool.spacing_notes), rows=rows,
        bpm_mae_own=float(np.mean(np.abs(own - target))))
    return pc, report


def _excerpt_warnings(pool: Pool, choices, tl: Timeline, strict_n: list[int]) -> list[str]:
    """One line per segment (per round) whose excerpts miss the target: energy more than
    ENERGY_BAND off, a tempo beyond the ±8 % stretch, a part repeated or an artist within 3
    excerpts (the library ran short)."""
    out = []
    by_span: dict[int, list] = {}
    for c in choices:
        by_span.setdefault(c.slot.span, []).append(c)
    for sp in tl.spans:
        cs = by_span.get(sp.index, [])
        issues = []
        for c in cs:
            ex, s = c.excerpt, c.slot
            t = pool.tracks[c.index]
            bits = []
            if abs(ex.level - s.target_level) > ENERGY_BAND:
                bits.append(f"energy {ex.level:.1f} for {s.target_level:.1f}")
            # Within ±8 % an excerpt is stretched to the target: only beyond it is tempo a
            # shortage (the excerpt's notes say so), and a part of a track played earlier
            # is no shortage at all.
            bits += [n for n in c.notes if not n.startswith("another part")]
            if bits:
                issues.append(f"{t.display} ({', '.join(bits)})")
        if not issues:
            continue
        seg = sp.segment
        what = (f"round {seg.round} ({'work' if seg.peak else 'rest'})" if seg.round
                else f"'{seg.name}'")
        when = f"{mmss(sp.start_s)}–{mmss(min(sp.end_s, tl.total_s))}"
        n0 = strict_n[sp.index] if sp.index < len(strict_n) else 0
        out.append(f"{what} ({when}): the library has {n0} track{'s' * (n0 != 1)} at "
                   f"{describe_window(sp)}, not enough; used the closest: "
                   + "; ".join(issues))
    return out


# ---------------------------------------------------------------- explanations

def _entries(pool: Pool, order: list[int], pc: PlanCost, tl: Timeline,
             w: Weights) -> list[PlanEntry]:
    out = []
    parts = pc.parts
    for k, i in enumerate(order):
        t = pool.tracks[i]
        sp = tl.spans[int(parts["seg"][k])]
        start = float(pc.start_s[k])
        end = start + float(pool.dur_s[i])
        bpm = pool.bpm[i]
        played = float(parts["played"][k]) if math.isfinite(bpm) else None
        hd = None
        if played is not None and abs(played - bpm) > 1e-6:
            hd = "double" if played > bpm else "half"
        dev = float(parts["dev"][k]) if played is not None else None
        lvl = pool.level[i] if math.isfinite(pool.level[i]) else None
        tp = float(pc.transition_pct[k - 1]) if k > 0 else None
        cs = int(pc.camelot_dist[k - 1]) if k > 0 and pc.camelot_dist[k - 1] >= 0 else None
        drop_at = None
        for p in tl.peak_starts_s:
            if start <= p < end:
                dt = pool.drop_t[i] + start - p
                ok = np.isfinite(dt) & (np.abs(dt) <= 60.0) & (pool.drop_q[i] > 0)
                if ok.any():
                    drop_at = float(pool.drop_t[i][ok][np.argmin(np.abs(dt[ok]))])
        m = float(parts["minutes"][k])
        costs = {"tempo": w.tempo * float(parts["tempo"][k]) * m,
                 "energy": w.energy * float(parts["energy"][k]) * m,
                 "style": w.style * float(parts["style"][k]) * m,
                 "novelty": w.novelty * float(pool.recent[i]) * m,
                 "drop": float(parts["drop"][k]),
                 "transition": float(pc.transitions[k - 1]) if k > 0 else 0.0}
        why = _why(t, sp, dev, hd, played, lvl, float(parts["target_level"][k]), tp, cs,
                   drop_at, float(parts["style"][k]), bool(pool.recent[i]))
        out.append(PlanEntry(
            track=t, position=k + 1, start_s=start, end_s=end, segment=sp.segment.name,
            peak=sp.segment.peak, target_bpm=float(parts["target_bpm"][k]),
            target_level=float(parts["target_level"][k]), played_bpm=played,
            half_double=hd, tempo_dev_pct=dev, level=lvl, transition_pct=tp,
            camelot_step=cs, drop_on_peak_s=drop_at, cost=float(pc.unary[k]) + costs[
                "transition"], costs=costs, why=why,
            **_whole_ramp(tl, start, end, played)))
    return out


def _whole_ramp(tl: Timeline, start: float, end: float, played: float | None) -> dict:
    """A whole track where the arc's tempo ramps: the target where it starts and where it
    ends (``tempo_in_bpm``, ``tempo_out_bpm``), which the render rides, each held within
    ±8 % of the tempo it plays at (``played``: its own, or half/double), as the render
    holds them. Across segments (a warm-up ramp, then steady) also where each later
    segment starts (``tempo_via``: (track s, BPM), the track time from the session time at
    the tempi it plays), so that it rides one line per segment; nothing where the target
    steps between segments or none of them ramps."""
    last = min(end, tl.total_s) - 1e-3
    if last <= start:
        return {}

    def held(bpm: float) -> float:
        return _held(bpm, played) if played else bpm

    spans = [sp for sp in tl.spans if sp.end_s > start and sp.start_s <= last]
    if not spans:
        return {}
    b_in, b_out = spans[0].bpm_at(start), spans[-1].bpm_at(last)
    via, u, s0, b0 = [], 0.0, start, b_in
    if len(spans) > 1:
        if not played or all(sp.segment.bpm[0] == sp.segment.bpm[1] for sp in spans):
            return {}
        for a, b in zip(spans, spans[1:]):
            if abs(a.segment.bpm[1] - b.segment.bpm[0]) > 1e-6:  # a step is not a line
                return {}
            b1 = float(b.segment.bpm[0])
            u += (b.start_s - s0) * (held(b0) + held(b1)) / 2.0 / played  # track s played
            via.append((u, held(b1)))
            s0, b0 = b.start_s, b1
    tempi = [held(b_in), held(b_out), *(v for _, v in via)]
    if max(tempi) / min(tempi) - 1.0 <= 1e-9:  # one tempo throughout: nothing to ride
        return {}
    return {"tempo_in_bpm": tempi[0], "tempo_out_bpm": tempi[1],
            **({"tempo_via": tuple(via)} if via else {})}


def _why(t: Track, sp, dev, hd, played, lvl, target_lvl, tp, cs, drop_at, style_c,
         recent, stretch: tuple[float, float] | None = None) -> str:
    """The explanation of one entry. ``stretch``: an excerpt's (stretch %, its own tempo
    over its bars), ``dev`` then its played tempo's against the target."""
    seg = sp.segment
    bits = []
    how = f", {hd} time" if hd else ""
    if stretch is not None:  # "0.2 % off: its 127 BPM stretched +5.3 %"
        pct, own = stretch
        how = (f": its {own:.0f} BPM" + (f" ({hd} time)" if hd else "")
               + (f" stretched {pct:+.1f} %" if abs(pct) >= 0.05 else " as it is"))
    if dev is None:
        bits.append("tempo unknown")
    elif dev <= seg.tolerance_pct:
        bits.append(f"tempo on target ({dev:.1f} % off{how})")
    else:
        bits.append(f"closest tempo available ({dev:.0f} % off{how if stretch else ''})")
    if lvl is None:
        bits.append("energy unknown")
    elif abs(lvl - target_lvl) <= 1.0:
        bits.append(f"energy fits ({lvl:.1f})")
    else:
        bits.append(f"energy {'above' if lvl > target_lvl else 'below'} target ({lvl:.1f})")
    if drop_at is not None:
        bits.append(f"its drop at {mmss(drop_at)} hits the peak")
    if seg.style and style_c <= 0.35 and t.style_label:
        bits.append(f"{t.style_label} suits '{seg.name}'")
    if tp is not None:
        if tp <= TRANSITION_OK_PCT:
            bits.append(f"smooth from the last track ({tp:.1f} % BPM)")
        else:
            bits.append(f"tempo jump {tp:.0f} %")
    if cs is not None:
        bits.append({0: "same key", 1: "key compatible"}.get(cs, "key clash"))
    if recent:
        bits.append("used in a recent plan (nothing better left)")
    return "; ".join(bits)


def _warnings(pool: Pool, order: list[int], pc: PlanCost, tl: Timeline, widen: list[int],
              strict_n: list[int], opts: PlanOptions) -> list[str]:
    out = []
    parts = pc.parts
    order_a = np.asarray(order, dtype=np.int64)
    for sp in tl.spans:
        m = parts["seg"] == sp.index
        if not m.any():
            continue
        seg = sp.segment
        dev = parts["dev"][m]
        lvl = pool.level[order_a[m]]
        tgt = parts["target_level"][m]
        bad_t = ~(dev <= seg.tolerance_pct)
        bad_e = np.isfinite(lvl) & (np.abs(lvl - tgt) > ENERGY_BAND)
        n0 = strict_n[sp.index]
        if not (bad_t.any() or bad_e.any()) or n0 >= 2 * int(m.sum()) + ARTIST_GAP:
            continue  # a trade-off (e.g. for a smooth transition), not a shortage
        when = f"{mmss(sp.start_s)}–{mmss(min(sp.end_s, tl.total_s))}"
        win = describe_window(sp)
        if n0 == 0:
            head = f"'{seg.name}' ({when}): no tracks at {win}"
        else:
            head = (f"'{seg.name}' ({when}): only {n0} track{'s' * (n0 != 1)} at {win}, "
                    "not enough once the hard rules and the other segments take theirs")
        # Nearest tracks outside the window, by fit at the segment's middle.
        mid = (sp.start_s + sp.end_s) / 2.0
        idx = np.arange(len(pool))
        c, p = unary_cost(pool, idx, mid - pool.dur_s / 2.0, tl, opts.weights)
        rate = (c - p["drop"]) / p["minutes"]
        inside = (p["dev"] <= seg.tolerance_pct) & ~(np.abs(pool.level - p["target_level"])
                                                    > ENERGY_BAND)
        rate[inside] = np.inf
        near = [i for i in np.argsort(rate, kind="stable")[:3] if np.isfinite(rate[i])]
        desc = ", ".join(_short(pool, i) for i in near)
        used = (f"; widened to {WIDEN_NAMES[widen[sp.index]]}" if widen[sp.index]
                else "")
        out.append(f"{head}; nearest: {desc}{used}; used the closest fits")
    if pc.end_s < tl.total_s - 1:
        out.append(f"the library ran out: {pc.end_s / 60:.1f} of {tl.total_s / 60:.0f} "
                   "minutes planned (hard rules: no repeats, no artist within 3 tracks)")
    if pc.bound_notes:
        out.append("style mix: " + "; ".join(pc.bound_notes))
    return out


def _short(pool: Pool, i: int) -> str:
    t = pool.tracks[i]
    bpm = f"{pool.bpm[i]:.0f} BPM" if math.isfinite(pool.bpm[i]) else "BPM unknown"
    en = f"energy {pool.level[i]:.1f}" if math.isfinite(pool.level[i]) else "energy unknown"
    return f"{t.display} ({bpm}, {en})"


def plan_for_order(tracks: Sequence[Track], arc: Arc, minutes: float | None = None,
                   seed: int = 0, weights: Weights | None = None) -> Plan:
    """The plan of exactly this order of whole tracks (a hand edit: a swap, a re-plan
    around locked tracks), with the planner's own cost, report and explanations."""
    w = weights or Weights()
    tl = arc.timeline(minutes)
    pool, order, pc = _order_cost(tracks, tl, w)
    report = score_order(pool, order, tl, w)
    return Plan(arc, tl, _entries(pool, order, pc, tl, w), pc, report, [], seed, {})


def order_costs(orders: Iterable[Sequence[Track]], arc: Arc, minutes: float | None = None,
                weights: Weights | None = None) -> list[PlanCost]:
    """The planner's cost of each of these orders of whole tracks (ranking hand edits):
    each is the ``cost`` :func:`plan_for_order` gives that order, without its report and
    explanations."""
    w = weights or Weights()
    tl = arc.timeline(minutes)
    return [_order_cost(o, tl, w)[2] for o in orders]


def _order_cost(tracks: Sequence[Track], tl: Timeline, w: Weights
                ) -> tuple[Pool, list[int], PlanCost]:
    pool = Pool(list(tracks), planning=True)
    order = list(range(len(pool.tracks)))
    return pool, order, plan_cost(pool, order, tl, w, segment_prefs(tl, pool.styles))
