"""Decode any supported audio file to mono float32 at the analysis rate.

PyAV reads every format (mp3, m4a/aac, flac, ogg vorbis, opus, wav, aiff); soundfile is used
for wav/flac where it is faster. A thread decodes a few blocks ahead; each block is
downmixed and resampled as it streams (2:1 by a half-band filter, other ratios by
FFmpeg's resampler) and handed on block by block (``decode_stream``: the analysis never
holds the signal) or gathered into one growing buffer (``decode``). An optional ``channel_sink`` sees every block at
the native rate before the downmix: loudness needs the channels and the full bandwidth.

Decoding is tolerant: a packet the codec rejects is skipped, a decoder or demuxer that
stops early ends the stream there, and whatever decoded is analyzed, with one-line
warnings (``Audio.warnings``) saying what was lost. Only a file from which less than
``MIN_DURATION_S`` decodes is refused (see ``decode``). Every block is screened before
anyone sees it: NaN and inf become silence, samples far outside [-1, 1] are levelled,
both with a warning; an absurd sample rate is refused.
"""

from __future__ import annotations

import os
import queue
import threading
import math
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterator, NamedTuple

import numpy as np

from .errors import DecodeError

ANALYSIS_SR = 22050
AUDIO_EXTENSIONS = frozenset(
    {".mp3", ".m4a", ".aac", ".mp4", ".flac", ".ogg", ".oga", ".opus", ".wav", ".wave",
     ".aiff", ".aif", ".aifc"}
)
_SOUNDFILE_EXTENSIONS = frozenset({".wav", ".wave", ".flac"})
_SOUNDFILE_FALLBACK = frozenset({".ogg", ".oga", ".opus", ".mp3"})
_BLOCK = 65536
# Shorter than this is too little to analyze (no tempo, no loudness gate): the analysis
# refuses it, and so does a damaged file from which no more than this decodes.
MIN_DURATION_S = 2.0
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 768000
# |sample| above this (+60 dBFS) is no level a real float file has (float mixes overshoot
# by a few dB): the block is levelled, before its squares overflow float32 (at ~1.8e19).
LEVEL_LIMIT = 1000.0
_MAX_BAD_PACKETS = 100  # undecodable packets in a row before the rest is given up
_MAX_PREALLOC_S = 3600.0  # a header's length is not trusted beyond this for allocation

ChannelSink = Callable[[list[np.ndarray], int], None]
"""Called with each block (one float32 array per channel) at the native rate, before downmix."""
MonoSink = Callable[[np.ndarray], None]
"""Called with each consecutive block of the mono signal at the analysis rate."""


@dataclass
class Audio:
    samples: np.ndarray  # mono float32 at ``sr``
    sr: int
    native_sr: int
    channels: int
    # One line each: what decoding lost or repaired (truncation, skipped packets, NaN...)
    warnings: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sr)


@dataclass
class Decoded:
    """What ``decode_stream`` decoded: its length and what was lost, not the samples."""

    sr: int
    native_sr: int
    channels: int
    n_samples: int  # mono samples at ``sr`` handed to the sink
    warnings: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.n_samples / float(self.sr)


def is_audio_path(path: str | os.PathLike) -> bool:
    return os.path.splitext(str(path))[1].lower() in AUDIO_EXTENSIONS


@dataclass
class _Report:
    """What the decoding thread saw, read once the last block is consumed."""

    stopped: str | None = None  # why decoding ended before the end of the file
    skipped: int = 0  # packets the codec rejected
    skipped_first_s: float = 0.0
    skipped_last_s: float = 0.0

    def skip(self, at_s: float) -> None:
        if not self.skipped:
            self.skipped_first_s = at_s
        self.skipped += 1
        self.skipped_last_s = at_s


class _Source(NamedTuple):
    native_sr: int
    channels: int
    stated_s: float | None  # the length the header states (or FFmpeg's estimate of it)
    blocks: Iterator[list[np.ndarray]]
    # The header states the length exactly (WAV, FLAC, MP4, MP3 with a Xing/Info/VBRI
    # frame), so a shorter decode means lost audio; otherwise it may be an estimate.
    exact_length: bool
    report: _Report


