"""Scan folders into the library: walk, decide what to decode, analyze in workers, store.

Decisions, per audio file found:
- same path, size and mtime as stored, every analyser's stored version current
  (``analysis.stale_analysers``) → *unchanged*, not read;
- the same audio with some analysers stale → only those re-run: the style model from the
  stored style features without decoding (*updated*), the others in a worker that decodes
  and runs just them (*analyzed*); the other analysers' outputs are kept;
- same path, new mtime but the same content fingerprint → *unchanged* (stat and tags
  refreshed); the fingerprint hashes the audio payload only (see ``fingerprint``), so a
  tag edit never causes a decode; a changed genre tag re-decides the style from the
  stored style features (*updated*);
- a stored track whose path is gone and whose fingerprint matches → *moved*: path updated,
  analysis kept;
- anything else (or ``force``) → analyzed by a worker; the parent alone writes SQLite, one
  commit per finished file, so a killed scan loses at most the files in flight.
Stored tracks under the scanned folders whose files are gone are marked *missing*. Our own
temporary files (``fileio.is_temp_name``) are never tracks; those a killed writer left are
removed (``fileio.remove_stale_temps``).
A file that failed for an OS reason (permission, I/O) is retried by every scan; a decode
failure is kept until the file changes. One scan at a time per library (``scan_lock``).
"""

from __future__ import annotations

import errno
import os
import re
import stat as stat_mod
import time
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol

from ..analysis import VERSIONS, needs_decode, stale_analysers
from ..audio import is_audio_path
from ..errors import UnderdogError
from ..fileio import is_temp_name, remove_stale_temps
from .db import FileState, Library
from .executors import Executor, WorkerCrashed, make_executor
from .fingerprint import fingerprint, is_current, legacy_fingerprint
from .spool import Spool
from .tags import header_seconds, read_tags

__all__ = ["scan", "walk_audio", "fingerprint", "analyze_job", "Job", "FileResult",
           "ScanStats", "ScanObserver"]


# ---------------------------------------------------------------- records

@dataclass
class Job:
    """One file for a worker to analyze."""

    path: str
    stat: tuple[int, int] | None
    fingerprint: str | None
    steps: tuple[str, ...] | None = None  # the analysers to run; None: all
    keep: dict[str, int] | None = None  # versions of the stored analysers it keeps
    grid: tuple[float | None, Any] | None = None  # stored (bpm, beats) when tempo is kept


@dataclass
class FileResult:
    """What a worker sends back: tags plus an analysis or an error reason."""

    path: str
    stat: tuple[int, int] | None
    fingerprint: str | None
    tags: dict
    analysis: Any = None
    error: str | None = None
    decoded: bool = False
    seconds: float = 0.0
    retry: bool = False  # an OS error (permission, I/O): try again on the next scan


@dataclass
class ScanStats:
    found: int = 0
    analyzed: int = 0
    unchanged: int = 0
    moved: int = 0
    updated: int = 0  # stale analysers re-run from stored data, without decoding
    missing: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    decoded: int = 0  # files handed to the decoder in this scan
    audio_s: float = 0.0  # audio analyzed in this scan
    wall_s: float = 0.0
    # ``.underdog-*.tmp`` files a killed ``underdog tag`` left: removed, or kept (in use)
    temps_removed: list[str] = field(default_factory=list)
    temps_kept: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)

    def failure_reasons(self) -> list[tuple[str, int]]:
        """(reason, count), most common first; numbers in reasons are generalized."""
        c = Counter(_reason_kind(r) for _, r in self.failures)
        exact: dict[str, set[str]] = {}
        for _, r in self.failures:
            exact.setdefault(_reason_kind(r), set()).add(r)
        return [(next(iter(exact[k])) if len(exact[k]) == 1 else k, n)
                for k, n in c.most_common()]


class ScanObserver(Protocol):
    """Progress hooks (the CLI draws a progress bar with them)."""

    def start(self, total_files: int, to_analyze: int) -> None: ...

    def advance(self, path: str, outcome: str, audio_s: float = 0.0,
                reason: str | None = None, decoded: bool = False) -> None:
        """``outcome``: unchanged | moved | updated | analyzed | failed; ``decoded``: a
        worker ran."""


