"""Content fingerprints that ignore tags: a hash of the audio payload, never of the tag blocks.

``underdog tag`` (and any tag editor) rewrites the tag blocks, which sit at the start of
most files, and may shift everything after them. The fingerprint therefore hashes three
64 KiB chunks (first, middle, last) of the *payload* only, at offsets relative to where
the payload starts:

- MP3 and other raw streams: after a leading ID3v2 tag, before a trailing ID3v1 or APE tag;
- FLAC: after the metadata blocks (and a leading ID3v2 tag, if any);
- Ogg (Vorbis, Opus, ...): from the first page holding audio (granule position set); page
  sequence numbers and CRCs are masked, since a comment that grows by a page renumbers
  every later page;
- MP4/M4A: the largest ``mdat`` box (``moov``, which holds the tags, moves and grows);
- WAV/AIFF: the ``data``/``SSND`` chunk (the ``id3 ``/``LIST`` chunks hold the tags);
- anything else: the whole file.

Fingerprints carry the prefix ``p1:``; an older fingerprint (32 hex digits, head-of-file
with the size) is recognised by :func:`is_current` so the scanner can upgrade it in place.
"""

from __future__ import annotations

import hashlib
import os
import struct
from typing import BinaryIO

CHUNK = 64 * 1024
PREFIX = "p1:"
_MAX_OGG_HEADER_PAGES = 4096  # a cover-art comment takes ~16 pages per MB


def is_current(fp: str | None) -> bool:
    """True when ``fp`` was made by this scheme (not by the pre-payload one)."""
    return bool(fp) and fp.startswith(PREFIX)


