"""Runs madmom (bench only: its models are non-commercial) in its own venv.

Reads file paths on stdin, prints one JSON line per file: bpm, beats, elapsed seconds.
madmom 0.16.1 predates Python 3.10/NumPy 1.24, so two removed aliases are restored first.
"""

import builtins
import collections
import collections.abc
import json
import sys
import time

import numpy as np

collections.MutableSequence = collections.abc.MutableSequence
for _name in ("float", "int", "complex", "bool"):
    if not hasattr(np, _name):
        setattr(np, _name, getattr(builtins, _name))

from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor  # noqa: E402
from madmom.features.tempo import TempoEstimationProcessor  # noqa: E402

rnn = RNNBeatProcessor()
tempo = TempoEstimationProcessor(fps=100)
dbn = DBNBeatTrackingProcessor(fps=100)

# Read every path before the first file: madmom's ffmpeg loader inherits stdin and would
# swallow the paths still waiting in the pipe.
for path in sys.stdin.read().splitlines():
    if not path:
        continue
    t = time.perf_counter()
    try:
        act = rnn(path)
        bpm = float(tempo(act)[0][0])
        beats = dbn(act)
    except Exception as exc:  # one file must not end the run
        print(json.dumps({"path": path, "error": f"{exc.__class__.__name__}: {exc}"}), flush=True)
        continue
    out = {"path": path, "bpm": bpm, "beats": [float(b) for b in beats],
           "elapsed": time.perf_counter() - t}
    print(json.dumps(out), flush=True)
