"""The operations the web page runs: each calls the application layer (``underdog.app``,
the functions the CLI calls) and turns its records into plain JSON-able dicts.

Where the application layer reads a file (a tracklist, an arc TOML, a plan JSON), the
text from the page is first written into the server's own folder under a name the server
chooses. Every function takes validated values (ids, numbers, text), never a path from
a request, except :func:`check_folder`, which validates the folders a user types in.
Swapping one plan entry and ranking its alternatives are here: they pick the tracks; the
planner costs each alternative's order (``sequencer.order_costs``, no search) and
``app.plan_order`` makes the plan of the order chosen, with the planner's cost and report.
Re-planning around locked tracks is the planner's own (``app.plan`` with
``PlanOptions.locked``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..errors import UnderdogError
from .. import app
from ..fields import plain
from ..library.db import SORT_KEYS
from ..models import Track, shown_level
from ..theory import try_parse_key

# MIME types Chromium plays, by extension (audio is served only for library tracks).
AUDIO_MIME = {
    ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".mp4": "audio/mp4", ".aac": "audio/aac",
    ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg",
    ".wav": "audio/wav", ".wave": "audio/wav",
    ".aiff": "audio/aiff", ".aif": "audio/aiff", ".aifc": "audio/aiff",
}
PAGE_MAX = 200                 # rows per library page
CURVE_POINTS = 2000            # energy-curve points sent to the track page, at most
KEYS = [f"{n}{m}" for n in range(1, 13) for m in "AB"]  # the Camelot codes the page offers
# Folders no scan or reference may name: the system's own (a user's music is never there).
SYSTEM_DIRS = ("/proc", "/sys", "/dev", "/etc", "/boot", "/run", "/var/run", "/bin", "/sbin",
               "/usr/bin", "/usr/sbin", "/lib", "/lib64", "/usr/lib")


class WebError(UnderdogError):
    """A request the page cannot serve (one line; the web layer answers 4xx with it)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _library(db: str):
    """The library for a read (WebError 404 when there is none yet)."""
    from ..app.common import library

    if not os.path.exists(db):
        raise WebError("no library yet: scan a folder first", 404)
    return library(db)


def _scratch(workdir: str) -> str:
    """A new private folder inside the server's own (the caller removes it)."""
    import tempfile

    return tempfile.mkdtemp(dir=workdir)


# ---------------------------------------------------------------- folders

def check_folder(text: str) -> str:
    """The folder a user typed, validated: an absolute, normalized path (no ``..``) to an
    existing, readable directory outside the system's own folders. Raises WebError."""
    if not isinstance(text, str) or not text or len(text) > 4096 or "\x00" in text:
        raise WebError("give a folder as an absolute path")
    if not os.path.isabs(text):
        raise WebError("the folder must be an absolute path (starting with /)")
    if any(part == ".." for part in text.replace("\\", "/").split("/")):
        raise WebError("the folder must not contain '..'")
    real = os.path.realpath(text)
    if real == "/" or any(real == d or real.startswith(d + "/") for d in SYSTEM_DIRS):
        raise WebError("that folder cannot be scanned (a system folder)")
    if not os.path.isdir(real) or not os.access(real, os.R_OK | os.X_OK):
        raise WebError("no such folder, or it cannot be read")
    return real


# ---------------------------------------------------------------- library

def track_row(t: Track) -> dict:
    """One row of the library table."""
    return {"id": t.id, "artist": t.artist, "title": t.title, "album": t.album,
            "display": t.display, "duration_s": plain(t.duration_s, 1), "bpm": plain(t.bpm, 1),
            "energy": shown_level(t.energy), "key": t.key, "camelot": t.camelot,
            "style": t.style_label, "drops": len(t.drops or []),
            "file": os.path.basename(t.path)}


@dataclass
class Query:
    """A library page request, validated (see :func:`parse_query`)."""

    bpm: tuple[float | None, float | None] | None = None
    level: tuple[float | None, float | None] | None = None
    style: str | None = None
    key: str | None = None
    search: str | None = None
    drops: bool = False
    sort: str | None = None
    offset: int = 0
    limit: int = 50
    filters: dict = field(default_factory=dict)


