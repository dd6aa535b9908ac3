"""Library operations: scan, query tracks (filters, sort, paging), show one track,
list errors, prune."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from ..errors import NotFoundError, UsageError
from ..models import Track
from .common import DbPath, as_range, library, track_record, user_energy

if TYPE_CHECKING:  # the scanner (and the pipeline it imports) loads only for a scan
    from ..library.scan import ScanStats

# ---------------------------------------------------------------- scan


@dataclass
class ScanProgress:
    """One progress event of a scan.

    ``kind`` is "start" (once, after the walk: ``total_files`` found, ``to_analyze`` of
    them need decoding) or "file" (one file done: ``path`` and its ``outcome``, one of
    unchanged | moved | analyzed | failed, with ``reason`` when failed). The counters are
    running totals; ``audio_s`` is the audio analyzed so far (seconds), ``elapsed_s`` the
    wall time since the scan started."""

    kind: str
    total_files: int = 0
    to_analyze: int = 0
    done: int = 0
    analyzed: int = 0           # files decoded so far
    failed: int = 0
    audio_s: float = 0.0
    audio_to_analyze_s: float | None = None  # from the files' headers, once known
    elapsed_s: float = 0.0
    path: str | None = None
    outcome: str | None = None
    reason: str | None = None
    decoded: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


ProgressFn = Callable[[ScanProgress], None]


class _ProgressObserver:
    """A scan observer that reports :class:`ScanProgress` events to a callback, and
    forwards the raw hooks to another observer (the CLI's progress bar) if given."""

    def __init__(self, progress: ProgressFn | None, observer: Any = None):
        self.progress = progress
        self.observer = observer
        self.t0 = time.monotonic()
        self.state = ScanProgress("start")

    def start(self, total_files: int, to_analyze: int) -> None:
        s = self.state
        s.total_files, s.to_analyze = total_files, to_analyze
        if self.observer is not None:
            self.observer.start(total_files, to_analyze)
        self._emit("start")

    def audio_to_analyze(self, seconds: float) -> None:
        """The length of the audio still to analyze (read from file headers), seconds."""
        self.state.audio_to_analyze_s = seconds
        if hasattr(self.observer, "audio_to_analyze"):
            self.observer.audio_to_analyze(seconds)

    def advance(self, path: str, outcome: str, audio_s: float = 0.0,
                reason: str | None = None, decoded: bool = False) -> None:
        s = self.state
        s.done += 1
        s.analyzed += bool(decoded)
        s.failed += outcome == "failed"
        s.audio_s += audio_s
        s.path, s.outcome, s.reason, s.decoded = path, outcome, reason, decoded
        if self.observer is not None:
            self.observer.advance(path, outcome, audio_s, reason=reason, decoded=decoded)
        self._emit("file")

    def _emit(self, kind: str) -> None:
        if self.progress is not None:
            self.state.kind = kind
            self.state.elapsed_s = time.monotonic() - self.t0
            self.progress(ScanProgress(**self.state.__dict__))


@dataclass
class ScanResult:
    """What a scan did (``stats``: counts, failures, audio seconds, wall time) and the
    library it left: ``tracks`` analyzed tracks in the database at ``db_path``."""

    stats: ScanStats
    tracks: int
    db_path: str


class ScanInterrupted(KeyboardInterrupt):
    """A scan stopped by Ctrl-C or a signal; ``saved`` tracks are in the library (every
    finished file), ``signum`` the signal (2 for Ctrl-C)."""

    def __init__(self, saved: int, signum: int = 2):
        super().__init__(f"interrupted: {saved} tracks are saved")
        self.saved = saved
        self.signum = signum


@dataclass
class ScanJob:
    """A scan checked and ready (:func:`prepare_scan`): its paths, library and worker pool;
    :meth:`run` runs it."""

    paths: list[str]
    db: DbPath
    force: bool
    executor: Any

    def run(self, progress: ProgressFn | None = None, observer: Any = None) -> ScanResult:
        """Scan; ``progress`` gets a :class:`ScanProgress` at the start and per file (in the
        calling thread), ``observer`` the scanner's raw hooks (``start``, ``advance``,
        ``audio_to_analyze``). Raises LibraryError when the library cannot be written,
        :class:`ScanInterrupted` on Ctrl-C/SIGTERM/SIGHUP."""
        from ..library.executors import stop_on_signals
        from ..library.scan import scan as run_scan

        with library(self.db) as lib:
            obs = _ProgressObserver(progress, observer)
            try:
                with stop_on_signals():
                    stats = run_scan(self.paths, lib, executor=self.executor,
                                     force=self.force, observer=obs)
            except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (Interrupted)
                raise ScanInterrupted(lib.count(), getattr(exc, "signum", 2)) from exc
            return ScanResult(stats, lib.count(), lib.path)


def prepare_scan(paths: Iterable[str | os.PathLike], db: DbPath = None, *,
                 jobs: int | None = None, force: bool = False, engine: str = "local",
                 address: str | None = None, executor: Any = None) -> ScanJob:
    """Check a scan's arguments and build its worker pool, touching nothing: every path
    must exist (else UsageError); ``engine`` "local" (``jobs`` processes, default all
    cores, 0 in this process) or "ray" (at ``address``; an error if Ray is missing);
    ``executor`` replaces the pool."""
    from ..library.executors import make_executor

    paths = [os.fspath(p) for p in paths]
    for p in paths:
        if not os.path.exists(p):
            raise UsageError(f"{p}: no such file or folder")
    if address and engine != "ray":
        raise UsageError("--address needs --engine ray")
    if executor is None:
        executor = make_executor(jobs, engine, address)
    return ScanJob(paths, db, force, executor)


def scan(paths: Iterable[str | os.PathLike], db: DbPath = None, *, jobs: int | None = None,
         force: bool = False, engine: str = "local", address: str | None = None,
         progress: ProgressFn | None = None, observer: Any = None,
         executor: Any = None) -> ScanResult:
    """Scan folders or files into the library: new and changed files are analyzed, the
    rest kept (see :mod:`underdog.library.scan`); :func:`prepare_scan` then
    :meth:`ScanJob.run`."""
    return prepare_scan(paths, db, jobs=jobs, force=force, engine=engine, address=address,
                        executor=executor).run(progress, observer)


# ---------------------------------------------------------------- tracks


@dataclass
class TrackPage:
    """One page of a track query: ``tracks`` (at most ``limit``, from ``offset`` in the
    sorted result) and ``total``, the number of tracks matching the filters."""

    tracks: list[Track]
    total: int
    offset: int = 0
    limit: int | None = None

    def records(self) -> list[dict[str, Any]]:
        """The page's tracks as plain dicts (:func:`~underdog.app.common.track_record`)."""
        return [track_record(t) for t in self.tracks]


def query_tracks(db: DbPath = None, *, bpm: str | tuple | None = None,
                 energy: str | tuple | None = None, style: str | None = None,
                 key: str | None = None, artist: str | None = None, sort: str | None = None,
                 offset: int = 0, limit: int | None = None, include_failed: bool = False,
                 include_missing: bool = False, count: bool = True,
                 drops: bool | None = None, search: str | None = None) -> TrackPage:
    """Library tracks matching every filter, sorted, one page of them.

    ``bpm`` and ``energy`` are ranges, as text ("120-140", "7-", "-10") or (lo, hi)
    pairs; ``energy`` is the users' level 1–10. ``key``: a Camelot code or key name;
    ``artist``: a case-insensitive substring; ``sort``: one of
    :data:`underdog.library.db.SORT_KEYS`, "-" prefix for descending. ``count=False``
    skips the total count (``total`` is then the page's length). ``drops``: True for the
    tracks with a drop, False for those without; ``search``: a case-insensitive substring
    of the artist, the title or the album. The query and the count
    run in SQL, so a page of a 100,000-track library costs one page. Raises UsageError
    for a malformed range or an unknown sort key."""
    filters = dict(bpm=as_range(bpm, "BPM"), level=as_range(energy, "energy"), style=style,
                   key=key, artist=artist, include_failed=include_failed,
                   include_missing=include_missing, drops=drops, text=search)
    if offset < 0 or (limit is not None and limit < 0):
        raise UsageError("offset and limit must not be negative")
    with library(db) as lib:
        try:
            if count:
                rows, total = lib.page(sort=sort, limit=limit, offset=offset, **filters)
            else:
                rows = lib.tracks(sort=sort, limit=limit, offset=offset, **filters)
                total = len(rows)
        except ValueError as exc:  # an unknown sort key
            raise UsageError(str(exc)) from None
    return TrackPage(rows, total, offset, limit)


@dataclass
class TrackDetails:
    """Everything the library knows about one track.

    ``fields``: every stored column (energy as the level 1–10, ``energy_raw`` 0..1, times
    as seconds since the epoch); ``beats``, ``downbeats``, ``phrases``: times (seconds,
    float32, shape (n,)); ``energy_curve``: the energy over the track (0..1, one value
    per ``fields["energy_curve_hop_s"]`` seconds)."""

    fields: dict[str, Any]
    beats: np.ndarray
    downbeats: np.ndarray
    phrases: np.ndarray
    energy_curve: np.ndarray

    @property
    def drops(self) -> list:
        return list(self.fields.get("drops") or [])

    @property
    def sections(self) -> dict[str, Any]:
        """Intro end, outro start (seconds), build-ups and drops."""
        f = self.fields
        return {"intro_end_s": f.get("intro_end_s"), "outro_start_s": f.get("outro_start_s"),
                "buildups": list(f.get("buildups") or []), "drops": self.drops}

    def as_dict(self) -> dict[str, Any]:
        """One JSON-ready dict: the fields, then beats, downbeats, phrases (ms rounding)
        and the energy curve."""
        d = dict(self.fields)
        d["beats"] = [round(float(x), 3) for x in self.beats]
        d["downbeats"] = [round(float(x), 3) for x in self.downbeats]
        d["phrases"] = [round(float(x), 3) for x in self.phrases]
        d["energy_curve"] = [round(float(x), 4) for x in self.energy_curve]
        return d


def show_track(track: int | str | os.PathLike, db: DbPath = None) -> TrackDetails:
    """One track by id or file path. Raises NotFoundError (exit 1) when the library has
    no such track."""
    with library(db) as lib:
        t = lib.get_track(track if isinstance(track, (int, str)) else os.fspath(track))
        if t is None:
            shown = track if isinstance(track, int) else os.fspath(track)
            raise NotFoundError(f"no track {shown} in the library")
        d = lib.track_details(t.id)
    beats, downbeats, phrases = d.pop("beats"), d.pop("downbeats"), d.pop("phrases")
    curve = d.pop("energy_curve")
    if "energy" in d:
        user_energy(d)
    return TrackDetails(d, beats, downbeats, phrases, curve)


# ---------------------------------------------------------------- errors, prune


@dataclass
class Problems:
    """Files the scans could not analyze (``errors``) and analyzed files with caveats
    (``warnings``); each row has ``path``, ``reason``, ``at`` (epoch seconds)."""

    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    @property
    def files_with_warnings(self) -> int:
        return len({w.path for w in self.warnings})


def list_problems(db: DbPath = None) -> Problems:
    """The library's failed files and warnings."""
    with library(db) as lib:
        return Problems(lib.errors(), lib.warnings())


def prune(db: DbPath = None) -> int:
    """Delete the tracks whose files are gone (marked missing by the last scans); returns
    how many."""
    with library(db) as lib:
        return lib.prune()
