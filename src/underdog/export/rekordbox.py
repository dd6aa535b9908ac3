"""rekordbox XML: a plan as a collection and a playlist that rekordbox imports (and that
Mixxx, Serato and djay converters read), with each track's beat grid and cues at the
excerpt's in, drop and out points. :func:`read_rekordbox` reads such a file back.

The structure is described in ``docs/export.md``. In short::

    DJ_PLAYLISTS Version="1.0.0"
      PRODUCT Name Version Company
      COLLECTION Entries=n
        TRACK TrackID Name Artist Album Kind Size TotalTime AverageBpm Tonality Location
          TEMPO Inizio Bpm Metro Battito        (one per stretch of steady tempo)
          POSITION_MARK Name Type Start Num     (Type 0: cue; Num -1 memory, 0.. hot cue)
      PLAYLISTS
        NODE Type=0 Name=ROOT Count=1
          NODE Type=1 Name KeyType=0 Entries=m
            TRACK Key=TrackID                   (plan order; a repeated file repeats)

Text fields are made valid XML 1.0: undecodable bytes of a name become U+FFFD and
control characters a space; markup is escaped by the serializer. ``Location`` is the
``file://localhost`` URI of the file's exact bytes, percent-encoded, so a name that is not
UTF-8 reads back byte for byte.
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import PlaylistError
from ..fileio import display_text, write_atomic
from ..theory import fold_octaves, try_parse_key
from .playlists import excerpt_span, file_uri, read_capped

GRID_TOLERANCE_S = 0.02  # a TEMPO marker holds while the grid stays this close to the beats
BPM_DECIMALS = 2         # as rekordbox writes AverageBpm and Bpm
TIME_DECIMALS = 3        # Inizio, Start: milliseconds
MEMORY_CUE = -1          # Num of a memory cue; 0, 1, 2 ... are hot cues A, B, C ...
HOT_CUES = 8             # rekordbox pads A..H
CUE = 0                  # Type of a plain cue point (1 fade-in, 2 fade-out, 3 load, 4 loop)
KINDS = {".mp3": "MP3 File", ".m4a": "M4A File", ".mp4": "M4A File", ".aac": "AAC File",
         ".wav": "WAV File", ".aif": "AIFF File", ".aiff": "AIFF File", ".flac": "FLAC File",
         ".ogg": "OGG File", ".opus": "OPUS File"}
_NOT_XML = re.compile("[\x00-\x1f\x7f\ufffe\uffff]")  # C0 controls (tab, LF, CR included)
Grid = Callable[[Any], "tuple[np.ndarray, np.ndarray] | None"]


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class Tempo:
    """One ``TEMPO`` marker: from ``inizio_s`` on, beats every 60/``bpm`` s in ``metro``
    time; the beat at ``inizio_s`` is beat ``battito`` (1 = the downbeat) of its bar."""

    inizio_s: float
    bpm: float
    metro: str = "4/4"
    battito: int = 1


@dataclass(frozen=True)
class Mark:
    """One ``POSITION_MARK``: a cue at ``start_s`` (track seconds)."""

    name: str
    start_s: float
    num: int = MEMORY_CUE
    type: int = CUE


@dataclass
class RbTrack:
    """One ``COLLECTION/TRACK``."""

    track_id: int
    path: str
    name: str | None = None
    artist: str | None = None
    album: str | None = None
    kind: str | None = None
    size: int | None = None
    total_time_s: int | None = None
    bpm: float | None = None
    tonality: str | None = None
    tempos: list[Tempo] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


@dataclass
class RbPlaylist:
    """One playlist ``NODE`` (Type 1): its folder path below ROOT and its TrackIDs in order."""

    name: str
    folder: tuple[str, ...]
    track_ids: list[int]


@dataclass
class RbDocument:
    tracks: list[RbTrack]
    playlists: list[RbPlaylist]
    product: dict[str, str] = field(default_factory=dict)

    def track(self, track_id: int) -> RbTrack:
        return next(t for t in self.tracks if t.track_id == track_id)


# ---------------------------------------------------------------- the beat grid


def beats_in_bar(beats: np.ndarray, downbeats: np.ndarray,
                 match_s: float = 0.07) -> tuple[np.ndarray, int]:
    """(the number of each beat in its bar, 1 = a downbeat; beats per bar) from beat and
    downbeat times (seconds). Beats per bar is the commonest count between downbeats (4 when
    there are none); beats before the first downbeat count back from it."""
    b = np.asarray(beats, np.float64)
    d = np.asarray(downbeats, np.float64)
    n = len(b)
    if n == 0:
        return np.zeros(0, np.int64), 4
    idx = np.empty(0, np.int64)
    if len(d):
        near = np.clip(np.searchsorted(b, d), 1, max(n - 1, 1))
        cand = np.where(np.abs(b[near - 1] - d) <= np.abs(b[np.minimum(near, n - 1)] - d),
                        near - 1, np.minimum(near, n - 1))
        ok = np.abs(b[cand] - d) <= match_s
        idx = np.unique(cand[ok])
    gaps = np.diff(idx)
    gaps = gaps[(gaps >= 2) & (gaps <= 12)]
    meter = int(np.bincount(gaps).argmax()) if len(gaps) else 4
    if len(idx) == 0:
        return np.arange(n) % meter + 1, meter
    last = np.searchsorted(idx, np.arange(n), side="right") - 1  # latest downbeat <= beat
    since = np.where(last >= 0, np.arange(n) - idx[np.maximum(last, 0)], np.arange(n) - idx[0])
    return np.mod(since, meter) + 1, meter


def tempo_markers(beats: np.ndarray, downbeats: np.ndarray | None = None,
                  tol_s: float = GRID_TOLERANCE_S) -> list[Tempo]:
    """The fewest ``TEMPO`` markers whose grid (as written: BPM to 2 decimals, times to
    milliseconds) stays within ``tol_s`` of every beat (seconds) and puts each downbeat on
    beat 1. A steady track gets one marker; a drifting one a marker where the drift
    exceeds ``tol_s``, or where a bar is not ``meter`` beats long."""
    b = np.asarray(beats, np.float64)
    b = b[np.isfinite(b)]
    if len(b) < 2:
        return []
    num, meter = beats_in_bar(b, np.zeros(0) if downbeats is None else downbeats)
    fit_tol = tol_s - 0.002  # room for the 1 ms handover below
    out: list[Tempo] = []
    a, start = 0, None
    while a < len(b) - 1:
        # A bar of another length ends the marker on the beat where the next one restarts
        # the count (that beat is the next marker's first).
        off = np.nonzero(num[a:] != (num[a] - 1 + np.arange(len(b) - a)) % meter + 1)[0]
        cap = a + int(off[0]) if len(off) else len(b) - 1
        end, best = a + 1, _fit(b, a, a + 1, start)
        step, hi = 1, None
        while end < cap:  # gallop forward, then bisect back to the last beat that fits
            j = min(end + step, cap) if hi is None else (end + hi) // 2
            if j <= end:
                break
            cand = _fit(b, a, j, start)
            if cand is not None and _misfit(b, a, j, cand) <= fit_tol:
                end, best = j, cand
                step *= 2
            else:
                hi = j
                if hi - end <= 1:
                    break
        if best is not None:  # None: two beats at one time
            out.append(Tempo(best[0], best[1], f"{meter}/4", int(num[a])))
        prev_a, a = a, end
        # The next marker starts 1 ms before this grid's beat there, so that this grid
        # ends one beat earlier and no reader sees that beat twice (unless the music
        # jumped: then where the beat is).
        start = None
        if best is not None and a < len(b) - 1:
            here = best[0] + (a - prev_a) * 60.0 / best[1]
            s = math.floor((here - 0.001) * 10 ** TIME_DECIMALS) / 10 ** TIME_DECIMALS
            start = s if abs(s - b[a]) <= tol_s else None
    return out


def _fit(b: np.ndarray, a: int, j: int,
         start: float | None = None) -> tuple[float, float] | None:
    """(start s, BPM) of the least-squares steady grid through beats a..j (from ``start``
    when given), as written (milliseconds, 2-decimal BPM); None when the beats do not
    advance."""
    y = b[a:j + 1]
    k = np.arange(len(y), dtype=np.float64)
    if start is not None:
        period = float(k @ (y - start) / (k @ k))
        return (start, _bpm_of(period)) if period > 0 else None
    kc = k - k.mean()
    period = float(kc @ (y - y.mean()) / (kc @ kc))
    if not period > 0:
        return None
    return round(float(y.mean() - period * k.mean()), TIME_DECIMALS), _bpm_of(period)


def _misfit(b: np.ndarray, a: int, j: int, fit: tuple[float, float]) -> float:
    k = np.arange(j - a + 1)
    return float(np.max(np.abs(fit[0] + k * 60.0 / fit[1] - b[a:j + 1])))


def _bpm_of(period_s: float) -> float:
    return round(60.0 / float(period_s), BPM_DECIMALS)


def grid_beats(tempos: list[Tempo], until_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(beat times, number in bar) that a list of ``TEMPO`` markers lays out up to
    ``until_s`` (seconds); each marker holds until the next one's ``Inizio`` (its beats
    fall before it)."""
    times: list[np.ndarray] = []
    nums: list[np.ndarray] = []
    for i, t in enumerate(tempos):
        nxt = tempos[i + 1].inizio_s if i + 1 < len(tempos) else math.inf
        stop = min(nxt, until_s + 1e-9)
        if t.bpm <= 0 or stop <= t.inizio_s:
            continue
        meter = _meter(t.metro)
        k = np.arange(int(math.ceil((stop - t.inizio_s) * t.bpm / 60.0)) + 1)
        at = t.inizio_s + k * 60.0 / t.bpm
        keep = (at < nxt) & (at <= until_s)
        times.append(at[keep])
        nums.append(((t.battito - 1 + k) % meter + 1)[keep])
    if not times:
        return np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate(times), np.concatenate(nums)