def _num(params: dict, name: str, lo: float, hi: float) -> float | None:
    v = params.get(name)
    if v in (None, ""):
        return None
    try:
        f = float(v)
    except ValueError:
        raise WebError(f"{name} must be a number") from None
    if not (math.isfinite(f) and lo <= f <= hi):
        raise WebError(f"{name} must be {lo:g}–{hi:g}")
    return f


def _int(params: dict, name: str, lo: int, hi: int, default: int) -> int:
    v = params.get(name)
    if v in (None, ""):
        return default
    if not str(v).isdigit() or not lo <= int(v) <= hi:
        raise WebError(f"{name} must be a whole number {lo}–{hi}")
    return int(v)


def parse_query(params: dict) -> Query:
    """Query-string parameters to a :class:`Query` (WebError on a bad value)."""
    q = Query()
    lo, hi = _num(params, "bpm_min", 0, 400), _num(params, "bpm_max", 0, 400)
    if lo is not None or hi is not None:
        q.bpm = (lo, hi)
    lo, hi = _num(params, "energy_min", 0, 11), _num(params, "energy_max", 0, 11)
    if lo is not None or hi is not None:
        q.level = (lo, hi)
    style = params.get("style") or None
    if style is not None and (len(style) > 40 or not style.replace("_", "").isalnum()):
        raise WebError("unknown style")
    q.style = style
    key = params.get("key") or None
    k = try_parse_key(key) if key is not None and len(key) <= 20 else None
    if key is not None and k is None:
        raise WebError("key must be a key such as 8A, Am or A minor")
    q.key = k.camelot if k else None
    text = params.get("q") or None
    if text is not None and len(text) > 200:
        raise WebError("search text is too long")
    q.search = text
    q.drops = params.get("drops") in ("1", "true", "on")
    sort = params.get("sort") or None
    if sort is not None and sort.lstrip("-") not in SORT_KEYS:
        raise WebError("unknown sort column")
    q.sort = sort
    q.offset = _int(params, "offset", 0, 10**9, 0)
    q.limit = _int(params, "limit", 1, PAGE_MAX, 50)
    return q


def library_page(db: str, q: Query) -> dict:
    """One page of the library table, with the number of matching tracks (``library``:
    the library's own count, only without filters; the page keeps it). The search text
    matches the artist, the title or the album; every filter, *has drops* too, runs in
    the query, so ``total`` counts them all."""
    if not os.path.exists(db):
        return {"total": 0, "library": 0, "offset": 0, "rows": []}
    filtered = q.drops or any(v is not None for v in (q.bpm, q.level, q.style, q.key,
                                                      q.search))
    page = app.query_tracks(db, bpm=q.bpm, energy=q.level, style=q.style, key=q.key,
                            search=q.search, drops=True if q.drops else None, sort=q.sort,
                            offset=q.offset, limit=q.limit)
    return {"total": page.total, "library": None if filtered else page.total,
            "offset": q.offset, "rows": [track_row(t) for t in page.tracks]}


def _details(db: str, track_id: int):
    from ..errors import NotFoundError

    if not os.path.exists(db):
        raise WebError("no such track", 404)
    try:
        return app.show_track(int(track_id), db)
    except NotFoundError:
        raise WebError("no such track", 404) from None


