"""The numpy running max and median against scipy.ndimage, the filters they replace."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import maximum_filter1d, median_filter

from underdog.analysis.running import running_max, running_median


@pytest.mark.parametrize("mode", ["nearest", "reflect"])
def test_running_max_equals_maximum_filter1d(mode):
    rng = np.random.default_rng(7)
    for n in (1, 2, 5, 37, 1000):
        for dtype in (np.float32, np.float64):
            x = rng.standard_normal(n).astype(dtype)
            x[rng.integers(0, n, n // 4)] = 0.0  # ties
            for size in (1, 2, 3, 4, 7, 8, 31, 64):
                got = running_max(x, size, mode=mode)
                assert got.dtype == x.dtype
                want = maximum_filter1d(x, size=size, mode=mode)
                assert np.array_equal(got, want), (n, size, dtype)


@pytest.mark.parametrize("mode", ["nearest", "reflect"])
def test_running_median_equals_median_filter(mode):
    rng = np.random.default_rng(8)
    for n in (1, 4, 43, 500):
        x = rng.standard_normal(n).astype(np.float32)
        for size in (1, 3, 5, 43, 44):
            assert np.array_equal(running_median(x, size, mode=mode),
                                  median_filter(x, size=size, mode=mode)), (n, size)


def test_real_envelope_and_bad_arguments():
    """An onset envelope of a demo track: the peak picker's exact inputs."""
    from underdog.analysis import onset, spectral
    from underdog.audio import decode

    from .conftest import demo_tracks

    a = decode(demo_tracks()[0])
    env, _ = onset.onset_bands(spectral.compute(a.samples, a.sr, key_chroma=False))
    for size in (5, 43, 345):
        assert np.array_equal(running_max(env, size, "nearest"),
                              maximum_filter1d(env, size, mode="nearest"))
    assert np.array_equal(running_median(env, 43, "nearest"),
                          median_filter(env, size=43, mode="nearest"))
    with pytest.raises(ValueError):
        running_max(env, 5, mode="wrap")
    with pytest.raises(ValueError):
        running_median(env[None], 5)
