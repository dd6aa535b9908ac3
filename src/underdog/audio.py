"""Decode any supported audio file to mono float32 at the analysis rate.

PyAV reads every format (mp3, m4a/aac, flac, ogg vorbis, opus, wav); soundfile is used
for wav/flac where it is faster. Files are decoded in blocks into one growing buffer, so
a long file never holds more than the mono signal plus one block in memory. An optional
``channel_sink`` sees every block before the downmix (loudness needs the channels).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from .errors import DecodeError

ANALYSIS_SR = 22050
AUDIO_EXTENSIONS = frozenset(
    {".mp3", ".m4a", ".aac", ".mp4", ".flac", ".ogg", ".oga", ".opus", ".wav", ".wave"}
)
_SOUNDFILE_EXTENSIONS = frozenset({".wav", ".wave", ".flac"})
_BLOCK = 65536

ChannelSink = Callable[[np.ndarray, int], None]
"""Called with each (channels, n) float32 block at the analysis rate, before downmix."""


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


class _Resampler:
    """Stateful resample to ``sr`` keeping up to two channels (libswresample)."""

    def __init__(self, native_sr: int, channels: int, sr: int):
        import av

        self.layout = "stereo" if channels > 1 else "mono"
        self.native_sr = native_sr
        self._av = av
        self._res = av.AudioResampler(format="fltp", layout=self.layout, rate=sr)
        self._pts = 0

    def push_frame(self, frame) -> Iterator[np.ndarray]:
        for out in self._res.resample(frame):
            yield out.to_ndarray()

    def push_array(self, block: np.ndarray) -> Iterator[np.ndarray]:
        frame = self._av.AudioFrame.from_ndarray(
            np.ascontiguousarray(block, dtype=np.float32), format="fltp", layout=self.layout
        )
        frame.sample_rate = self.native_sr
        frame.pts = self._pts
        self._pts += block.shape[1]
        yield from self.push_frame(frame)

    def flush(self) -> Iterator[np.ndarray]:
        for out in self._res.resample(None):
            yield out.to_ndarray()


def _blocks_soundfile(path: str, sr: int):
    import soundfile as sf

    info = sf.info(path)
    if info.frames <= 0:
        raise DecodeError(path, "no audio samples (header only)")
    channels = min(info.channels, 2)

    def gen():
        res = None if info.samplerate == sr else _Resampler(info.samplerate, channels, sr)
        with sf.SoundFile(path) as f:
            while True:
                data = f.read(_BLOCK, dtype="float32", always_2d=True)
                if not len(data):
                    break
                block = data.T[:channels]
                if res is None:
                    yield block
                else:
                    yield from res.push_array(block)
        if res is not None:
            yield from res.flush()

    return info.samplerate, channels, float(info.frames) / info.samplerate, gen()


def _blocks_pyav(path: str, sr: int):
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
        res = _Resampler(native_sr, channels, sr)
        decoded = 0
        try:
            for frame in container.decode(stream):
                decoded += frame.samples
                yield from res.push_frame(frame)
            yield from res.flush()
        except av.error.FFmpegError as exc:
            at = decoded / native_sr
            raise DecodeError(path, f"corrupt data after {at:.1f} s: {_av_reason(exc)}") from None
        finally:
            container.close()

    return native_sr, channels, dur, gen()


def _av_reason(exc: Exception) -> str:
    msg = getattr(exc, "strerror", None) or str(exc)
    msg = msg.split(":", 1)[0] if "Errno" in msg else msg
    return msg.strip() or exc.__class__.__name__


def decode(path: str | os.PathLike, sr: int = ANALYSIS_SR,
           channel_sink: ChannelSink | None = None) -> Audio:
    """Decode ``path`` to mono float32 at ``sr``.

    ``channel_sink`` (optional) sees each (channels, n) block at ``sr`` before the
    downmix. Raises DecodeError naming the file and the reason when the file is not
    readable audio: missing, empty, unknown format, corrupt, truncated or silent of
    samples.
    """
    path = os.fspath(path)
    _check_file(path)
    ext = os.path.splitext(path)[1].lower()
    source = None
    if ext in _SOUNDFILE_EXTENSIONS:
        try:
            source = _blocks_soundfile(path, sr)
        except DecodeError:
            raise
        except Exception:
            source = None  # not a format libsndfile knows: PyAV decides
    if source is None:
        source = _blocks_pyav(path, sr)
    native_sr, channels, dur_est, blocks = source
    buf = _Buffer(int((dur_est or 300.0) * sr * 1.02) + sr)
    try:
        for block in blocks:
            if channel_sink is not None:
                channel_sink(block, sr)
            buf.append(block[0] if block.shape[0] == 1 else 0.5 * (block[0] + block[1]))
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