def track_detail(db: str, track_id: int) -> dict:
    """Everything the track page draws: energy curve, beats, downbeats, drops, sections."""
    d = _details(db, track_id)
    f = d.fields
    curve = np.asarray(d.energy_curve if d.energy_curve is not None else [], np.float64)
    hop = float(f.get("energy_curve_hop_s") or 0.0)
    if len(curve) > CURVE_POINTS:  # keep the shape, send less
        step = int(math.ceil(len(curve) / CURVE_POINTS))
        n = len(curve) // step * step
        curve = curve[:n].reshape(-1, step).mean(axis=1)
        hop *= step
    sec = d.sections
    dur = f.get("duration_s")
    sections = []
    if sec["intro_end_s"]:
        sections.append({"name": "intro", "start_s": 0.0, "end_s": plain(sec["intro_end_s"], 2)})
    if sec["outro_start_s"] and dur:
        sections.append({"name": "outro", "start_s": plain(sec["outro_start_s"], 2),
                         "end_s": plain(dur, 2)})
    for b in sec["buildups"]:
        if isinstance(b, dict):
            sections.append({"name": "build-up", "start_s": plain(b.get("start_s"), 2),
                             "end_s": plain(b.get("end_s", b.get("time_s")), 2)})
    drops = [{"time_s": plain(x.get("time_s"), 2), "strength": plain(x.get("strength",
                                                                     x.get("score")), 3)}
             for x in sec["drops"] if isinstance(x, dict) and x.get("time_s") is not None]
    path = f.get("path") or ""
    name = os.path.basename(path)
    display = (f"{f['artist']} - {f['title']}" if f.get("artist") and f.get("title")
               else f.get("title") or os.path.splitext(name)[0])
    return {"id": f.get("id"), "artist": f.get("artist"), "title": f.get("title"),
            "album": f.get("album"), "display": display, "file": name,
            "duration_s": plain(dur, 3), "bpm": plain(f.get("bpm"), 1),
            "energy": f.get("energy"), "key": f.get("key"), "camelot": f.get("camelot"),
            "style": f.get("style_label"), "status": f.get("status"),
            "loudness_lufs": plain(f.get("loudness_lufs"), 1), "genre": f.get("genre"),
            "year": f.get("year"),
            "energy_curve": {"hop_s": hop, "levels": [shown_level(float(v)) for v in curve]},
            "beats": [round(float(x), 3) for x in d.beats],
            "downbeats": [round(float(x), 3) for x in d.downbeats],
            "phrases": [round(float(x), 3) for x in d.phrases],
            "drops": drops, "sections": sections,
            "tempo_segments": [list(x) for x in f.get("tempo_segments") or []],
            "warnings": list(f.get("warnings") or [])}


def audio_file(db: str, track_id: int) -> tuple[str, str]:
    """(path, MIME type) of a library track's file, for streaming; WebError if none.
    Each range request asks, so it reads the track's row only (not its curves and beats)."""
    if not os.path.exists(db):
        raise WebError("no such track", 404)
    with _library(db) as lib:
        t = lib.get_track(int(track_id))
    if t is None:
        raise WebError("no such track", 404)
    path = t.path
    ext = os.path.splitext(path or "")[1].lower()
    if (not isinstance(path, str) or t.status == "missing" or ext not in AUDIO_MIME
            or not os.path.isfile(path)):
        raise WebError("the track's file is not available", 404)
    return path, AUDIO_MIME[ext]


# ---------------------------------------------------------------- scanning

def scan(db: str, folder: str, report: Callable[[dict], None], jobs: int | None = 0) -> dict:
    """Scan ``folder`` (validated by :func:`check_folder`) into the library, reporting
    each progress record (``app.ScanProgress.as_dict()``) as it comes."""
    os.makedirs(os.path.dirname(os.path.abspath(db)), exist_ok=True)
    def relay(p) -> None:
        d = p.as_dict()
        path = d.pop("path", None)
        report({**d, "total": d["total_files"], "file": os.path.basename(path or "")})

    r = app.scan([folder], db, jobs=jobs, progress=relay)
    st = r.stats
    return {"found": st.found, "analyzed": st.analyzed, "unchanged": st.unchanged,
            "failed": st.failed, "missing": st.missing, "library": r.tracks}


# ---------------------------------------------------------------- arcs

def builtin_arcs() -> list[str]:
    return [a["name"] for a in app.list_arcs()]


def arc_json(arc) -> dict:
    """An Arc as the editor's JSON (segment lengths as fractions of the session)."""
    tl = arc.timeline(arc.minutes)
    total = tl.total_s or 1.0
    segs = []
    for sp in tl.spans:
        s = sp.segment
        segs.append({"name": s.name, "frac": (sp.end_s - sp.start_s) / total,
                     "bpm": [float(s.bpm[0]), float(s.bpm[1])],
                     "energy": [float(s.energy[0]), float(s.energy[1])],
                     "tolerance": s.tolerance_pct, "half_double": s.half_double,
                     "peak": s.peak, "round": s.round, "style": dict(s.style),
                     "style_min": dict(s.style_min), "style_max": dict(s.style_max)})
    return {"name": arc.name, "description": arc.description, "minutes": float(arc.minutes),
            "style_min": dict(arc.style_min), "style_max": dict(arc.style_max),
            "track_minutes": list(arc.track_minutes) if arc.track_minutes else None,
            "excerpts": arc.excerpts, "segments": segs}


