"""Transitions on the beat, and round cues.

**Where each excerpt goes** (:func:`layout`). Every excerpt is laid on the session timeline
by a piecewise-linear map from session time to track time (knots), which the stretcher
follows (``stretch.TimeMap``):

- in its body an excerpt plays at ``rate = target BPM / (own BPM × m)``, with ``m`` 1, ½
  or 2 (a track at 80 BPM in a 160 run plays two session beats per beat of its own), and
  the rate held within ±8 %; where the arc's tempo ramps through it (``target_in_bpm`` to
  ``target_out_bpm``, bending at ``target_via`` where a whole track spans a warm-up ramp and
  what follows) the rate rides from one to the other between its blends, held through
  them (``ramp.Ramp``), so that neighbours in a cool-down blend at one tempo;
- in an overlap of ``K`` bars the session beat period ramps linearly from the outgoing
  excerpt's to the incoming one's; both excerpts' beats (a least-squares line through their
  K bars of beats, so a tracker's jitter is not played as wow) are pinned to the same session
  beats, so their beats coincide and both tempi meet. The overlap starts on the outgoing
  excerpt's downbeat ``K`` bars before its ``out_s`` and ends on the incoming one's downbeat
  ``K`` bars after its ``in_s``;
- a cut: the outgoing excerpt stops on its ``out_s``; after ``gap_beats`` of silence the
  incoming one slams in on its ``in_s`` (its drop's downbeat), on the outgoing beat grid.

**Shapes** (:class:`Envelope`): equal-power (cos/sin gains over the overlap), bass swap
(highs cross equal-power over the overlap, the low end below 150 Hz, split by a
linear-phase FIR whose two bands sum back to the signal exactly, swaps on the middle downbeat of the
overlap in one eighth of a beat), and the cut (10 ms out, 3 ms in).

**Cues**: a bell (inharmonic partials, exponential decay) or a beep (a 1 kHz sine burst),
synthesized and placed to the sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..ramp import Ramp
from .stretch import MAX_RATE_STEP, TimeMap

BEATS_PER_BAR = 4
CROSSOVER_HZ = 150.0
SHAPES = ("equal_power", "bass_swap", "cut")


@dataclass
class Excerpt:
    """One excerpt of a track as the layout needs it (times in seconds, track time)."""

    beats: np.ndarray
    in_s: float
    out_s: float
    own_bpm: float | None = None  # None: from the beats
    target_bpm: float | None = None  # None: its own tempo
    # where the arc's tempo ramps through the excerpt (a cool-down, a build): the tempo at
    # in_s and at out_s; the body follows a line between them (None: target_bpm throughout)
    target_in_bpm: float | None = None
    target_out_bpm: float | None = None
    target_via: tuple[tuple[float, float], ...] = ()  # (track s, BPM) where the ramp bends
    # session bars from in_s to out_s as the plan counts them (4 beats a bar between its
    # downbeats): a ramp's holds are measured in those beats, as the plan placed its drop
    bars: int | None = None
    downbeats: np.ndarray = field(default_factory=lambda: np.zeros(0))
    start_s: float | None = None  # planned session time of in_s (None: follow on)


@dataclass
class Transition:
    """How excerpt i hands over to excerpt i+1."""

    shape: str = "equal_power"  # one of SHAPES
    bars: int = 8  # overlap length (ignored by a cut)
    gap_beats: float = 1.0  # a cut's silence


@dataclass
class Placement:
    """An excerpt on the session timeline: ``knots_s`` (session s) -> ``knots_t`` (track s),
    and how it fades in and out."""

    knots_s: np.ndarray
    knots_t: np.ndarray
    rate: float  # body rate (>1 faster)
    multiple: float  # session beats per track beat
    fade_in: "Envelope | None" = None
    fade_out: "Envelope | None" = None
    warnings: list[str] = field(default_factory=list)

    @property
    def start_s(self) -> float:
        return float(self.knots_s[0])

    @property
    def end_s(self) -> float:
        return float(self.knots_s[-1])

    def time_map(self, sr: int, t0: float) -> TimeMap:
        """The stretcher's map for output sample 0 at session ``start_s`` and input sample 0
        at track time ``t0``."""
        return TimeMap((self.knots_s - self.start_s) * sr, (self.knots_t - t0) * sr)

    def session_time(self, track_s: np.ndarray | float) -> np.ndarray:
        """Where track times land in the session (between the knots)."""
        return np.interp(track_s, self.knots_t, self.knots_s)


@dataclass
class Envelope:
    """A fade between session times ``t0`` and ``t1``; ``swap_s`` is the bass swap point."""

    shape: str
    t0: float
    t1: float
    incoming: bool
    swap_s: float | None = None
    swap_len_s: float = 0.05

    def gains(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(full-band or high-band gain, low-band gain or None) at session times ``t``."""
        if self.shape == "cut":
            ramp = 0.003 if self.incoming else 0.010
            if self.incoming:
                g = np.clip((t - self.t0) / ramp, 0.0, 1.0)
            else:
                g = np.clip((self.t1 - t) / ramp, 0.0, 1.0)
            return g, None
        u = np.clip((t - self.t0) / max(self.t1 - self.t0, 1e-9), 0.0, 1.0)
        g = np.sin(0.5 * np.pi * u) if self.incoming else np.cos(0.5 * np.pi * u)
        if self.shape != "bass_swap":
            return g, None
        v = np.clip((t - self.swap_s) / self.swap_len_s + 0.5, 0.0, 1.0)
        low = v if self.incoming else 1.0 - v
        return g, low


