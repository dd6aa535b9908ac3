"""The montage edit: which part of which track plays where, cut on bars and phrases.

Pure planning over plain records (no I/O). The timeline is cut into **slots**, then a beam
search gives every slot one **excerpt** (a track's span from one downbeat to another):

1. **Slots** (:func:`make_slots`). Every segment of the arc is filled on its own, so every
   segment boundary (a round's start and end, a peak's start) is a slot boundary. A peak
   opens with a short ``drop_bars`` slot; the rest of a segment gets about one slot per
   ``excerpt_s`` (fewer where a slot would fall below the minimum excerpt length; a segment
   shorter than the minimum, e.g. a tabata rest, is one slot). Slots last whole bars at
   their tempo: multiples of 4 bars (a segment rounded to whole 4-bar phrases where that
   moves its tempo by 2 % or less), the last slot of a segment taking the remainder, then
   one common factor (a fraction of a percent) on the segment's tempi makes the bars fill
   it exactly, so every boundary falls on a beat.
2. **Transitions.** A slot that starts a peak or a round, or follows a round, is entered on
   a **cut** (at a peak or a round start: a cut onto the track's drop where it has one);
   other slots blend in over an overlap of 8 bars (4 on short slots, fewer on very short
   ones) that starts on the slot boundary; a half-time track whose 8-bar blend out would
   leave it an odd number of its 4-bar phrase units blends out over 4. Blends between
   two loud excerpts swap the bass. After the search, a blend over unclear beats becomes
   a cut or a shorter blend, where it keeps the phrase ends (:func:`unclear_blends`).
3. **Excerpts** (:func:`choose_excerpt`). For a track in a slot: the play tempo is the
   slot's (within ±8 % of the track's own tempo, or of half/double it); the span is the
   slot's bars plus the outgoing overlap, starting on a downbeat; among the possible
   starts, the one whose bars are nearest the slot's energy (the high-energy bars in a work
   round, a calm part in a rest), on phrase starts at both ends where it can; of spans
   within a quarter level of the best, the one that strands the fewest of the track's
   free bars in pieces too short for such a slot (:func:`_keep_rest`). A slot that
   starts a peak takes the start on the downbeat of one of the track's drops, so that the
   drop lands on the peak's first beat (:func:`align_drops` moves the cut when the drop is
   a little after its downbeat).
4. **Search** (:func:`search`): slots in order; states keep the tracks so far; a step adds
   one track and pays the excerpt cost and the transition from the previous track. No
   track twice (another part of it, 10 or more excerpts later, at a small cost, costed as
   the part it would really play: its best part clear of those played), no artist
   within 3 excerpts: both relaxed, with a penalty and a warning, only where nothing else
   is left. Then a local search replaces single excerpts while the total drops.
5. **Work rounds, loud first** (:func:`_work_plan`). Before the search, the best filling
   of all the work slots with windows of the candidates' consecutive bars, each bar once,
   a track in no more windows than the reuse gap lets it come back for, an artist in no
   more than the artist rule lets play, and energy the only cost (:func:`fill_windows`,
   exact), says how loud the library lets each work slot
   be; :func:`_schedule` gives each window a work slot where the reuse gap and the artist
   rule let it play, and that slot plays it. In a work slot left open the search takes
   only excerpts within a level of the target, or within a quarter level of the filling's
   worst window for slots of that length (of the clean ones: no part again, no artist
   within the gap); the windows left over are offered there; the tracks the filling needs
   for other work slots cost RESERVE elsewhere. Tempo, key and phrase ends choose among
   what is loud enough.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from ..models import Track, energy_to_level
from ..ramp import MAX_STRETCH, tempi_meet  # a track plays within ±8 % of its own tempo
from .arcs import Timeline
from .score import (ARTIST_GAP, Pool, Weights, energy_cost, segment_prefs, style_cost,
                    tempo_fit, transition_cost)

BEATS_PER_BAR = 4         # a session bar (and the render's, render/mix.py)
DEFAULT_EXCERPT_S = 120.0 # a segment gets one slot per this many seconds
MIN_BARS = 8              # an excerpt lasts at least this many bars …
MIN_EXCERPT_S = 20.0      # … and this many seconds (a segment shorter than both: one slot)
DROP_BARS = 16            # a peak opens with an excerpt this long (its drop, then on)
OVERLAP_BARS = 8          # a blend's length, bars (4 on slots under 24 bars)
PHRASE_MISS = 0.6         # cost of an excerpt end that is not on a phrase start
DROP_MISS = 10.0          # cost of a peak (or round) start without a drop on it
ARTIST_BREAK = 6.0        # cost of breaking the artist rule (only when nothing else is left)
RESERVE = 6.0            # a track whose drop could open a peak, used elsewhere
REUSE_FAR = 1.0           # … another part of it, REUSE_GAP or more excerpts later
REUSE_GAP = 10
REUSE = 30.0              # cost of using a track twice (only when nothing else is left)
PER_SLOT = 40             # candidate tracks kept per slot
ENERGY_GAIN = 2.0         # energy weighs this × the whole-track planner's (the bars are chosen)
WORK_GAIN = 1.0           # … times this in a round's work interval: chosen on midi-full-dev
                          # (docs/montage-edit.md, Tuning); 1, 1.5 and 2 tie there
LOUD_LEVEL = 6.5          # both sides of a blend at least this loud: bass swap
BAR_ERR_MAX = 6.0         # a bar's |level − target| counts at most this much
KEEP_WHOLE = 0.25         # spans within this many levels of the best count as equal: of
                          # those, the one that strands the fewest bars (_keep_rest)
WORK_WITHIN = 1.0         # a work round's excerpt within this many levels of its target
                          # is always loud enough (_work_plan)
CLEAR = 0.1               # a beat is clear at this stored clarity or more (analysis/
                          # beat_clarity.py: the beat's onsets 55:45 against the strongest
                          # other phase, the free tracker on it); chosen on the demo library:
                          # it marks its intros, breakdowns and outros without drums
UNCLEAR_SHARE = 0.25      # a blend side with more unclear beats than this does not blend
                          # (the renderer's unsteady-blend warning uses the same quarter)
UNCLEAR_SIDE = 0.5 * PHRASE_MISS  # cost of such a side: it ends as a shorter blend or a
                          # cut; PHRASE_MISS more where no such change keeps its phrase end
UNEVEN_MAX = 0.01         # a span whose beats differ from 4 a bar by more than this (a bar
UNEVEN = 10.0             # of 3 or 5 beats in a short span) costs this per 1 % beyond: the
                          # render would play its beats that much off the slot's tempo

# beats, downbeats, phrase starts (s), and optionally each beat's clarity (uint8, 255
# clear; analysis/beat_clarity.py): absent or empty for rows from before it (neutral)
Rhythm = tuple[np.ndarray, ...]
RhythmLookup = Mapping[int, Rhythm] | Callable[[int], Rhythm]


@dataclass
class ExcerptOptions:
    excerpt_s: float = DEFAULT_EXCERPT_S
    min_bars: int = MIN_BARS
    min_s: float = MIN_EXCERPT_S
    overlap_bars: int = OVERLAP_BARS
    drop_bars: int = DROP_BARS
    artist_gap: int = ARTIST_GAP   # no artist within this many excerpts (relaxed if need be)
    per_slot: int = PER_SLOT
    beam_width: int = 24


@dataclass(frozen=True)
class Grid:
    """A track's bars: downbeats (s), whether a phrase starts on each, bar levels."""

    downbeats: np.ndarray   # (n_bars + 1,) bar starts, seconds
    phrase: np.ndarray      # (n_bars + 1,) bool: a phrase starts (or the last bar ends) here
    level_cum: np.ndarray   # (n_bars + 1,) cumulative sum of the bars' energy levels
    levels: np.ndarray      # (n_bars,) each bar's energy level
    beat_s: float           # median beat period, seconds
    source: str             # "downbeats", "beats" or "tempo" (a grid from the BPM alone)
    # cumulative beats per bar, (n_bars + 1,) (None without stored beats), and unclear
    # beats (clarity < CLEAR; None when the track's beat clarity is unknown: every beat
    # counts as clear)
    beats_cum: np.ndarray | None = None
    unclear_cum: np.ndarray | None = None

    @property
    def n_bars(self) -> int:
        return len(self.downbeats) - 1

    def level(self, i: int, n: int) -> float:
        """Mean energy level (1–10) of bars i .. i+n-1."""
        return float((self.level_cum[i + n] - self.level_cum[i]) / n)

    def unclear(self, a, b):
        """Whether bars a .. b-1 (ints or arrays of bar indices) hold more than
        UNCLEAR_SHARE beats whose beat is unclear; False where clarity is unknown."""
        if self.unclear_cum is None:
            return np.zeros(np.shape(a), bool) if np.ndim(a) else False
        a, b = np.clip(a, 0, self.n_bars), np.clip(b, 0, self.n_bars)
        n = self.beats_cum[b] - self.beats_cum[a]
        u = self.unclear_cum[b] - self.unclear_cum[a]
        return u > UNCLEAR_SHARE * np.maximum(n, 1)

    def uneven(self, a, n: int):
        """:func:`off_four` of bars a .. a+n-1 (int or array); 0 where the beats are
        unknown."""
        if self.beats_cum is None:
            return np.zeros(np.shape(a)) if np.ndim(a) else 0.0
        return off_four(self.beats_cum, a, n)

    def in_four(self) -> bool:
        """Whether the track's bars hold 4 beats (most of them; True where unknown): a
        track in 3/4 cannot fill the session's 4-beat bars."""
        return self.beats_cum is None or self.n_bars < 1 or \
            float(np.median(np.diff(self.beats_cum))) == BEATS_PER_BAR


