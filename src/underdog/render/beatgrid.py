"""Beat lines to the millisecond, for pinning two tracks' beats together.

The library's beats come from the analysis's tracker, whose beats sit on 512-sample frames
at 22,050 Hz (23.2 ms). A least-squares line through a few bars of them does not average
that quantization away: a steady track's beat period is close to a whole number of frames
(117.5 BPM is 22.0 frames), so every beat of a window is rounded the same way and the line
inherits a bias of up to half a frame (±11.6 ms), a different one for each track. Two
tracks pinned by such lines miss each other by up to a frame.

:func:`refine_line` corrects the line against the audio itself: an onset envelope at 2.9 ms
(128 samples at 44.1 kHz, 11.6 ms frames) and a search for the phase (±50 ms) and period (±1.5 %) whose
beats collect the most onset strength.

Which pulse is the beat is the tracker's to say, but the library's beats come from the
whole track: in one window the tracker can hear the beat a 16th or an eighth away (a
section whose hi-hats or snare outweigh the pulse the whole track settled on).
:func:`tracker_line` re-tracks the window as the mix plays it and moves the line to the
phase it hears there; :func:`pin_beats` then follows a track that drifts against any
straight line, beat by beat. :func:`refine_beats` does all three for one overlap.
"""

from __future__ import annotations

import numpy as np

from ..audio import halve

N_FFT = 512  # 11.6 ms at 44.1 kHz
HOP = 128  # 2.9 ms
PHASE_S = 0.05  # search the line's phase within ±50 ms (under half a 16th at 140 BPM)
PERIOD_REL = 0.015  # and its period within ±1.5 %
PERIOD_KEEP = 0.002  # a period refined further than this from the tracker's is checked
PEAK_SPAN_S = 0.1  # a line's onset-strength peak is measured over ±100 ms of phase
BROAD_PEAK_S = 0.04  # an onset peak wider than this (s) over the phase: soft attacks,
SOFT_MOVE_S = 0.0116  # which move a line half the tracker's frame (512 at 22.05 kHz) at most


def onset_envelope(x: np.ndarray, sr: int, hop: int = HOP,
                   scale: float | None = None) -> np.ndarray:
    """Spectral flux of ``x`` ((channels, n) or (n,) float32 at ``sr`` Hz): the rectified
    rise of log-compressed STFT magnitudes summed over bins, one value per ``hop`` samples,
    value ``k`` at time ``k * hop / sr`` s (centred frames). ``scale`` sets the log
    compression (default: :func:`onset_scale` of ``x``; a long signal read in pieces
    passes its whole's)."""
    return onset_envelope_scaled(x, hop, scale)[0]


def onset_envelope_scaled(x: np.ndarray, hop: int = HOP, scale: float | None = None
                          ) -> tuple[np.ndarray, float | None]:
    """(:func:`onset_envelope` of ``x``, the scale it used: ``scale``, or else
    :func:`onset_scale` of ``x`` taken from the first frames on the way; None where ``x``
    is too short for a frame)."""
    from scipy.fft import rfft

    frames, win = _frames(x, hop)
    if frames is None:
        return np.zeros(0, np.float32), scale
    flux = np.zeros(len(frames), np.float32)
    prev = None
    for a in range(0, len(frames), 4096):  # a few thousand frames at a time
        mag = np.abs(rfft(frames[a:a + 4096] * win, axis=1))
        if scale is None:
            scale = _scale(mag)
        # log(scale * mag + 1) in place (log1p: 3x slower in float32)
        db = np.log(np.add(np.multiply(mag, np.float32(scale), out=mag), np.float32(1.0),
                           out=mag), out=mag)
        d = np.empty_like(db)
        d[0] = db[0] - (db[0] if prev is None else prev)
        np.subtract(db[1:], db[:-1], out=d[1:])
        flux[a:a + len(db)] = np.maximum(d, np.float32(0.0), out=d).sum(axis=1)
        prev = db[-1].copy()
    return flux, scale