def load_builtin(name: str, minutes: float | None = None) -> dict:
    if name not in builtin_arcs():
        raise WebError("unknown arc", 404)
    a = app.get_arc(name)
    if minutes is not None:
        a.minutes = minutes
    return arc_json(a)


def arc_from_toml(text: str) -> dict:
    """A saved arc (TOML text, parsed by the CLI's own parser) as the editor's JSON."""
    return arc_json(app.arc_from_toml(text, "uploaded arc"))


def _floats(v: Any, n: int, what: str) -> tuple:
    if not isinstance(v, (list, tuple)) or len(v) != n:
        raise WebError(f"{what}: expected {n} numbers")
    try:
        out = tuple(float(x) for x in v)
    except (TypeError, ValueError):
        raise WebError(f"{what}: expected numbers") from None
    if not all(math.isfinite(x) for x in out):
        raise WebError(f"{what}: numbers must be finite")
    return out


def _weights(v: Any, what: str) -> dict[str, float]:
    if not isinstance(v, dict) or len(v) > 20:
        raise WebError(f"{what}: expected a small table of style weights")
    return {str(k)[:40]: float(_floats([x], 1, what)[0]) for k, x in v.items()}


def _round_no(v: Any, i: int) -> int:
    """A segment's round number (0: none; boxing, tabata and hiit number theirs 1-100)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not 0 <= v <= 100:
        raise WebError(f"segment {i + 1}: round must be a whole number 0–100")
    return int(v)


def arc_toml(doc: Any) -> str:
    """The editor's JSON arc as TOML in the ``--save-arc`` format, validated by parsing it
    back with the CLI's parser (so the page cannot make an arc the CLI would refuse)."""
    from ..planning.arcs import Arc, ArcError, Segment

    if not isinstance(doc, dict) or not isinstance(doc.get("segments"), list):
        raise WebError("an arc needs segments")
    if not 1 <= len(doc["segments"]) <= 200:
        raise WebError("an arc has 1–200 segments")
    minutes = _floats([doc.get("minutes", 45.0)], 1, "minutes")[0]
    segs = []
    for i, s in enumerate(doc["segments"]):
        if not isinstance(s, dict):
            raise WebError(f"segment {i + 1}: expected an object")
        frac = _floats([s.get("frac")], 1, f"segment {i + 1} length")[0]
        share = round(max(frac, 1e-3) * 100.0, 4)
        segs.append(Segment(
            name=str(s.get("name") or f"segment {i + 1}")[:100],
            bpm=_floats(s.get("bpm"), 2, f"segment {i + 1} BPM"),
            energy=_floats(s.get("energy"), 2, f"segment {i + 1} energy"),
            share=share,
            tolerance_pct=_floats([s.get("tolerance", 6.0)], 1, "tolerance")[0],
            half_double=bool(s.get("half_double", True)), peak=bool(s.get("peak", False)),
            round=_round_no(s.get("round", 0), i),
            style=_weights(s.get("style") or {}, "style"),
            style_min=_weights(s.get("style_min") or {}, "style_min"),
            style_max=_weights(s.get("style_max") or {}, "style_max")))
    tm = doc.get("track_minutes")
    arc = Arc(name=str(doc.get("name") or "custom")[:100],
              segments=segs, description=str(doc.get("description") or "")[:500],
              minutes=minutes, style_min=_weights(doc.get("style_min") or {}, "style_min"),
              style_max=_weights(doc.get("style_max") or {}, "style_max"),
              track_minutes=_floats(tm, 2, "track_minutes") if tm else None,
              excerpts=bool(doc.get("excerpts", False)))
    text = app.arc_toml(arc)
    try:
        app.arc_from_toml(text, "arc")
    except ArcError as exc:
        raise WebError(str(exc)) from None
    return text


# ---------------------------------------------------------------- plans

