"""Resolve a reference (a playlist, a folder of audio files, or a tracklist matched against
the library) into tracks: stored analyses where the library has them, the others analyzed
now (nothing is written to the library). The learning itself is pure:
:mod:`underdog.planning.reference`."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Callable

from ..errors import UnderdogError
from ..library.db import Library
from ..models import Track
from ..planning.reference import Reference, UnusableReference
from .analyze import track_from_file

PLAYLIST_EXT = (".m3u", ".m3u8", ".xspf")


def reference_paths(spec: str, lib: Library) -> tuple[str, list[str], list[str]]:
    """(kind, paths, missing tracklist entries) of a reference: "folder" (its audio files,
    walked), "playlist" (its entries) or "tracklist" (the entries the library has)."""
    if os.path.isdir(spec):
        from ..library.scan import walk_audio

        return "folder", [e.path for e in walk_audio([spec]) if e.problem is None], []
    if not os.path.exists(spec):
        raise UnusableReference(f"{spec}: no such file or folder")
    if os.path.splitext(spec)[1].lower() in PLAYLIST_EXT:
        from ..export.playlists import read_playlist

        return "playlist", read_playlist(spec), []
    from ..soundtrack.match import FOUND, match_tracklist
    from ..soundtrack.tracklist import read_tracklist

    entries = read_tracklist(spec)
    results = match_tracklist(entries, lib.tracks(include_failed=True))
    found = [r.match.path for r in results if r.status == FOUND]
    missing = [f"{r.entry.display} ({r.status})" for r in results if r.status != FOUND]
    return "tracklist", found, missing


def load_reference(spec: str | os.PathLike, lib: Library,
                   analyze_fn: Callable | None = None) -> Reference:
    """Read a reference and get every track's analysis (stored, or computed now).

    Single unusable files are skipped (``Reference.skipped`` says why, and a warning is
    issued for each); a reference with no usable track raises
    :class:`~underdog.planning.reference.UnusableReference` naming each file and the
    reason."""
    from ..audio import is_audio_path

    spec = os.fspath(spec)
    kind, paths, missing = reference_paths(spec, lib)
    ref = Reference(spec, kind, [], missing=missing)
    seen: set[str] = set()
    for p in paths:
        p = os.path.abspath(p)
        if p in seen:
            continue
        seen.add(p)
        t = lib.get_track(p)
        if t is not None and t.status == "ok" and t.duration_s:
            ref.tracks.append(t)
            ref.from_library += 1
            continue
        if not os.path.isfile(p):
            ref.skipped.append((p, "file not found"))
            continue
        if not is_audio_path(p):
            ref.skipped.append((p, "not an audio file name"))
            continue
        try:
            t = track_from_file(p, analyze_fn)
        except UnderdogError as exc:
            msg = str(exc)
            ref.skipped.append((p, msg.split(": ", 1)[1] if msg.startswith(p) else msg))
            continue
        except Exception as exc:  # a decoder bug: still one line for the user
            ref.skipped.append((p, f"internal error: {exc.__class__.__name__}: {exc}"))
            continue
        if not t.duration_s or t.duration_s <= 0:
            ref.skipped.append((p, "no duration"))
            continue
        ref.tracks.append(t)
        ref.analyzed += 1
    if not ref.tracks:
        if not paths:
            why = {"folder": "no audio files in it",
                   "playlist": "the playlist has no entries",
                   "tracklist": "none of its entries was found in the library"}[kind]
            extra = f" (missing: {'; '.join(missing[:5])})" if missing else ""
            raise UnusableReference(f"{spec}: cannot learn from this reference: {why}{extra}")
        lines = "; ".join(f"{p}: {why}" for p, why in ref.skipped[:8])
        more = f" (+{len(ref.skipped) - 8} more)" if len(ref.skipped) > 8 else ""
        raise UnusableReference(f"{spec}: cannot learn from this reference: none of its "
                                f"{len(paths)} tracks could be analyzed: {lines}{more}")
    for p, why in ref.skipped:
        warnings.warn(f"reference: skipped {p}: {why}", stacklevel=2)
    prints = lib.identities(t.id for t in ref.tracks if t.id is not None)
    for t in ref.tracks:  # library tracks: their stored sound prints
        if t.id in prints:
            t.identity = prints[t.id]
    if kind == "folder":
        ref.tracks, ref.order = folder_order(ref.tracks, spec)
    else:
        ref.order = {"playlist": "in playlist order", "tracklist": "in tracklist order"}[kind]
    return ref


def folder_order(tracks: list[Track], root: str) -> tuple[list[Track], str]:
    """A folder's tracks in order: sub-folder by sub-folder (by name), then by track
    number (tracks without one after those with one), then by file name; and that order
    said in words."""
    def key(t: Track):
        rel = os.path.relpath(t.path, root)
        return (os.path.dirname(rel).casefold(), t.track_no is None, t.track_no or 0,
                os.path.basename(rel).casefold(), rel)
    numbered = sum(t.track_no is not None for t in tracks)
    return sorted(tracks, key=key), (f"folder ordered by track number, then by file name "
                                     f"({numbered} of {len(tracks)} tracks numbered)")


def same_sound_ids(lib: Library, candidates: list[Track], ref: Reference) -> frozenset[int]:
    """Ids of library tracks holding one of the reference's recordings by sound (another
    path or encoding of it), whatever folder they sit in. Only candidates within
    ``identity.MAX_OFFSET_S`` of a reference track's length have their prints read."""
    from ..analysis.identity import MAX_OFFSET_S, STEP_S, matches

    refs = [(i, t.duration_s, t.identity) for i, t in enumerate(ref.tracks)
            if t.identity is not None and len(t.identity)]
    if not refs:
        return frozenset()
    durs = sorted(d for _, d, _ in refs if d)
    near = [t for t in candidates if t.id is not None and t.duration_s
            and any(abs(t.duration_s - d) <= MAX_OFFSET_S for d in durs)]
    prints = lib.identities(t.id for t in near)
    items = [(t.id, t.duration_s, prints[t.id]) for t in near if t.id in prints]
    return frozenset(matches(refs, items, STEP_S))


