"""Session arcs: what a playlist should do over time, and how it maps onto minutes.

An :class:`Arc` is a list of :class:`Segment` s. Each segment lasts a number of minutes or a
share of the session, asks for a BPM (flat or a ramp), says whether half/double time counts,
asks for an energy level (1–10, flat or a ramp), may prefer styles (weights) or bound them
(shares), and may be a ``peak`` (its start is where a drop should land). Built-in arcs and
user TOML files (see ``docs/arcs.md``) produce the same model; :meth:`Arc.timeline` lays an
arc onto a session length.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from dataclasses import dataclass, field

import numpy as np

from ..errors import UnderdogError

KNOWN_STYLES = ("heavy", "indie_synth", "hiphop", "atmospheric")
BPM_RANGE = (30.0, 300.0)   # a target outside this is impossible
ENERGY_RANGE = (1.0, 10.0)  # energy levels, as DJs know them
DEFAULT_TOLERANCE_PCT = 6.0
DEFAULT_MINUTES = 45.0
# Size limits: far beyond any real session, low enough that nothing takes long or much memory.
MAX_MINUTES = 600.0         # a session (and any one segment), minutes
MAX_SEGMENTS = 200
MAX_ROUNDS = 100            # hiit rounds
MAX_INTERVAL_MIN = 60.0     # hiit work or rest interval, minutes
SHARE_RANGE = (1e-3, 1e3)   # a segment's share (relative to the other shares)
MAX_ARC_BYTES = 256_000     # an arc file
MAX_NESTING = 32            # brackets/braces inside each other in an arc file


class ArcError(UnderdogError):
    """An arc cannot be built or loaded (one line: file:line: what and where)."""


@dataclass
class Segment:
    """One stretch of an arc."""

    name: str
    bpm: tuple[float, float]            # (start, end): equal for a flat target
    energy: tuple[float, float]         # levels 1–10, (start, end)
    minutes: float | None = None        # absolute length, or …
    share: float | None = None          # … a share of what absolute segments leave
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT  # tempo within this counts as a fit
    half_double: bool = True            # a track at half or double the target fits too
    style: dict[str, float] = field(default_factory=dict)      # preference weights
    style_min: dict[str, float] = field(default_factory=dict)  # share bounds in the segment
    style_max: dict[str, float] = field(default_factory=dict)
    peak: bool = False
    round: int = 0                      # the round a work or rest interval belongs to (0: none)


@dataclass
class Arc:
    name: str
    segments: list[Segment]
    description: str = ""
    minutes: float = DEFAULT_MINUTES    # default session length
    style_min: dict[str, float] = field(default_factory=dict)  # share bounds, whole session
    style_max: dict[str, float] = field(default_factory=dict)
    track_minutes: tuple[float, float] | None = None  # only tracks this long (min, max)
    excerpts: bool = False              # planned as excerpts by default (docs/arcs.md)

    def timeline(self, minutes: float | None = None) -> "Timeline":
        return Timeline.build(self, self.minutes if minutes is None else float(minutes))


@dataclass
class Span:
    """A segment placed in time (seconds from the session start)."""

    index: int
    segment: Segment
    start_s: float
    end_s: float

    def bpm_at(self, t_s: float) -> float:
        """The segment's target BPM at session time ``t_s``, on its own line (clamped to
        the span): exact at its edges, where the per-second table of :class:`Timeline`
        can hold the neighbouring segment's value."""
        b0, b1 = self.segment.bpm
        frac = min(max((t_s - self.start_s) / max(self.end_s - self.start_s, 1e-9), 0.0), 1.0)
        return b0 + (b1 - b0) * frac