@dataclass
class PlanState:
    """A plan the page is working on: its arc, length, seed, and the planner's result."""

    arc_toml: str
    minutes: float
    seed: int
    plan: Any                      # planning.sequencer.Plan
    locked: set[int] = field(default_factory=set)   # track ids
    # beat lines the plan's check by ear read (app.PlanResult.heard_lines), kept across
    # swaps (a line asked again is the same line): its render does not read them again
    heard_lines: dict = field(default_factory=dict)


def _plan_of(db: str, st: PlanState, tracks: Sequence[Track], seed: int):
    """The plan of exactly this order of tracks (a swap, a re-plan around locks), with
    the planner's cost, report and explanations (``app.plan_order``)."""
    return app.plan_order([t.id for t in tracks], st.plan.arc, st.minutes, db=db, seed=seed)


def build_plan(db: str, arc_text: str, minutes: float | None, seed: int = 0,
               exclude: Iterable[int] = (), locked: tuple = ()) -> PlanState:
    """Plan from the library with ``app.plan`` (``exclude``: track ids to leave out;
    ``locked``: (position, track id) pairs the planner keeps in place)."""
    from ..planning.sequencer import PlanOptions

    arc = app.arc_from_toml(arc_text, "arc")
    mins = float(minutes) if minutes is not None else float(arc.minutes)
    opts = PlanOptions(locked=locked, exclude_ids=frozenset(int(i) for i in exclude))
    r = app.plan(arc, mins, db=db, seed=seed, record=False, options=opts)
    return PlanState(arc_text, mins, seed, r.plan, heard_lines=r.heard_lines)


def plan_json(st: PlanState) -> dict:
    """The plan page's data: segments, entries (with the explain columns), report, chart."""
    p = st.plan
    d = p.as_dict()
    from ..export.playlists import jsonable

    d = jsonable(d)
    for e, src in zip(d["entries"], p.entries):
        e["locked"] = src.track.id in st.locked
        e["level"] = plain(src.level, 1)
        e["display"] = src.track.display
        e["bpm_text"] = src.bpm_text  # as the CLI's plan table says it
        e.pop("path", None)  # the page needs ids, not paths
    # the chart: targets sampled every 15 s (same content as the PNG's target band)
    tl = p.timeline
    ts = np.arange(0.0, tl.total_s + 1e-9, 15.0)
    bpm, lvl, _ = tl.targets(ts)
    d["target"] = [{"t_s": float(t), "bpm": plain(b, 2), "energy": plain(e, 2)}
                   for t, b, e in zip(ts, bpm, lvl)]
    d["arc_toml"] = st.arc_toml
    d["session_minutes"] = st.minutes
    return d


def alternatives(db: str, st: PlanState, position: int, n: int = 8) -> list[dict]:
    """Tracks that could take the place of entry ``position`` (1-based), best first: near
    its target BPM (or half/double) and energy, not already in the plan, ranked by the
    plan's cost with the swap made."""
    e = _entry(st, position)
    used = {x.track.id for x in st.plan.entries}
    seen: dict[int, Track] = {}
    with _library(db) as lib:
        for f in (1.0, 0.5, 2.0):
            b = e.target_bpm * f
            for t in lib.tracks(bpm=(b * 0.92, b * 1.08), limit=60,
                                level=(e.target_level - 2.0, e.target_level + 2.0)):
                if t.id not in used and t.duration_s:
                    seen.setdefault(t.id, t)
        if len(seen) < n:
            for t in lib.tracks(limit=200):
                if t.id not in used and t.duration_s:
                    seen.setdefault(t.id, t)
    from ..planning.sequencer import order_costs

    tracks = [x.track for x in st.plan.entries]
    picks = list(seen.values())[:60]
    costs = order_costs((tracks[:position - 1] + [t] + tracks[position:] for t in picks),
                        st.plan.arc, st.minutes)
    ranked = sorted(((c.total, t) for c, t in zip(costs, picks)), key=lambda x: x[0])
    return [{**track_row(t), "cost": plain(c, 2)} for c, t in ranked[:n]]


def _entry(st: PlanState, position: int):
    if not 1 <= position <= len(st.plan.entries):
        raise WebError("no such position in the plan", 404)
    return st.plan.entries[position - 1]