def fingerprint(path: str, size: int | None = None) -> str | None:
    """Fingerprint of the audio payload of ``path``; None if the file cannot be read.

    Reads at most 192 KiB of payload plus a few headers, whatever the file size.
    ``size`` is accepted for callers that already stat-ed the file.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start, end, ogg = payload_span(f, size)
            h = hashlib.blake2b(str(end - start).encode(), digest_size=16)
            length = end - start
            offsets = [start]
            if length > CHUNK:
                offsets += [start + length // 2 - CHUNK // 2, end - CHUNK]
            for off in offsets:
                f.seek(off)
                buf = f.read(min(CHUNK, end - off))
                h.update(_mask_ogg(buf) if ogg else buf)
            return PREFIX + h.hexdigest()
    except OSError:
        return None


def legacy_fingerprint(path: str, size: int | None = None) -> str | None:
    """The pre-``p1`` fingerprint (size and first/middle/last 64 KiB of the whole file).

    Kept only so that a library scanned by an older release is matched, not re-analyzed.
    """
    try:
        with open(path, "rb") as f:
            if size is None:
                size = os.fstat(f.fileno()).st_size
            h = hashlib.blake2b(str(size).encode(), digest_size=16)
            offsets = [0]
            if size > CHUNK:
                offsets += [size // 2 - CHUNK // 2, max(0, size - CHUNK)]
            for off in offsets:
                f.seek(off)
                h.update(f.read(CHUNK))
            return h.hexdigest()
    except OSError:
        return None


# ---------------------------------------------------------------- where the payload is

def payload_span(f: BinaryIO, size: int) -> tuple[int, int, bool]:
    """(start, end, is_ogg): the byte range holding audio data, tags excluded.

    Any parse surprise falls back to a wider range, never to an exception (a damaged file
    still gets a fingerprint; it is then just not tag-proof).
    """
    f.seek(0)
    head = f.read(12)
    start = 0
    if head[:3] == b"ID3" and len(head) >= 10:
        start = _id3v2_end(head)
        f.seek(start)
        head = f.read(12)
    if head[:4] == b"OggS":
        return _ogg_audio_start(f, start, size), size, True
    if head[:4] == b"fLaC":
        return _flac_audio_start(f, start + 4, size), size, False
    if head[4:8] == b"ftyp":
        span = _mp4_mdat(f, size)
        if span:
            return span[0], span[1], False
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        span = _iff_chunk(f, size, b"data", "<")
        if span:
            return span[0], span[1], False
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        span = _iff_chunk(f, size, b"SSND", ">")
        if span:
            return span[0], span[1], False
    end = _trailing_tags_start(f, size)
    return (start, end, False) if start < end else (0, size, False)


def _id3v2_end(head: bytes) -> int:
    b = head[6:10]
    n = (b[0] & 0x7F) << 21 | (b[1] & 0x7F) << 14 | (b[2] & 0x7F) << 7 | (b[3] & 0x7F)
    footer = 10 if head[5] & 0x10 else 0
    return 10 + n + footer


def _trailing_tags_start(f: BinaryIO, size: int) -> int:
    """Where an ID3v1 (``TAG``, 128 bytes) and/or APEv2 tag at the end of the file begins."""
    end = size
    if size >= 128:
        f.seek(size - 128)
        if f.read(3) == b"TAG":
            end -= 128
    if end >= 32:
        f.seek(end - 32)
        footer = f.read(32)
        if footer[:8] == b"APETAGEX":
            tag_size, flags = struct.unpack("<II", footer[12:20])
            end -= tag_size + (32 if flags & 0x80000000 else 0)
    return max(0, end)


def _flac_audio_start(f: BinaryIO, pos: int, size: int) -> int:
    while pos + 4 <= size:
        f.seek(pos)
        hdr = f.read(4)
        if len(hdr) < 4:
            break
        last = hdr[0] & 0x80
        pos += 4 + int.from_bytes(hdr[1:4], "big")
        if last:
            return min(pos, size)
    return min(pos, size)


def _ogg_audio_start(f: BinaryIO, pos: int, size: int) -> int:
    """Offset of the first Ogg page with a real granule position (the header pages that
    hold the identification, comment and setup packets have granule 0 or -1)."""
    first = pos
    for _ in range(_MAX_OGG_HEADER_PAGES):
        f.seek(pos)
        hdr = f.read(27)
        if len(hdr) < 27 or hdr[:4] != b"OggS":
            return first
        granule = int.from_bytes(hdr[6:14], "little")
        if granule not in (0, 0xFFFFFFFFFFFFFFFF):
            return pos
        segs = f.read(hdr[26])
        pos += 27 + len(segs) + sum(segs)
    return first


def _mask_ogg(buf: bytes) -> bytes:
    """``buf`` with every Ogg page's sequence number and CRC zeroed (they change when a
    tag writer renumbers the pages after a comment that grew)."""
    out = bytearray(buf)
    i = out.find(b"OggS")
    while 0 <= i and i + 27 <= len(out):
        out[i + 18:i + 26] = bytes(8)
        nseg = out[i + 26]
        seg_end = i + 27 + nseg
        if seg_end > len(out):
            break
        nxt = seg_end + sum(out[i + 27:seg_end])
        i = nxt if out[nxt:nxt + 4] == b"OggS" else out.find(b"OggS", i + 4)
    return bytes(out)


def _boxes(f: BinaryIO, pos: int, end: int):
    """(type, payload_start, box_end) of the MP4 boxes between ``pos`` and ``end``."""
    while pos + 8 <= end:
        f.seek(pos)
        hdr = f.read(16)
        if len(hdr) < 8:
            return
        n, typ = struct.unpack(">I4s", hdr[:8])
        body = pos + 8
        if n == 1 and len(hdr) == 16:
            n = struct.unpack(">Q", hdr[8:16])[0]
            body = pos + 16
        elif n == 0:
            n = end - pos
        if n < body - pos:
            return
        yield typ, body, min(pos + n, end)
        pos += n


def _mp4_mdat(f: BinaryIO, size: int) -> tuple[int, int] | None:
    best = None
    for typ, body, box_end in _boxes(f, 0, size):
        if typ == b"mdat" and (best is None or box_end - body > best[1] - best[0]):
            best = (body, box_end)
    return best if best and best[1] > best[0] else None


def _iff_chunk(f: BinaryIO, size: int, want: bytes, endian: str) -> tuple[int, int] | None:
    pos = 12
    while pos + 8 <= size:
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) < 8:
            return None
        cid, n = hdr[:4], struct.unpack(endian + "I", hdr[4:8])[0]
        if cid == want:
            return pos + 8, min(pos + 8 + n, size)
        pos += 8 + n + (n & 1)
    return None