class Timeline:
    """An arc laid onto a session length; targets are looked up per second, vectorized."""

    def __init__(self, arc: Arc, total_s: float, spans: list[Span]):
        self.arc = arc
        self.total_s = total_s
        self.spans = spans
        n = int(math.ceil(total_s)) + 1
        t = np.arange(n, dtype=np.float64) + 0.5
        self._seg = np.zeros(n, np.int32)
        for sp in spans:
            self._seg[(t >= sp.start_s) & (t < sp.end_s)] = sp.index
        self._seg[t >= total_s] = spans[-1].index
        self._bpm = np.empty(n)
        self._level = np.empty(n)
        for sp in spans:
            m = self._seg == sp.index
            frac = np.clip((t[m] - sp.start_s) / max(sp.end_s - sp.start_s, 1e-9), 0.0, 1.0)
            b0, b1 = sp.segment.bpm
            e0, e1 = sp.segment.energy
            self._bpm[m] = b0 + (b1 - b0) * frac
            self._level[m] = e0 + (e1 - e0) * frac
        segs = [sp.segment for sp in spans]
        self.tol = np.array([s.tolerance_pct for s in segs])
        self.half_double = np.array([s.half_double for s in segs])
        self.peak_starts_s = [sp.start_s for sp in spans if sp.segment.peak]

    def cues(self) -> list[dict]:
        """Where round cues go: a ``round_start`` at each work interval's start and a
        ``round_end`` at its end (session seconds), in time order."""
        out = []
        for sp in self.spans:
            seg = sp.segment
            if seg.round and seg.peak:
                out.append({"at_s": round(sp.start_s, 3), "kind": "round_start",
                            "round": seg.round})
                out.append({"at_s": round(sp.end_s, 3), "kind": "round_end",
                            "round": seg.round})
        return out

    @classmethod
    def build(cls, arc: Arc, minutes: float) -> "Timeline":
        if not (minutes > 0) or not math.isfinite(minutes):
            raise ArcError(f"session length must be positive (got {minutes} minutes)")
        if minutes > MAX_MINUTES:
            raise ArcError(f"a session of {minutes:g} minutes is too long; at most "
                           f"{MAX_MINUTES:g}")
        if not arc.segments:
            raise ArcError(f"arc {arc.name!r} has no segments")
        if len(arc.segments) > MAX_SEGMENTS:
            raise ArcError(f"arc {arc.name!r} has {len(arc.segments)} segments; at most "
                           f"{MAX_SEGMENTS}")
        fixed = math.fsum(s.minutes for s in arc.segments if s.minutes is not None)
        # Shares relative to the largest: their sum cannot overflow, whatever their scale.
        top = max((s.share for s in arc.segments if s.share is not None), default=0.0)
        shares = math.fsum(s.share / top for s in arc.segments if s.share is not None) \
            if top > 0 else 0.0
        if shares > 0:
            left = minutes - fixed
            if left <= 1e-9:
                raise ArcError(f"arc {arc.name!r} needs more than {fixed:g} minutes for its "
                               f"fixed segments (asked for {minutes:g})")
            lengths = [s.minutes if s.minutes is not None else left * (s.share / top / shares)
                       for s in arc.segments]
        else:  # only absolute lengths: stretch or squeeze them to the session
            lengths = [s.minutes * (minutes / fixed) for s in arc.segments]
        spans, t = [], 0.0
        for i, (s, m) in enumerate(zip(arc.segments, lengths)):
            spans.append(Span(i, s, t * 60.0, (t + m) * 60.0))
            t += m
        return cls(arc, minutes * 60.0, spans)

    def _idx(self, t_s) -> np.ndarray:
        return np.clip(np.asarray(t_s, dtype=np.float64), 0, len(self._seg) - 1).astype(np.int64)

    def targets(self, t_s):
        """(bpm, level, segment index) at times ``t_s`` (array or scalar, seconds)."""
        i = self._idx(t_s)
        return self._bpm[i], self._level[i], self._seg[i]

    def span_at(self, t_s: float) -> Span:
        return self.spans[int(self._seg[self._idx(t_s)])]


# ---------------------------------------------------------------- built-in arcs

def _seg(name, share, bpm, energy, **kw) -> Segment:
    b = (float(bpm), float(bpm)) if not isinstance(bpm, tuple) else bpm
    e = (float(energy), float(energy)) if not isinstance(energy, tuple) else energy
    return Segment(name=name, share=share, bpm=b, energy=e, **kw)


ATMOS = {"atmospheric": 1.0, "indie_synth": 0.5}
BUILD = {"indie_synth": 1.0, "hiphop": 0.6, "heavy": 0.6}
ANTHEM = {"heavy": 1.0, "hiphop": 0.8, "indie_synth": 0.6}