def swap(db: str, st: PlanState, position: int, track_id: int) -> PlanState:
    """The plan with entry ``position`` replaced by library track ``track_id``."""
    _entry(st, position)
    with _library(db) as lib:
        t = lib.get_track(int(track_id))
    if t is None:
        raise WebError("no such track", 404)
    if t.status != "ok" or not t.duration_s:
        raise WebError("that track has no analysis to plan with")
    tracks = [x.track for x in st.plan.entries]
    tracks[position - 1] = t
    return PlanState(st.arc_toml, st.minutes, st.seed, _plan_of(db, st, tracks, st.seed),
                     set(st.locked), st.heard_lines)


def replan(db: str, st: PlanState) -> PlanState:
    """Plan again with the next seed around the locked tracks: the planner keeps each
    locked track at its position and plans the other places around them under the same
    rules (``app.plan`` with ``PlanOptions.locked``), without the tracks they had unless
    the library is too small to fill the session without them."""
    if not st.locked:
        return build_plan(db, st.arc_toml, st.minutes, st.seed + 1)
    from ..planning.sequencer import PlanError

    locked = tuple((i + 1, e.track.id) for i, e in enumerate(st.plan.entries)
                   if e.track.id in st.locked)
    had = [e.track.id for e in st.plan.entries if e.track.id not in st.locked]
    new = None
    try:
        new = build_plan(db, st.arc_toml, st.minutes, st.seed + 1, had, locked)
    except PlanError:
        pass
    p = new.plan if new else None
    if p is None or not p.entries or p.entries[-1].end_s < p.timeline.total_s:
        new = build_plan(db, st.arc_toml, st.minutes, st.seed + 1, (), locked)
    new.locked = set(st.locked)
    return new


EXPORTS = {"m3u8": "audio/x-mpegurl", "xspf": "application/xspf+xml",
           "json": "application/json", "xml": "application/xml"}


def export_plan(st: PlanState, kind: str, tmpdir: str) -> bytes:
    """The plan as an M3U8, XSPF, JSON or rekordbox XML file's bytes (written by the
    application layer's writers into the server's own temporary folder, then read back)."""
    if kind not in EXPORTS:
        raise WebError("unknown export type")
    p = st.plan
    out = os.path.join(tmpdir, f"export.{kind}")
    if kind == "xml":
        from ..export.rekordbox import write_rekordbox

        write_rekordbox(p.entries, out, title=f"underdog {p.arc.name}")
    else:
        app.write_playlist(p.entries, out, title=f"underdog {p.arc.name}",
                           document=p.as_dict())
    with open(out, "rb") as f:
        return f.read()


def render_plan(db: str, st: PlanState, out: str,
                progress: Callable[[float, float], None]) -> dict:
    """Render the plan with ``app.render_plan`` into ``out`` (a file in the server's own
    folder; its plan JSON is written beside it)."""
    plan_path = os.path.splitext(out)[0] + ".plan.json"
    app.write_playlist(st.plan.entries, plan_path, title=f"underdog {st.plan.arc.name}",
                       document=st.plan.as_dict())
    rep = app.render_plan(plan_path, out, db=db, heard_lines=st.heard_lines,
                          progress=lambda done, total, eta: progress(done, total))
    return {"duration_s": plain(rep.duration_s, 1), "chapters": len(rep.chapters),
            "warnings": list(rep.warnings)}


# ---------------------------------------------------------------- soundtrack

