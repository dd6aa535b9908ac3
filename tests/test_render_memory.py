"""The render streams: a whole track ten minutes long (a demo track looped, made here) goes
through the render in memory that does not grow with its length. The render runs in a
child process so that its peak RSS is its own; the old driver, which held the whole
excerpt several times over (decoded, levelled, stretched, faded), peaked near 900 MB on it;
with the phase vocoder, which took the whole span at once until 2026-12-02, 1,088 MB."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from .test_render_mix import A, B, grids  # noqa: F401  (session fixture)

MINUTES = 10.0
MAX_RSS_MB = 400  # the whole render's process, numpy, scipy and FFmpeg included

CHILD = """
import json, sys
import numpy as np
from underdog.render.render import read_plan, render
plan, out, grids, method = sys.argv[1:5]
g = np.load(grids)
beats = {p: (g[k + "_beats"], g[k + "_downbeats"]) for k, p in json.loads(g["paths"].item()).items()}
rep = render(read_plan(plan), out, beats_for=beats.__getitem__, cues="none", method=method)
# VmHWM: this process's own peak (ru_maxrss keeps the forking parent's across exec)
hwm = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))
print(json.dumps({"rss_mb": hwm / 1024, "duration_s": rep.duration_s}))
"""


def looped(src: str, dst, minutes: float) -> float:
    """``src`` repeated to ``minutes`` into a 16-bit WAV ``dst``; returns one pass's length (s)."""
    y, sr = sf.read(src, dtype="float32", always_2d=True)
    n = int(minutes * 60 * sr)
    with sf.SoundFile(dst, "w", sr, y.shape[1], "PCM_16") as f:
        for a in range(0, n, len(y)):
            f.write(y[:min(len(y), n - a)])
    return len(y) / sr


@pytest.mark.parametrize("method", ["wsola", "pv"])
def test_long_whole_track_renders_in_bounded_memory(tmp_path, grids, method):  # noqa: F811
    long = tmp_path / "long.wav"
    one = looped(A, long, MINUTES)
    beats, downbeats = grids[A]
    reps = np.arange(int(MINUTES * 60 / one) + 1)[:, None] * one
    lb = (beats[None, beats < one] + reps).ravel()
    ld = (downbeats[None, downbeats < one] + reps).ravel()
    lb, ld = lb[lb < MINUTES * 60 - 1], ld[ld < MINUTES * 60 - 1]
    np.savez(tmp_path / "grids.npz", a_beats=lb, a_downbeats=ld, b_beats=grids[B][0],
             b_downbeats=grids[B][1], paths=json.dumps({"a": str(long), "b": B}))
    # the whole long track at 122 BPM (~4 % over its own), then 8 bars of bass swap into B
    plan = {"entries": [
        {"path": str(long), "tempo_bpm": 122.0},
        {"path": B, "in_s": float(grids[B][1][4]), "out_s": float(grids[B][1][20]),
         "tempo_bpm": 124.0, "transition": {"type": "overlap", "bars": 8, "shape": "bass_swap"}},
    ]}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    out = tmp_path / "mix.flac"
    r = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "plan.json"), str(out),
                        str(tmp_path / "grids.npz"), method], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["duration_s"] > MINUTES * 60 * 0.9
    assert sf.info(out).duration > MINUTES * 60 * 0.9
    print(f"peak RSS {got['rss_mb']:.0f} MB")
    assert got["rss_mb"] <= MAX_RSS_MB, f"peak RSS {got['rss_mb']:.0f} MB"