def montage() -> Arc:
    """The essay's logic: open atmospheric, build, three peaks near 140 with valleys
    between them, cool down. A valley sits at least 2 energy levels and 8 BPM below the
    peaks on either side (130 BPM: still a mix away from 140, but a felt drop), and the
    cool-down only falls."""
    return Arc("montage", [
        _seg("open", 0.12, (118.0, 124.0), (3.0, 4.0), style=ATMOS),
        _seg("build", 0.13, (126.0, 136.0), (5.0, 7.0), style=BUILD),
        _seg("peak 1", 0.14, 140.0, 8.5, style=ANTHEM, peak=True),
        _seg("valley 1", 0.09, 130.0, 5.5, style=ATMOS),
        _seg("peak 2", 0.14, (140.0, 144.0), 9.0, style=ANTHEM, peak=True),
        _seg("valley 2", 0.09, 130.0, 6.0, style=ATMOS),
        _seg("peak 3", 0.14, 142.0, 9.5, style=ANTHEM, peak=True),
        _seg("cool down", 0.15, (132.0, 112.0), (6.0, 3.0), style=ATMOS),
    ], description="start atmospheric and build; peaks near 140 BPM with valleys between; "
                   "cool down", style_max={"heavy": 0.4}, excerpts=True)


def hiit(work: float = 4.0, rest: float = 3.0, rounds: int = 4) -> Arc:
    """Warm-up, ``rounds`` × (work, rest) intervals in minutes, cool-down. Work intervals
    are peaks (a drop should hit as each starts); rest is a valley (10 BPM and 4.5 levels
    below work); the cool-down starts no higher than the last rest and only falls."""
    if not (0 < work <= MAX_INTERVAL_MIN and 0 <= rest <= MAX_INTERVAL_MIN
            and 1 <= rounds <= MAX_ROUNDS):
        raise ArcError(f"hiit needs --work within 0–{MAX_INTERVAL_MIN:g} min (not 0), --rest "
                       f"within 0–{MAX_INTERVAL_MIN:g} min and --rounds within 1–{MAX_ROUNDS}")
    rounds = int(rounds)
    if 10.0 + rounds * (work + rest) > MAX_MINUTES:
        raise ArcError(f"hiit of {rounds} rounds × ({work:g} + {rest:g}) min lasts "
                       f"{10.0 + rounds * (work + rest):g} min; at most {MAX_MINUTES:g}")
    segs = [_seg("warm-up", 0.5, (126.0, 140.0), (4.0, 6.5), style=BUILD)]
    for r in range(1, rounds + 1):
        segs.append(Segment(f"work {r}", bpm=(150.0, 150.0), energy=(9.0, 9.0),
                            minutes=float(work), style=ANTHEM, peak=True, round=r))
        if rest > 0:
            segs.append(Segment(f"rest {r}", bpm=(140.0, 140.0), energy=(4.5, 4.5),
                                minutes=float(rest), style=ATMOS, round=r))
    segs.append(_seg("cool-down", 0.5, (136.0, 112.0), (4.5, 3.0), style=ATMOS))
    return Arc("hiit", segs, description=f"{rounds} rounds of {work:g} min work / {rest:g} "
               "min rest between a warm-up and a cool-down",
               minutes=10.0 + rounds * (work + rest), style_max={"heavy": 0.5}, excerpts=True)


# Boxing formats: (rounds, work minutes, rest minutes).
BOXING_PRESETS = {
    "amateur": (3, 3.0, 1.0),         # amateur (elite men and women): 3 × 3 min, 1 min rest
    "pro": (12, 3.0, 1.0),            # professional title fight: 12 × 3 min
    "pro-women": (10, 2.0, 1.0),      # women's professional title fight: 10 × 2 min
    "pro-8": (8, 3.0, 1.0),           # an eight-rounder
}
BOXING_WARM_MIN = 5.0               # boxing warm-up and cool-down, minutes each


