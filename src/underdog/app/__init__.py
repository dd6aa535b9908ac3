"""The application layer: one function per user operation. The CLI and the web page
call only these; each opens the library itself (``db``: a path, default $UNDERDOG_DB or
~/.local/share/underdog/library.db), resolves references (files, folders, playlists,
tracklists become tracks), returns plain records (dataclasses, dicts) and never prints.
Errors are :class:`underdog.errors.UnderdogError` subclasses with ``.message`` (one line)
and ``.exit_code``.

Operations (``from underdog import app; app.query_tracks(...)``; submodules load on first
use, so importing this package is cheap):

Library (``app.library``)
    ``scan(paths, db=None, *, jobs=None, force=False, engine="local", address=None,
    progress=None, observer=None, executor=None) -> ScanResult`` (``.stats``: found/
    analyzed/unchanged/moved/missing/failures/audio_s/wall_s; ``.tracks``; ``.db_path``).
    ``progress(ScanProgress)`` is called once with ``kind="start"`` (total_files,
    to_analyze) and once per file (``kind="file"``: path, outcome
    unchanged|moved|analyzed|failed, reason, running counts done/analyzed/failed,
    audio_s, audio_to_analyze_s, elapsed_s; ``.as_dict()`` for JSON). Raises UsageError
    (a path that does not exist), LibraryError, ``ScanInterrupted`` (a KeyboardInterrupt
    with ``.saved``, ``.signum``) on Ctrl-C. ``prepare_scan(...) -> ScanJob`` checks the
    same arguments first; ``job.run(progress, observer)`` scans.

    ``query_tracks(db=None, *, bpm=None, energy=None, style=None, key=None, artist=None,
    sort=None, offset=0, limit=None, include_failed=False, include_missing=False,
    count=True) -> TrackPage`` (``.tracks``: list[Track], ``.total`` matching the filters,
    ``.offset``, ``.limit``, ``.records()``: list of dicts). Ranges as "120-140" text or
    (lo, hi); energy is the level 1–10; sort one of ``library.db.SORT_KEYS`` ("-" prefix:
    descending). Paging runs in SQL.

    ``show_track(track_id_or_path, db=None) -> TrackDetails`` (``.fields`` every stored
    column, ``.beats``/``.downbeats``/``.phrases``/``.energy_curve`` arrays, ``.drops``,
    ``.sections`` (intro_end_s, outro_start_s, buildups, drops), ``.as_dict()``). Raises
    NotFoundError.

    ``list_problems(db=None) -> Problems`` (``.errors``, ``.warnings``: rows with path,
    reason, at); ``prune(db=None) -> int``.

Analysis outside the library (``app.analyze``)
    ``analyze_file(path) -> dict`` (the analysis record, or ``{"path", "error"}``);
    ``analyze_files(paths) -> Iterator[dict]`` (folders walked).

Arcs and plans (``app.planning``)
    ``list_arcs() -> list[dict]``; ``get_arc(name_or_toml_path, *, cadence, work, rest,
    rounds) -> Arc``; ``arc_from_toml(text) -> Arc``; ``arc_toml(arc) -> str``;
    ``arc_record(arc) -> dict`` and back, ``arc_from_record(dict) -> Arc`` (checked as a
    TOML file is). ``plan`` takes the arc as a name, a TOML path or an ``Arc``.

    ``plan(arc="montage", minutes=None, *, db=None, cadence, work, rest, rounds, seed=0,
    avoid_recent=0, exclude=(), record=True, options=None, alternatives=1) -> PlanResult``
    (``.plan``: entries, timeline, report, warnings; ``.arc``; ``.arc_spec``;
    ``.as_dict()`` the plan JSON; further plans from unused tracks with ``alternatives``).
    ``options`` is a ``planning.sequencer.PlanOptions`` (styles, max_track_s, excerpts).
    ``plan_order(track_ids, arc, minutes, *, db, seed) -> Plan``: exactly these tracks in
    this order (a swap, locked tracks), with the planner's cost and explanations.

    ``score(playlist, *, arc=None, minutes=None, cadence, work, rest, rounds, db=None)
    -> ScoreResult`` (``.report``: ScoreReport with ``.rows``; ``.arc_source``;
    ``.unknown`` paths; ``.as_dict()``).

    ``like(reference, minutes=None, *, db=None, exclude_reference=True,
    exclude_artists=False, seed=0, record=True) -> LikeResult`` (``.reference``,
    ``.learned`` (``.arc``, ``.toml``, ``.stats``), ``.plan``, ``.montage``, ``.random``,
    ``.rows``: distances per playlist); ``like_record(result) -> dict`` its plan JSON.

Outputs (``app.outputs``)
    ``check_outputs(paths)``; ``write_playlist(entries, out, *, title, document,
    relative_to=None, arc_spec=None, db=None) -> str`` (.m3u8/.m3u/.xspf/.json/.xml
    rekordbox, by extension); ``write_plot(plan, out, title) -> str`` (PNG);
    ``write_score_plot(score_result, out, title) -> str`` (PNG of a graded playlist);
    ``write_text(out, text) -> str`` (e.g. a learned arc's TOML).

References (``app.reference``)
    ``playlist_tracks(playlist, db=None) -> (tracks, unknown_paths)``: the analysed library
    tracks a playlist names; ``library_playlist(playlist, db=None, *, arc=True) ->
    LibraryPlaylist`` the same from one read of the file with the excerpts they play and
    the arc it names (``score``); ``load_reference(spec, lib) -> Reference`` (a playlist,
    folder or tracklist; files the library lacks analyzed now).

Soundtrack (``app.soundtrack``)
    ``match_soundtrack(tracklist, db=None, *, input_format=None, output=None,
    relative_to=None, fill=False) -> SoundtrackMatch`` (``.results`` in input order,
    ``.gaps`` stand-ins with ``fill``, ``.summary()``, ``.records(missing_only=False)``,
    ``.playlist`` written).

Tags (``app.tag``)
    ``tag_files(targets, db=None, *, dry_run=False, key_notation="musical", each=None)
    -> TagResult`` (``.files``: TagOutcome path/status changed|same|failed/changes;
    ``.problems``: lines).

Render (``app.render``)
    ``render_plan(plan_json, out, *, lufs=-14.0, cues="bell", stretcher="wsola", db=None,
    progress=None, warn=None, tempo="follow") -> RenderReport``.

Records (``app.common``)
    ``track_record(track) -> dict``; ``TRACK_FIELDS``; ``parse_range(text, what)``.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the submodule that defines it
_EXPORTS = {
    "scan": "library", "prepare_scan": "library", "ScanJob": "library",
    "ScanProgress": "library", "ScanResult": "library",
    "ScanInterrupted": "library", "query_tracks": "library", "TrackPage": "library",
    "show_track": "library", "TrackDetails": "library", "list_problems": "library",
    "Problems": "library", "prune": "library",
    "analyze_file": "analyze", "analyze_files": "analyze", "iter_audio_paths": "analyze",
    "list_arcs": "planning", "get_arc": "planning", "arc_from_toml": "planning",
    "arc_toml": "planning", "arc_record": "planning", "arc_from_record": "planning",
    "plan": "planning", "plan_order": "planning",
    "PlanResult": "planning", "score": "planning", "ScoreResult": "planning",
    "like": "planning", "like_record": "planning",
    "check_outputs": "outputs", "write_playlist": "outputs", "write_plot": "outputs",
    "write_score_plot": "outputs", "write_text": "outputs",
    "match_soundtrack": "soundtrack", "SoundtrackMatch": "soundtrack",
    "tag_files": "tag", "TagResult": "tag", "TagOutcome": "tag",
    "render_plan": "render",
    "track_record": "common", "TRACK_FIELDS": "common", "parse_range": "common",
    "load_reference": "reference", "playlist_tracks": "reference",
    "library_playlist": "reference",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)
