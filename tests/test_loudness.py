"""Loudness against pyloudnorm (the oracle) on real audio, plus the standard's anchors."""

from __future__ import annotations

import numpy as np
import pyloudnorm as pyln
import pytest

from underdog.analysis.loudness import LoudnessMeter, k_weighting
from underdog.audio import decode

from .conftest import demo_tracks


def measure(x: np.ndarray, sr: int, block: int = 4096):
    m = LoudnessMeter()
    for i in range(0, x.shape[1], block):
        m.push(x[:, i:i + block], sr)
    return m.result()


def native(path):
    """The file at its own rate and channels, collected through the decoder's sink."""
    blocks, rate = [], []

    def sink(b, sr):
        blocks.append(np.stack(b))
        rate.append(sr)

    decode(path, channel_sink=sink)
    return np.concatenate(blocks, axis=1), rate[0]


@pytest.mark.parametrize("path", demo_tracks(), ids=lambda p: p.name)
def test_demo_tracks_match_pyloudnorm(path):
    x, sr = native(path)
    ours = measure(x, sr).integrated_lufs
    ref = pyln.Meter(sr).integrated_loudness(x.T.astype(np.float64))
    assert abs(ours - ref) <= 0.3, (ours, ref)


def test_sine_anchor_and_channel_sum():
    """BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LUFS; in both, +3 LU."""
    sr = 48000
    t = np.arange(10 * sr) / sr
    s = np.sin(2 * np.pi * 997 * t).astype(np.float32)
    one = measure(np.stack([s, np.zeros_like(s)]), sr)
    both = measure(np.stack([s, s]), sr)
    assert one.integrated_lufs == pytest.approx(-3.01, abs=0.05)
    assert both.integrated_lufs - one.integrated_lufs == pytest.approx(3.01, abs=0.02)
    assert one.peak_dbfs == pytest.approx(0.0, abs=0.01)


@pytest.mark.parametrize("sr", [22050, 44100, 48000])
def test_minus_20_dbfs_sine_at_every_rate(sr):
    """-20 dBFS 1 kHz: -23.01 LUFS in one channel, -20.0 in both (filters designed per rate)."""
    t = np.arange(8 * sr) / sr
    s = (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    mono = measure(s[None, :], sr)
    stereo = measure(np.stack([s, s]), sr)
    assert mono.integrated_lufs == pytest.approx(-23.01, abs=0.05)
    assert stereo.integrated_lufs == pytest.approx(-20.0, abs=0.05)
    assert mono.peak_dbfs == pytest.approx(-20.0, abs=0.01)
    assert mono.range_lu == pytest.approx(0.0, abs=0.1)


def test_pipeline_meters_native_channels():
    """analyze() meters the decoder's native-rate channels, not the 22,050 Hz mono mix."""
    from underdog.analysis import analyze

    path = demo_tracks()[8]
    x, sr = native(path)
    res = analyze(path, steps={"loudness"})
    assert sr != 22050 and x.shape[0] == 2
    assert res.loudness_lufs == pytest.approx(measure(x, sr).integrated_lufs, abs=1e-6)


@pytest.mark.parametrize("sr", [22050, 44100, 48000])
def test_k_weighting_response(sr):
    """The filters pass ~0 dB at 500 Hz, +4 dB well above 2 kHz, and cut 20 Hz hard."""
    from scipy.signal import sosfreqz

    sos = np.array([np.r_[b, a] for b, a in k_weighting(sr)])
    _, h = sosfreqz(sos, worN=[20.0, 500.0, 8000.0], fs=sr)
    db = 20 * np.log10(np.abs(h))
    assert db[0] < -10
    assert abs(db[1]) < 0.6
    assert 3.5 < db[2] < 4.5


def test_ffmpeg_k_weighting_equals_double_precision_sosfilt():
    """The meter's filters (FFmpeg biquads, float32) against scipy's sosfilt in float64 on
    a real track: every 100 ms step's power within 0.01 dB, quiet passages included."""
    from scipy.signal import sosfilt

    from underdog.analysis.loudness import STEP_S

    x, sr = native(demo_tracks()[4])
    m = LoudnessMeter()
    for i in range(0, x.shape[1], 65536):
        m.push(x[:, i:i + 65536], sr)
    m.result()
    got = m._steps[:m._n]
    sos = np.array([np.r_[b, a] for b, a in k_weighting(sr)])
    y = sosfilt(sos, x.astype(np.float64), axis=1)
    step = int(round(STEP_S * sr))
    n = y.shape[1] // step
    want = (y[:, :n * step] ** 2).reshape(len(y), n, step).mean(axis=2).sum(axis=0)
    assert len(got) == n
    audible = want > 1e-9  # steps above -90 dB
    assert audible.mean() > 0.9
    err_db = np.abs(10 * np.log10(got[audible] / want[audible]))
    assert err_db.max() < 0.01, err_db.max()


def test_gain_shifts_loudness_exactly_and_blocks_do_not_matter():
    x, sr = native(demo_tracks()[4])
    x = x[:, : 40 * sr]
    a = measure(x, sr, block=1000)
    b = measure(x * np.float32(10 ** (-6 / 20)), sr, block=65536)
    assert b.integrated_lufs - a.integrated_lufs == pytest.approx(-6.0, abs=0.02)
    assert b.range_lu == pytest.approx(a.range_lu, abs=0.05)


def test_loudness_range_sees_dynamics():
    """A track alternating loud and 20 dB quieter halves has a wide range; steady noise not."""
    sr = 22050
    rng = np.random.default_rng(1)
    n = rng.standard_normal((1, 60 * sr)).astype(np.float32) * 0.1
    steady = measure(n, sr)
    dyn = n.copy()
    dyn[:, 30 * sr:] *= 0.1
    varied = measure(dyn, sr)
    assert steady.range_lu < 1.0
    assert 15.0 < varied.range_lu < 21.0


def test_silence_and_too_short():
    sr = 22050
    silent = measure(np.zeros((2, 5 * sr), np.float32), sr)
    assert silent.integrated_lufs == float("-inf") and silent.peak_dbfs == float("-inf")
    short = measure(np.full((1, 1000), 0.5, np.float32), sr)
    assert short.integrated_lufs == float("-inf") and short.range_lu == 0.0


def test_gtzan_matches_pyloudnorm(shared_data):
    import soundfile as sf

    files = sorted((shared_data / "gtzan-dev" / "audio").glob("*.flac"))[::4]
    for f in files:
        y, sr = sf.read(f, dtype="float32", always_2d=True)
        ours = measure(y.T, sr).integrated_lufs
        assert abs(ours - pyln.Meter(sr).integrated_loudness(y.astype(np.float64))) <= 0.3, f
