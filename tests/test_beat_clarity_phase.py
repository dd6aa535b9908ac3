"""Beat clarity over a phase slip (issue 15): where the music's beat moves by a fraction of
a beat, the stored beats slip from one phase to the other over a few bars (the free
library's Escape from Chaosland: 8 beats 5 % short, 0.4 beat in all), and no beat line
over a blend across it can meet both sides. Four-bar trackers each agree with one side;
a tracker over a blend's eight bars reads one phase throughout. Real audio: a demo track
with 0.4 beat cut out of it."""

from __future__ import annotations

import numpy as np
import pytest

from underdog.analysis import analyze_signal
from underdog.audio import load
from underdog.planning.excerpts import CLEAR, OVERLAP_BARS, UNCLEAR_SHARE, stored_clarity

from .conftest import DEMO_LIBRARY

STEPS = {"tempo", "beat_clarity"}
SPLICE_S = 45.0
BLEND_BEATS = 4 * OVERLAP_BARS


def _excerpt():
    """Sectoid - Feelings (a steady beat, 96 BPM) from 60 s, 90 s long, mono."""
    y, sr = load(DEMO_LIBRARY / "Sectoid - Feelings.opus")
    return np.asarray(y[int(60 * sr):int(150 * sr)], np.float32), sr


@pytest.fixture(scope="module")
def slipped():
    """The excerpt with 0.4 of its beat cut out at SPLICE_S: from there the beat lies
    0.4 beat earlier than the bars before predict."""
    y, sr = _excerpt()
    beats = np.asarray(analyze_signal(y, sr, steps={"tempo"}).beats, np.float64)
    period = float(np.median(np.diff(beats)))
    h, k = int(SPLICE_S * sr), int(round(0.4 * period * sr))
    z = np.concatenate([y[:h], y[h + k:]])
    a = analyze_signal(z, sr, steps=STEPS)
    b = np.asarray(a.beats, np.float64)
    return b, stored_clarity(a.beat_clarity, len(b)), period


def test_the_stored_beats_slip_over_a_few_beats(slipped):
    b, _, period = slipped
    i = int(np.searchsorted(b, SPLICE_S))
    gaps = np.diff(b[i - 8:i + 8])
    # measured: 3 beats of 580 ms and 3 of 604 after the splice, 627-650 elsewhere: 0.3
    # beat in all
    assert np.sum(gaps < 0.97 * period) >= 6
    assert np.sum(gaps - period) < -0.25 * period


def test_every_blend_across_the_slip_is_mostly_unclear(slipped):
    b, c, _ = slipped
    i = int(np.searchsorted(b, SPLICE_S))
    # every 8-bar blend holding the slip in its middle half (starting 24..8 beats before)
    shares = [float(np.mean(c[s:s + BLEND_BEATS] < CLEAR)) for s in range(i - 24, i - 7)]
    # measured: 0.56-0.69; four-bar trackers alone (session 9): 0.25-0.34, the planner
    # blended over two of these and the rest only just over the quarter
    assert min(shares) > 0.4 > UNCLEAR_SHARE


def test_bars_away_from_the_slip_stay_clear(slipped):
    b, c, period = slipped
    far = np.abs(b - SPLICE_S) > 24 * period
    assert far.sum() > 60
    assert np.mean(c[far] < CLEAR) <= 0.1  # measured 0.05


def test_the_unspliced_excerpt_stays_as_clear():
    y, sr = _excerpt()
    a = analyze_signal(y, sr, steps=STEPS)
    c = stored_clarity(a.beat_clarity, len(a.beats))
    assert np.mean(c < CLEAR) <= 0.12  # measured 0.084, as with four-bar trackers alone
