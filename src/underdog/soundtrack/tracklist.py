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

What the film's music should sound like, where the list knows it (the gap filler fits
stand-ins to it): CSV columns ``bpm``, ``energy`` (the level 1-10) and ``style`` (one of
the planner's styles) named in a header row, in any order after ``artist,title``; the same
keys in JSON. Empty cells are unknown.

Nothing is guessed: a line that is not one of these forms raises ``TracklistError`` naming the
file, the line number and what was expected.

Bounds: every step is a linear scan of its line (no backtracking pattern runs on user text),
a file holds at most ``MAX_FILE_BYTES`` and ``MAX_ENTRIES`` entries, a text line at most
``MAX_LINE_CHARS``, an artist or title at most ``MAX_NAME_CHARS``, JSON nests at most as deep
as Python's parser allows, and a scene time is under 24 hours.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field

from ..errors import UnderdogError
from ..planning.arcs import KNOWN_STYLES

TAGS = ("album", "film", "film-only", "trailer", "marketing", "live")
COLUMNS = ("artist", "title", "tags", "time", "bpm", "energy", "style")
STYLES = KNOWN_STYLES
FORMATS = ("text", "csv", "json")

# Limits: far above any real tracklist, low enough that nothing hostile takes long.
MAX_FILE_BYTES = 5_000_000
MAX_ENTRIES = 10_000
MAX_LINE_CHARS = 2_000
MAX_NAME_CHARS = 500
MAX_TIME_S = 24 * 3600.0

# Every pattern below runs on a line whose whitespace runs are already one space each, so
# none of them can backtrack over a long run (each is anchored or fixed-width).
_TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}"
_TIME_RE = re.compile(rf"{_TIME}\Z")
_LEAD_TIME = re.compile(rf"\(?({_TIME})\)? ")
_DASH = re.compile(r" [-–—] ")
_BY = re.compile(r" by ", re.IGNORECASE)
_COMMENT = re.compile(r" #(?: |\Z)")
_TAG_SEP = re.compile(r"[\s,;\[\]]+")


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
    bpm: float | None = None     # tempo the scene's music has, where the list says
    energy: float | None = None  # energy level 1-10, where the list says
    style: str | None = None     # one of STYLES, where the list says

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
        out = {"artist": self.artist, "title": self.title, "tags": list(self.tags),
               "time": self.time}
        for k in ("bpm", "energy", "style"):  # only what the list gave
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out


def parse_sound(bpm: object, energy: object, style: object
                ) -> tuple[float | None, float | None, str | None]:
    """The optional ``bpm`` (30-300), ``energy`` (level 1-10) and ``style`` of an entry,
    from CSV text or JSON values; None or "" is unknown. ValueError names what is wrong."""
    def number(v: object, name: str, lo: float, hi: float) -> float | None:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ValueError(f"'{name}' must be a number from {lo:g} to {hi:g}")
        try:
            f = float(v)
        except ValueError:
            raise ValueError(f"'{name}' must be a number from {lo:g} to {hi:g}, "
                             f"got {_quote(str(v), 20)}") from None
        if not lo <= f <= hi:  # False for NaN too
            raise ValueError(f"'{name}' must be a number from {lo:g} to {hi:g}, got {v}")
        return f
    if style is not None and not isinstance(style, str):
        raise ValueError(f"'style' must be one of {', '.join(STYLES)}")
    st = (style or "").strip().lower() or None
    if st is not None and st not in STYLES:
        raise ValueError(f"unknown style {_quote(st, 40)}; expected one of {', '.join(STYLES)}")
    return number(bpm, "bpm", 30.0, 300.0), number(energy, "energy", 1.0, 10.0), st


def parse_time(text: str) -> float:
    """"hh:mm:ss" or "mm:ss" (under 24 h) -> seconds; ValueError otherwise."""
    text = text.strip()
    if len(text) > 8 or not _TIME_RE.match(text):
        raise ValueError(f"not a time: {_quote(text)}")
    parts = [int(p) for p in text.split(":")]
    if any(p >= 60 for p in parts[1:]):
        raise ValueError(f"minutes and seconds must be below 60: {text!r}")
    s = 0
    for p in parts:
        s = s * 60 + p
    if s >= MAX_TIME_S:
        raise ValueError(f"a scene time must be under 24:00:00: {text!r}")
    return float(s)


def _quote(text: str, n: int = 80) -> str:
    """repr() of ``text``, cut to about ``n`` characters for a one-line message."""
    return repr(text) if len(text) <= n else repr(text[:n]) + f"... ({len(text):,} characters)"


def _check_names(artist: str, title: str) -> None:
    for what, v in (("artist", artist), ("title", title)):
        if len(v) > MAX_NAME_CHARS:
            raise ValueError(f"{what} is {len(v):,} characters long; at most "
                             f"{MAX_NAME_CHARS:,}")


