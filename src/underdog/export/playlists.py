"""Playlist files: write M3U8, XSPF and JSON; read M3U/M3U8/XSPF back into absolute paths.

Entries are any objects with ``.path``, ``.artist``, ``.title`` and ``.duration_s``
(``models.Track`` works; mappings with those keys too). Missing tags fall back to the file
name, an unknown duration to -1 (M3U) or no ``<duration>`` (XSPF). An entry without a path
but with a ``.comment`` is written to M3U8 as a ``# comment`` line in its place (the
soundtrack report's ``# missing: ...`` lines) and left out of XSPF.

Every writer writes UTF-8 with ``\\n`` line ends to a temporary file beside ``out`` and
renames it into place, so a crash never leaves half a playlist.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tempfile
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from xml.parsers import expat

import numpy as np

from ..errors import PlaylistError

XSPF_NS = "http://xspf.org/ns/0/"
M3U_EXTENSIONS = (".m3u", ".m3u8")
XSPF_EXTENSIONS = (".xspf",)
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
    return " ".join(str(text).split())


def _duration_s(entry: Any) -> float | None:
    d = _get(entry, "duration_s")
    try:
        d = float(d)
    except (TypeError, ValueError):
        return None
    return d if math.isfinite(d) and d > 0 else None


def _display(entry: Any) -> str:
    """"Artist - Title"; the title or the file name when a tag is missing."""
    artist, title = _get(entry, "artist"), _get(entry, "title")
    artist = _one_line(artist) if artist else ""
    title = _one_line(title) if title else ""
    if artist and title:
        return f"{artist} - {title}"
    return title or _stem(str(_get(entry, "path")))


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
               title: str | None = None, out: Any = "<playlist>") -> list[str]:
    """The lines of an extended M3U: ``#EXTM3U``, then ``#EXTINF`` + path per entry
    (or ``# comment`` for a path-less entry with a comment)."""
    lines = ["#EXTM3U"]
    if title:
        lines.append(f"#PLAYLIST:{_one_line(title)}")
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
        d = _duration_s(e)
        lines.append(f"#EXTINF:{int(round(d)) if d is not None else -1},{_display(e)}")
        lines.append(_m3u_path(path, relative_to))
    return lines


def write_m3u8(entries: Iterable[Any], out: str | os.PathLike,
               relative_to: str | os.PathLike | None = None, title: str | None = None) -> None:
    """Write an extended M3U (UTF-8, LF) with absolute paths, or paths relative to the
    folder ``relative_to`` (normally the folder the playlist goes in)."""
    text = "\n".join(m3u8_lines(entries, relative_to, title, out)) + "\n"
    _atomic_write(out, text)


# ---------------------------------------------------------------- XSPF


def file_uri(path: str | os.PathLike) -> str:
    """The ``file://`` URI of a local path, percent-encoded (UTF-8 bytes of the name)."""
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
        sub(root, "annotation", str(annotation))
    tracks = ET.SubElement(root, f"{{{XSPF_NS}}}trackList")
    for e in entries:
        path = _get(e, "path")
        if not path:
            continue
        path = _check_path(os.fspath(path), out)
        t = ET.SubElement(tracks, f"{{{XSPF_NS}}}track")
        sub(t, "location", file_uri(path))
        artist, ttl = _get(e, "artist"), _get(e, "title")
        sub(t, "title", _one_line(ttl) if ttl else _stem(path))
        if artist:
            sub(t, "creator", _one_line(artist))
        note = _get(e, "annotation") or _get(e, "comment")
        if note:
            sub(t, "annotation", str(note))
        album = _get(e, "album")
        if album:
            sub(t, "album", _one_line(album))
        d = _duration_s(e)
        if d is not None:
            sub(t, "duration", str(int(round(d * 1000))))
    ET.indent(root, space="  ")
    text = ET.tostring(root, encoding="unicode", xml_declaration=False)
    _atomic_write(out, '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n")


# ---------------------------------------------------------------- JSON


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values: numpy arrays and scalars become lists and numbers,
    dataclasses dicts, paths strings, tuples/sets lists, NaN and ±inf ``None``."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
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
    """Pretty UTF-8 JSON (2-space indent), numpy-safe, non-finite numbers as null."""
    text = json.dumps(jsonable(obj), ensure_ascii=False, indent=2, allow_nan=False)
    _atomic_write(out, text + "\n")


# ---------------------------------------------------------------- reading


def read_playlist(path: str | os.PathLike) -> list[str]:
    """The absolute paths in an M3U/M3U8 or XSPF playlist, in order.

    Relative entries resolve against the playlist's folder; ``#`` lines are skipped;
    Windows backslashes and ``file://`` URIs are understood. Malformed input raises
    :class:`PlaylistError` naming the file and line."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in M3U_EXTENSIONS + XSPF_EXTENSIONS:
        raise PlaylistError(path, f"unknown playlist type {ext or '(no extension)'!r}; "
                                  "expected .m3u, .m3u8 or .xspf")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise PlaylistError(path, f"cannot read: {e.strerror or e}") from None
    base = os.path.dirname(os.path.abspath(path))
    if ext in XSPF_EXTENSIONS:
        return _read_xspf(data, path, base)
    return _read_m3u(data, path, base, strict_utf8=(ext == ".m3u8"))


def _decode(data: bytes, path: str, strict_utf8: bool) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if strict_utf8:
            line = data[:e.start].count(b"\n") + 1
            raise PlaylistError(path, f"not UTF-8 (byte 0x{data[e.start]:02x}); "
                                      "an .m3u8 must be UTF-8", line) from None
        return data.decode("cp1252", errors="replace")  # the classic .m3u encoding


def _read_m3u(data: bytes, path: str, base: str, strict_utf8: bool) -> list[str]:
    text = _decode(data, path, strict_utf8)
    out: list[str] = []
    pending_extinf: int | None = None  # line of an #EXTINF still waiting for its path
    # Split on LF only: str.splitlines() would also split inside names (U+2028, \x1c, ...).
    for no, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if "\x00" in line:
            raise PlaylistError(path, "NUL byte in line (binary file?)", no)
        if not line:
            continue
        if line.startswith("#"):
            if line.upper().startswith("#EXTINF"):
                if pending_extinf is not None:
                    raise PlaylistError(path, "#EXTINF without a path after it", pending_extinf)
                m = re.match(r"#EXTINF:\s*(-?\d+(?:\.\d+)?)\b[^,]*,?", line, re.IGNORECASE)
                if not m:
                    raise PlaylistError(path, f"malformed #EXTINF (expected "
                                              f"'#EXTINF:<seconds>,<title>'): {line!r}", no)
                pending_extinf = no
            continue
        out.append(_entry_to_path(line, base, path, no))
        pending_extinf = None
    if pending_extinf is not None:
        raise PlaylistError(path, "#EXTINF without a path after it", pending_extinf)
    return out


def _entry_to_path(entry: str, base: str, path: str, line: int | None) -> str:
    """One playlist entry (a path, a relative path or a URI) as an absolute local path."""
    if entry[:5].lower() == "file:":
        return _file_uri_to_path(entry, path, line)
    if _REMOTE.match(entry):
        raise PlaylistError(path, f"not a local file: {entry!r}", line)
    if _DRIVE.match(entry):  # a Windows absolute path: keep it, with one kind of slash
        return os.path.normpath(entry.replace("\\", os.sep).replace("/", os.sep))
    p = entry
    if "\\" in p and os.sep == "/" and not os.path.exists(os.path.join(base, p)):
        p = p.replace("\\", "/")  # a Windows-made playlist
    return os.path.normpath(os.path.join(base, p))


def _file_uri_to_path(uri: str, path: str, line: int | None) -> str:
    parts = urllib.parse.urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise PlaylistError(path, f"file URI on another host: {uri!r}", line)
    if os.name == "nt":
        return os.path.normpath(urllib.request.url2pathname(parts.path))
    # Percent-decode to bytes, then to a str the way the OS names files (non-UTF-8 safe).
    p = os.fsdecode(urllib.parse.unquote_to_bytes(parts.path))
    if not p.startswith("/"):
        raise PlaylistError(path, f"file URI without an absolute path: {uri!r}", line)
    return os.path.normpath(p)


def _read_xspf(data: bytes, path: str, base: str) -> list[str]:
    """Stream the XML with expat, so every problem can name its line."""
    parser = expat.ParserCreate(namespace_separator=" ")
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
                raise PlaylistError(path, f"unsupported XSPF version {attrs.get('version')!r}",
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


# ---------------------------------------------------------------- I/O


def _new_file_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


_NEW_FILE_MODE = _new_file_mode()


def _atomic_write(out: str | os.PathLike, text: str) -> None:
    out = os.fspath(out)
    folder = os.path.dirname(os.path.abspath(out))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".underdog-", suffix=".tmp", dir=folder)
    except OSError as e:
        raise PlaylistError(out, f"cannot write: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        try:  # mkstemp makes 0600 files: give the playlist the mode a plain open() would
            mode = os.stat(out).st_mode & 0o7777 if os.path.exists(out) else _NEW_FILE_MODE
            os.chmod(tmp, mode)
        except OSError:
            pass
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
