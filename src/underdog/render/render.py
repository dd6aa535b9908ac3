"""The render driver: a plan in, one encoded mix out (with chapters and a cue sheet).

Excerpt by excerpt: decode its span once into a temporary file (``source.Spill``) while
metering its loudness, level it to the target loudness (``levels``), stretch it along its
place on the session timeline (``mix.layout``) a block at a time, fade each block
(``mix.apply_envelopes``) and add it into a session buffer. Everything before the next
excerpt's entry is final as soon as a block has covered it: it gets its round cues, goes
through the true-peak limiter and into the encoder. So memory holds a few blocks and the
longest overlap, whatever the length of an excerpt or of the mix (``contribution_blocks``).

The output is written through ``fileio.atomic_write``: a temporary file beside the target,
renamed over it only when the whole mix, its chapters included, is written. A failure or
Ctrl-C removes the temporary file; the target is never left half-written.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import UnderdogError
from ..fileio import atomic_write, os_reason, write_atomic
from ..ramp import via_points
from . import beatgrid, levels, mix
from ..analysis.loudness import LoudnessMeter
from .source import MIX_SR, FileMaps, Spill, iter_span, read_span
from .stretch import BLOCK as STRETCH_BLOCK
from .stretch import DEFAULT as DEFAULT_STRETCH
from .stretch import onset_times_read, pv_blocks, stretch, wsola_blocks


class PlanFileError(UnderdogError):
    """A render plan that cannot be read or rendered."""

    def __init__(self, where: str, reason: str):
        self.where, self.reason = where, reason
        super().__init__(f"{where}: {reason}")


# extension -> (FFmpeg muxer, codec, sample rate, cue-sheet file type)
FORMATS = {
    ".flac": ("flac", "flac", 44100, "WAVE"),
    ".wav": ("wav", "pcm_s16le", 44100, "WAVE"),
    ".mp3": ("mp3", "libmp3lame", 44100, "MP3"),
    ".m4a": ("ipod", "aac", 44100, "MP4"),
    ".opus": ("ogg", "libopus", 48000, "OGG"),
}
TEMPO_MODES = ("follow", "own")
BITRATES = {"libmp3lame": 256_000, "aac": 256_000, "libopus": 160_000}


@dataclass
class PlanEntry:
    """One excerpt of a plan (issue 14's JSON); optional fields may be missing."""

    path: str
    in_s: float = 0.0
    out_s: float | None = None
    start_s: float | None = None  # session time where it enters
    artist: str = ""
    title: str = ""
    tempo_bpm: float | None = None  # the tempo it should play at
    arc_bpm: float | None = None  # the arc's target tempo where it plays ("target": {"bpm"})
    tempo_in_bpm: float | None = None  # where the arc ramps through it: its tempo at in_s
    tempo_out_bpm: float | None = None  # ... and at out_s (a line between them)
    tempo_via: tuple[tuple[float, float], ...] = ()  # (track s, BPM) where that line bends
    drop_at_s: float | None = None  # session time where its drop lands
    downbeat_s: float | None = None  # the downbeat it enters on (track time)
    transition: mix.Transition = field(default_factory=mix.Transition)  # how it comes in
    whole: bool = False  # a whole track (no in_s/out_s): the render picks where it enters
    bars: int | None = None  # session bars from in_s to out_s, as the plan counts them

    @classmethod
    def from_json(cls, d: dict[str, Any], where: str) -> "PlanEntry":
        from ..fileio import path_from_json

        path = path_from_json(d, "path") or d.get("file")
        if not isinstance(path, str) or not path:
            raise PlanFileError(where, "no path")

        def num(*keys):
            for k in keys:
                v = d.get(k)
                if v is not None:
                    try:
                        f = float(v)
                    except (TypeError, ValueError):
                        raise PlanFileError(where, f"{k} is not a number: {v!r}") from None
                    if not math.isfinite(f):
                        raise PlanFileError(where, f"{k} is not finite")
                    return f
            return None

        tr = d.get("transition")
        shape, bars = "equal_power", 8
        if isinstance(tr, str):
            shape = tr
        elif isinstance(tr, dict):
            shape = tr.get("shape") or tr.get("type") or shape
            bars = tr.get("bars", tr.get("overlap_bars", bars))
        if d.get("overlap_bars") is not None:
            bars = d["overlap_bars"]
        shape = {"overlap": "equal_power", "crossfade": "equal_power", "drop": "cut",
                 "cut_on_drop": "cut", "bass-swap": "bass_swap"}.get(str(shape), str(shape))
        if shape not in mix.SHAPES:
            raise PlanFileError(where, f"unknown transition {shape!r} (one of {', '.join(mix.SHAPES)})")
        try:
            bars = int(bars)
        except (TypeError, ValueError):
            raise PlanFileError(where, f"overlap bars is not a whole number: {bars!r}") from None
        if shape != "cut" and not 1 <= bars <= 64:
            raise PlanFileError(where, f"overlap of {bars} bars (1-64)")
        in_s = num("in_s") or 0.0
        out_s = num("out_s")
        if out_s is not None and out_s <= in_s:
            raise PlanFileError(where, f"out_s {out_s} is not after in_s {in_s}")
        # A whole-track entry (no in_s/out_s: today's planner) was timed back to back,
        # without overlaps: its start_s is not a clock to keep, the transitions set it.
        excerpt = d.get("in_s") is not None or d.get("out_s") is not None
        target = d.get("target")
        arc_bpm = None
        if isinstance(target, dict) and target.get("bpm") is not None:
            try:
                arc_bpm = float(target["bpm"])
            except (TypeError, ValueError):
                raise PlanFileError(where, f"target bpm is not a number: {target['bpm']!r}") from None
            if not math.isfinite(arc_bpm) or arc_bpm <= 0:
                raise PlanFileError(where, f"target bpm {arc_bpm} is not a tempo")
        ramp = {}
        for k in ("tempo_in_bpm", "tempo_out_bpm"):
            v = num(k)
            if v is not None and v <= 0:
                raise PlanFileError(where, f"{k} {v} is not a tempo")
            ramp[k] = v
        ramp["tempo_via"] = _via(d.get("tempo_via"), where) if None not in ramp.values() else ()
        n_bars = num("bars") if excerpt and out_s is not None else None
        if n_bars is not None and (n_bars < 1 or n_bars != int(n_bars)):
            raise PlanFileError(where, f"bars {n_bars:g} is not a whole number of bars")
        return cls(path=path, in_s=in_s, out_s=out_s, whole=not excerpt, **ramp,
                   bars=int(n_bars) if n_bars is not None else None,
                   start_s=num("start_s") if excerpt else None,
                   artist=str(d.get("artist") or ""), title=str(d.get("title") or ""),
                   tempo_bpm=num("tempo_bpm", "target_bpm", "tempo", "bpm_target"),
                   arc_bpm=arc_bpm,
                   drop_at_s=num("drop_at_s"), downbeat_s=num("downbeat_s", "enter_downbeat_s"),
                   transition=mix.Transition(shape=shape, bars=bars))


def _via(v: Any, where: str) -> tuple[tuple[float, float], ...]:
    """A plan entry's ``tempo_via`` (:func:`ramp.via_points`); raises PlanFileError."""
    try:
        return via_points(v)
    except ValueError as exc:
        raise PlanFileError(where, str(exc)) from None


@dataclass
class Plan:
    entries: list[PlanEntry]
    cues_s: list[float] = field(default_factory=list)  # session times of round cues


def read_plan(path: str | os.PathLike) -> Plan:
    """Read a plan JSON: a list of entries, or an object with ``entries`` (or ``excerpts``/
    ``segments``/``tracks``) and optional ``cues`` (seconds, or objects with ``at_s``)."""
    where = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except OSError as e:
        raise PlanFileError(where, os_reason(e)) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise PlanFileError(where, f"not JSON: {e}") from None
    return plan_from_json(data, where)


def plan_from_json(data: Any, where: str = "plan") -> Plan:
    raw = data
    cues_raw: Any = []
    if isinstance(data, dict):
        raw = next((data[k] for k in ("entries", "excerpts", "segments", "tracks", "plan")
                    if isinstance(data.get(k), list)), None)
        cues_raw = data.get("cues") or data.get("round_cues") or []
    if not isinstance(raw, list) or not raw:
        raise PlanFileError(where, "no entries")
    entries = []
    for i, d in enumerate(raw):
        if not isinstance(d, dict):
            raise PlanFileError(f"{where}: entry {i + 1}", "not an object")
        entries.append(PlanEntry.from_json(d, f"{where}: entry {i + 1}"))
    cues = []
    for c in cues_raw if isinstance(cues_raw, list) else []:
        v = c.get("at_s", c.get("time_s", c.get("start_s"))) if isinstance(c, dict) else c
        try:
            cues.append(float(v))
        except (TypeError, ValueError):
            raise PlanFileError(where, f"cue time is not a number: {v!r}") from None
    return Plan(entries, sorted(cues))


@dataclass
class RenderReport:
    path: str
    duration_s: float
    chapters: list[tuple[float, str]]
    seconds: dict[str, float]  # wall time per stage: read, level, stretch, mix, limit, encode
    warnings: list[str]
    placements: list[mix.Placement]
    cue_samples: list[int]
    sr: int


Progress = Callable[[float, float, float | None], None]
"""Called with (seconds rendered, total seconds, ETA in seconds or None)."""

BeatsFor = Callable[[str], tuple[np.ndarray, np.ndarray]]


def analysis_beats(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(beats, downbeats) of ``path`` from underdog's analysis (tempo step only)."""
    from ..analysis import analyze

    a = analyze(path, steps={"tempo"})
    return np.asarray(a.beats, np.float64), np.asarray(a.downbeats, np.float64)


Heard = dict[tuple[int, bool], tuple[np.ndarray, ...]]  # (excerpt, forward) -> (its
# overlap's beats as placed, steady per beat: beatgrid.steady_beats, and where the tracker
# told the tempo hears each: beatgrid.told_offsets)


def audio_refiner(paths: list[str], sr: int = MIX_SR, secs: dict[str, float] | None = None,
                  heard: Heard | None = None, maps: FileMaps | None = None,
                  known: dict | None = None) -> mix.Refine:
    """A ``mix.Refine`` that reads the window of each beat line from excerpt ``i``'s file
    (``paths[i]``) and places its beats as the audio has them (``beatgrid.refine_beats``:
    the phase the beat tracker hears there, onsets to the millisecond, drift). With
    ``heard``, each line's (excerpt index, forward) gets its beats and, per beat, whether
    the tracker hears it steady there (``beatgrid.steady_beats``). ``maps``: the render's
    ``source.FileMaps``. ``known``: a dict kept between refiners of the same files: a line
    asked again (file unchanged, place, length, direction) is not read and checked again
    (the check by ear plans several times over mostly the same blends, and the render of
    the plan it checked asks the same lines)."""

    def refine(i: int, at: float, period: float, count: int, forward: bool) -> np.ndarray:
        key = (paths[i], _file_id(paths[i]), sr, round(at, 6), round(period, 9), count,
               forward)
        if known is not None and heard is not None and key in known:
            heard[(i, forward)] = known[key]
            return known[key][0].copy()
        t = time.perf_counter()
        span = count * period
        # the body beside the overlap too: the tracker hears the beat in that context
        lo = max(0.0, (at if forward else at - span - beatgrid.CONTEXT_S) - period)
        hi = (at + span + beatgrid.CONTEXT_S if forward else at) + period
        try:
            x = read_span(paths[i], lo, hi, sr, maps)
        except UnderdogError:  # the render's own read will say what is wrong
            return mix.beat_line(at, period, count, forward)
        memo: dict = {}  # the window's onset strengths, analysed once for both
        got = beatgrid.refine_beats(x, sr, lo, at, period, count, forward, memo)
        if heard is not None:
            ok = beatgrid.steady_beats(x, sr, lo, got, forward, memo=memo)
            off = beatgrid.told_offsets(x, sr, lo, got, forward, memo=memo)
            heard[(i, forward)] = (np.asarray(got, np.float64), ok, off)
            if known is not None:
                known[key] = heard[(i, forward)]
        if secs is not None:
            secs["refine"] = secs.get("refine", 0.0) + time.perf_counter() - t
        return got

    return refine


def _file_id(path: str) -> tuple[int, int] | None:
    """(size, mtime ns) of ``path``: a line read before the file changed is read again."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def unsteady_sides(plan: Plan, heard: Heard,
                   places: list[mix.Placement] | None = None):
    """The blend sides whose beats may not meet: (blend k, excerpt index i, its beats,
    heard right per beat, why). Where the beat tracker hears no steady beat on more than
    a quarter of the track's beats (``audio_refiner``'s ``heard``), why is None; with
    ``places`` (the layout), also where the tracker told the tempo hears the two tracks'
    beats apart (:func:`apart`: median over 15 ms or 95th percentile over 30 ms), on both
    sides, each beat that is off not right; why says by how much. Cuts have none."""
    for k, e in enumerate(plan.entries[1:]):
        if e.transition.shape == "cut":
            continue
        sides = [(i, forward) + tuple(heard.get((i, forward), (np.zeros(0), np.zeros(0, bool))))
                 for i, forward in ((k, False), (k + 1, True))]
        far = apart(places[k], places[k + 1], sides[0][2:], sides[1][2:]) if places else None
        for n, (i, _, got, ok, *_) in enumerate(sides):
            got, ok = np.asarray(got, np.float64), np.asarray(ok, bool)
            if len(ok) and np.count_nonzero(~ok) > len(ok) / 4:
                yield k, i, got, ok, None
            elif far is not None and not far[2][n].all():
                yield k, i, got, far[2][n], f"{far[0] * 1000:.0f} / {far[1] * 1000:.0f} ms"


def apart(pa: mix.Placement, pb: mix.Placement, a: tuple, b: tuple):
    """Where the tracker told the tempo hears a blend's two tracks' beats (``heard``'s
    (beats, steady, offsets) of the outgoing ``a`` placed by ``pa`` and incoming ``b`` by
    ``pb``) on the session clock: (median, 95th percentile of the offsets between them
    (s), per side the beats whose offset is within ``beatgrid.MEET_MEDIAN_S``) where
    they do not meet (median over ``MEET_MEDIAN_S`` or 95th percentile over
    ``MEET_P95_S``), else None. Each beat of the track with fewer beats in the blend (at
    half time on every other session beat) is compared with the other's nearest, as the
    render bench measures the mix (not within 0.3 s of its ends); beats the tracker hears
    nowhere near count as met."""
    if len(a) < 3 or len(b) < 3 or a[2] is None or b[2] is None:
        return None
    heard = []
    for p, (got, _, off) in ((pa, a), (pb, b)):
        got, off = np.asarray(got, np.float64), np.asarray(off, np.float64)
        if len(got) < 4 or len(off) != len(got):
            return None
        on = np.isfinite(off)
        heard.append((np.asarray(p.session_time(got), np.float64),
                      np.asarray(p.session_time(np.where(on, got + off, got)), np.float64), on))
    (sa, _, oa), (sb, _, ob) = heard
    if not oa.any() or not ob.any():
        return None
    few, many = (0, 1) if len(sa) <= len(sb) else (1, 0)
    (s1, t1, o1), (_, t2, o2) = heard[few], heard[many]
    # inside the overlap: its first and last 0.3 s are one track's edge, silent beyond
    o1 = o1 & (s1 >= max(sa[0], sb[0]) + 0.3) & (s1 <= min(sa[-1], sb[-1]) - 0.3)
    # each beat of the sparser side against the other side's nearest beat as heard
    t2o = t2[o2]
    d = np.abs(t1 - t2o[beatgrid.nearest_index(t2o, t1)])[o1]
    if not len(d):
        return None
    med, p95 = float(np.median(d)), float(np.percentile(d, 95))
    if med <= beatgrid.MEET_MEDIAN_S and p95 <= beatgrid.MEET_P95_S:
        return None
    off_at = np.full(len(s1), 0.0)
    off_at[o1] = d
    met = []
    for n, (s, _, _) in enumerate(heard):
        if n == few:
            met.append(off_at <= beatgrid.MEET_MEDIAN_S)
        else:  # the other side's beats take the nearest compared beat's verdict
            met.append(off_at[beatgrid.nearest_index(s1, s)] <= beatgrid.MEET_MEDIAN_S)
    return med, p95, met


def unsteady_warnings(plan: Plan, heard: Heard,
                      places: list[mix.Placement] | None = None) -> list[str]:
    """A warning for each blend side of :func:`unsteady_sides`: a beat that moves by a
    16th inside the overlap or an intro/outro without a clear beat, which no beat line
    follows, or two tracks whose beats the tracker hears apart; the blend is rendered as
    planned."""
    out = []
    for k, i, _, ok, why in unsteady_sides(plan, heard, places):
        blend = f"blend {k + 1} ({_chapter_name(plan.entries[k])} -> " \
                f"{_chapter_name(plan.entries[k + 1])}): "
        if why is None:
            out.append(blend + f"the beat tracker hears no steady beat on "
                       f"{int(np.count_nonzero(~ok))} of {len(ok)} beats of "
                       f"{_chapter_name(plan.entries[i])} there; the beats may not meet")
        elif i == k + 1:  # once a blend
            out.append(blend + f"the beat tracker hears the two tracks' beats {why} apart "
                       "(median / 95th percentile); the beats may not meet")
    return out


def lay_out(plan: Plan, beats_for: BeatsFor, *, tempo: str = "follow",
            refine: bool = True, secs: dict[str, float] | None = None,
            heard: Heard | None = None, maps: FileMaps | None = None,
            known: dict | None = None) -> list[mix.Placement]:
    """Each excerpt of ``plan`` placed on the session clock (``mix.layout``), its beats
    from ``beats_for``; with ``refine``, each overlap's beat lines corrected against the
    audio (``audio_refiner``, which fills ``heard``), read at ``MIX_SR`` whatever the
    output's rate, so a plan's check and its render hear the same lines (``known``: as
    for ``audio_refiner``). ``secs`` gets the time spent in ``analyze`` (``beats_for``)
    and ``refine``. Raises PlanFileError."""
    grids: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    excerpts = []
    for i, e in enumerate(plan.entries):
        t = time.perf_counter()
        if e.path not in grids:
            grids[e.path] = beats_for(e.path)
        if secs is not None:
            secs["analyze"] = secs.get("analyze", 0.0) + time.perf_counter() - t
        beats, downbeats = grids[e.path]
        if len(beats) < 4:
            raise PlanFileError(f"entry {i + 1}", f"{e.path}: too few beats to beat-match")
        if e.in_s >= beats[-1]:  # a file cut or replaced since the plan was made
            raise PlanFileError(f"entry {i + 1}", f"{e.path}: the excerpt starts at "
                                f"{e.in_s:.1f} s, after the track's last beat at "
                                f"{beats[-1]:.1f} s (has the file changed?)")
        out_s = e.out_s if e.out_s is not None else float(beats[-1])
        in_s = e.in_s
        if e.whole and i > 0 and e.transition.shape == "cut":
            in_s = cut_in(beats, downbeats)
        follow = tempo == "follow"
        excerpts.append(mix.Excerpt(beats=beats, in_s=in_s, out_s=out_s,
                                    target_bpm=(e.tempo_bpm or e.arc_bpm) if follow else None,
                                    target_in_bpm=e.tempo_in_bpm if follow else None,
                                    target_out_bpm=e.tempo_out_bpm if follow else None,
                                    target_via=e.tempo_via if follow else (),
                                    bars=e.bars if out_s == e.out_s else None,
                                    downbeats=downbeats,
                                    start_s=e.start_s if follow or i == 0 else None))
    try:
        return mix.layout(excerpts, [e.transition for e in plan.entries[1:]],
                          start_s=plan.entries[0].start_s or 0.0,
                          refine=audio_refiner([e.path for e in plan.entries], MIX_SR, secs,
                                               heard, maps, known) if refine else None)
    except ValueError as exc:
        raise PlanFileError("plan", str(exc)) from None


def unsteady_beats(plan: Plan, beats_for: BeatsFor, tempo: str = "follow",
                   known: dict | None = None) -> dict[int, np.ndarray]:
    """The blends the render would warn of (``unsteady_warnings``), found before any
    render: per entry index, the times (track time, s) of the beats of each such blend
    side where the beat tracker hears no steady beat, or hears the two tracks' beats
    apart (:func:`apart`). Lays the plan out with the render's
    own refiner (reads only each overlap's window; ``known``: as for ``audio_refiner``).
    Raises PlanFileError."""
    heard: Heard = {}
    places = lay_out(plan, beats_for, tempo=tempo, heard=heard, known=known)
    out: dict[int, list[np.ndarray]] = {}
    for _, i, got, ok, _ in unsteady_sides(plan, heard, places):
        out.setdefault(i, []).append(got[~ok])
    return {i: np.sort(np.concatenate(v)) for i, v in out.items()}


def render(plan: Plan, out: str | os.PathLike, *, lufs: float = levels.TARGET_LUFS,
           ceiling_db: float = levels.CEILING_DBTP, cues: str = "bell",
           method: str = DEFAULT_STRETCH, beats_for: BeatsFor = analysis_beats,
           progress: Progress | None = None, cue_sheet: bool = True,
           refine: bool = True, tempo: str = "follow",
           heard_lines: dict | None = None) -> RenderReport:
    """Render ``plan`` into ``out`` (format from its extension, see ``FORMATS``), with
    chapters and, with ``cue_sheet``, a ``.cue`` file beside it. With ``refine`` (the
    default) each overlap's beat lines are corrected against the audio (``audio_refiner``);
    ``heard_lines``: the lines a plan's check by ear already read (its ``known``, see
    ``unsteady_beats``), not read again.

    ``tempo``: ``"follow"`` plays each excerpt at the plan's tempo (its ``tempo_bpm``, else
    the arc's target where it plays; from ``tempo_in_bpm`` to ``tempo_out_bpm`` where the
    arc ramps through it), within ±8 % of its own tempo or half/double it, and keeps the
    plan's clock; ``"own"`` plays each at its own tempo (only the overlaps ramp)
    and lets the excerpts follow on, so the plan's clock is not kept."""
    out = os.fspath(out)
    ext = os.path.splitext(out)[1].lower()
    if ext not in FORMATS:
        raise PlanFileError(out, f"unknown output format {ext or '(none)'} "
                             f"(one of {', '.join(sorted(FORMATS))})")
    if tempo not in TEMPO_MODES:
        raise PlanFileError("tempo", f"unknown tempo mode {tempo!r} (one of {', '.join(TEMPO_MODES)})")
    if cues not in mix.CUE_KINDS:
        raise PlanFileError("cues", f"unknown cue {cues!r} (one of {', '.join(mix.CUE_KINDS)})")
    muxer, codec, sr, _ = FORMATS[ext]
    t_all = time.perf_counter()
    secs = {k: 0.0 for k in ("analyze", "refine", "read", "level", "stretch", "mix", "limit",
                             "encode")}
    maps = FileMaps()  # what the reads learn of each file, for its next read
    heard: Heard = {}
    places = lay_out(plan, beats_for, tempo=tempo, refine=refine, secs=secs,
                     heard=heard, maps=maps, known=heard_lines)
    warnings = [w for p in places for w in p.warnings] + unsteady_warnings(plan, heard,
                                                                             places)
    origin = min(p.start_s for p in places)
    n_total = int(round((max(p.end_s for p in places) - origin) * sr))
    total_s = n_total / sr
    chapters = [(p.start_s - origin, _chapter_name(e)) for p, e in zip(places, plan.entries)]
    cue_samples = [int(round((c - origin) * sr)) for c in plan.cues_s] if cues != "none" else []
    cue_wave = mix.cue_sound(cues, sr) if cue_samples else None

    limiter = levels.TruePeakLimiter(sr, 2, ceiling_db=ceiling_db)
    # the limiter takes back some of each excerpt's level: a first pass per excerpt and a
    # running meter on its output give it back (levels.MakeUpGain)
    makeup = levels.MakeUpGain(sr, lufs, ceiling_db) if lufs is not None else None
    with atomic_write(out, "wb") as f:
        import av

        container = av.open(f, "w", format=muxer)
        try:
            stream = container.add_stream(codec, rate=sr, layout="stereo")
            if codec in BITRATES:
                stream.bit_rate = BITRATES[codec]
            _set_chapters(container, chapters, total_s)
            enc = _Encoder(container, stream, sr, secs)
            buf = np.zeros((2, 0), np.float32)
            buf_start = 0  # session sample of buf[:, 0]
            emitted = 0
            for i, (p, e) in enumerate(zip(places, plan.entries)):
                s0 = int(round((p.start_s - origin) * sr))
                # everything before the next excerpt's entry is final once this one is in
                nxt = (int(round((places[i + 1].start_s - origin) * sr))
                       if i + 1 < len(places) else None)
                for k, y in contribution_blocks(e.path, p, sr, lufs, method, secs,
                                                where=f"entry {i + 1}", makeup=makeup,
                                                maps=maps):
                    t = time.perf_counter()
                    y = mix.apply_envelopes(y, sr, p.start_s + k / sr, p.fade_in, p.fade_out)
                    at, end = s0 + k, s0 + k + y.shape[1]
                    if end > buf_start + buf.shape[1]:
                        more = np.zeros((2, end - buf_start - buf.shape[1]), np.float32)
                        buf = np.concatenate([buf, more], axis=1)
                    lo = max(at, buf_start)  # (never before the last entry: emitted)
                    buf[:, lo - buf_start:end - buf_start] += y[:, lo - at:]
                    del y
                    final = end if nxt is None else min(nxt, end)
                    final = min(max(final, buf_start), buf_start + buf.shape[1])
                    block = buf[:, :final - buf_start]
                    if cue_wave is not None:
                        mix.add_cues(block, sr, buf_start, cue_samples, cue_wave)
                    secs["mix"] += time.perf_counter() - t
                    t = time.perf_counter()
                    lim = _push_limited(limiter, block)
                    secs["limit"] += time.perf_counter() - t
                    if makeup is not None:
                        t = time.perf_counter()
                        makeup.after(lim)
                        secs["level"] += time.perf_counter() - t
                    enc.write(lim)
                    emitted += block.shape[1]
                    buf = buf[:, final - buf_start:].copy()
                    buf_start = final
                    if progress is not None:
                        done = min(emitted, n_total) / sr
                        el = time.perf_counter() - t_all
                        progress(done, total_s, el / done * (total_s - done) if done > 0 else None)
            if buf.shape[1]:
                if cue_wave is not None:
                    mix.add_cues(buf, sr, buf_start, cue_samples, cue_wave)
                enc.write(_push_limited(limiter, buf))
            enc.write(limiter.flush())
            enc.close()
        finally:
            container.close()
        if ext in (".flac", ".opus", ".mp3"):
            f.flush()
            _tag_chapters(f, ext, chapters, total_s)
    if cue_sheet:
        write_atomic(os.path.splitext(out)[0] + ".cue", cue_sheet_text(out, chapters, ext))
    if progress is not None:
        progress(total_s, total_s, 0.0)
    return RenderReport(out, n_total / sr, chapters, secs, warnings, places, cue_samples, sr)