def off_four(beats_cum: np.ndarray, a, n: int):
    """How far (a fraction) the beats of bars a .. a+n-1 (int or array; ``beats_cum``: a
    track's cumulative beats per bar) are from 4 a bar: a bar of 3 or 5 beats among them."""
    beats = beats_cum[np.asarray(a) + n] - beats_cum[a]
    return np.abs(beats - BEATS_PER_BAR * n) / (BEATS_PER_BAR * n)


def track_grid(t: Track, rhythm: Rhythm | None) -> Grid | None:
    """The bar grid of ``t`` from its stored rhythm; without downbeats, every fourth beat;
    without beats, a grid at its BPM from 0 s; None when even the BPM is unknown."""
    rhythm = tuple(rhythm or ((), (), ()))
    beats, downbeats, phrases = (np.asarray(a, np.float64) for a in rhythm[:3])
    clarity = stored_clarity(rhythm[3] if len(rhythm) > 3 else None, len(beats))
    dur = t.duration_s or 0.0
    source = "downbeats"
    if len(downbeats) < 3:
        if len(beats) >= 12:
            downbeats, source = beats[::4], "beats"
        elif t.bpm and t.bpm > 0 and dur > 0:
            downbeats, source = np.arange(0.0, dur - 1e-6, 240.0 / t.bpm), "tempo"
        else:
            return None
        phrases = np.zeros(0)
    if len(downbeats) < 3:
        return None
    if len(beats) >= 3:
        beat_s = float(np.median(np.diff(beats)))
    else:
        beat_s = float(np.median(np.diff(downbeats))) / 4.0
    n = len(downbeats)
    phrase = np.zeros(n, bool)
    if len(phrases):
        j = np.searchsorted(downbeats, phrases)
        for k, p in zip(j, phrases):
            for c in (k - 1, k):
                if 0 <= c < n and abs(downbeats[c] - p) < 0.05:
                    phrase[c] = True
    else:  # no phrases stored: every 8 bars from the first downbeat
        phrase[::8] = True
    phrase[-1] = True  # the last downbeat ends the last phrase
    mids = (downbeats[:-1] + downbeats[1:]) / 2.0
    base = energy_to_level(t.energy)
    base = 5.0 if base is None else base
    curve, hop = t.energy_curve, t.energy_curve_hop_s
    if curve is not None and len(curve) and hop and hop > 0:
        k = np.clip((mids / hop).astype(np.int64), 0, len(curve) - 1)
        lv = 1.0 + 9.0 * np.clip(np.asarray(curve, np.float64)[k], 0.0, 1.0)
    else:
        lv = np.full(len(mids), base)
    beats_cum = unclear_cum = None
    if len(beats) >= 3:  # each bar's beats: those from its downbeat to the next
        at = bar_first_beats(beats, downbeats, beat_s)
        beats_cum = at - at[0]
        if clarity is not None:
            u = np.concatenate([[0], np.cumsum(clarity < CLEAR)])
            unclear_cum = u[at] - u[at[0]]
    return Grid(downbeats, phrase, np.concatenate([[0.0], np.cumsum(lv)]), lv, beat_s,
                source, beats_cum, unclear_cum)


def bar_first_beats(beats: np.ndarray, downbeats: np.ndarray, beat_s: float) -> np.ndarray:
    """Per bar, the index of its first stored beat: the first from a quarter beat before
    its downbeat (how a bar's beats, and so its unclear ones, are counted)."""
    return np.searchsorted(beats, np.asarray(downbeats, np.float64) - 0.25 * beat_s)


def beats_of_bars(beats: np.ndarray, downbeats: np.ndarray, times: np.ndarray) -> set[int]:
    """The indices of the stored beats of every bar (as :func:`track_grid` counts them:
    :func:`bar_first_beats`; without downbeats, every fourth beat; the beats before the
    first bar as one more) that holds one of ``times`` (each taken as its nearest stored
    beat)."""
    beats = np.asarray(beats, np.float64)
    times = np.asarray(times, np.float64)
    if len(beats) < 2 or not len(times):
        return set()
    downbeats = np.asarray(downbeats, np.float64)
    if len(downbeats) < 3:
        downbeats = beats[::4]
    starts = bar_first_beats(beats, downbeats, float(np.median(np.diff(beats))))
    j = np.clip(np.searchsorted(beats, times), 1, len(beats) - 1)
    j = np.where(times - beats[j - 1] < beats[j] - times, j - 1, j)
    edges = np.r_[0, starts, len(beats)]  # the beats before the first bar: one more
    bar = np.searchsorted(edges, j, side="right") - 1
    out: set[int] = set()
    for k in set(bar.tolist()):
        out.update(range(int(edges[k]), int(edges[k + 1])))
    return out


def stored_clarity(stored, n_beats: int) -> np.ndarray | None:
    """Stored beat clarity (uint8, 255 clear: analysis/beat_clarity.py) as 0..1 per beat;
    None (unknown: every beat counts as clear) when nothing is stored or it does not hold
    one value per beat (beats tracked again since)."""
    if stored is None or len(stored) == 0 or len(stored) != n_beats:
        return None
    return np.asarray(stored, np.float64) / 255.0


def level_range(t: Track) -> tuple[float, float]:
    """(calm, loud) energy level of ``t``: its energy curve's 15th and 85th percentiles
    (its overall level when it has no curve); used before its bars are read."""
    base = energy_to_level(t.energy)
    c = t.energy_curve
    if c is None or len(c) < 4:
        return (base, base) if base is not None else (math.nan, math.nan)
    s = np.sort(np.clip(np.asarray(c, np.float64), 0, 1))
    n = len(s) - 1
    return 1.0 + 9.0 * float(s[int(0.15 * n)]), 1.0 + 9.0 * float(s[int(round(0.85 * n))])


# ---------------------------------------------------------------- slots

@dataclass
class Slot:
    """A stretch of the session that one excerpt fills."""

    index: int
    span: int                 # the timeline span (segment) it belongs to
    start_s: float
    end_s: float
    bars: int                 # session bars, at ``tempo``
    tempo: float              # session BPM it plays at (target × the segment's fit factor)
    target_bpm: float
    target_level: float
    cut_in: bool              # entered on a cut (a peak or round boundary)
    want_drop: bool           # a drop should land on its first beat
    round: int = 0            # the round it belongs to (0: none)
    work: bool = False        # in a round's work interval (energy is its point)
    overlap_out: int = 0      # bars the next slot blends in over (0: a cut or the end)
    prev_s: float = 0.0       # length of the slot before (seconds; 0: none)
    overlap_in: int = 0       # bars it blends in over (the slot before's overlap_out)
    reason: str = ""          # why its blend in became shorter or a cut (unclear_blends)

    @property
    def bar_s(self) -> float:
        return 240.0 / self.tempo


def make_slots(tl: Timeline, opts: ExcerptOptions) -> list[Slot]:
    """Cut the timeline into slots (see the module doc)."""
    slots: list[Slot] = []
    prev_round = 0
    for sp in tl.spans:
        seg = sp.segment
        L = sp.end_s - sp.start_s
        if L <= 1e-6:
            continue
        t_mid = float(tl.targets(sp.start_s + L / 2.0)[0])
        min_len = max(opts.min_s, opts.min_bars * 240.0 / t_mid)
        bars = _split_bars(L, t_mid, min_len, opts, seg.peak)
        k = len(bars)
        edges = np.concatenate([[0.0], np.cumsum(bars)]) / max(sum(bars), 1) * L
        tgt = [float(tl.targets(sp.start_s + (a + b) / 2.0)[0])
               for a, b in zip(edges[:-1], edges[1:])]
        f = sum(n * 240.0 / b for n, b in zip(bars, tgt)) / L  # common tempo factor
        t = sp.start_s
        for j, (n, b) in enumerate(zip(bars, tgt)):
            tempo = b * f
            end = sp.end_s if j == k - 1 else t + n * 240.0 / tempo
            first = j == 0
            cut = first and bool(seg.peak or seg.round or prev_round) and sp.index > 0
            slots.append(Slot(
                index=len(slots), span=sp.index, start_s=t, end_s=end, bars=n, tempo=tempo,
                target_bpm=b, target_level=float(tl.targets((t + end) / 2.0)[1]),
                cut_in=cut or (first and sp.index == 0), want_drop=first and seg.peak,
                round=seg.round, work=bool(seg.round and seg.peak)))
            t = end
        prev_round = seg.round
    for a, b in zip(slots, slots[1:]):
        b.prev_s = a.end_s - a.start_s
        if b.cut_in:
            continue
        room = min(a.bars, b.bars) // 2
        k = opts.overlap_bars if room >= opts.overlap_bars else 4 if room >= 4 else room
        a.overlap_out = max(0, k)
        b.overlap_in = a.overlap_out
        if a.overlap_out == 0:
            b.cut_in = True
    return slots