def beat_multiple(own_bpm: float, target_bpm: float) -> tuple[float, float]:
    """(m, rate): session beats per track beat (½, 1 or 2) and the rate that brings the
    track to ``target_bpm``, the pair with the rate nearest 1."""
    best = min((0.5, 1.0, 2.0), key=lambda m: abs(math.log(target_bpm / (own_bpm * m))))
    return best, target_bpm / (own_bpm * best)


def own_tempo(beats: np.ndarray, in_s: float, out_s: float) -> float:
    """BPM of the beats inside [in_s, out_s] (least-squares period), all beats if too few."""
    sel = beats[(beats >= in_s - 1e-3) & (beats <= out_s + 1e-3)]
    if len(sel) < 4:
        sel = beats
    if len(sel) < 2:
        raise ValueError("too few beats to know the tempo")
    return 60.0 / float(np.polyfit(np.arange(len(sel)), sel, 1)[0])


def fit_beats(beats: np.ndarray, t: float, count: int, forward: bool) -> tuple[float, float]:
    """(time, period): the least-squares line through the ``count`` + 1 beats starting
    (``forward``) or ending at the beat nearest ``t``, evaluated at that beat."""
    i = int(np.argmin(np.abs(beats - t)))
    sel = beats[i:i + count + 1] if forward else beats[max(0, i - count):i + 1]
    if len(sel) < 3:
        period = float(np.median(np.diff(beats))) if len(beats) > 1 else 0.5
        return float(beats[i]) if len(beats) else t, period
    slope, icpt = np.polyfit(np.arange(len(sel)), sel, 1)
    at = icpt if forward else icpt + slope * (len(sel) - 1)
    return float(at), float(slope)


def _clamp_rate(rate: float, warnings: list[str], what: str) -> float:
    lo, hi = 1.0 - MAX_RATE_STEP, 1.0 + MAX_RATE_STEP
    if rate < lo - 1e-9 or rate > hi + 1e-9:
        warnings.append(f"{what}: rate {rate:.3f} held to ±{MAX_RATE_STEP * 100:.0f} %")
        return min(max(rate, lo), hi)
    return rate


def _session_beat_time(t0: float, pa: float, pb: float, span: float, j: np.ndarray) -> np.ndarray:
    """Session time of (fractional) session beat ``j`` in an overlap whose period ramps
    linearly from ``pa`` to ``pb`` over ``span`` beats."""
    return t0 + pa * j + (pb - pa) * j * j / (2.0 * span)


Refine = Callable[[int, float, float, int, bool], np.ndarray]
"""``refine(excerpt index, at, period, count, forward) -> beats``: a line of the tracker's
beats (s, track time; its beat at ``at`` and ``count`` more after it, ``forward``, or before
it) as the audio has them: ``count + 1`` increasing beat times (``beatgrid.refine_beats``:
the phase the tracker hears in that window, to the millisecond, pinned where it drifts)."""


def beat_line(at: float, period: float, count: int, forward: bool) -> np.ndarray:
    """The ``count + 1`` beats (s, increasing) of a line: its beat at ``at`` and ``count``
    more ``period`` s apart after it (``forward``) or before it."""
    return np.sort(at + np.arange(count + 1) * (period if forward else -period))


