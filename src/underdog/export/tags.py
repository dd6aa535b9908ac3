"""Opt-in: write the analysed BPM and key into a file's own tags, for DJ software and players.

Only tag blocks change (mutagen rewrites the ID3 tag, the Vorbis comment header, the FLAC
metadata blocks or the MP4 ``ilst`` atom); audio frames and packets stay byte-identical.
The file is never edited in place: the tags go into a copy beside it, which is fsynced,
read back (new values, same length, and for MP3/FLAC the same audio bytes) and renamed
over the original with its mode and owner (``fileio.rewrite_atomic``). A kill, a full disk
or an error leaves the original byte-identical; a kill -9 may leave a ``.underdog-*.tmp``,
which the next ``underdog tag`` or ``underdog scan`` of the folder removes.

| format              | BPM                        | key                                  |
|---------------------|----------------------------|--------------------------------------|
| mp3, wav, aiff (ID3) | ``TBPM`` (integer string)  | ``TKEY`` (``Am``, ``F#``, ``Bb``)    |
| flac, ogg, opus     | ``BPM``                    | ``INITIALKEY``                       |
| m4a/mp4             | ``tmpo`` (integer)         | ``----:com.apple.iTunes:initialkey`` |

The key is written in musical notation by default (what ID3's TKEY defines); pass
``key_notation="camelot"`` to write the Camelot code (``8A``) there instead, as some DJ
tools prefer. Either one is derived from the other when only one is given, and a key
that contradicts its Camelot code is refused.
"""

from __future__ import annotations

import math
import os
from typing import Any

from ..errors import OutputError, UnderdogError
from ..fileio import rewrite_atomic
from ..theory import camelot_code, parse_camelot, parse_key, short_name

MP4_KEY = "----:com.apple.iTunes:initialkey"


class TagWriteError(UnderdogError):
    """Tags could not be written to a file (unsupported format, unreadable, read-only)."""

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: cannot write tags: {reason}")


def _resolve_key(key: str | None, camelot: str | None, path: str) -> tuple[int, bool] | None:
    k = c = None
    try:
        if key:
            k = parse_key(key)
        if camelot:
            c = parse_camelot(camelot)
    except ValueError as e:
        raise TagWriteError(path, str(e)) from None
    if k and c and k != c:
        raise TagWriteError(path, f"key {key!r} contradicts Camelot {camelot!r} "
                                  f"({short_name(*c)})")
    return k or c


def _bpm_value(bpm: float | None, path: str) -> float | None:
    if bpm is None:
        return None
    try:
        b = float(bpm)
    except (TypeError, ValueError):
        raise TagWriteError(path, f"not a BPM: {bpm!r}") from None
    if not (math.isfinite(b) and 1 <= b < 1000):
        raise TagWriteError(path, f"BPM out of range: {bpm!r}")
    return b


def _bpm_text(b: float) -> str:
    return f"{b:.2f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------- writing


