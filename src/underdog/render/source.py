"""Read a span of a track as stereo float32 at the mix rate (count, decode, resample).

The analysis decoder (``underdog.audio``) makes mono at 22,050 Hz; a mix needs the channels
at full bandwidth. This reads only ``[in_s, out_s)`` and FFmpeg's resampler turns any rate
and layout into stereo at ``sr``. Sample ``k`` of a span is where the analysis has it: the
analysis counts decoded samples from the first, so the reader counts them too rather than
trust timestamps (FFmpeg stamps Vorbis frames at block-size changes 448 samples off, files
transcoded from Vorbis carry such jumps for good, a file looped with ``-c copy`` restarts
its clock). It counts what each packet will decode to without decoding: for an Ogg
Vorbis or Opus file from its pages (``_ogg_index``: Vorbis block sizes from the setup
header, Opus frame sizes from the TOC byte), then seeks; otherwise by demuxing from the
start (``_PacketCount``: those, a fixed frame size, the packet's duration, the decoder's
skips), corrected where a packet does not decode to its count (``_count_fixes``: a damaged
AAC or MP3 packet the codec rejects gives nothing, found by decoding the file once, kept
in the render's ``FileMaps``). It decodes from 2 s before ``in_s`` and checks the count against what the decoder
gives; where they disagree it counts by demuxing, and then decodes from the start.
``iter_span`` gives the same samples a decoded frame at a time, and ``Spill`` keeps them in
a temporary file to be read back in pieces, so a long span never sits in memory whole.
"""

from __future__ import annotations

import itertools
import math
import os
from typing import Callable, Iterable, Iterator

import av
import numpy as np

from ..audio import av_reason
from ..errors import DecodeError

MIX_SR = 44100


def read_span(path: str | os.PathLike, in_s: float = 0.0, out_s: float | None = None,
              sr: int = MIX_SR, maps: "FileMaps | None" = None) -> np.ndarray:
    """``path`` from ``in_s`` to ``out_s`` (s, track time; ``None``: to the end) as a
    (2, n) float32 array at ``sr`` Hz. A span past the end comes back shorter. ``maps``
    keeps what a read learns of the file for the next (one per render; None: learnt
    for this read only).

    Raises DecodeError when the file cannot be opened or holds no audio."""
    parts = list(iter_span(path, in_s, out_s, sr, maps))
    return np.concatenate(parts, axis=1) if parts else np.zeros((2, 0), np.float32)


def iter_span(path: str | os.PathLike, in_s: float = 0.0, out_s: float | None = None,
              sr: int = MIX_SR, maps: "FileMaps | None" = None) -> Iterator[np.ndarray]:
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
        if head is None:
            return
        yield head
        got = head.shape[1]
        try:
            for piece in pieces:
                yield piece
                got += piece.shape[1]
        except Exception as exc:  # a damaged stretch later in the file: one line
            reason = str(exc).replace("Error : ", "").strip(" .") or type(exc).__name__
            raise DecodeError(path, f"{reason} at {in_s + got / sr:.1f} s") from None
        return
    try:
        if not container.streams.audio:
            raise DecodeError(path, "no audio stream")
        stream = container.streams.audio[0]
        native = int(stream.codec_context.sample_rate or 0)
        if native <= 0:
            raise DecodeError(path, "unknown sample rate")
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=sr)
        first = int(round(in_s * sr))
        last = None if out_s is None else int(round(float(out_s) * sr))
        want = None if last is None else max(0, last - first)
        got = 0
        pos = None  # output-rate sample index of the next resampled sample
        at = int(in_s * native) - 2 * native  # decoding starts 2 s early (MP3's bit
        # reservoir, Opus's pre-roll, Vorbis's overlap: a cold decoder's first frames)
        frames = (_indexed(container, stream, path, at, maps or FileMaps()) if at > 0
                  else _counted(_frames(container, stream, path), 0))
        step = native // math.gcd(native, sr)  # native samples that make whole output ones
        batch: list = []  # decoded frames waiting for the resampler
        ready: list = []  # frames in the mix's format, to be taken out as one array
        n_ready = 0
        for frame, n0 in frames:
            if pos is None:  # resample from a sample that lies on the output's grid (as
                # a decode from the start does), not up to half an output sample beside it
                cut = -n0 % step
                if cut >= frame.samples:
                    continue
                frame, n0 = (_drop(frame, cut), n0 + cut) if cut else (frame, n0)
                pos = n0 * sr // native
            # a frame already in the mix's format is taken as it is; others go to the
            # resampler in batches (the same samples, a fifth of the calls' cost)
            if native == sr and _is_mix_format(frame):
                outs = [*resampler.resample(_merged(batch)), frame] if batch else [frame]
                batch = []
            elif batch and not _same_kind(batch[0], frame):
                outs, batch = resampler.resample(_merged(batch)), [frame]
            else:
                batch.append(frame)
                if sum(f.samples for f in batch) < RESAMPLE_BATCH:
                    continue
                outs, batch = resampler.resample(_merged(batch)), []
            ready += outs
            n_ready += sum(out.samples for out in outs)
            if n_ready < TAKE_BATCH and (want is None or pos + n_ready < first + want):
                continue
            a, pos = _take(ready, pos, first, want, got)
            ready, n_ready = [], 0
            if a is not None:
                got += a.shape[1]
                yield a
            if want is not None and got >= want:
                break
        else:
            a, pos = _take([*ready, *(resampler.resample(_merged(batch)) if batch else []),
                            *resampler.resample(None)], pos or 0, first, want, got)
            if a is not None:
                yield a
    except av.error.FFmpegError as exc:
        raise DecodeError(path, av_reason(exc)) from None
    finally:
        container.close()


