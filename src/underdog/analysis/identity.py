"""Identity by sound: a fingerprint of the decoded audio that survives re-encoding.

Two files hold the same recording when their decoded audio matches, whatever the
container, codec, bitrate, tags or a few hundred milliseconds trimmed at either end. File
bytes cannot tell (``library/fingerprint.py`` hashes payload bytes to follow a file through
tag edits; a re-encode changes every byte), so this module hashes the *sound*.

The print reads the mel bands the analysis already has (``Spectral.mel``). Per step of
``STEP`` STFT frames (~93 ms) it takes the band powers of ``N_BANDS`` adjacent mel bands
(~240 Hz to ~3.2 kHz: below every codec's low-pass, above the rumble), averaged over
``WINDOW`` frames, in dB, and keeps 32 bits: bit *m* says whether the level difference
between bands *m* and *m + 1* grew or shrank since the previous step. A sign of a
difference of differences ignores gain, EQ that is smooth across two bands, and the small
spectral noise a lossy codec adds; it flips only where the music changes. (This is the
idea of Haitsma and Kalker's 2002 audio fingerprint, on our own mel front end.)

Two prints are compared by their bit error rate (share of differing bits) at the best of
the time offsets within ``MAX_OFFSET_S``: about 0.5 for unrelated music, far less for the
same recording (measured in docs/reference.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Mapping, Sequence

import numpy as np

from ..audio import ANALYSIS_SR
from .spectral import HOP

# The spectral front end's mel bands 6..38 (centres 243 .. 3162 Hz at 22.05 kHz, 64 bands).
FIRST_BAND = 6
N_BANDS = 33  # 32 differences: one 32-bit word per step
STEP = 4  # STFT frames per print word (4 x 512 / 22050 s = 93 ms)
WINDOW = 32  # STFT frames averaged into one word's band powers (743 ms)
LAG = 8  # words between the two windows whose band differences a bit compares (743 ms)
MAX_OFFSET_S = 12.0  # largest shift between two copies that is searched
MIN_OVERLAP_S = 10.0  # words that must overlap at an offset for it to count
COARSE = 8  # the offset search reads every COARSE-th word first
KEY_MOD = 4  # index keys: the words divisible by KEY_MOD (content-chosen: a copy picks the same)
MIN_SHARED_KEYS = 4  # pairs sharing fewer keys are not aligned at all,
MIN_SHARED_SHARE = 0.02  # nor pairs sharing less than this share of the smaller key set
MAX_KEY_OWNERS = 8  # a key in more prints than this says nothing (silence, fades)
SAME_BER = 0.20  # bit error rate at or below which two prints are one recording
_FLOOR_DB = -100.0


@dataclass(frozen=True)
class Match:
    """The best alignment of two prints.

    Attributes
    ----------
    ber : float
        Bit error rate at the best offset, 0..1 (0.5 for unrelated audio); 1.0 when the
        prints never overlap by ``MIN_OVERLAP_S``.
    offset_s : float
        Seconds to add to a time in the second print to reach the same sound in the
        first (positive: the first has that much more audio before the shared part).
    same : bool
        ``ber <= SAME_BER``.
    """

    ber: float
    offset_s: float
    same: bool


def step_seconds(sr: int, hop: int) -> float:
    """Seconds between two print words for an STFT of hop ``hop`` samples at ``sr`` Hz."""
    return STEP * hop / float(sr)


STEP_S = step_seconds(ANALYSIS_SR, HOP)  # the analysis pipeline's prints: 0.093 s a word


def sound_print(mel: np.ndarray) -> np.ndarray:
    """The print of a track from its mel magnitudes.

    Parameters
    ----------
    mel : np.ndarray
        ``(n_mels, T)`` magnitude per mel band and STFT frame (``Spectral.mel``; at least
        ``FIRST_BAND + N_BANDS`` bands).

    Returns
    -------
    np.ndarray
        ``(W,)`` uint32, one word per ``STEP`` frames (W = number of whole windows minus
        one; empty for a signal shorter than two windows).
    """
    bands = np.asarray(mel[FIRST_BAND:FIRST_BAND + N_BANDS], dtype=np.float64)
    if bands.shape[0] != N_BANDS:
        raise ValueError(f"need {FIRST_BAND + N_BANDS} mel bands, got {mel.shape[0]}")
    t = bands.shape[1]
    n = (t - WINDOW) // STEP + 1 if t >= WINDOW else 0
    if n < LAG + 1:
        return np.zeros(0, np.uint32)
    # power summed over each window: cumulative sums, so no (bands, n, WINDOW) copy
    c = np.concatenate([np.zeros((N_BANDS, 1)), np.cumsum(bands * bands, axis=1)], axis=1)
    starts = np.arange(n) * STEP
    power = c[:, starts + WINDOW] - c[:, starts]
    level = 10.0 * np.log10(np.maximum(power / WINDOW, 1e-10))
    level = np.maximum(level, _FLOOR_DB)
    diff = level[:-1] - level[1:]  # (32, n): band m minus band m + 1
    bits = (diff[:, LAG:] - diff[:, :-LAG]) > 0.0  # (32, n - LAG): grew since LAG words ago
    weights = (np.uint32(1) << np.arange(N_BANDS - 1, dtype=np.uint32))[:, None]
    return (bits.astype(np.uint32) * weights).sum(axis=0, dtype=np.uint64).astype(np.uint32)


def to_bytes(words: np.ndarray) -> bytes:
    """The print as little-endian bytes (4 per word), for storage."""
    return np.asarray(words, dtype="<u4").tobytes()


def from_bytes(blob: bytes | None) -> np.ndarray:
    """The print stored by :func:`to_bytes`; empty for None or a malformed blob."""
    if not blob or len(blob) % 4:
        return np.zeros(0, np.uint32)
    return np.frombuffer(blob, dtype="<u4").astype(np.uint32)


def compare(a: np.ndarray, b: np.ndarray, step_s: float,
            max_offset_s: float = MAX_OFFSET_S,
            min_overlap_s: float = MIN_OVERLAP_S) -> Match:
    """Align two prints and measure how alike they are.

    Parameters
    ----------
    a, b : np.ndarray
        Prints (uint32 words) from :func:`sound_print`, made with the same step.
    step_s : float
        Seconds per word (:func:`step_seconds`).
    max_offset_s : float
        Largest shift tried, in seconds, either way.
    min_overlap_s : float
        An offset counts only where the prints overlap this long (or the whole shorter
        print, if it is shorter).

    Returns
    -------
    Match
        The lowest bit error rate over the offsets tried, its offset in seconds, and
        whether that makes one recording.
    """
    a = np.asarray(a, dtype=np.uint32)
    b = np.asarray(b, dtype=np.uint32)
    if not len(a) or not len(b):
        return Match(1.0, 0.0, False)
    min_overlap = min(max(int(round(min_overlap_s / step_s)), 1), len(a), len(b))
    max_off = int(round(max_offset_s / step_s))
    offsets = range(-min(max_off, len(b) - min_overlap), min(max_off, len(a) - min_overlap) + 1)
    # every offset on every COARSE-th word (thousands of bits: the estimate is within
    # about 0.01), then the best few on every word
    if not len(offsets):
        return Match(1.0, 0.0, False)
    d = np.arange(offsets.start, offsets.stop)[:, None]
    i = np.arange(0, len(b), COARSE)[None, :]  # b's words; a's at i + d
    j = i + d
    ok = (j >= 0) & (j < len(a))
    errs = np.where(ok, np.bitwise_count(a[np.clip(j, 0, len(a) - 1)] ^ b[i]), 0)
    rate = errs.sum(axis=1) / (32.0 * np.maximum(ok.sum(axis=1), 1))
    coarse = sorted(zip(rate.tolist(), d[:, 0].tolist()))
    if coarse[0][0] > 0.4:  # far from any match: the estimate will do
        ber, d = coarse[0]
    else:
        ber, d = min((_ber(a, b, d, 1), d) for _, d in coarse[:3])
    return Match(ber, d * step_s, ber <= SAME_BER)


def _ber(a: np.ndarray, b: np.ndarray, d: int, every: int) -> float:
    """Bit error rate of ``a[i + d]`` against ``b[i]`` over their overlap, every
    ``every``-th word."""
    x = a[max(d, 0):]
    y = b[max(-d, 0):]
    n = min(len(x), len(y))
    diff = x[:n:every] ^ y[:n:every]
    return float(np.bitwise_count(diff).sum()) / (32.0 * len(diff))


def same_recording(a: np.ndarray, b: np.ndarray, step_s: float,
                   duration_a: float | None = None, duration_b: float | None = None) -> bool:
    """True when two prints are one recording. Durations (s), when given, must agree
    within ``MAX_OFFSET_S`` (a cheap test that spares the alignment)."""
    if (duration_a is not None and duration_b is not None
            and abs(duration_a - duration_b) > MAX_OFFSET_S):
        return False
    return compare(a, b, step_s).same


def _keys(words: np.ndarray) -> np.ndarray:
    """The print's index keys: the low and the high 24 bits of each word (a 24-bit part
    survives a re-encode more often than 32 bits do), told apart by bit 24, those divisible
    by ``KEY_MOD``, all-zero and all-one parts (silence, steady tones) left out; distinct."""
    w = np.asarray(words, dtype=np.uint32)
    lo, hi = w & np.uint32(0xFFFFFF), w >> np.uint32(8)
    parts = np.concatenate([lo[(lo != 0) & (lo != 0xFFFFFF)],
                            hi[(hi != 0) & (hi != 0xFFFFFF)] | np.uint32(1 << 24)])
    return np.unique(parts[(parts % KEY_MOD) == 0])


def candidate_pairs(prints: list[np.ndarray]) -> set[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, of prints sharing at least ``MIN_SHARED_KEYS``
    exact keys and ``MIN_SHARED_SHARE`` of the smaller print's keys: the only pairs worth
    aligning.

    Why it works: a copy's 24-bit parts equal the original's where no bit flipped (more
    than 10 % of them after a lossy re-encode) at the same music, and keys are chosen by
    value, not position, so a shifted copy keys the same parts. Measured: copies of the
    demo tracks (MP3 128k, Ogg q3, 0.5 s cut) share at least 10 % of their keys (30-s
    clips: 6.6 %); of the free library's 10,585 pairs of distinct tracks 3 pass (versions
    of one theme, which the alignment then tells apart)."""
    keys = [_keys(p) for p in prints]
    if not keys:
        return set()
    k = np.concatenate(keys)
    owner = np.concatenate([np.full(len(x), i, np.int64) for i, x in enumerate(keys)])
    order = np.argsort(k, kind="stable")
    k, owner = k[order], owner[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    lens = np.diff(np.r_[starts, len(k)])
    shared: dict[tuple[int, int], int] = {}
    for s0, n in zip(starts[(lens >= 2) & (lens <= MAX_KEY_OWNERS)],
                     lens[(lens >= 2) & (lens <= MAX_KEY_OWNERS)]):
        who = owner[s0:s0 + n].tolist()
        for a in range(n):
            for b in range(a + 1, n):
                pair = (min(who[a], who[b]), max(who[a], who[b]))
                shared[pair] = shared.get(pair, 0) + 1
    size = [len(x) for x in keys]
    return {(i, j) for (i, j), c in shared.items()
            if c >= max(MIN_SHARED_KEYS, MIN_SHARED_SHARE * min(size[i], size[j]))}


def matches(refs: list[tuple[int, float | None, np.ndarray]],
            items: list[tuple[int, float | None, np.ndarray]], step_s: float) -> set[int]:
    """Keys of ``items`` that hold one of the recordings in ``refs``.

    Parameters
    ----------
    refs, items : list of (key, duration_s, print)
        As for :func:`recording_groups`; empty prints match nothing.
    step_s : float
        Seconds per word.

    Returns
    -------
    set of int
        Keys of the items whose print matches a reference's (durations within
        ``MAX_OFFSET_S`` first, then :func:`compare`).
    """
    refs = [r for r in refs if len(r[2])]
    items = [it for it in items if len(it[2])]
    pairs = candidate_pairs([r[2] for r in refs] + [it[2] for it in items])
    out: set[int] = set()
    for i, j in sorted(pairs):
        if i < len(refs) <= j:  # a reference and an item
            _, rdur, rpr = refs[i]
            key, dur, pr = items[j - len(refs)]
            if key not in out and same_recording(rpr, pr, step_s, rdur, dur):
                out.add(key)
    return out


def recording_groups(items: list[tuple[int, float | None, np.ndarray]],
                     step_s: float) -> list[list[int]]:
    """Group items that hold one recording.

    Parameters
    ----------
    items : list of (key, duration_s, print)
        Any hashable-int keys (track ids); an item with an empty print is alone.
    step_s : float
        Seconds per word.

    Returns
    -------
    list of list of int
        Groups of two or more keys, each the same recording (linked pairwise: a ~ b and
        b ~ c put a, b and c together), in the order of their first item.

    Notes
    -----
    Only pairs that share index keys (:func:`candidate_pairs`) and whose durations differ
    by at most ``MAX_OFFSET_S`` are aligned, so a library of thousands costs one sort of
    its keys and a handful of alignments.
    """
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in sorted(candidate_pairs([it[2] for it in items])):
        if root(i) != root(j) and same_recording(items[i][2], items[j][2], step_s,
                                                 items[i][1], items[j][1]):
            parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(items)):
        groups.setdefault(root(i), []).append(i)
    out = [sorted(g) for g in groups.values() if len(g) > 1]
    out.sort(key=lambda g: g[0])
    return [[items[i][0] for i in g] for g in out]


def one_per_recording(tracks: Sequence[Any], prints: Mapping[int, np.ndarray],
                      step_s: float = STEP_S, keep: Collection[int] = ()
                      ) -> tuple[list[Any], int]:
    """``tracks`` with every recording once: of the tracks holding one recording (by
    :func:`recording_groups` over their prints), those in ``keep`` stay where there are
    any, else the one with the lowest id.

    Parameters
    ----------
    tracks : sequence of objects with ``id`` and ``duration_s`` (e.g. models.Track)
        Order is kept.
    prints : mapping of int to np.ndarray
        Sound prints by track id; a track without one is kept as it is.
    step_s : float
        Seconds per print word.
    keep : collection of int
        Track ids that stay (e.g. locked in a plan); the other copies of their
        recordings go.

    Returns
    -------
    (list, int)
        The tracks left, and how many copies were dropped.
    """
    items = [(t.id, t.duration_s, prints[t.id]) for t in tracks
             if t.id is not None and t.id in prints]
    keep, drop = set(keep), set()
    for g in recording_groups(items, step_s):
        stay = keep.intersection(g) or {min(g)}
        drop.update(k for k in g if k not in stay)
    return [t for t in tracks if t.id not in drop], len(drop)
