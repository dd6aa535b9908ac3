"""Decode any supported audio file to mono float32 at the analysis rate.

PyAV reads every format (mp3, m4a/aac, flac, ogg vorbis, opus, wav); soundfile is used
for wav/flac where it is faster. A thread decodes a few blocks ahead; each block is
downmixed and resampled as it streams (2:1 by a half-band filter, other ratios by
FFmpeg's resampler) into one growing buffer, so a long file never holds more than the
mono signal plus a few blocks in memory. An optional ``channel_sink`` sees every block at
the native rate before the downmix: loudness needs the channels and the full bandwidth.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterator

import numpy as np

from .errors import DecodeError

ANALYSIS_SR = 22050
AUDIO_EXTENSIONS = frozenset(
    {".mp3", ".m4a", ".aac", ".mp4", ".flac", ".ogg", ".oga", ".opus", ".wav", ".wave"}
)
_SOUNDFILE_EXTENSIONS = frozenset({".wav", ".wave", ".flac"})
_SOUNDFILE_FALLBACK = frozenset({".ogg", ".oga", ".opus", ".mp3"})
_BLOCK = 65536

ChannelSink = Callable[[list[np.ndarray], int], None]
"""Called with each block (one float32 array per channel) at the native rate, before downmix."""


@dataclass
class Audio:
    samples: np.ndarray  # mono float32 at ``sr``
    sr: int
    native_sr: int
    channels: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sr)


def is_audio_path(path: str | os.PathLike) -> bool:
    return os.path.splitext(str(path))[1].lower() in AUDIO_EXTENSIONS


class _Buffer:
    """Growing float32 buffer: one allocation when the length estimate is right."""

    def __init__(self, capacity: int):
        self.data = np.empty(max(capacity, 1024), dtype=np.float32)
        self.n = 0

    def append(self, x: np.ndarray) -> None:
        end = self.n + len(x)
        if end > len(self.data):
            grown = np.empty(max(end, int(len(self.data) * 1.5)), dtype=np.float32)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n:end] = x
        self.n = end

    def result(self) -> np.ndarray:
        if self.n == len(self.data):
            return self.data
        out = self.data[: self.n].copy() if self.n < len(self.data) // 2 else self.data[: self.n]
        return out


def _check_file(path: str) -> int:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise DecodeError(path, exc.strerror or str(exc)) from None
    if os.path.isdir(path):
        raise DecodeError(path, "is a directory")
    if st.st_size == 0:
        raise DecodeError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise DecodeError(path, "permission denied")
    return st.st_size


class _Halver:
    """Streaming 2:1 decimation, equal to scipy's ``resample_poly(x, 1, 2)`` on the whole
    signal: chunks start on even samples and carry ``pad`` samples of context each side."""

    def __init__(self, channels: int):
        self.pad = 64  # even, and >= the filter's half-length
        self.buf = np.zeros((channels, self.pad), np.float32)  # left context: zeros
        self.fir = _halfband_fir()

    def push(self, block: np.ndarray) -> Iterator[np.ndarray]:
        self.buf = np.concatenate([self.buf, block], axis=1)
        yield from self._drain(final=False)

    def flush(self) -> Iterator[np.ndarray]:
        yield from self._drain(final=True)

    def _drain(self, final: bool) -> Iterator[np.ndarray]:
        if final:
            tail = self.buf.shape[1] - self.pad  # no right context will come
            if tail <= 0:
                return
            n = tail + tail % 2
            self.buf = np.pad(self.buf, ((0, 0), (0, n + 2 * self.pad - self.buf.shape[1])))
        else:
            n = (self.buf.shape[1] - 2 * self.pad) // 2 * 2
            if n < _BLOCK:
                return
        count = n // 2 if not final else (tail + 1) // 2
        yield _halve(self.buf[:, : n + 2 * self.pad], self.pad // 2, count, self.fir)
        self.buf = self.buf[:, n:]


class _FFmpegResampler:
    """Any other ratio (48 kHz Opus, 32 kHz, 96 kHz...): FFmpeg's resampler (swr; a
    Kaiser-windowed sinc, delay compensated), streaming."""

    def __init__(self, native_sr: int, sr: int, channels: int):
        from .filtergraph import FilterChain

        self.chain = FilterChain([("aresample", str(sr))], native_sr, channels)

    def push(self, block: np.ndarray) -> Iterator[np.ndarray]:
        yield self.chain.push(block)

    def flush(self) -> Iterator[np.ndarray]:
        yield self.chain.flush()


def _resampler(native_sr: int, sr: int, channels: int):
    if native_sr == 2 * sr:
        return _Halver(channels)
    return _FFmpegResampler(native_sr, sr, channels)


_PLANAR = {"fltp": np.float32, "dblp": np.float64, "s16p": np.int16, "s32p": np.int32}


@lru_cache(maxsize=1)
def _halfband_fir(beta: float = 5.0, half_taps: int = 20) -> np.ndarray:
    """The anti-aliasing filter resample_poly designs for 1:2 (scipy's firwin: a Kaiser
    windowed sinc cut at a quarter of the input rate, unit gain at DC)."""
    m = np.arange(2 * half_taps + 1) - half_taps
    h = 0.5 * np.sinc(0.5 * m) * np.kaiser(len(m), beta)
    return h / h.sum()


def _halve(x: np.ndarray, first: int, count: int, fir: np.ndarray) -> np.ndarray:
    """Outputs ``first .. first + count`` of 2:1 decimation by the half-band ``fir`` (every
    other tap beside the centre is zero), output m centred on input 2m, as scipy's
    ``resample_poly(x, 1, 2)`` aligns it. ``x`` holds the context those outputs read.

    Only the odd-offset taps are non-zero, and they read the odd samples in symmetric
    pairs: ``y[m] = c * x[2m] + sum_k c_k * (odd[m + k] + odd[m - k - 1])``."""
    half = (len(fir) - 1) // 2
    if 2 * first < half or 2 * (first + count - 1) + half >= x.shape[1]:
        raise ValueError("_halve: the chunk lacks context for the outputs asked")
    odd = np.ascontiguousarray(x[:, 1::2])
    y = np.float32(fir[half]) * x[:, 2 * first:2 * (first + count):2]
    tmp = np.empty_like(y)
    for k in range(half // 2):  # tap offset j = 2k + 1
        np.add(odd[:, first + k:first + k + count], odd[:, first - k - 1:first - k - 1 + count],
               out=tmp)
        tmp *= np.float32(fir[half + 2 * k + 1])
        y += tmp
    return y


def _frame_planes(frame, channels: int) -> list[np.ndarray]:
    """A decoded frame as one float32 array per channel, whatever its sample format."""
    dtype = _PLANAR.get(frame.format.name)
    if dtype is np.float32:  # read the planes directly: much cheaper than to_ndarray
        return [np.frombuffer(frame.planes[c], dtype=dtype, count=frame.samples)
                for c in range(channels)]
    if dtype is not None:
        x = np.stack([np.frombuffer(frame.planes[c], dtype=dtype, count=frame.samples)
                      for c in range(channels)])
    else:
        x = frame.to_ndarray()
        if not frame.format.is_planar:
            x = x.reshape(-1, len(frame.layout.channels)).T
    if x.dtype.kind == "i":
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    elif x.dtype.kind == "u":
        x = (x.astype(np.float32) - 128.0) / 128.0
    return list(np.asarray(x[:channels], dtype=np.float32))


def _blocks_soundfile(path: str):
    import soundfile as sf

    info = sf.info(path)
    if info.frames <= 0:
        raise DecodeError(path, "no audio samples (header only)")
    channels = min(info.channels, 2)

    def gen():
        with sf.SoundFile(path) as f:
            while True:
                data = f.read(_BLOCK, dtype="float32", always_2d=True)
                if not len(data):
                    break
                yield list(data.T[:channels])

    return info.samplerate, channels, float(info.frames) / info.samplerate, gen()


def _blocks_pyav(path: str):
    import av

    try:
        container = av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise DecodeError(path, _av_reason(exc)) from None
    if not container.streams.audio:
        container.close()
        raise DecodeError(path, "no audio stream")
    stream = container.streams.audio[0]
    native_sr = int(stream.codec_context.sample_rate or stream.rate or 0)
    channels = min(int(stream.codec_context.channels or 0) or 1, 2)
    if native_sr <= 0:
        container.close()
        raise DecodeError(path, "unknown sample rate")
    dur = None
    if stream.duration is not None and stream.time_base is not None:
        dur = float(stream.duration * stream.time_base)
    elif container.duration:
        dur = container.duration / 1_000_000.0

    def gen():
        decoded = 0
        # Frames are small (Vorbis: ~700 samples); FFmpeg's FIFO joins them in C, and
        # only large blocks become arrays: per-frame conversion costs more than decoding.
        fifo = av.AudioFifo()
        try:
            for frame in container.decode(stream):
                if frame.sample_rate and frame.sample_rate != native_sr:
                    raise DecodeError(path, "sample rate changes mid-stream")
                decoded += frame.samples
                frame.pts = None  # the FIFO checks timestamps are contiguous; we don't
                try:
                    fifo.write(frame)
                except ValueError as exc:  # format or layout changes mid-stream
                    raise DecodeError(path, f"{exc} after {decoded / native_sr:.1f} s") from None
                if fifo.samples >= _BLOCK:
                    yield _frame_planes(fifo.read(_BLOCK), channels)
            while fifo.samples:
                yield _frame_planes(fifo.read(min(fifo.samples, _BLOCK)), channels)
        except av.error.FFmpegError as exc:
            at = decoded / native_sr
            raise DecodeError(path, f"corrupt data after {at:.1f} s: {_av_reason(exc)}") from None
        finally:
            container.close()

    return native_sr, channels, dur, gen()


_END = object()


def _read_ahead(blocks: Iterator, depth: int = 4) -> Iterator:
    """Run the ``blocks`` generator in a thread, up to ``depth`` blocks ahead. FFmpeg and
    libsndfile decode without holding the GIL, so on a second core decoding overlaps the
    metering and resampling of the blocks before. Its errors are raised here, in order."""
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        try:
            for block in blocks:
                if not offer(block):
                    return
            offer(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            offer(exc)
        finally:
            blocks.close()  # the generator closes its file

    worker = threading.Thread(target=produce, name="underdog-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _downmix(block: list[np.ndarray]) -> np.ndarray:
    """(1, n) mono from a block's channel arrays."""
    if len(block) == 1:
        return block[0][None]
    mono = np.add(block[0], block[1])
    mono *= np.float32(0.5)
    return mono[None]


