"""The one analysis pipeline: decode once, then every descriptor from the same arrays.

The CLI, the scanner, the benchmarks and any executor call ``analyze(path)``. Each step
is a pure function on arrays in its own module; this file only wires them together.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Iterable

import numpy as np

from ..audio import ANALYSIS_SR, MIN_DURATION_S, decode_stream, screen_signal
from ..errors import AnalysisError

# Bump when any step's output changes: the library re-analyzes tracks stored with an older one.
ANALYSIS_VERSION = 4

ALL_STEPS = frozenset({"tempo", "loudness", "energy", "key", "sections", "style"})


@dataclass
class TrackAnalysis:
    path: str
    duration_s: float
    bpm: float | None = None
    bpm_confidence: float | None = None
    bpm_candidates: list[tuple[float, float]] = field(default_factory=list)
    beats: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    # Bar starts (s, a subset of beats) and phrase starts (s, a subset of downbeats).
    downbeats: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    phrases: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    loudness_lufs: float | None = None
    loudness_range_lu: float | None = None
    peak_dbfs: float | None = None
    energy: float | None = None
    energy_level: int | None = None
    energy_curve: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    energy_curve_hop_s: float | None = None
    key: str | None = None
    camelot: str | None = None
    key_confidence: float | None = None
    drops: list[dict] = field(default_factory=list)
    buildups: list[dict] = field(default_factory=list)
    intro_end_s: float | None = None
    outro_start_s: float | None = None
    style: dict[str, float] = field(default_factory=dict)
    style_label: str | None = None
    # "audio" (the audio model decided) or "tag" (a specific genre tag decided); set by the caller
    # that knows the tags (the scanner), "audio" otherwise.
    style_source: str | None = None
    # Tempo map: [(start_s, end_s, bpm), ...]; one segment for a steady track. ``bpm`` stays
    # the dominant tempo.
    tempo_segments: list[tuple[float, float, float]] = field(default_factory=list)
    # Things the user should know that did not stop the analysis (one line each), e.g. a
    # file that decodes only partly.
    warnings: list[str] = field(default_factory=list)
    analysis_version: int = ANALYSIS_VERSION

    def to_json(self) -> dict:
        """A JSON-ready dict: arrays become lists, floats are rounded sensibly."""
        out = {}
        for k, v in asdict(self).items():
            out[k] = _jsonable(v)
        return out


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return [round(float(x), 3) for x in v]
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if not math.isfinite(f) else round(f, 4)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def analyze(path: str | os.PathLike, steps: Iterable[str] = ALL_STEPS) -> TrackAnalysis:
    """Decode ``path`` once and run the requested steps. Raises DecodeError/AnalysisError.

    The signal streams: each decoded block goes to the loudness meter (channels, native
    rate) and the spectral front end (mono, ``ANALYSIS_SR``) and is dropped, so memory
    holds the per-frame reductions (~50 MB an hour), never the signal."""
    from .spectral import SpectralStream

    steps = frozenset(steps)
    path = os.fspath(path)
    meter = _meter(steps)
    stream = SpectralStream(ANALYSIS_SR, key_chroma="key" in steps)
    audio = decode_stream(path, stream.push, ANALYSIS_SR,
                          channel_sink=meter.push if meter else None, expect=stream.expect)
    res = _analyze_stream(stream, path, steps, meter)
    res.warnings[:0] = audio.warnings  # decoding's first: what was lost or repaired
    return res


def _meter(steps: frozenset[str]):
    if "loudness" in steps or "energy" in steps:
        from .loudness import LoudnessMeter

        return LoudnessMeter()
    return None


_PUSH = 1 << 16  # samples per push when a whole signal goes through the stream


def analyze_signal(y: np.ndarray, sr: int, path: str = "<signal>",
                   steps: Iterable[str] = ALL_STEPS, meter=None) -> TrackAnalysis:
    """Run the pipeline on a mono float32 signal. ``meter`` carries channel loudness."""
    from .spectral import SpectralStream

    steps = frozenset(steps)
    if len(y) / float(sr) < MIN_DURATION_S:
        _too_short(path, len(y) / float(sr))
    try:  # decode screened its blocks already: this is one cheap pass for other callers
        y, screened = screen_signal(y)
    except ValueError as exc:
        raise AnalysisError(path, str(exc)) from None
    if meter is None and ("loudness" in steps or "energy" in steps):
        meter = _meter(steps)
        meter.push(y[None, :], sr)
    stream = SpectralStream(sr, key_chroma="key" in steps)
    stream.expect(len(y) / float(sr))
    for i in range(0, len(y), _PUSH):  # views: no copy of the signal
        stream.push(y[i:i + _PUSH])
    res = _analyze_stream(stream, path, steps, meter)
    res.warnings[:0] = screened
    return res


def _too_short(path: str, duration_s: float):
    raise AnalysisError(path, f"too short to analyze ({duration_s:.2f} s; need at least "
                              f"{MIN_DURATION_S:.0f} s)")


def _analyze_stream(stream, path: str, steps: frozenset[str], meter) -> TrackAnalysis:
    """Every step, from a spectral stream that has seen the whole (screened) signal and a
    loudness meter that has metered it (None when neither loudness nor energy is asked)."""
    from . import onset

    duration_s = stream.n_samples / float(stream.sr)
    if duration_s < MIN_DURATION_S:
        _too_short(path, duration_s)
    if stream.peak <= 1e-5:
        raise AnalysisError(path, "digital silence: no signal to analyze")
    res = TrackAnalysis(path=path, duration_s=duration_s)
    spec = stream.finish()
    env, bands = onset.onset_bands(spec)
    if "tempo" in steps or steps & {"energy", "sections", "style"}:
        from . import beats, downbeats, tempo

        est = tempo.estimate_tempo(env, spec.fps, bands)
        res.bpm, res.bpm_confidence, res.bpm_candidates = est.bpm, est.confidence, est.candidates
        res.tempo_segments = est.segments
        res.beats = beats.track_beats_segments(env, spec.fps, est.segments)
        res.downbeats, res.phrases = downbeats.bars_and_phrases(spec, env, bands, res.beats)
    del bands  # only tempo and downbeats read them: room for the later steps' arrays
    loud = None
    if "loudness" in steps or "energy" in steps:
        from . import loudness

        loud = meter.result()
        res.loudness_lufs, res.loudness_range_lu, res.peak_dbfs = (
            loud.integrated_lufs, loud.range_lu, loud.peak_dbfs)
    if "energy" in steps:
        from . import energy

        en = energy.describe_energy(spec, env, loud, res.beats, res.bpm)
        res.energy, res.energy_level = en.energy, en.level
        res.energy_curve, res.energy_curve_hop_s = en.curve, en.curve_hop_s
    if "key" in steps:
        from . import key

        k = key.estimate_key(spec.key_chroma if spec.key_chroma is not None else spec.chroma)
        res.key, res.camelot, res.key_confidence = k.name, k.camelot, k.confidence
    if "sections" in steps:
        from . import sections

        sec = sections.find_sections(spec, env, res.beats, res.bpm)
        res.drops, res.buildups = sec.drops, sec.buildups
        res.intro_end_s, res.outro_start_s = sec.intro_end_s, sec.outro_start_s
    if "style" in steps:
        from . import style

        st = style.classify_style(spec, env, res.bpm)
        res.style, res.style_label, res.style_source = st.probs, st.label, "audio"
    return res
