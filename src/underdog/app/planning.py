"""Planning operations: arcs (list, load, to TOML), plan, score, like."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import UnderdogError, UsageError
from ..library.db import Library
from ..planning.arcs import BUILTIN, Arc, arc_to_toml, load_arc, montage, parse_toml
from ..planning.reference import (Distances, Learned, LikeResult, Reference, compare,
                                  exclusion_ids, learn, random_pick)
from ..planning.score import ScoreReport, score_tracks
from ..planning.sequencer import Plan, PlanOptions, plan as make_plan
from .common import DbPath, library

MAX_SESSION_MIN = 600.0   # a session, minutes (the CLI's --minutes bound)


# ---------------------------------------------------------------- arcs

def arc_record(a: Arc) -> dict[str, Any]:
    """An arc as a plain dict: name, description, default minutes, style bounds, track
    length window and its segments (name, minutes or share, bpm and energy (start, end),
    tolerance, half/double, style weights and bounds, peak)."""
    from dataclasses import asdict

    return asdict(a)


def list_arcs() -> list[dict[str, Any]]:
    """The built-in arcs with their default parameters (:func:`arc_record` each)."""
    return [arc_record(BUILTIN[name]()) for name in BUILTIN]


def get_arc(spec: str, *, cadence: float | None = None, work: float | None = None,
            rest: float | None = None, rounds: int | None = None) -> Arc:
    """A built-in arc by name (``run``: ``cadence``; ``hiit``: ``work``, ``rest``,
    ``rounds``) or a user arc from a TOML file's path. Raises ArcError (one line: an
    unknown name, a bad file with its line) or UsageError (an arc longer than 600 min)."""
    a = load_arc(spec, cadence=cadence, work=work, rest=rest, rounds=rounds)
    if not a.minutes <= MAX_SESSION_MIN:  # e.g. hiit's 100 rounds of 60 + 60 minutes
        raise UsageError(f"arc {a.name!r} lasts {a.minutes:g} minutes; at most "
                         f"{MAX_SESSION_MIN:g}")
    return a


def arc_from_record(d: dict[str, Any]) -> Arc:
    """An arc from its plain dict (:func:`arc_record`'s form, e.g. edited in the web page),
    checked as strictly as a TOML file. Raises ArcError or UsageError (an unknown key)."""
    from dataclasses import fields as dc_fields

    from ..planning.arcs import Segment

    def build(cls, v: dict[str, Any], what: str):
        if not isinstance(v, dict):
            raise UsageError(f"{what} must be an object")
        known = {f.name for f in dc_fields(cls)}
        bad = sorted(set(v) - known)
        if bad:
            raise UsageError(f"{what}: unknown key {bad[0]!r}; keys: {', '.join(sorted(known))}")
        return {k: tuple(x) if k in ("bpm", "energy", "track_minutes") and isinstance(x, list)
                else x for k, x in v.items()}

    top = dict(build(Arc, d, "arc"))
    segs = top.get("segments")
    if not isinstance(segs, list) or not segs:
        raise UsageError("arc: 'segments' must be a non-empty list")
    try:
        top["segments"] = [Segment(**build(Segment, s, f"segment {i + 1}"))
                           for i, s in enumerate(segs)]
        a = Arc(**top)
    except TypeError as exc:  # a required key missing
        raise UsageError(f"arc: {exc}") from None
    parse_toml(arc_to_toml(a), f"<{a.name}>")  # checked against every bound a file has
    return a


def arc_from_toml(text: str, name: str = "<arc>") -> Arc:
    """An arc from TOML text (``name`` is used in error messages). Raises ArcError."""
    return parse_toml(text, name)


def arc_toml(a: Arc) -> str:
    """The arc as TOML text that :func:`arc_from_toml` reads back to the same arc."""
    return arc_to_toml(a)


def arc_spec(spec: str | Arc, a: Arc, session_min: float, cadence: float | None = None,
             work: float | None = None, rest: float | None = None,
             rounds: int | None = None) -> dict[str, Any]:
    """What ``score`` needs to rebuild the arc: the built-in name (or the TOML file's
    absolute path), the parameters given, and the session's minutes. An arc given as an
    object (no file) is named only: score grades it against montage unless told."""
    if isinstance(spec, Arc):
        name = spec.name
    else:
        name = (spec if spec in BUILTIN and not os.path.isfile(spec)
                else os.path.abspath(spec))
    out: dict[str, Any] = {"arc": name}
    for k, v in (("cadence", cadence), ("work", work), ("rest", rest), ("rounds", rounds)):
        if v is not None:
            out[k] = v
    out["minutes"] = round(session_min, 4)
    return out


# ---------------------------------------------------------------- plan

@dataclass
class PlanResult:
    """A plan (``plan``: entries, timeline, report, warnings), the arc it follows and
    ``arc_spec``, what rebuilds that arc (written into the playlists)."""

    plan: Plan
    arc: Arc
    arc_spec: dict[str, Any]
    # --alternatives: the next near-best plans, each sharing at most half its tracks with an
    # earlier one (sequencer.alternatives), and
    # why there are fewer than asked (the library ran out)
    alternatives: list[Plan] = field(default_factory=list)
    alternatives_note: str | None = None
    # the beat lines the check by ear read (heard_plans' ``known``): a render of the plan
    # in this process takes them as they are (``render_plan``'s ``heard_lines``)
    heard_lines: dict = field(default_factory=dict)

    def as_dict(self, plan: Plan | None = None) -> dict[str, Any]:
        """The plan JSON document (what ``plan -o x.json`` writes) of the plan, or of one
        of its ``alternatives``."""
        return {**(plan or self.plan).as_dict(), "arc_spec": self.arc_spec}


def playlist_track_ids(lib: Library, playlists: Iterable[str | os.PathLike]) -> frozenset[int]:
    """Library ids of the tracks the playlists name (files the library lacks are ignored)."""
    from ..export.playlists import read_playlist

    return frozenset(t.id for pl in playlists for path in read_playlist(pl)
                     if (t := lib.get_track(path)) is not None)


def plan(arc: str | Arc = "montage", minutes: float | None = None, *, db: DbPath = None,
         cadence: float | None = None, work: float | None = None, rest: float | None = None,
         rounds: int | None = None, seed: int = 0, avoid_recent: int = 0,
         exclude: Sequence[str | os.PathLike] = (), record: bool = True,
         options: PlanOptions | None = None, alternatives: int = 1,
         check_beats: bool = True) -> PlanResult:
    """Plan a playlist that follows an arc, from the library.

    ``arc``: a built-in name or a TOML path (:func:`get_arc`), or an :class:`Arc` (from
    :func:`arc_from_toml` or :func:`arc_from_record`); ``minutes``: the session
    (default: the arc's own); ``seed``: 0 the best playlist, others near-best alternatives;
    ``avoid_recent``: skip tracks of the last N recorded plans; ``exclude``: playlists
    whose tracks are left out; ``record``: remember the plan for ``avoid_recent``;
    ``options``: further planner options (its seed and avoid_recent are replaced by the
    arguments, its ``exclude_ids`` joined by the tracks of ``exclude``; its ``locked``
    (position, track id) pairs keep those tracks at their places and plan the rest around
    them, whole-track plans only);
    ``alternatives``: plan this many, each sharing at most half its tracks with an earlier
    one (the first is recorded); ``check_beats``: lay each plan out as the render will and,
    where its beat check hears no steady beat on more than a quarter of a blend side's
    beats (the render's warning), plan again with those beats unclear
    (:func:`heard_plans`). Raises ArcError, PlanError (a locked track that is not usable,
    or cannot keep its place), PlaylistError, LibraryError."""
    from dataclasses import replace

    from ..planning.sequencer import alternatives as more_plans

    a = arc if isinstance(arc, Arc) else get_arc(arc, cadence=cadence, work=work,
                                                  rest=rest, rounds=rounds)
    with library(db) as lib:
        opts = options or PlanOptions()
        opts = replace(opts, seed=seed, avoid_recent=avoid_recent, exclude_ids=frozenset(
            opts.exclude_ids) | playlist_track_ids(lib, exclude))
        plans, note = more_plans(lib, a, alternatives, minutes, opts)
        known: dict = {}
        if check_beats:
            plans, note = heard_plans(lib, plans, note,
                                      lambda src: more_plans(src, a, alternatives, minutes, opts),
                                      known)
        p = plans[0]
        if record and p.entries:
            lib.record_plan([e.track.id for e in p.entries], a.name, seed)
    spec = arc_spec(arc, a, p.timeline.total_s / 60.0, cadence, work, rest, rounds)
    return PlanResult(p, a, spec, plans[1:], note, known)


HEARD_ROUNDS = 3  # plan again at most this often over blends the beat check heard unsteady


def heard_plans(lib: Library, plans: list[Plan], note: str | None,
                replan: Any, known: dict | None = None) -> tuple[list[Plan], str | None]:
    """The planner's blends checked by ear before any render: each plan with blends is laid
    out as the render lays it (``render.render.unsteady_beats``: the render's beat lines
    and its beat check on each overlap's window as the mix plays it). Where the check hears
    no steady beat on more than a quarter of a blend side's beats, or the two tracks'
    beats apart (over 15 ms median or 30 ms at the 95th percentile, the tracker told the
    tempo: ``render.render.apart``), which the render would warn of, those beats count as
    unclear (stored clarity 0) and ``replan(source)`` plans
    again from a view of ``lib`` that says so; the planner's own rule then moves, shortens
    or cuts that blend (planning/excerpts.py). Up to ``HEARD_ROUNDS`` rounds (a new blend
    can be heard unsteady too); the first plan's report notes how many blends were heard
    so. A file that cannot be read leaves its plan as it is (the render will say why), and
    so does a re-plan that fails (the render warns of the blend instead). ``known`` gets
    each beat line read (``render.render.audio_refiner``'s), for the render to reuse."""
    from ..export.playlists import jsonable
    from ..planning.excerpts import beats_of_bars
    from ..render.render import plan_from_json, unsteady_beats
    from .render import open_library_beats

    beats_for = open_library_beats(lib)
    known = {} if known is None else known  # each line read and checked once
    marks: dict[int, set[int]] = {}
    heard = 0
    for _ in range(HEARD_ROUNDS):
        new = 0
        for p in plans:
            if len(p.entries) < 2:
                continue
            try:
                found = unsteady_beats(plan_from_json(jsonable(p.as_dict()), "the plan"),
                                       beats_for, known=known)
            except UnderdogError:
                continue
            for i, times in found.items():
                tid = p.entries[i].track.id
                if tid is None:
                    continue
                got = beats_of_bars(*lib.rhythm(tid)[:2], times) - marks.get(tid, set())
                if got:
                    marks.setdefault(tid, set()).update(got)
                    new += 1
        if not new:
            break
        try:
            plans, note = replan(_HeardClarity(lib, marks))
        except UnderdogError:  # e.g. locked tracks that no longer fit: keep the plans heard
            break
        heard += new
    if heard and plans:
        plans[0].report.notes.append(
            f"{heard} blend side{'s' * (heard != 1)} where the render's beat check heard no "
            "steady beat or the two tracks' beats apart: planned again with those beats "
            "unclear")
        plans[0].stats["heard_unsteady"] = heard
    return plans, note


class _HeardClarity:
    """``lib`` for the planner, with the beats the render's beat check heard unsteady
    (``marks``: track id -> stored beat indices) at clarity 0."""

    def __init__(self, lib: Library, marks: dict[int, set[int]]):
        self._lib, self._marks = lib, marks

    def beat_clarity(self, track_id: int) -> np.ndarray:
        c = self._lib.beat_clarity(track_id)
        idx = self._marks.get(track_id)
        if not idx:
            return c
        if not len(c):  # not analysed: every beat clear but these
            c = np.full(len(self._lib.rhythm(track_id)[0]), 255, np.uint8)
        c = np.array(c, np.uint8)
        c[[i for i in idx if i < len(c)]] = 0
        return c

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)


def plan_order(track_ids: Sequence[int], arc: str | Arc = "montage",
               minutes: float | None = None, *, db: DbPath = None, seed: int = 0) -> Plan:
    """The plan of exactly these library tracks in this order (the web page's swaps),
    with the planner's cost, report and explanations. Raises NotFoundError for an
    id the library does not hold analysed, ArcError."""
    from ..errors import NotFoundError
    from ..planning.sequencer import plan_for_order

    a = arc if isinstance(arc, Arc) else get_arc(arc)
    tracks = []
    with library(db) as lib:
        for i in track_ids:
            t = lib.get_track(int(i))
            if t is None or t.status != "ok" or not t.duration_s:
                raise NotFoundError(f"no analysed track {i} in the library")
            tracks.append(t)
    return plan_for_order(tracks, a, minutes, seed)


# ---------------------------------------------------------------- score

@dataclass
class ScoreResult:
    """A playlist graded against an arc: the ``report`` (fit, transitions, keys, artists,
    styles, drops, one row per track), where the arc came from (``arc_source``), and the
    playlist's paths the library does not know (``unknown``)."""

    playlist: str
    report: ScoreReport
    arc_source: str
    unknown: list[str] = field(default_factory=list)
    # what the plot needs: the arc laid over the session, the graded library tracks (one
    # per row) and the tempo each excerpt is stretched to
    timeline: Any = None
    tracks: list[Any] = field(default_factory=list)
    tempi: list[float | None] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**self.report.as_dict(), "arc_source": self.arc_source}

    def plot_rows(self) -> tuple[list[dict], list[dict]]:
        """The arc plot's segments and entries (each row where score placed it), ready
        for ``export.plot.plot_plan``; the round cues are ``report.cues``."""
        from ..export.plot import plot_segments, score_entries

        return (plot_segments(self.timeline),
                score_entries(self.report.rows, self.tracks, self.report.minutes * 60.0,
                              self.tempi))


def score(playlist: str | os.PathLike, *, arc: str | None = None,
          minutes: float | None = None, cadence: float | None = None,
          work: float | None = None, rest: float | None = None, rounds: int | None = None,
          db: DbPath = None, plot: str | os.PathLike | None = None) -> ScoreResult:
    """Grade any playlist (.m3u8/.m3u/.xspf/.json) against an arc: ``arc`` given, else
    the one the playlist was planned for, else montage; parameters not given come from
    the playlist's own arc. ``minutes`` defaults to the playlist's own length. An excerpt
    plan's JSON places each excerpt at its ``start_s``; other playlists play back to back
    (:func:`~underdog.planning.score.score_tracks`). ``plot``: also write the arc plot
    (PNG) of what plays, as score placed it (``outputs.write_score_plot``). Raises
    PlaylistError, ArcError, LibraryError, UsageError (no track of the library in it),
    OutputError (the plot)."""
    from .reference import library_playlist

    playlist = os.fspath(playlist)
    pl = library_playlist(playlist, db, arc=arc is None)  # one read: tracks and arc
    spec = pl.arc_spec
    if arc is not None:
        source = "--arc"
    elif spec is not None:
        source = "the playlist's own"
        arc = spec["arc"]
        cadence = cadence if cadence is not None else spec.get("cadence")
        work = work if work is not None else spec.get("work")
        rest = rest if rest is not None else spec.get("rest")
        rounds = rounds if rounds is not None else spec.get("rounds")
        minutes = minutes if minutes is not None else spec.get("minutes")
    else:
        source = "the playlist names none"
        arc = "montage"
    a = get_arc(arc, cadence=cadence, work=work, rest=rest, rounds=rounds)
    tracks, kept, unknown = pl.tracks, pl.spans, pl.unknown
    if not tracks:
        raise UsageError(f"{playlist}: none of its {len(pl.paths)} tracks is an analyzed "
                         "track of the library (scan their folder first)")
    played_s = sum(sp[1] - sp[0] if sp else t.duration_s for t, sp in zip(tracks, kept))
    ends = [p["end_s"] for p in pl.places if p and p["end_s"] is not None]
    if any(kept) and all(pl.places) and ends:  # excerpts placed in the session: it ends
        played_s = max(ends)                     # where the last one does
    total_min = minutes if minutes is not None else played_s / 60.0
    tl = a.timeline(total_min)
    r = score_tracks(tracks, tl, unknown_paths=unknown, spans=kept, tempi=pl.tempi,
                     places=pl.places)
    graded = [(t, tempo) for t, tempo in zip(tracks, pl.tempi) if t.duration_s]  # its rows
    res = ScoreResult(playlist, r, source, unknown, tl, [t for t, _ in graded],
                      [tempo for _, tempo in graded])
    if plot is not None:
        from .outputs import write_score_plot

        write_score_plot(res, plot, f"underdog score: {os.path.basename(playlist)} "
                         f"against {a.name}")
    return res


# ---------------------------------------------------------------- like

def like_from_library(lib: Library, ref: Reference, minutes: float | None = None, *,
                      exclude_reference: bool = True, exclude_artists: bool = False,
                      seed: int = 0, learned: Learned | None = None,
                      check_beats: bool = False) -> LikeResult:
    """Learn ``ref``, plan it from ``lib`` (and the montage and random baselines), and
    measure all three against the reference. ``check_beats``: the rebuild's blends checked
    by ear as :func:`plan` does (:func:`heard_plans`)."""
    learned = learned or learn(ref)
    mins = float(minutes) if minutes is not None else learned.arc.minutes
    candidates = lib.tracks()
    excl = exclusion_ids(candidates, ref, exclude_reference, exclude_artists)
    if exclude_reference:  # its recordings wherever they sit, in any encoding
        from .reference import same_sound_ids

        excl |= same_sound_ids(lib, candidates, ref)
    src = _ReadOnce(lib, candidates)  # both plans read the library as it was read here
    opts = PlanOptions(seed=seed, exclude_ids=excl)
    ours = make_plan(src, learned.arc, mins, opts)
    known: dict = {}
    if check_beats:
        ours = heard_plans(src, [ours], None,
                           lambda s: ([make_plan(s, learned.arc, mins, opts)], None),
                           known)[0][0]
    mont = make_plan(src, montage(), mins, opts)
    rnd = random_pick(candidates, mins, excl, seed)
    rows = compare(ref, {"underdog": ours.tracks, "montage": mont.tracks, "random": rnd})
    return LikeResult(ref, learned, ours, mont, rnd, mins, len(excl), rows, known)


class _ReadOnce:
    """``lib`` for the planner, its whole track list (``tracks()`` without filters, what
    a small library's plan reads) served from the list already read; the rest is lib's."""

    def __init__(self, lib: Library, tracks: list):
        self._lib, self._tracks = lib, tracks

    def tracks(self, **filters) -> list:
        return list(self._tracks) if not filters else self._lib.tracks(**filters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)


def like_record(r: LikeResult) -> dict[str, Any]:
    """The plan JSON of a ``like`` rebuild: the plan, the reference (source, tracks,
    skipped, missing) and the distance table."""
    ref = r.reference
    d = r.plan.as_dict()
    d["reference"] = {"source": ref.source, "tracks": [t.path for t in ref.tracks],
                      "order": ref.order, "skipped": ref.skipped, "missing": ref.missing}
    d["distances"] = {k: dict(zip(Distances.NAMES, v.values())) for k, v in r.rows.items()}
    return d


def like(reference: str | os.PathLike, minutes: float | None = None, *, db: DbPath = None,
         exclude_reference: bool = True, exclude_artists: bool = False, seed: int = 0,
         record: bool = True, check_beats: bool = True) -> LikeResult:
    """Learn a reference soundtrack's shape (a playlist, a folder of audio files, or a
    tracklist matched against the library) and rebuild it from the library.

    Files of the reference the library lacks are analyzed now (nothing is stored);
    unusable ones are listed in ``result.reference.skipped``. ``record``: remember the
    plan for ``plan --avoid-recent``; ``check_beats``: as for :func:`plan`. The learned
    arc's TOML is ``result.learned.toml``.
    Raises UnusableReference, PlanError, ArcError, LibraryError."""
    from .reference import load_reference

    with library(db) as lib:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # skipped files are in ref.skipped instead
            ref = load_reference(reference, lib)
        r = like_from_library(lib, ref, minutes, exclude_reference=exclude_reference,
                              exclude_artists=exclude_artists, seed=seed,
                              check_beats=check_beats)
        if record and r.plan.entries:
            lib.record_plan([e.track.id for e in r.plan.entries], r.plan.arc.name, seed)
    return r

