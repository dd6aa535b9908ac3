"""Key from audio: synthetic chords of known key, Camelot rules, labelled MIDI renders."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy.signal import resample_poly

from underdog import theory
from underdog.analysis import key, spectral
from underdog.audio import ANALYSIS_SR, decode

from .conftest import demo_tracks

SR = ANALYSIS_SR


def tone(midi: int, dur: float) -> np.ndarray:
    """A harmonic tone (5 partials, decaying) of the given MIDI pitch."""
    t = np.arange(int(dur * SR)) / SR
    f = 440.0 * 2 ** ((midi - 69) / 12)
    y = sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, 6) if f * h < SR / 2)
    return (y * np.exp(-2.0 * t)).astype(np.float32)


def progression(tonic: int, minor: bool) -> np.ndarray:
    """I-IV-V-I (i-iv-V-i in minor) with the scale's own thirds, a bass note per chord."""
    third = 3 if minor else 4
    chords = [(0, third, 7), (5, 5 + (3 if minor else 4), 12), (7, 11, 14), (0, third, 7)]
    out = []
    for _ in range(3):
        for root, a, b in chords:
            notes = [48 + tonic + root - 12, 60 + tonic + root, 60 + tonic + a, 60 + tonic + b]
            out.append(sum(tone(n, 1.0) for n in notes) / 4)
    return np.concatenate(out)


@pytest.mark.parametrize("tonic,minor", [(0, False), (7, False), (9, True), (4, True), (3, False)])
def test_synthetic_progressions(tonic, minor):
    y = progression(tonic, minor)
    est = key.estimate_key(spectral.compute(y, SR).key_chroma)
    assert est.name == key.key_name(tonic, minor)
    assert 0.0 < est.confidence <= 1.0


def test_camelot_codes_and_compatibility():
    assert theory.camelot_of("C major") == "8B" and theory.camelot_of("A minor") == "8A"
    assert theory.camelot_of("G major") == "9B" and theory.camelot_of("E minor") == "9A"
    assert theory.camelot_of("F#m") == "11A" and theory.camelot_of("Bb major") == "6B"
    for tonic in range(12):
        for minor in (False, True):
            name = key.key_name(tonic, minor)
            assert theory.key_of_camelot(theory.camelot_of(name)) == name
            assert theory.relative(theory.relative(name)) == name
            assert theory.camelot_of(theory.relative(name))[:-1] == theory.camelot_of(name)[:-1]
    assert theory.compatible("8A", "8A") and theory.compatible("8A", "9A")
    assert theory.compatible("12B", "1B")
    assert theory.compatible("8A", "8B") and not theory.compatible("8A", "9B")
    assert not theory.compatible("8A", "10A")
    assert theory.camelot_distance("1A", "12A") == 1 and theory.camelot_distance("8A", "2B") == 7
    with pytest.raises(ValueError):
        theory.parse_camelot("13A")
    with pytest.raises(ValueError):
        theory.parse_key("H minor")


@pytest.mark.parametrize("index", [1, 7, 8, 11], ids=["through-space", "stairs", "feelings", "hell"])
def test_transposing_audio_moves_the_key(index):
    """Resampling by two semitones moves the estimated tonic by two, keeping the mode
    (on the demo's clearly tonal tracks; distorted power-chord riffs are often ambiguous)."""
    y = decode(demo_tracks()[index], SR).samples[30 * SR: 90 * SR]
    base = key.estimate_key(spectral.compute(y, SR).key_chroma)
    up = resample_poly(y, 89, 100).astype(np.float32)  # 100/89: +2.02 semitones
    moved = key.estimate_key(spectral.compute(up, SR).key_chroma)
    t0, m0 = theory.parse_key(base.name)
    t1, m1 = theory.parse_key(moved.name)
    assert m0 == m1 and (t1 - t0) % 12 == 2, (base.name, moved.name)


def test_silence_and_noise_have_no_key():
    est = key.estimate_key(np.zeros((12, 100), np.float32))
    assert est.name is None and est.confidence == 0.0
    noise = np.random.default_rng(0).standard_normal(10 * SR).astype(np.float32)
    est = key.estimate_key(spectral.compute(noise, SR).key_chroma)
    assert est.confidence < 0.2, est


@pytest.mark.parametrize("path", demo_tracks(), ids=lambda p: p.name)
def test_demo_tracks_have_a_valid_key(path):
    y = decode(path, SR).samples
    est = key.estimate_key(spectral.compute(y, SR).key_chroma)
    assert est.camelot == theory.camelot_of(est.name)
    assert theory.key_of_camelot(est.camelot) == est.name
    assert 0.0 <= est.confidence <= 1.0


def test_midi_renders_agree_with_their_notes(shared_data):
    import mir_eval

    with open(shared_data / "midi-dev" / "metadata.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if float(r["symbolic_key_margin"]) > 0.05][::6]
    scores = []
    for r in rows:
        y = decode(shared_data / "midi-dev" / r["relative_path"], SR).samples
        est = key.estimate_key(spectral.compute(y, SR).key_chroma)
        ref = key.key_name(*theory.parse_key(r["symbolic_key"]))
        scores.append(mir_eval.key.weighted_score(ref, est.name))
    assert np.mean(scores) >= 0.80, np.mean(scores)
