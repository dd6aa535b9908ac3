"""Playlist files: write M3U8, XSPF and JSON; read M3U/M3U8/XSPF back into absolute paths.

Entries are any objects with ``.path``, ``.artist``, ``.title`` and ``.duration_s``
(``models.Track`` works; mappings with those keys too). Missing tags fall back to the file
name, an unknown duration to -1 (M3U) or no ``<duration>`` (XSPF). An entry without a path
but with a ``.comment`` is written to M3U8 as a ``# comment`` line in its place (the
soundtrack report's ``# missing: ...`` lines) and left out of XSPF.

Every writer writes UTF-8 with ``\\n`` line ends to a temporary file beside ``out``, fsyncs
it and renames it into place (``fileio.atomic_write``), so a crash or a full disk never
leaves half a playlist, and an existing playlist stays as it was.

File names whose bytes are not UTF-8 (``os.fsdecode`` gives them as surrogate escapes) go
out exactly: an M3U8 path line holds the name's raw bytes (what players on Linux open), an
XSPF ``<location>`` percent-encodes the bytes, and JSON holds ``"path"`` for display (bad
bytes as U+FFFD) plus ``"path_bytes_b64"``, the exact bytes in base64
(``fileio.path_json``). Titles and other text fields show such bytes as U+FFFD.
:func:`read_playlist` turns each form back into the same name.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from xml.parsers import expat

import numpy as np

from ..errors import PlaylistError
from ..fields import plain
from ..fileio import display_text, path_from_json, path_json, write_atomic
from ..ramp import via_points

XSPF_NS = "http://xspf.org/ns/0/"
M3U_EXTENSIONS = (".m3u", ".m3u8")
XSPF_EXTENSIONS = (".xspf",)
JSON_EXTENSIONS = (".json",)
MAX_PLAYLIST_BYTES = 64_000_000    # a playlist file read back
MAX_PLAYLIST_ENTRIES = 50_000      # entries in a playlist read back
ARC_TAG = "#UNDERDOG-ARC:"         # M3U comment line: the arc a plan was made for (JSON)
VLC_OPT = "#EXTVLCOPT:"            # M3U line: a VLC input option for the next entry
WHOLE_EPS_S = 0.05                 # an excerpt this close to both ends is the whole track
_VLC_TIME = re.compile(r"#EXTVLCOPT:\s*(start|stop)-time\s*=\s*([0-9]+(?:\.[0-9]*)?)\s*$",
                       re.IGNORECASE)
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")  # C:\ or C:/
_REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")  # http://, smb://, ...


# ---------------------------------------------------------------- entries


@dataclasses.dataclass
class PlaylistComment:
    """A comment line in an M3U8 in place of a track (e.g. ``missing: Artist - Title``)."""

    comment: str
    path: str | None = None


def _get(entry: Any, name: str) -> Any:
    if isinstance(entry, Mapping):
        return entry.get(name)
    return getattr(entry, name, None)


def _one_line(text: Any) -> str:
    return " ".join(display_text(str(text)).split())


def _finite(entry: Any, name: str) -> float | None:
    """``entry``'s ``name`` as a finite number, or None (missing or malformed)."""
    try:
        v = float(_get(entry, name))
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _duration_s(entry: Any) -> float | None:
    d = _finite(entry, "duration_s")
    return d if d is not None and d > 0 else None


def _display(entry: Any) -> str:
    """"Artist - Title"; the title or the file name when a tag is missing."""
    artist, title = _get(entry, "artist"), _get(entry, "title")
    artist = _one_line(artist) if artist else ""
    title = _one_line(title) if title else ""
    if artist and title:
        return f"{artist} - {title}"
    return title or display_text(_stem(str(_get(entry, "path"))))


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path.replace("\\", "/")))[0]


def _check_path(path: str, out: Any) -> str:
    if "\n" in path or "\r" in path:
        raise PlaylistError(str(out), f"cannot write a path with a line break: {path!r}")
    return path


# ---------------------------------------------------------------- M3U8


def _m3u_path(path: str, relative_to: str | os.PathLike | None) -> str:
    full = os.path.abspath(os.fspath(path))
    if relative_to is None:
        return full
    try:
        rel = os.path.relpath(full, os.path.abspath(os.fspath(relative_to)))
    except ValueError:  # another drive on Windows: no relative form exists
        return full
    rel = rel.replace(os.sep, "/")
    # A relative name starting with '#' would read back as a comment.
    return "./" + rel if rel.startswith("#") else rel


