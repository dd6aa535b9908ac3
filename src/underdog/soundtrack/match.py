"""Match tracklist entries against library items: an index, rapidfuzz scores, a verdict.

The matcher needs neither audio nor the database: it takes any objects with ``path``,
``artist``, ``title`` (and optionally ``album`` / ``id``), e.g. ``underdog.models.Track``.
Items without artist/title tags fall back to their file and folder names
(``Artist/Album/01 Title.mp3``, ``Artist - Title.mp3``).

How one entry is matched:

1. Blocking. Every item is indexed under its normalized word tokens and, for words of 5+
   letters, their first and last 4 letters (so one typo still shares a key). An entry's
   candidates are the items sharing the most idf-weighted keys with it (``n_block``), then
   the best ``n_rescore`` of those by a quick ``fuzz.ratio`` on "artist title".
2. Scoring. Artist score: the best of ``fuzz.ratio`` on the primary artist and
   ``token_sort_ratio`` on all credited artists. Title score: ``fuzz.ratio`` on the title with
   and without its optional parenthetical part, or a prefix score for a cut-off title. The
   score is the weighted mean, minus penalties: a title word replaced by another word (not
   a typo of it: "Above and Beyond" is not "Above and Below"), a featured credit on one
   side only, a version
   the entry asks for ("Remix", "Acoustic", "Live") that the item lacks or the reverse, a file
   name instead of tags. Both part scores must pass ``min_part`` too.
3. Verdict. Candidates with the same normalized artist, title and version are one recording
   (duplicate files): the first is kept. If the best recording scores below ``threshold`` the
   entry is ``missing``; if the second best distinct recording is within ``margin`` of it, the
   entry is ``ambiguous`` and both are named; otherwise it is ``found``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
from rapidfuzz import fuzz, process

from .normalize import CHANGING_MARKERS, Normalized, normalize
from .tracklist import TracklistEntry

FOUND, MISSING, AMBIGUOUS = "found", "missing", "ambiguous"


@dataclass
class MatchParams:
    """Scoring knobs (tuned on bench/match.py seed 1; see docs/soundtrack.md)."""

    threshold: float = 86.0     # min score for a match
    min_part: float = 72.0      # min artist score and min title score
    margin: float = 3.0         # a second distinct recording this close -> ambiguous
    artist_weight: float = 0.4
    featured_missing_penalty: float = 3.0   # a featured credit on one side only
    featured_conflict_penalty: float = 10.0  # featured credits on both sides, none shared
    version_penalty: float = 30.0  # remix/acoustic/... on one side only; live asked, not had
    unasked_live_penalty: float = 4.0  # a live recording when the list did not ask for live
    path_penalty: float = 3.0   # artist/title read from the file name, not tags
    replaced_word_penalty: float = 8.0  # per title word replaced by another word (no typo)
    word_similarity: float = 70.0  # fuzz.ratio of two words that are one word with a typo
    n_block: int = 300
    n_rescore: int = 25


@dataclass
class LibraryItem:
    """What the matcher knows of one library file."""

    path: str
    artist: str | None
    title: str | None
    album: str | None = None
    id: int | None = None
    source: str = "tags"  # "tags" or "path" (artist/title read from the file name)
    duration_s: float | None = None

    def to_json(self) -> dict:
        return {"path": self.path, "artist": self.artist, "title": self.title}


@dataclass
class Candidate:
    item: LibraryItem
    score: float        # 0..100
    artist_score: float
    title_score: float

    @property
    def confidence(self) -> float:
        return round(max(0.0, min(100.0, self.score)) / 100.0, 3)

    def to_json(self) -> dict:
        return {**self.item.to_json(), "confidence": self.confidence}


@dataclass
class MatchResult:
    entry: TracklistEntry
    status: str                      # found | missing | ambiguous
    confidence: float                # of the best candidate (0 when none)
    match: LibraryItem | None        # set only when found
    candidates: list[Candidate] = field(default_factory=list)  # best first, distinct songs

    def to_json(self) -> dict:
        return {"entry": self.entry.to_json(), "status": self.status,
                "confidence": self.confidence,
                "match": self.match.to_json() if self.match else None,
                "candidates": [c.to_json() for c in self.candidates]}


# ------------------------------------------------------------------ library items

_TRACKNO = re.compile(r"^\s*(?:\d{1,3}|[a-d]\d{1,2})(?:\s*[-._)]\s*|\s+)(?=\S)", re.IGNORECASE)


def names_from_path(path: str) -> tuple[str | None, str | None, str | None]:
    """(artist, title, album) from ``Artist - Title.ext`` or ``Artist/Album/01 Title.ext``."""
    stem = os.path.splitext(os.path.basename(path))[0].replace("_", " ").strip()
    stem = _TRACKNO.sub("", stem, count=1)
    parts = re.split(r"\s+[-–—]\s+", stem, maxsplit=1)
    parent = os.path.basename(os.path.dirname(path))
    grand = os.path.basename(os.path.dirname(os.path.dirname(path)))
    if len(parts) == 2:
        return parts[0].strip(), parts[1].strip(), parent or None
    if parent and grand:
        return grand, stem, parent
    return None, stem or None, None


def as_item(obj: Any) -> LibraryItem:
    """A Track (or any object/dict with path/artist/title) -> LibraryItem, names from the path
    when tags are missing."""
    if isinstance(obj, LibraryItem) and obj.artist and obj.title:
        return obj
    get = obj.get if isinstance(obj, dict) else (lambda k, d=None: getattr(obj, k, d))
    path = os.fspath(get("path"))
    artist, title, album = get("artist"), get("title"), get("album")
    source = "tags"
    if not (artist and str(artist).strip()) or not (title and str(title).strip()):
        p_artist, p_title, p_album = names_from_path(path)
        artist = artist if artist and str(artist).strip() else p_artist
        title = title if title and str(title).strip() else p_title
        album = album or p_album
        source = "path"
    return LibraryItem(path=path, artist=artist, title=title, album=album, id=get("id"),
                       source=source, duration_s=get("duration_s"))


# ------------------------------------------------------------------ scoring

def _keys(n: Normalized) -> set[str]:
    keys = set()
    for word in f"{n.artist} {' '.join(n.featured)} {n.title}".split():
        keys.add(word)
        if len(word) >= 5:
            keys.add("<" + word[:4])
            keys.add(word[-4:] + ">")
    return keys


def _title_score(e: Normalized, c: Normalized) -> float:
    s = max(fuzz.ratio(e.title, c.title), fuzz.ratio(e.title, c.title_core),
            fuzz.ratio(e.title_core, c.title_core) - 2.0)
    # A cut-off title: the entry is a word-prefix of the item's title.
    for full in (c.title, c.title_core):
        if len(e.title) < len(full) and full.startswith(e.title) and full[len(e.title)] == " ":
            n_words = len(e.title.split())
            if e.truncated or n_words >= 3:
                cover = len(e.title) / len(full)
                s = max(s, 86.0 + 14.0 * cover + (4.0 if e.truncated else 0.0))
    return min(s, 100.0)


def _unmatched(words: list[str], other: list[str], sim: float, prefix_last: bool) -> int:
    """How many of ``words`` have no counterpart in ``other`` (equal up to a typo)."""
    n = 0
    for k, w in enumerate(words):
        if prefix_last and k == len(words) - 1 and any(o.startswith(w) for o in other):
            continue  # a title cut off inside its last word
        if not any(w == o or fuzz.ratio(w, o) >= sim for o in other):
            n += 1
    return n


def _replaced_words(e: Normalized, c: Normalized, sim: float) -> int:
    """Title words replaced by other words ("Above and Beyond" for "Above and Below"), as
    opposed to typos, dropped words or a cut-off title: the fewest over the title forms."""
    best = None
    for et, ct in ((e.title, c.title), (e.title, c.title_core), (e.title_core, c.title_core)):
        ew, cw = et.split(), ct.split()
        n = min(_unmatched(ew, cw, sim, e.truncated), _unmatched(cw, ew, sim, False))
        best = n if best is None else min(best, n)
    return best or 0


def _artist_score(e: Normalized, c: Normalized) -> float:
    s = max(fuzz.ratio(e.artist, c.artist), fuzz.token_sort_ratio(e.all_artists, c.all_artists))
    # "A & B" against "A feat. B" and the reverse.
    if e.featured or c.featured:
        s = max(s, fuzz.token_sort_ratio(e.all_artists.replace(" and ", " "),
                                         c.all_artists.replace(" and ", " ")))
    return s


def _versions(n: Normalized) -> frozenset[str]:
    return n.markers & CHANGING_MARKERS


def score_pair(e: Normalized, c: Normalized, entry_tags: Sequence[str] = (),
               source: str = "tags", params: MatchParams | None = None
               ) -> tuple[float, float, float]:
    """(score, artist_score, title_score), each 0..100, of entry ``e`` against item ``c``."""
    p = params or MatchParams()
    a = _artist_score(e, c)
    t = _title_score(e, c)
    s = p.artist_weight * a + (1.0 - p.artist_weight) * t
    if s >= p.threshold - 20.0:  # only where it can matter (word loops are slow)
        s -= p.replaced_word_penalty * _replaced_words(e, c, p.word_similarity)
    if e.featured and c.featured:
        if not any(fuzz.ratio(x, y) >= 85 for x in e.featured for y in c.featured):
            s -= p.featured_conflict_penalty
    elif e.featured or c.featured:
        s -= p.featured_missing_penalty
    s -= p.version_penalty * len(_versions(e) ^ _versions(c))
    wants_live = "live" in e.markers or "live" in entry_tags
    if wants_live and "live" not in c.markers:
        s -= p.version_penalty
    elif "live" in c.markers and not wants_live:
        s -= p.unasked_live_penalty
    if source == "path":
        s -= p.path_penalty
    if min(a, t) < p.min_part:
        s = min(s, min(a, t))
    return s, a, t


def _recording_key(n: Normalized) -> tuple:
    return (n.artist, n.title, _versions(n), "live" in n.markers)


class LibraryIndex:
    """Blocking index over library items; build once, match many entries."""

    def __init__(self, items: Iterable[Any], params: MatchParams | None = None):
        self.params = params or MatchParams()
        self.items: list[LibraryItem] = [as_item(x) for x in items]
        self.norm: list[Normalized] = [normalize(x.artist, x.title) for x in self.items]
        self.quick: list[str] = [f"{n.artist} {n.title}" for n in self.norm]
        postings: dict[str, list[int]] = defaultdict(list)
        for i, n in enumerate(self.norm):
            for k in _keys(n):
                postings[k].append(i)
        n_items = max(1, len(self.items))
        self._post = {k: np.asarray(v, dtype=np.int64) for k, v in postings.items()}
        self._idf = {k: math.log(1.0 + n_items / len(v)) for k, v in postings.items()}

    def __len__(self) -> int:
        return len(self.items)

    def candidates(self, e: Normalized) -> list[int]:
        """Item indices that share the most idf-weighted keys with ``e``, best first."""
        p = self.params
        ids, weights = [], []
        for k in _keys(e):
            arr = self._post.get(k)
            if arr is not None:
                ids.append(arr)
                weights.append(np.full(len(arr), self._idf[k]))
        if not ids:
            return []
        ids_a = np.concatenate(ids)
        uniq, inv = np.unique(ids_a, return_inverse=True)
        w = np.bincount(inv, weights=np.concatenate(weights))
        if len(uniq) > p.n_block:
            top = np.argpartition(-w, p.n_block)[:p.n_block]
            uniq = uniq[top]
        uniq = uniq.tolist()
        if len(uniq) > p.n_rescore:
            q = f"{e.artist} {e.title}"
            sc = process.cdist([q], [self.quick[i] for i in uniq], scorer=fuzz.ratio,
                               workers=1)[0]
            top = np.argsort(-sc, kind="stable")[:p.n_rescore]
            uniq = [uniq[i] for i in top]
        return uniq

    def match(self, entry: TracklistEntry) -> MatchResult:
        """Match one tracklist entry; never picks silently between two close recordings."""
        p = self.params
        e = normalize(entry.artist, entry.title)
        scored = []
        for i in self.candidates(e):
            s, a, t = score_pair(e, self.norm[i], entry.tags, self.items[i].source, p)
            scored.append((s, i, a, t))
        scored.sort(key=lambda x: (-x[0], x[1]))
        seen: set[tuple] = set()
        cands: list[Candidate] = []
        for s, i, a, t in scored:
            key = _recording_key(self.norm[i])
            if key in seen:
                continue  # another file of the same recording
            seen.add(key)
            cands.append(Candidate(self.items[i], round(s, 1), round(a, 1), round(t, 1)))
            if len(cands) == 3:
                break
        if not cands or cands[0].score < p.threshold:
            near = [c for c in cands if c.score >= p.threshold - 20.0][:2]
            conf = cands[0].confidence if cands else 0.0
            return MatchResult(entry, MISSING, conf, None, near)
        best = cands[0]
        close = [c for c in cands[1:] if c.score >= p.threshold and best.score - c.score < p.margin]
        if close:
            return MatchResult(entry, AMBIGUOUS, best.confidence, None, [best, *close])
        return MatchResult(entry, FOUND, best.confidence, best.item, cands[:1])


def match_tracklist(entries: Sequence[TracklistEntry], library: Iterable[Any] | LibraryIndex,
                    params: MatchParams | None = None) -> list[MatchResult]:
    """Match every entry (input order kept) against library items or a built index."""
    index = library if isinstance(library, LibraryIndex) else LibraryIndex(library, params)
    done: dict[tuple, MatchResult] = {}  # a repeated entry is matched once
    out = []
    for e in entries:
        key = (e.artist, e.title, tuple(e.tags))
        if key not in done:
            done[key] = index.match(e)
        out.append(dataclasses.replace(done[key], entry=e))
    return out