@dataclass
class LibraryPlaylist:
    """A playlist as library tracks: the analysed ``tracks`` it names, in its order, the
    excerpt each plays (``spans``: (in_s, out_s) track seconds, or None for the whole
    track) and the tempo it is stretched to (``tempi``: BPM, or None), the ``paths`` it names (all of them), the ones the library does not hold
    analysed (``unknown``) and the arc it was planned for (``arc_spec``, or None)."""

    tracks: list[Track]
    spans: list[tuple[float, float] | None]
    paths: list[str]
    unknown: list[str]
    arc_spec: dict | None
    tempi: list[float | None] = field(default_factory=list)
    # where each sits in the session (a plan JSON's start_s, end_s, bars), or None
    places: list[dict | None] = field(default_factory=list)


def library_playlist(playlist: str | os.PathLike, db=None, *,
                     arc: bool = True) -> LibraryPlaylist:
    """A playlist (.m3u8/.m3u/.xspf/.json) read once, and its entries looked up in the
    library; ``arc``: read the arc it names too (False: ``arc_spec`` is None). Nothing is
    opened but the playlist and the library (a reference from the web page cannot make
    the server read other files). Raises PlaylistError, LibraryError."""
    from ..export.playlists import read_playlist, read_playlist_arc
    from .common import library

    spans: list[tuple[float, float] | None] = []
    tempi: list[float | None] = []
    places: list[dict | None] = []
    paths, spec = (read_playlist_arc(playlist, spans=spans, tempi=tempi, places=places)
                   if arc else
                   (read_playlist(playlist, spans=spans, tempi=tempi, places=places), None))
    out = LibraryPlaylist([], [], paths, [], spec)
    with library(db) as lib:
        for p, sp, tempo, place in zip(paths, spans, tempi, places):
            t = lib.get_track(p)
            if t is not None and t.status == "ok" and t.duration_s:
                out.tracks.append(t)
                out.spans.append(sp)
                out.tempi.append(tempo)
                out.places.append(place)
            else:
                out.unknown.append(p)
    return out


def playlist_tracks(playlist: str | os.PathLike, db=None) -> tuple[list[Track], list[str]]:
    """The analysed library tracks a playlist (.m3u8/.m3u/.xspf/.json) names, in its
    order, and the paths it names that the library does not hold analysed
    (:func:`library_playlist`). Raises PlaylistError, LibraryError."""
    pl = library_playlist(playlist, db, arc=False)
    return pl.tracks, pl.unknown