class _NullObserver:
    def start(self, total_files: int, to_analyze: int) -> None:
        pass

    def advance(self, path: str, outcome: str, audio_s: float = 0.0,
                reason: str | None = None, decoded: bool = False) -> None:
        pass


def _reason_kind(reason: str) -> str:
    return re.sub(r"\d+(\.\d+)?", "N", reason)


# ---------------------------------------------------------------- file helpers

def file_stat(path: str) -> tuple[int, int]:
    """(size, mtime_ns), following symlinks. Raises OSError."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


# One-line reasons of OS errors: conditions of the machine, not of the file's content.
_OS_REASONS = ("permission denied", "input/output error", "no such file", "cannot read")


def _is_os_reason(reason: str | None) -> bool:
    low = (reason or "").lower()
    return any(r in low for r in _OS_REASONS)


def _oserror_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop (too many levels of symbolic links)"
    if exc.errno == errno.ENOENT:
        return "no such file (broken symlink?)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or str(exc)


@dataclass
class WalkEntry:
    path: str
    problem: str | None = None  # set for things that look like audio but cannot be one


def walk_audio(roots: Iterable[str], temps: list[str] | None = None) -> Iterator[WalkEntry]:
    """Audio-named paths under ``roots`` (sorted, symlinks followed, loops visited once).

    A folder named like audio ("x.mp3") or an unreadable folder is yielded with a problem.
    ``temps`` (optional) collects the paths of our temporary files seen on the way
    (``fileio.is_temp_name``), which are never yielded.
    """
    seen_dirs: set[tuple[int, int]] = set()

    def walk(d: str) -> Iterator[WalkEntry]:
        try:
            st = os.stat(d)
        except OSError as exc:
            yield WalkEntry(d, f"cannot read folder: {_oserror_reason(exc)}")
            return
        ident = (st.st_dev, st.st_ino)
        if ident in seen_dirs:
            return
        seen_dirs.add(ident)
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield WalkEntry(d, f"cannot read folder: {_oserror_reason(exc)}")
            return
        for e in entries:
            try:
                is_dir = e.is_dir()  # follows symlinks; False for a symlink loop
            except OSError:
                is_dir = False
            if is_dir:
                if is_audio_path(e.name):
                    yield WalkEntry(e.path, "is a folder, not an audio file")
                yield from walk(e.path)
            elif is_audio_path(e.name):
                yield WalkEntry(e.path)
            elif temps is not None and is_temp_name(e.name):
                temps.append(e.path)

    for root in roots:
        root = os.path.abspath(os.fspath(root))
        if os.path.isdir(root):
            yield from walk(root)
        elif is_temp_name(root):  # named on the command line: still no track
            if temps is not None:
                temps.append(root)
        else:
            yield WalkEntry(root)


# ---------------------------------------------------------------- the worker

def analyze_job(job: Job, analyze_fn: Callable | None = None) -> FileResult:
    """Read tags and run the analysis pipeline on one file (runs in a worker process).

    Never raises: every failure becomes ``FileResult.error`` (one line, no traceback).
    """
    t0 = time.perf_counter()
    try:
        with open(job.path, "rb") as f:
            f.read(1)
    except OSError as exc:
        return FileResult(job.path, job.stat, job.fingerprint, {},
                          error=f"cannot read: {_oserror_reason(exc)}", retry=True)
    tags = read_tags(job.path)
    res = FileResult(job.path, job.stat, job.fingerprint, tags)
    if analyze_fn is None:
        from ..analysis import analyze as analyze_fn
    res.decoded = True
    try:
        kw: dict[str, Any] = {} if job.steps is None else {"steps": job.steps}
        if job.grid is not None:
            kw["grid"] = job.grid
        res.analysis = analyze_fn(job.path, **kw)
        a = res.analysis
        if hasattr(a, "style_source") and (job.steps is None or "style" in job.steps):
            # a specific genre tag decides the style
            from ..analysis.style import resolve_style
            a.style_label, a.style, a.style_source = resolve_style(a.style, tags.get("genres"))
    except UnderdogError as exc:
        res.error = _short_reason(exc, job.path)
        res.retry = _is_os_reason(res.error)
    except MemoryError:
        res.error = "out of memory while analyzing"
    except Exception as exc:  # a bug or a library error: still one line
        res.error = f"internal error: {exc.__class__.__name__}: {exc}"
    res.seconds = time.perf_counter() - t0
    return res


def _short_reason(exc: Exception, path: str) -> str:
    msg = str(exc)
    for prefix in (f"{path}: ", f"{os.fspath(path)}: "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


class _JobRunner:
    """Picklable callable binding an optional analyze function to analyze_job."""

    def __init__(self, analyze_fn: Callable | None):
        self.analyze_fn = analyze_fn

    def __call__(self, job: Job) -> FileResult:
        return analyze_job(job, self.analyze_fn)


# ---------------------------------------------------------------- the scan

def _under(path: str, roots: list[str]) -> bool:
    for r in roots:
        if path == r or path.startswith(r.rstrip(os.sep) + os.sep):
            return True
    return False


def scan(roots: Iterable[str | os.PathLike], lib: Library, *, executor: Executor | None = None,
         jobs: int | None = None, force: bool = False, observer: ScanObserver | None = None,
         analyze_fn: Callable | None = None,
         versions: Mapping[str, int] | None = None) -> ScanStats:
    """Bring ``lib`` up to date with the audio files under ``roots``; returns the counts.

    ``executor`` defaults to a local process pool of ``jobs`` workers (0 = in-process).
    ``analyze_fn`` (picklable) replaces the pipeline, for benchmarks of the scanner itself.
    ``versions`` ({analyser: version}) replaces ``analysis.VERSIONS``, the analysers'
    current versions (a stored track with another version of one re-runs that one).

    Raises LibraryError (one line) when the library is read-only, already being scanned by
    another process, or cannot be written (disk full); every finished file stays saved.
    """
    lib.check_writable()
    with lib.scan_lock():
        return _scan(roots, lib, executor=executor, jobs=jobs, force=force,
                     observer=observer, analyze_fn=analyze_fn,
                     versions=dict(VERSIONS if versions is None else versions))


def _scan(roots: Iterable[str | os.PathLike], lib: Library, *, executor: Executor | None,
          jobs: int | None, force: bool, observer: ScanObserver | None,
          analyze_fn: Callable | None, versions: dict[str, int]) -> ScanStats:
    t0 = time.perf_counter()
    started = time.time()
    obs = observer or _NullObserver()
    roots = [os.path.abspath(os.fspath(r)) for r in roots]
    stats = ScanStats()
    states = lib.file_states()
    stored_errors = {e.path: e.reason for e in lib.errors()}

    entries: Spool[WalkEntry] = Spool()  # on disk past a few thousand: a million files fit
    on_disk: set[str] = set()
    temps: list[str] = []
    for e in walk_audio(roots, temps):
        if e.path not in on_disk:  # overlapping roots or a file given twice
            on_disk.add(e.path)
            entries.append(e)
    stats.found = len(entries)
    # leftovers of a killed `underdog tag` (never tracks): gone unless a writer holds them
    stats.temps_removed, stats.temps_kept = remove_stale_temps(sorted(set(temps)), started)

    # Stored tracks under these roots whose files are gone: missing unless they moved.
    gone = [s for p, s in states.items() if _under(p, roots) and p not in on_disk]
    # Move sources: any stored track (under these roots or not) by content fingerprint;
    # whether its old file is really gone is checked only when a fingerprint matches.
    by_fp: dict[str, list[FileState]] = {}
    for s in states.values():
        if s.fingerprint and s.status in ("ok", "missing"):
            by_fp.setdefault(s.fingerprint, []).append(s)
    any_legacy = any(not is_current(fp) for fp in by_fp)
    upgraded: list[tuple[int, str]] = []  # (track id, new fingerprint) of legacy rows

    def take_move_source(fp: str, size: int) -> FileState | None:
        for i, s in enumerate(by_fp.get(fp, ())):
            if s.path not in on_disk and s.size == size and not os.path.lexists(s.path):
                return by_fp[fp].pop(i)
        return None

    jobs_todo: Spool[Job] = Spool()  # streamed to the executor, which pulls as it goes

    def rerun(state: FileState, path: str, st: tuple[int, int], fp: str | None,
              stale: frozenset[str], tags: dict | None = None) -> None:
        """Re-run only the ``stale`` analysers of a stored track whose audio is unchanged:
        without decoding when they can (the style model over stored features), else in a
        worker that decodes and runs just them. ``tags``: the file's, when already read."""
        if not needs_decode(stale) and _restyle(lib, state, path, stale, versions, tags):
            stats.updated += 1
            pending_outcomes.append((path, "updated", None))
            return
        grid = None
        if "tempo" not in stale and stale & {"energy", "sections", "beat_clarity"}:
            # their input, the beat grid, is kept: read, not tracked again
            t = lib.get_track(state.id)
            grid = (t.bpm if t else None, lib.beats(state.id))
        jobs_todo.append(Job(path, st, fp, steps=tuple(sorted(stale)), keep=state.analysers,
                             grid=grid))

    consumed: set[int] = set()  # move sources that found their file
    pending_outcomes: Spool[tuple[str, str, str | None]] = Spool()  # advanced after start()

    for e in entries:
        path = e.path
        if e.problem:
            lib.save_error(path, None, e.problem, versions=versions)
            stats.failures.append((path, e.problem))
            pending_outcomes.append((path, "failed", e.problem))
            continue
        try:
            sr = os.stat(path)
            st = (sr.st_size, sr.st_mtime_ns)
            if not stat_mod.S_ISREG(sr.st_mode):
                raise IsADirectoryError
        except IsADirectoryError:
            reason = "not a regular file"
            lib.save_error(path, None, reason, versions=versions)
            stats.failures.append((path, reason))
            pending_outcomes.append((path, "failed", reason))
            continue
        except OSError as exc:
            reason = _oserror_reason(exc)
            lib.save_error(path, None, reason, versions=versions)
            stats.failures.append((path, reason))
            pending_outcomes.append((path, "failed", reason))
            continue
        old = states.get(path)
        stale = stale_analysers(old.analysers, versions) if old else frozenset(versions)
        if old and old.status == "failed" and not needs_decode(stale):
            stale = frozenset()  # a file that failed to decode fails the same way
        current = old is not None and not stale
        retry = old is not None and old.status == "failed" and _is_os_reason(
            stored_errors.get(path))
        if old and not force and current and not retry and (old.size, old.mtime_ns) == st:
            if old.status == "failed":
                reason = stored_errors.get(path, "failed before")
                stats.failures.append((path, reason))
                pending_outcomes.append((path, "failed", reason))
            else:
                if old.status != "ok":  # was marked missing, back unchanged
                    lib.move_track(old.id, path, st)
                if old.status != "failed" and not is_current(old.fingerprint):
                    fp = fingerprint(path)  # an older release's kind: upgrade, no decode
                    if fp:
                        upgraded.append((old.id, fp))
                stats.unchanged += 1
                pending_outcomes.append((path, "unchanged", None))
            continue
        if old and not force and old.status == "ok" and (old.size, old.mtime_ns) == st:
            rerun(old, path, st, old.fingerprint, stale)  # same file, some analysers stale
            continue
        fp = fingerprint(path)
        if old and not force and old.status == "ok" and fp and (
                fp == old.fingerprint or (not is_current(old.fingerprint) and
                                          legacy_fingerprint(path) == old.fingerprint)):
            # touched, same audio: refresh stat and tags (a tag editor may have run); a
            # changed genre tag re-decides the style from the stored features, first, so
            # that a scan killed in between finds the file touched again
            tags = read_tags(path)
            restyled = current and _restyle(lib, old, path, frozenset({"style"}), versions,
                                            tags, only_if_changed=True)
            lib.move_track(old.id, path, st, tags)
            if fp != old.fingerprint:
                upgraded.append((old.id, fp))
            if restyled:
                stats.updated += 1
                pending_outcomes.append((path, "updated", None))
            elif current:
                stats.unchanged += 1
                pending_outcomes.append((path, "unchanged", None))
            else:
                rerun(old, path, st, fp, stale, tags)
            continue
        src = None
        if fp and (old is None or old.status != "ok"):
            src = take_move_source(fp, st[0])
            if src is None and any_legacy:
                src = take_move_source(legacy_fingerprint(path) or "", st[0])
                if src is not None:
                    upgraded.append((src.id, fp))
        if src is not None:
            lib.move_track(src.id, path, st, read_tags(path))
            consumed.add(src.id)
            src_stale = stale_analysers(src.analysers, versions)
            if not src_stale and not force:
                stats.moved += 1
                pending_outcomes.append((path, "moved", None))
                continue
            if not force:
                rerun(src, path, st, fp, src_stale)
                continue
        jobs_todo.append(Job(path, st, fp))

    lib.set_fingerprints(upgraded)
    # Whatever is still gone is missing (failed rows of vanished files are just forgotten).
    gone = [g for g in gone if g.id not in consumed]
    lib.mark_missing([g.id for g in gone if g.status == "ok"])
    stats.missing = sum(1 for g in gone if g.status in ("ok", "missing"))
    lib.forget([g.path for g in gone if g.status == "failed"])

    obs.start(len(entries), len(jobs_todo))
    if hasattr(obs, "audio_to_analyze"):  # headers only (~1 ms a file): the ETA's total
        obs.audio_to_analyze(sum(header_seconds(j.path) for j in jobs_todo))
    for path, outcome, reason in pending_outcomes:
        obs.advance(path, outcome, 0.0, reason)

    if jobs_todo:
        ex = executor or make_executor(jobs)
        runner = _JobRunner(analyze_fn)
        results = ex.map(runner, jobs_todo)
        try:
            _store_results(lib, results, stats, obs, versions)
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()  # an error or interrupt here stops the workers at once
    stats.wall_s = time.perf_counter() - t0
    return stats


