"""Read a span of a track as stereo float32 at the mix rate (seek, decode, resample).

The analysis decoder (``underdog.audio``) makes mono at 22,050 Hz; a mix needs the channels
at full bandwidth. This reads only ``[in_s, out_s)``: PyAV seeks near ``in_s``, decodes,
and FFmpeg's resampler turns any rate and layout into stereo at ``sr``; samples before
``in_s`` (a seek lands on a packet boundary before it) are dropped by timestamp.
``iter_span`` gives the same samples a decoded frame at a time, and ``Spill`` keeps them in
a temporary file to be read back in pieces, so a long span never sits in memory whole.
"""

from __future__ import annotations

import itertools
import os
from typing import Callable, Iterable, Iterator

import av
import numpy as np

from ..audio import av_reason
from ..errors import DecodeError

MIX_SR = 44100


def read_span(path: str | os.PathLike, in_s: float = 0.0, out_s: float | None = None,
              sr: int = MIX_SR) -> np.ndarray:
    """``path`` from ``in_s`` to ``out_s`` (s, track time; ``None``: to the end) as a
    (2, n) float32 array at ``sr`` Hz. A span past the end comes back shorter.

    Raises DecodeError when the file cannot be opened or holds no audio."""
    parts = list(iter_span(path, in_s, out_s, sr))
    return np.concatenate(parts, axis=1) if parts else np.zeros((2, 0), np.float32)


def iter_span(path: str | os.PathLike, in_s: float = 0.0, out_s: float | None = None,
              sr: int = MIX_SR) -> Iterator[np.ndarray]:
    """:func:`read_span` a decoded frame at a time: (2, k) float32 pieces which, put
    together, are what it returns. Raises DecodeError on the first ``next`` (cannot open)
    or where the stream breaks."""
    path = os.fspath(path)
    in_s = max(0.0, float(in_s))
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        first_error = DecodeError(path, av_reason(exc) if isinstance(exc, av.error.FFmpegError)
                                  else str(exc))
        # libsndfile reads some Ogg files FFmpeg's demuxer rejects (the analysis decoder
        # takes the same second opinion, so they are in the library)
        pieces = _span_soundfile(path, in_s, out_s, sr)
        try:
            head = next(pieces, None)
        except Exception:
            raise first_error from None
        if head is not None:
            yield head
            yield from pieces
        return
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
        got = 0
        pos = None  # output-rate sample index of the next resampled sample
        # track time 0 is the first decoded sample (the stream's start time, e.g. an
        # MP3's encoder delay, is not audio time)
        start = stream.start_time if stream.start_time is not None else 0
        frames = _frames(container, stream, path)
        if in_s > 1.0:  # after a seek: count from a frame whose timestamp the next confirms
            frames = _confirmed(frames, stream)
        for frame in frames:
            if pos is None:
                pos = (int(round(float((frame.pts - start) * frame.time_base) * sr))
                       if frame.pts is not None else 0)
            for out in resampler.resample(frame):
                a, pos = _take(out, pos, first, want, got)
                if a is not None:
                    got += a.shape[1]
                    yield a
            if want is not None and got >= want:
                break
        else:
            for out in resampler.resample(None):
                a, pos = _take(out, pos or 0, first, want, got)
                if a is not None:
                    got += a.shape[1]
                    yield a
    except av.error.FFmpegError as exc:
        raise DecodeError(path, av_reason(exc)) from None
    finally:
        container.close()