def match_soundtrack(db: str, workdir: str, text: str, fmt: str) -> dict:
    """Found, missing and ambiguous entries of a tracklist (text, csv or json; read by
    the CLI's parser from a file the server writes), in its order, with stand-ins from
    the library for the missing ones."""
    import shutil

    from ..fileio import write_atomic

    if fmt not in ("text", "csv", "json"):
        raise WebError("unknown tracklist format")
    if not os.path.exists(db):
        raise WebError("no library yet: scan a folder first", 404)
    d = _scratch(workdir)
    try:
        path = os.path.join(d, "tracklist." + {"text": "txt"}.get(fmt, fmt))
        write_atomic(path, text)
        try:
            m = app.match_soundtrack(path, db, input_format=fmt, fill=True)
        except UnderdogError as exc:
            raise WebError(str(exc).replace(path, "tracklist")) from None
    finally:
        shutil.rmtree(d, ignore_errors=True)
    with _library(db) as lib:
        ids = {}
        for r in m.results:
            for item in ([r.match] if r.match else []) + [c.item for c in r.candidates]:
                if item.id is None and item.path not in ids:
                    t = lib.get_track(item.path)
                    ids[item.path] = t.id if t else None
    rows = []
    for i, r in enumerate(m.results, start=1):
        def tid(item):
            return item.id if item.id is not None else ids.get(item.path)

        cands = [{"id": tid(c.item), "artist": c.item.artist, "title": c.item.title,
                  "file": os.path.basename(c.item.path), "confidence": c.confidence}
                 for c in r.candidates]
        g = m.gap_of(r)
        stand = [{**track_row(x.track), "why": x.why} for x in (g.stand_ins if g else [])]
        rows.append({"n": i, "entry": r.entry.display, "time": r.entry.time,
                     "status": r.status, "confidence": r.confidence,
                     "match": tid(r.match) if r.match else None,
                     "candidates": cands, "stand_ins": stand})
    return {"rows": rows, "summary": m.summary().line()}


def soundtrack_m3u8(db: str, picks: Sequence[int | None], names: Sequence[str]) -> bytes:
    """The film-order playlist of the picked library tracks (``# missing:`` for none)."""
    from ..export.playlists import PlaylistComment, m3u8_lines

    items: list[Any] = []
    with _library(db) as lib:
        for tid, name in zip(picks, names):
            t = lib.get_track(int(tid)) if tid is not None else None
            items.append(t if t is not None else PlaylistComment(f"missing: {name}"))
    return ("\n".join(m3u8_lines(items)) + "\n").encode("utf-8")


# ---------------------------------------------------------------- like

def library_playlist(db: str, uploaded: str, out: str) -> str:
    """An uploaded playlist (a file the server wrote) cut down to the tracks the library
    holds (``app.playlist_tracks``), written to ``out``: a reference from the page is never
    a way to make the server open files outside the library. WebError when none is."""
    try:
        held, unknown = app.playlist_tracks(uploaded, db)
    except UnderdogError:
        raise WebError("the playlist cannot be read (M3U8 or XSPF)") from None
    if not held:
        raise WebError(f"none of the playlist's {len(unknown)} entries is a track of the "
                       "library (scan its folder first)")
    with open(out, "w", encoding="utf-8") as f:
        f.write("#EXTM3U\n" + "".join(t.path + "\n" for t in held))
    return out


def like(db: str, spec: str, minutes: float | None, seed: int = 0,
         shown: str | None = None) -> tuple[dict, PlanState]:
    """Learn a reference (a validated folder, or a playlist of library tracks the server
    wrote) and rebuild it: the distance table and the plan. Errors name the reference as
    ``shown`` (not the server's own file)."""
    try:
        return _like(db, spec, minutes, seed)
    except UnderdogError as exc:
        raise WebError(str(exc).replace(spec, shown or spec)) from None


def _like(db: str, spec: str, minutes: float | None, seed: int) -> tuple[dict, PlanState]:
    from ..planning.reference import Distances

    if not os.path.exists(db):
        raise WebError("no library yet: scan a folder first", 404)
    r = app.like(spec, minutes, db=db, seed=seed, record=False)
    ref = r.reference
    ex = r.extras()
    rows = [{"playlist": "reference", **{k: None for k in Distances.NAMES},
             "tracks": ex["reference"]["tracks"], "minutes": plain(ex["reference"]["minutes"], 1)}]
    for name, dist in r.rows.items():
        rows.append({"playlist": name, **{k: plain(v, 3) for k, v in
                                          zip(Distances.NAMES, dist.values())},
                     "tracks": ex[name]["tracks"], "minutes": plain(ex[name]["minutes"], 1)})
    st = PlanState(r.learned.toml, float(r.minutes), seed, r.plan, heard_lines=r.heard_lines)
    return {"columns": list(Distances.NAMES), "rows": rows,
            "reference_tracks": len(ref.tracks), "skipped": len(ref.skipped),
            "missing": len(ref.missing)}, st