def write_bpm_key_tags(path: str | os.PathLike, bpm: float | None, key: str | None,
                       camelot: str | None, dry_run: bool = False,
                       key_notation: str = "musical") -> dict[str, tuple[Any, Any]]:
    """Write BPM and key into ``path``'s tags; ``None`` leaves that field alone.

    Returns the changes as ``{tag: (old, new)}`` (empty when the tags already hold these
    values, in which case the file is not rewritten). ``dry_run`` computes the same
    changes without touching the file."""
    path = os.fspath(path)
    if key_notation not in ("musical", "camelot"):
        raise ValueError(f"key_notation must be 'musical' or 'camelot', not {key_notation!r}")
    b = _bpm_value(bpm, path)
    k = _resolve_key(key, camelot, path)
    key_text = None
    if k is not None:
        key_text = short_name(*k) if key_notation == "musical" else camelot_code(*k)

    import mutagen
    from mutagen.flac import FLAC
    from mutagen.id3 import ID3, TBPM, TKEY
    from mutagen.mp4 import MP4, MP4FreeForm
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    try:
        f = mutagen.File(path)
    except Exception as e:  # mutagen raises many kinds for a broken file
        raise TagWriteError(path, f"unreadable: {e}") from None
    if f is None:
        raise TagWriteError(path, "unsupported format (expected mp3, flac, ogg, opus, m4a, "
                                  "wav or aiff)")
    changes: dict[str, tuple[Any, Any]] = {}
    if f.tags is None:
        try:
            f.add_tags()
        except Exception:  # e.g. raw ADTS .aac: mutagen knows no tag block for it
            raise TagWriteError(path, f"{type(f).__name__} files hold no tags mutagen can "
                                      "write; the file is unchanged") from None
    tags = f.tags

    if isinstance(tags, ID3):
        if b is not None:
            _set(changes, "TBPM", _id3_text(tags, "TBPM"), str(int(round(b))),
                 lambda v: tags.setall("TBPM", [TBPM(encoding=3, text=[v])]))
        if key_text is not None:
            _set(changes, "TKEY", _id3_text(tags, "TKEY"), key_text,
                 lambda v: tags.setall("TKEY", [TKEY(encoding=3, text=[v])]))
    elif isinstance(f, (FLAC, OggVorbis, OggOpus)):
        if b is not None:
            _set(changes, "BPM", _vc_text(tags, "BPM"), _bpm_text(b),
                 lambda v: tags.__setitem__("BPM", [v]))
        if key_text is not None:
            _set(changes, "INITIALKEY", _vc_text(tags, "INITIALKEY"), key_text,
                 lambda v: tags.__setitem__("INITIALKEY", [v]))
    elif isinstance(f, MP4):
        if b is not None:
            old = tags.get("tmpo")
            _set(changes, "tmpo", old[0] if old else None, int(round(b)),
                 lambda v: tags.__setitem__("tmpo", [v]))
        if key_text is not None:
            old = tags.get(MP4_KEY)
            old_text = bytes(old[0]).decode("utf-8", "replace") if old else None
            _set(changes, MP4_KEY, old_text, key_text,
                 lambda v: tags.__setitem__(MP4_KEY, [MP4FreeForm(v.encode("utf-8"))]))
    else:
        raise TagWriteError(path, f"no BPM/key tag mapping for {type(f).__name__}")

    if changes and not dry_run:
        kwargs = {}
        if isinstance(tags, ID3) and getattr(tags, "version", (2, 4))[1] == 3:
            kwargs["v2_version"] = 3  # keep an ID3v2.3 file at 2.3 for older players
        _save_through_copy(path, f, kwargs, changes)
    return changes


def _save_through_copy(path: str, f: Any, kwargs: dict, changes: dict) -> None:
    """Save ``f``'s tags into a copy of ``path`` beside it, check the copy, rename it over
    ``path``: a kill, a full disk or a mutagen error never leaves a damaged original."""

    def edit(copy: str) -> None:
        try:
            f.save(copy, **kwargs)  # the copy holds the same bytes ``f`` was read from
        except Exception as e:
            os_err = _os_error(e)
            if os_err is not None:
                raise os_err from None  # rewrite_atomic words it (e.g. disk full)
            raise TagWriteError(path, f"{e}; the file is unchanged") from None

    try:
        rewrite_atomic(path, edit, lambda orig, copy: _verify(path, orig, copy, f, changes))
    except OutputError as e:
        raise TagWriteError(path, f"{e.reason}; the file is unchanged") from None


def _os_error(e: BaseException) -> OSError | None:
    """The OS error under a mutagen error (mutagen wraps them as ``MutagenError(oserror)``)."""
    seen = 0
    while e is not None and seen < 5:
        if isinstance(e, OSError):
            return e
        nxt = e.args[0] if e.args and isinstance(e.args[0], BaseException) else None
        e = nxt or e.__cause__ or e.__context__
        seen += 1
    return None


