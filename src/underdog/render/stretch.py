"""Time-stretching with the pitch kept: change tempo, not key.

Three stretchers, all driven by a :class:`TimeMap` (output sample -> input sample), so a
tempo ramp is the same call as a constant ratio:

- ``"wsola"``: waveform-similarity overlap-add. 46 ms Hann frames at half overlap; each
  frame is taken within ±12 ms of where the time map puts it, at the offset whose waveform
  best continues the previous frame (normalized cross-correlation, searched on every 8th
  offset of the spans decimated by 8, then exactly around the best). The offset is
  chosen on the channel sum and applied to every channel, so the stereo image holds.
- ``"pv"``: phase vocoder with identity phase locking (Laroche & Dolson 1999). 93 ms
  frames at 4× overlap; each spectral peak's phase advances by its instantaneous frequency,
  the bins around it keep their phase relation to it. Phases come from the channel sum and
  every channel is rotated by the same amount, so the stereo image holds.
- ``"atempo"``: FFmpeg's atempo filter (through PyAV), constant ratio only.

Frames are computed a chunk at a time, so the working memory besides input and output is
a few megabytes whatever the length. WSOLA and the phase vocoder also stream
(``wsola_blocks``, ``pv_blocks``): they read their input and give their output a block at a
time, frame-to-frame continuity (phases) and overlap-add carried across block edges, with
the same result as the whole array at once. ``bench/render.py`` measures them; docs/render.md has
the table and why ``DEFAULT`` is the default.

Rubber Band (pyrubberband, pedalboard, FFmpeg's ``rubberband`` filter) is GPL and cannot
ship in an MIT project; the bench measures it only from a throwaway environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from ..ramp import MAX_STRETCH

DEFAULT = "wsola"
METHODS = ("wsola", "pv", "atempo")
BLOCK = 1 << 20  # output samples per block when a stretch goes in pieces (24 s at 44.1 kHz)
SEARCH_CHUNK = 128  # WSOLA frames whose search spans are prepared together
COARSE = 8  # WSOLA searches every 8th lag first, on spans decimated by 8
MAX_RATE_STEP = MAX_STRETCH  # the most a track is sped up or slowed down (±8 %), half/double
# aside: the planner's reach (underdog.ramp), so a plan asks no more than the render plays


@dataclass(frozen=True)
class TimeMap:
    """A piecewise-linear map from output samples to input samples.

    ``out_pos`` and ``in_pos`` are increasing knots (samples); between knots the input
    advances at a constant rate (input samples per output sample = tempo ratio: 1.05 plays
    5 % faster). Before the first and after the last knot the end slopes continue."""

    out_pos: np.ndarray
    in_pos: np.ndarray

    @classmethod
    def constant(cls, n_in: int, rate: float) -> "TimeMap":
        """Play ``n_in`` input samples at ``rate`` (>1 faster and shorter)."""
        if rate <= 0:
            raise ValueError(f"stretch rate must be positive, not {rate}")
        return cls(np.array([0.0, n_in / rate]), np.array([0.0, float(n_in)]))

    @classmethod
    def ramp(cls, n_in: int, rate0: float, rate1: float) -> "TimeMap":
        """Play ``n_in`` input samples with the rate moving linearly (in output time) from
        ``rate0`` to ``rate1``: the output lasts ``2 n_in / (rate0 + rate1)``."""
        n_out = 2.0 * n_in / (rate0 + rate1)
        t = np.linspace(0.0, 1.0, 65)
        return cls(t * n_out, n_out * (rate0 * t + 0.5 * (rate1 - rate0) * t * t))

    @property
    def n_out(self) -> int:
        return int(round(float(self.out_pos[-1])))

    def __call__(self, out: np.ndarray) -> np.ndarray:
        o, i = self.out_pos, self.in_pos
        y = np.interp(out, o, i)
        if len(o) > 1:  # extend the end slopes (np.interp holds the end values)
            lo, hi = out < o[0], out > o[-1]
            y[lo] = i[0] + (out[lo] - o[0]) * (i[1] - i[0]) / (o[1] - o[0])
            y[hi] = i[-1] + (out[hi] - o[-1]) * (i[-1] - i[-2]) / (o[-1] - o[-2])
        return y


def stretch(x: np.ndarray, sr: int, rate: float | TimeMap, method: str = DEFAULT) -> np.ndarray:
    """``x`` ((channels, n) or (n,), float32 at ``sr`` Hz) played at ``rate`` (a constant
    tempo ratio, >1 faster) or along a :class:`TimeMap`, pitch kept.

    Returns float32 of the same layout, ``n / rate`` samples long (the map's ``n_out``)."""
    mono = x.ndim == 1
    x2 = np.atleast_2d(np.asarray(x, np.float32))
    tmap = rate if isinstance(rate, TimeMap) else TimeMap.constant(x2.shape[1], float(rate))
    if method == "wsola":
        y = _wsola(x2, sr, tmap)
    elif method == "pv":
        y = _pv(x2, sr, tmap)
    elif method == "atempo":
        if isinstance(rate, TimeMap):
            raise ValueError("atempo stretches at a constant rate only")
        y = _atempo(x2, sr, float(rate))
    else:
        raise ValueError(f"unknown stretch method {method!r} (one of {', '.join(METHODS)})")
    return y[0] if mono else y


def _frame_positions(tmap: TimeMap, hop: int, n_frames: int, half: int) -> np.ndarray:
    """Input start sample of each frame whose centre is at output sample ``m * hop``."""
    return np.round(tmap(np.arange(n_frames) * float(hop))).astype(np.int64) - half


def _reader(x: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """read(a, b): x[:, a:b], zeros outside (no padded copy of the whole input)."""
    n = x.shape[1]

    def read(a: int, b: int) -> np.ndarray:
        if 0 <= a and b <= n:
            return x[:, a:b]
        seg = np.zeros((x.shape[0], b - a), np.float32)
        lo, hi = max(a, 0), min(b, n)
        if lo < hi:
            seg[:, lo - a:hi - a] = x[:, lo:hi]
        return seg

    return read


def _wsola(x: np.ndarray, sr: int, tmap: TimeMap) -> np.ndarray:
    cuts = [*range(BLOCK, tmap.n_out, BLOCK), tmap.n_out]
    parts = [y for _, y in wsola_blocks(_reader(x), sr, tmap, cuts, onset_times(x, sr))]
    return np.concatenate(parts, axis=1) if parts else np.zeros((x.shape[0], 0), np.float32)


def wsola_blocks(read: Callable[[int, int], np.ndarray], sr: int, tmap: TimeMap,
                 cuts: Sequence[int], hits: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """WSOLA (see the module doc) a block of output at a time, for an input read in pieces.

    ``read(a, b)`` gives input samples ``a`` to ``b`` ((channels, b - a) float32, zeros
    outside the input); ``cuts`` are the ends of the output blocks (increasing, the last
    one ``tmap.n_out``); ``hits`` the input's attacks (samples, :func:`onset_times`).
    Yields (first output sample, (channels, k) float32) for each block; together they
    are the whole stretch, the same as :func:`stretch` of the whole input."""
    n_win = 1 << int(round(np.log2(0.046 * sr)))  # 2048 at 44.1 kHz
    hop, half = n_win // 2, n_win // 2
    tol = n_win // 4  # ±12 ms at 44.1 kHz: more than a 100 Hz period
    n_out = tmap.n_out
    n_frames = n_out // hop + 2
    starts = _frame_positions(tmap, hop, n_frames, half)
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_win) / n_win)).astype(np.float32)
    n_seg = n_win + 2 * tol  # a frame's search span; lags 0 .. 2 tol need no more FFT
    pinned = _attack_frames(hits, starts, n_win)
    prev = None  # where the last frame was taken (input sample)

    def frames(m0: int, m1: int) -> Iterator[tuple[int, np.ndarray]]:
        nonlocal prev
        for c0 in range(m0, m1, SEARCH_CHUNK):
            c1 = min(m1, c0 + SEARCH_CHUNK)
            st = starts[c0:c1]
            lo = int(st.min()) - tol
            if prev is not None:
                lo = min(lo, prev + hop)
            xw = read(lo, int(st.max()) + n_win + tol + hop)
            mono = xw.sum(axis=0)
            # what does not hang on the previous frame, for the whole chunk at once: the
            # energy under a frame at every offset and the sums of COARSE samples (a frame's
            # search span is then a view: no per-span copies or reductions)
            sq = np.concatenate([[0.0], np.cumsum(np.square(mono, dtype=np.float64))])
            norm = 1.0 / np.sqrt(sq[n_win:] - sq[:-n_win] + 1e-9)
            box = _box_sums(mono)
            for j, m in enumerate(range(c0, c1)):
                s = int(st[j])
                if prev is not None and not pinned[m]:
                    o = s - tol - lo
                    s += _best_lag(mono, box, o, norm[o:o + 2 * tol + 1], prev + hop - lo,
                                   n_win) - tol
                yield m, xw[:, s - lo:s - lo + n_win] * win
                prev = s

    return _overlap_add_blocks(cuts, n_out, n_frames, hop, n_win, frames)


