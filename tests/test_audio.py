"""Decoding: every library format, bad files, and the memory bound on a long file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

from underdog.audio import ANALYSIS_SR, decode
from underdog.errors import DecodeError

from .conftest import DEMO_LIBRARY, PEAK_RSS_MB, demo_tracks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_demo_library_covers_every_format():
    exts = {p.suffix.lower() for p in demo_tracks()}
    assert {".mp3", ".m4a", ".flac", ".ogg", ".opus"} <= exts


@pytest.mark.parametrize("path", demo_tracks(), ids=lambda p: p.suffix + ":" + p.stem[:20])
def test_decode_each_demo_track(path):
    a = decode(path)
    assert a.warnings == []  # a sound file gets no warning
    assert a.sr == ANALYSIS_SR
    assert a.samples.dtype == np.float32 and a.samples.ndim == 1
    # the container's duration and what we decoded agree to within 0.2 s
    import av

    with av.open(str(path)) as c:
        expected = c.duration / 1e6
    assert abs(a.duration_s - expected) < 0.2
    rms = float(np.sqrt(np.mean(a.samples ** 2)))
    assert 0.005 < rms < 1.0
    # float scale, not integer counts (lossy codecs may overshoot full scale a little)
    assert np.abs(a.samples).max() < 4.0


def test_wav_round_trip_matches_soundfile(tmp_path, demo_library):
    # a real clip written as 22.05 kHz mono wav must come back sample-exact
    src = decode(demo_library / "Muldjord - Chaos God.ogg")
    clip = src.samples[: ANALYSIS_SR * 5]
    p = tmp_path / "clip.wav"
    sf.write(p, clip, ANALYSIS_SR, subtype="FLOAT")
    back = decode(p)
    np.testing.assert_allclose(back.samples, clip, atol=1e-7)


def test_resampling_keeps_pitch(tmp_path, demo_library):
    # the same real audio at 44.1 kHz stereo and 22.05 kHz mono decodes to the same signal
    src = decode(demo_library / "Muldjord - Chaos God.ogg", sr=44100)
    clip = src.samples[44100 * 20: 44100 * 30]
    p = tmp_path / "stereo44.wav"
    sf.write(p, np.stack([clip, clip], axis=1), 44100)
    ref = decode(demo_library / "Muldjord - Chaos God.ogg").samples[22050 * 20: 22050 * 30]
    got = decode(p).samples
    n = min(len(ref), len(got)) - 200
    corr = np.corrcoef(ref[100:n], got[100:n])[0, 1]
    assert corr > 0.95


def test_empty_file(tmp_path):
    p = tmp_path / "empty.mp3"
    p.write_bytes(b"")
    with pytest.raises(DecodeError, match="empty file") as ei:
        decode(p)
    assert str(p) in str(ei.value)


def test_random_bytes_named_mp3(tmp_path):
    p = tmp_path / "noise.mp3"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(DecodeError) as ei:
        decode(p)
    assert "noise.mp3" in str(ei.value)


def test_text_named_ogg(tmp_path):
    p = tmp_path / "notes.ogg"
    p.write_text("this is not audio\n" * 100)
    with pytest.raises(DecodeError):
        decode(p)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DecodeError, match="No such file"):
        decode(tmp_path / "nope.flac")
    d = tmp_path / "x.mp3"
    d.mkdir()
    with pytest.raises(DecodeError, match="directory"):
        decode(d)


def test_truncated_flac(tmp_path, demo_library):
    data = (demo_library / "Shawn Parrotte - Caves.flac").read_bytes()
    p = tmp_path / "cut.flac"
    p.write_bytes(data[: len(data) // 3])
    a = decode(p)  # tolerant: what decodes is kept, and the loss is a warning
    assert 0.2 < a.duration_s / sf.info(demo_library / "Shawn Parrotte - Caves.flac").duration < 0.4
    assert len(a.warnings) == 1 and "truncated" in a.warnings[0]


def test_header_only_wav(tmp_path):
    p = tmp_path / "header.wav"
    sf.write(p, np.zeros((0, 2), np.float32), 44100)
    with pytest.raises(DecodeError, match="no audio samples"):
        decode(p)


def test_thirty_minute_file_memory_bound(tmp_path, demo_library):
    """A 30-minute 44.1 kHz stereo file, built from real audio, analyzes under 250 MB RSS."""
    a = decode(demo_library / "Nexuiz - Stairs.mp3", sr=44100)
    block = np.stack([a.samples, a.samples[::-1]], axis=1)
    p = tmp_path / "long.wav"
    total = 30 * 60 * 44100
    with sf.SoundFile(p, "w", 44100, 2, subtype="PCM_16") as f:
        written = 0
        while written < total:
            n = min(len(block), total - written)
            f.write(block[:n])
            written += n
    code = textwrap.dedent(f"""
        import json
        from underdog.analysis import analyze
        r = analyze({str(p)!r})
        print(json.dumps({{"duration_s": r.duration_s, "bpm": r.bpm,
                          "rss_mb": {PEAK_RSS_MB}}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert abs(res["duration_s"] - 1800) < 1
    assert res["bpm"] is not None
    assert res["rss_mb"] <= 250, res  # it streams: ~190 MB an hour


def test_pyav_blocks_match_libsndfile_sample_for_sample():
    """FFmpeg's small Vorbis frames, joined in its FIFO, give the same samples in the same
    order as libsndfile's own reading of the file: nothing dropped, doubled or reordered."""
    from underdog.audio import _blocks_pyav, _blocks_soundfile

    f = str(DEMO_LIBRARY / "Nexuiz - Beast of Insanity.ogg")
    a = np.concatenate(list(_blocks_pyav(f)[3]), axis=1)
    b = np.concatenate(list(_blocks_soundfile(f)[3]), axis=1)
    assert a.shape == b.shape and a.shape[0] == 2
    assert np.abs(a - b).max() < 1e-5


def _stream(res, y, step):
    parts = []
    for i in range(0, len(y), step):  # uneven pushes
        parts += [b[0] for b in res.push(y[None, i:i + step])]
    parts += [b[0] for b in res.flush()]
    return np.concatenate(parts)


def test_halfband_decimator_equals_whole_signal_resample_poly():
    """The 2:1 path (44.1 kHz files), pushed in uneven chunks, gives what scipy's
    resample_poly gives on the whole signal with its default filter, both ends included."""
    from scipy.signal import firwin, resample_poly

    from underdog.audio import _BLOCK, _halfband_fir, _Halver

    assert np.abs(_halfband_fir() - firwin(41, 0.5, window=("kaiser", 5.0))).max() < 1e-12
    y = decode(DEMO_LIBRARY / "Nexuiz - Beast of Insanity.ogg", 44100).samples[:5 * _BLOCK + 777]
    got = _stream(_Halver(1), y, 10_000)
    want = resample_poly(y.astype(np.float64), 1, 2)
    assert len(got) == len(want)
    assert np.abs(got - want).max() < 1e-5


def test_halve_is_resample_poly_on_the_whole():
    """The one-shot 2:1 decimation (the render's beat refinement) is scipy's, odd and even
    lengths, one channel or two, both ends included."""
    from scipy.signal import resample_poly

    from underdog.audio import halve

    y = decode(DEMO_LIBRARY / "Nexuiz - Beast of Insanity.ogg", 44100).samples[:100_001]
    for x in (y, y[:-1], y[:3], np.stack([y, y[::-1]])):
        want = resample_poly(x.astype(np.float64), 1, 2, axis=-1)
        got = halve(x)
        assert got.shape == want.shape and got.dtype == np.float32
        assert np.abs(got - want).max() < 1e-5


def test_other_ratios_resample_in_place_and_in_band():
    """48 kHz (Opus) goes through FFmpeg's resampler: chunking changes nothing, no delay
    against scipy's resample_poly, the same level everywhere below 10 kHz."""
    from scipy.signal import resample_poly

    from underdog.audio import _FFmpegResampler

    y = decode(DEMO_LIBRARY / "Nexuiz - Digital Pursuit.opus", 48000).samples[:30 * 48000 + 777]
    got = _stream(_FFmpegResampler(48000, ANALYSIS_SR, 1), y, 10_000)
    whole = _stream(_FFmpegResampler(48000, ANALYSIS_SR, 1), y, len(y))
    want = resample_poly(y.astype(np.float64), 147, 320)
    assert abs(len(got) - len(want)) <= 1 and np.array_equal(got, whole[:len(got)])
    n = min(len(got), len(want))
    got, want = got[:n], want[:n]
    mid = slice(n // 2 - 4000, n // 2 + 4000)
    lags = [float(np.dot(got[mid], np.roll(want, k)[mid])) for k in range(-3, 4)]
    assert int(np.argmax(lags)) - 3 == 0
    f = np.fft.rfftfreq(n, 1 / ANALYSIS_SR)
    G, W = np.abs(np.fft.rfft(got)) ** 2, np.abs(np.fft.rfft(want)) ** 2
    for lo, hi in [(20, 1000), (1000, 5000), (5000, 10000)]:
        band = (f >= lo) & (f < hi)
        assert abs(10 * np.log10(G[band].sum() / W[band].sum())) < 0.05, (lo, hi)


def test_read_ahead_stops_cleanly_when_the_consumer_fails():
    """Decoding runs a block ahead in a thread; an error downstream (here the channel sink)
    reaches the caller, and the thread and the file are gone afterwards."""
    import threading

    f = DEMO_LIBRARY / "Nexuiz - Beast of Insanity.ogg"
    fds_before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    seen = []

    def sink(block, sr):
        seen.append(len(block[0]))
        if len(seen) == 2:
            raise RuntimeError("sink gave up")

    for _ in range(3):
        seen.clear()
        with pytest.raises(DecodeError, match="sink gave up"):
            decode(f, channel_sink=sink)
    assert not [t for t in threading.enumerate() if t.name == "underdog-decode"]
    if fds_before is not None:
        assert len(os.listdir("/proc/self/fd")) <= fds_before
    # and a full decode afterwards gives every sample, in order, as before
    a = decode(f)
    b = decode(f)
    assert np.array_equal(a.samples, b.samples) and a.duration_s > 60