def _meter(metro: str) -> int:
    try:
        return max(1, int(str(metro).split("/")[0]))
    except ValueError:
        return 4


# ---------------------------------------------------------------- writing


def _attr(v: Any) -> str:
    """Text made safe for an XML 1.0 attribute on one line."""
    return " ".join(_NOT_XML.sub(" ", display_text(str(v))).split())


def _num(x: float, nd: int) -> str:
    return f"{x:.{nd}f}"


def _from(entry: Any, name: str) -> Any:
    """``name`` of an entry, or of its ``.track`` (a plan entry) when it has none."""
    for obj in (entry, _plain(entry, "track")):
        v = _plain(obj, name)
        if v is not None:
            return v
    return None


def _plain(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def location(path: str | os.PathLike) -> str:
    """``file://localhost/...``: the absolute path's bytes, percent-encoded."""
    return "file://localhost" + file_uri(path)[len("file://"):]


def path_of_location(loc: str) -> str:
    """The local path of a ``Location`` (``file://localhost/...`` or ``file:///...``),
    undecodable bytes as surrogate escapes (``os.fsdecode``)."""
    parts = urllib.parse.urlsplit(loc)
    if parts.scheme.lower() != "file" or parts.netloc.lower() not in ("", "localhost"):
        raise ValueError(f"not a local file URI: {loc!r}")
    raw = urllib.parse.unquote_to_bytes(parts.path)
    if re.match(rb"^/[A-Za-z]:/", raw):  # file://localhost/C:/... on Windows
        raw = raw[1:]
    return os.fsdecode(raw)


def _drop_track_s(entry: Any, span: tuple[float, float] | None) -> float | None:
    """Track time of the drop an entry plays: ``drop_on_peak_s`` (track time) when it lies
    in the excerpt, else the stored drop whose session time lands nearest the plan's
    ``drop_at_s`` (mapped through the playing tempo), else that mapped time."""
    on_peak = _float(_plain(entry, "drop_on_peak_s"))  # track time, when it lands on a peak
    if span is None or (on_peak is not None and span[0] <= on_peak <= span[1]):
        return on_peak
    at = _float(_plain(entry, "drop_at_s"))
    start = _float(_plain(entry, "start_s"))
    if at is None or start is None:
        return None
    rate = 1.0
    bpm, play = _float(_from(entry, "bpm")), _float(_plain(entry, "tempo_bpm"))
    if (bpm or 0) > 0 and (play or 0) > 0:
        # the tempo may be given in the other octave: the rate nearest 1 by octaves
        rate = 2.0 ** float(fold_octaves(math.log2(play / bpm), 0.0))
    mapped = span[0] + (at - start) * rate
    drops = [_float(d.get("time_s")) for d in (_from(entry, "drops") or [])
             if isinstance(d, Mapping)]
    inside = [d for d in drops if d is not None and span[0] <= d <= span[1]]
    if inside:
        best = min(inside, key=lambda d: abs(d - mapped))
        if abs(best - mapped) <= 2.0:
            return best
    return mapped if span[0] <= mapped <= span[1] else None


def rekordbox_xml(entries: Iterable[Any], title: str = "underdog",
                  grid: Grid | None = None) -> str:
    """The rekordbox XML of a plan's entries (or any objects with ``.path``; see the
    module docstring). ``grid(entry)`` gives the track's (beats, downbeats) in seconds,
    or None; without it no ``TEMPO`` is written and rekordbox analyses the file."""
    from .. import __version__

    root = ET.Element("DJ_PLAYLISTS", Version="1.0.0")
    ET.SubElement(root, "PRODUCT", Name="underdog", Version=__version__, Company="underdog")
    coll = ET.SubElement(root, "COLLECTION")
    by_path: dict[str, tuple[ET.Element, int]] = {}
    hot: dict[str, int] = {}
    order: list[int] = []
    uses: Counter[int] = Counter()  # how often each track has come so far
    for e in entries:
        path = _plain(e, "path")
        if not path:
            continue
        path = os.fspath(path)
        if path not in by_path:
            tid = len(by_path) + 1
            by_path[path] = (_track_element(coll, e, path, tid, grid), tid)
        el, tid = by_path[path]
        order.append(tid)
        uses[tid] += 1
        span = excerpt_span(e)
        marks = [("in", span[0]), ("drop", _drop_track_s(e, span)), ("out", span[1])] \
            if span else [("drop", _drop_track_s(e, None))]
        n_use = uses[tid]
        for name, t in marks:
            if t is None:
                continue
            label = name if n_use == 1 else f"{name} {n_use}"
            for num in (MEMORY_CUE, hot.get(path, 0)):
                if num >= HOT_CUES:
                    continue
                ET.SubElement(el, "POSITION_MARK", Name=label, Type=str(CUE),
                              Start=_num(t, TIME_DECIMALS), Num=str(num))
                if num >= 0:
                    hot[path] = num + 1
    coll.set("Entries", str(len(by_path)))
    lists = ET.SubElement(root, "PLAYLISTS")
    folder = ET.SubElement(lists, "NODE", Type="0", Name="ROOT", Count="1")
    pl = ET.SubElement(folder, "NODE", Type="1", Name=_attr(title) or "underdog",
                       KeyType="0", Entries=str(len(order)))
    for tid in order:
        ET.SubElement(pl, "TRACK", Key=str(tid))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _track_element(coll: ET.Element, e: Any, path: str, tid: int,
                   grid: Grid | None) -> ET.Element:
    a: dict[str, str] = {"TrackID": str(tid)}
    title = _from(e, "title")
    a["Name"] = _attr(title) if title else _attr(os.path.splitext(os.path.basename(path))[0])
    for key, name in (("Artist", "artist"), ("Album", "album")):
        v = _from(e, name)
        if v:
            a[key] = _attr(v)
    a["Kind"] = KINDS.get(os.path.splitext(path)[1].lower(),
                          os.path.splitext(path)[1].lstrip(".").upper() + " File")
    try:
        a["Size"] = str(os.stat(path).st_size)
    except OSError:
        pass
    dur = _float(_from(e, "duration_s"))
    if dur is not None:
        a["TotalTime"] = str(int(round(dur)))
    bpm = _float(_from(e, "bpm"))
    if bpm:
        a["AverageBpm"] = _num(bpm, BPM_DECIMALS)
    k = try_parse_key(_from(e, "camelot")) or try_parse_key(_from(e, "key"))
    if k:
        a["Tonality"] = k.short
    a["Location"] = location(path)
    el = ET.SubElement(coll, "TRACK", a)
    got = grid(e) if grid else None
    if got is not None:
        for t in tempo_markers(*got):
            ET.SubElement(el, "TEMPO", Inizio=_num(t.inizio_s, TIME_DECIMALS),
                          Bpm=_num(t.bpm, BPM_DECIMALS), Metro=t.metro, Battito=str(t.battito))
    return el


def write_rekordbox(entries: Iterable[Any], out: str | os.PathLike, title: str = "underdog",
                    grid: Grid | None = None) -> None:
    """Write :func:`rekordbox_xml` to ``out`` atomically (UTF-8)."""
    write_atomic(out, rekordbox_xml(entries, title, grid))


# ---------------------------------------------------------------- reading


def read_rekordbox(path: str | os.PathLike) -> RbDocument:
    """The tracks (with grids and cues) and playlists of a rekordbox XML file."""
    p = os.fspath(path)
    data = read_capped(p)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise PlaylistError(p, f"not well-formed XML: {e}") from None
    if root.tag != "DJ_PLAYLISTS":
        raise PlaylistError(p, f"not a rekordbox XML file (root <{root.tag}>)")
    try:
        tracks = [_read_track(t) for t in root.iterfind("COLLECTION/TRACK")]
        lists: list[RbPlaylist] = []
        for top in root.iterfind("PLAYLISTS/NODE"):
            _read_node(top, (), lists)
    except (KeyError, ValueError) as e:
        raise PlaylistError(p, f"malformed rekordbox XML: {e}") from None
    product = dict(root.find("PRODUCT").attrib) if root.find("PRODUCT") is not None else {}
    return RbDocument(tracks, lists, product)


def _opt(a: Mapping[str, str], key: str, conv: Callable[[str], Any]) -> Any:
    v = a.get(key)
    return conv(v) if v not in (None, "") else None


def _read_track(el: ET.Element) -> RbTrack:
    a = el.attrib
    t = RbTrack(int(a["TrackID"]), path_of_location(a["Location"]), a.get("Name"),
                a.get("Artist"), a.get("Album"), a.get("Kind"), _opt(a, "Size", int),
                _opt(a, "TotalTime", lambda v: int(float(v))), _opt(a, "AverageBpm", float),
                a.get("Tonality"))
    for g in el.iterfind("TEMPO"):
        t.tempos.append(Tempo(float(g.get("Inizio")), float(g.get("Bpm")),
                              g.get("Metro", "4/4"), int(g.get("Battito", "1"))))
    for m in el.iterfind("POSITION_MARK"):
        t.marks.append(Mark(m.get("Name", ""), float(m.get("Start")), int(m.get("Num", "-1")),
                            int(m.get("Type", "0"))))
    return t


def _read_node(el: ET.Element, folder: tuple[str, ...], out: list[RbPlaylist]) -> None:
    name = el.get("Name", "")
    if el.get("Type") == "1":
        out.append(RbPlaylist(name, folder, [int(t.attrib["Key"]) for t in el.iterfind("TRACK")]))
        return
    for child in el.iterfind("NODE"):
        _read_node(child, folder + (name,), out)
