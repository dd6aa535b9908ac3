"""The one analysis pipeline: decode once, then every descriptor from the same arrays.

The CLI, the scanner, the benchmarks and any executor call ``analyze(path)``. Each step
is a pure function on arrays in its own module; this file only wires them together.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import MappingProxyType
from typing import Iterable, Mapping

import numpy as np

from .. import fields
from ..audio import ANALYSIS_SR, MIN_DURATION_S, decode_stream, screen_signal
from ..errors import AnalysisError
from ..fields import ANALYSIS, record


@dataclass(frozen=True)
class Analyser:
    """One analysis step, versioned on its own (as Mixxx versions each analyser).

    ``needs``: the analysers whose outputs it reads, so a new version of one of them makes
    it stale too. ``decodes``: whether re-running it means decoding the audio again; False
    when it re-runs from what the library keeps (the style model from stored features).
    """

    name: str
    version: int
    needs: tuple[str, ...] = ()
    decodes: bool = True


# Bump an analyser's version when its output changes: a scan re-runs it (and the analysers
# that need it) on tracks stored with another version, and nothing else.
ANALYSERS: tuple[Analyser, ...] = (
    Analyser("tempo", 1),  # bpm, tempo map, beats, bars, phrases
    Analyser("loudness", 1),
    Analyser("energy", 1, needs=("tempo", "loudness")),
    Analyser("key", 1),
    Analyser("sections", 1, needs=("tempo",)),
    Analyser("style_features", 1),  # the per-window descriptors the style model reads
    Analyser("style", 1, needs=("style_features",), decodes=False),  # the model
    Analyser("identity", 1),  # the sound print: one recording in two files
    Analyser("beat_clarity", 2, needs=("tempo",)),  # how clearly each beat is the beat
)
VERSIONS: Mapping[str, int] = MappingProxyType({a.name: a.version for a in ANALYSERS})
ALL_STEPS = frozenset(VERSIONS)
_BY_NAME = {a.name: a for a in ANALYSERS}


def stale_analysers(stored: Mapping[str, int] | None,
                    current: Mapping[str, int] = VERSIONS) -> frozenset[str]:
    """The analysers to re-run on a track whose outputs were made by ``stored`` versions.

    Pure (Mixxx's ``shouldAnalyze``, for all analysers at once): an analyser is stale when
    its stored version differs from ``current`` (or is absent), or when an analyser it
    needs is stale.

    Parameters
    ----------
    stored : mapping of str to int, or None
        {analyser: version} of the outputs a track holds (None: nothing analyzed).
    current : mapping of str to int
        The versions to bring it to (default ``VERSIONS``).

    Returns
    -------
    frozenset of str
        The analysers to run; empty when the stored analysis is current.
    """
    stored = stored or {}
    stale = {n for n, v in current.items() if stored.get(n) != v}
    grew = True
    while grew:
        more = {a.name for a in ANALYSERS if a.name in current and a.name not in stale
                and any(n in stale for n in a.needs)}
        grew = bool(more)
        stale |= more
    return frozenset(stale)


def needs_decode(analysers: Iterable[str]) -> bool:
    """Whether re-running ``analysers`` decodes the audio (an unknown name does)."""
    return any(_BY_NAME[n].decodes if n in _BY_NAME else True for n in analysers)


@record(ANALYSIS)
class TrackAnalysis:
    """What the pipeline returns for one file. Its fields are declared in
    ``underdog.fields.FIELDS`` (those on ANALYSIS): ``TrackAnalysis(path, duration_s, ...)``;
    ``analysers`` holds the version of each analyser that ran (every current one, for an
    analysis made by hand)."""

    def __post_init__(self) -> None:
        if not self.analysers:
            self.analysers = dict(VERSIONS)

    def to_json(self) -> dict:
        """A JSON-ready dict: arrays become lists, floats are rounded sensibly."""
        return fields.to_json(self, ANALYSIS)


def analyze(path: str | os.PathLike, steps: Iterable[str] = ALL_STEPS,
            grid: tuple[float | None, np.ndarray] | None = None) -> TrackAnalysis:
    """Decode an audio file once and run the requested analysers on it.

    The signal streams: each decoded block goes to the loudness meter (channels, native
    rate) and the spectral front end (mono, ``ANALYSIS_SR`` = 22050 Hz) and is dropped, so
    memory holds the per-frame reductions (~50 MB an hour of audio), never the signal.

    Parameters
    ----------
    path : str or os.PathLike
        An audio file any format PyAV decodes (at least ``MIN_DURATION_S`` seconds long).
    steps : iterable of str
        Analyser names from ``ANALYSERS`` (default: all). energy and sections compute the
        beat grid as their input even when tempo is not asked (unless ``grid`` gives
        it); "style" implies "style_features".
    grid : (bpm, beats) or None
        The track's known tempo (BPM, or None) and beat times (s, shape (n_beats,)), as
        the library stores them: energy and sections read these instead of running the
        tempo step when it is not asked (their re-run after a new version of theirs).

    Returns
    -------
    TrackAnalysis
        The outputs of the steps that ran (the others keep their defaults: None or empty);
        times in seconds, tempo in BPM, loudness in LUFS/LU/dBFS, energy 0..1, arrays as
        float32 of shape (n,): ``beats``, ``downbeats``, ``phrases`` (event times, s),
        ``energy_curve`` (one value a bar, ``energy_curve_hop_s`` apart);
        ``style_features`` of shape (n_windows, len(style.FEATURE_NAMES)).
        ``analysers`` maps each analyser that ran to its version.

    Raises
    ------
    DecodeError
        The file cannot be read or decoded.
    AnalysisError
        Too short, digital silence, or not a finite signal.
    """
    from .spectral import SpectralStream

    steps = frozenset(steps)
    path = os.fspath(path)
    meter = _meter(steps)
    stream = SpectralStream(ANALYSIS_SR, key_chroma="key" in steps)
    audio = decode_stream(path, stream.push, ANALYSIS_SR,
                          channel_sink=meter.push if meter else None, expect=stream.expect)
    res = _analyze_stream(stream, path, steps, meter, grid)
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
    """Run the analysers on a signal already in memory (tests, benchmarks, render).

    Parameters
    ----------
    y : np.ndarray [shape=(n,), float32]
        Mono signal, full scale ±1.
    sr : int > 0
        Its sample rate (Hz); the spectral front end works at this rate.
    path : str
        A name for messages.
    steps : iterable of str
        As for :func:`analyze`.
    meter : LoudnessMeter or None
        A meter that has already measured the original channels; None meters ``y``
        itself, as one channel (when loudness or energy is asked).

    Returns
    -------
    TrackAnalysis
        As :func:`analyze`.
    """
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


def _analyze_stream(stream, path: str, steps: frozenset[str], meter,
                    grid: tuple[float | None, np.ndarray] | None = None) -> TrackAnalysis:
    """Every step, from a spectral stream that has seen the whole (screened) signal and a
    loudness meter that has metered it (None when neither loudness nor energy is asked);
    ``grid``: a known (bpm, beats) for energy and sections when tempo is not asked."""
    from . import onset

    duration_s = stream.n_samples / float(stream.sr)
    if duration_s < MIN_DURATION_S:
        _too_short(path, duration_s)
    if stream.peak <= 1e-5:
        raise AnalysisError(path, "digital silence: no signal to analyze")
    res = TrackAnalysis(path=path, duration_s=duration_s)
    spec = stream.finish()
    env, bands = onset.onset_bands(spec)
    if grid is not None and "tempo" not in steps:
        res.bpm, res.beats = grid[0], np.asarray(grid[1], dtype=np.float32)
    elif "tempo" in steps or steps & {"energy", "sections", "beat_clarity"}:
        from . import beats, downbeats, tempo

        est = tempo.estimate_tempo(env, spec.fps, bands)
        res.bpm, res.bpm_confidence, res.bpm_candidates = est.bpm, est.confidence, est.candidates
        res.tempo_segments = est.segments
        res.beats = beats.track_beats_segments(env, spec.fps, est.segments)
        res.downbeats, res.phrases = downbeats.bars_and_phrases(spec, env, bands, res.beats)
    if "beat_clarity" in steps:
        from . import beat_clarity

        res.beat_clarity = beat_clarity.to_bytes(
            beat_clarity.beat_clarity(env, spec.fps, np.asarray(res.beats, np.float64)))
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
    if "identity" in steps:
        from . import identity

        res.identity = identity.sound_print(spec.mel)
    if steps & {"style", "style_features"}:
        from . import style

        res.style_features = style.style_features(spec, env)
        if "style" in steps:
            st = style.classify_features(res.style_features)
            res.style, res.style_label, res.style_source = st.probs, st.label, "audio"
    ran = steps | ({"style_features"} if "style" in steps else set())
    res.analysers = {n: VERSIONS[n] for n in VERSIONS if n in ran}
    return res