class _Screen:
    """Per-block numeric screening: finite samples within ``LEVEL_LIMIT`` pass untouched
    (two reductions per channel); NaN/inf become 0, and a block beyond the limit sets a
    gain, the power of ten nearest to 1/peak, that brings it (and every later block) to a
    peak in [0.32, 3.2): a float file written ×1e20 is read as the signal it was."""

    def __init__(self) -> None:
        self.samples = 0
        self.nonfinite = 0
        self.gain = 1.0
        self.peak = 0.0  # largest finite |sample| seen since levelling began

    def block(self, block: list[np.ndarray]) -> list[np.ndarray]:
        self.samples += sum(len(c) for c in block)
        # numpy's min/max propagate NaN, and every comparison with NaN is False
        if self.gain == 1.0 and all(-LEVEL_LIMIT <= float(c.min()) and float(c.max()) <= LEVEL_LIMIT
                                    for c in block):
            return block
        out = []
        for c in block:
            ok = np.isfinite(c)
            if not ok.all():
                self.nonfinite += int(len(c) - np.count_nonzero(ok))
                c = np.where(ok, c, np.float32(0.0))
            out.append(c)
        peak = max(float(np.abs(c).max()) for c in out)
        if peak * self.gain > LEVEL_LIMIT:
            self.gain = 10.0 ** -round(math.log10(peak))
        if self.gain != 1.0:
            self.peak = max(self.peak, peak)
            out = [(c * np.float32(self.gain)).astype(np.float32, copy=False) for c in out]
        return out

    def warnings(self) -> list[str]:
        out = []
        if self.nonfinite:
            n = self.nonfinite
            out.append(f"{n} non-finite sample{'s' if n > 1 else ''} (NaN or inf) replaced by "
                       "silence")
        if self.gain != 1.0:
            out.append(f"samples far outside [-1, 1]: peak {self.peak:.3g}; levelled by "
                       f"{20 * math.log10(self.gain):.0f} dB (loudness is of the levelled signal)")
        return out