def _parse_tags(raw: str) -> list[str]:
    """"film-only; marketing" / "[film] [marketing]" -> ["film-only", "marketing"]."""
    out: list[str] = []
    if raw in TAGS:  # the common "[film]": no split needed
        return [raw]
    for t in _TAG_SEP.split(raw.strip().lower()):
        if not t:
            continue
        if t not in TAGS:
            raise ValueError(f"unknown tag [{t[:40]}]; expected one of " +
                             " ".join(f"[{x}]" for x in TAGS))
        if t not in out:
            out.append(t)
    return out


def _split_tail(s: str) -> tuple[str, list[str], float | None]:
    """Tags and a scene time at the end of a line (in any order: "... [film] 01:02:03
    [album]") -> (the rest, tags, time or None). Scans from the right, each character once."""
    tags: list[str] = []
    time_s = None
    end = len(s)
    while True:
        while end and s[end - 1] == " ":
            end -= 1
        if end and s[end - 1] == "]":
            lb = s.rfind("[", 0, end - 1)
            if lb < 0 or s.find("]", lb, end - 1) >= 0:
                break
            new = _parse_tags(s[lb + 1:end - 1])
            tags = new + [t for t in tags if t not in new]
            end = lb
            continue
        sp = s.rfind(" ", 0, end) if time_s is None else -1
        if sp < 0:
            break
        tok = s[sp + 1:end]
        tok = tok[1:] if tok.startswith("(") else tok
        tok = tok[:-1] if tok.endswith(")") else tok
        if len(tok) > 8 or not _TIME_RE.match(tok):
            break
        time_s = parse_time(tok)
        end = sp
    return s[:end], tags, time_s


def parse_line(line: str) -> TracklistEntry | None:
    """One plain-text line -> entry, None for a blank or comment line; ValueError if malformed.

    Linear in the line's length."""
    s = " ".join(line.split()).lstrip("\ufeff").strip()
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
    s, tags, tail_time = _split_tail(s)
    time_s = time_s if time_s is not None else tail_time
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
    _check_names(artist, title)
    return TracklistEntry(artist=artist, title=title, tags=tags, time_s=time_s)


def _too_many(path: str, line: int | None) -> TracklistError:
    return TracklistError(path, line, f"more than {MAX_ENTRIES:,} entries; a tracklist holds "
                                      f"at most {MAX_ENTRIES:,}")


def parse_text(text: str, path: str = "<text>") -> list[TracklistEntry]:
    entries = []
    for n, line in enumerate(text.splitlines(), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise TracklistError(path, n, f"line is {len(line):,} characters long; at most "
                                          f"{MAX_LINE_CHARS:,}")
        try:
            e = parse_line(line)
        except ValueError as exc:
            raise TracklistError(path, n, f"{exc}: {_quote(line.strip())}") from None
        if e is not None:
            if len(entries) == MAX_ENTRIES:
                raise _too_many(path, n)
            e.line = n
            entries.append(e)
    return entries


def parse_csv(text: str, path: str = "<csv>") -> list[TracklistEntry]:
    entries = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    first = True
    header = list(COLUMNS[:4])  # without a header row: artist,title,tags,time
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a field over the csv module's 128 KB limit
            raise TracklistError(path, reader.line_num, f"malformed CSV: {exc}") from None
        n = reader.line_num
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in row]
        if first and [c.lower() for c in cells[:2]] == ["artist", "title"]:
            first = False
            named = [c.lower() for c in cells]
            if any(c not in COLUMNS for c in named) or len(set(named)) != len(named):
                raise TracklistError(path, n, f"header {_quote(','.join(cells))} does not "
                                              "match 'artist,title,tags,time' (then optionally "
                                              "bpm, energy, style)")
            header = named
            continue
        first = False
        if not 2 <= len(cells) <= len(header):
            raise TracklistError(path, n, f"expected 2 to {len(header)} columns "
                                          f"'{','.join(header)}', got {len(cells)}: "
                                          f"{_quote(','.join(row))}")
        cell = dict(zip(header, cells))
        artist, title = cell["artist"], cell["title"]
        tags, time = cell.get("tags", ""), cell.get("time", "")
        if not artist or not title:
            raise TracklistError(path, n, "empty artist or title; expected "
                                          "'artist,title,tags,time'")
        if len(entries) == MAX_ENTRIES:
            raise _too_many(path, n)
        try:
            _check_names(artist, title)
            bpm, energy, style = parse_sound(cell.get("bpm"), cell.get("energy"),
                                             cell.get("style"))
            entries.append(TracklistEntry(artist, title, _parse_tags(tags),
                                          parse_time(time) if time else None, n,
                                          bpm, energy, style))
        except ValueError as exc:
            raise TracklistError(path, n, str(exc)) from None
    return entries


_JSON_WS = re.compile(r"[ \t\r\n]*")