def _split_bars(L: float, bpm: float, min_len: float, opts: ExcerptOptions,
                peak: bool) -> list[int]:
    """Session bars of each slot of a segment of ``L`` seconds at about ``bpm``: a
    segment shorter than two minimum excerpts is one slot; a peak opens with a short
    ``drop_bars`` slot (its drop, then the next excerpt); the rest in multiples of 4."""
    n_exact = L * bpm / 240.0
    n_total = max(1, int(round(n_exact)))
    n4 = int(round(n_exact / 4.0)) * 4  # whole phrases of 4 bars where the tempo allows
    if n4 >= 4 and abs(n4 / n_exact - 1.0) <= 0.02:
        n_total = n4
    bar_s = 240.0 / bpm
    min_bars = int(math.ceil(min_len / bar_s - 1e-9))
    head: list[int] = []
    drop = max(opts.drop_bars, -(-min_bars // 4) * 4)  # the drop slot: minimum length too
    if peak and n_total >= drop + min_bars:
        head, n_total = [drop], n_total - drop
    k = max(1, int(round(n_total * bar_s / max(opts.excerpt_s, 1.0))))

    def split(k: int) -> list[int]:
        q = (n_total // k) // 4 * 4 if n_total >= 8 * k else n_total // k
        return [max(1, q)] * (k - 1) + [n_total - max(1, q) * (k - 1)]

    while k > 1 and min(split(k)) < min_bars:  # every slot at least the minimum
        k -= 1
    bars = split(k)
    return head + bars


def align_drops(choices: list["Choice"]) -> None:
    """Move each peak start's cut so that its drop lands exactly on the peak's first
    beat: an excerpt enters on the downbeat at or before its drop (``off`` seconds of
    track time before it), so it starts that much earlier (in session time); the slot
    before it ends there. Both slots keep their whole bars at a tempo changed by that
    fraction of a bar (a few per cent at most), so every boundary stays on a beat."""
    for k in range(1, len(choices)):
        ch, pc = choices[k], choices[k - 1]
        ex, s, prev = ch.excerpt, ch.slot, pc.slot
        if ex.drop_s is None or not s.cut_in or prev.overlap_out:
            continue
        off = ex.drop_s - ex.in_s  # track seconds from in_s to the drop
        if off < 1e-3:
            continue
        L = s.end_s - s.start_s
        c = off * ex.own_bpm * ex.multiple / (240.0 * s.bars)
        if c >= 0.5:
            continue
        delta = c * L / (1.0 - c)  # session seconds to start earlier
        new_s = s.start_s - delta
        t_prev = 240.0 * prev.bars / (new_s - prev.start_s)
        t_cur = 240.0 * s.bars / (s.end_s - new_s)
        if not (_stretch_ok(pc.excerpt, t_prev) and _stretch_ok(ex, t_cur)):
            continue  # it would stretch a track too far: the drop lands that late
        s.start_s, prev.end_s = new_s, new_s
        prev.tempo, s.tempo = t_prev, t_cur
        pc.excerpt.tempo, ex.tempo = t_prev, t_cur


def _stretch_ok(ex: Excerpt, tempo: float) -> bool:
    return abs(tempo / (ex.own_bpm * ex.multiple) - 1.0) <= MAX_STRETCH


# ---------------------------------------------------------------- one excerpt

@dataclass
class Excerpt:
    """The part of a track that fills a slot."""

    i_in: int                 # downbeat index of in_s
    n_bars: int               # track bars from in_s to out_s
    in_s: float
    out_s: float
    multiple: float           # session beats per track beat (½, 1 or 2)
    own_bpm: float            # the track's tempo over the excerpt (its bars)
    level: float              # mean energy level of its bars
    phrase_in: bool
    phrase_out: bool
    drop_s: float | None      # track time of the drop it lands on the slot's start
    cost: float
    tempo: float = 0.0        # session BPM it plays at: the slot's, unless out of reach
    body_bars: int = 0        # session bars until the next slot enters (the slot's bars …)
    overlap_out: int = 0      # session bars the next excerpt blends in over (the slot's, or
                              # 4 for a half-time track whose 8 would miss its phrases)
    err: float = 0.0          # its bars' mean |level − target| (levels, at most 6 a bar)
    window: bool = False      # a work slot's window of the filling (_window_rows): this span


def energy_gain(slot: Slot) -> float:
    """How much more than the whole-track planner an excerpt's energy weighs in ``slot``:
    ENERGY_GAIN (its bars are chosen), times WORK_GAIN in a round's work interval."""
    return ENERGY_GAIN * (WORK_GAIN if slot.work else 1.0)


def stretch_cost(dev_pct):
    """Per minute: how far a track is stretched to the slot's tempo, x + x² with x the
    deviation over 8 % (0 at its own tempo, 2 at the limit); vectorized; NaN costs 3."""
    x = np.asarray(dev_pct, np.float64) / (100.0 * MAX_STRETCH)
    return np.where(np.isfinite(x), np.minimum(x + x * x, 6.0), 3.0)


def play_multiple(own_bpm: float, tempo: float, half_double: bool,
                  force: bool = False) -> float | None:
    """The multiple m (1, or ½ / 2 where allowed) that brings ``own_bpm`` × m nearest the
    session ``tempo``; None when even that is beyond ±MAX_STRETCH (unless ``force``)."""
    ms = (1.0, 0.5, 2.0) if half_double else (1.0,)
    m = min(ms, key=lambda x: abs(math.log(tempo / (own_bpm * x))))
    ok = abs(tempo / (own_bpm * m) - 1.0) <= MAX_STRETCH + 1e-9
    return m if ok or force else None


def choose_excerpt(t: Track, g: Grid, slot: Slot, w: Weights, half_double: bool,
                   force: bool = False,
                   avoid: Sequence[tuple[float, float]] = ()) -> Excerpt | None:
    """The best span of ``t`` for ``slot`` (see the module doc), or None when the track
    cannot play there (tempo beyond ±8 % in every octave, unless ``force``; too short;
    every span overlapping one of ``avoid``, track seconds already used)."""
    own = 240.0 * g.n_bars / float(g.downbeats[-1] - g.downbeats[0]) if g.n_bars else 0.0
    if not own > 0 or not g.in_four():
        return None
    m = play_multiple(own, slot.tempo, half_double, force)
    if m is None:
        return None
    tempo, body = slot.tempo, slot.bars
    if abs(slot.tempo / (own * m) - 1.0) > MAX_STRETCH:  # (force) out of reach: play it
        L = slot.end_s - slot.start_s  # near its own tempo, in whole bars filling the slot
        body = max(1, int(round(L * own * m / 240.0)))
        tempo = 240.0 * body / L
    # A half-time track (m = 2) plays two session bars per bar of its own, so a span of
    # body + 8 session bars with body = 4 (mod 8) is an odd number of its 4-bar phrase
    # units: it cannot start and end on phrase starts. A blend of 4 bars out of it can.
    overlaps = [slot.overlap_out]
    if m == 2.0 and slot.overlap_out == 8 and body % 8 == 4:
        overlaps.append(4)
    best = None
    for ov in overlaps:
        ex = _span(t, g, slot, w, m, own, tempo, body, ov, avoid)
        if ex is not None and (best is None or ex.cost < best.cost):
            best = ex
    return best


def _span(t: Track, g: Grid, slot: Slot, w: Weights, m: float, own: float, tempo: float,
          body: int, overlap: int, avoid: Sequence[tuple[float, float]]) -> Excerpt | None:
    """:func:`choose_excerpt`'s best span of ``body`` session bars at ``tempo`` (own × m
    stretched) plus a blend of ``overlap`` bars out of the slot; None if none fits."""
    sess_bars = body + overlap
    nb_f = sess_bars / m
    nb = int(round(nb_f))
    if abs(nb - nb_f) > 1e-9 or nb < 1 or nb > g.n_bars:
        if m == 2.0 and nb < g.n_bars:  # odd session bars from a half-time track: 1 more
            nb = int(math.ceil(nb_f))
        else:
            return None
    starts = np.arange(0, g.n_bars - nb + 1)
    lv = (g.level_cum[starts + nb] - g.level_cum[starts]) / nb
    # energy: the bars' mean distance from the target (each bar counts, not their mean)
    dev = np.concatenate([[0.0], np.cumsum(np.minimum(np.abs(g.levels - slot.target_level),
                                                      BAR_ERR_MAX))])
    mad = (dev[starts + nb] - dev[starts]) / nb
    minutes = (slot.end_s - slot.start_s) / 60.0
    k_e = energy_gain(slot) * w.energy * max(minutes, 0.75)  # a short one still counts
    c = k_e * mad
    off_phrase = (~g.phrase[starts]).astype(np.int64) + (~g.phrase[starts + nb])
    c = c + PHRASE_MISS * off_phrase + \
        UNEVEN * 100.0 * np.maximum(g.uneven(starts, nb) - UNEVEN_MAX, 0.0)
    if g.unclear_cum is not None:  # blend bars over an unclear beat: a shorter blend or a cut
        c = c + _unclear_cost(g, starts, nb, m, 0 if slot.cut_in else slot.overlap_in, overlap)
    for a, b in avoid:
        c = np.where((g.downbeats[starts] < b - 1e-3) & (g.downbeats[starts + nb] > a + 1e-3),
                     np.inf, c)
    if not np.isfinite(c).any():
        return None
    drop_s = None
    if slot.want_drop:
        # A montage peak must open on a drop; a round opens on a cut anyway, so there a
        # drop is a bonus in proportion to the slot's length, against its energy.
        bonus = w.drop if not slot.round else w.drop * min(1.0, minutes)
        miss = DROP_MISS if not slot.round else 0.0
        best_drop = None
        for d in (t.drops or []):
            if not isinstance(d, dict) or d.get("time_s") is None:
                continue
            ds, q = float(d["time_s"]), min(max(float(d.get("strength") or 0.0), 0.0), 1.0)
            # the bar it falls in; a drop up to half a beat before a downbeat is taken as
            # on it (onset timing), and lands that little before the peak's first beat
            j = int(np.argmin(np.abs(g.downbeats - ds)))
            sess_beat = g.beat_s / m  # one session beat, in track seconds
            if not -0.5 * sess_beat <= ds - g.downbeats[j] <= 0.25 * sess_beat:
                j = int(np.searchsorted(g.downbeats, ds, side="right")) - 1
            if j < 0 or j + nb > g.n_bars or q <= 0 or not np.isfinite(c[j]):
                continue  # before the first bar, too late for the slot, or used
            off = ds - g.downbeats[j]
            off_beats = max(0.0, off) / sess_beat  # session beats
            if off_beats > 1.0:  # entering that much early must keep the stretch in bounds
                L = slot.end_s - slot.start_s
                delta = off * own * m / slot.tempo
                if abs(slot.tempo * L / (L + delta) / (own * m) - 1.0) > MAX_STRETCH or \
                        delta > 0.75 * MAX_STRETCH * slot.prev_s:  # the slot before shrinks
                    continue
            cd = c[j] - bonus * q + 0.15 * off_beats
            if best_drop is None or cd < best_drop[0]:
                best_drop = (cd, j, ds)
        if best_drop is not None:
            i = best_drop[1]
            drop_s = best_drop[2]
            cost = float(best_drop[0])
        else:
            i = _keep_rest(c, g, nb, avoid, KEEP_WHOLE * k_e, off_phrase)
            cost = float(c[i]) + miss
    else:
        i = _keep_rest(c, g, nb, avoid, KEEP_WHOLE * k_e, off_phrase)
        cost = float(c[i])
    extra = int(round(nb * m)) - sess_bars  # a half-time track's odd session bar
    if extra and body > 0 and abs(tempo * (body + extra) / body / (own * m) - 1.0) \
            <= MAX_STRETCH:  # its body plays that bar more in the slot's time: faster
        tempo, body = tempo * (body + extra) / body, body + extra
    return Excerpt(i_in=i, n_bars=nb, in_s=float(g.downbeats[i]),
                   out_s=float(g.downbeats[i + nb]), multiple=m,
                   own_bpm=_bars_bpm(g, i, nb),
                   level=float(lv[i]), phrase_in=bool(g.phrase[i]),
                   phrase_out=bool(g.phrase[i + nb]), drop_s=drop_s, cost=cost,
                   tempo=tempo, body_bars=body, overlap_out=overlap, err=float(mad[i]))


def _bars_bpm(g: Grid, i: int, nb: int) -> float:
    """The track's tempo over its bars ``i`` to ``i + nb``, counted 4 beats a bar."""
    return 240.0 * nb / float(g.downbeats[i + nb] - g.downbeats[i])


def _unclear_cost(g: Grid, starts: np.ndarray, nb: int, m: float, ov_in: int,
                  ov_out: int) -> np.ndarray:
    """Per start, what :func:`unclear_blends` will make of the span's blends (``ov_in``
    session bars in, ``ov_out`` out; 0: a cut) where a side's bars hold unclear beats:
    UNCLEAR_SIDE for the change of shape, and PHRASE_MISS more where this side has no
    change that keeps its phrase boundary: for the way out, a cut on the slot's downbeat
    (a phrase start there) or half the blend from there (clear, its end a phrase start);
    for the way in, a cut as late as the blend's end or half the blend late (clear), its
    entry a phrase start."""
    c = np.zeros(len(starts))
    for ov, out in ((ov_in, False), (ov_out, True)):
        n = int(math.ceil(ov / m - 1e-9))  # track bars of the blend
        if ov <= 0 or n <= 0:
            continue
        a = starts + nb - n if out else starts
        bad = g.unclear(a, a + n)
        if not bad.any():
            continue
        keep = g.phrase[a] if out else g.phrase[a + n]
        h = (ov // 2) / m
        if ov // 2 >= 1 and abs(h - round(h)) < 1e-9:
            h = int(round(h))
            half = (g.phrase[a + h] & ~g.unclear(a, a + h)) if out else \
                (g.phrase[a + n - h] & ~g.unclear(a + n - h, a + n))
            keep = keep | half
        c += bad * (UNCLEAR_SIDE + PHRASE_MISS * ~keep)
    return c


def _keep_rest(c: np.ndarray, g: Grid, nb: int, avoid: Sequence[tuple[float, float]],
               tol: float, off_phrase: np.ndarray) -> int:
    """The start (bar index) of the span to play: of the spans costing at most ``tol``
    more than the cheapest and off a phrase boundary at no more ends than it
    (``off_phrase``: 0–2 per start), the one that strands the fewest bars, then the
    cheapest.

    A span cuts the free stretch of the track it lies in (between the track's ends and
    the parts already played, ``avoid``) into what is left before and after it; a piece
    shorter than the span itself (``nb`` bars) can no longer fill a slot like this one, so
    its bars are stranded. Chosen on the cost alone, a span in the middle of a track's
    loud part leaves two short loud pieces that no later slot can use; one at its edge
    leaves the rest in one piece, for another part of the track later."""
    i0 = int(np.argmin(c))
    starts = np.arange(len(c))
    lo = np.zeros(len(c), np.int64)           # where the free stretch begins, bars
    hi = np.full(len(c), g.n_bars, np.int64)  # … and ends
    for a, b in avoid:
        ia = int(np.searchsorted(g.downbeats, a - 1e-3))
        ib = int(np.searchsorted(g.downbeats, b - 1e-3))
        lo = np.where(ib <= starts, np.maximum(lo, ib), lo)
        hi = np.where(ia >= starts + nb, np.minimum(hi, ia), hi)
    before, after = starts - lo, hi - (starts + nb)
    stranded = np.where(before < nb, before, 0) + np.where(after < nb, after, 0)
    near = (c <= c[i0] + tol) & (off_phrase <= off_phrase[i0])
    stranded = np.where(near, stranded, np.iinfo(np.int64).max)
    near = np.flatnonzero(stranded == stranded.min())
    return int(near[np.argmin(c[near])])


FILL_WORK = 1e7  # fill_windows' most cell pairs (tracks' counts x the slots'): ~4 s CPU


def fill_windows(tracks: Sequence[tuple[np.ndarray, float]], lengths: Sequence[int],
                 targets: Sequence[float], counts: Sequence[int], clip: float = math.inf,
                 caps: tuple[Sequence[int], int] | None = None,
                 groups: tuple[Sequence[int], int] | None = None
                 ) -> tuple[float, list[list[tuple[int, int, float]]]]:
    """The best way to fill ``counts[k]`` slots of ``lengths[k]`` session bars (target
    level ``targets[k]``) each with one window of one track's consecutive bars, no bar in
    two windows: the least total |level − target| × session bars (each bar's deviation at
    most ``clip``). ``tracks``: (bar levels, m: session bars per bar of the track, and
    optionally its cumulative beats per bar: no window whose beats are more than
    UNEVEN_MAX from 4 a bar).
    ``caps``: (per length, in all) the most windows one track may hold (default: any).
    ``groups``: (each track's group, e.g. its artist, < 0: none; the most windows the
    tracks of one group may hold in all) (default: no limit).

    Exact: per track, a dynamic program over its bars and how many windows of each length
    it holds; the tracks of a group combined min-plus over those counts (capped), then the
    groups. Returns the total (inf when the tracks cannot fill the slots) and, per length,
    the windows used: (index into ``tracks``, its first bar, its mean deviation). Also
    inf, without searching, where the search would take more than ``FILL_WORK`` cell
    pairs (many distinct slot kinds: the cells grow as 2 to the number of kinds)."""
    dims = len(lengths)
    shape = tuple(int(c) + 1 for c in counts)
    per_kind, per_track = caps if caps is not None else (counts, sum(counts))
    of, per_group = groups if groups is not None else ([-1] * len(tracks), sum(counts))
    members: dict = {}
    for ti, gid in enumerate(of):
        members.setdefault(int(gid) if gid >= 0 else ("track", ti), []).append(ti)
    zero = (0,) * dims
    work = sum(math.prod(min(c - 1, len(lv) // int(math.ceil(n / m - 1e-9))) + 1
                         for c, n in zip(shape, lengths)) for lv, m, *_ in tracks)
    work += sum(len(t) > 1 for t in members.values()) * math.prod(shape)
    if work * math.prod(shape) > FILL_WORK:
        return math.inf, [[] for _ in lengths]
    held = np.indices(shape).sum(axis=0)  # windows held at each cell
    total = np.full(shape, np.inf)
    total[zero] = 0.0
    hist = []  # per group: its counts per cell of the total; per track, the same in it
    for key, tis in members.items():
        inner = []
        group = np.full(shape, np.inf)
        group[zero] = 0.0
        for ti in tis:
            mine, how, cums, wins = _track_fill(tracks[ti], lengths, targets, shape, clip,
                                                per_kind)
            mine[held[tuple(slice(0, o) for o in mine.shape)] > per_track] = np.inf
            if len(tis) == 1:  # alone: its own table is the group's
                group[tuple(slice(0, o) for o in mine.shape)] = mine
                pick = None
            else:
                group, pick = _min_plus(group, mine)
            inner.append((ti, pick, how, cums, wins))
        if not isinstance(key, tuple):
            group[held > per_group] = np.inf
        total, gpick = _min_plus(total, group)
        hist.append((gpick, inner))
    cell = tuple(int(c) for c in counts)
    out: list[list[tuple[int, int, float]]] = [[] for _ in lengths]
    if not np.isfinite(total[cell]):
        return math.inf, out
    value = float(total[cell])
    for gpick, inner in reversed(hist):
        gcell = tuple(int(x) for x in gpick[cell])
        cell = tuple(c - i for c, i in zip(cell, gcell))
        for ti, pick, how, cums, wins in reversed(inner):
            left = list(gcell) if pick is None else [int(x) for x in pick[gcell]]
            gcell = tuple(c - i for c, i in zip(gcell, left))
            pos = how.shape[0] - 1
            while any(left) and pos > 0:
                k = int(how[pos][tuple(left)])
                if k < 0:
                    pos -= 1
                    continue
                w = wins[k]
                out[k].append((ti, pos - w, float((cums[k][pos] - cums[k][pos - w]) / w)))
                left[k] -= 1
                pos -= w
    return value, out


def _track_fill(track: tuple[np.ndarray, float], lengths, targets, shape, clip, per_kind):
    """:func:`fill_windows`' dynamic program over one track's bars: the least total per
    count of windows of each length it holds, how each of its cells ends (per bar: -1,
    skip it; k, a window of length k ends there), its cumulative deviations, its bars per
    window length."""
    levels, m, *beats = track
    dims = len(lengths)
    zero = (0,) * dims
    lv = np.asarray(levels, np.float64)
    cums = [np.concatenate([[0.0], np.cumsum(np.minimum(np.abs(lv - t), clip))])
            for t in targets]
    wins = [int(math.ceil(n / m - 1e-9)) for n in lengths]  # its bars under n
    own = tuple(min(c - 1, len(lv) // w, int(k)) + 1  # it can hold
                for c, w, k in zip(shape, wins, per_kind))
    best = np.full((len(lv) + 1,) + own, np.inf)
    best[0][zero] = 0.0
    how = np.full((len(lv) + 1,) + own, -1, np.int8)  # -1: skip a bar; k: a window
    for pos in range(1, len(lv) + 1):
        best[pos] = best[pos - 1]
        for k, (n, w) in enumerate(zip(lengths, wins)):
            if pos < w or own[k] < 2:
                continue
            c = (cums[k][pos] - cums[k][pos - w]) / w * n
            if beats and beats[0] is not None and off_four(beats[0], pos - w, w) > UNEVEN_MAX:
                continue  # a bar of 3 or 5 beats in it (see _span)
            to = tuple(slice(1 if j == k else 0, None) for j in range(dims))
            fr = tuple(slice(0, -1 if j == k else None) for j in range(dims))
            cand = best[pos - w][fr] + c
            better = cand < best[pos][to]
            best[pos][to] = np.where(better, cand, best[pos][to])
            how[pos][to] = np.where(better, k, how[pos][to])
    return best[-1].copy(), how, cums, wins


def _min_plus(total: np.ndarray, mine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``total`` combined with one more table (``mine``, no larger): per cell the least
    sum over the ways to split its counts, and the counts ``mine`` holds in it."""
    shape = total.shape
    new, pick = total.copy(), np.zeros(shape + (len(shape),), np.int64)
    for idx in zip(*np.nonzero(np.isfinite(mine))):
        if not any(idx):
            continue
        to = tuple(slice(i, None) for i in idx)
        fr = tuple(slice(0, d - i) for i, d in zip(idx, shape))
        cand = total[fr] + mine[idx]
        better = cand < new[to]
        new[to] = np.where(better, cand, new[to])
        pick[to] = np.where(better[..., None], np.array(idx, np.int64), pick[to])
    return new, pick


@dataclass
class WorkPlan:
    """What :func:`_work_plan` says about each slot."""

    limits: list[float]       # the most |level − target| of its excerpt (inf: any)
    reserve: list[set]        # tracks that cost RESERVE more there
    windows: list[list[tuple[int, int, float]]]  # the filling's windows it offers
    only: list[bool]          # it plays its scheduled window and nothing else
    drop: list[set]           # tracks whose other rows go (their windows are scheduled)


def _work_plan(slots: Sequence[Slot], table, grids, artist=None, artist_gap: int = 0
               ) -> WorkPlan:
    """Energy first in a round's work interval, as loud as the library allows: the best
    filling of the work slots with windows of the candidates' consecutive bars
    (:func:`fill_windows`, each bar once, no other cost, a track in no more windows than
    it can come back for REUSE_GAP excerpts apart, an artist in no more than can play
    more than ``artist_gap`` excerpts apart) says how loud every work slot of a
    length can be, and with which windows; :func:`_schedule` then gives each window a
    work slot where the reuse and artist rules let it play.

    Per slot: the error limit of its excerpt (WORK_WITHIN, or the worst window that
    filling uses for slots of its length, plus KEEP_WHOLE; inf outside work slots, or
    when the candidates cannot fill them: then all is as before); the tracks that cost
    RESERVE more there (used by the filling, but not for work slots of its length); the
    filling's windows for its length (pool index, first bar, play multiple): a scheduled
    slot offers its own window only, a slot the schedule leaves open the windows left
    over. Where the artists' cap leaves the slots unfilled, the filling without it;
    where the track cap does too, the filling without either still sets the limits and
    windows (no schedule)."""
    n = len(slots)
    wp = WorkPlan([math.inf] * n, [set() for _ in slots], [[] for _ in slots],
                  [False] * n, [set() for _ in slots])
    work = [si for si, s in enumerate(slots) if s.work]
    if not work:
        return wp
    key = {si: (slots[si].bars + slots[si].overlap_out, slots[si].target_level) for si in work}
    kinds = sorted(set(key.values()))
    mult: dict[int, float] = {}
    for si in work:
        for i, ex, _, notes in table[si]:
            if grids.get(i) is not None and not notes:  # not forced past the stretch limit
                mult.setdefault(i, ex.multiple)
    ids = sorted(mult)
    args = ([(grids[i].levels, mult[i], grids[i].beats_cum) for i in ids],
            [n for n, _ in kinds], [t for _, t in kinds],
            [sum(key[si] == kd for si in work) for kd in kinds], BAR_ERR_MAX)
    # a track comes back REUSE_GAP excerpts later at most: as many windows as there are
    # work slots (of its length, and in all) that far apart
    caps = ([_spaced([si for si in work if key[si] == kd], REUSE_GAP) for kd in kinds],
            _spaced(work, REUSE_GAP))
    # … and an artist in no more windows than the artist rule lets play in the work slots
    groups = (([int(artist[i]) for i in ids], _spaced(work, artist_gap + 1))
              if artist is not None else None)
    total, wins = fill_windows(*args, caps, groups)
    if not math.isfinite(total) and groups is not None:  # the artists cannot: without
        total, wins = fill_windows(*args, caps)
    capped = math.isfinite(total)
    if not capped:
        total, wins = fill_windows(*args)
    if not math.isfinite(total):
        return wp  # too little music for the work slots: as before
    used = [{ids[t] for t, _, _ in wk} for wk in wins]
    every = set().union(*used)
    for si, s in enumerate(slots):
        wp.reserve[si] = every
        if s.work:
            k = kinds.index(key[si])
            wp.limits[si] = max(WORK_WITHIN, max(e for _, _, e in wins[k]) + KEEP_WHOLE)
            wp.windows[si] = [(ids[t], b, mult[ids[t]]) for t, b, _ in wins[k]]
            wp.reserve[si] = every - used[k]
    sched = _schedule(work, [kinds.index(key[si]) for si in work],
                      [[(ids[t], b, e) for t, b, e in wk] for wk in wins],
                      artist, artist_gap) if capped else None
    if sched is None:
        return wp
    done = {x for x in sched if x is not None}
    fixed = {i for i, _ in done}
    for si, x in zip(work, sched):
        if x is not None:
            wp.windows[si], wp.only[si], wp.reserve[si] = [(x[0], x[1], mult[x[0]])], True, set()
        else:
            wp.windows[si] = [wd for wd in wp.windows[si] if wd[:2] not in done]
            wp.drop[si] = fixed - {wd[0] for wd in wp.windows[si]}
    return wp


def _spaced(positions: Sequence[int], gap: int) -> int:
    """The most of ``positions`` (slot indices) that are pairwise ``gap`` or more apart."""
    n, last = 0, -math.inf
    for p in sorted(positions):
        if p - last >= gap:
            n, last = n + 1, p
    return n


SCHEDULE_NODES = 20_000   # _schedule's steps per number of open slots tried …
SCHEDULE_ALL = 100_000    # … and in all (then no schedule: the work slots as before)


def _schedule(work: Sequence[int], kind: Sequence[int], wins, artist, gap: int
              ) -> list[tuple[int, int] | None] | None:
    """Each of the filling's windows in one work slot of its kind (``wins[k]``: (pool
    index, first bar, err) of kind ``k``; ``work``: the work slots' indices, ``kind``
    theirs) so that a track's windows are REUSE_GAP or more slots apart and an artist's
    (``artist[i]``, < 0: none) more than ``gap``: per work slot its (pool index, first
    bar), or None for a slot left open. Depth-first over the work slots in order, at
    each the windows of its kind allowed there, the track with the most windows left
    first, then the least error, leaving a slot open last; the fewest open slots found
    (0, 1, .. up to half of them, SCHEDULE_NODES steps each); None when none is found."""
    left = [list(w) for w in wins]
    count: dict[int, int] = {}
    for w in wins:
        for i, _, _ in w:
            count[i] = count.get(i, 0) + 1
    last: dict[int, int] = {}
    last_a: dict[int, int] = {}
    out: list[tuple[int, int] | None] = []
    steps = spent = 0

    def art(i: int) -> int | None:
        return int(artist[i]) if artist is not None and artist[i] >= 0 else None

    def go(j: int, skips: int) -> bool:
        nonlocal steps
        if j == len(work):
            return True
        steps -= 1
        if steps < 0:
            return False
        p, k = work[j], kind[j]
        tried = set()
        for x in sorted(range(len(left[k])),
                        key=lambda x: (-count[left[k][x][0]], left[k][x][2], x)):
            i, b, e = left[k][x]
            a = art(i)
            if (i, b) in tried or p - last.get(i, -REUSE_GAP) < REUSE_GAP or \
                    (a is not None and p - last_a.get(a, -gap - 1) <= gap):
                continue
            tried.add((i, b))
            was = last.get(i), last_a.get(a)
            del left[k][x]
            count[i] -= 1
            last[i] = p
            if a is not None:
                last_a[a] = p
            out.append((i, b))
            if go(j + 1, skips):
                return True
            out.pop()
            left[k].insert(x, (i, b, e))
            count[i] += 1
            for d, kk, v in ((last, i, was[0]), (last_a, a, was[1])):
                if kk is not None:
                    if v is None:
                        d.pop(kk, None)
                    else:
                        d[kk] = v
        if skips > 0:
            out.append(None)
            if go(j + 1, skips - 1):
                return True
            out.pop()
        return False

    # fewer open slots than this cannot be: an artist's (a track's) windows beyond what
    # its rule lets play in these slots stay unplayed, so as many slots stay open
    per_art: dict[int, int] = {}
    for i, n in count.items():
        if art(i) is not None:
            per_art[art(i)] = per_art.get(art(i), 0) + n
    least = max(sum(max(0, n - _spaced(work, gap + 1)) for n in per_art.values()),
                sum(max(0, n - _spaced(work, REUSE_GAP)) for n in count.values()))
    for skips in range(least, len(work) // 2 + 1):
        if spent >= SCHEDULE_ALL:
            break
        steps = SCHEDULE_NODES
        if go(0, skips):
            return out
        spent += SCHEDULE_NODES - max(steps, 0)
    return None


def _energy_first(steps: list, errs: list[float], clean: list[bool], limit: float) -> list:
    """Of one state's next steps into a work slot, the clean ones (no part played again,
    no artist within the gap) whose excerpt is within ``limit`` (:func:`_work_plan`);
    none: those within KEEP_WHOLE of the nearest clean one; no clean step: all of them."""
    ok = [e for e, c in zip(errs, clean) if c]
    if not ok:
        return steps
    if min(ok) > limit:
        limit = min(ok) + KEEP_WHOLE
    return [st for st, e, c in zip(steps, errs, clean) if c and e <= limit]


# ---------------------------------------------------------------- candidates and search

def preselect(pool: Pool, slots: Sequence[Slot], tl: Timeline, w: Weights, k: int,
              ranges: np.ndarray) -> list[np.ndarray]:
    """Per slot, the ``k`` pool indices with the lowest estimated cost per minute (tempo,
    the energy the track can reach (``ranges``: calm and loud level), style, variety)."""
    prefs = segment_prefs(tl, pool.styles)
    out = []
    n = len(pool)
    for s in slots:
        hd = bool(tl.half_double[s.span])
        _, dev, _ = tempo_fit(pool.bpm, s.tempo, tl.tol[s.span], hd)
        reach = np.clip(s.target_level, ranges[:, 0], ranges[:, 1])
        c_e = energy_cost(np.where(np.isfinite(reach), reach, pool.level), s.target_level)
        c_s = style_cost(pool.style_p, prefs[s.span]) if prefs[s.span] is not None else 0.0
        rate = (w.tempo * stretch_cost(dev) + energy_gain(s) * w.energy * c_e + w.style * c_s
                + w.novelty * pool.recent)
        rate = rate + pool.bias
        rate = np.where(dev <= 100.0 * MAX_STRETCH, rate, rate + 50.0)  # cannot stretch there
        if s.want_drop and not s.round:
            rate = rate - 0.5 * w.drop * pool.drop_q.max(axis=1)
        kk = min(k, n)
        sel = np.argpartition(rate, kk - 1)[:kk] if kk < n else np.arange(n)
        out.append(sel[np.argsort(rate[sel], kind="stable")])
    return out


@dataclass
class Choice:
    """One slot's pick: pool index, its excerpt, and what it cost."""

    slot: Slot
    index: int
    excerpt: Excerpt
    cost: float
    transition: float
    notes: list[str] = field(default_factory=list)


def search(pool: Pool, slots: Sequence[Slot], tl: Timeline, w: Weights,
           grids: Mapping[int, Grid | None], cands: Sequence[np.ndarray],
           opts: ExcerptOptions) -> list[Choice]:
    """Beam search over the slots in order (see the module doc); [] when some slot has
    no track with a beat grid at all."""
    table = [_slot_rows(pool, s, tl, w, grids, cand) for s, cand in zip(slots, cands)]
    # Tracks whose drop can open a peak are kept for the peaks: elsewhere they cost more.
    keep = {r[0] for s, rows in zip(slots, table) if s.want_drop and not s.round
            for r in rows if r[1].drop_s is not None}
    for s, rows in zip(slots, table):
        if not s.want_drop and keep:
            rows[:] = sorted(((i, ex, c + RESERVE * (i in keep), n) for i, ex, c, n in rows),
                             key=lambda r: (r[2], r[0]))
    for si, rows in enumerate(table):
        if not rows:  # nothing within ±8 %: the nearest tempi, stretched further (warned)
            every = np.array(sorted(k for k, g in grids.items() if g is not None), np.int64)
            table[si] = _slot_rows(pool, slots[si], tl, w, grids, every, force=True)
        if not table[si]:
            return []
    # The work rounds, loud first: how loud each work slot can be, the windows that get
    # there, and the tracks they need kept (_work_plan).
    wp = _work_plan(slots, table, grids, pool.artist, opts.artist_gap)
    limits = wp.limits
    for si, wins in enumerate(wp.windows):
        if wins:
            table[si] = _window_rows(pool, slots[si], tl, w, grids, table[si], wins)
        if wp.only[si] or wp.drop[si]:  # its scheduled window; others' kept for theirs
            table[si] = [r for r in table[si] if r[1].window or
                         (not wp.only[si] and r[0] not in wp.drop[si])] or table[si]
    for rows, kept in zip(table, wp.reserve):
        if kept:
            rows[:] = sorted(((i, ex, c + RESERVE * (i in kept), n) for i, ex, c, n in rows),
                             key=lambda r: (r[2], r[0]))
    # States: (cost, order of pool indices, per slot (row, transition cost, penalty,
    # the other part of a track played again, else None)).
    beam: list[tuple[float, tuple, tuple]] = [(0.0, (), ())]
    parts: dict[tuple, Excerpt | None] = {}  # (slot, track, spans played): its other part
    prev_idx = None
    for si, s in enumerate(slots):
        rows = table[si]
        idx = np.array([r[0] for r in rows], np.int64)
        hd = bool(tl.half_double[s.span])
        T = None
        if prev_idx is not None:
            T = transition_cost(pool, prev_idx[:, None], idx[None, :], hd, w)
            if s.cut_in:
                T = 0.5 * T  # a cut need not blend tempi or keys
        nxt = []
        for cost, order, picks in beam:
            used = {o: k for k, o in enumerate(order)}  # last position of each track
            recent_art = {int(pool.artist[o]) for o in order[-opts.artist_gap:]
                          if pool.artist[o] >= 0}
            added = 0
            mine, errs, clean = [], [], []
            for ri, (i, ex, c, notes) in enumerate(rows):
                pen, again = 0.0, None
                if i in used:  # another part of it, long after: a small cost; else a big one
                    k0 = used[i]
                    if len(order) - k0 >= REUSE_GAP:
                        # the part it would really play: the best one clear of those played
                        spans = tuple(sorted(
                            (e.in_s, e.out_s) for e in (_played(table, picks, j)
                                                        for j, o in enumerate(order) if o == i)))
                        key = (si, i, spans)
                        if ex.window:  # a window of the filling: itself, if clear of them
                            again = ex if _clear(ex, spans) else None
                        else:
                            if key not in parts:
                                parts[key] = choose_excerpt(pool.tracks[i], grids[i], s, w,
                                                            hd, bool(notes), spans)
                            again = parts[key]
                    if again is not None:  # costed as that part, not as the best one
                        pen += REUSE_FAR + again.cost - ex.cost
                    else:
                        pen += REUSE
                        if ex.drop_s is not None and not s.round:
                            pen += DROP_MISS  # its drop has played: the peak gets another
                broke = int(pool.artist[i]) in recent_art
                if broke:
                    pen += ARTIST_BREAK
                tc = float(T[picks[-1][0], ri]) if T is not None else 0.0
                mine.append((cost + c + tc + pen, order + (i,), picks + ((ri, tc, pen, again),)))
                errs.append((again or ex).err)
                clean.append(not broke and (i not in used or again is not None))
                added += pen == 0.0
                if added >= opts.beam_width and math.isinf(limits[si]):
                    break
            nxt.extend(mine if math.isinf(limits[si]) else
                       _energy_first(mine, errs, clean, limits[si]))
        nxt.sort(key=lambda x: (x[0], x[1]))
        seen, beam = set(), []
        for st in nxt:
            sig = (frozenset(st[1]), st[1][-max(opts.artist_gap, 1):])
            if sig in seen:
                continue
            seen.add(sig)
            beam.append(st)
            if len(beam) >= opts.beam_width:
                break
        prev_idx = idx
    cost, order, picks = beam[0]
    order, picks = _improve(pool, slots, tl, w, table, list(order), list(picks), opts,
                            limits)
    out = []
    spans: dict[int, list[tuple[float, float]]] = {}
    for si, ((ri, tc, pen, _), i) in enumerate(zip(picks, order)):
        _, ex, c, notes = table[si][ri]
        notes = list(notes)
        if i in spans:  # a track played again: another part of it where it has one
            s = slots[si]
            again = ex if ex.window and _clear(ex, spans[i]) else \
                choose_excerpt(pool.tracks[i], grids[i], s, w,
                               bool(tl.half_double[s.span]), bool(notes), spans[i])
            if again is not None:
                ex = again
                notes.append("another part of a track played earlier")
            else:
                notes.append("repeats a part played earlier: every unused track fits this "
                             "place worse")
        elif pen >= ARTIST_BREAK:
            notes.append("artist repeated within 3 excerpts: nothing else left")
        spans.setdefault(i, []).append((ex.in_s, ex.out_s))
        slots[si].overlap_out = ex.overlap_out  # its blend out (4 or 8 bars: choose_excerpt)
        out.append(Choice(slots[si], i, ex, c, tc, notes))
    return out


def _clear(ex: Excerpt, spans) -> bool:
    """True when ``ex`` overlaps none of ``spans`` (track seconds played)."""
    return all(ex.out_s <= a + 1e-3 or ex.in_s >= b - 1e-3 for a, b in spans)


def _window_rows(pool: Pool, s: Slot, tl: Timeline, w: Weights, grids, rows: list,
                 wins: Sequence[tuple[int, int, float]]) -> list:
    """Slot ``s``'s rows with the filling's windows for it (:func:`_work_plan`): a track
    that has windows here offers exactly those (one row each, its excerpt the window,
    marked ``window``) instead of its best part; other tracks keep their rows."""
    new = []
    for i, b, m in wins:
        g = grids[i]
        e = min(g.n_bars, b + int(math.ceil((s.bars + s.overlap_out) / m - 1e-9)))
        # every start but bar b overlaps one of these, so the span is the window
        r = _row(pool, s, tl, w, g, i, False,
                 [(-math.inf, float(g.downbeats[b])), (float(g.downbeats[e]), math.inf)])
        if r is not None:
            r[1].window = True
            new.append(r)
    mine = {r[0] for r in new}
    out = [r for r in rows if r[0] not in mine] + new
    out.sort(key=lambda r: (r[2], r[0]))
    return out


def _played(table, picks, j: int) -> Excerpt:
    """The excerpt the ``j``-th pick plays: its row's, or another part of a track again."""
    return picks[j][3] or table[j][picks[j][0]][1]


def _improve(pool: Pool, slots, tl: Timeline, w: Weights, table, order: list, picks: list,
             opts: ExcerptOptions, limits: Sequence[float],
             passes: int = 2) -> tuple[list, list]:
    """Local search after the beam: replace one slot's excerpt by another track's when
    the total (its cost, the transitions either side, the penalties) drops; a new track
    must be unused and keep the artist rule with its neighbours."""
    n = len(order)

    def trans(k: int, a: int, b: int) -> float:
        t = float(transition_cost(pool, a, b, bool(tl.half_double[slots[k].span]), w))
        return 0.5 * t if slots[k].cut_in else t

    gap = opts.artist_gap
    for _ in range(passes):
        changed = False
        for k in range(n):
            ri, tc, pen, _ = picks[k]
            old = table[k][ri][2] + pen + (trans(k, order[k - 1], order[k]) if k else 0.0) + \
                (trans(k + 1, order[k], order[k + 1]) if k + 1 < n else 0.0)
            used = set(order[:k] + order[k + 1:])
            near = {int(pool.artist[order[j]]) for j in range(max(0, k - gap),
                                                               min(n, k + gap + 1))
                    if j != k and pool.artist[order[j]] >= 0}
            best = None
            limit = max(limits[k], _played(table, picks, k).err)  # no quieter work excerpt
            for rj, (i, ex, c, _) in enumerate(table[k]):
                if i in used or rj == ri or int(pool.artist[i]) in near or ex.err > limit:
                    continue
                new = c + (trans(k, order[k - 1], i) if k else 0.0) + \
                    (trans(k + 1, i, order[k + 1]) if k + 1 < n else 0.0)
                if new < old - 1e-9 and (best is None or new < best[0]):
                    best = (new, rj, i)
            if best is not None:
                _, rj, i = best
                order[k] = i
                picks[k] = (rj, trans(k, order[k - 1], i) if k else 0.0, 0.0, None)
                if k + 1 < n:
                    r1, _, p1, a1 = picks[k + 1]
                    picks[k + 1] = (r1, trans(k + 1, i, order[k + 1]), p1, a1)
                changed = True
        if not changed:
            break
    return order, picks


def _slot_rows(pool: Pool, s: Slot, tl: Timeline, w: Weights, grids, cand,
               force: bool = False) -> list[tuple[int, Excerpt, float, tuple]]:
    """(pool index, excerpt, cost, notes) of each candidate that can play slot ``s``,
    cheapest first."""
    rows = [r for r in (_row(pool, s, tl, w, grids.get(i), i, force)
                        for i in np.asarray(cand).tolist()) if r is not None]
    rows.sort(key=lambda r: (r[2], r[0]))
    return rows


def _row(pool: Pool, s: Slot, tl: Timeline, w: Weights, g: Grid | None, i: int,
         force: bool = False, avoid: Sequence[tuple[float, float]] = ()
         ) -> tuple[int, Excerpt, float, tuple] | None:
    """One candidate's row for slot ``s`` (see :func:`_slot_rows`), or None."""
    if g is None:
        return None
    ex = choose_excerpt(pool.tracks[i], g, s, w, bool(tl.half_double[s.span]), force, avoid)
    if ex is None:
        return None
    _, dev, _ = tempo_fit(ex.own_bpm * ex.multiple, s.target_bpm, tl.tol[s.span], False)
    extra = (w.tempo * float(stretch_cost(dev)) + w.novelty * float(pool.recent[i]) +
             float(pool.bias[i])) * (s.end_s - s.start_s) / 60.0
    # forced past the stretch limit, it plays near its own tempo and misses the target
    notes = ((f"{float(dev):.0f} % off the target tempo (no track reaches it within "
              f"±{100 * MAX_STRETCH:.0f} %)",) if force and abs(dev) > 100 * MAX_STRETCH
             else ())
    return i, ex, ex.cost + extra, notes


def rhythm_of(lookup: RhythmLookup | None, track_id: int) -> Rhythm | None:
    if lookup is None:
        return None
    if callable(lookup) and not isinstance(lookup, Mapping):
        return lookup(track_id)
    return lookup.get(track_id)


def loud_blend(a: Excerpt, b: Excerpt) -> bool:
    return a.level >= LOUD_LEVEL and b.level >= LOUD_LEVEL


def unclear_blends(choices: list[Choice], grids: Mapping[int, Grid | None]) -> dict[str, int]:
    """Blends laid over bars whose beat is unclear (analysis/beat_clarity.py) become
    shorter or cuts, as a DJ does: a blend stays where both sides' blend bars have a clear
    beat (no more than UNCLEAR_SHARE unclear beats); else it becomes a cut or a blend of
    half its bars (both sides' bars clear) somewhere in the old blend: the next excerpt
    enters ``p`` session bars after the slot's downbeat (its in point that much later)
    and the outgoing one ends when the new blend does (that much earlier). Of these
    changes (:func:`_blend_changes`), the one that keeps the most of the two phrase
    boundaries (the outgoing out point, the incoming in point), then a blend over a cut,
    then the one that moves the least. Marks each changed slot's ``reason``; returns how
    many became shorter and cuts."""
    out = {"shorter": 0, "cuts": 0}
    for prev, cur in zip(choices, choices[1:]):
        ov = prev.slot.overlap_out
        ga, gb = grids.get(prev.index), grids.get(cur.index)
        if cur.slot.cut_in or ov <= 0 or ga is None or gb is None:
            continue
        best = _blend_changes(prev, cur, ga, gb)
        if best is None:
            continue
        p, keep = best
        _change_blend(prev, cur, ga, gb, p, keep, "unclear beat")
        out["shorter" if keep else "cuts"] += 1
    return out


def far_tempi_blends(choices: list[Choice], grids: Mapping[int, Grid | None]) -> int:
    """Blends between two excerpts whose own tempi (in the octave each plays at) are too
    far apart for the render to meet them at one tempo within ±8 % of both (a forced
    excerpt, far off its slot) become cuts, as :func:`unclear_blends` makes them (the
    outgoing one ends on its downbeat where the blend began; ``reason`` "tempi apart").
    The tempi are the excerpts' and those of the bars the blend lays over, which the
    render meets (two excerpts whose averages meet at the edge of both reaches may not
    meet there). Returns how many."""
    n = 0
    for prev, cur in zip(choices, choices[1:]):
        ga, gb = grids.get(prev.index), grids.get(cur.index)
        ov = prev.slot.overlap_out
        if cur.slot.cut_in or ov <= 0 or ga is None or gb is None:
            continue
        a, b = prev.excerpt, cur.excerpt
        if not (tempi_meet(a.own_bpm * a.multiple, b.own_bpm * b.multiple)
                and tempi_meet(_blend_bpm(ga, a, ov, True), _blend_bpm(gb, b, ov, False))):
            _change_blend(prev, cur, ga, gb, 0, 0, "tempi apart")
            n += 1
    return n


def _blend_bpm(g: Grid, ex: Excerpt, session_bars: int, out: bool) -> float:
    """``ex``'s own tempo (in the octave it plays at) over the bars a blend of
    ``session_bars`` lays over: its last ones on the way out, its first on the way in."""
    nb = max(1, min(ex.n_bars, round(session_bars / ex.multiple)))
    return _bars_bpm(g, ex.i_in + ex.n_bars - nb if out else ex.i_in, nb) * ex.multiple


def _change_blend(prev: Choice, cur: Choice, ga: Grid, gb: Grid, p: int, keep: int,
                  reason: str) -> None:
    """The blend from ``prev`` into ``cur`` made ``keep`` bars (0: a cut), the incoming
    excerpt entering ``p`` session bars after the slot's downbeat (see
    :func:`unclear_blends`); the slot says ``reason``."""
    ov = prev.slot.overlap_out
    a, b, sa, sb = prev.excerpt, cur.excerpt, prev.slot, cur.slot
    a.n_bars -= round((ov - p - keep) / a.multiple)
    a.out_s = float(ga.downbeats[a.i_in + a.n_bars])
    a.phrase_out = bool(ga.phrase[a.i_in + a.n_bars])
    a.level, a.err = ga.level(a.i_in, a.n_bars), _err(ga, a.i_in, a.n_bars, sa)
    a.own_bpm = _bars_bpm(ga, a.i_in, a.n_bars)  # its tempo over the bars it now plays
    a.overlap_out = keep
    if p:  # the slot's downbeat moves p bars later: the incoming excerpt starts later
        d = round(p / b.multiple)
        b.i_in, b.n_bars = b.i_in + d, b.n_bars - d
        b.in_s = float(gb.downbeats[b.i_in])
        b.phrase_in = bool(gb.phrase[b.i_in])
        b.level, b.err = gb.level(b.i_in, b.n_bars), _err(gb, b.i_in, b.n_bars, sb)
        b.own_bpm = _bars_bpm(gb, b.i_in, b.n_bars)
        t_new = sb.start_s + p * 240.0 / sb.tempo
        a.body_bars = (a.body_bars or sa.bars) + p
        b.body_bars = (b.body_bars or sb.bars) - p
        sa.bars, sb.bars = sa.bars + p, sb.bars - p
        sa.end_s = sb.start_s = t_new
        sa.tempo = a.tempo = 240.0 * sa.bars / (sa.end_s - sa.start_s)
    sa.overlap_out = sb.overlap_in = keep
    sb.cut_in = keep == 0
    sb.reason = reason


def _blend_changes(prev: Choice, cur: Choice, ga: Grid, gb: Grid
                   ) -> tuple[int, int] | None:
    """:func:`unclear_blends`' change of the blend from ``prev`` into ``cur``: (p, keep),
    the session bars after the slot's downbeat where the incoming excerpt enters and the
    bars it blends over (0: a cut); None where the blend is clear (or nothing fits)."""
    ov = prev.slot.overlap_out
    a, b = prev.excerpt, cur.excerpt
    ma, mb = a.multiple, b.multiple
    a0 = a.i_in + a.n_bars - int(math.ceil(ov / ma - 1e-9))  # a's bar at the slot's downbeat

    def whole(x: float) -> bool:
        return abs(x - round(x)) < 1e-9

    def clear(p: int, k: int) -> bool:
        i, j = a0 + int(p / ma), b.i_in + int(p / mb)
        return not (ga.unclear(i, i + int(math.ceil(k / ma - 1e-9))) or
                    gb.unclear(j, j + int(math.ceil(k / mb - 1e-9))))

    if clear(0, ov):
        return None
    # the incoming excerpt may enter later only where both play at their slots' tempi
    # (the moved downbeat keeps every later one) and the outgoing one stays in reach
    late = (abs(a.tempo - prev.slot.tempo) < 1e-6 and abs(b.tempo - cur.slot.tempo) < 1e-6)
    body_b = b.body_bars or cur.slot.bars
    best = None
    for p in range(0, ov + 1 if late else 1):
        if p and not (whole(p / ma) and whole(p / mb) and body_b - p >= max(1, body_b // 2)):
            continue
        if p:
            sa, sb = prev.slot, cur.slot
            t = 240.0 * (sa.bars + p) / (sb.start_s + p * 240.0 / sb.tempo - sa.start_s)
            if not _stretch_ok(a, t):
                continue
        for keep in {0, ov // 2, ov // 4}:
            if p + keep > ov or keep >= ov or not whole((ov - p - keep) / ma):
                continue
            cut = round((ov - p - keep) / ma)
            if cut >= a.n_bars or (keep and not clear(p, keep)):
                continue
            misses = int(not ga.phrase[a.i_in + a.n_bars - cut]) + \
                int(not gb.phrase[b.i_in + round(p / mb)])
            key = (misses, -keep, p)
            if best is None or key < best[0]:
                best = (key, p, keep)
    return None if best is None else best[1:]


def _err(g: Grid, i: int, n: int, s: Slot) -> float:
    """Bars i .. i+n-1's mean |level − the slot's target| (at most BAR_ERR_MAX a bar), as
    :func:`_span` measures a span."""
    return float(np.mean(np.minimum(np.abs(g.levels[i:i + n] - s.target_level), BAR_ERR_MAX)))
