"""The outputs of a soundtrack match: film order, the "complete" M3U8, a summary."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .match import AMBIGUOUS, FOUND, MISSING, MatchResult, match_tracklist
from .tracklist import TracklistEntry, read_tracklist


def film_order(results: Sequence[MatchResult]) -> list[MatchResult]:
    """Results in film order: by scene time when every entry has one, else file order."""
    if results and all(r.entry.time_s is not None for r in results):
        return sorted(results, key=lambda r: r.entry.time_s)  # stable: ties keep file order
    return list(results)


def _tags(entry: TracklistEntry) -> str:
    return "".join(f" [{t}]" for t in entry.tags)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def m3u8_lines(results: Sequence[MatchResult], title: str | None = None) -> list[str]:
    """M3U8 lines: found tracks in film order, each other entry as a ``# missing:`` (or
    ``# ambiguous:``) comment in its place."""
    lines = ["#EXTM3U"]
    if title:
        lines.append(f"#PLAYLIST:{_one_line(title)}")
    for r in film_order(results):
        e = r.entry
        when = f" @{e.time}" if e.time else ""
        if r.status == FOUND and r.match is not None:
            it = r.match
            dur = int(round(it.duration_s)) if it.duration_s else -1
            name = f"{it.artist} - {it.title}" if it.artist and it.title else \
                os.path.splitext(os.path.basename(it.path))[0]
            lines.append(f"#EXTINF:{dur},{_one_line(name)}")
            lines.append(it.path)
        elif r.status == AMBIGUOUS:
            names = " | ".join(f"{c.item.path} ({c.confidence:.2f})" for c in r.candidates)
            lines.append(_one_line(f"# ambiguous: {e.artist} - {e.title}{_tags(e)}{when}: "
                                   f"{names}"))
        else:
            lines.append(_one_line(f"# missing: {e.artist} - {e.title}{_tags(e)}{when}"))
    return lines


def write_m3u8(results: Sequence[MatchResult], path: str | os.PathLike,
               title: str | None = None) -> None:
    """Write the film-order playlist (UTF-8, LF line ends)."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(m3u8_lines(results, title)) + "\n")


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
