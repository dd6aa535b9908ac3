"""Numeric hygiene: NaN, inf, absurd levels and absurd sample rates in real audio.

The float WAVs are 20 s of a demo track (44.1 kHz stereo, so the 2:1 resampler and the
two-channel meter run) written with soundfile at test time; the odd sample rates are WAV
headers written by hand.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from underdog.analysis import analyze, analyze_signal
from underdog.analysis.loudness import LoudnessMeter
from underdog.audio import ANALYSIS_SR, decode
from underdog.errors import AnalysisError, DecodeError

from .conftest import DEMO_LIBRARY

SR = 44100


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """(n, 2) float32: 20 s (40-60 s) of a 140-BPM demo track at 44.1 kHz."""
    with av.open(str(DEMO_LIBRARY / "Nexuiz - Beast of Insanity.ogg")) as c:
        parts, n = [], 0
        for fr in c.decode(audio=0):
            parts.append(fr.to_ndarray())
            n += fr.samples
            if n >= 60 * SR:
                break
    return np.ascontiguousarray(np.concatenate(parts, axis=1)[:, 40 * SR:60 * SR].T, np.float32)


@pytest.fixture(scope="module")
def clean(clip, tmp_path_factory):
    p = tmp_path_factory.mktemp("clean") / "clean.wav"
    sf.write(p, clip, SR, subtype="FLOAT")
    return analyze(p)


def _write(tmp_path, name, y, subtype="FLOAT"):
    p = tmp_path / name
    sf.write(p, y, SR, subtype=subtype)
    return p


def test_clean_clip_is_sane(clean):
    assert clean.warnings == []
    assert clean.bpm == pytest.approx(140.0, rel=0.02)
    assert -16.0 < clean.loudness_lufs < -9.0


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_one_non_finite_sample_is_silenced_with_a_warning(tmp_path, clip, clean, bad):
    y = clip.copy()
    y[10 * SR, 0] = bad
    a = analyze(_write(tmp_path, "one-bad.wav", y))
    assert a.warnings == ["1 non-finite sample (NaN or inf) replaced by silence"]
    assert a.loudness_lufs == pytest.approx(clean.loudness_lufs, abs=0.05)  # not emptied
    assert a.peak_dbfs == pytest.approx(clean.peak_dbfs, abs=0.01)
    assert a.bpm == pytest.approx(clean.bpm, rel=0.01)
    assert a.energy_level == clean.energy_level


def test_times_1e20_in_a_double_wav_is_levelled(tmp_path, clip, clean):
    y = clip.astype(np.float64) * 1e20
    a = analyze(_write(tmp_path, "huge.wav", y, subtype="DOUBLE"))
    assert len(a.warnings) == 1
    assert re.match(r"samples far outside \[-1, 1\]: peak 1(\.\d+)?e\+20; levelled by -400 dB",
                    a.warnings[0]), a.warnings
    # levelled by a power of ten: the signal it was, to float rounding
    assert a.loudness_lufs == pytest.approx(clean.loudness_lufs, abs=0.01)
    assert a.bpm == pytest.approx(clean.bpm, rel=0.01)


def test_a_float_mix_a_little_over_full_scale_is_left_alone(tmp_path, clip, clean):
    a = analyze(_write(tmp_path, "hot.wav", clip * 4.0))  # +12 dB: a float mix, not damage
    assert a.warnings == []
    assert a.loudness_lufs == pytest.approx(clean.loudness_lufs + 20 * np.log10(4.0), abs=0.05)


def test_all_nan_is_not_audio_rather_than_silence(tmp_path, clip):
    y = np.full_like(clip, np.nan)
    with pytest.raises(DecodeError, match="no finite samples.*not audio"):
        analyze(_write(tmp_path, "all-nan.wav", y))


def _wav_header(sr: int, n_bytes: int) -> bytes:
    """A 16-bit mono PCM WAV header claiming ``sr`` Hz."""
    fmt = struct.pack("<HHIIHH", 1, 1, sr, 2 * sr & 0xFFFFFFFF, 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + n_bytes) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"data" + struct.pack("<I", n_bytes))


@pytest.mark.parametrize("sr", [1, 4000, 2_000_000])
def test_absurd_sample_rate_is_a_clear_error(tmp_path, clip, sr):
    pcm = (clip[: 5 * SR, 0] * 32767).astype("<i2").tobytes()
    p = tmp_path / f"sr{sr}.wav"
    p.write_bytes(_wav_header(sr, len(pcm)) + pcm)
    with pytest.raises(DecodeError, match=f"unsupported sample rate {sr} Hz"):
        analyze(p)


def test_analyze_signal_screens_arrays_from_other_callers(clip):
    y = decode_mono = clip.mean(axis=1)[::2].copy()  # ~22 kHz mono is close enough here
    y[1000] = np.nan
    a = analyze_signal(y, ANALYSIS_SR, steps={"tempo", "loudness"})
    assert a.warnings == ["1 non-finite sample (NaN or inf) replaced by silence"]
    assert np.isfinite(a.loudness_lufs)
    with pytest.raises(AnalysisError, match="no finite samples"):
        analyze_signal(np.full_like(decode_mono, np.inf), ANALYSIS_SR)


def test_loudness_meter_is_not_poisoned_by_one_nan(clip):
    ref, bad = LoudnessMeter(), LoudnessMeter()
    y = clip.T.copy()
    ref.push(y, SR)
    y[1, 5 * SR] = np.nan
    bad.push(y, SR)
    r, b = ref.result(), bad.result()
    assert bad.nonfinite == 1
    assert b.integrated_lufs == pytest.approx(r.integrated_lufs, abs=0.01)
    assert b.range_lu == pytest.approx(r.range_lu, abs=0.05) and b.peak_dbfs == r.peak_dbfs


def test_decode_keeps_nan_out_of_the_samples(tmp_path, clip):
    y = clip.copy()
    y[::1000, 1] = np.nan
    a = decode(_write(tmp_path, "many-nan.wav", y))
    assert np.isfinite(a.samples).all()
    assert a.warnings == [f"{len(y[::1000])} non-finite samples (NaN or inf) replaced by silence"]


def test_cli_reports_the_warning_and_no_internal_error(tmp_path, clip):
    y = clip.copy()
    y[SR, 0] = np.inf
    p = _write(tmp_path, "inf.wav", y)
    exe = Path(sys.executable).parent / "underdog"
    out = subprocess.run([str(exe), "analyze", "-f", "jsonl", str(p)],
                         capture_output=True, text=True, timeout=120)
    assert "internal error" not in out.stdout + out.stderr
    row = json.loads(out.stdout.splitlines()[0])
    assert row["warnings"] == ["1 non-finite sample (NaN or inf) replaced by silence"]
    assert row["loudness_lufs"] is not None