def screen_signal(y: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """``y`` (mono) screened as ``decode`` screens blocks: NaN/inf become 0, a signal
    beyond ``LEVEL_LIMIT`` is levelled. Returns it (the same array when clean) and the
    warnings; a signal with no finite sample raises ValueError."""
    s = _Screen()
    out = s.block([np.asarray(y)])[0]
    if s.samples and s.nonfinite == s.samples:
        raise ValueError("no finite samples: not audio")
    return out, s.warnings()


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


def halve(x: np.ndarray) -> np.ndarray:
    """``x`` ((channels, n) or (n,) float32) decimated 2:1 whole: equal to scipy's
    ``resample_poly(x, 1, 2, axis=-1)`` (zeros beyond the ends), ``ceil(n / 2)`` samples."""
    fir = _halfband_fir()
    pad = (len(fir) // 2 + 1) // 2 * 2  # even, and >= the filter's half-length
    x2 = np.atleast_2d(np.asarray(x, np.float32))
    n = x2.shape[1]
    xp = np.pad(x2, ((0, 0), (pad, pad + n % 2 + 2)))
    y = _halve(xp, pad // 2, (n + 1) // 2, fir)
    return y[0] if np.ndim(x) == 1 else y


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


def _check_rate(path: str, sr: int) -> None:
    if not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
        raise DecodeError(path, f"unsupported sample rate {sr} Hz (underdog reads "
                                f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz)")


def _blocks_soundfile(path: str) -> _Source:
    import soundfile as sf

    info = sf.info(path)
    _check_rate(path, int(info.samplerate))
    if info.frames <= 0:
        raise DecodeError(path, "no audio samples (header only)")
    channels = min(info.channels, 2)
    report = _Report()

    def gen():
        step, pos = _BLOCK, 0
        with sf.SoundFile(path) as f:
            while True:
                try:
                    data = f.read(step, dtype="float32", always_2d=True)
                except (RuntimeError, sf.LibsndfileError) as exc:  # e.g. a cut FLAC: lost sync
                    report.stopped = report.stopped or str(exc).replace("Error : ", "").strip(" .")
                    if step == _BLOCK:  # the failed read lost its whole block: re-read it in
                        step = 1024  # small steps, up to the damage
                        try:
                            f.seek(pos)
                            continue
                        except (RuntimeError, sf.LibsndfileError):
                            pass
                    break
                if not len(data):
                    break
                pos += len(data)
                yield list(data.T[:channels])

    # WAV's data size and FLAC's STREAMINFO count the samples; an Ogg's is its last granule
    exact = info.format not in ("OGG", "MPEG")
    frames = info.frames
    if info.format == "WAV":  # libsndfile counts a cut WAV's frames from the file's size
        frames = max(frames, _wav_declared_frames(path))
    return _Source(info.samplerate, channels, float(frames) / info.samplerate, gen(),
                   exact, report)


def _wav_declared_frames(path: str) -> int:
    """The frame count a RIFF/WAVE header declares (its data chunk's size over the block
    size), 0 when it declares none (streamed WAVs write 0 or 0xFFFFFFFF)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return 0
        align = 0
        for _ in range(64):  # chunks before the data: fmt, LIST, fact...
            chunk = f.read(8)
            if len(chunk) < 8:
                return 0
            kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if kind == b"fmt ":
                fmt = f.read(size + size % 2)
                align = struct.unpack("<H", fmt[12:14])[0] if len(fmt) >= 14 else 0
            elif kind == b"data":
                return size // align if align and size != 0xFFFFFFFF else 0
            else:
                f.seek(size + size % 2, os.SEEK_CUR)
    return 0


def _blocks_pyav(path: str):
    import av

    try:
        container = av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        if _mp4_lacks_moov(path):
            raise DecodeError(path, "no moov atom (the index an MP4/M4A needs before anything "
                                    "decodes): the file looks cut before its end") from None
        raise DecodeError(path, av_reason(exc)) from None
    if not container.streams.audio:
        container.close()
        raise DecodeError(path, "no audio stream")
    stream = container.streams.audio[0]
    native_sr = int(stream.codec_context.sample_rate or stream.rate or 0)
    channels = min(int(stream.codec_context.channels or 0) or 1, 2)
    if native_sr <= 0:
        container.close()
        raise DecodeError(path, "unknown sample rate")
    try:
        _check_rate(path, native_sr)
    except DecodeError:
        container.close()
        raise
    dur = None
    if stream.duration is not None and stream.time_base is not None:
        dur = float(stream.duration * stream.time_base)
    elif container.duration:
        dur = container.duration / 1_000_000.0
    fmt = container.format.name
    exact = (any(f in fmt.split(",") for f in ("mp4", "flac", "wav", "aiff"))
             or (fmt == "mp3" and _mp3_has_toc(path)))
    report = _Report()

    def gen():
        decoded = 0
        bad_run = 0
        last_good = None
        # Frames are small (Vorbis: ~700 samples); FFmpeg's FIFO joins them in C, and
        # only large blocks become arrays: per-frame conversion costs more than decoding.
        fifo = av.AudioFifo()
        packets = container.demux(stream)
        try:
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.error.FFmpegError as exc:  # the demuxer cannot go on
                    report.stopped = av_reason(exc)
                    break
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:  # the codec rejects this packet: skip it
                    report.skip(decoded / native_sr)
                    bad_run += 1
                    if bad_run >= _MAX_BAD_PACKETS:
                        report.stopped = f"{bad_run} undecodable packets in a row: {av_reason(exc)}"
                        break
                    continue
                wrong = [f for f in frames if f.sample_rate and f.sample_rate != native_sr]
                if wrong:  # a damaged header (one MP3 frame's rate bits), or a real change
                    bad_run += 1
                    if bad_run >= _MAX_BAD_PACKETS:
                        report.stopped = (f"the sample rate changes mid-stream ({native_sr} -> "
                                          f"{wrong[0].sample_rate} Hz)")
                        break
                    # silence as long as the frame (as the render reads it), so beats after it
                    # stay where a render finds them
                    report.skip(decoded / native_sr)
                    n = sum(f.samples for f in frames)
                    decoded += n
                    like = last_good or wrong[0]
                    fifo.write(_silent_frame(n, like.format.name, like.layout.name, native_sr))
                    continue
                bad_run = 0
                for frame in frames:
                    last_good = frame
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
        finally:
            packets.close()
            container.close()

    return _Source(native_sr, channels, dur, gen(), exact, report)


def _silent_frame(n: int, fmt: str, layout: str, sr: int):
    """``n`` samples of silence as a frame of ``fmt``/``layout`` at ``sr``."""
    import av

    frame = av.AudioFrame(format=fmt, layout=layout, samples=n)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate = sr
    return frame


def _mp3_has_toc(path: str) -> bool:
    """Whether the MP3's first frame is a Xing/Info/VBRI frame, which states the frame count
    (without one, FFmpeg estimates the length from the first bitrate: a VBR file's
    estimate can be off by any factor)."""
    with open(path, "rb") as f:
        head = f.read(10)
        start = 0
        if len(head) == 10 and head[:3] == b"ID3":  # skip an ID3v2 tag (syncsafe size)
            size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
            start = 10 + size + (10 if head[5] & 0x10 else 0)
        f.seek(start)
        data = f.read(8192)
    for i in range(len(data) - 1):  # the first frame sync
        if data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0:
            frame = data[i:i + 200]
            return any(tag in frame for tag in (b"Xing", b"Info", b"VBRI"))
    return False


def _mp4_lacks_moov(path: str) -> bool:
    """An MP4 whose top-level boxes hold media data (mdat) but no moov: a download cut
    before its index (written last unless the file was made "fast start")."""
    seen = set()
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        pos = 0
        while pos + 8 <= size and len(seen) < 64:
            f.seek(pos)
            head = f.read(16)
            n, kind = struct.unpack(">I4s", head[:8])
            if n == 1 and len(head) == 16:
                n = struct.unpack(">Q", head[8:16])[0]
            elif n == 0:
                n = size - pos
            if n < 8:
                break
            seen.add(kind)
            pos += n
    return b"ftyp" in seen and b"mdat" in seen and b"moov" not in seen


def _ogg_cut(path: str) -> str | None:
    """Why the Ogg file's end looks cut (its last page incomplete, or without the
    end-of-stream flag), or None when it ends cleanly. A cut Ogg decodes without an
    error, and its length comes from its last page, so only its end can tell."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(max(0, size - 65536 - 282))  # a page is at most 27 + 255 + 255 * 255 bytes
        data = f.read()
    i = data.rfind(b"OggS")
    while i >= 0:
        head = data[i:i + 27]
        if len(head) == 27 and head[4] == 0:  # version 0: a page header
            lacing = data[i + 27:i + 27 + head[26]]
            if len(lacing) < head[26] or i + 27 + head[26] + sum(lacing) > len(data):
                return "its last Ogg page is cut short"
            if not head[5] & 0x04:
                return "its last Ogg page lacks the end-of-stream mark"
            return None
        i = data.rfind(b"OggS", 0, i)
    return None


_END = object()


def _read_ahead(blocks: Iterator, depth: int = 4, close: Callable[[], None] | None = None
                ) -> Iterator:
    """Run the ``blocks`` iterator in a thread, up to ``depth`` blocks ahead. FFmpeg and
    libsndfile decode without holding the GIL, so on a second core decoding overlaps the
    metering and resampling of the blocks before. Its errors are raised here, in order.
    ``close`` (default: ``blocks.close``) runs in the thread when it stops."""
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
            (close or blocks.close)()  # the generator closes its file

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


def av_reason(exc: Exception) -> str:
    msg = getattr(exc, "strerror", None) or str(exc)
    msg = msg.split(":", 1)[0] if "Errno" in msg else msg
    return msg.strip() or exc.__class__.__name__


def decode(path: str | os.PathLike, sr: int = ANALYSIS_SR,
           channel_sink: ChannelSink | None = None) -> Audio:
    """Decode ``path`` to mono float32 at ``sr``.

    ``channel_sink`` (optional) sees each block (a list of channel arrays) at the file's
    native rate, before the downmix.

    Damage is tolerated and reported in ``Audio.warnings``: undecodable packets are
    skipped; a decoder that stops early, a header length (only where it is exact: WAV,
    FLAC, MP4, MP3 with a Xing/Info/VBRI frame) longer than what decodes, and an Ogg whose
    last page is cut short each say "the file looks truncated" with the decoded length. A
    header length that is only an estimate (an MP3 without a Xing frame, an Ogg's last
    granule) is never called truncation when the file decodes cleanly to its end: its
    warning gives the decoded length. NaN/inf samples become silence and samples beyond
    ``LEVEL_LIMIT`` are levelled, with a warning.

    Raises DecodeError naming the file and the reason when it is not readable audio:
    missing, empty, unknown format, an unsupported sample rate (outside 8-768 kHz), no
    samples, no finite sample, or damaged with less than ``MIN_DURATION_S`` (2 s) decoded.
    That is the whole line: what analyzes (2 s) is kept, however much was lost, because
    the warning carries the decoded length and a fraction rule would refuse a half that
    analyzes perfectly well.
    """
    bufs: list[_Buffer] = []

    def start(dur_est: float | None) -> MonoSink:
        bufs.append(_Buffer(int(min(dur_est or 300.0, _MAX_PREALLOC_S) * sr * 1.02) + sr))
        return bufs[0].append

    info = _decode(path, sr, channel_sink, start)
    return Audio(samples=bufs[0].result(), sr=sr, native_sr=info.native_sr,
                 channels=info.channels, warnings=info.warnings)


def decode_stream(path: str | os.PathLike, mono_sink: MonoSink, sr: int = ANALYSIS_SR,
                  channel_sink: ChannelSink | None = None,
                  expect: Callable[[float | None], None] | None = None) -> Decoded:
    """``decode`` without holding the signal: each mono block at ``sr`` goes to
    ``mono_sink`` as it is decoded (float32, screened, consecutive), and the result says
    how much came and what was lost. ``expect`` (optional) hears the length in seconds the
    header states (None when it states none; it may be wrong) before the first block.
    The same checks, warnings and errors as ``decode``; an error may come after some
    blocks were already handed over."""

    def start(dur_est: float | None) -> MonoSink:
        if expect is not None:
            expect(dur_est)
        return mono_sink

    return _decode(path, sr, channel_sink, start)


def _decode(path: str | os.PathLike, sr: int, channel_sink: ChannelSink | None,
            start: Callable[[float | None], MonoSink]) -> Decoded:
    """The decoding loop: ``start(stated length in s or None)`` gives the mono sink."""
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
    native_sr, channels, dur_est, raw, exact, report = source
    if dur_est is not None and not (math.isfinite(dur_est) and dur_est > 0):
        dur_est = None
    screen = _Screen()
    blocks = _read_ahead(map(screen.block, raw), close=raw.close)
    sink = start(dur_est)
    n = 0
    # The sink meters the channels at the native rate; the analysis needs mono only.
    res = None if native_sr == sr else _resampler(native_sr, sr, 1)
    try:
        for block in blocks:
            if channel_sink is not None:
                channel_sink(block, native_sr)
            mono = _downmix(block)
            for out in ((mono,) if res is None else res.push(mono)):
                sink(out[0])
                n += len(out[0])
        if res is not None:
            for out in res.flush():
                sink(out[0])
                n += len(out[0])
    except DecodeError:
        raise
    except Exception as exc:  # a library error deep in a block
        raise DecodeError(path, f"{exc.__class__.__name__}: {exc}") from None
    if n == 0:
        raise DecodeError(path, "no audio samples decoded"
                          + (f" ({report.stopped})" if report.stopped else ""))
    if screen.nonfinite == screen.samples:
        raise DecodeError(path, f"no finite samples (all {screen.samples} are NaN or inf): "
                                "not audio")
    got_s = n / sr
    cut = _ogg_cut(path) if ext in (".ogg", ".oga", ".opus") else None
    warnings, damaged = _decode_warnings(got_s, dur_est, exact, report, cut)
    if damaged and got_s < MIN_DURATION_S:
        raise DecodeError(path, f"only {got_s:.1f} s decodes: too little to analyze ({warnings[0]})")
    return Decoded(sr=sr, native_sr=native_sr, channels=channels, n_samples=n,
                   warnings=warnings + screen.warnings())


def _decode_warnings(got_s: float, stated_s: float | None, exact: bool, report: _Report,
                     cut: str | None) -> tuple[list[str], bool]:
    """One line per thing decoding lost, and whether audio was lost (not just misstated)."""
    out = []
    of = f" of {stated_s:.1f} s stated by the header" if stated_s and exact else ""
    short = bool(stated_s) and stated_s - got_s > (
        max(1.0, 0.01 * stated_s) if exact else max(2.0, 0.05 * stated_s))
    if report.stopped:
        out.append(f"decoding stopped at {got_s:.1f} s{of} ({report.stopped}): "
                   "the file looks truncated or damaged")
    elif cut:
        out.append(f"decoded {got_s:.1f} s; {cut}: the file looks truncated")
    elif short and exact:
        out.append(f"decoded {got_s:.1f} s{of}: the file looks truncated")
    elif short:
        out.append(f"the header's length ({stated_s:.1f} s) is an estimate that does not hold: "
                   f"decoded {got_s:.1f} s, to the end of the file")
    damaged = bool(out) and not (short and not exact and not report.stopped and not cut)
    if report.skipped:
        n, first, last = report.skipped, report.skipped_first_s, report.skipped_last_s
        where = f"at {first:.1f} s" if n == 1 else f"between {first:.1f} and {last:.1f} s"
        out.append(f"skipped {n} undecodable packet{'s' if n > 1 else ''} {where}")
    return out, damaged


def load(path: str | os.PathLike, sr: int = ANALYSIS_SR) -> tuple[np.ndarray, int]:
    """Convenience: decode and return ``(samples, sr)`` like librosa.load."""
    a = decode(path, sr)
    return a.samples, a.sr
