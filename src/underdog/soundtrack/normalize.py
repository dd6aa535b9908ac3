"""Normalize artist and title strings so that tracklist entries and library tags compare.

Rules (the same on both sides):

- case and diacritics are folded ("Beyoncé" -> "beyonce"), apostrophes vanish ("Don't" ->
  "dont"), other punctuation becomes a space;
- "&", "+" and " x " (a collaboration) read as "and";
- a leading "The" is dropped ("The Bravery" -> "bravery");
- "feat." / "ft." / "featuring" / "with" split the featured artists off, whether they sit in
  the artist field or in the title ("Song (feat. X)", "Song ft. X"), so a credit may move
  between the two fields;
- version groups, "(...)", "[...]" or a trailing " - ...", are read as markers. Markers that
  name the same recording ("Remastered 2011", "Radio Edit", "Album Version", "- Single
  Version", "Mono", "Live") are dropped from the title; markers that change the song
  ("Remix", "Acoustic", "Instrumental", ...) are kept. "live" is kept as a marker too, so that
  the matcher can prefer a live recording when the list asks for one, and a studio one when it
  does not.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

MAX_CHARS = 500  # longer artist or title text is cut (no real name comes near it)

# Markers: "changing" ones make a different song; the rest name the same recording.
# "live" is neither: a live recording of a song is the same song unless the list asks for
# "live", and then only a live recording will do (see match.py).
CHANGING_MARKERS = frozenset({"remix", "acoustic", "instrumental", "demo", "a cappella",
                              "karaoke"})
SAME_SONG_MARKERS = frozenset({"remaster", "radio edit", "album version", "single version",
                               "edit", "mono", "stereo", "explicit", "clean", "original",
                               "bonus", "deluxe", "version"})

_MARKER_RULES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"\bre-?master(ed)?\b|\bremaster\b"), "remaster"),
    (re.compile(r"\bradio (edit|version|mix)\b"), "radio edit"),
    (re.compile(r"\balbum version\b"), "album version"),
    (re.compile(r"\bsingle (version|edit)\b"), "single version"),
    (re.compile(r"\boriginal (version|mix)\b"), "original"),
    (re.compile(r"\b(re)?mix(ed)?\b|\brmx\b"), "remix"),
    (re.compile(r"\bacoustic\b|\bunplugged\b"), "acoustic"),
    (re.compile(r"\binstrumental\b"), "instrumental"),
    (re.compile(r"\bdemo\b"), "demo"),
    (re.compile(r"\ba ?cap+el+a\b"), "a cappella"),
    (re.compile(r"\bkaraoke\b"), "karaoke"),
    (re.compile(r"\blive\b"), "live"),
    (re.compile(r"\bedit\b"), "edit"),
    (re.compile(r"\bmono\b"), "mono"),
    (re.compile(r"\bstereo\b"), "stereo"),
    (re.compile(r"\bexplicit\b"), "explicit"),
    (re.compile(r"\bclean\b"), "clean"),
    (re.compile(r"\bbonus( track)?\b"), "bonus"),
    (re.compile(r"\bdeluxe\b"), "deluxe"),
    (re.compile(r"\boriginal\b"), "original"),
    (re.compile(r"\bversion\b"), "version"),
]
# A group is a version group only if, after removing its markers and filler, nothing is left.
_FILLER = re.compile(r"\b(\d{2,4}|the|a|an|of|from|at|in|on|and|version|track|digital|"
                     r"remastered|remaster|recorded|session|sessions|s|st|nd|rd|th|\w+ edition)\b")

_FEAT_ARTIST = re.compile(r"\s*(?:\(|\[)?\s*(?:duet\s+)?\b(?:feat\.?|ft\.?|featuring|with|w/)(?=\s|$)\s*",
                          re.IGNORECASE)
_FEAT_GROUP = re.compile(r"^\s*(?:feat\.?|ft\.?|featuring|with|w/)\s+(.+)$", re.IGNORECASE)
_FEAT_TITLE_TAIL = re.compile(r"\s+(?:feat\.?|ft\.?|featuring)\s+(.+)$", re.IGNORECASE)
_GROUP = re.compile(r"\s*[\(\[]([^\(\)\[\]]*)[\)\]]\s*")
_DASH_TAIL = re.compile(r"\s+[-–—]\s+([^-–—]+)$")
_SPLIT_ARTISTS = re.compile(r"\s*(?:,|&|\+|\band\b|\s+x\s+|/)\s*", re.IGNORECASE)
_PUNCT = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")
_APOS = re.compile(r"['’‘`´]")


def fold(text: str) -> str:
    """Case, diacritics, apostrophes, "&"/"+" -> "and", other punctuation -> space."""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(c for c in t if not unicodedata.combining(c))
    t = t.casefold().replace("ø", "o").replace("æ", "ae").replace("ß", "ss").replace("ł", "l")
    t = _APOS.sub("", t)
    t = t.replace("&", " and ").replace("+", " and ")
    t = _PUNCT.sub(" ", t).replace("_", " ")
    return _SPACES.sub(" ", t).strip()


def drop_the(text: str) -> str:
    """Drop one leading "the " from folded text."""
    return text[4:] if text.startswith("the ") and len(text) > 4 else text


def markers_of(group: str) -> set[str] | None:
    """The version markers a parenthetical/suffix group names, or None if it is not one."""
    g = fold(group)
    if not g:
        return None
    found: set[str] = set()
    rest = g
    for pat, name in _MARKER_RULES:
        if pat.search(rest):
            found.add(name)
            rest = pat.sub(" ", rest)
    if not found:
        return None
    rest = _FILLER.sub(" ", rest).strip()
    # "(Steve Aoki Remix)" keeps a remixer name: still a version group for "remix".
    if rest and not ({"remix", "acoustic", "live"} & found):
        return None
    if "radio edit" in found or "album version" in found or "single version" in found:
        found.discard("version")
        found.discard("edit")
    if len(found) > 1:
        found.discard("version")
    return found


def split_artists(text: str) -> list[str]:
    """Folded, "The"-less artist names of a credit ("A, B & C" -> ["a", "b", "c"])."""
    parts = [drop_the(fold(p)) for p in _SPLIT_ARTISTS.split(text)]
    return [p for p in parts if p]


@dataclass
class Normalized:
    """One side of a comparison, folded and split."""

    artist: str            # primary credit, folded, "and" for &/+/x, no leading "the"
    featured: frozenset[str]
    title: str             # folded title without featured credits and version groups
    title_core: str        # ``title`` without any remaining parenthetical (optional) part
    markers: frozenset[str] = field(default_factory=frozenset)
    truncated: bool = False  # the title ended in "..." (a cut-off title)

    @property
    def all_artists(self) -> str:
        return " ".join([self.artist, *sorted(self.featured)])


def _squeeze(text: str | None) -> str:
    """Whitespace runs as one space, cut to MAX_CHARS: every pattern here then runs in
    time linear in the (bounded) text, whatever a tag or a tracklist holds."""
    return " ".join((text or "").split())[:MAX_CHARS]


def normalize(artist: str | None, title: str | None) -> Normalized:
    """Normalize one (artist, title) pair; the rules are in the module docstring."""
    artist = _squeeze(artist)
    title = _squeeze(title)
    featured: set[str] = set()
    markers: set[str] = set()

    # Artist: "A feat. B", "A (feat. B)", "A With B".
    m = _FEAT_ARTIST.search(artist)
    if m and m.start() > 0:
        featured.update(split_artists(artist[m.end():].strip(" )]")))
        artist = artist[:m.start()]
    truncated = bool(re.search(r"(\.\.\.|…)\s*$", title))
    title = re.sub(r"(\.\.\.|…)\s*$", "", title).strip()

    # Title: trailing " - Remastered 2011" / " - Live" groups (repeat: "- Live - 2011 Remaster").
    for _ in range(3):
        m = _DASH_TAIL.search(title)
        if not m:
            break
        fm = _FEAT_GROUP.match(m.group(1))
        mk = markers_of(m.group(1))
        if fm:
            featured.update(split_artists(fm.group(1)))
        elif mk is not None:
            markers |= mk
        else:
            break
        title = title[:m.start()]

    # Parenthetical groups: featured credit, version markers, or part of the title.
    kept: list[str] = []
    pos = 0
    core_parts: list[str] = []
    for m in _GROUP.finditer(title):
        kept.append(title[pos:m.start()])
        core_parts.append(title[pos:m.start()])
        inner = m.group(1)
        fm = _FEAT_GROUP.match(inner)
        mk = markers_of(inner)
        if fm:
            featured.update(split_artists(fm.group(1)))
        elif mk is not None:
            markers |= mk
        else:
            kept.append(" " + inner + " ")
        pos = m.end()
    kept.append(title[pos:])
    core_parts.append(title[pos:])
    title_s = " ".join(kept)
    core_s = " ".join(core_parts)
    m = _FEAT_TITLE_TAIL.search(title_s)
    if m:
        featured.update(split_artists(m.group(1)))
        title_s = title_s[:m.start()]
        core_s = _FEAT_TITLE_TAIL.sub("", core_s)

    art = drop_the(fold(re.sub(r"\s+x\s+", " & ", artist, flags=re.IGNORECASE)))
    t = drop_the(fold(title_s))
    core = drop_the(fold(core_s)) or t
    return Normalized(artist=art, featured=frozenset(featured), title=t, title_core=core,
                      markers=frozenset(markers), truncated=truncated)
