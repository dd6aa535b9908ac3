"""A tempo ramp through an excerpt: where the arc's tempo changes inside a slot (a
cool-down, a build), the excerpt's playback rate rides from the tempo where it enters to
the one where it leaves, as a DJ rides the pitch fader: held through its blends (so that
two tracks blend at one tempo) and changed in a line, in track time, between them. The
planner places its drop with it and the render's layout plays it (``render/mix.py``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HOLD_MARGIN_BEATS = 16  # session beats held at each end beyond the blend (4 bars)


def hold_s(overlap_bars: int, beat_s: float) -> float:
    """Track seconds held at an end of an excerpt whose blend there lasts ``overlap_bars``
    (0: a cut), ``beat_s`` track seconds per session beat."""
    return (4 * overlap_bars + HOLD_MARGIN_BEATS) * beat_s


MAX_STRETCH = 0.08  # a track plays within ±8 % of its own tempo (or half/double it)


def tempi_meet(a_bpm: float, b_bpm: float) -> bool:
    """Whether two tracks of these tempi (the octave each plays at) can play at one tempo,
    each within ±MAX_STRETCH of its own."""
    return max(a_bpm, b_bpm) / min(a_bpm, b_bpm) <= \
        (1.0 + MAX_STRETCH) / (1.0 - MAX_STRETCH) + 1e-9


def blend_from(prev_out: float, prev_own: float, own: float) -> float:
    """The tempo (BPM) a blend in starts at: the one before's out tempo ``prev_out`` held
    within ±MAX_STRETCH of both tracks' own tempi (``prev_own``, ``own``, in the octave
    each plays at), where the render meets them (it ramps the one before there first);
    ``prev_out`` where the two cannot meet."""
    if not tempi_meet(prev_own, own):
        return prev_out
    lo = max(prev_own, own) * (1 - MAX_STRETCH)
    hi = min(prev_own, own) * (1 + MAX_STRETCH)
    return min(max(prev_out, lo), hi)


def blend_s(bars: int, bpm_a: float, bpm_b: float) -> float:
    """Session seconds of a blend of ``bars`` whose tempo ramps from ``bpm_a`` to ``bpm_b``
    (the mean of their bar lengths)."""
    return bars * 120.0 * (1.0 / bpm_a + 1.0 / bpm_b)


def via_points(v) -> tuple[tuple[float, float], ...]:
    """A plan entry's ``tempo_via`` ([[track s, BPM], ...], at most 64, track times
    increasing) as pairs; () for None. Raises ValueError, saying why, where malformed."""
    if v is None:
        return ()
    if not isinstance(v, list) or len(v) > 64:
        raise ValueError("tempo_via is not a list of at most 64 [track s, BPM] pairs")
    out: list[tuple[float, float]] = []
    for p in v:
        try:
            u, b = (float(x) for x in p) if isinstance(p, (list, tuple)) and len(p) == 2 \
                and not any(isinstance(x, bool) for x in p) else (math.nan, math.nan)
        except (TypeError, ValueError):
            u = b = math.nan
        if not (math.isfinite(u) and math.isfinite(b) and u >= 0 and b > 0):
            raise ValueError(f"tempo_via point {p!r} is not [track s, BPM]")
        if out and u <= out[-1][0]:
            raise ValueError("tempo_via track times do not increase")
        out.append((u, b))
    return tuple(out)


@dataclass
class Ramp:
    """An excerpt's body rate (track s per session s): ``r_in`` from ``in_s`` for
    ``hold_in`` track seconds, ``r_out`` for the last ``hold_out`` before ``out_s``, a line
    in track time between (equal rates: a constant rate). Where the holds leave less than a
    quarter of the excerpt they shrink to leave it. ``mean(u0, u1)``: the rate that plays
    [u0, u1] in the session time the ramp takes; a body refitted to keep the plan's clock
    plays the ramp scaled (:meth:`at`, :meth:`knots`)."""

    in_s: float
    out_s: float
    r_in: float
    r_out: float
    hold_in: float = 0.0
    hold_out: float = 0.0
    # (track s, rate) where the line bends between the ends: a whole track across an arc's
    # segments (a warm-up ramp, then steady) rides one line per segment; ones outside the
    # part between the holds are left out
    via: tuple[tuple[float, float], ...] = ()

    @classmethod
    def held(cls, in_s: float, out_s: float, r_in: float, r_out: float, beat_s: float,
             blend_in: int, blend_out: int,
             via: tuple[tuple[float, float], ...] = ()) -> "Ramp":
        """The ramp of an excerpt with blends of ``blend_in`` / ``blend_out`` bars (0: a
        cut), held through each (:func:`hold_s`); ``beat_s``: track s per session beat."""
        return cls(in_s, out_s, r_in, r_out, hold_s(blend_in, beat_s), hold_s(blend_out, beat_s),
                   tuple(via))

    def edges(self) -> tuple[float, float]:
        """Track seconds where the ramp's line starts and ends (its holds through the
        blends, shortened where they would take more than ¾ of the excerpt)."""
        L = max(self.out_s - self.in_s, 0.0)
        h = self.hold_in + self.hold_out
        k = min(1.0, 0.75 * L / h) if h > 0 else 1.0
        return self.in_s + k * self.hold_in, self.out_s - k * self.hold_out

    def _points(self) -> list[tuple[float, float]]:
        """The line's corners (track s, rate): the ends of the part between the holds and
        the ``via`` points inside it."""
        a, b = self.edges()
        mid = [(float(u), float(r)) for u, r in sorted(self.via) if a < u < b]
        return [(a, self.r_in), *mid, (b, self.r_out)]

    @property
    def flat(self) -> bool:
        rates = (self.r_out, *(r for _, r in self.via))
        return all(abs(r / self.r_in - 1.0) < 1e-9 for r in rates)

    def g(self, u: float) -> float:
        if self.flat:
            return self.r_in
        pts = self._points()
        if u <= pts[0][0]:
            return pts[0][1]
        for (x0, g0), (x1, g1) in zip(pts, pts[1:]):
            if u <= x1:
                return g0 + (g1 - g0) * ((u - x0) / max(x1 - x0, 1e-9))
        return pts[-1][1]

    def session_s(self, u0: float, u1: float) -> float:
        """Session seconds the ramp takes to play track time [u0, u1]."""
        if self.flat:
            return (u1 - u0) / self.r_in
        xs = [x for x, _ in self._points()]
        total = 0.0
        for lo, hi in zip([-math.inf, *xs], [*xs, math.inf]):
            x0, x1 = max(u0, lo), min(u1, hi)
            if x1 <= x0:
                continue
            ga, gb = self.g(x0), self.g(x1)
            total += (x1 - x0) / ga if abs(gb / ga - 1.0) < 1e-9 else \
                (x1 - x0) * math.log(gb / ga) / (gb - ga)
        return total

    def mean(self, u0: float, u1: float) -> float:
        return self.g(u0) if u1 - u0 < 1e-9 else (u1 - u0) / self.session_s(u0, u1)

    def at(self, rate: float, u0: float, u1: float, u: float) -> float:
        """The rate at track time ``u`` when [u0, u1] plays at mean ``rate``."""
        return rate * self.g(u) / self.mean(u0, u1)

    def knots(self, s0: float, u0: float, u1: float, rate: float,
              step_s: float = 2.0) -> list[tuple[float, float]]:
        """Knots (session s, track s) after (s0, u0) up to u1 (included), [u0, u1] at mean
        ``rate``: one every ``step_s`` of track time where the rate ramps."""
        end = (s0 + (u1 - u0) / rate, u1)
        if self.flat or u1 - u0 < 1e-9:
            return [end]
        a, b = self.edges()
        lo, hi = max(u0, a), min(u1, b)
        if hi <= lo:
            return [end]
        scale = self.mean(u0, u1) / rate
        k = max(1, int(math.ceil((hi - lo) / step_s)))
        # every step_s, and on each corner of the line
        grid = np.r_[lo, lo + (hi - lo) * np.arange(1, k + 1) / k,
                     [x for x, _ in self._points()[1:-1] if lo < x < hi]]
        us = [u for u in np.unique(grid) if u0 < u < u1]
        return [(s0 + scale * self.session_s(u0, float(u)), float(u)) for u in us] + [end]


def session_at(ramp: Ramp, u: float, start_s: float, beat_s: float, blend_in: int,
               blend_in_s: float, blend_out: int, next_s: float | None,
               flat_rate: float) -> float:
    """Session seconds where track time ``u`` of an excerpt plays, as the render lays it
    out (``render/mix.py``: layout): it enters at ``start_s``; its blend in (``blend_in``
    bars, ``blend_in_s`` session seconds) plays at the blend's tempo; its body, ramped, is
    scaled to keep the plan's clock (:func:`body_fit`). ``beat_s``: track seconds per
    session beat."""
    u1 = min(ramp.in_s + 4 * blend_in * beat_s, ramp.out_s)
    if u <= u1:
        return start_s + (blend_in_s * (u - ramp.in_s) / (u1 - ramp.in_s) if u1 > ramp.in_s
                          else 0.0)
    body, want = body_fit(ramp, start_s, beat_s, blend_in, blend_in_s, blend_out, next_s,
                          flat_rate)
    return start_s + blend_in_s + (want / body if body > 0 and want > 0 else 1.0) * \
        ramp.session_s(u1, u)


def body_fit(ramp: Ramp, start_s: float, beat_s: float, blend_in: int, blend_in_s: float,
             blend_out: int, next_s: float | None, flat_rate: float) -> tuple[float, float]:
    """(session seconds the excerpt's body takes on ``ramp``, session seconds the plan's
    clock leaves it), the body being what plays between its blends: it must end where the
    next excerpt (entering at ``next_s``; None: the last, which keeps its own) blends in
    (``blend_out`` bars), or, before a cut (``blend_out`` 0), whole beats of silence before
    it, as many as the body at the excerpt's one tempo (``flat_rate``: track s per session
    s) would leave. The render scales the body by their ratio (:func:`session_at`)."""
    u1 = min(ramp.in_s + 4 * blend_in * beat_s, ramp.out_s)
    u2 = max(ramp.out_s - 4 * blend_out * beat_s, u1)
    s1 = start_s + blend_in_s
    body = ramp.session_s(u1, u2)
    want = body
    if next_s is not None and not blend_out:  # a cut: the silence in whole beats before it
        period = beat_s / ramp.g(u2)
        gap = next_s - (s1 + (u2 - u1) / flat_rate)
        want = next_s - s1 - (max(0.0, round(gap / period)) if gap > 0 else 0.0) * period
    elif next_s is not None:
        want = next_s - s1
    return body, want
