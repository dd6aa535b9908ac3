"""Levels on real audio: a loud track levelled to -14 LUFS (pyloudnorm as the oracle), the
true-peak limiter holding -1 dBTP (4x oversampled) with no clipped sample."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from underdog.render.levels import TruePeakLimiter, gain_db_to, integrated_lufs
from underdog.render.source import MIX_SR, read_span

from .conftest import DEMO_LIBRARY

pyloudnorm = pytest.importorskip("pyloudnorm")

LOUD = DEMO_LIBRARY / "Muldjord - Armygeddon.mp3"  # about -7 LUFS


def true_peak_db(y: np.ndarray) -> float:
    return float(20 * np.log10(np.abs(resample_poly(y, 4, 1, axis=1)).max()))


def limit(x: np.ndarray, step: int = 10000, **kw) -> tuple[np.ndarray, TruePeakLimiter]:
    lim = TruePeakLimiter(MIX_SR, **kw)
    parts = [lim.push(x[:, i:i + step]) for i in range(0, x.shape[1], step)]
    parts.append(lim.flush())
    return np.concatenate(parts, axis=1), lim


@pytest.fixture(scope="module")
def loud() -> np.ndarray:
    return read_span(LOUD, 40.0, 100.0)


def test_loud_track_levelled_and_limited(loud):
    assert integrated_lufs(loud, MIX_SR) > -9.0  # it is loud to begin with
    g = gain_db_to(loud, MIX_SR, -14.0)
    y, _ = limit(loud * np.float32(10 ** (g / 20)))
    assert y.shape == loud.shape
    meter = pyloudnorm.Meter(MIX_SR)
    assert meter.integrated_loudness(y.T.astype(np.float64)) == pytest.approx(-14.0, abs=0.5)
    assert true_peak_db(y) <= -1.0
    assert int(np.count_nonzero(np.abs(y) >= 1.0)) == 0


def test_limiter_holds_the_ceiling_on_a_hot_signal(loud):
    hot = loud * np.float32(10 ** (6 / 20))  # +6 dB: clips without the limiter
    assert true_peak_db(hot) > 3.0 and np.count_nonzero(np.abs(hot) >= 1.0) > 100
    y, lim = limit(hot)
    assert true_peak_db(y) <= -1.0
    assert int(np.count_nonzero(np.abs(y) >= 1.0)) == 0
    assert lim.min_gain < 0.5
    # the gain is smooth (no step larger than 1 dB between samples where there is signal)
    g = np.abs(y[0]) / np.maximum(np.abs(hot[0]), 1e-9)
    ok = np.abs(hot[0]) > 0.05
    steps = np.abs(np.diff(20 * np.log10(np.maximum(g[ok], 1e-6))))
    assert np.percentile(steps, 99.9) < 1.0
    # it only turns down what it must: louder than the same audio turned down as a whole
    # to the ceiling (a static gain)
    static_db = -1.0 - true_peak_db(hot)
    assert integrated_lufs(y, MIX_SR) > integrated_lufs(hot, MIX_SR) + static_db + 2.0


def test_limiter_streams_the_same_whatever_the_block_size(loud):
    hot = loud[:, : 10 * MIX_SR] * np.float32(2.0)
    a, _ = limit(hot, step=4096)
    b, _ = limit(hot, step=77777)
    assert a.shape == b.shape == hot.shape
    assert np.allclose(a, b, atol=1e-6)


def test_silence_gets_no_gain():
    assert gain_db_to(np.zeros((2, MIX_SR * 3), np.float32), MIX_SR) == 0.0