class Spill:
    """A decoded span kept in an anonymous temporary file (interleaved float32), read back
    a window at a time: an excerpt is decoded once and then levelled, measured and
    stretched in pieces, so memory does not grow with its length.

    Acts as a (2, n) float32 array for ``shape`` and ``[:, a:b]`` slicing (what the level
    meters read), with ``gains`` (linear, applied one after the other as float32
    multiplies) on every read."""

    def __init__(self, pieces: Iterable[np.ndarray], block: int = 65536,
                 on_block: Callable[[np.ndarray], None] | None = None):
        """Write ``pieces`` ((2, k) float32) to the file; ``on_block`` sees the span in
        consecutive ``block``-sample blocks from its start as they are written."""
        import tempfile

        self._f = tempfile.TemporaryFile()
        self.n = 0
        self.gains: tuple[float, ...] = ()
        pend: list[np.ndarray] = []
        n_pend = 0
        try:
            for a in pieces:
                pend.append(a)
                n_pend += a.shape[1]
                if n_pend >= block:
                    y = np.concatenate(pend, axis=1)
                    k = y.shape[1] // block * block
                    self._write(y[:, :k], block, on_block)
                    pend, n_pend = [y[:, k:]], y.shape[1] - k
            if n_pend:
                self._write(np.concatenate(pend, axis=1), block, on_block)
        except BaseException:
            self.close()
            raise

    def _write(self, y: np.ndarray, block: int, on_block) -> None:
        if on_block is not None:
            for i in range(0, y.shape[1], block):
                on_block(y[:, i:i + block])
        self._f.write(np.ascontiguousarray(y.T).data)
        self.n += y.shape[1]

    @property
    def shape(self) -> tuple[int, int]:
        return (2, self.n)

    def read(self, a: int, b: int) -> np.ndarray:
        """Samples ``a`` to ``b`` (may reach outside the span: zeros there), gains applied:
        (2, b - a) float32."""
        y = np.empty((2, max(0, b - a)), np.float32)
        lo, hi = max(a, 0), min(b, self.n)
        y[:, :max(0, min(lo, b) - a)] = 0.0
        y[:, max(0, max(hi, a) - a):] = 0.0
        if lo < hi:
            buf = np.empty((hi - lo, 2), np.float32)
            self._f.seek(lo * 8)
            if self._f.readinto(buf.data) != buf.nbytes:
                raise OSError("the temporary file of a decoded span came back short")
            y[:, lo - a:hi - a] = buf.T
        for g in self.gains:
            y *= np.float32(g)
        return y

    def __getitem__(self, key) -> np.ndarray:
        rows, cols = key
        if rows != slice(None) or not isinstance(cols, slice) or cols.step not in (None, 1):
            raise TypeError("a Spill reads [:, a:b] only")
        a, b, _ = cols.indices(self.n)
        return self.read(a, max(a, b))

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "Spill":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _frames(container, stream, path: str):
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError:
            continue  # a damaged packet: skipped, as the analysis decoder does


def _span_soundfile(path: str, in_s: float, out_s: float | None, sr: int
                    ) -> Iterator[np.ndarray]:
    """:func:`iter_span` through libsndfile: seek to ``in_s`` (exact, by sample), read
    blocks, and resample them to stereo at ``sr`` with FFmpeg's resampler."""
    import soundfile as sf

    with sf.SoundFile(path) as f:
        native = f.samplerate
        a = min(int(round(in_s * native)), f.frames)
        n = f.frames - a if out_s is None else max(0, min(f.frames, int(round(out_s * native))) - a)
        f.seek(a)
        want = None if out_s is None else max(0, int(round(out_s * sr)) - int(round(in_s * sr)))
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=sr)
        got = 0
        blocks = f.blocks(blocksize=65536, frames=n, dtype="float32", always_2d=True)
        for block in itertools.chain(blocks, [None]):  # None: flush the resampler
            frame = None
            if block is not None:
                x = block.T if block.shape[1] != 1 else np.repeat(block.T, 2, axis=0)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[:2]),
                                                   format="fltp", layout="stereo")
                frame.sample_rate = native
            for out in resampler.resample(frame):
                y = out.to_ndarray()
                y = y if want is None else y[:, :max(0, want - got)]
                got += y.shape[1]
                if y.shape[1]:
                    yield y


def _confirmed(frames, stream):
    """``frames`` from the first one whose timestamp the next frame confirms (its pts plus
    its length is the next one's pts). After a seek, every later sample's place is counted
    from the first frame's timestamp, and that one can be off: FFmpeg's Vorbis decoder
    stamps a frame at a block-size change 448 samples late, so an excerpt read from there
    played 10.2 ms away from where a full decode (the analysis's beats) has it."""
    it = iter(frames)
    prev = None
    for f in it:
        if prev is not None and _follows(prev, f, stream.time_base):
            yield prev
            yield f
            yield from it
            return
        prev = f
    if prev is not None:  # never confirmed (one frame, or no timestamps): as it is
        yield prev


def _follows(a, b, time_base) -> bool:
    if a.pts is None or b.pts is None or not a.sample_rate:
        return False
    return abs(float((b.pts - a.pts) * time_base) * a.sample_rate - a.samples) < 1.0


def _take(out, pos: int, first: int, want: int | None, got: int):
    """(the part of resampled frame ``out`` inside the span as a fresh (2, k) array or
    None, the sample index after ``out``)."""
    n = out.samples
    a = out.to_ndarray()  # fltp stereo: (2, n) float32
    lo = max(0, first - pos)
    if lo < n:
        a = a[:, lo:]
        if want is not None:
            a = a[:, :max(0, want - got)]
        if a.shape[1]:
            return a.copy(), pos + n
    return None, pos + n