class FileMaps:
    """What reads learn of a file by going through it whole, kept for the next read of
    it: an Ogg file's page index (:func:`_ogg_index`), another's corrections to its
    packet count (:func:`_count_fixes`). A render reads each
    file about three times (its span and a refine window at each end) and keeps one of
    these for its life. Bounded: past ``max_bytes`` of arrays the least recently used
    file's go; a file whose size or modification time changed is learnt again."""

    def __init__(self, max_bytes: int = 64 << 20):
        from collections import OrderedDict

        self._max = max_bytes
        self._known: OrderedDict[tuple, tuple[object, int]] = OrderedDict()
        self._bytes = 0

    def get(self, kind: str, path: str, learn: Callable[[], object]) -> object:
        """``learn()`` for ``path`` (what ``kind`` names), or what it gave last time."""
        st = os.stat(path)
        key = (kind, path, st.st_size, st.st_mtime_ns)
        if key in self._known:
            self._known.move_to_end(key)
            return self._known[key][0]
        value = learn()
        size = (sum(a.nbytes for a in value) if isinstance(value, tuple)
                else 64 * len(value) if isinstance(value, dict) else 0)
        self._known[key] = (value, size)
        self._bytes += size
        while self._bytes > self._max and len(self._known) > 1:
            self._bytes -= self._known.popitem(last=False)[1][1]
        return value


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
        inter = np.empty((y.shape[1], 2), np.float32)  # channel by channel: 5x faster
        inter[:, 0], inter[:, 1] = y  # than a copy of the transposed view
        self._f.write(inter.data)
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
    """Every frame decoded from where the demuxer stands."""
    for packet in container.demux(stream):
        yield from _decode(packet)


def _decode(packet) -> list:
    try:
        return packet.decode()
    except av.error.InvalidDataError:
        return []  # a damaged packet: skipped, as the analysis decoder does
    except av.error.FFmpegError:
        if packet.size:
            raise
        return []  # the flush at the end, where a decoder has nothing left to give


def _drop(frame, k: int):
    """``frame`` without its first ``k`` samples."""
    a = frame.to_ndarray()
    a = a[:, k:] if frame.format.is_planar else a[:, k * len(frame.layout.channels):]
    out = av.AudioFrame.from_ndarray(np.ascontiguousarray(a), format=frame.format.name,
                                     layout=frame.layout.name)
    out.sample_rate = frame.sample_rate
    return out


def _counted(frames, before: int):
    """(frame, decoded samples before it) for ``frames`` counted from the first, the
    ones that end at or before sample ``before`` left out (not resampled)."""
    n = 0
    for f in frames:
        if n + f.samples > before:
            yield f, n
        n += f.samples