def _box_sums(x: np.ndarray) -> np.ndarray:
    """The sum of the ``COARSE`` samples from each offset of ``x``, added pairwise (at
    every ``COARSE``-th offset the same float32 values as ``x.reshape(-1, COARSE).sum(
    axis=1)``: NumPy adds 8 in that order)."""
    p, w = x, 1
    while w < COARSE:
        p = p[:-w] + p[w:]
        w *= 2
    return p


def _best_lag(mono: np.ndarray, box: np.ndarray, o: int, norm: np.ndarray, a: int,
              n_win: int) -> int:
    """The lag (0 .. ``len(norm) - 1``) at which the span of ``mono`` from ``o`` best
    continues ``mono[a:a + n_win]``, by normalized cross-correlation (``norm``: 1 / the
    energy of the span under the frame at each lag): searched on every ``COARSE``-th lag
    of the spans decimated by ``COARSE`` (``box``: ``_box_sums`` of ``mono``), then exactly
    within a coarse step of the best of those. Under half an FFT correlation's time per
    frame; the same lag as the exhaustive search on 99.7 % of 3,000 frames of the free
    library."""
    n_seg = n_win + len(norm) - 1
    c = np.correlate(box[o:o + n_seg:COARSE], box[a:a + n_win:COARSE], "valid")
    b = int((c * norm[::COARSE]).argmax()) * COARSE
    lo, hi = max(0, b - COARSE + 1), min(len(norm) - 1, b + COARSE - 1)
    r = np.correlate(mono[o + lo:o + hi + n_win], mono[a:a + n_win], "valid")
    return lo + int((r * norm[lo:hi + 1]).argmax())


