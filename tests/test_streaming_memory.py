"""Analysis streams: ``analyze(path)`` never holds the decoded signal, and gives what the
whole-signal path gives.

- The streamed spectral front end equals the one-pass STFT over the whole array, however
  the signal is cut into pushes.
- On the demo library, ``analyze(path)`` (streamed from the decoder) and ``analyze_signal``
  on the decoded array agree exactly on tempo, beats, loudness, energy, key, drops, style.
- A 60-minute MP3 (a demo track stream-copied 22 times) is analyzed in a fresh process
  with a peak RSS under 300 MB (808 MB before streaming; 3 hours: 2.0 GB before, 393 MB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.fft as sfft

from underdog.analysis import analyze, analyze_signal, spectral
from underdog.analysis.loudness import LoudnessMeter
from underdog.audio import ANALYSIS_SR, decode, decode_stream

from .conftest import DEMO_LIBRARY, PEAK_RSS_MB, demo_tracks

FIELDS = ("duration_s", "bpm", "bpm_confidence", "bpm_candidates", "tempo_segments", "beats",
          "downbeats", "loudness_lufs", "loudness_range_lu", "peak_dbfs", "energy",
          "energy_level", "energy_curve", "key", "key_confidence", "drops", "buildups",
          "intro_end_s", "outro_start_s", "style", "style_label", "warnings")


def _whole_signal_stft(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """The front end as it was before streaming: the whole padded signal framed at once
    (128 frames per FFT call, as then), reduced to mel + chroma (76, T) and RMS (T,)."""
    n_fft, hop, pad = spectral.N_FFT, spectral.HOP, spectral.N_FFT // 2
    p = np.concatenate([np.zeros(pad, np.float32), y, np.zeros(pad + n_fft, np.float32)])
    n = 1 + len(y) // hop
    frames = np.lib.stride_tricks.as_strided(p, shape=(n, n_fft), strides=(4 * hop, 4))
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    blocks, _ = spectral._reduction(sr, n_fft, spectral.N_MELS)
    red = np.empty((spectral.N_MELS + 12, n), np.float32)
    for i in range(0, n, 128):
        mag = np.abs(sfft.rfft(frames[i:i + 128] * window, axis=1)).astype(np.float32)
        for c0, c1, b0, b1, w in blocks:
            red[c0:c1, i:i + len(mag)] = w.T @ mag[:, b0:b1].T
    mid = p[pad - hop // 2:pad - hop // 2 + n * hop].reshape(n, hop)
    return red, np.sqrt(np.einsum("ij,ij->i", mid, mid) / hop)


def test_stream_equals_whole_signal_stft_however_cut():
    y = decode(DEMO_LIBRARY / "Shawn Parrotte - Caves.flac", ANALYSIS_SR).samples
    red, rms = _whole_signal_stft(y, ANALYSIS_SR)
    rng = np.random.default_rng(7)
    whole = spectral.compute(y, ANALYSIS_SR)
    for cuts in ("one", "random", "tiny"):
        s = spectral.SpectralStream(ANALYSIS_SR)
        if cuts == "one":
            s.push(y)
        else:
            i = 0
            while i < len(y):
                k = int(rng.integers(1, 200 if cuts == "tiny" else 150_000))
                s.push(y[i:i + k])
                i += k
                if cuts == "tiny" and i > 300_000:  # the rest in one go: tiny pushes are slow
                    s.push(y[i:])
                    i = len(y)
        got = s.finish()
        assert got.mel.shape == (spectral.N_MELS, 1 + len(y) // spectral.HOP)
        np.testing.assert_allclose(np.vstack([got.mel, got.chroma]), red, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got.rms, rms, rtol=1e-5, atol=1e-7)
        # however the signal was cut, the blocks are the same: bit for bit
        for f in ("mel", "chroma", "rms", "key_chroma"):
            assert np.array_equal(getattr(got, f), getattr(whole, f)), (cuts, f)
        assert s.n_samples == len(y)
        assert s.peak == float(np.abs(y).max())


def test_short_signals_frame_as_before():
    """Lengths around the frame and block edges, including shorter than one FFT."""
    rng = np.random.default_rng(1)
    for n in (1, 511, 512, 2047, 4097, 65_535, 67_072, 67_073):
        y = (0.1 * rng.standard_normal(n)).astype(np.float32)
        red, rms = _whole_signal_stft(y, ANALYSIS_SR)
        got = spectral.compute(y, ANALYSIS_SR)
        np.testing.assert_allclose(np.vstack([got.mel, got.chroma]), red, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got.rms, rms, rtol=1e-5, atol=1e-7)
        assert got.key_chroma.shape == (12, 1 + max(n - 4096, 0) // 2048), n


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


def test_streamed_analysis_equals_whole_signal_on_demo_library():
    for path in demo_tracks():
        streamed = analyze(path)
        meter = LoudnessMeter()
        audio = decode(path, ANALYSIS_SR, channel_sink=meter.push)
        whole = analyze_signal(audio.samples, audio.sr, path=str(path), meter=meter)
        whole.warnings[:0] = audio.warnings
        for f in FIELDS:
            assert _same(getattr(streamed, f), getattr(whole, f)), (path.name, f)


def test_decode_stream_hands_over_what_decode_returns():
    path = DEMO_LIBRARY / "Nexuiz - Digital Pursuit.opus"  # 48 kHz: FFmpeg's resampler
    blocks, stated = [], []
    info = decode_stream(path, blocks.append, expect=stated.append)
    audio = decode(path)
    assert np.array_equal(np.concatenate(blocks), audio.samples)
    assert info.n_samples == len(audio.samples) and info.warnings == audio.warnings
    assert len(stated) == 1 and abs(stated[0] - audio.duration_s) < 1.0


def _loop_mp3(src, dst, copies: int) -> None:
    """``copies`` back-to-back copies of an MP3, stream-copied (no re-encoding)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp3") as out:
        ins = inp.streams.audio[0]
        outs = out.add_stream_from_template(ins)
        packets = [p for p in inp.demux(ins) if p.dts is not None]
        span = packets[-1].pts + packets[-1].duration - packets[0].pts
        for k in range(copies):
            for p in packets:
                p.pts += span if k else 0
                p.dts = p.pts
                p.stream = outs
                out.mux(p)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_sixty_minute_file_full_analysis_bounded_memory(tmp_path):
    """The whole analysis of a 60-minute MP3 in a fresh process peaks under 300 MB RSS
    (808 MB before it streamed: the decoded signal alone is 318 MB an hour)."""
    path = tmp_path / "hour.mp3"
    _loop_mp3(DEMO_LIBRARY / "Nexuiz - Stairs.mp3", path, 22)  # 22 x 168 s = 61.6 min
    code = ("import json, sys; from underdog.analysis import analyze; "
            "a = analyze(sys.argv[1]); "
            f"print(json.dumps([a.bpm, a.duration_s, a.key, a.warnings, {PEAK_RSS_MB}]))")
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    bpm, duration, key, warnings, rss_mb = json.loads(run.stdout.strip().splitlines()[-1])
    assert abs(duration - 22 * 168.07) < 5, (duration, warnings)
    assert bpm is not None and abs(bpm - 119.0) <= 0.02 * 119.0, bpm
    assert key is not None
    assert rss_mb < 300, rss_mb