def _restyle(lib: Library, state: FileState, path: str, stale: frozenset[str],
             versions: dict[str, int], tags: dict | None = None,
             only_if_changed: bool = False) -> bool:
    """Re-run the style model over the stored style features of a track, no decoding (the
    genre tags, ``tags`` or read here, still decide as in a scan). False when none are
    stored (a track analyzed before they were kept): it must be decoded; and, with
    ``only_if_changed``, when the stored style already is this decision (nothing written)."""
    from ..analysis.style import FEATURE_NAMES, classify_features, resolve_style

    tags = read_tags(path) if tags is None else tags
    t = lib.get_track(state.id) if only_if_changed else None
    if only_if_changed and (t is None or (t.genre or None) == (tags.get("genre") or None)):
        return False  # the genre tag, all a style decision reads besides the audio, is as stored
    feats = lib.style_features(state.id, len(FEATURE_NAMES))
    if feats is None:
        return False
    res = classify_features(feats)
    label, probs, source = resolve_style(res.probs, tags.get("genres"))
    if t is not None and (t.style_label, t.style_source) == (label, source) and \
            _same_probs(t.style, probs):
        return False
    done = SimpleNamespace(style=probs, style_label=label, style_source=source)
    lib.update_analysis(state.id, done, stale, {**state.analysers,
                                                **{n: versions[n] for n in stale}})
    return True