def layout(excerpts: list[Excerpt], transitions: list[Transition],
           start_s: float = 0.0, refine: Refine | None = None) -> list[Placement]:
    """Lay the excerpts on the session timeline (see the module doc); ``transitions[i]``
    joins excerpt i and i+1. ``refine`` corrects each overlap's beat lines (the tracker's
    are quantized to its frames) before they are pinned together."""
    if len(transitions) != max(0, len(excerpts) - 1):
        raise ValueError("one transition between each two excerpts")
    info = []
    for i, e in enumerate(excerpts):
        own = e.own_bpm or own_tempo(e.beats, e.in_s, e.out_s)
        target = e.target_bpm or own
        m, rate = beat_multiple(own, target)
        warn: list[str] = []
        rate = _clamp_rate(rate, warn, f"excerpt {i + 1}")
        r_in, r_out = (_clamp_rate(b / (own * m), [], "") if b else rate
                       for b in (e.target_in_bpm, e.target_out_bpm))
        bars_in = 0 if i == 0 or transitions[i - 1].shape == "cut" else transitions[i - 1].bars
        bars_out = (0 if i == len(excerpts) - 1 or transitions[i].shape == "cut"
                    else transitions[i].bars)
        beat_s = 60.0 / (own * m)  # track seconds per session beat
        # the plan counts 4 beats a bar between the downbeats; a line through the beats can
        # differ by a beat over an excerpt: its holds and a cut's whole beats of silence are
        # counted as the plan counts them (k: its beat over the line's), so its drop lands
        # where the plan placed it
        k = 1.0
        if e.bars and e.out_s > e.in_s:
            counted = (e.out_s - e.in_s) / (BEATS_PER_BAR * e.bars)
            if abs(counted / beat_s - 1.0) < 0.05:  # (not bars of another tempo level)
                k, beat_s = counted / beat_s, counted
        via = tuple((u, _clamp_rate(b / (own * m), [], "")) for u, b in e.target_via)
        info.append((own, m, rate, 60.0 / own, warn,
                     Ramp.held(e.in_s, e.out_s, r_in, r_out, beat_s, bars_in, bars_out, via),
                     k))
    out: list[Placement] = []
    # the knot where the current excerpt's body starts
    first = excerpts[0]
    s_cur = first.start_s if first.start_s is not None else start_s
    cur_knots = [(s_cur, first.in_s)]
    fade_in: Envelope | None = None
    for i, e in enumerate(excerpts):
        own, m, flat, p_own, warn, ramp, k = info[i]  # flat: its rate at its one tempo
        s_last, t_last = cur_knots[-1]
        if i == len(excerpts) - 1:
            rate = ramp.mean(t_last, e.out_s)
            cur_knots.extend(ramp.knots(s_last, t_last, e.out_s, rate))
            out.append(_placement(cur_knots, rate, m, fade_in, None, warn, i))
            break
        tr, nxt = transitions[i], excerpts[i + 1]
        own_b, m_b, _, p_own_b, warn_b, ramp_b, _ = info[i + 1]
        rate_b = ramp_b.g(nxt.in_s)  # the incoming's rate where it enters
        pb = p_own_b / (rate_b * m_b)
        if tr.shape == "cut":
            cut_t = e.out_s
            rate = ramp.mean(t_last, cut_t)
            pa = k * p_own / (ramp.at(rate, t_last, cut_t, cut_t) * m)  # session s a beat
            cut_s = s_last + (cut_t - t_last) / rate
            if nxt.start_s is not None:  # the plan says when it slams in: the cut keeps that
                # (the silence before it, in whole beats, as the plan's clock has it: at
                # the excerpt's one tempo, not its ramp, which only moves bars within it)
                gap = nxt.start_s - (s_last + (cut_t - t_last) / (flat * k))
                beats_gap = max(0.0, round(gap / pa)) if gap > 0 else 0.0
                cut_s = nxt.start_s - beats_gap * pa
                rate_fit = (cut_t - t_last) / max(cut_s - s_last, 1e-9)
                rate = _refit(rate, rate_fit, warn, i)
                cut_s = s_last + (cut_t - t_last) / rate
                b_start = cut_s + beats_gap * pa
            else:
                b_start = cut_s + tr.gap_beats * pa
            cur_knots.extend(ramp.knots(s_last, t_last, cut_t, rate))
            fo = Envelope("cut", cut_s, cut_s, incoming=False)
            out.append(_placement(cur_knots, rate, m, fade_in, fo, warn, i))
            b_in = nxt.in_s
            if refine is not None and len(nxt.beats) > 4:
                # the drop's downbeat as the tracker has it (23 ms frames) corrected like a
                # beat line, so its beat lands on the planned second as pinned beats do
                at, per = fit_beats(nxt.beats, nxt.in_s, 2 * BEATS_PER_BAR, forward=True)
                if abs(at - nxt.in_s) < 0.5 * per:
                    b_in = nxt.in_s + float(refine(i + 1, at, per, 2 * BEATS_PER_BAR, True)[0]) - at
            # play from a little before the beat (and never after the plan's in_s), so the
            # hit's attack, which starts before the beat's centre, is not cut off
            play_from = min(nxt.in_s, b_in) - 0.005
            t_play = b_start - (b_in - play_from) / rate_b
            fade_in = Envelope("cut", t_play, t_play, incoming=True)
            cur_knots = [(t_play, play_from), (b_start, b_in)]
            continue
        span = float(tr.bars * BEATS_PER_BAR)  # session beats
        na = int(round(span / m))  # outgoing track beats in the overlap
        nb = int(round(span / m_b))
        a_end, a_per = fit_beats(e.beats, e.out_s, na, forward=False)
        b_first, b_per = fit_beats(nxt.beats, nxt.in_s, nb, forward=True)
        # each track's beats through the overlap (track time): its line, or as the audio
        # has them (phase, milliseconds, drift) with ``refine``
        fit = refine or (lambda _, at, per, n, fwd: beat_line(at, per, n, fwd))
        a_beats = fit(i, a_end, a_per, na, False)
        b_beats = fit(i + 1, b_first, b_per, nb, True)
        a_start, a_end = float(a_beats[0]), float(a_beats[-1])
        a_per = (a_end - a_start) / na
        pa = p_own / (ramp.g(a_start) * m)  # session seconds per session beat, outgoing
        b_first = float(b_beats[0])
        b_per = (float(b_beats[-1]) - b_first) / nb
        pb = p_own_b / (ramp_b.g(float(b_beats[-1])) * m_b)  # where the overlap ends
        # the session tempo at which the two meet: within ±8 % of both tracks' own where
        # it can be; when a body's tempo is outside that, the outgoing ramps to it over the
        # overlap's length before the overlap (pre-ramp), the incoming from it after
        lim_lo = max(a_per / (m * (1 + MAX_RATE_STEP)), b_per / (m_b * (1 + MAX_RATE_STEP)))
        lim_hi = min(a_per / (m * (1 - MAX_RATE_STEP)), b_per / (m_b * (1 - MAX_RATE_STEP)))
        p_start, p_end = pa, pb
        if lim_lo <= lim_hi:
            p_start, p_end = min(max(pa, lim_lo), lim_hi), min(max(pb, lim_lo), lim_hi)
        a_pre = a_start - na * a_per  # where a pre-ramp would start (track time)
        pre = abs(p_start / pa - 1.0) > 1e-3 and a_pre > t_last + 2 * a_per
        if not pre:
            p_start = pa
        t_from, a_from = (a_pre, a_pre) if pre else (a_start, a_start)
        rate = nominal = ramp.mean(t_last, a_from)
        t0 = s_last + (a_from - t_last) / rate
        if nxt.start_s is not None:  # keep the plan's clock: the body absorbs the drift
            for _ in range(2 if pre else 1):
                ramp_s = span * (pa + p_start) / 2.0 if pre else 0.0
                rate_fit = (a_from - t_last) / max(nxt.start_s - ramp_s - s_last, 1e-9)
                notes: list[str] = []  # the last fit's warnings, said once below
                rate = _refit(nominal, rate_fit, notes, i)
                pa = p_own / (ramp.at(rate, t_last, a_from, a_from) * m)
            if abs(rate_fit / nominal - 1.0) > 0.02:
                warn.extend(notes)
            t0 = s_last + (a_from - t_last) / rate
            if not pre:
                p_start = pa
        cur_knots.extend(ramp.knots(s_last, t_last, a_from, rate))
        if pre:  # t0 is where the pre-ramp starts; the overlap starts where it ends
            qa = np.arange(1, na + 1)
            ts_pre = _session_beat_time(t0, pa, p_start, span, qa * m)
            cur_knots.extend(zip(ts_pre, a_pre + qa * a_per))
            t0 = float(ts_pre[-1])
        qa = np.arange(1, na + 1)
        ts_a = _session_beat_time(t0, p_start, p_end, span, qa * m)
        cur_knots.extend(zip(ts_a, a_beats[qa]))
        t1 = float(ts_a[-1])
        swap = None
        if tr.shape == "bass_swap":
            half_bars = max(1, tr.bars // 2)
            swap = float(_session_beat_time(t0, p_start, p_end, span,
                                            np.array([half_bars * BEATS_PER_BAR]))[0])
        elif tr.shape != "equal_power":
            raise ValueError(f"unknown transition shape {tr.shape!r} (one of {', '.join(SHAPES)})")
        swap_len = p_end / 8.0
        fo = Envelope(tr.shape, t0, t1, incoming=False, swap_s=swap, swap_len_s=swap_len)
        out.append(_placement(cur_knots, rate, m, fade_in, fo, warn, i))
        fade_in = Envelope(tr.shape, t0, t1, incoming=True, swap_s=swap, swap_len_s=swap_len)
        qb = np.arange(0, nb + 1)
        ts_b = _session_beat_time(t0, p_start, p_end, span, qb * m_b)
        cur_knots = list(zip(ts_b, b_beats[qb]))
        if abs(p_end / pb - 1.0) > 1e-3 and b_first + 2 * nb * b_per < nxt.out_s - 2 * b_per:
            qp = np.arange(1, nb + 1)  # post-ramp: from the meeting tempo to its own body's
            ts_post = _session_beat_time(t1, p_end, pb, span, qp * m_b)
            cur_knots.extend(zip(ts_post, float(b_beats[-1]) + qp * b_per))
        # in_s may sit a hair before the fitted first beat: play it from there
        if nxt.in_s < b_first:
            r0 = b_per / (p_start * m_b)  # at the overlap's starting tempo
            cur_knots.insert(0, (t0 - (b_first - nxt.in_s) / r0, nxt.in_s))
    return out


def _refit(rate: float, rate_fit: float, warn: list[str], i: int) -> float:
    if abs(rate_fit / rate - 1.0) > 0.02:
        warn.append(f"excerpt {i + 1}: plays at {rate_fit:.3f}× instead of {rate:.3f}× to keep "
                    "the plan's timing")
    return _clamp_rate(rate_fit, warn, f"excerpt {i + 1}")


def _placement(knots, rate, m, fade_in, fade_out, warn, index: int) -> Placement:
    ks = np.array([k[0] for k in knots], np.float64)
    kt = np.array([k[1] for k in knots], np.float64)
    keep = np.r_[True, np.diff(ks) > 1e-6]
    ks, kt = ks[keep], kt[keep]
    warn = list(warn)
    if len(ks) > 1:  # an overlap ramps towards the other track's tempo: say if it goes far
        local = np.diff(kt) / np.diff(ks)
        j = int(np.argmax(np.abs(local - 1.0)))
        worst = float(local[j])
        if abs(worst - 1.0) > MAX_RATE_STEP + 0.005:
            blend = any(f is not None and f.shape != "cut" and ks[j] < f.t1 and ks[j + 1] > f.t0
                        for f in (fade_in, fade_out))
            where, why = (("in an overlap", "the two tempi are far apart for a blend") if blend
                          else ("in its body", "its ramp and the plan's timing ask more than "
                                "its reach"))
            warn.append(f"excerpt {index + 1}: plays at {worst:.3f}x {where} (beyond "
                        f"±{MAX_RATE_STEP * 100:.0f} %): {why}")
    return Placement(ks, kt, rate, m, fade_in, fade_out, warn)


# ------------------------------------------------------------------ band split


def lowpass_fir(sr: int, hz: float = CROSSOVER_HZ) -> np.ndarray:
    """A linear-phase low-pass (odd length, ~90 ms at 44.1 kHz, Blackman window) at ``hz``:
    the low band is ``x`` through it, the high band ``x`` minus the low band, so the two
    bands always sum back to ``x`` exactly."""
    n = int(0.09 * sr) | 1
    cut = 2.0 * hz / sr  # of Nyquist
    h = cut * np.sinc(cut * (np.arange(n) - (n - 1) / 2)) * np.blackman(n)
    return (h / h.sum()).astype(np.float32)  # unit gain at DC


def split_bands(x: np.ndarray, sr: int, hz: float = CROSSOVER_HZ) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of ``x`` (channels, n) at ``hz``; ``low + high == x`` (delay-compensated
    linear-phase split; the edges see zeros beyond ``x``)."""
    low = _fir_same(x, lowpass_fir(sr, hz))
    return low, (x - low).astype(np.float32)


def _fir_same(x: np.ndarray, h: np.ndarray, nfft: int = 1 << 16) -> np.ndarray:
    """Each row of ``x`` (channels, n) through the odd-length FIR ``h``, centred (as
    ``np.convolve(row, h, "same")``): overlap-add FFT convolution in blocks, float32."""
    taps, n = len(h), x.shape[1]
    step = nfft - taps + 1
    spec = np.fft.rfft(h.astype(np.float64), nfft)
    full = np.zeros((x.shape[0], n + taps - 1), np.float64)
    for a in range(0, n, step):
        seg = x[:, a:a + step]
        k = seg.shape[1] + taps - 1
        full[:, a:a + k] += np.fft.irfft(np.fft.rfft(seg, nfft, axis=1) * spec, nfft, axis=1)[:, :k]
    first = (taps - 1) // 2
    return full[:, first:first + n].astype(np.float32)


def apply_envelopes(y: np.ndarray, sr: int, start_s: float, fade_in: Envelope | None,
                    fade_out: Envelope | None) -> np.ndarray:
    """``y`` (channels, n; sample 0 at session ``start_s``) with its fades applied, in place
    where the fades act (gain 1 elsewhere)."""
    for e in (fade_in, fade_out):
        if e is None:
            continue
        pad = 0.1 if e.shape != "cut" else 0.02  # the fade's reach beyond t0..t1
        a = max(0, int(math.floor((min(e.t0, e.t1) - start_s - pad) * sr)))
        b = min(y.shape[1], int(math.ceil((max(e.t0, e.t1) - start_s + pad) * sr)))
        if e.incoming:
            a = 0  # before the fade in: silent
        else:
            b = y.shape[1]  # after the fade out: silent
        if a >= b:
            continue
        t = start_s + np.arange(a, b) / sr
        g, lg = e.gains(t)
        seg = y[:, a:b]
        if lg is None:
            seg *= g.astype(np.float32)
            continue
        m = len(lowpass_fir(sr)) // 2  # split with context, so the region's edges are exact
        lo_a, hi_b = max(0, a - m), min(y.shape[1], b + m)
        low, high = split_bands(y[:, lo_a:hi_b], sr)
        low, high = low[:, a - lo_a:b - lo_a], high[:, a - lo_a:b - lo_a]
        y[:, a:b] = high * g.astype(np.float32) + low * lg.astype(np.float32)
    return y


# ------------------------------------------------------------------ cues

CUE_KINDS = ("bell", "beep", "none")


def cue_sound(kind: str, sr: int) -> np.ndarray:
    """A synthesized round cue (mono float32, peak about 0.5): ``bell`` (inharmonic
    partials of a struck bell, exponential decay, 1.5 s) or ``beep`` (1 kHz, 0.25 s)."""
    if kind == "beep":
        n = int(0.25 * sr)
        t = np.arange(n) / sr
        y = np.sin(2 * np.pi * 1000.0 * t)
        ramp = int(0.005 * sr)
        env = np.ones(n)
        env[:ramp] = np.linspace(0, 1, ramp)
        env[-ramp:] = np.linspace(1, 0, ramp)
        return (0.5 * y * env).astype(np.float32)
    if kind == "bell":
        n = int(1.5 * sr)
        t = np.arange(n) / sr
        f0 = 740.0
        y = np.zeros(n)
        for ratio, amp, decay in ((0.5, 0.4, 1.2), (1.0, 1.0, 0.9), (1.19, 0.5, 0.6),
                                  (1.56, 0.35, 0.45), (2.0, 0.3, 0.35), (2.74, 0.2, 0.25)):
            y += amp * np.exp(-t / decay) * np.sin(2 * np.pi * f0 * ratio * t)
        attack = int(0.002 * sr)
        y[:attack] *= np.linspace(0, 1, attack)
        return (0.5 * y / np.abs(y).max()).astype(np.float32)
    raise ValueError(f"unknown cue {kind!r} (one of {', '.join(CUE_KINDS)})")


def add_cues(block: np.ndarray, sr: int, block_start: int, cue_samples: list[int],
             sound: np.ndarray) -> None:
    """Add ``sound`` starting at each session sample of ``cue_samples`` into ``block``
    (channels, n; its sample 0 is session sample ``block_start``), in place."""
    n = block.shape[1]
    for c in cue_samples:
        lo, hi = max(c, block_start), min(c + len(sound), block_start + n)
        if lo < hi:
            block[:, lo - block_start:hi - block_start] += sound[lo - c:hi - c]