def m3u8_lines(entries: Iterable[Any], relative_to: str | os.PathLike | None = None,
               title: str | None = None, out: Any = "<playlist>",
               arc: Mapping[str, Any] | None = None) -> list[str]:
    """The lines of an extended M3U: ``#EXTM3U``, then ``#EXTINF`` + path per entry
    (or ``# comment`` for a path-less entry with a comment); an excerpt (``in_s``/``out_s``,
    see :func:`excerpt_span`) gets ``#EXTVLCOPT:start-time=`` and ``stop-time=`` lines in
    seconds of the file, and its length in ``#EXTINF``. ``arc`` (the arc's spec:
    name or TOML path, its parameters, minutes) goes in an ``#UNDERDOG-ARC:{json}`` line,
    which players skip as an unknown comment and :func:`read_arc_spec` reads back."""
    lines = ["#EXTM3U"]
    if title:
        lines.append(f"#PLAYLIST:{_one_line(title)}")
    if arc:
        lines.append(ARC_TAG + json.dumps(lossless_paths(jsonable(dict(arc))),
                                          ensure_ascii=False, separators=(",", ":")))
    for e in entries:
        path = _get(e, "path")
        comment = _get(e, "comment")
        if not path:
            if comment:
                lines.append(_one_line(f"# {comment}"))
                continue
            raise PlaylistError(str(out), f"entry without a path: {e!r}")
        path = _check_path(os.fspath(path), out)
        if comment:
            lines.append(_one_line(f"# {comment}"))
        span = excerpt_span(e)
        d = span[1] - span[0] if span else _duration_s(e)
        lines.append(f"#EXTINF:{int(round(d)) if d is not None else -1},{_display(e)}")
        if span:  # VLC plays only this part of the file
            lines.append(f"{VLC_OPT}start-time={_seconds(span[0])}")
            lines.append(f"{VLC_OPT}stop-time={_seconds(span[1])}")
        lines.append(_m3u_path(path, relative_to))
    return lines


def excerpt_span(entry: Any) -> tuple[float, float] | None:
    """``(in_s, out_s)`` in track seconds when ``entry`` plays an excerpt (``in_s`` /
    ``out_s`` set, not the whole file); None for a whole track."""
    try:
        a, b = float(_get(entry, "in_s")), float(_get(entry, "out_s"))
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(a) and math.isfinite(b) and 0.0 <= a < b):
        return None
    d = _duration_s(entry)
    if a <= WHOLE_EPS_S and d is not None and b >= d - WHOLE_EPS_S:
        return None
    return a, b