def _same_probs(a: Mapping[str, float] | None, b: Mapping[str, float]) -> bool:
    """Two style distributions equal to storage precision."""
    a = a or {}
    return set(a) == set(b) and all(abs(float(a[k]) - float(b[k])) < 1e-4 for k in b)


def _store_results(lib: Library, results: Iterable, stats: ScanStats,
                   obs: ScanObserver, versions: dict[str, int]) -> None:
    """Save each worker result as it arrives (one commit per file)."""
    for job, res in results:
        sticky = True  # a decode/analysis failure is kept until the file changes
        if isinstance(res, BaseException):
            reason = (str(res) if isinstance(res, WorkerCrashed)
                      else f"internal error: {res.__class__.__name__}: {res}")
            res = FileResult(job.path, job.stat, job.fingerprint, {}, error=reason,
                             decoded=True)
            sticky = False  # crashes and bugs are retried by the next scan
        elif res.error and (res.retry or res.error.startswith("internal error")):
            sticky = False
        if res.decoded:
            stats.decoded += 1
        if res.error is None and res.analysis is not None:
            ran = getattr(res.analysis, "analysers", None) or versions
            lib.save_analysis(res.path, res.tags, res.stat, res.fingerprint, res.analysis,
                              {**(job.keep or {}), **{n: versions[n] for n in ran
                                                      if n in versions}})
            audio_s = float(getattr(res.analysis, "duration_s", 0.0) or 0.0)
            stats.analyzed += 1
            stats.audio_s += audio_s
            obs.advance(res.path, "analyzed", audio_s, decoded=True)
        else:
            reason = res.error or "no analysis returned"
            lib.save_error(res.path, res.stat, reason, res.tags,
                           versions=versions if sticky else None)
            stats.failures.append((res.path, reason))
            obs.advance(res.path, "failed", 0.0, reason, decoded=True)