def rounds_arc(name: str, rounds: int, work: float, rest: float, warm: float,
               work_bpm: float, rest_bpm: float, description: str) -> Arc:
    """Warm-up, ``rounds`` × work (a peak: a drop or a cut on its first beat), a rest
    between rounds (none after the last), cool-down; intervals in minutes."""
    if not (0 < work <= MAX_INTERVAL_MIN and 0 <= rest <= MAX_INTERVAL_MIN
            and 1 <= rounds <= MAX_ROUNDS):
        raise ArcError(f"{name} needs --work within 0–{MAX_INTERVAL_MIN:g} min (not 0), --rest "
                       f"within 0–{MAX_INTERVAL_MIN:g} min and --rounds within 1–{MAX_ROUNDS}")
    rounds = int(rounds)
    total = 2 * warm + rounds * work + (rounds - 1) * rest
    if total > MAX_MINUTES:
        raise ArcError(f"{name} of {rounds} rounds × ({work:g} + {rest:g}) min lasts "
                       f"{total:g} min; at most {MAX_MINUTES:g}")
    segs = [_seg("warm-up", 0.5, (work_bpm - 24.0, work_bpm - 10.0), (4.0, 6.5), style=BUILD)]
    for r in range(1, rounds + 1):
        segs.append(Segment(f"round {r}", bpm=(work_bpm, work_bpm), energy=(9.0, 9.0),
                            minutes=float(work), style=ANTHEM, peak=True, round=r))
        if rest > 0 and r < rounds:
            segs.append(Segment(f"rest {r}", bpm=(rest_bpm, rest_bpm), energy=(4.5, 4.5),
                                minutes=float(rest), style=ATMOS, round=r))
    segs.append(_seg("cool-down", 0.5, (rest_bpm - 4.0, work_bpm - 38.0), (4.5, 3.0),
                     style=ATMOS))
    return Arc(name, segs, description=description, minutes=total,
               style_max={"heavy": 0.5}, excerpts=True)