_WARM = 3  # packets a decoder starting mid-stream may give short or differently
_CHECK = 8  # packets after those whose decoded length must be what the count says


def _indexed(container, stream, path: str, at: int, maps: FileMaps):
    """(frame, decoded samples before it, counted from the file's first) from the packet
    that holds sample ``at`` (native rate) on. Each packet's count comes from an Ogg
    file's own pages (``_ogg_index``, then a seek) or from demuxing from the start
    (``_PacketCount`` corrected by ``_count_fixes``, from ``maps``); decoding starts at ``at`` and the count is checked against the
    decoder on the first ``_CHECK`` packets after ``_WARM``. Where neither can count or
    the decoder disagrees, the file is decoded from the start instead."""
    fresh = None
    try:
        for attempt in ("ogg", "demux"):
            if attempt == "ogg":
                counted, moved = _ogg_counted(container, stream, path, at, maps)
            else:
                if moved:  # the Ogg try sought: demux from the start on a fresh one
                    fresh = av.open(path)
                    container, stream = fresh, fresh.streams.audio[0]
                counted = _demux_counted(container, stream,
                                         maps.get("fixes", path, lambda: _count_fixes(path)))
            if counted is None:
                continue
            anchor = _anchor(counted, at)
            moved = True  # the demuxer went on
            if anchor is None:
                continue
            held, n = anchor
            yield from held
            for packet, _, _ in counted:
                for f in _decode(packet):
                    yield f, n
                    n += f.samples
            return
        if fresh is not None:
            fresh.close()
        fresh = av.open(path)  # from the start, counting every decoded sample
        yield from _counted(_frames(fresh, fresh.streams.audio[0], path), at)
    finally:
        if fresh is not None:
            fresh.close()


def _anchor(counted, at: int) -> tuple[list, int] | None:
    """Decode ``counted`` ((packet, samples before its output, its output length)) from
    the packet that holds sample ``at``: (the frames with their places up to the end of the
    check, the count after them), or None where the count and the decoder disagree."""
    held: list = []
    seen = 0
    n = None
    for packet, c, k in counted:
        if k is None:
            return None
        if seen == 0 and c + k <= at:
            continue  # before the span: counted, not decoded
        frames = _decode(packet)
        seen += 1
        if seen <= _WARM:
            continue
        if sum(f.samples for f in frames) != k:
            return None
        n = c if n is None else n
        for f in frames:
            held.append((f, n))
            n += f.samples
        if seen == _WARM + _CHECK:
            break
    return held, (0 if n is None else n)


def _demux_counted(container, stream, fixes: dict[int, int] | None):
    """(packet, count before it, its count) for every packet from the start, counted by
    ``_PacketCount`` and corrected by ``fixes`` (what packet ``i`` decodes to where the
    count is not that: :func:`_count_fixes`); None where the stream cannot be counted that
    way."""
    count = _PacketCount.of(stream)
    if count is None or fixes is None:
        return None

    def counted():
        n = 0
        for i, packet in enumerate(container.demux(stream)):
            k = fixes.get(i, count.push(packet)[1])
            yield packet, n, k
            n += k or 0

    return counted()


def _count_fixes(path: str) -> dict[int, int] | None:
    """What each packet of ``path``'s audio stream (by its index among them) decodes to
    where that is not what ``_PacketCount`` says, found by decoding the file once from the
    start, as the analysis does: a damaged AAC or MP3 packet the codec rejects decodes to
    nothing, and every sample after it sits a frame earlier than the count has it. {} for
    an undamaged file; None where it cannot be counted so (the caller decodes from the
    start). A PCM packet always decodes to its count: not decoded."""
    try:
        with av.open(path) as c:
            stream = c.streams.audio[0]
            count = _PacketCount.of(stream)
            if count is None:
                return None
            if stream.codec_context.name.startswith("pcm_"):
                return {}
            fixes = {}
            for i, packet in enumerate(c.demux(stream)):
                k = count.push(packet)[1]
                d = sum(f.samples for f in _decode(packet))
                if d != k:
                    fixes[i] = d
            return fixes
    except av.error.FFmpegError:
        return None