def _av_reason(exc: Exception) -> str:
    msg = getattr(exc, "strerror", None) or str(exc)
    msg = msg.split(":", 1)[0] if "Errno" in msg else msg
    return msg.strip() or exc.__class__.__name__


def decode(path: str | os.PathLike, sr: int = ANALYSIS_SR,
           channel_sink: ChannelSink | None = None) -> Audio:
    """Decode ``path`` to mono float32 at ``sr``.

    ``channel_sink`` (optional) sees each block (a list of channel arrays) at the file's
    native rate, before the downmix. Raises DecodeError naming the file and the reason
    when the file is not readable audio: missing, empty, unknown format, corrupt,
    truncated or silent of samples.
    """
    path = os.fspath(path)
    _check_file(path)
    ext = os.path.splitext(path)[1].lower()
    source = None
    if ext in _SOUNDFILE_EXTENSIONS:
        try:
            source = _blocks_soundfile(path)
        except DecodeError:
            raise
        except Exception:
            source = None  # not a format libsndfile knows: PyAV decides
    if source is None:
        try:
            source = _blocks_pyav(path)
        except DecodeError as first:
            # libsndfile reads some Ogg files FFmpeg's demuxer rejects: a second opinion
            if ext not in _SOUNDFILE_FALLBACK:
                raise
            try:
                source = _blocks_soundfile(path)
            except Exception:
                raise first from None
    native_sr, channels, dur_est, blocks = source
    blocks = _read_ahead(blocks)
    buf = _Buffer(int((dur_est or 300.0) * sr * 1.02) + sr)
    # The sink meters the channels at the native rate; the analysis needs mono only.
    res = None if native_sr == sr else _resampler(native_sr, sr, 1)
    try:
        for block in blocks:
            if channel_sink is not None:
                channel_sink(block, native_sr)
            mono = _downmix(block)
            if res is None:
                buf.append(mono[0])
            else:
                for out in res.push(mono):
                    buf.append(out[0])
        if res is not None:
            for out in res.flush():
                buf.append(out[0])
    except DecodeError:
        raise
    except Exception as exc:  # a library error deep in a block
        raise DecodeError(path, f"{exc.__class__.__name__}: {exc}") from None
    if buf.n == 0:
        raise DecodeError(path, "no audio samples decoded")
    got_s = buf.n / sr
    if dur_est and dur_est - got_s > max(2.0, 0.05 * dur_est):
        raise DecodeError(path, f"truncated: header says {dur_est:.1f} s, decoded {got_s:.1f} s")
    samples = buf.result()
    if not np.isfinite(samples).all():
        samples = np.nan_to_num(samples, copy=False)
    return Audio(samples=samples, sr=sr, native_sr=native_sr, channels=channels)


def load(path: str | os.PathLike, sr: int = ANALYSIS_SR) -> tuple[np.ndarray, int]:
    """Convenience: decode and return ``(samples, sr)`` like librosa.load."""
    a = decode(path, sr)
    return a.samples, a.sr
