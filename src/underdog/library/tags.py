"""Read the tags the library keeps, with mutagen, from mp3/m4a/flac/ogg/opus/wav/aiff.

``read_tags(path)`` never raises for a bad file: tags are a nice-to-have, the decoder
decides whether a file is usable. Keys: artist, title, album, albumartist, genre, genres,
year, track_no, duration_s, tag_bpm, tag_key (missing ones are absent). ``genres`` lists
every genre value (several frames or values, "Rock; Pop" split, ID3v1 numbers such as
"(17)" named; see analysis/genre.py); ``genre`` is them joined with "; " for display.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..analysis.genre import split_genres

# mutagen "easy" keys and the raw frames/atoms we fall back to, per field.
_TEXT_KEYS = {
    "artist": ("artist", "TPE1", "\xa9ART", "ARTIST"),
    "title": ("title", "TIT2", "\xa9nam", "TITLE"),
    "album": ("album", "TALB", "\xa9alb", "ALBUM"),
    "albumartist": ("albumartist", "album artist", "TPE2", "aART", "ALBUMARTIST"),
    "genre": ("genre", "TCON", "\xa9gen", "GENRE"),
    "year": ("date", "year", "originaldate", "TDRC", "TYER", "\xa9day", "DATE"),
    "track_no": ("tracknumber", "TRCK", "trkn", "TRACKNUMBER"),
    "tag_bpm": ("bpm", "TBPM", "tmpo", "BPM", "TEMPO"),
    "tag_key": ("initialkey", "TKEY", "initial key", "key", "----:com.apple.iTunes:initialkey",
                "INITIALKEY"),
}


def _first(tags: Any, keys: tuple[str, ...]) -> Any:
    if tags is None:
        return None
    for k in keys:
        for cand in (k, k.lower(), k.upper()):
            try:
                v = tags[cand]
            except (KeyError, ValueError, TypeError, IndexError):
                continue
            except Exception:
                continue
            if v is None:
                continue
            if hasattr(v, "text"):  # ID3 frame
                v = v.text
            if isinstance(v, (list, tuple)):
                if not v:
                    continue
                v = v[0]
            if isinstance(v, bytes):  # MP4 freeform atoms
                v = v.decode("utf-8", "replace")
            if v is None:
                continue
            return v
    return None


# Raw genre keys: ID3 TCON (also in WAV/AIFF), Vorbis/Opus/FLAC GENRE, MP4 \xa9gen (mutagen
# turns the numeric gnre atom into \xa9gen), ASF WM/Genre.
_GENRE_KEYS = ("TCON", "GENRE", "genre", "\xa9gen", "WM/Genre")


def _genres(tags: Any) -> list[str]:
    """Every genre value of the raw (not "easy") tags, split and with ID3v1 numbers named."""
    if tags is None:
        return []
    for k in _GENRE_KEYS:
        try:
            v = tags[k]
        except Exception:
            continue
        v = getattr(v, "text", v)  # ID3 frame: its text values
        vals = v if isinstance(v, (list, tuple)) else [v]
        vals = [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in vals]
        found = split_genres(vals)
        if found:
            return found
    return []


def _int(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, tuple):  # MP4 trkn (n, total)
        v = v[0]
    m = re.match(r"\s*(\d{1,4})", str(v))
    return int(m.group(1)) if m else None


def _float(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(str(v).strip().replace(",", "."))
    except ValueError:
        return None
    return f if 0 < f < 1000 else None


def _text(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).replace("\x00", " ").strip()
    return s or None


def read_tags(path: str) -> dict[str, Any]:
    """The library's tag fields for ``path``; {} when the file has none or is unreadable."""
    try:
        import mutagen

        f = mutagen.File(path, easy=False)
    except Exception:
        return {}
    if f is None:
        return {}
    out: dict[str, Any] = {}
    tags = getattr(f, "tags", None)
    easy = None
    try:
        easy = mutagen.File(path, easy=True)
    except Exception:
        easy = None
    sources = [getattr(easy, "tags", None), tags]
    for field, keys in _TEXT_KEYS.items():
        v = None
        for src in sources:
            v = _first(src, keys)
            if v is not None:
                break
        if field in ("year", "track_no"):
            v = _int(v)
        elif field == "tag_bpm":
            v = _float(v)
        else:
            v = _text(v)
        if v is not None:
            out[field] = v
    genres = _genres(tags)
    if genres:
        out["genres"] = genres
        out["genre"] = "; ".join(genres)
    try:
        length = float(f.info.length)
        if length > 0:
            out["duration_s"] = length
    except Exception:
        pass
    return out


def header_seconds(path: str) -> float:
    """The audio's length (s) as the file's header states it, without decoding (about a
    millisecond); 0.0 when the header does not say or the file cannot be read."""
    import mutagen

    try:
        length = float(mutagen.File(path).info.length)
    except Exception:  # noqa: BLE001 - any unreadable header just has no length
        return 0.0
    return length if math.isfinite(length) and length > 0 else 0.0