def boxing_preset(arc: str, preset: str, rounds: int | None, work: float | None,
                  rest: float | None) -> tuple[int, float, float]:
    """(rounds, work, rest) of a boxing ``preset``, each one given overriding it."""
    if arc != "boxing":
        raise ArcError(f"--preset is for --arc boxing (presets: {', '.join(BOXING_PRESETS)})")
    if preset not in BOXING_PRESETS:
        near = difflib.get_close_matches(preset, BOXING_PRESETS, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ArcError(f"unknown boxing preset {preset!r}{hint}; presets: "
                       f"{', '.join(BOXING_PRESETS)}")
    r0, w0, s0 = BOXING_PRESETS[preset]
    return (rounds if rounds is not None else r0, work if work is not None else w0,
            rest if rest is not None else s0)


def boxing(preset: str | None = None, work: float | None = None, rest: float | None = None,
           rounds: int | None = None) -> Arc:
    """A boxing session: a preset format (``BOXING_PRESETS``; default amateur), any of whose
    numbers --work/--rest/--rounds override; 5 min warm-up and cool-down."""
    r, w, s = boxing_preset("boxing", preset or "amateur", rounds, work, rest)
    key = next((k for k, v in BOXING_PRESETS.items() if v == (r, w, s)), "custom")
    return rounds_arc("boxing", r, w, s, BOXING_WARM_MIN, 150.0, 140.0,
                      f"boxing ({key}): "
                      f"{r} rounds of {w:g} min, {s:g} min rest between them, "
                      "warm-up and cool-down")


def tabata(rounds: int | None = None, work: float | None = None,
           rest: float | None = None) -> Arc:
    """Tabata: 8 × (20 s all-out, 10 s rest) between a 4-minute warm-up and cool-down."""
    r = 8 if rounds is None else rounds
    w = 20.0 / 60.0 if work is None else work
    s = 10.0 / 60.0 if rest is None else rest
    return rounds_arc("tabata", r, w, s, 4.0, 160.0, 140.0,
                      f"tabata: {r} × ({w * 60:g} s work, {s * 60:g} s rest) between a "
                      "warm-up and a cool-down")


def run(cadence: float = 160.0) -> Arc:
    """Steady at ``cadence`` steps per minute; a track fits at the cadence or half of it.
    The first tenth of the session (4.5 min of 45) is a warm-up ramp from 85 % of the
    cadence and energy 5.5 up to the cadence and energy 7."""
    if not BPM_RANGE[0] <= cadence <= BPM_RANGE[1]:  # NaN fails too
        raise ArcError(f"--cadence {cadence:g} is outside {BPM_RANGE[0]:g}–{BPM_RANGE[1]:g}")
    c = float(cadence)
    return Arc("run", [
        _seg("warm-up", 0.1, (max(BPM_RANGE[0], round(0.85 * c, 1)), c), (5.5, 7.0),
             tolerance_pct=4.0),
        _seg("steady", 0.9, c, 7.0, tolerance_pct=4.0),
    ], description=f"a warm-up ramp to {c:g} steps per minute, then steady there "
                   f"(tracks at {c:g} or {c / 2:g} BPM)")


def lift() -> Arc:
    """Strength work: heavy, driving, mid-tempo; tempo matters less than weight."""
    return Arc("lift", [
        _seg("warm-up sets", 0.15, (100.0, 112.0), (5.0, 7.0), tolerance_pct=10.0,
             style=BUILD),
        _seg("working sets", 0.7, 120.0, 8.5, tolerance_pct=12.0, style=ANTHEM, peak=True),
        _seg("back-off", 0.15, (116.0, 100.0), (7.0, 5.0), tolerance_pct=10.0, style=BUILD),
    ], description="heavy, driving tracks at a mid tempo", style_min={"heavy": 0.3})


def warmup() -> Arc:
    return Arc("warmup", [
        _seg("warm-up", 1.0, (100.0, 130.0), (3.0, 7.0), style=BUILD),
    ], description="a steady ramp from 100 to 130 BPM and from calm to lively", minutes=10.0)


def cooldown() -> Arc:
    return Arc("cooldown", [
        _seg("cool-down", 1.0, (120.0, 80.0), (6.0, 2.0), style=ATMOS),
    ], description="down from 120 to 80 BPM, energy fading, atmospheric", minutes=10.0)


BUILTIN = {"montage": montage, "hiit": hiit, "boxing": boxing, "tabata": tabata, "run": run,
           "lift": lift, "warmup": warmup, "cooldown": cooldown}


def load_arc(spec: str, *, cadence: float | None = None, work: float | None = None,
             rest: float | None = None, rounds: int | None = None,
             preset: str | None = None) -> Arc:
    """A built-in arc by name (with its parameters) or a user arc from a TOML file."""
    if spec.endswith(".toml") or os.sep in spec or os.path.isfile(spec):
        return load_toml(spec)
    if spec not in BUILTIN:
        near = difflib.get_close_matches(spec, BUILTIN, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ArcError(f"unknown arc {spec!r}{hint}; built-in arcs: {', '.join(BUILTIN)}, "
                       "or a .toml file")
    if spec == "run":
        return run(cadence if cadence is not None else 160.0)
    if spec == "hiit":
        kw = {k: v for k, v in (("work", work), ("rest", rest), ("rounds", rounds))
              if v is not None}
        return hiit(**kw)
    if spec == "boxing":
        return boxing(preset, work=work, rest=rest, rounds=rounds)
    if preset is not None:
        raise ArcError(f"--preset is for the boxing arc (presets: {', '.join(BOXING_PRESETS)})")
    if spec == "tabata":
        return tabata(rounds=rounds, work=work, rest=rest)
    return BUILTIN[spec]()


# ---------------------------------------------------------------- TOML

_TOP_KEYS = {"name", "description", "minutes", "style_min", "style_max", "segment",
             "track_minutes", "excerpts"}
_SEG_KEYS = {"name", "minutes", "share", "bpm", "tolerance", "half_double", "energy", "style",
             "style_min", "style_max", "peak", "round"}


class _Where:
    """Finds the line of a key in the TOML text (tomllib keeps no positions)."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.lines = text.splitlines()
        self.seg_lines = [i for i, ln in enumerate(self.lines)
                          if re.match(r"\s*\[\[\s*segment\s*\]\]", ln)]

    def line(self, key: str, seg: int | None = None) -> int | None:
        lo, hi = 0, len(self.lines)
        if seg is not None and seg < len(self.seg_lines):
            lo = self.seg_lines[seg]
            hi = self.seg_lines[seg + 1] if seg + 1 < len(self.seg_lines) else hi
        elif seg is None and self.seg_lines:
            hi = self.seg_lines[0]
        leaf = key.split(".")[-1]
        pat = re.compile(rf"^\s*(\[\s*{re.escape(leaf)}\s*\]|\"?{re.escape(leaf)}\"?\s*=)|"
                         rf"[{{,]\s*\"?{re.escape(leaf)}\"?\s*=")
        ranges = [range(lo, hi)] + ([range(hi, len(self.lines))] if seg is None else [])
        for rng in ranges:
            for i in rng:
                if pat.search(self.lines[i].split("#", 1)[0]):
                    return i + 1
        return lo + 1 if seg is not None else None

    def fail(self, msg: str, key: str, seg: int | None = None) -> ArcError:
        ln = self.line(key, seg)
        where = f"{self.path}:{ln}" if ln else self.path
        ctx = f"segment {seg + 1}: " if seg is not None else ""
        return ArcError(f"{where}: {ctx}{msg}")


def _q(v, n: int = 60) -> str:
    """repr() of a user's value, cut for a one-line message."""
    r = repr(v)
    return r if len(r) <= n else r[:n] + "…"


def _nesting(text: str) -> int:
    """The deepest nesting of [ and { outside strings and comments, or of a dotted key
    (a.b.c), by one linear scan. tomllib recurses once per bracket level and takes time
    and memory quadratic in a key's dots: this keeps a hostile file from either."""
    depth = deepest = dots = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == ".":
            dots += 1  # dots since the last structural character: a dotted key's depth
            deepest = max(deepest, dots)
        elif c in "=,\n[]{}":
            dots = 0
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c in "\"'":
            if text.startswith(c * 3, i):
                j = text.find(c * 3, i + 3)
                i = n if j < 0 else j + 3
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if c == '"' and text[j] == "\\" else 1
            i = j + 1
            continue
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
        i += 1
    return deepest


def _hint(key: str, allowed) -> str:
    near = difflib.get_close_matches(key, sorted(allowed), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _number(w: _Where, v, key: str, seg: int | None) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or \
            (isinstance(v, int) and abs(v) > 10**15) or not math.isfinite(v):
        raise w.fail(f"'{key}' must be a number (got {_q(v)})", key, seg)
    return float(v)


def _string(w: _Where, v, key: str, seg: int | None) -> str:
    if not isinstance(v, str):
        raise w.fail(f"'{key}' must be a string (got {_q(v)})", key, seg)
    return v


def _pair(w: _Where, v, key: str, seg: int, lo: float, hi: float, unit: str):
    vals = v if isinstance(v, list) else [v]
    if len(vals) not in (1, 2):
        raise w.fail(f"'{key}' must be a number or [start, end] (got {_q(v)})", key, seg)
    nums = [_number(w, x, key, seg) for x in vals]
    for x in nums:
        if not lo <= x <= hi:
            raise w.fail(f"'{key}' = {x:g} is impossible: {unit} must be within "
                         f"{lo:g}–{hi:g}", key, seg)
    return (nums[0], nums[-1])


def _styles(w: _Where, v, key: str, seg: int | None, bounds: bool) -> dict[str, float]:
    if not isinstance(v, dict):
        raise w.fail(f"'{key}' must be a table like {{ heavy = 0.4 }}", key, seg)
    out = {}
    for name, x in v.items():
        if name not in KNOWN_STYLES:
            raise w.fail(f"unknown style {_q(name)} in '{key}'{_hint(name, KNOWN_STYLES)}; "
                         f"styles: {', '.join(KNOWN_STYLES)}", name, seg)
        x = _number(w, x, f"{key}.{name}", seg)
        if x < 0 or (bounds and x > 1):
            raise w.fail(f"'{key}.{name}' = {x:g} must be "
                         f"{'a share within 0–1' if bounds else '>= 0'}", name, seg)
        out[name] = x
    return out


def parse_toml(text: str, path: str = "<arc>") -> Arc:
    """Build an Arc from TOML text; errors name the file, the line and the key."""
    if len(text) > MAX_ARC_BYTES:
        raise ArcError(f"{path}: {len(text):,} characters; an arc file is at most "
                       f"{MAX_ARC_BYTES:,}")
    if _nesting(text) > MAX_NESTING:
        raise ArcError(f"{path}: brackets or dotted keys nested more than {MAX_NESTING} "
                       "deep")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ArcError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ArcError(f"{path}: not valid TOML: nested too deeply") from None
    w = _Where(path, text)
    for k in data:
        if k not in _TOP_KEYS:
            raise w.fail(f"unknown key {_q(k)}{_hint(k, _TOP_KEYS)}", k)
    segs_raw = data.get("segment")
    if not isinstance(segs_raw, list) or not segs_raw:
        raise ArcError(f"{path}: an arc needs at least one [[segment]]")
    if len(segs_raw) > MAX_SEGMENTS:
        raise w.fail(f"{len(segs_raw):,} segments; an arc has at most {MAX_SEGMENTS}",
                     "segment")
    segments = []
    for i, s in enumerate(segs_raw):
        if not isinstance(s, dict):
            raise w.fail(f"'segment' must be tables ([[segment]] with keys), got {_q(s)}",
                         "segment", i)
        for k in s:
            if k not in _SEG_KEYS:
                raise w.fail(f"unknown key {_q(k)}{_hint(k, _SEG_KEYS)}", k, i)
        name = _string(w, s.get("name", f"segment {i + 1}"), "name", i)
        minutes = share = None
        if "minutes" in s and "share" in s:
            raise w.fail("give 'minutes' or 'share', not both", "share", i)
        if "minutes" in s:
            minutes = _number(w, s["minutes"], "minutes", i)
            if not 0 < minutes <= MAX_MINUTES:
                raise w.fail(f"'minutes' = {minutes:g}: a duration must be positive and at "
                             f"most {MAX_MINUTES:g}", "minutes", i)
        elif "share" in s:
            share = _number(w, s["share"], "share", i)
            if not SHARE_RANGE[0] <= share <= SHARE_RANGE[1]:
                raise w.fail(f"'share' = {share:g}: must be within {SHARE_RANGE[0]:g}–"
                             f"{SHARE_RANGE[1]:g} (shares are relative to each other)",
                             "share", i)
        else:
            raise w.fail("needs 'minutes' or 'share'", "name", i)
        if "bpm" not in s:
            raise w.fail("needs 'bpm' (a number or [start, end])", "name", i)
        bpm = _pair(w, s["bpm"], "bpm", i, *BPM_RANGE, "BPM")
        energy = _pair(w, s.get("energy", 5.0), "energy", i, *ENERGY_RANGE, "energy level")
        tol = _number(w, s.get("tolerance", DEFAULT_TOLERANCE_PCT), "tolerance", i)
        if not 0.5 <= tol <= 50:
            raise w.fail(f"'tolerance' = {tol:g} %: must be within 0.5–50", "tolerance", i)
        for k in ("half_double", "peak"):
            if k in s and not isinstance(s[k], bool):
                raise w.fail(f"'{k}' must be true or false (got {s[k]!r})", k, i)
        rnd = s.get("round", 0)
        if isinstance(rnd, bool) or not isinstance(rnd, int) or not 0 <= rnd <= MAX_ROUNDS:
            raise w.fail(f"'round' must be a whole number within 0–{MAX_ROUNDS} "
                         f"(got {_q(rnd)})", "round", i)
        segments.append(Segment(
            name=name, bpm=bpm, energy=energy, minutes=minutes, share=share,
            tolerance_pct=tol, half_double=s.get("half_double", True),
            style=_styles(w, s.get("style", {}), "style", i, False),
            style_min=_styles(w, s.get("style_min", {}), "style_min", i, True),
            style_max=_styles(w, s.get("style_max", {}), "style_max", i, True),
            peak=s.get("peak", False), round=rnd))
    total_min = data.get("minutes")
    if total_min is not None:
        total_min = _number(w, total_min, "minutes", None)
        if not 0 < total_min <= MAX_MINUTES:
            raise w.fail(f"'minutes' = {total_min:g}: a session must be positive and at most "
                         f"{MAX_MINUTES:g}", "minutes")
    else:
        fixed = sum(s.minutes or 0 for s in segments)
        total_min = fixed if all(s.minutes for s in segments) else max(DEFAULT_MINUTES,
                                                                          fixed + 10)
    if total_min > MAX_MINUTES:
        raise w.fail(f"the fixed segments last {total_min:g} minutes; a session is at most "
                     f"{MAX_MINUTES:g}", "minutes")
    arc_name = data.get("name", os.path.splitext(os.path.basename(path))[0])
    arc = Arc(name=_string(w, arc_name, "name", None),
              segments=segments,
              description=_string(w, data.get("description", ""), "description", None),
              minutes=total_min,
              style_min=_styles(w, data.get("style_min", {}), "style_min", None, True),
              style_max=_styles(w, data.get("style_max", {}), "style_max", None, True))
    if "track_minutes" in data:
        tm = _pair(w, data["track_minutes"], "track_minutes", None, 0.1, 120.0, "minutes")
        if tm[0] > tm[1]:
            raise w.fail(f"'track_minutes' = [{tm[0]:g}, {tm[1]:g}]: min above max",
                         "track_minutes")
        arc.track_minutes = tm
    if "excerpts" in data:
        if not isinstance(data["excerpts"], bool):
            raise w.fail(f"'excerpts' must be true or false (got {_q(data['excerpts'])})",
                         "excerpts")
        arc.excerpts = data["excerpts"]
    for bounds_lo, bounds_hi, where in [(arc.style_min, arc.style_max, None)] + [
            (s.style_min, s.style_max, i) for i, s in enumerate(segments)]:
        for k, lo in bounds_lo.items():
            if k in bounds_hi and lo > bounds_hi[k]:
                raise w.fail(f"style_min.{k} = {lo:g} is above style_max.{k} = "
                             f"{bounds_hi[k]:g}", k, where)
    return arc


def load_toml(path: str | os.PathLike) -> Arc:
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_ARC_BYTES + 1)
    except OSError as exc:
        raise ArcError(f"{p}: cannot read arc: {exc.strerror or exc}") from None
    if len(data) > MAX_ARC_BYTES:
        raise ArcError(f"{p}: larger than {MAX_ARC_BYTES // 1000} KB; an arc file is at most "
                       "that")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ArcError(f"{p}: not UTF-8 text") from None
    return parse_toml(text, p)


def arc_to_toml(arc: Arc) -> str:
    """The TOML text of ``arc`` (loads back to the same arc)."""
    def val(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):  # 4 decimals unless that changes it (20 s = 1/3 min)
            r = round(v, 4)
            return repr(r if abs(r - v) <= 1e-9 * max(1.0, abs(v)) else v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, tuple):
            return val(v[0]) if v[0] == v[1] else f"[{val(v[0])}, {val(v[1])}]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(float(x))}" for k, x in v.items()) + " }"
        return repr(v)

    out = [f"name = {val(arc.name)}", f"description = {val(arc.description)}",
           f"minutes = {val(float(arc.minutes))}"]
    for k in ("style_min", "style_max"):
        if getattr(arc, k):
            out.append(f"{k} = {val(getattr(arc, k))}")
    if arc.track_minutes is not None:
        out.append(f"track_minutes = [{val(float(arc.track_minutes[0]))}, "
                   f"{val(float(arc.track_minutes[1]))}]")
    if arc.excerpts:
        out.append("excerpts = true")
    for s in arc.segments:
        out += ["", "[[segment]]", f"name = {val(s.name)}"]
        out.append(f"minutes = {val(float(s.minutes))}" if s.minutes is not None
                   else f"share = {val(float(s.share))}")
        out += [f"bpm = {val(s.bpm)}", f"energy = {val(s.energy)}",
                f"tolerance = {val(float(s.tolerance_pct))}",
                f"half_double = {val(s.half_double)}", f"peak = {val(s.peak)}"]
        if s.round:
            out.append(f"round = {int(s.round)}")
        for k in ("style", "style_min", "style_max"):
            if getattr(s, k):
                out.append(f"{k} = {val(getattr(s, k))}")
    return "\n".join(out) + "\n"
