"""Stream numpy blocks through a chain of FFmpeg audio filters (via PyAV).

FFmpeg's filters run in C on data PyAV already holds. The loudness meter's K-weighting
biquads and the resampler for ratios other than 2:1 use them: scipy.signal would do the
same work, but importing it costs more than analyzing a whole track.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import av
import numpy as np

_LAYOUTS = {1: "mono", 2: "stereo"}


class FilterChain:
    """``push`` blocks of channels, get the filtered samples back as they come out;
    ``flush`` at the end returns what the filters still hold.

    ``chain`` is a list of ``(filter name, options)``, e.g. ``[("aresample", "22050")]``.
    A block is one float32 array per channel (a list, or the rows of a 2-D array); the
    output is the same, at the rate the chain ends with.
    """

    def __init__(self, chain: list[tuple[str, str]], sr: int, channels: int):
        if channels not in _LAYOUTS:
            raise ValueError(f"FilterChain: {channels} channels (1 or 2 supported)")
        self.sr, self.channels, self._layout = sr, channels, _LAYOUTS[channels]
        self._graph = av.filter.Graph()
        node = self._graph.add_abuffer(sample_rate=sr, format="fltp", layout=self._layout,
                                       time_base=Fraction(1, sr))
        for name, options in chain + [("aformat", "sample_fmts=fltp")]:
            nxt = self._graph.add(name, options)
            node.link_to(nxt)
            node = nxt
        sink = self._graph.add("abuffersink")
        node.link_to(sink)
        self._graph.configure()
        self._pts = 0
        self._done = False

    def push(self, block: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(block) != self.channels:
            raise ValueError(f"FilterChain: got {len(block)} channels, built for "
                             f"{self.channels}")
        n = len(block[0])
        if n == 0:
            return self._empty()
        frame = av.AudioFrame(format="fltp", layout=self._layout, samples=n)
        for c, x in enumerate(block):  # copy straight into FFmpeg's planes
            np.frombuffer(frame.planes[c], np.float32, n)[:] = x
        frame.sample_rate = self.sr
        frame.time_base = Fraction(1, self.sr)
        frame.pts = self._pts
        self._pts += n
        self._graph.push(frame)
        return self._pull()

    def flush(self) -> list[np.ndarray]:
        if self._done:
            return self._empty()
        self._done = True
        self._graph.push(None)
        return self._pull()

    def _empty(self) -> list[np.ndarray]:
        return [np.zeros(0, np.float32) for _ in range(self.channels)]

    def _pull(self) -> list[np.ndarray]:
        frames = []
        while True:
            try:
                frames.append(self._graph.pull())
            except (av.error.BlockingIOError, av.error.EOFError):
                break
        if not frames:
            return self._empty()
        # views on FFmpeg's buffers (they live as long as the arrays do)
        planes = [[np.frombuffer(f.planes[c], np.float32, f.samples) for f in frames]
                  for c in range(self.channels)]
        return [p[0] if len(p) == 1 else np.concatenate(p) for p in planes]
