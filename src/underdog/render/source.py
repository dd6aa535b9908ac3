"""Read a span of a track as stereo float32 at the mix rate (seek, decode, resample).

The analysis decoder (``underdog.audio``) makes mono at 22,050 Hz; a mix needs the channels
at full bandwidth. This reads only ``[in_s, out_s)``: PyAV seeks near ``in_s``, decodes,
and FFmpeg's resampler turns any rate and layout into stereo at ``sr``; samples before
``in_s`` (a seek lands on a packet boundary before it) are dropped by timestamp.
"""

from __future__ import annotations

import os

import av
import numpy as np

from ..audio import _av_reason
from ..errors import DecodeError

MIX_SR = 44100


def read_span(path: str | os.PathLike, in_s: float = 0.0, out_s: float | None = None,
              sr: int = MIX_SR) -> np.ndarray:
    """``path`` from ``in_s`` to ``out_s`` (s, track time; ``None``: to the end) as a
    (2, n) float32 array at ``sr`` Hz. A span past the end comes back shorter.

    Raises DecodeError when the file cannot be opened or holds no audio."""
    path = os.fspath(path)
    in_s = max(0.0, float(in_s))
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise DecodeError(path, _av_reason(exc) if isinstance(exc, av.error.FFmpegError)
                          else str(exc)) from None
    try:
        if not container.streams.audio:
            raise DecodeError(path, "no audio stream")
        stream = container.streams.audio[0]
        if in_s > 1.0:
            try:  # lands on a packet at or before in_s; timestamps say where exactly
                # 2 s early: the first frames after a seek decode without their
                # predecessors (MP3's bit reservoir, AAC's overlap) and are dropped
                container.seek(int((in_s - 2.0) * av.time_base), any_frame=False,
                               backward=True)
            except av.error.FFmpegError:
                container.seek(0)
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=sr)
        first = int(round(in_s * sr))
        last = None if out_s is None else int(round(float(out_s) * sr))
        want = None if last is None else max(0, last - first)
        parts: list[np.ndarray] = []
        got = 0
        pos = None  # output-rate sample index of the next resampled sample
        # track time 0 is the first decoded sample (the stream's start time, e.g. an
        # MP3's encoder delay, is not audio time)
        start = stream.start_time if stream.start_time is not None else 0
        for frame in _frames(container, stream, path):
            if pos is None:
                pos = (int(round(float((frame.pts - start) * frame.time_base) * sr))
                       if frame.pts is not None else 0)
            for out in resampler.resample(frame):
                got, pos = _take(out, parts, pos, first, want, got)
            if want is not None and got >= want:
                break
        else:
            for out in resampler.resample(None):
                got, pos = _take(out, parts, pos or 0, first, want, got)
    except av.error.FFmpegError as exc:
        raise DecodeError(path, _av_reason(exc)) from None
    finally:
        container.close()
    if not parts:
        return np.zeros((2, 0), np.float32)
    y = np.concatenate(parts, axis=1)
    return y if want is None else y[:, :want]


def _frames(container, stream, path: str):
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError:
            continue  # a damaged packet: skipped, as the analysis decoder does


def _take(out, parts: list, pos: int, first: int, want: int | None, got: int):
    n = out.samples
    a = np.stack([np.frombuffer(out.planes[c], np.float32, n) for c in range(2)])
    lo = max(0, first - pos)
    if lo < n:
        a = a[:, lo:]
        if want is not None:
            a = a[:, :max(0, want - got)]
        if a.shape[1]:
            parts.append(a.copy())
            got += a.shape[1]
    return got, pos + n
