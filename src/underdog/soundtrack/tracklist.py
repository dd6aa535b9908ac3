"""Read a film's tracklist: plain text, CSV or JSON, into ``TracklistEntry`` records.

Plain text, one entry per line (blank lines and ``#`` comments are skipped)::

    # Never Back Down (2008)
    00:03:10 The Bravery - Above and Below [film]
    Kanye West – Stronger [marketing] [film-only]     # en dash works too
    Wolf Like Me by TV on the Radio [film] 01:12:40

An entry is ``Artist - Title`` (hyphen, en dash or em dash between spaces) or ``Title by
Artist``, then any number of tags in brackets (``[album] [film] [film-only] [trailer]
[marketing] [live]``, or comma-separated in one pair of brackets) and an optional scene time
(``hh:mm:ss`` or ``mm:ss``, first or last on the line). A ``#`` after a space starts a comment.

CSV: columns ``artist,title,tags,time`` (a header row with those names is optional; tags
separated by spaces, commas or semicolons, brackets optional). JSON: a list of objects with
``artist``, ``title`` and optional ``tags`` (list or string) and ``time`` (string or seconds),
or an object whose ``tracks`` key holds that list.

Nothing is guessed: a line that is not one of these forms raises ``TracklistError`` naming the
file, the line number and what was expected.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field

from ..errors import UnderdogError

TAGS = ("album", "film", "film-only", "trailer", "marketing", "live")
FORMATS = ("text", "csv", "json")

_TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}"
_TIME_RE = re.compile(rf"^{_TIME}$")
_LEAD_TIME = re.compile(rf"^\s*\(?({_TIME})\)?\s+")
_TAIL_TIME = re.compile(rf"\s+\(?({_TIME})\)?\s*$")
_TAIL_TAG = re.compile(r"\s*\[([^\[\]]*)\]\s*$")
_DASH = re.compile(r"\s+[-–—]\s+")
_BY = re.compile(r"\s+by\s+", re.IGNORECASE)
_COMMENT = re.compile(r"\s#(?:\s|$)")


class TracklistError(UnderdogError):
    """A tracklist file cannot be read; the message names file, line and what was expected."""

    def __init__(self, path: str, line: int | None, reason: str):
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


@dataclass
class TracklistEntry:
    """One song of a tracklist, in film order."""

    artist: str
    title: str
    tags: list[str] = field(default_factory=list)
    time_s: float | None = None  # scene time in the film
    line: int | None = None      # line in the source file (1-based)

    @property
    def time(self) -> str | None:
        """The scene time as hh:mm:ss, or None."""
        if self.time_s is None:
            return None
        s = int(round(self.time_s))
        return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"

    @property
    def display(self) -> str:
        tags = "".join(f" [{t}]" for t in self.tags)
        return f"{self.artist} - {self.title}{tags}"

    def to_json(self) -> dict:
        return {"artist": self.artist, "title": self.title, "tags": list(self.tags),
                "time": self.time}


def parse_time(text: str) -> float:
    """"hh:mm:ss" or "mm:ss" -> seconds; ValueError otherwise."""
    text = text.strip()
    if not _TIME_RE.match(text):
        raise ValueError(f"not a time: {text!r}")
    parts = [int(p) for p in text.split(":")]
    if any(p >= 60 for p in parts[1:]):
        raise ValueError(f"minutes and seconds must be below 60: {text!r}")
    s = 0
    for p in parts:
        s = s * 60 + p
    return float(s)


def _parse_tags(raw: str) -> list[str]:
    """"film-only; marketing" / "[film] [marketing]" -> ["film-only", "marketing"]."""
    out: list[str] = []
    for t in re.split(r"[\s,;\[\]]+", raw.strip().lower()):
        if not t:
            continue
        if t not in TAGS:
            raise ValueError(f"unknown tag [{t}]; expected one of " +
                             " ".join(f"[{x}]" for x in TAGS))
        if t not in out:
            out.append(t)
    return out


def parse_line(line: str) -> TracklistEntry | None:
    """One plain-text line -> entry, None for a blank or comment line; ValueError if malformed."""
    s = line.strip().lstrip("\ufeff")
    if not s or s.startswith("#"):
        return None
    m = _COMMENT.search(s)
    if m:
        s = s[:m.start()].rstrip()
    time_s = None
    m = _LEAD_TIME.match(s)
    if m:
        time_s = parse_time(m.group(1))
        s = s[m.end():]
    tags: list[str] = []
    # Tags and a scene time may be interleaved at the end: "... [film] 01:02:03 [album]".
    while True:
        m = _TAIL_TAG.search(s)
        if m:
            new = _parse_tags(m.group(1))
            tags = new + [t for t in tags if t not in new]
            s = s[:m.start()]
            continue
        m = _TAIL_TIME.search(s)
        if m and time_s is None:
            time_s = parse_time(m.group(1))
            s = s[:m.start()]
            continue
        break
    s = s.strip()
    parts = _DASH.split(s, maxsplit=1)
    if len(parts) == 2:
        artist, title = parts
    else:
        by = list(_BY.finditer(s))
        if not by:
            raise ValueError("expected 'Artist - Title' or 'Title by Artist' "
                             "(optionally [tags] and a hh:mm:ss time)")
        title, artist = s[:by[-1].start()], s[by[-1].end():]
    artist, title = artist.strip(), title.strip()
    if not artist or not title:
        raise ValueError("empty artist or title; expected 'Artist - Title'")
    return TracklistEntry(artist=artist, title=title, tags=tags, time_s=time_s)


def parse_text(text: str, path: str = "<text>") -> list[TracklistEntry]:
    entries = []
    for n, line in enumerate(text.splitlines(), start=1):
        try:
            e = parse_line(line)
        except ValueError as exc:
            raise TracklistError(path, n, f"{exc}: {line.strip()!r}") from None
        if e is not None:
            e.line = n
            entries.append(e)
    return entries


def parse_csv(text: str, path: str = "<csv>") -> list[TracklistEntry]:
    entries = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    first = True
    for row in reader:
        n = reader.line_num
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in row]
        if first and [c.lower() for c in cells[:2]] == ["artist", "title"]:
            first = False
            if [c.lower() for c in cells] not in (["artist", "title"], ["artist", "title", "tags"],
                                                  ["artist", "title", "tags", "time"]):
                raise TracklistError(path, n, f"header {cells} does not match "
                                              "'artist,title,tags,time'")
            continue
        first = False
        if not 2 <= len(cells) <= 4:
            raise TracklistError(path, n, f"expected 2 to 4 columns 'artist,title,tags,time', "
                                          f"got {len(cells)}: {','.join(row)!r}")
        cells += [""] * (4 - len(cells))
        artist, title, tags, time = cells
        if not artist or not title:
            raise TracklistError(path, n, "empty artist or title; expected "
                                          "'artist,title,tags,time'")
        try:
            entries.append(TracklistEntry(artist, title, _parse_tags(tags),
                                          parse_time(time) if time else None, n))
        except ValueError as exc:
            raise TracklistError(path, n, str(exc)) from None
    return entries


def _json_items(text: str, path: str) -> list[tuple[object, int]]:
    """Top-level items with the line each starts on."""
    dec = json.JSONDecoder()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TracklistError(path, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") \
            from None
    if isinstance(doc, dict) and isinstance(doc.get("tracks"), list):
        start = text.find("[", text.find('"tracks"'))
    elif isinstance(doc, list):
        start = text.find("[")
    else:
        raise TracklistError(path, 1, "expected a JSON list of {artist, title, tags, time} "
                                      "objects or an object with a 'tracks' list")
    items = []
    pos = start + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        obj, end = dec.raw_decode(text, pos)
        items.append((obj, text.count("\n", 0, pos) + 1))
        pos = end
    return items


def parse_json(text: str, path: str = "<json>") -> list[TracklistEntry]:
    entries = []
    for obj, n in _json_items(text.lstrip("\ufeff"), path):
        if not isinstance(obj, dict):
            raise TracklistError(path, n, "expected an object {artist, title, tags, time}")
        unknown = set(obj) - {"artist", "title", "tags", "time"}
        if unknown:
            raise TracklistError(path, n, f"unknown keys {sorted(unknown)}; expected "
                                          "artist, title, tags, time")
        artist, title = obj.get("artist"), obj.get("title")
        if not isinstance(artist, str) or not isinstance(title, str) or not artist.strip() \
                or not title.strip():
            raise TracklistError(path, n, "expected non-empty string 'artist' and 'title'")
        tags_v = obj.get("tags") or []
        time_v = obj.get("time")
        try:
            if isinstance(tags_v, str):
                tags = _parse_tags(tags_v)
            elif isinstance(tags_v, list) and all(isinstance(t, str) for t in tags_v):
                tags = _parse_tags(" ".join(tags_v))
            else:
                raise ValueError("'tags' must be a list of strings or a string")
            if time_v is None or time_v == "":
                time_s = None
            elif isinstance(time_v, (int, float)) and not isinstance(time_v, bool) \
                    and time_v >= 0:
                time_s = float(time_v)
            elif isinstance(time_v, str):
                time_s = parse_time(time_v)
            else:
                raise ValueError("'time' must be 'hh:mm:ss' or seconds")
        except ValueError as exc:
            raise TracklistError(path, n, str(exc)) from None
        entries.append(TracklistEntry(artist.strip(), title.strip(), tags, time_s, n))
    return entries


def detect_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    return {".csv": "csv", ".json": "json"}.get(ext, "text")


def read_tracklist(path: str | os.PathLike, format: str | None = None) -> list[TracklistEntry]:
    """Read a tracklist file (format from the extension unless given); TracklistError if bad."""
    path = os.fspath(path)
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise TracklistError(path, None, f"unknown format {fmt!r}; expected one of {FORMATS}")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise TracklistError(path, None, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise TracklistError(path, None, f"cannot read: {exc.strerror or exc}") from None
    entries = {"text": parse_text, "csv": parse_csv, "json": parse_json}[fmt](text, path)
    if not entries:
        raise TracklistError(path, None, "no entries; expected 'Artist - Title' lines")
    return entries