def _overlap_add_blocks(cuts: Sequence[int], n_out: int, n_frames: int, hop: int,
                        n_win: int, frames: Callable[[int, int], Iterator[tuple[int, np.ndarray]]],
                        scale: float = 1.0) -> Iterator[tuple[int, np.ndarray]]:
    """Overlap-add, a block of output at a time (WSOLA's and the phase vocoder's shared
    mechanism): ``frames(m0, m1)`` yields (m, (channels, n_win) float32) for the frames
    m0 .. m1-1 in order, frame m centred on output sample m * hop; each block ends at the
    next of ``cuts`` (the last ``n_out``) and is divided by ``scale``. Yields (first output
    sample, (channels, k) float32); together they are the whole overlap-add."""
    half = n_win // 2
    # out[:, i] is output sample (before the half-window trim) out0 + i: what the frames
    # so far have added at or after the next sample to yield (out0 = done + half)
    out, out0, m0, done = None, 0, 0, 0
    for cut in cuts:
        cut = min(int(cut), n_out)
        if cut <= done:
            continue
        m1 = min(n_frames, (cut + half - 1) // hop + 1)  # the frames that start before cut
        if m1 > m0:
            size = (m1 - 1) * hop + n_win - out0
            for m, f in frames(m0, m1):
                if out is None or out.shape[1] < size:
                    grown = np.zeros((f.shape[0], size), np.float32)
                    if out is not None:
                        grown[:, :out.shape[1]] += out
                    out = grown
                p = m * hop - out0
                out[:, p:p + n_win] += f
            m0 = m1
        y = out[:, done + half - out0:cut + half - out0]
        if y.shape[1] < cut - done:  # past the last frame: silence
            y = np.pad(y, ((0, 0), (0, cut - done - y.shape[1])))
        yield done, np.ascontiguousarray(y if scale == 1.0 else y / np.float32(scale))
        out = out[:, cut + half - out0:].copy()
        out0, done = cut + half, cut


def _attack_frames(hits: np.ndarray, starts: np.ndarray, n_win: int) -> np.ndarray:
    """Which WSOLA frames hold an attack (``hits``, input samples) in the middle three
    quarters of their window.

    Those frames are taken exactly where the time map puts them: WSOLA's search for the
    best continuation lets a frame slide by up to its tolerance, and at a steady rate other
    than 1 the slide drifts to one side (the natural continuation advances by the output
    hop, the map by rate × hop), so drum hits would land up to 12 ms off the map, early in
    one track and late in the other. Pinned at attacks, a hit lands within
    |1 - rate| × hop samples (1 ms at ±4 %); the seam this leaves is under the hit."""
    if not len(hits):
        return np.zeros(len(starts), bool)
    lo = np.searchsorted(hits, starts + n_win // 8)
    hi = np.searchsorted(hits, starts + n_win - n_win // 8)
    return hi > lo


def onset_times(x: np.ndarray, sr: int) -> np.ndarray:
    """The attacks WSOLA pins (``beatgrid.onset_times``), of ``x`` ((channels, n))."""
    from .beatgrid import onset_times as times

    return times(x, sr)


def onset_times_read(read: Callable[[int, int], np.ndarray], n: int, sr: int,
                     block: int = 1 << 21) -> np.ndarray:
    """:func:`onset_times` of an input read in pieces (``read`` as in :func:`wsola_blocks`,
    ``n`` samples long), the same attacks: the onset envelope is computed ``block``
    samples at a time, each piece with two frames of context and the whole's log scale."""
    from .beatgrid import N_FFT, onset_envelope_scaled, onset_peaks, onset_scale

    hop = 256  # beatgrid.onset_times' default
    n_env = n // hop + 1
    if n_env < 3:
        return onset_times(read(0, n), sr)
    env = np.zeros(n_env, np.float32)
    step = max(4, block // hop)
    # the scale comes from the first 4096 frames: a first block that holds them takes it
    # on the way, as the whole would (else it is read once on its own)
    scale = None if step >= 4096 else onset_scale(read(0, min(n, 4096 * hop + N_FFT // 2)),
                                                   hop)
    for k0 in range(0, n_env, step):
        k1 = min(n_env, k0 + step)
        a = max(0, (k0 - 2) * hop)  # frame k spans k * hop ± N_FFT / 2; its flux needs k - 1
        b = min(n, (k1 - 1) * hop + N_FFT // 2)
        e, scale = onset_envelope_scaled(read(a, b), hop, scale)
        env[k0:k1] = e[k0 - a // hop:k1 - a // hop]
    return onset_peaks(env, sr, hop)


def _pv(x: np.ndarray, sr: int, tmap: TimeMap) -> np.ndarray:
    cuts = [*range(BLOCK, tmap.n_out, BLOCK), tmap.n_out]
    parts = [y for _, y in pv_blocks(_reader(x), sr, tmap, cuts)]
    return np.concatenate(parts, axis=1) if parts else np.zeros((x.shape[0], 0), np.float32)


def pv_blocks(read: Callable[[int, int], np.ndarray], sr: int, tmap: TimeMap,
              cuts: Sequence[int], chunk: int = 64) -> Iterator[tuple[int, np.ndarray]]:
    """The phase vocoder (see the module doc) a block of output at a time, for an input
    read in pieces (``read`` and ``cuts`` as :func:`wsola_blocks`'s); frames go ``chunk``
    at a time and the phases carry across, so the blocks are the whole stretch's."""
    n_win = 1 << int(round(np.log2(0.093 * sr)))  # 4096 at 44.1 kHz
    hop, half = n_win // 4, n_win // 2
    n_out = tmap.n_out
    n_frames = n_out // hop + 4
    starts = _frame_positions(tmap, hop, n_frames, half)
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_win) / n_win)).astype(np.float32)
    norm = np.float32(np.sum(win ** 2) / hop)  # Hann² at 4× overlap sums to this constant
    n_bins = n_win // 2 + 1
    omega = 2 * np.pi * np.arange(n_bins) / n_win
    bins = np.arange(n_bins)
    idx0 = np.arange(n_win)
    prev_ang = phase = None
    prev_start = 0

    def frames(m0: int, m1: int) -> Iterator[tuple[int, np.ndarray]]:
        nonlocal prev_ang, phase, prev_start
        for c0 in range(m0, m1, chunk):
            st = starts[c0:min(m1, c0 + chunk)]
            lo = int(st.min())
            xw = read(lo, int(st.max()) + n_win)
            idx = (st - lo)[:, None] + idx0
            spec_m = np.fft.rfft(xw.sum(axis=0)[idx] * win, axis=1)
            ang = np.angle(spec_m)
            mag = np.abs(spec_m)
            # identity phase locking: each bin follows its nearest spectral peak
            peak = np.zeros(mag.shape, bool)
            peak[:, 2:-2] = ((mag[:, 2:-2] > mag[:, 1:-3]) & (mag[:, 2:-2] >= mag[:, 3:-1])
                             & (mag[:, 2:-2] > mag[:, :-4]) & (mag[:, 2:-2] >= mag[:, 4:]))
            left = np.maximum.accumulate(np.where(peak, bins, -10 * n_bins), axis=1)
            right = np.minimum.accumulate(np.where(peak, bins, 10 * n_bins)[:, ::-1],
                                          axis=1)[:, ::-1]
            near = np.clip(np.where(bins - left <= right - bins, left, right), 0, n_bins - 1)
            syn = np.empty_like(ang)
            for j in range(len(st)):
                if phase is None:
                    phase = ang[j].copy()
                else:
                    ha = max(1, int(st[j]) - prev_start)
                    d = ang[j] - prev_ang - omega * ha
                    d -= 2 * np.pi * np.round(d / (2 * np.pi))
                    cand = phase + (omega + d / ha) * hop
                    nj = near[j]
                    phase = cand[nj] + ang[j] - ang[j][nj]
                syn[j] = phase
                prev_ang, prev_start = ang[j], int(st[j])
            rot = np.exp(1j * (syn - ang))
            out = np.stack([np.fft.irfft(np.fft.rfft(xw[c][idx] * win, axis=1) * rot, n_win,
                                         axis=1) for c in range(xw.shape[0])])
            out *= win
            for j in range(len(st)):
                yield c0 + j, out[:, j]

    return _overlap_add_blocks(cuts, n_out, n_frames, hop, n_win, frames, scale=norm)


def _atempo(x: np.ndarray, sr: int, rate: float) -> np.ndarray:
    from ..filtergraph import FilterChain

    chain = []
    r = rate  # one atempo instance takes 0.5-100
    while r < 0.5:
        chain.append(("atempo", "0.5"))
        r /= 0.5
    chain.append(("atempo", repr(r)))
    fc = FilterChain(chain, sr, x.shape[0])
    parts = []
    block = 65536
    for i in range(0, x.shape[1], block):
        parts.append(np.stack(fc.push(x[:, i:i + block])))
    parts.append(np.stack(fc.flush()))
    y = np.concatenate(parts, axis=1)
    n_out = int(round(x.shape[1] / rate))
    if y.shape[1] < n_out:
        y = np.pad(y, ((0, 0), (0, n_out - y.shape[1])))
    return np.ascontiguousarray(y[:, :n_out])
