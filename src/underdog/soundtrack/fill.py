"""Fill a soundtrack's gaps: stand-ins from the library for the entries it lacks.

Pure: takes match results and library tracks (``underdog.models.Track``), reads no file.

For each missing entry, what the stand-in should sound like (a :class:`Target`) comes from
the first of these that says anything:

1. the tracklist itself: its ``bpm``, ``energy`` (level 1-10) and ``style`` columns, those
   it gives for this entry (the list's author said what matters);
2. the film around the gap: tempo and energy of the nearest found entries before and after
   it in film order (the mean of both, or the one there is; tempi octave-folded onto each
   other first), and the style mix of every found entry;
3. the entry's own artist: with nothing else to go on, the library's other songs by that
   artist (what a listener who wanted this song most likely accepts);
4. with no song by that artist either, the ``montage`` arc at the entry's place in the film
   (its position among the entries): the training-montage film's usual shape, said as such.

Candidates are scored by cost: one unit per 6 % of tempo away (half or double time counts,
with a small charge), per energy level away, and up to two units for a style the target
does not want. A gap's best stand-in (the one the playlist plays) is no other gap's, and
no stand-in is a track the playlist already holds (by id, or by sound when a ``same_as``
function is given); the runners-up may repeat.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..models import Track, energy_to_level, shown_level
from ..theory import fold_octaves
from .match import FOUND, MISSING, MatchResult
from .normalize import normalize
from .report import film_order

N_STAND_INS = 3
PRIOR_MINUTES = 45.0  # the montage arc's length for the last-resort target
TEMPO_UNIT = math.log2(1.06)  # 6 % of tempo costs one unit
OCTAVE_CHARGE = 0.5  # units for playing half or double time
STYLE_UNITS = 2.0  # units for a style the target does not want at all


@dataclass
class Target:
    """What a gap's stand-in should sound like. Any part may be unknown (None/empty)."""

    bpm: float | None = None
    level: float | None = None  # energy level 1-10
    style: str | None = None  # the one style the list asks for
    style_mix: dict[str, float] = field(default_factory=dict)  # else: the film's shares
    artist: str | None = None  # normalized artist, when nothing else is known
    basis: list[str] = field(default_factory=list)  # where each part came from

    @property
    def empty(self) -> bool:
        return (self.bpm is None and self.level is None and self.style is None
                and not self.style_mix and self.artist is None)

    def describe(self) -> str:
        parts = []
        if self.bpm is not None:
            parts.append(f"{self.bpm:.0f} BPM")
        if self.level is not None:
            parts.append(f"E{self.level:.1f}")
        if self.style:
            parts.append(self.style)
        elif self.style_mix:
            top = sorted(self.style_mix.items(), key=lambda kv: -kv[1])[:2]
            parts.append("/".join(f"{k} {v:.0%}" for k, v in top))
        if self.artist is not None and not parts:
            parts.append("same artist")
        return ", ".join(parts) + (f" (from {'; '.join(self.basis)})" if self.basis else "")


@dataclass
class StandIn:
    """One library track offered in place of a missing entry."""

    track: Track
    cost: float
    why: str

    def to_json(self) -> dict:
        t = self.track
        return {"path": t.path, "artist": t.artist, "title": t.title,
                "bpm": None if t.bpm is None else round(t.bpm, 1),
                "energy": shown_level(t.energy), "style": t.style_label,
                "cost": round(self.cost, 3), "why": self.why}


@dataclass
class Gap:
    """A missing entry (its index in the results), what should fill it and what does."""

    index: int
    target: Target
    stand_ins: list[StandIn]
    note: str = ""  # why there are none, when there are none

    def to_json(self) -> dict:
        return {"target": self.target.describe(),
                "stand_ins": [s.to_json() for s in self.stand_ins],
                **({"note": self.note} if self.note else {})}


def _level(t: Track) -> float | None:
    return energy_to_level(t.energy)


def _context(pos: int, order: list[MatchResult], found: dict[int, Track]) -> tuple[
        float | None, float | None]:
    """Tempo and energy level around film position ``pos``: the nearest found entries before
    and after it (the mean of both, or the one there is)."""
    near: list[Track] = []
    for rng in (range(pos - 1, -1, -1), range(pos + 1, len(order))):
        for j in rng:
            t = found.get(id(order[j]))
            if t is not None:
                near.append(t)
                break
    bpms = [t.bpm for t in near if t.bpm]
    bpm = None
    if bpms:
        # the mean in log2, each folded into the first's octave
        bpm = 2.0 ** float(np.mean(fold_octaves(np.log2(bpms), math.log2(bpms[0]))))
    levels = [lv for lv in (_level(t) for t in near) if lv is not None]
    return bpm, (sum(levels) / len(levels) if levels else None)


def target_for(r: MatchResult, pos: int, order: list[MatchResult],
               found: dict[int, Track], mix: dict[str, float]) -> Target:
    """The :class:`Target` of the entry at film position ``pos`` (see the module doc)."""
    e = r.entry
    tg = Target()
    if e.bpm is not None or e.energy is not None or e.style:
        tg.bpm, tg.level, tg.style = e.bpm, e.energy, e.style
        tg.basis.append("tracklist " + "/".join(
            k for k in ("bpm", "energy", "style") if getattr(e, k) is not None))
        return tg
    tg.bpm, tg.level = _context(pos, order, found)
    if tg.bpm is not None or tg.level is not None:
        tg.basis.append("tempo and energy of the found entries around it")
    if mix:
        tg.style_mix = mix
        tg.basis.append("the film's style mix")
    if tg.empty:
        tg.artist = normalize(e.artist, e.title).artist or None
        if tg.artist:
            tg.basis.append("no found entry and no bpm/energy/style column: the entry's artist")
    return tg


