"""The tempo map: two real songs of different tempi joined give two segments, the change
placed within 2 s of the join; a steady song gives one segment; beats follow each part."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from underdog.analysis import analyze_signal
from underdog.audio import ANALYSIS_SR, decode

from .conftest import DEMO_LIBRARY


@pytest.fixture(scope="module")
def war_of_freedom():
    return decode(DEMO_LIBRARY / "Sectoid - War of Freedom.m4a", ANALYSIS_SR).samples  # 140


@pytest.fixture(scope="module")
def stairs():
    return decode(DEMO_LIBRARY / "Nexuiz - Stairs.mp3", ANALYSIS_SR).samples  # 119


def _check_join(first: np.ndarray, second: np.ndarray, bpm1: float, bpm2: float):
    res = analyze_signal(np.concatenate([first, second]), ANALYSIS_SR, steps={"tempo"})
    join = len(first) / ANALYSIS_SR
    segs = res.tempo_segments
    assert len(segs) == 2, segs
    (s0, e0, b0), (s1, e1, b1) = segs
    assert s0 == 0.0 and e0 == s1 and abs(e1 - res.duration_s) < 0.05
    assert abs(s1 - join) <= 2.0, (s1, join)
    assert abs(b0 - bpm1) <= 0.03 * bpm1 and abs(b1 - bpm2) <= 0.03 * bpm2, segs
    # the dominant tempo is the one that plays longer
    longer = b0 if e0 - s0 >= e1 - s1 else b1
    assert res.bpm == longer
    # beats follow each part's tempo
    for a, b, bpm in segs:
        inside = res.beats[(res.beats > a + 2) & (res.beats < b - 2)]
        assert abs(60.0 / np.mean(np.diff(inside)) - bpm) <= 0.02 * bpm, (a, b, bpm)
    return s1 - join


def test_two_demo_songs_joined_give_two_segments(war_of_freedom, stairs):
    # War of Freedom fades out over its last 10 s: the change is where Stairs starts
    _check_join(war_of_freedom, stairs, 140.0, 119.0)
    _check_join(stairs, war_of_freedom, 119.0, 140.0)


def test_steady_song_is_one_segment(war_of_freedom):
    res = analyze_signal(war_of_freedom, ANALYSIS_SR, steps={"tempo"})
    [(start, end, bpm)] = res.tempo_segments
    assert start == 0.0 and abs(end - res.duration_s) < 0.05 and bpm == res.bpm
    assert abs(res.bpm - 140.0) <= 0.02 * 140.0


def test_midi_songs_joined(shared_data):
    """Two whole rendered songs 8 % apart in tempo (116 and 125 BPM, exact), joined."""
    root = shared_data / "midi-full-dev"
    if not (root / "tempo.csv").exists():
        pytest.skip("midi-full-dev not found")
    with open(root / "tempo.csv", newline="") as f:
        bpm = {r["relative_path"]: float(r["bpm"]) for r in csv.DictReader(f)}
    a, b = "audio/country_13934.ogg", "audio/pop_10401.ogg"
    ya, yb = (decode(root / p, ANALYSIS_SR).samples for p in (a, b))
    _check_join(ya, yb, bpm[a], bpm[b])