def onset_scale(x: np.ndarray, hop: int = HOP) -> float:
    """The log compression's scale in :func:`onset_envelope` of ``x``: 100 over the peak
    STFT magnitude of its first 4096 frames (only those samples are read)."""
    from scipy.fft import rfft

    frames, win = _frames(np.atleast_2d(x)[:, :4096 * hop + N_FFT // 2], hop)
    return 1.0 if frames is None else float(_scale(np.abs(rfft(frames[:4096] * win, axis=1))))


def _frames(x: np.ndarray, hop: int):
    """(centred frames of ``x``'s channel mean as a strided view, Hann window), or
    (None, None) when ``x`` is too short for one frame and hop."""
    from numpy.lib.stride_tricks import sliding_window_view

    x = np.atleast_2d(x)
    m = np.zeros(x.shape[1] + N_FFT, np.float32)  # the mean, N_FFT / 2 zeros either side
    body = m[N_FFT // 2:N_FFT // 2 + x.shape[1]]
    if x.dtype == np.float32:
        np.mean(x, axis=0, out=body)  # in place: no array for the mean and another padded
    else:
        body[:] = x.mean(axis=0)
    if len(m) < N_FFT + hop:
        return None, None
    return sliding_window_view(m, N_FFT)[::hop], np.hanning(N_FFT).astype(np.float32)


def _scale(mag: np.ndarray) -> np.float32:
    return np.float32(100.0 / (float(mag.max()) + 1e-9))


def refine_line(env: np.ndarray, fps: float, at: float, period: float, count: int,
                forward: bool, env_t0: float = 0.0, phase_s: float = PHASE_S,
                min_gain: float = 1.02, period_rel: float = PERIOD_REL) -> tuple[float, float]:
    """(time, period) of the beat line that best fits an onset envelope.

    Parameters
    ----------
    env : onset envelope (:func:`onset_envelope`), value ``k`` at ``env_t0 + k / fps`` s.
    fps : envelope frames per second.
    at, period : the line to refine (s): its beat at ``at`` and the ``count`` beats after
        it (``forward``) or before it.
    count : beats in the window besides ``at``.
    phase_s : how far (s) the phase is searched either side of ``at``.
    min_gain : the best line replaces the given one where its onset strength is at least
        this many times the given line's.
    period_rel : how far (a fraction) the period is searched either side (0: the phase only).

    Returns
    -------
    The refined line's beat nearest ``at`` (s) and its period (s); the input line when the
    envelope holds no clear pulse there.
    """
    k = np.arange(count + 1) * (1.0 if forward else -1.0)
    if len(env) < 4 or count < 2:
        return at, period
    # a light smoothing (±1 frame) so a beat between two frames counts for both
    e = np.convolve(env, [0.25, 0.5, 0.25], mode="same").astype(np.float64)
    phases = np.arange(-phase_s, phase_s + 0.5 / fps, 1.0 / fps)
    scales = 1.0 + np.linspace(-period_rel, period_rel, 61 if period_rel > 0 else 1)

    def score(t: float, p: float, ph: np.ndarray = phases) -> np.ndarray:
        pos = (t - env_t0 + k[None, :] * p + ph[:, None]) * fps  # (phases, beats)
        return np.interp(pos, np.arange(len(e)), e, left=0.0, right=0.0).sum(axis=1)

    table = np.array([score(at, period * s) for s in scales])  # (scales, phases)
    base = table[len(scales) // 2, len(phases) // 2]
    i, j = np.unravel_index(int(np.argmax(table)), table.shape)
    if table[i, j] <= base * min_gain or not np.isfinite(table[i, j]):
        return at, period  # no better line: keep the tracker's
    # a soft attack (strings, pads) spreads its onset strength over tens of ms after the
    # beat, and the best line sits on the lump's peak, late: where the onsets' peak is that
    # broad they may correct the tracker's own frames (half a frame) but move it no further
    moved = max(abs(phases[j]), abs(phases[j] + count * period * (float(scales[i]) - 1.0)))
    if moved > SOFT_MOVE_S and _peak_width(score, at + phases[j], period * float(scales[i]),
                                           fps) > BROAD_PEAK_S:
        return at, period
    # parabolic interpolation of the phase between frames
    d = 0.0
    if 0 < j < len(phases) - 1:
        y0, y1, y2 = table[i, j - 1], table[i, j], table[i, j + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            d = 0.5 * (y0 - y2) / den
    return at + phases[j] + d / fps, period * float(scales[i])


def _peak_width(score, at: float, period: float, fps: float) -> float:
    """Width (s) of the onset-strength peak of the line (``at``, ``period``) over its
    phase (±``PEAK_SPAN_S``): the span around its phase where the line collects more than
    half-way from the span's least strength to its own."""
    phases = np.arange(-PEAK_SPAN_S, PEAK_SPAN_S + 0.5 / fps, 1.0 / fps)
    prof = score(at, period, phases)
    c = len(phases) // 2
    half = prof.min() + 0.5 * (prof[c] - prof.min())
    lo, hi = c, c
    while lo > 0 and prof[lo - 1] >= half:
        lo -= 1
    while hi < len(prof) - 1 and prof[hi + 1] >= half:
        hi += 1
    return (hi - lo) / fps


def onset_times(x: np.ndarray, sr: int, hop: int = 256, min_gap_s: float = 0.05,
                threshold: float = 1.5) -> np.ndarray:
    """Sample positions (int64, sorted) of the attacks in ``x``: peaks of its onset
    envelope (:func:`onset_envelope` at ``hop``) that stand ``threshold`` standard
    deviations above the envelope's running mean (±0.5 s) and are the largest within
    ``min_gap_s``."""
    return onset_peaks(onset_envelope(x, sr, hop), sr, hop, min_gap_s, threshold)


def onset_peaks(env: np.ndarray, sr: int, hop: int = 256, min_gap_s: float = 0.05,
                threshold: float = 1.5) -> np.ndarray:
    """:func:`onset_times` from an onset envelope already computed (at ``hop``)."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    env = np.asarray(env).astype(np.float64)
    if len(env) < 3:
        return np.zeros(0, np.int64)
    w = max(3, int(sr / hop) | 1)
    mean = uniform_filter1d(env, w, mode="nearest")
    sd = np.sqrt(np.maximum(uniform_filter1d(env * env, w, mode="nearest") - mean * mean, 0.0))
    peak = env == maximum_filter1d(env, size=max(3, int(2 * min_gap_s * sr / hop) | 1))
    keep = peak & (env > mean + threshold * sd + 1e-6)
    return np.flatnonzero(keep).astype(np.int64) * hop


# ------------------------------------------------------------------ phase and drift

TRACK_SR = 22050  # the analysis's beat tracker works at this rate
PHASE_COHERENCE = 0.6  # the re-tracked beats must agree on one phase (resultant length)
PHASE_MIN = 1.0 / 16  # and sit further than this (beats) from the line to move it
SECOND_PHASE_S = 0.03  # the tracker's line is placed on its onsets within ±30 ms
PIN_REACH_S = 0.03  # a beat is pinned to an onset within ±30 ms of its line
PIN_MIN_SPREAD_S = 0.02  # pin beat by beat only where the line misses by more than this
WALK_MAX = 0.25  # a pinned beat follows a drift up to this far (beats) from the line
# the tracker hears the overlap with this much of the track's body beside it (the
# acceptance bench's listening window; with 2 or 5 s it moved fewer of the lines it hears
# elsewhere on the free library, and an ambiguous track's answer changes with it)
CONTEXT_S = 8.0
STEADY_TOL = 0.125  # a beat the tracker hears further than an eighth of a beat off is unsteady


def tracker_line(x: np.ndarray, sr: int, x_t0: float, beats: np.ndarray,
                 memo: dict | None = None, key: object = None) -> tuple[float, float] | None:
    """The beat line the analysis's beat tracker hears in ``x``, where it is not ``beats``.

    The library's beats were tracked over the whole track; inside one window the tracker
    can hear the beat a 16th or an eighth away from them (a section whose hi-hats or
    snare outweigh the pulse the whole track settled on). This re-tracks the window at the
    line's tempo (``analysis.beats.track_beats`` on the analysis's onset strength) and
    measures the phase of its beats against the line (their circular mean). Where the
    beat is ambiguous (the off-beats as strong as the beats) the tracker's choice turns on
    where its window starts, so the window is tracked again from half a beat later and
    both must agree.

    Parameters
    ----------
    x : audio ((channels, n) or (n,), float32 at ``sr`` Hz), sample 0 at track time
        ``x_t0`` s, covering the line.
    beats : the beat line (s, track time, increasing, evenly spaced).
    memo, key : where ``x``'s onset strengths are kept for a later call on the same
        ``x`` (the same ``key``): the tracker told another tempo reuses them.

    Returns
    -------
    (time, period) (s) of the line moved to the tracker's phase, at the beat nearest
    ``beats[0]``; None where the tracker's beats sit within a 16th of a beat of the line
    (more than a tracker frame at 160 BPM), are too few, do not agree on one phase, or
    change with the window's start.
    """
    if len(beats) < 4:
        return None
    x = np.atleast_2d(x)
    period = float(beats[-1] - beats[0]) / (len(beats) - 1)
    # (told this line's tempo: a line refined to another period is tracked again)
    frac = _phase(_track(x, sr, x_t0, period, memo, (key, 0)), beats, period)
    if frac is None or abs(frac) <= PHASE_MIN:
        return None
    cut = int(0.5 * period * sr)
    again = _phase(_track(x[:, cut:], sr, x_t0 + cut / sr, period, memo, (key, cut)),
                   beats, period)
    if again is None or abs((again - frac + 0.5) % 1.0 - 0.5) > PHASE_MIN:
        return None
    return float(beats[0] + frac * period), period


def _track(x: np.ndarray, sr: int, x_t0: float, period: float, memo: dict | None = None,
           key: object = None) -> np.ndarray:
    """The analysis's beat tracker on ``x`` told the tempo of ``period`` (beats, s); with
    ``memo``, ``x``'s onset strength is kept there under ``key`` (the same ``x`` for the
    same key) and reused."""
    from ..analysis import beats as ud_beats
    from ..analysis import onset, spectral

    if memo is None or ("onset", key) not in memo:
        spec = spectral.compute(_mono(x, sr, memo, key), TRACK_SR, key_chroma=False)
        got = (onset.onset_strength(spec), spec.fps)
        if memo is None:
            return x_t0 + ud_beats.track_beats(got[0], got[1], 60.0 / period)
        memo[("onset", key)] = got
    env, fps = memo[("onset", key)]
    return x_t0 + ud_beats.track_beats(env, fps, 60.0 / period)


def _mono(x: np.ndarray, sr: int, memo: dict | None, key: object) -> np.ndarray:
    """:func:`_mono_22k` of ``x``, kept in ``memo`` under ``key`` (the same ``x``)."""
    if memo is None:
        return _mono_22k(x, sr)
    if ("mono", key) not in memo:
        memo[("mono", key)] = _mono_22k(x, sr)
    return memo[("mono", key)]


def _phase(got: np.ndarray, beats: np.ndarray, period: float) -> float | None:
    """Phase (fraction of a beat, -0.5..0.5) of tracked beats ``got`` against the line
    ``beats``; None where they are too few or do not agree on one phase."""
    got = got[(got >= beats[0] - 0.5 * period) & (got <= beats[-1] + 0.5 * period)]
    if len(got) < len(beats) // 2:
        return None
    z = np.exp(2j * np.pi * (got - beats[0]) / period).mean()
    if abs(z) < PHASE_COHERENCE:
        return None
    return float(np.angle(z)) / (2 * np.pi)


def pin_beats(env: np.ndarray, fps: float, beats: np.ndarray, env_t0: float = 0.0,
              reach_s: float = PIN_REACH_S) -> np.ndarray:
    """Each beat of a line moved onto the onset it stands for, where the track drifts.

    A played or loosely produced track wanders against any straight line by tens of ms
    over a few bars; pinning only a line lets the other track's beats drift off it.

    Parameters
    ----------
    env : onset envelope (:func:`onset_envelope`), value ``k`` at ``env_t0 + k / fps`` s.
    beats : the refined beat line (s, increasing).
    reach_s : how far (s) from where the drift so far puts it a beat looks for its onset.

    Returns
    -------
    The beats (s), each moved by the smoothed (running median of five, then mean of three
    beats) distance to the strongest clear onset within ``reach_s`` of where the last
    three found beats' drift puts it (walked from the line's either end, the walk that
    finds more onsets; at most ``WALK_MAX`` of a beat from the line): a drift is followed
    past the reach while one beat's stray onset is not. The line itself where fewer than
    half the beats have a clear onset, or where the smoothed distances stay within
    ``PIN_MIN_SPREAD_S`` of their mean (a straight line is then as good).
    """
    from scipy.ndimage import median_filter, uniform_filter1d

    if len(beats) < 5 or len(env) < 4:
        return beats
    e = np.convolve(env, [0.25, 0.5, 0.25], mode="same")
    w = max(1, int(round(reach_s * fps)))
    period = float(np.median(np.diff(beats)))

    def onset_near(t: float) -> float | None:
        """The clear onset within the reach of ``t`` (s from ``t``), or None: a peak
        inside the reach standing out of its wider context."""
        c = int(round((t - env_t0) * fps))
        if c - 2 * w < 0 or c + 2 * w + 1 > len(e):
            return None
        seg = e[c - w:c + w + 1]
        j = int(np.argmax(seg))
        if not (0 < j < 2 * w and seg[j] > 2.0 * np.median(e[c - 2 * w:c + 2 * w + 1])):
            return None
        y0, y1, y2 = seg[j - 1], seg[j], seg[j + 1]
        den = y0 - 2 * y1 + y2
        d = 0.5 * (y0 - y2) / den if den < 0 else 0.0
        return (j - w + d) / fps + (c / fps + env_t0 - t)

    def walk(order: range) -> np.ndarray:
        """Each beat's onset, looked for around where the last three found put the
        track (so a drift past the reach is followed), within a quarter beat of the line."""
        dev = np.full(len(beats), np.nan)
        found: list[int] = []
        for k in order:
            # where the last three found beats' drift puts this one
            at = 0.0
            if len(found) >= 3:
                k1, k3 = found[-1], found[-3]
                slope = (dev[k1] - dev[k3]) / (k1 - k3)  # s per beat
                at = float(np.median(dev[found[-3:]])) + slope * (k - found[-2])
            elif found:
                at = float(dev[found[-1]])
            d = onset_near(beats[k] + at)
            if d is not None and abs(at + d) <= WALK_MAX * period:
                dev[k] = at + d
                found.append(k)
        return dev

    # from either end; the walk that finds more beats' onsets
    dev = max((walk(range(len(beats))), walk(range(len(beats) - 1, -1, -1))),
              key=lambda d: int(np.isfinite(d).sum()))
    ok = np.isfinite(dev)
    if ok.sum() < len(beats) / 2:
        return beats
    dev = np.interp(np.arange(len(beats)), np.flatnonzero(ok), dev[ok])
    smooth = uniform_filter1d(median_filter(dev, size=5, mode="nearest"), 3, mode="nearest")
    if np.max(np.abs(smooth - smooth.mean())) <= PIN_MIN_SPREAD_S:
        return beats
    out = beats + smooth
    return out if np.all(np.diff(out) > 0) else beats


def as_heard(x: np.ndarray, sr: int, x_t0: float, at: float, forward: bool) -> np.ndarray:
    """``x`` (sample 0 at track time ``x_t0``) as the mix plays it around an overlap: an
    incoming track (``forward``) silent until 5 ms before its first beat ``at``, an outgoing
    one silent from 5 ms after its last beat ``at`` (a copy)."""
    heard = np.atleast_2d(x).copy()
    cut = _heard_cut(sr, x_t0, at, forward)
    if forward:
        heard[:, :max(0, cut)] = 0.0
    else:
        heard[:, max(0, cut):] = 0.0
    return heard


def _heard_cut(sr: int, x_t0: float, at: float, forward: bool) -> int:
    """The sample where :func:`as_heard` silences ``x`` (before it: ``forward``)."""
    return int(round((at - x_t0) * sr)) + (-int(0.005 * sr) if forward else int(0.005 * sr))


def steady_beats(x: np.ndarray, sr: int, x_t0: float, beats: np.ndarray, forward: bool,
                 tol: float = STEADY_TOL, free: bool = True, memo: dict | None = None
                 ) -> np.ndarray:
    """Which beats of an overlap the beat tracker hears where they are.

    A track's beat can move by a 16th inside an overlap (a section that shifts its
    accent), or an outro can hold no clear beat: no line nor pin follows that, and a DJ
    would not blend over those bars.

    Parameters
    ----------
    x : the track's audio around the beats ((channels, n) float32 at ``sr`` Hz), sample 0
        at track time ``x_t0`` s, with the body beside the overlap as context.
    beats : the overlap's beats as they will be pinned (s, track time, increasing).
    forward : an incoming track (silent before its first beat), else an outgoing one
        (silent after its last).
    tol : how far (a fraction of a beat) a tracked beat may sit from its beat.
    free : also ask the tracker free (else only told the beats' tempo).
    memo : a dict kept between calls on the same ``x``, ``sr``, ``x_t0`` (and with
        :func:`refine_beats`): the window as heard from the same beat is analysed once.

    Returns
    -------
    One bool per beat: the analysis's tracker on the window as the mix plays it, told
    the beats' tempo and (``free``) free, with its own tempo model, has a beat within
    ``tol`` of it (a free tracker at half or double the tempo is compared at the coarser
    level: its beats on every other beat count; one that hears three beats as two, half
    its beats between the beats, does not pass); running median of three beats, so one
    stray beat does not count.
    """
    from scipy.ndimage import median_filter

    from ..analysis import analyze_signal
    from ..errors import UnderdogError

    beats = np.asarray(beats, np.float64)
    if len(beats) < 4:
        return np.ones(len(beats), bool)
    period = float(beats[-1] - beats[0]) / (len(beats) - 1)
    edge = float(beats[0] if forward else beats[-1])
    heard = as_heard(x, sr, x_t0, edge, forward)
    key = (("heard", _heard_cut(sr, x_t0, edge, forward), forward), 0)
    ok = np.ones(len(beats), bool)
    for got in (_track(heard, sr, x_t0, period, memo, key), None)[:2 if free else 1]:
        if got is None:  # free: the analysis's own tempo and beats
            try:
                got = x_t0 + np.asarray(analyze_signal(_mono(heard, sr, memo, key),
                                                       TRACK_SR, steps={"tempo"}).beats,
                                        np.float64)
            except UnderdogError:  # too short or silent: the told tracker's word stands
                break
        got = got[(got >= beats[0] - period) & (got <= beats[-1] + period)]
        if len(got) < 2:
            return np.zeros(len(beats), bool)
        d = heard_off(got, beats, period)
        ok &= median_filter(d, size=3, mode="nearest") <= tol * period
    return ok


def heard_off(got: np.ndarray, beats: np.ndarray, period: float) -> np.ndarray:
    """Per beat of ``beats`` (s, increasing, ``period`` apart), how far (s) the tracked
    beats ``got`` (at least two) miss it. A denser reading: the nearest tracked beat. The
    beat's level or a sparser one: how far the tracked beat nearest the beat is from its
    own nearest beat, so a reading at half tempo on the beats counts (0 between its beats)
    and one that hears three beats as two (every other tracked beat half a beat off) does
    not; inf outside the tracked beats' reach."""
    gap = float(np.median(np.diff(got)))
    if gap < 0.75 * period:
        return _nearest(got, beats)
    d = _nearest(beats, got)[nearest_index(got, beats)]
    d[(beats < got[0] - 0.6 * gap) | (beats > got[-1] + 0.6 * gap)] = np.inf
    return d


FINE_HOP = 128  # 5.8 ms at 22.05 kHz: the tracker's beats for the check that blends meet
MEET_MEDIAN_S = 0.015  # two tracks' beats in a blend meet: median offset at most this
MEET_P95_S = 0.030  # and 95th percentile at most this (the figures)


def fine_onset_strength(m: np.ndarray, hop: int = FINE_HOP) -> tuple[np.ndarray, float]:
    """The analysis's onset strength of ``m`` (mono, ``TRACK_SR``) every ``hop`` samples:
    its detector (log-mel flux over 512 samples, frames 2048 long), frame t at
    ``t * hop`` samples, so on 512 it is ``onset.onset_strength`` and on 128 the same
    curve four times as densely; and its frames per second."""
    from ..analysis import onset, spectral

    spec = spectral.compute(m, TRACK_SR, hop=hop, key_chroma=False)
    lag = max(1, 512 // hop)
    db = onset.log_mel(spec)
    d = np.zeros_like(db)
    d[:, lag:] = np.maximum(db[:, lag:] - db[:, :-lag], 0.0)
    return d.mean(axis=0), spec.fps


def told_offsets(x: np.ndarray, sr: int, x_t0: float, beats: np.ndarray, forward: bool,
                 memo: dict | None = None) -> np.ndarray:
    """Where the analysis's tracker, told the beats' tempo, hears each beat of an overlap
    on the window as the mix plays it (``x``, ``x_t0``, ``forward`` as for
    :func:`steady_beats`), on 5.8-ms frames: its nearest beat minus the beat (s, track
    time), NaN where none is within a quarter beat. Two tracks whose offsets differ by
    more than a tracker can hide do not meet, however well their lines are pinned."""
    from ..analysis import beats as ud_beats

    beats = np.asarray(beats, np.float64)
    out = np.full(len(beats), np.nan)
    if len(beats) < 4:
        return out
    period = float(beats[-1] - beats[0]) / (len(beats) - 1)
    edge = float(beats[0] if forward else beats[-1])
    cut = _heard_cut(sr, x_t0, edge, forward)
    key = ("fine", cut, forward)
    memo = {} if memo is None else memo
    if key not in memo:
        heard = as_heard(x, sr, x_t0, edge, forward)
        memo[key] = fine_onset_strength(_mono(heard, sr, memo, (("heard", cut, forward), 0)))
    env, fps = memo[key]
    got = x_t0 + np.asarray(ud_beats.track_beats(env, fps, 60.0 / period), np.float64)
    if not len(got):
        return out
    d = got[nearest_index(got, beats)] - beats
    near = np.abs(d) <= 0.25 * period
    out[near] = d[near]
    return out


def nearest_index(ref: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The index of the nearest of ``ref`` (sorted, not empty) to each of ``t``."""
    j = np.searchsorted(ref, t)
    lo, hi = np.clip(j - 1, 0, len(ref) - 1), np.clip(j, 0, len(ref) - 1)
    return np.where(np.abs(t - ref[lo]) <= np.abs(ref[hi] - t), lo, hi)


def _nearest(ref: np.ndarray, t: np.ndarray) -> np.ndarray:
    """|each of ``t`` - the nearest of ``ref``| (``ref`` sorted, not empty)."""
    return np.abs(t - ref[nearest_index(ref, t)])


def _mono_22k(x: np.ndarray, sr: int) -> np.ndarray:
    """``x``'s channel mean at the tracker's rate (``TRACK_SR``), float32."""
    from fractions import Fraction

    mono = np.atleast_2d(x).mean(axis=0)
    if sr == 2 * TRACK_SR:  # the mix's rate: the analysis decoder's own 2:1 decimation
        return halve(mono)
    from scipy.signal import resample_poly

    fr = Fraction(TRACK_SR, sr)
    return resample_poly(mono, fr.numerator, fr.denominator).astype(np.float32)


def refine_beats(x: np.ndarray, sr: int, x_t0: float, at: float, period: float, count: int,
                 forward: bool, memo: dict | None = None) -> np.ndarray:
    """The beats of an overlap as the audio has them, from the tracker's line.

    Parameters
    ----------
    x : the track's audio around the line ((channels, n) float32 at ``sr`` Hz), sample 0
        at track time ``x_t0`` s.
    at, period : the tracker's line (s): its beat at ``at`` and ``count`` beats after it
        (``forward``) or before it.
    memo : a dict to keep the window's onset strengths in for :func:`steady_beats` on the
        same ``x`` (each window as heard is analysed once; the same beats without it).

    Returns
    -------
    ``count + 1`` beat times (s, track time, increasing): the line placed to the
    millisecond on the onsets (:func:`refine_line`); the line the beat tracker hears in
    this window instead where that is another (:func:`tracker_line`), placed the same way;
    then each beat pinned where the track drifts (:func:`pin_beats`).
    """
    k = np.arange(count + 1) * (1.0 if forward else -1.0)
    x = np.atleast_2d(x)
    fps = sr / HOP

    def envelope(at: float) -> tuple[np.ndarray, float]:
        # the onsets of the line's window only; the body beside it is the tracker's context
        # (wide enough for refine_line's phase search and pin_beats' walk and context)
        pad = WALK_MAX * period + 2 * PIN_REACH_S + 0.05
        lo = max(x_t0, min(at, at + k[-1] * period) - pad)
        hi = max(at, at + k[-1] * period) + pad
        a = int(round((lo - x_t0) * sr))
        return onset_envelope(x[:, a:max(a, int(round((hi - x_t0) * sr)))], sr), x_t0 + a / sr

    heard = as_heard(x, sr, x_t0, at, forward)
    memo = {} if memo is None else memo
    key = ("heard", _heard_cut(sr, x_t0, at, forward), forward)

    def to_tracker(at: float, period: float) -> tuple[float, float, bool]:
        got = tracker_line(heard, sr, x_t0, np.sort(at + k * period), memo, key)
        if got is None:
            return at, period, False
        return (got[0] if forward else got[0] + count * got[1]), got[1], True

    # which pulse is the beat, on the tracker's line (a line refined from the wrong pulse
    # may tilt across to the right one), then to the millisecond, then checked again
    at, period, _ = to_tracker(at, period)
    period0 = period
    env, e_t0 = envelope(at)
    at, period = refine_line(env, fps, at, period, count, forward, e_t0)
    at, period, moved = to_tracker(at, period)
    if moved:
        env, e_t0 = envelope(at)
        at, period = refine_line(env, fps, at, period, count, forward, e_t0, SECOND_PHASE_S,
                                 min_gain=1.0)
    # the onsets alone can tilt the period where the beat is unclear (an intro without
    # drums): keep the tracker's period, placing only the phase, where the tracker told
    # each tempo follows that line on more beats than the tilted one
    if abs(period / period0 - 1.0) > PERIOD_KEEP:
        def heard_on(period: float) -> int:
            return int(steady_beats(x, sr, x_t0, np.sort(at + k * period), forward,
                                    free=False, memo=memo).sum())

        if heard_on(period0) > heard_on(period):
            at, period = refine_line(env, fps, at, period0, count, forward, e_t0,
                                     period_rel=0.0)
    return pin_beats(env, fps, np.sort(at + k * period), e_t0)
