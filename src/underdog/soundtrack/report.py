"""The outputs of a soundtrack match: film order, the "complete" M3U8, a summary.

The playlist itself is written by ``underdog.export.playlists`` (atomic write, absolute or
relative paths): found tracks are entries, every other tracklist entry is a
``PlaylistComment`` in its place (``# missing: Artist - Title [tags]``). With gaps filled
(``soundtrack/fill.py``) a missing entry's best stand-in plays in its place, after a
``# stand-in for: ...`` comment; the other stand-ins follow as a ``# other stand-ins:`` line.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..export import playlists
from ..export.playlists import PlaylistComment
from .match import AMBIGUOUS, FOUND, MISSING, LibraryItem, MatchResult, match_tracklist
from .tracklist import TracklistEntry, read_tracklist

if TYPE_CHECKING:
    from .fill import Gap


def film_order(results: Sequence[MatchResult]) -> list[MatchResult]:
    """Results in film order: by scene time when every entry has one, else file order."""
    if results and all(r.entry.time_s is not None for r in results):
        return sorted(results, key=lambda r: r.entry.time_s)  # stable: ties keep file order
    return list(results)


def _tags(entry: TracklistEntry) -> str:
    return "".join(f" [{t}]" for t in entry.tags)


def _stand_in(e: TracklistEntry, when: str, gap: "Gap") -> list[Any]:
    """The best stand-in as a playlist entry marked in its comment and title, then the
    others as one comment line."""
    best, others = gap.stand_ins[0], gap.stand_ins[1:]
    t = best.track
    out: list[Any] = [{
        "path": t.path, "artist": t.artist, "duration_s": t.duration_s,
        "title": f"{t.title or os.path.splitext(os.path.basename(t.path))[0]} [stand-in]",
        "comment": f"stand-in for: {e.artist} - {e.title}{_tags(e)}{when} "
                   f"(wanted {gap.target.describe()}; this: {best.why})"}]
    if others:
        out.append(PlaylistComment("other stand-ins: " + " | ".join(
            f"{s.track.path} ({s.why})" for s in others)))
    return out


def playlist_entries(results: Sequence[MatchResult], gaps: Sequence["Gap"] = ()
                     ) -> list[Any]:
    """Film-order playlist entries: the found library item, else (given ``gaps``) the best
    stand-in marked as one, else a comment in its place."""
    out: list[Any] = []
    filled = {g.index: g for g in gaps if g.stand_ins}
    index_of = {id(r): i for i, r in enumerate(results)}
    for r in film_order(results):
        e = r.entry
        when = f" @{e.time}" if e.time else ""
        if r.status == FOUND and r.match is not None:
            out.append(r.match)
        elif index_of[id(r)] in filled:
            out.extend(_stand_in(e, when, filled[index_of[id(r)]]))
        elif r.status == AMBIGUOUS:
            names = " | ".join(f"{c.item.path} ({c.confidence:.2f})" for c in r.candidates)
            out.append(PlaylistComment(f"ambiguous: {e.artist} - {e.title}{_tags(e)}{when}: "
                                       f"{names}"))
        else:
            out.append(PlaylistComment(f"missing: {e.artist} - {e.title}{_tags(e)}{when}"))
    return out


def m3u8_lines(results: Sequence[MatchResult], title: str | None = None,
               relative_to: str | os.PathLike | None = None,
               gaps: Sequence["Gap"] = ()) -> list[str]:
    """M3U8 lines: found tracks in film order, each other entry as a ``# missing:`` (or
    ``# ambiguous:``) comment in its place, or its stand-in when ``gaps`` fill it."""
    return playlists.m3u8_lines(playlist_entries(results, gaps), relative_to=relative_to,
                                title=title)


def write_m3u8(results: Sequence[MatchResult], path: str | os.PathLike,
               title: str | None = None, relative_to: str | os.PathLike | None = None,
               gaps: Sequence["Gap"] = ()) -> None:
    """Write the film-order playlist (UTF-8, LF, atomically); paths absolute, or relative to
    the folder ``relative_to``; missing entries filled from ``gaps`` where they can be."""
    playlists.write_m3u8(playlist_entries(results, gaps), path, relative_to=relative_to,
                         title=title)


@dataclass
class Summary:
    total: int
    found: int
    missing: int
    ambiguous: int

    def line(self) -> str:
        return (f"{self.found} of {self.total} found, {self.missing} missing, "
                f"{self.ambiguous} ambiguous")


def summarize(results: Sequence[MatchResult]) -> Summary:
    c = Counter(r.status for r in results)
    return Summary(len(results), c[FOUND], c[MISSING], c[AMBIGUOUS])


def match_file(tracklist: str | os.PathLike, library: Iterable[Any],
               format: str | None = None) -> list[MatchResult]:
    """Read a tracklist file and match it against library items (Track objects or similar)."""
    return match_tracklist(read_tracklist(tracklist, format), list(library))