def _ogg_counted(container, stream, path: str, at: int, maps: FileMaps
                 ) -> tuple[Iterator | None, bool]:
    """(packet, count before it, its count) from a packet before sample ``at`` on, for an
    Ogg Vorbis or Opus file: the count from its pages (``_ogg_index``), a seek by
    timestamp to a second before, and the packets FFmpeg gives after it found in the index
    by page and size. (None where the file is no such Ogg or the landing is not found,
    whether it sought.)"""
    if "ogg" not in container.format.name.split(","):
        return None, False
    codec = stream.codec_context.name
    idx = maps.get("ogg " + codec, path, lambda: _ogg_index(path, codec))
    if idx is None:
        return None, False
    page, size, before, out = idx
    k = int(np.searchsorted(before + out, at, side="right"))
    if k >= len(size) or stream.time_base is None:
        return None, False
    native = int(stream.codec_context.sample_rate)
    t = max(0.0, before[k] / native - 1.0)
    try:
        container.seek(int(t / stream.time_base), stream=stream, backward=True)
    except av.error.FFmpegError:
        return None, True
    packets = (p for p in container.demux(stream) if p.size)
    ahead = list(itertools.islice(packets, 8))
    sizes = [p.size for p in ahead]
    found = [int(j) for j in np.flatnonzero((page == ahead[0].pos) & (size == sizes[0]))
             if j <= k and list(size[j:j + len(sizes)]) == sizes] if ahead else []
    if len(found) != 1:
        return None, True

    def counted(j: int):
        for p in itertools.chain(ahead, packets):
            ok = j < len(size) and p.size == size[j]
            yield (p, int(before[j]), int(out[j])) if ok else (p, 0, None)
            j += 1

    return counted(found[0]), True


_OGG_INDEX_MAX = 64 << 20  # bytes: a longer file (an hour's mix) is demuxed, not held
_OPUS_FRAME = [(480, 960, 1920, 2880)[c % 4] if c < 12 else (480, 960)[c % 2] if c < 16
               else (120, 240, 480, 960)[c % 4] for c in range(32)]  # samples at 48 kHz


_REV8 = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))  # each byte's bits reversed


def _ogg_crc(rev: memoryview, pos: int, end: int) -> int:
    """The CRC of the Ogg page at ``pos:end`` (its CRC field taken as zero), from the
    file's bytes bit-reversed (``rev``): Ogg's CRC-32 is zlib's with bits the other way."""
    import zlib

    c = zlib.crc32(rev[pos + 26:end], zlib.crc32(bytes(4), zlib.crc32(rev[pos:pos + 22],
                                                                       0xFFFFFFFF)))
    return int(f"{~c & 0xFFFFFFFF:032b}"[::-1], 2)


