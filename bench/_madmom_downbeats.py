"""Runs madmom's downbeat tracker (bench only: its models are non-commercial) in its own venv.

Reads file paths on stdin, prints one JSON line per file: downbeats, beats, elapsed wall
and CPU seconds.
RNNDownBeatProcessor + DBNDownBeatTrackingProcessor (3/4 and 4/4 bars), madmom's defaults.
"""

import builtins
import collections
import collections.abc
import json
import os
import sys
import time

import numpy as np

collections.MutableSequence = collections.abc.MutableSequence
for _name in ("float", "int", "complex", "bool"):
    if not hasattr(np, _name):
        setattr(np, _name, getattr(builtins, _name))

import madmom.features.downbeats as _mdb  # noqa: E402
from madmom.features.downbeats import (  # noqa: E402
    DBNDownBeatTrackingProcessor,
    RNNDownBeatProcessor,
)


class _Numpy:
    """numpy for madmom's downbeat module, except that ``asarray`` of its list of
    (path, log-probability) pairs, one per meter, makes an object array: NumPy >= 1.24
    refuses the ragged array that madmom 0.16.1 builds there."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def asarray(a, *args, **kwargs):
        if isinstance(a, list) and a and isinstance(a[0], tuple):
            out = np.empty((len(a), len(a[0])), dtype=object)
            for i, row in enumerate(a):
                for j, v in enumerate(row):
                    out[i, j] = v
            return out
        return np.asarray(a, *args, **kwargs)


_mdb.np = _Numpy()


def _cpu() -> float:
    """CPU seconds of this process and its waited-for children (madmom's ffmpeg decoder)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


rnn = RNNDownBeatProcessor()
dbn = DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100)

# Read every path first: madmom's ffmpeg loader inherits stdin (see _madmom_worker.py).
for path in sys.stdin.read().splitlines():
    if not path:
        continue
    t, c = time.perf_counter(), _cpu()
    try:
        out = dbn(rnn(path))
    except Exception as exc:  # one file must not end the run
        print(json.dumps({"path": path, "error": f"{exc.__class__.__name__}: {exc}"}), flush=True)
        continue
    out = np.asarray(out).reshape(-1, 2)
    print(json.dumps({"path": path, "beats": [float(b) for b in out[:, 0]],
                      "downbeats": [float(b) for b, p in out if int(p) == 1],
                      "elapsed": time.perf_counter() - t, "cpu": _cpu() - c}),
          flush=True)
