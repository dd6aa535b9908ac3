"""The ``soundtrack match`` operation: what the library has of a film's tracklist."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..soundtrack.match import FOUND, MatchResult
from .common import DbPath, library


@dataclass
class SoundtrackMatch:
    """Every tracklist entry's result in input order (``results``: status found | missing
    | ambiguous, confidence, the library file or the candidates), and the film-order M3U8
    written, if any (``playlist``: the paths, comma-separated)."""

    tracklist: str
    results: list[MatchResult]
    playlist: str | None = None
    gaps: list = field(default_factory=list)   # soundtrack.fill.Gap per missing entry

    def gap_of(self, r: MatchResult):
        """The stand-ins found for a missing entry's result (``fill``), or None."""
        return {id(self.results[g.index]): g for g in self.gaps}.get(id(r))

    def record(self, r: MatchResult) -> dict[str, Any]:
        """One result as a plain dict, with its ``gap`` (stand-ins) when it has one."""
        d = r.to_json()
        g = self.gap_of(r)
        if g is not None:
            d["gap"] = g.to_json()
        return d

    def summary(self):
        """Counts: total, found, missing, ambiguous (``.line()`` for one line)."""
        from ..soundtrack.report import summarize

        return summarize(self.results)

    def records(self, missing_only: bool = False) -> list[dict[str, Any]]:
        """The results as plain dicts (input order); ``missing_only`` drops found ones."""
        return [self.record(r) for r in self.results
                if not (missing_only and r.status == FOUND)]


def _same_sound(lib, results, tracks):
    """``same_as(a, b)`` for the gap filler: two tracks hold one recording by their sound
    prints. Only the prints of tracks within ``MAX_OFFSET_S`` of a found track's length
    are read (a stand-in is compared with the found tracks only)."""
    from ..analysis.identity import MAX_OFFSET_S, STEP_S, same_recording
    from ..soundtrack.match import FOUND

    found = {r.match.id for r in results if r.status == FOUND and r.match is not None}
    durs = [t.duration_s for t in tracks if t.id in found and t.duration_s]
    near = [t.id for t in tracks if t.id is not None and t.duration_s
            and any(abs(t.duration_s - d) <= MAX_OFFSET_S for d in durs)]
    prints = lib.identities(near)

    def same_as(a, b) -> bool:
        return (a.id in prints and b.id in prints
                and same_recording(prints[a.id], prints[b.id], STEP_S, a.duration_s,
                                   b.duration_s))
    return same_as


def match_soundtrack(tracklist: str | os.PathLike, db: DbPath = None, *,
                     input_format: str | None = None,
                     output: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
                     relative_to: str | os.PathLike | None = None,
                     fill: bool = False) -> SoundtrackMatch:
    """Match a film's tracklist (text 'Artist - Title [tags] hh:mm:ss' lines, CSV or JSON;
    ``input_format``: "text", "csv", "json", default from the extension) against the
    library's files, failed analyses included (the user still owns them). ``output`` (one
    path or several): write the film-order M3U8 of the found tracks (with '# missing:' comments), or with a
    ``.xml`` name the rekordbox XML of the found tracks. ``fill``:
    up to three stand-ins from the library for each missing entry (``gaps``; the playlist
    plays the best in its place). Raises TracklistError, LibraryError (no library
    database), OutputError."""
    from ..soundtrack.match import match_tracklist
    from ..soundtrack.report import write_m3u8
    from ..soundtrack.tracklist import read_tracklist

    with library(db, must_exist=True) as lib:
        entries = read_tracklist(tracklist, input_format)
        tracks = lib.tracks(include_failed=True)
        results = match_tracklist(entries, tracks)
        gaps = []
        if fill:
            from ..soundtrack.fill import fill_gaps

            gaps = fill_gaps(results, tracks, same_as=_same_sound(lib, results, tracks))
    outputs = [] if output is None else (
        [output] if isinstance(output, (str, bytes, os.PathLike)) else list(output))
    title = os.path.splitext(os.path.basename(os.fspath(tracklist)))[0]
    for out in outputs:
        try:
            if os.fspath(out).lower().endswith(".xml"):  # rekordbox, grids from the library
                from ..soundtrack.report import playlist_entries
                from .outputs import write_rekordbox_xml

                write_rekordbox_xml(playlist_entries(results, gaps), out, title, db)
            else:
                write_m3u8(results, out, title=title, relative_to=relative_to, gaps=gaps)
        except OSError as exc:
            from ..errors import OutputError
            from ..fileio import os_reason

            raise OutputError(os.fspath(out), os_reason(exc)) from None
    written = ", ".join(os.fspath(o) for o in outputs) or None
    return SoundtrackMatch(os.fspath(tracklist), results, written, gaps)