def _ogg_index(path: str, codec: str) -> tuple[np.ndarray, ...] | None:
    """An Ogg Vorbis or Opus file's audio packets as FFmpeg demuxes them, read from its
    pages: (page each starts on (byte), size, samples decoded before it, samples it
    decodes to), the count as ``_PacketCount`` gives it (Vorbis block sizes, the links of
    a chained file one after the other; Opus frame sizes from the TOC byte, less the
    pre-skip). None for anything else (other codecs, interleaved streams, a chained
    Opus, damage): the caller demuxes from the start instead."""
    import struct

    if os.path.getsize(path) > _OGG_INDEX_MAX:
        return None
    with open(path, "rb") as f:
        buf = f.read()
    rev = memoryview(buf.translate(_REV8))  # for the pages' CRCs
    pos_l, data_l, lac_l, serial_l = [], [], [], []
    pos, n = 0, len(buf)
    while pos + 27 <= n:
        if buf[pos:pos + 4] != b"OggS":
            return None
        nseg = buf[pos + 26]
        lac = buf[pos + 27:pos + 27 + nseg]
        data = pos + 27 + nseg
        end = data + sum(lac)
        if end > n:
            break  # a cut last page: FFmpeg gives no packet from it either
        if _ogg_crc(rev, pos, end) != struct.unpack_from("<I", buf, pos + 22)[0]:
            return None  # a damaged page FFmpeg drops: counted by demuxing instead
        pos_l.append(pos)
        data_l.append(data)
        lac_l.append(lac)
        serial_l.append(struct.unpack_from("<I", buf, pos + 14)[0])
        pos = end
    if not pos_l:
        return None
    nsegs = np.fromiter((len(x) for x in lac_l), np.int64, len(lac_l))
    seg = np.frombuffer(b"".join(lac_l), np.uint8).astype(np.int64)
    page_of = np.repeat(np.arange(len(pos_l)), nsegs)
    cum = np.cumsum(seg) - seg  # bytes before each segment, all pages' data in a row
    first_seg = np.cumsum(nsegs) - nsegs
    offset = np.asarray(data_l)[page_of] + cum - cum[first_seg][page_of]
    last = np.flatnonzero(seg < 255)  # a packet ends on a segment under 255 bytes
    if not len(last):
        return None
    first = np.r_[0, last[:-1] + 1]
    size = cum[last] + seg[last] - cum[first]
    raw = np.frombuffer(buf, np.uint8)
    b0 = raw[np.minimum(offset[first], n - 1)].astype(np.int64)
    b1 = raw[np.minimum(offset[first] + 1, n - 1)].astype(np.int64)
    page = np.asarray(pos_l)[page_of[first]]
    serial = np.asarray(serial_l)[page_of[first]]

    def packet(i: int) -> bytes:  # a header packet's bytes, segment by segment
        return b"".join(buf[int(offset[j]):int(offset[j] + seg[j])]
                        for j in range(int(first[i]), int(last[i]) + 1))

    if len(size) < 4 or (serial != serial[0]).any():
        return None  # chained or interleaved streams: FFmpeg trims each link's end
    audio = size > 0  # FFmpeg gives no empty packet
    if codec == "vorbis":
        modes = _vorbis_modes(packet(0), packet(2))
        if modes is None:
            return None
        audio[:3] = False
        table = _VorbisBlocks(*modes).sizes_by_byte
        blocks = np.asarray([table[v] or 0 for v in b0[audio].tolist()], np.int64)
        if not len(blocks) or not blocks.all():
            return None
        out = (np.r_[blocks[0], blocks[:-1]] + blocks) // 4
        out[0] = 0  # the first block only primes the overlap
        skip = 0
    elif codec == "opus":
        head = packet(0)
        if head[:8] != b"OpusHead" or len(head) < 12:
            return None
        audio[:2] = False
        toc, second = b0[audio], b1[audio]
        frames = np.where(toc & 3 == 0, 1, np.where(toc & 3 == 3, second & 63, 2))
        out = np.asarray(_OPUS_FRAME, np.int64)[toc >> 3] * frames
        skip = int.from_bytes(head[10:12], "little")
    else:
        return None
    if not len(out):
        return None
    # the last page's granule says where the stream ends: the last packet's padding
    end = struct.unpack_from("<q", buf, pos_l[-1] + 6)[0]
    over = int(out.sum()) - end
    if end >= 0 and 0 < over <= out[-1]:
        out[-1] -= over
    done = np.maximum(0, np.cumsum(out) - skip)
    out = np.diff(np.r_[0, done])  # Opus's pre-skip comes off the first packets
    return page[audio], size[audio], np.cumsum(out) - out, out


