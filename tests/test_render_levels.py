"""Levels on real audio: a loud track levelled to -14 LUFS (pyloudnorm as the oracle), the
true-peak limiter holding -1 dBTP (4x oversampled) with no clipped sample; a rendered mix of
loud excerpts meeting its target with the make-up gain."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from underdog.render.levels import MakeUpGain, TruePeakLimiter, gain_db_to, integrated_lufs
from underdog.render.render import read_plan, render
from underdog.render.source import MIX_SR, read_span

from .conftest import DEMO_LIBRARY
from .test_render_mix import A, B, downbeat_near, grids  # noqa: F401  (session fixture)

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


def test_rendered_mix_of_loud_excerpts_meets_its_target(tmp_path, grids):  # noqa: F811
    """A short plan that the limiter works hard on (-10 LUFS from these excerpts: it takes
    about 1.2 LU back): the make-up (a measured first pass per excerpt, a running meter on
    the limiter's output) brings the whole mix to the target. Without it (each excerpt
    levelled, then limited) the mix came out at -11.2 LUFS."""
    entries = []
    for i, (path, t0, t1) in enumerate([(A, 20, 52), (B, 10, 42), (A, 60, 92), (B, 50, 82)]):
        e = {"path": path, "artist": "a", "title": "t", "tempo_bpm": 124.0,
             "in_s": downbeat_near(grids, path, t0), "out_s": downbeat_near(grids, path, t1)}
        e.update({"transition": {"type": "overlap", "bars": 4, "shape": "equal_power"}} if i
                 else {"start_s": 0.0})
        entries.append(e)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"entries": entries}))
    out = tmp_path / "mix.wav"
    render(read_plan(plan), out, lufs=-10.0, cues="none", beats_for=lambda p: grids[p])
    y, sr = sf.read(out, dtype="float32", always_2d=True)
    assert y.shape[0] / sr > 90.0
    lufs = pyloudnorm.Meter(sr).integrated_loudness(y.astype(np.float64))
    assert lufs == pytest.approx(-10.0, abs=0.5)
    assert true_peak_db(y.T) <= -1.0
    assert int(np.count_nonzero(np.abs(y) >= 1.0)) == 0


def test_make_up_measures_the_limiters_loss(loud):
    mk = MakeUpGain(MIX_SR, -6.0)
    x = loud * np.float32(10 ** (gain_db_to(loud, MIX_SR, -6.0) / 20))
    assert mk.loss_db(x) > 0.3  # at -6 LUFS the limiter takes some back
    assert mk.loss_db(x, -8.0) < mk.loss_db(x)  # less of it 8 dB down
    assert 0.3 < mk.next_db(x) <= 6.0
    assert mk.loss_db(np.zeros((2, MIX_SR), np.float32)) == 0.0


# The limiter's fast paths (render speed) give what the direct computations give, on a
# loud real track: the running max, the attack/release recursion and the true peak.

def test_the_running_max_is_scipys(loud):
    from scipy.ndimage import maximum_filter1d

    from underdog.render.levels import _running_max

    env = np.abs(loud).max(axis=0)
    for n in (1, 7, 19, 20, 4099, env.size):
        for width in (1, 3, 19, 37):
            want = maximum_filter1d(env[:n], size=width, mode="nearest")
            assert np.array_equal(_running_max(env[:n], width), want)


def test_the_block_toeplitz_interpolation_is_each_phases_convolution(loud):
    """The true-peak interpolator's matrix form gives, per sample, the largest |value| over
    channels and phases of ``np.convolve(channel, phase, "same")`` (float32 rounding
    apart), whatever the length and the number of taps; shorter than the taps (where
    numpy's "same" is the taps' length), the tensor product's."""
    from underdog.render.levels import (_block_toeplitz, _oversampled_peak,
                                        _oversampling_fir, _polyphase_same)

    fir = _oversampling_fir().astype(np.float32)
    bank = np.stack([fir[p::4][::-1] for p in range(4)], axis=1)
    for taps in (bank, bank[12:20]):
        for n in (1, 7, 31, 32, 33, 5000):
            x = loud[:, 1000:1000 + n]
            got = _oversampled_peak(x, _block_toeplitz(taps))
            assert got.shape == (n,)
            if n < len(taps):
                want = np.abs(_polyphase_same(x, taps).reshape(-1, n)).max(axis=0)
            else:
                want = np.max([np.abs(np.convolve(x[c].astype(np.float64),
                                                  taps[::-1, p].astype(np.float64), "same"))
                               for c in range(2) for p in range(4)], axis=0)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_attack_release_is_the_one_pole_recursion(loud):
    """The vectorized gains (attack at once, one-pole release) are the sample loop's to
    1e-12, over more than one chunk and from a state left reduced."""
    from underdog.render.levels import _attack_release

    lim = TruePeakLimiter(MIX_SR)
    env = np.abs(loud * np.float32(2.0)).max(axis=0)  # pushed 6 dB: much to limit
    h = np.minimum(1.0, lim.ceiling / np.maximum(env, 1e-12))[:lim.k * 5000]
    h = h.reshape(-1, lim.k).min(axis=1).astype(np.float64)
    for last in (1.0, 0.4):
        want = np.empty(len(h))
        e = last
        for i, v in enumerate(h):
            e = v if v < e else v + (e - v) * lim.rel
            want[i] = e
        got = _attack_release(h, last, lim.rel)
        assert float(np.max(np.abs(got - want) / want)) < 1e-12
        assert float(want.min()) < 0.6  # it limits


def test_the_true_peak_skips_only_what_stays_under_the_bound(loud):
    """Pieces with no sample at ``skip_below`` within the filter's reach, or that the
    middle-taps screen clears, keep their sample peak; every true peak at ``skip_below`` x
    the interpolator's bound or more is the full interpolation's (to float32 rounding: a
    matrix product's sums go in an order that depends on its shape)."""
    from underdog.render.levels import _oversampling_fir, interpolation_bound, true_peak_envelope

    bound = interpolation_bound(_oversampling_fir())
    assert 1.0 < bound < 3.0
    x = loud * np.float32(0.7)
    full = true_peak_envelope(x)
    for below in (0.2, 0.35):
        fast = true_peak_envelope(x, skip_below=below)
        hot = full >= bound * below
        assert hot.any() and (~hot).any()
        np.testing.assert_allclose(fast[hot], full[hot], rtol=1e-6, atol=0)
        assert float(fast[~hot].max()) < bound * below
        assert np.all(fast <= full * np.float32(1 + 1e-6))
        assert np.array_equal(fast, np.maximum(fast, np.abs(x).max(axis=0)))


def test_limiter_holds_the_ceiling_on_near_nyquist_peaks():
    """An Opus track whose peaks ride on content up to 20 kHz: an interpolator that rolls
    off from 17 kHz (16 taps a phase) read them 0.3 dB low and its output measured -0.93
    dBTP; it must measure at most -1 dBTP on a long-filter 4x resampler."""
    x = read_span(DEMO_LIBRARY / "Nexuiz - Digital Pursuit.opus", 30.0, 90.0)
    hot = x * np.float32(2.0)
    y, _ = limit(hot, step=65536)
    assert true_peak_db(hot) > 3.0
    assert true_peak_db(y) <= -1.0
    assert int(np.count_nonzero(np.abs(y) >= 1.0)) == 0