def contribution(path: str, p: mix.Placement, sr: int, lufs: float | None = levels.TARGET_LUFS,
                 method: str = DEFAULT_STRETCH, secs: dict[str, float] | None = None,
                 where: str = "excerpt",
                 makeup: levels.MakeUpGain | None = None) -> np.ndarray:
    """One excerpt as it sounds in the mix before its fades: read, levelled to ``lufs``
    (None: as it is) plus what ``makeup`` gives back for the limiter, stretched along its
    placement; (2, n) float32 from session ``p.start_s`` (:func:`contribution_blocks`, put
    together)."""
    parts = [y for _, y in contribution_blocks(path, p, sr, lufs, method, secs, where, makeup)]
    return np.concatenate(parts, axis=1) if parts else np.zeros((2, 0), np.float32)


def contribution_blocks(path: str, p: mix.Placement, sr: int,
                        lufs: float | None = levels.TARGET_LUFS, method: str = DEFAULT_STRETCH,
                        secs: dict[str, float] | None = None, where: str = "excerpt",
                        makeup: levels.MakeUpGain | None = None,
                        maps: FileMaps | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`contribution` a block at a time, in memory that does not grow with the
    excerpt's length: the span is decoded once into a temporary file (``source.Spill``)
    while its loudness is metered; the make-up's first pass and the attack detection read
    it back in pieces, and WSOLA stretches it block by block (``stretch.wsola_blocks``).
    Yields (output sample from ``p.start_s``, (2, k) float32). Each of ``p``'s fades lies
    inside one block (with its band split's context), so ``mix.apply_envelopes`` on each
    block gives the whole's; blocks are ``stretch.BLOCK`` long elsewhere. The phase
    vocoder streams the same way (``stretch.pv_blocks``); ``"atempo"`` takes the whole
    span at once. ``maps``: the render's ``source.FileMaps``."""
    secs = {} if secs is None else secs
    t = time.perf_counter()
    t0 = max(0.0, float(p.knots_t.min()) - 0.2)
    t1 = float(p.knots_t.max()) + 0.2
    meter = LoudnessMeter() if lufs is not None else None
    metering = [0.0]

    def meter_block(y: np.ndarray) -> None:
        tm = time.perf_counter()
        meter.push(y, sr)
        metering[0] += time.perf_counter() - tm

    # the meter sees the span in levels.integrated_lufs' blocks: the same loudness
    span = Spill(iter_span(path, t0, t1, sr, maps), block=levels.BLOCK,
                 on_block=meter_block if meter is not None else None)
    try:
        secs["read"] = secs.get("read", 0.0) + time.perf_counter() - t - metering[0]
        if span.n < sr // 10:
            raise PlanFileError(where, f"{path}: nothing to play between {t0:.1f} and {t1:.1f} s")
        t = time.perf_counter()
        if meter is not None:
            lufs_in = meter.result().integrated_lufs
            span.gains = (10.0 ** (levels.gain_db_for(lufs_in, lufs) / 20.0),)
            if makeup is not None:
                span.gains += (10.0 ** (makeup.next_db(span) / 20.0),)
        secs["level"] = secs.get("level", 0.0) + time.perf_counter() - t + metering[0]
        t = time.perf_counter()
        tmap = p.time_map(sr, t0)
        if method not in ("wsola", "pv"):
            y = stretch(span.read(0, span.n), sr, tmap, method)
            secs["stretch"] = secs.get("stretch", 0.0) + time.perf_counter() - t
            yield 0, y
            return
        cuts = _block_cuts(p, sr, tmap.n_out)
        blocks = (wsola_blocks(span.read, sr, tmap, cuts, onset_times_read(span.read, span.n, sr))
                  if method == "wsola" else pv_blocks(span.read, sr, tmap, cuts))
        while True:
            y = next(blocks, None)
            secs["stretch"] = secs.get("stretch", 0.0) + time.perf_counter() - t
            if y is None:
                return
            yield y
            t = time.perf_counter()
    finally:
        span.close()


def _block_cuts(p: mix.Placement, sr: int, n_out: int, block: int = STRETCH_BLOCK
                ) -> list[int]:
    """Where an excerpt's output blocks end: every ``block`` samples, but never inside a
    fade (from the excerpt's start through a fade in, from a fade out to its end) or
    within reach of the band split that a bass swap applies around it."""
    reach = 0.25 + len(mix.lowpass_fir(sr)) / sr  # s: a fade's pad and the split's context
    lo, hi = 0, n_out
    if p.fade_in is not None:
        lo = int(math.ceil((max(p.fade_in.t0, p.fade_in.t1) - p.start_s + reach) * sr))
    if p.fade_out is not None:
        hi = int(math.floor((min(p.fade_out.t0, p.fade_out.t1) - p.start_s - reach) * sr))
    return [c for c in range(block, n_out, block) if lo <= c <= hi] + [n_out]


def cut_in(beats: np.ndarray, downbeats: np.ndarray) -> float:
    """Where a whole track slams in after a cut: on its first downbeat if that comes within
    two bars of its first beat, else on that beat; not on second 0, where a fade-in or a
    silence before the music lengthens the cut's silence past the plan's (warzone2100's
    track20: 0.80 s of it where 0.37 s were planned) and puts no beat on the slot's beat."""
    first = float(beats[0])
    later = downbeats[downbeats >= first - 1e-6]
    if len(later) and float(later[0]) <= float(beats[min(len(beats) - 1, 2 * mix.BEATS_PER_BAR)]) + 1e-6:
        return float(later[0])
    return first


def _push_limited(limiter: levels.TruePeakLimiter, block: np.ndarray) -> np.ndarray:
    outs = [limiter.push(block[:, i:i + 65536]) for i in range(0, block.shape[1], 65536)]
    return np.concatenate(outs, axis=1) if outs else np.zeros((2, 0), np.float32)


class _Encoder:
    def __init__(self, container, stream, sr: int, secs: dict[str, float]):
        self.c, self.s, self.sr, self.secs = container, stream, sr, secs
        self.pts = 0

    def write(self, y: np.ndarray) -> None:
        import av

        t = time.perf_counter()
        for i in range(0, y.shape[1], 8192):
            part = np.ascontiguousarray(y[:, i:i + 8192], np.float32)
            frame = av.AudioFrame.from_ndarray(part, format="fltp", layout="stereo")
            frame.sample_rate = self.sr
            frame.pts = self.pts
            self.pts += part.shape[1]
            for packet in self.s.encode(frame):
                self.c.mux(packet)
        self.secs["encode"] += time.perf_counter() - t

    def close(self) -> None:
        t = time.perf_counter()
        for packet in self.s.encode(None):
            self.c.mux(packet)
        self.secs["encode"] += time.perf_counter() - t


def _chapter_name(e: PlanEntry) -> str:
    if e.artist and e.title:
        return f"{e.artist} - {e.title}"
    return e.title or e.artist or os.path.splitext(os.path.basename(e.path))[0]


def _set_chapters(container, chapters: list[tuple[float, str]], total_s: float) -> None:
    """Chapters through FFmpeg's muxer (M4A writes them as a QuickTime chapter track and
    Nero ``chpl``); FLAC, Opus and MP3 get theirs from mutagen after encoding."""
    from fractions import Fraction

    if container.format.name != "ipod":
        return
    ms = Fraction(1, 1000)
    out = []
    for k, (start, name) in enumerate(chapters):
        end = chapters[k + 1][0] if k + 1 < len(chapters) else total_s
        out.append({"id": k + 1, "start": int(round(start * 1000)), "end": int(round(end * 1000)),
                    "time_base": ms, "metadata": {"title": name}})
    container.set_chapters(out)


def _timestamp(s: float) -> str:
    ms = int(round(s * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _tag_chapters(f, ext: str, chapters: list[tuple[float, str]], total_s: float) -> None:
    """Chapters with mutagen on the finished temporary file (its descriptor is read-write):
    FLAC and Opus as CHAPTERnnn / CHAPTERnnnNAME comments, MP3 as ID3 CHAP + CTOC."""
    rw = io.open(f.fileno(), "rb+", closefd=False)
    try:
        rw.seek(0)
        if ext == ".mp3":
            from mutagen.id3 import CHAP, CTOC, ID3, TIT2, CTOCFlags, ID3NoHeaderError

            try:
                tags = ID3(rw)
            except ID3NoHeaderError:
                tags = ID3()
            ids = []
            for k, (start, name) in enumerate(chapters):
                end = chapters[k + 1][0] if k + 1 < len(chapters) else total_s
                cid = f"ch{k + 1}"
                ids.append(cid)
                tags.add(CHAP(element_id=cid, start_time=int(round(start * 1000)),
                              end_time=int(round(end * 1000)),
                              sub_frames=[TIT2(encoding=3, text=[name])]))
            tags.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                          child_element_ids=ids, sub_frames=[TIT2(encoding=3, text=["Chapters"])]))
            rw.seek(0)
            tags.save(rw)
        else:
            from mutagen.flac import FLAC
            from mutagen.oggopus import OggOpus

            audio = FLAC(rw) if ext == ".flac" else OggOpus(rw)
            if audio.tags is None:
                audio.add_tags()
            for k, (start, name) in enumerate(chapters):
                audio.tags[f"CHAPTER{k + 1:03d}"] = _timestamp(start)
                audio.tags[f"CHAPTER{k + 1:03d}NAME"] = name
            rw.seek(0)
            audio.save(rw)
        rw.flush()
    finally:
        rw.close()


def cue_sheet_text(out: str, chapters: list[tuple[float, str]], ext: str) -> str:
    """A CUE sheet for ``out``: one TRACK per chapter, INDEX 01 at its start (75 frames/s)."""
    kind = FORMATS[ext][3]
    lines = ['PERFORMER "underdog"', f'TITLE "{_cue_text(os.path.splitext(os.path.basename(out))[0])}"',
             f'FILE "{_cue_text(os.path.basename(out))}" {kind}']
    for k, (start, name) in enumerate(chapters):
        frames = int(round(start * 75))
        artist, _, title = name.partition(" - ")
        lines.append(f"  TRACK {k + 1:02d} AUDIO")
        lines.append(f'    TITLE "{_cue_text(title or artist)}"')
        if title:
            lines.append(f'    PERFORMER "{_cue_text(artist)}"')
        lines.append(f"    INDEX 01 {frames // 4500:02d}:{frames // 75 % 60:02d}:{frames % 75:02d}")
    return "\n".join(lines) + "\n"


def _cue_text(s: str) -> str:
    from ..fileio import display_text

    return display_text(s).replace('"', "'")