class _PacketCount:
    """How many samples each packet of an audio stream decodes to, from the packets alone
    (no decoding): a fixed frame size (AAC, MP3), the packet's duration (Opus, FLAC, PCM)
    or Vorbis's block sizes, less the decoder's skips (an encoder delay, an edit list's
    priming, the end's padding) as FFmpeg's decoders apply them."""

    def __init__(self, raw: Callable[[av.Packet, dict[str, bytes]], int | None],
                 end_in_raw: bool = False):
        self._raw = raw  # (packet, its side data by type) -> samples, None: unknown
        self._end_in_raw = end_in_raw  # a last packet's duration leaves its padding out
        self.n = 0  # samples decoded before the next packet's
        self._skip = 0

    @classmethod
    def of(cls, stream) -> "_PacketCount | None":
        """The count for ``stream``, or None where it cannot be counted this way."""
        cc = stream.codec_context
        if cc.name == "vorbis":
            blocks = _vorbis_blocks(bytes(cc.extradata or b""))
            return None if blocks is None else cls(_VorbisBlocks(*blocks).samples)
        if cc.frame_size:
            size = int(cc.frame_size)
            return cls(lambda p, side: None if "new_extradata" in side else
                       size if p.size else 0)
        native, tb = int(cc.sample_rate), stream.time_base

        def by_duration(p, side) -> int | None:
            if not p.size:
                return 0
            if not p.duration or tb is None or "new_extradata" in side:
                return None
            k = p.duration * tb * native
            return int(k) if k.denominator == 1 else None

        return cls(by_duration, end_in_raw=True)

    def push(self, packet) -> tuple[int, int | None]:
        """(samples decoded before ``packet``'s, how many it decodes to; None: unknown)."""
        side = {sd.data_type: sd for sd in packet.iter_sidedata()}
        k = self._raw(packet, side)
        if k is None:
            return self.n, None
        end = 0
        if "skip_samples" in side:
            skip = bytes(side["skip_samples"])
            self._skip = int.from_bytes(skip[0:4], "little")
            end = int.from_bytes(skip[4:8], "little")
        if self._skip:
            eat = min(self._skip, k)
            self._skip -= eat
            k -= eat
        if end and not self._end_in_raw:
            k = max(0, k - end)
        if packet.is_discard:
            k = 0
        c = self.n
        self.n += k
        return c, k


class _VorbisBlocks:
    """A Vorbis packet decodes to a quarter of its block plus a quarter of the one before
    (the first to nothing); its block size is its mode's, the mode number in its first
    byte."""

    def __init__(self, short: int, long: int, flags: list[int]):
        self._prev: int | None = None
        self._modes(short, long, flags)

    def _modes(self, short: int, long: int, flags: list[int]) -> None:
        mask = (1 << (len(flags) - 1).bit_length()) - 1
        # block size by a packet's first byte (None: a header, or no such mode)
        self.sizes_by_byte = [
            None if b & 1 or (b >> 1) & mask >= len(flags) else
            long if flags[(b >> 1) & mask] else short for b in range(256)]

    def samples(self, packet, side: dict) -> int | None:
        if not packet.size:
            return 0
        if "new_extradata" in side:  # a chained Ogg's next link has its own modes;
            # FFmpeg's decoder goes on overlapping with the last link's final block
            blocks = _vorbis_blocks(bytes(side["new_extradata"]))
            if blocks is None:
                return None
            self._modes(*blocks)
        size = self.sizes_by_byte[bytes(packet)[0]]
        if size is None:
            return None
        k = 0 if self._prev is None else (self._prev + size) // 4
        self._prev = size
        return k


def _vorbis_blocks(extra: bytes) -> tuple[int, int, list[int]] | None:
    """(short and long block size, each mode's block flag) from a Vorbis stream's
    headers as FFmpeg keeps them (three Xiph-laced or 16-bit-length packets), or None.
    The modes end the setup header, after codebooks only a full parse could step over, so
    they are read backwards from its framing bit: 41-bit entries whose window and
    transform types are 0, for as many as the 6-bit count before them says."""
    heads = _xiph_split(extra)
    if heads is None or len(heads) != 3:
        return None
    return _vorbis_modes(heads[0], heads[2])


def _vorbis_modes(ident: bytes, setup: bytes) -> tuple[int, int, list[int]] | None:
    """:func:`_vorbis_blocks` from the identification and setup header packets."""
    if len(ident) < 29 or ident[:7] != b"\x01vorbis" or setup[:7] != b"\x05vorbis":
        return None
    short, long = 1 << (ident[28] & 15), 1 << (ident[28] >> 4)
    bits = int.from_bytes(setup, "little")
    framing = bits.bit_length() - 1
    if framing < 56 + 47:
        return None

    def field(lo: int, width: int) -> int:
        return (bits >> lo) & ((1 << width) - 1)

    n = found = 0
    p = framing
    while p - 47 >= 56 and n < 64:
        lo = p - 41
        if field(lo + 1, 16) or field(lo + 17, 16) or field(lo + 33, 8) >= 64:
            break
        n, p = n + 1, lo
        if field(p - 6, 6) + 1 == n:
            found = n
    if not found:
        return None
    return short, long, [field(framing - 41 * (found - i), 1) for i in range(found)]