def _verify(path: str, orig: str, copy: str, f: Any, changes: dict) -> None:
    """Refuse the rewritten copy unless mutagen reads it back with the new values and the
    same stream length, and (MP3, FLAC) its audio bytes equal the original's."""
    import mutagen

    def refuse(why: str) -> TagWriteError:
        return TagWriteError(path, f"the rewritten copy failed its check ({why}); "
                                   "the file is unchanged")
    try:
        g = mutagen.File(copy)
    except Exception as e:
        raise refuse(f"unreadable: {e}") from None
    if g is None or g.tags is None:
        raise refuse("no tags")
    for name, (_, new) in changes.items():
        got = _tag_value(g.tags, name)
        if got is None or str(got).strip() != str(new):
            raise refuse(f"{name} reads back as {got!r}, not {new!r}")
    a, b = getattr(f.info, "length", None), getattr(g.info, "length", None)
    if a is not None and (b is None or abs(a - b) > 0.01):
        raise refuse(f"length {b!r} s, was {a!r} s")
    from mutagen.mp3 import MP3

    mp3 = isinstance(f, MP3)
    span_a, span_b = audio_span(orig, mp3), audio_span(copy, mp3)
    if span_a is not None and (span_b is None or not _same_bytes(orig, span_a, copy, span_b)):
        raise refuse("audio data differ")


def _tag_value(tags: Any, name: str) -> Any:
    if name in ("TBPM", "TKEY"):
        return _id3_text(tags, name)
    if name == MP4_KEY:
        v = tags.get(MP4_KEY)
        return bytes(v[0]).decode("utf-8", "replace") if v else None
    if name == "tmpo":
        v = tags.get("tmpo")
        return v[0] if v else None
    return _vc_text(tags, name)


def audio_span(path: str, mp3: bool) -> tuple[int, int] | None:
    """(start, end) byte offsets of the audio data that a tag rewrite must not change: an
    MP3 (``mp3`` true) after its ID3v2 tag (before an ID3v1 tag), a FLAC after its metadata
    blocks, a WAV's ``data`` or an AIFF's ``SSND`` chunk. None for other formats (their
    containers renumber pages or move atoms)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(12)
        if (head[:4], head[8:12]) in ((b"RIFF", b"WAVE"), (b"FORM", b"AIFF"),
                                      (b"FORM", b"AIFC")):
            from ..library.fingerprint import payload_span

            start, end, _ = payload_span(fh, size)
            return (start, end) if (start, end) != (0, size) else None
        start = 0
        if head[:3] == b"ID3" and len(head) >= 10:
            n = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
            start = 10 + n + (10 if head[5] & 0x10 else 0)
        fh.seek(start)
        if fh.read(4) == b"fLaC":
            pos = start + 4
            while True:
                fh.seek(pos)
                h = fh.read(4)
                if len(h) < 4:
                    return None
                pos += 4 + int.from_bytes(h[1:4], "big")
                if h[0] & 0x80:
                    return pos, size
        if not mp3:
            return None
        fh.seek(max(size - 128, 0))
        end = size - 128 if size - start >= 128 and fh.read(3) == b"TAG" else size
        return start, end


def _same_bytes(a: str, span_a: tuple[int, int], b: str, span_b: tuple[int, int]) -> bool:
    if span_a[1] - span_a[0] != span_b[1] - span_b[0]:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        fa.seek(span_a[0])
        fb.seek(span_b[0])
        left = span_a[1] - span_a[0]
        while left > 0:
            n = min(left, 1 << 20)
            if fa.read(n) != fb.read(n):
                return False
            left -= n
    return True


def _set(changes: dict, name: str, old: Any, new: Any, apply) -> None:
    if old is not None and str(old).strip() == str(new):
        return
    changes[name] = (old, new)
    apply(new)


def _id3_text(tags: Any, frame: str) -> str | None:
    fr = tags.get(frame)
    return str(fr.text[0]) if fr is not None and fr.text else None


def _vc_text(tags: Any, name: str) -> str | None:
    v = tags.get(name)
    return str(v[0]) if v else None