def _seconds(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def write_m3u8(entries: Iterable[Any], out: str | os.PathLike,
               relative_to: str | os.PathLike | None = None, title: str | None = None,
               arc: Mapping[str, Any] | None = None) -> None:
    """Write an extended M3U (UTF-8, LF) with absolute paths, or paths relative to the
    folder ``relative_to`` (normally the folder the playlist goes in). A name that is not
    UTF-8 is written as its raw bytes. ``arc``: see :func:`m3u8_lines`."""
    text = "\n".join(m3u8_lines(entries, relative_to, title, out, arc)) + "\n"
    write_atomic(out, text, errors="surrogateescape")


# ---------------------------------------------------------------- XSPF


def file_uri(path: str | os.PathLike) -> str:
    """The ``file://`` URI of a local path, percent-encoded (the name's bytes, UTF-8 or not)."""
    return Path(os.path.abspath(os.fspath(path))).as_uri()


def write_xspf(entries: Iterable[Any], out: str | os.PathLike, title: str | None = None,
               creator: str = "underdog", annotation: str | None = None) -> None:
    """Write an XSPF version 1 playlist: per track a ``file://`` location, title, creator
    (the artist), duration in milliseconds and an optional annotation (``.annotation`` or
    ``.comment``). Path-less entries are left out."""
    ET.register_namespace("", XSPF_NS)

    def sub(parent: ET.Element, tag: str, text: str) -> None:
        ET.SubElement(parent, f"{{{XSPF_NS}}}{tag}").text = text

    root = ET.Element(f"{{{XSPF_NS}}}playlist", {"version": "1"})
    if title:
        sub(root, "title", _one_line(title))
    if creator:
        sub(root, "creator", creator)
    if annotation:
        sub(root, "annotation", display_text(str(annotation)))
    tracks = ET.SubElement(root, f"{{{XSPF_NS}}}trackList")
    for e in entries:
        path = _get(e, "path")
        if not path:
            continue
        path = _check_path(os.fspath(path), out)
        t = ET.SubElement(tracks, f"{{{XSPF_NS}}}track")
        sub(t, "location", file_uri(path))
        artist, ttl = _get(e, "artist"), _get(e, "title")
        sub(t, "title", _one_line(ttl) if ttl else display_text(_stem(path)))
        if artist:
            sub(t, "creator", _one_line(artist))
        note = _get(e, "annotation") or _get(e, "comment")
        if note:
            sub(t, "annotation", display_text(str(note)))
        album = _get(e, "album")
        if album:
            sub(t, "album", _one_line(album))
        d = _duration_s(e)
        if d is not None:
            sub(t, "duration", str(int(round(d * 1000))))
    ET.indent(root, space="  ")
    text = ET.tostring(root, encoding="unicode", xml_declaration=False)
    write_atomic(out, '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n")


# ---------------------------------------------------------------- JSON


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values: numpy arrays and scalars become lists and numbers,
    dataclasses dicts, paths strings, tuples/sets lists, NaN and ±inf ``None``."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float, np.bool_, np.integer, np.floating)):
        return plain(obj)  # the one number converter (fields.plain)
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):  # complex, datetime64, ...: their Python value
        return jsonable(obj.item())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {_json_key(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((jsonable(v) for v in obj), key=repr)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON: {obj!r}")


def _json_key(k: Any) -> str:
    if isinstance(k, str):
        return k
    v = jsonable(k)
    return v if isinstance(v, str) else json.dumps(v)


def write_json(obj: Any, out: str | os.PathLike) -> None:
    """Pretty UTF-8 JSON (2-space indent), numpy-safe, non-finite numbers as null.

    Valid UTF-8 whatever the file names: see :func:`lossless_paths`."""
    text = json.dumps(lossless_paths(jsonable(obj)), ensure_ascii=False, indent=2,
                      allow_nan=False)
    write_atomic(out, text + "\n")


def lossless_paths(obj: Any) -> Any:
    """JSON values made valid Unicode: in an object, a ``"path"`` whose name is not UTF-8
    gains ``"path_bytes_b64"`` (see :func:`underdog.fileio.path_json`); any other string
    shows such bytes as U+FFFD."""
    if isinstance(obj, str):
        return display_text(obj)
    if isinstance(obj, list):
        return [lossless_paths(v) for v in obj]
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if k == "path" and isinstance(v, str):
                out.update(path_json(v))
            else:
                out[display_text(k)] = lossless_paths(v)
        return out
    return obj


# ---------------------------------------------------------------- reading


def read_playlist(path: str | os.PathLike, notes: list[str] | None = None,
                  spans: list[tuple[float, float] | None] | None = None,
                  tempi: list[float | None] | None = None,
                  places: list[dict | None] | None = None) -> list[str]:
    """The absolute paths in an M3U/M3U8, XSPF or underdog JSON playlist, in order.

    Relative entries resolve against the playlist's folder; ``#`` lines are skipped;
    Windows backslashes and ``file://`` URIs are understood. An M3U path line that is not
    UTF-8 is read as the raw bytes of a file name when such a file exists (what
    :func:`write_m3u8` writes). A ``.json`` file is read from its ``"entries"`` list only
    (``"path_bytes_b64"`` before ``"path"``), as :func:`write_json` writes a plan.
    An M3U or XSPF entry that names no local file (``http://...``, a file URI on another
    host) is skipped with a note ("FILE:LINE: skipped ...") appended to ``notes``, or logged
    as a warning when ``notes`` is None. Malformed input raises :class:`PlaylistError`
    naming the file and line; so does a file over ``MAX_PLAYLIST_BYTES`` or
    ``MAX_PLAYLIST_ENTRIES`` entries. XSPF entity declarations are refused (no external
    entities, no entity expansion).

    ``spans``, when given, gets one item per path returned: the excerpt that plays,
    ``(in_s, out_s)`` in track seconds (an M3U's ``#EXTVLCOPT:start-time``/``stop-time``, a
    JSON entry's ``in_s``/``out_s``), or None for the whole track; ``tempi`` likewise the
    tempo (BPM) an excerpt plays at, stretched (a JSON excerpt's ``tempo_bpm``), or None;
    ``places`` likewise where the entry sits in the session: ``{"start_s", "end_s",
    "bars", "blend_in_bars", "tempo_in_bpm", "tempo_out_bpm", "tempo_via"}`` from a JSON
    entry's ``start_s`` (session seconds), ``end_s``, ``bars``, its transition's bars (None:
    a cut) and its tempo ramp (None where not given; ``tempo_via`` its bends, () if none),
    or None where the entry has no ``start_s``
    (M3U, XSPF)."""
    return _read_entries(os.fspath(path), notes, spans, tempi, places)[0]


def read_playlist_arc(path: str | os.PathLike, notes: list[str] | None = None,
                      spans: list[tuple[float, float] | None] | None = None,
                      tempi: list[float | None] | None = None,
                      places: list[dict | None] | None = None
                      ) -> tuple[list[str], dict[str, Any] | None]:
    """:func:`read_playlist`'s paths and :func:`read_arc_spec`'s arc from one read of the
    file (grading a playlist against the arc it was planned for)."""
    path = os.fspath(path)
    paths, data = _read_entries(path, notes, spans, tempi, places)
    return paths, _arc_spec(path, data)


def _read_entries(path: str, notes: list[str] | None,
                  spans: list[tuple[float, float] | None] | None,
                  tempi: list[float | None] | None = None,
                  places: list[dict | None] | None = None) -> tuple[list[str], bytes]:
    """:func:`read_playlist`'s paths, and the bytes of the file."""
    if spans is None:
        spans = []
    if tempi is None:
        tempi = []
    if places is None:
        places = []
    had, had_places = len(tempi), len(places)
    if notes is None:
        notes = _LoggedNotes()
    ext = os.path.splitext(path)[1].lower()
    if ext not in M3U_EXTENSIONS + XSPF_EXTENSIONS + JSON_EXTENSIONS:
        raise PlaylistError(path, f"unknown playlist type {ext or '(no extension)'!r}; "
                                  "expected .m3u, .m3u8, .xspf or .json")
    data = read_capped(path)
    base = os.path.dirname(os.path.abspath(path))
    if ext in XSPF_EXTENSIONS:
        out = _read_xspf(data, path, base, notes)
        spans.extend([None] * len(out))
    elif ext in JSON_EXTENSIONS:
        out = _read_json(data, path, base, spans, tempi, places)
    else:
        out = _read_m3u(data, path, base, strict_utf8=(ext == ".m3u8"), notes=notes,
                        spans=spans)
    tempi.extend([None] * (had + len(out) - len(tempi)))  # only JSON entries state one
    places.extend([None] * (had_places + len(out) - len(places)))
    return out, data


def read_capped(path: str) -> bytes:
    """The bytes of a playlist file, at most ``MAX_PLAYLIST_BYTES``; PlaylistError when it
    cannot be read or is larger."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_PLAYLIST_BYTES + 1)
    except OSError as e:
        raise PlaylistError(path, f"cannot read: {e.strerror or e}") from None
    if len(data) > MAX_PLAYLIST_BYTES:
        raise PlaylistError(path, f"larger than {MAX_PLAYLIST_BYTES // 1_000_000} MB; a "
                                  "playlist is at most that")
    return data


def read_arc_spec(path: str | os.PathLike) -> dict[str, Any] | None:
    """The arc an underdog playlist was planned for, or None when it names none.

    An M3U/M3U8's ``#UNDERDOG-ARC:{json}`` line, or a plan JSON's ``"arc_spec"``; a plan
    JSON without one gives ``{"arc": its "arc", "minutes": its "session_minutes"}``. The
    dict holds ``"arc"`` (a built-in name or a TOML path) and optionally ``"minutes"``,
    ``"cadence"``, ``"work"``, ``"rest"`` and ``"rounds"``. A malformed line raises
    :class:`PlaylistError`."""
    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() not in M3U_EXTENSIONS + JSON_EXTENSIONS:
        return None
    return _arc_spec(path, read_capped(path))


def _arc_spec(path: str, data: bytes) -> dict[str, Any] | None:
    """:func:`read_arc_spec` of the playlist ``path`` whose bytes are ``data``."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in M3U_EXTENSIONS + JSON_EXTENSIONS:
        return None
    spec: Any = None
    if ext in JSON_EXTENSIONS:
        try:
            doc = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None  # read_playlist says what is wrong
        if not isinstance(doc, dict):
            return None
        spec = doc.get("arc_spec")
        if spec is None and isinstance(doc.get("arc"), str):
            spec = {"arc": doc["arc"], "minutes": doc.get("session_minutes")}
    else:
        tag = ARC_TAG.encode()
        for no, raw in enumerate(data.split(b"\n"), start=1):
            line = raw.strip().lstrip(b"\xef\xbb\xbf")
            if line[:len(tag)].upper() == tag:
                try:
                    spec = json.loads(line[len(tag):].decode("utf-8"))
                except (UnicodeDecodeError, ValueError, RecursionError) as e:
                    raise PlaylistError(path, f"malformed {ARC_TAG} line: {e}", no) from None
                break
    if spec is None:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("arc"), str) or not spec["arc"]:
        raise PlaylistError(path, f"the arc it names is malformed: {_shown(spec)}")
    out: dict[str, Any] = {"arc": spec["arc"]}
    for k, typ in (("minutes", float), ("cadence", float), ("work", float), ("rest", float),
                   ("rounds", int)):
        v = spec.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[k] = typ(v)
    return out


class _LoggedNotes(list):
    """A notes list that logs each note as a warning (read_playlist without ``notes``)."""

    def append(self, note: str) -> None:
        logging.getLogger(__name__).warning("%s", note)
        super().append(note)


def _too_many(path: str, line: int | None) -> PlaylistError:
    return PlaylistError(path, f"more than {MAX_PLAYLIST_ENTRIES:,} entries; a playlist holds "
                               f"at most {MAX_PLAYLIST_ENTRIES:,}", line)


def _local_or_note(entry: str, path: str, line: int, notes: list[str]) -> bool:
    """False (and a note) for an entry that names no local file: a remote URL or a file URI
    on another host."""
    low = entry[:5].lower()
    remote = (low != "file:" and _REMOTE.match(entry)) or (
        low == "file:" and urllib.parse.urlsplit(entry).netloc not in ("", "localhost"))
    if remote:
        notes.append(f"{path}:{line}: skipped {_shown(entry)}: not a local file")
    return not remote


def _shown(text: object, n: int = 80) -> str:
    """repr() of a playlist's text, cut for a one-line message."""
    r = repr(text)
    return r if len(r) <= n else r[:n] + f"… ({len(r):,} characters)"


def _read_json(data: bytes, path: str, base: str,
               spans: list[tuple[float, float] | None],
               tempi: list[float | None],
               places: list[dict | None] | None = None) -> list[str]:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise PlaylistError(path, f"not JSON: {e}") from None
    entries = doc.get("entries") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise PlaylistError(path, 'no "entries" list (an underdog plan JSON has one)')
    out = []
    for i, e in enumerate(entries):
        p = path_from_json(e) if isinstance(e, dict) else None
        if not p:
            raise PlaylistError(path, f"entry {i} has no \"path\"")
        out.append(os.path.normpath(os.path.join(base, p)))
        spans.append(excerpt_span(e))
        tempo = _finite(e, "tempo_bpm") if spans[-1] else None
        tempi.append(tempo if tempo is not None and tempo > 0 else None)
        if places is not None:
            places.append(_place(e))
    return out


def _place(entry: dict) -> dict | None:
    """Where a JSON entry sits in the session: ``start_s`` (seconds, required), ``end_s``
    and ``bars`` (None where missing or malformed); None without a usable ``start_s``."""
    def num(k: str) -> float | None:
        v = _finite(entry, k)
        return v if v is not None and v >= 0 else None

    start = num("start_s")
    if start is None:
        return None
    end, bars = num("end_s"), num("bars")
    tr = entry.get("transition")
    blend = None
    if isinstance(tr, dict) and tr.get("shape") not in (None, "cut"):
        try:
            blend = float(tr.get("bars") or 0) or None
        except (TypeError, ValueError):
            blend = None
    t_in, t_out = num("tempo_in_bpm"), num("tempo_out_bpm")
    return {"start_s": start, "end_s": end if end is not None and end > start else None,
            "bars": bars if bars else None, "blend_in_bars": blend,
            # a ramping excerpt's tempo where it starts and ends (both, or neither), and
            # where its line bends
            "tempo_in_bpm": t_in if t_in and t_out else None,
            "tempo_out_bpm": t_out if t_in and t_out else None,
            "tempo_via": _via(entry.get("tempo_via")) if t_in and t_out else ()}


def _via(v) -> tuple[tuple[float, float], ...]:
    """A JSON entry's ``tempo_via`` as pairs (:func:`ramp.via_points`); () where missing
    or malformed."""
    try:
        return via_points(v)
    except ValueError:
        return ()


def _has_escapes(text: str) -> bool:
    """Whether ``text`` holds undecodable bytes (surrogate escapes)."""
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _not_utf8(raw: bytes, path: str, line: int) -> PlaylistError:
    bad = next((b for b in raw if b >= 0x80), 0)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = raw[e.start]
    return PlaylistError(path, f"not UTF-8 (byte 0x{bad:02x}) and no file has that exact "
                               "name; an .m3u8 must be UTF-8", line)


def _read_m3u(data: bytes, path: str, base: str, strict_utf8: bool,
              notes: list[str], spans: list[tuple[float, float] | None]) -> list[str]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    # Undecodable bytes stay as surrogate escapes (the way the OS names files): a path
    # line is the exact name of a file when one exists.
    try:
        text, utf8 = data.decode("utf-8"), True
    except UnicodeDecodeError:
        text, utf8 = data.decode("utf-8", "surrogateescape"), False
    out: list[str] = []
    pending_extinf: int | None = None  # line of an #EXTINF still waiting for its path
    vlc: dict[str, float] = {}  # start-time / stop-time of the coming entry
    # Split on LF only: str.splitlines() would also split inside names (U+2028, \x1c, ...).
    for no, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if "\x00" in line:
            raise PlaylistError(path, "NUL byte in line (binary file?)", no)
        if not line:
            continue
        if line.startswith("#"):
            m = _VLC_TIME.match(line)
            if m:
                vlc[m.group(1).lower()] = float(m.group(2))
            if line.upper().startswith("#EXTINF"):
                if pending_extinf is not None:
                    raise PlaylistError(path, "#EXTINF without a path after it", pending_extinf)
                m = re.match(r"#EXTINF:\s*(-?\d+(?:\.\d+)?)\b[^,]*,?", line, re.IGNORECASE)
                if not m:
                    raise PlaylistError(path, f"malformed #EXTINF (expected "
                                              f"'#EXTINF:<seconds>,<title>'): {_shown(line)}",
                                    no)
                pending_extinf = no
            continue
        pending_extinf = None
        span = excerpt_span({"in_s": vlc.get("start", 0.0 if "stop" in vlc else None),
                             "out_s": vlc.get("stop")})
        vlc = {}
        if not _local_or_note(line, path, no, notes):
            continue
        if len(out) == MAX_PLAYLIST_ENTRIES:
            raise _too_many(path, no)
        p = _entry_to_path(line, base, path, no)
        if not utf8 and not line.isascii() and not os.path.lexists(p):
            # No file has this exact name: a .m3u8 line must be UTF-8; a classic .m3u
            # that is not all UTF-8 is cp1252.
            raw = line.encode("utf-8", "surrogateescape")
            if not strict_utf8:
                p = _entry_to_path(raw.decode("cp1252", "replace"), base, path, no)
            elif _has_escapes(line):
                raise _not_utf8(raw, path, no)
        out.append(p)
        spans.append(span)
    if pending_extinf is not None:
        raise PlaylistError(path, "#EXTINF without a path after it", pending_extinf)
    return out


def _entry_to_path(entry: str, base: str, path: str, line: int | None) -> str:
    """One playlist entry (a path, a relative path or a URI) as an absolute local path."""
    if entry[:5].lower() == "file:":
        return _file_uri_to_path(entry, path, line)
    if _REMOTE.match(entry):
        raise PlaylistError(path, f"not a local file: {_shown(entry)}", line)
    if _DRIVE.match(entry):  # a Windows absolute path: keep it, with one kind of slash
        return os.path.normpath(entry.replace("\\", os.sep).replace("/", os.sep))
    p = entry
    if "\\" in p and os.sep == "/" and not os.path.exists(os.path.join(base, p)):
        p = p.replace("\\", "/")  # a Windows-made playlist
    return os.path.normpath(os.path.join(base, p))


def _file_uri_to_path(uri: str, path: str, line: int | None) -> str:
    parts = urllib.parse.urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise PlaylistError(path, f"file URI on another host: {_shown(uri)}", line)
    if os.name == "nt":
        return os.path.normpath(urllib.request.url2pathname(parts.path))
    # Percent-decode to bytes, then to a str the way the OS names files (non-UTF-8 safe).
    p = os.fsdecode(urllib.parse.unquote_to_bytes(parts.path))
    if not p.startswith("/"):
        raise PlaylistError(path, f"file URI without an absolute path: {_shown(uri)}",
                            line)
    return os.path.normpath(p)


def _read_xspf(data: bytes, path: str, base: str, notes: list[str]) -> list[str]:
    """Stream the XML with expat, so every problem can name its line."""
    parser = expat.ParserCreate(namespace_separator=" ")

    def no_entities(name: str, *_: Any) -> None:
        # XSPF needs no DTD: refusing every entity declaration stops both external
        # entities and exponential expansion ("billion laughs") before any expansion.
        raise PlaylistError(path, f"entity declaration {name[:40]!r} refused (an XSPF "
                                  "playlist needs none)", parser.CurrentLineNumber)

    parser.EntityDeclHandler = no_entities
    stack: list[str] = []
    out: list[str] = []
    state: dict[str, Any] = {"text": None, "loc_line": 0, "track_loc": None}
    playlist = f"{XSPF_NS} playlist"
    track = f"{XSPF_NS} track"
    location = f"{XSPF_NS} location"

    def start(name: str, attrs: dict[str, str]) -> None:
        if not stack:
            if name != playlist:
                local = name.split(" ")[-1]
                ns = name.split(" ")[0] if " " in name else "no namespace"
                raise PlaylistError(path, f"root element is <{local}> in {ns}, expected "
                                          f"<playlist> in {XSPF_NS}", parser.CurrentLineNumber)
            if attrs.get("version") not in ("0", "1"):
                raise PlaylistError(path, "unsupported XSPF version "
                                          f"{_shown(attrs.get('version'))}",
                                    parser.CurrentLineNumber)
        if name == track:
            state["track_loc"] = None
        elif name == location and stack and stack[-1] == track:
            state["text"] = []
            state["loc_line"] = parser.CurrentLineNumber
        stack.append(name)

    def end(name: str) -> None:
        stack.pop()
        if name == location and state["text"] is not None:
            uri = "".join(state["text"]).strip()
            state["text"] = None
            if state["track_loc"] is None:  # a player renders only the first location
                state["track_loc"] = (uri, state["loc_line"])
        elif name == track and state["track_loc"] is not None:
            uri, line = state["track_loc"]
            if not uri:
                raise PlaylistError(path, "empty <location>", line)
            if _local_or_note(uri, path, line, notes):
                if len(out) == MAX_PLAYLIST_ENTRIES:
                    raise _too_many(path, line)
                out.append(_xspf_location(uri, base, path, line))

    def chars(text: str) -> None:
        if state["text"] is not None:
            state["text"].append(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        raise PlaylistError(path, f"malformed XML: {expat.ErrorString(e.code)}",
                            e.lineno) from None
    return out


def _xspf_location(uri: str, base: str, path: str, line: int) -> str:
    if uri[:5].lower() == "file:" or _REMOTE.match(uri):
        return _entry_to_path(uri, base, path, line)
    # A relative URI reference: percent-decoded, resolved against the playlist's folder.
    rel = os.fsdecode(urllib.parse.unquote_to_bytes(uri))
    return os.path.normpath(os.path.join(base, rel))