def _xiph_split(extra: bytes) -> list[bytes] | None:
    """The three header packets in FFmpeg's Xiph extradata, or None."""
    if len(extra) >= 6 and extra[0] == 0 and extra[1] == 30:  # 16-bit lengths
        out, i = [], 0
        for _ in range(3):
            if i + 2 > len(extra):
                return None
            size = int.from_bytes(extra[i:i + 2], "big")
            out.append(extra[i + 2:i + 2 + size])
            i += 2 + size
        return out
    if not extra or extra[0] != 2:
        return None
    sizes, i = [], 1
    for _ in range(2):
        size = 0
        while i < len(extra) and extra[i] == 255:
            size, i = size + 255, i + 1
        if i >= len(extra):
            return None
        sizes.append(size + extra[i])
        i += 1
    if i + sum(sizes) > len(extra):
        return None
    a, b = i + sizes[0], i + sizes[0] + sizes[1]
    return [extra[i:a], extra[a:b], extra[b:]]


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


RESAMPLE_BATCH = 16384  # native samples a resampler call takes at least (bar the last)
_PLANAR = {"fltp": np.float32, "dblp": np.float64, "s16p": np.int16, "s32p": np.int32}
TAKE_BATCH = 16384  # output samples taken out of decoded frames at once (bar the last)


def _same_kind(a, b) -> bool:
    """Whether frames ``a`` and ``b`` can go to the resampler as one."""
    return (a.format.name == b.format.name and a.layout.name == b.layout.name
            and a.sample_rate == b.sample_rate)


def _merged(frames: list):
    """``frames`` (of one kind, :func:`_same_kind`) as one frame, samples in order."""
    if len(frames) == 1:
        return frames[0]
    f0 = frames[0]
    dtype = _PLANAR.get(f0.format.name)
    if dtype is None:
        a = np.concatenate([f.to_ndarray() for f in frames], axis=1)
    else:  # planes copied straight in (to_ndarray stacks each frame's first)
        a = np.empty((len(f0.planes), sum(f.samples for f in frames)), dtype)
        pos = 0
        for f in frames:
            for c, v in enumerate(_plane_views(f, dtype)):
                a[c, pos:pos + len(v)] = v
            pos += f.samples
    out = av.AudioFrame.from_ndarray(a, format=f0.format.name, layout=f0.layout.name)
    out.sample_rate = f0.sample_rate
    return out


def _plane_views(frame, dtype, count: int | None = None) -> list[np.ndarray]:
    """The samples of a planar ``frame``'s first ``count`` planes (all: None), as
    ``dtype`` arrays on its buffers (no copy; they keep the frame alive)."""
    n = frame.samples
    return [np.frombuffer(plane, dtype, n) for plane in frame.planes[:count]]


def _is_mix_format(frame) -> bool:
    """Whether ``frame`` is already what the resampler makes (planar float32 stereo)."""
    return frame.format.name == "fltp" and frame.layout.name == "stereo"


def _take(frames: list, pos: int, first: int, want: int | None, got: int):
    """(the part of ``frames`` (planar float32 stereo: resampled, or decoded so, in
    order, the first at output sample ``pos``) inside the span as one fresh (2, k) array
    or None, the sample index after them). The planes are copied out straight, once
    (``to_ndarray`` stacks them into an array that would be copied again)."""
    parts: tuple[list, list] = ([], [])
    for frame in frames:
        n = frame.samples
        lo = max(0, first - pos)
        hi = n if want is None else min(n, lo + max(0, want - got))
        if lo < hi:
            for c, v in enumerate(_plane_views(frame, np.float32, 2)):
                parts[c].append(v[lo:hi])
            got += hi - lo
        pos += n
    if not parts[0]:
        return None, pos
    a = np.empty((2, sum(len(v) for v in parts[0])), np.float32)
    for c in (0, 1):
        np.concatenate(parts[c], out=a[c])
    return a, pos