def prior_target(pos: int, n: int) -> Target:
    """The last resort: the ``montage`` arc's tempo, energy and style weights at the
    entry's place in the film (position ``pos`` of ``n`` entries)."""
    from ..planning.arcs import montage

    tl = montage().timeline(PRIOR_MINUTES)
    t = (pos + 0.5) / max(n, 1) * tl.total_s
    bpm, level, _ = tl.targets(t)
    seg = tl.span_at(t).segment
    top = max(seg.style.values(), default=0.0)
    mix = {k: v / top for k, v in seg.style.items()} if top > 0 else {}
    return Target(bpm=float(bpm), level=float(level), style_mix=mix,
                  basis=[f"nothing known of the film: the montage arc "
                         f"{100 * (pos + 0.5) / max(n, 1):.0f} % in ({seg.name})"])


def _cost(t: Track, tg: Target, artist_of: Callable[[Track], str]) -> tuple[float, str] | None:
    """Cost of ``t`` for ``tg`` and a short why; None when ``t`` cannot serve."""
    cost, why = 0.0, []
    if tg.artist is not None:
        if artist_of(t) != tg.artist:
            return None
        why.append(f"same artist ({t.artist})")
    if tg.bpm is not None:
        if not t.bpm:
            return None
        octaves = math.log2(t.bpm / tg.bpm)
        k = round(octaves)
        cost += abs(octaves - k) / TEMPO_UNIT + (OCTAVE_CHARGE if k else 0.0)
        why.append(f"{t.bpm:.0f} BPM" + (" (half/double time)" if k else ""))
    if tg.level is not None:
        lv = _level(t)
        if lv is None:
            return None
        cost += abs(lv - tg.level)
        why.append(f"E{lv:.1f}")
    if tg.style is not None:
        p = t.style.get(tg.style, 1.0 if t.style_label == tg.style else 0.0)
        cost += STYLE_UNITS * (1.0 - p)
        why.append(f"{tg.style} {p:.0%}")
    elif tg.style_mix:
        top = max(tg.style_mix.values())
        share = tg.style_mix.get(t.style_label or "", 0.0)
        cost += STYLE_UNITS * (1.0 - share / top)
        why.append(t.style_label or "no style")
    return cost, ", ".join(why)


def _scored(pool: list[Track], used: set, tg: Target,
            artist_of: Callable[[Track], str]) -> list[tuple[float, str, Track, str]]:
    """(cost, path, track, why) of every unused pool track that can serve, cheapest first."""
    out = []
    for t in pool:
        if t.id in used:
            continue
        c = _cost(t, tg, artist_of)
        if c is not None:
            out.append((c[0], t.path, t, c[1]))
    out.sort(key=lambda x: (x[0], x[1]))
    return out


def fill_gaps(results: Sequence[MatchResult], tracks: Sequence[Track],
              n: int = N_STAND_INS,
              same_as: Callable[[Track, Track], bool] | None = None) -> list[Gap]:
    """Up to ``n`` stand-ins for every missing entry, in film order.

    Parameters
    ----------
    results : sequence of MatchResult
        The tracklist's match results (any order; film order is used).
    tracks : sequence of Track
        The library (analysed tracks: a stand-in needs its tempo, energy and style).
    n : int
        Stand-ins per gap, best first.
    same_as : callable, optional
        ``same_as(a, b)`` True when two tracks hold one recording (identity by sound): a
        stand-in is never a copy of a track the playlist already holds.

    Returns
    -------
    list of Gap
        One per missing entry, film order; ``Gap.index`` is the entry's index in
        ``results``.
    """
    by_id = {t.id: t for t in tracks if t.id is not None}
    order = film_order(results)
    found: dict[int, Track] = {}
    for r in order:
        if r.status == FOUND and r.match is not None and r.match.id in by_id:
            found[id(r)] = by_id[r.match.id]
    labels = Counter(t.style_label for t in found.values() if t.style_label)
    total = sum(labels.values())
    mix = {k: v / total for k, v in labels.items()} if total else {}
    used = {t.id for t in found.values()}
    held = list(found.values())
    pool = [t for t in tracks if t.id is not None and t.id not in used
            and getattr(t, "status", "ok") == "ok"
            and not (same_as and any(same_as(t, h) for h in held))]
    artists: dict[int, str] = {}

    def artist_of(t: Track) -> str:
        if t.id not in artists:
            artists[t.id] = normalize(t.artist, t.title).artist
        return artists[t.id]

    index_of = {id(r): i for i, r in enumerate(results)}
    gaps = []
    for pos, r in enumerate(order):
        if r.status != MISSING:
            continue
        tg = target_for(r, pos, order, found, mix)
        if tg.empty:
            tg = prior_target(pos, len(order))
        scored = _scored(pool, used, tg, artist_of)
        if not scored and tg.artist is not None:  # no song by that artist: the prior
            tg = prior_target(pos, len(order))
            scored = _scored(pool, used, tg, artist_of)
        picks = [StandIn(t, cost, why) for cost, _, t, why in scored[:n]]
        if picks:  # the best plays in the gap: no other gap gets it
            used.add(picks[0].track.id)
        note = "" if picks else "no library track has what the target needs"
        gaps.append(Gap(index_of[id(r)], tg, picks, note))
    return gaps