def _json_value_at(text: str, key: str) -> int | None:
    """Where the value of the top-level object's ``key`` starts (the last one, as
    json.loads keeps), walking the object's members once; ``text`` is valid JSON."""
    dec = json.JSONDecoder()
    pos = _JSON_WS.match(text, 0).end() + 1  # past "{"
    found = None
    while True:
        pos = _JSON_WS.match(text, pos).end()
        if text[pos] == "}":
            return found
        name, pos = dec.raw_decode(text, pos)
        pos = _JSON_WS.match(text, pos).end() + 1  # past ":"
        pos = _JSON_WS.match(text, pos).end()
        if name == key:
            found = pos
        _, pos = dec.raw_decode(text, pos)
        pos = _JSON_WS.match(text, pos).end()
        if text[pos] == ",":
            pos += 1


def _json_items(text: str, path: str) -> list[tuple[object, int]]:
    """The entries (the top-level list, or the list under the top-level key "tracks") with
    the line each starts on. Linear in the text's length."""
    dec = json.JSONDecoder()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TracklistError(path, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") \
            from None
    except RecursionError:
        raise TracklistError(path, None, "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise TracklistError(path, None, f"invalid JSON: {str(exc).splitlines()[0]}") from None
    if isinstance(doc, dict) and isinstance(doc.get("tracks"), list):
        try:
            start = _json_value_at(text, "tracks")
        except RecursionError:
            raise TracklistError(path, None, "invalid JSON: nested too deeply") from None
        items_doc = doc["tracks"]
    elif isinstance(doc, list):
        start = _JSON_WS.match(text, 0).end()
        items_doc = doc
    else:
        raise TracklistError(path, 1, "expected a JSON list of {artist, title, tags, time} "
                                      "objects or an object with a 'tracks' list")
    if len(items_doc) > MAX_ENTRIES:
        raise _too_many(path, None)
    items = []
    pos = start + 1
    line, counted = 1, 0
    while True:
        pos = _JSON_WS.match(text, pos).end()
        if text[pos] == "]":
            break
        obj, end = dec.raw_decode(text, pos)
        line += text.count("\n", counted, pos)
        counted = pos
        items.append((obj, line))
        pos = _JSON_WS.match(text, end).end()
        if text[pos] == ",":
            pos += 1
    return items


def _json_time(v: object) -> float | None:
    """A JSON 'time': "hh:mm:ss", or seconds (finite, 0 to under 24 h), or null/""."""
    if v is None or v == "":
        return None
    if isinstance(v, str):
        return parse_time(v)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if not 0 <= v < MAX_TIME_S:  # False for NaN too; no float() of a huge int first
            raise ValueError("'time' in seconds must be a number from 0 to under 86400 "
                             "(24 h)")
        return float(v)
    raise ValueError("'time' must be 'hh:mm:ss' or seconds")


def parse_json(text: str, path: str = "<json>") -> list[TracklistEntry]:
    entries = []
    for obj, n in _json_items(text.lstrip("\ufeff"), path):
        if not isinstance(obj, dict):
            raise TracklistError(path, n, "expected an object {artist, title, tags, time}")
        unknown = set(obj) - set(COLUMNS)
        if unknown:
            names = sorted(_quote(k, 40) for k in unknown)[:5]
            raise TracklistError(path, n, f"unknown keys [{', '.join(names)}]; expected "
                                          "artist, title, tags, time, bpm, energy, style")
        artist, title = obj.get("artist"), obj.get("title")
        if not isinstance(artist, str) or not isinstance(title, str) or not artist.strip() \
                or not title.strip():
            raise TracklistError(path, n, "expected non-empty string 'artist' and 'title'")
        tags_v = obj.get("tags") or []
        try:
            _check_names(artist.strip(), title.strip())
            if isinstance(tags_v, str):
                tags = _parse_tags(tags_v)
            elif isinstance(tags_v, list) and all(isinstance(t, str) for t in tags_v):
                tags = _parse_tags(" ".join(tags_v))
            else:
                raise ValueError("'tags' must be a list of strings or a string")
            time_s = _json_time(obj.get("time"))
            bpm, energy, style = parse_sound(obj.get("bpm"), obj.get("energy"),
                                             obj.get("style"))
        except ValueError as exc:
            raise TracklistError(path, n, str(exc)) from None
        entries.append(TracklistEntry(artist.strip(), title.strip(), tags, time_s, n,
                                      bpm, energy, style))
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
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise TracklistError(path, None, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise TracklistError(path, None, f"larger than {MAX_FILE_BYTES // 1_000_000} MB; a "
                                         "tracklist is at most that")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TracklistError(path, None, f"not UTF-8 text ({exc.reason})") from None
    # Universal newlines, as open() in text mode reads them.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    entries = {"text": parse_text, "csv": parse_csv, "json": parse_json}[fmt](text, path)
    if not entries:
        raise TracklistError(path, None, "no entries; expected 'Artist - Title' lines")
    return entries
