"""The library database: the ONE module that writes SQL (schema, migrations, queries).

SQLite in WAL mode. Every finished track is its own transaction, so a scan killed at any
moment leaves every earlier track intact and nothing half-written. Beats and energy curves
are little-endian float32 blobs; style probabilities, drops and BPM candidates are small
JSON objects. ``PRAGMA user_version`` holds the schema version; ``MIGRATIONS[i]`` takes a
database from version ``i`` to ``i + 1``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence
from urllib.parse import quote

import numpy as np

from ..errors import UnderdogError
from ..models import Track, level_to_energy
from ..theory import try_parse_key

SCHEMA_VERSION = 2

MIGRATIONS: list[str] = [
    # 0 -> 1: the first schema.
    """
    CREATE TABLE tracks (
        id                 INTEGER PRIMARY KEY,
        path               TEXT NOT NULL UNIQUE,   -- absolute; BLOB when not valid UTF-8
        status             TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok','failed','missing')),
        size               INTEGER,
        mtime_ns           INTEGER,
        fingerprint        TEXT,
        artist             TEXT COLLATE NOCASE,
        title              TEXT,
        album              TEXT,
        albumartist        TEXT,
        genre              TEXT,
        year               INTEGER,
        track_no           INTEGER,
        tag_bpm            REAL,
        tag_key            TEXT,
        duration_s         REAL,
        bpm                REAL,
        bpm_confidence     REAL,
        bpm_candidates     TEXT,   -- JSON [[bpm, weight], ...]
        loudness_lufs      REAL,
        loudness_range_lu  REAL,
        peak_dbfs          REAL,
        energy             REAL,
        energy_level       INTEGER,
        key                TEXT,
        camelot            TEXT,
        key_confidence     REAL,
        style_label        TEXT,
        style              TEXT,   -- JSON {"label": prob}
        drops              TEXT,   -- JSON [{...}]
        buildups           TEXT,   -- JSON [{...}]
        intro_end_s        REAL,
        outro_start_s      REAL,
        energy_curve_hop_s REAL,
        analysis_version   INTEGER,
        added_at           REAL NOT NULL,
        updated_at         REAL NOT NULL,
        energy_curve       BLOB    -- float32 little-endian; last, so row scans skip it
    );
    CREATE INDEX tracks_bpm ON tracks(bpm);
    CREATE INDEX tracks_energy ON tracks(energy);
    CREATE INDEX tracks_style_bpm ON tracks(style_label, bpm);
    CREATE INDEX tracks_camelot ON tracks(camelot);
    CREATE INDEX tracks_artist ON tracks(artist);
    CREATE INDEX tracks_fingerprint ON tracks(fingerprint);

    CREATE TABLE beats (
        track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
        beats    BLOB NOT NULL       -- float32 little-endian beat times in seconds
    );

    CREATE TABLE errors (
        path     TEXT PRIMARY KEY,
        reason   TEXT NOT NULL,
        size     INTEGER,
        mtime_ns INTEGER,
        at       REAL NOT NULL
    );

    CREATE TABLE plans (
        id         INTEGER PRIMARY KEY,
        arc_name   TEXT NOT NULL,
        seed       INTEGER,
        created_at REAL NOT NULL
    );
    CREATE TABLE plan_tracks (
        plan_id  INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        track_id INTEGER NOT NULL,
        PRIMARY KEY (plan_id, position)
    );
    CREATE INDEX plan_tracks_track ON plan_tracks(track_id);
    """,
    # 1 -> 2: where the style came from, tempo maps, and decode/analysis warnings.
    """
    ALTER TABLE tracks ADD COLUMN style_source TEXT;
    ALTER TABLE tracks ADD COLUMN tempo_segments TEXT;   -- JSON [[start_s, end_s, bpm], ...]
    ALTER TABLE tracks ADD COLUMN warnings TEXT;         -- JSON ["one line", ...]
    ALTER TABLE beats ADD COLUMN downbeats BLOB;         -- float32 bar starts (s)
    ALTER TABLE beats ADD COLUMN phrases BLOB;           -- float32 phrase starts (s)
    """,
]
# Tables every schema version has; a library missing one is damaged.
_TABLES = ("tracks", "beats", "errors", "plans", "plan_tracks")

# Columns a Track row is read from, in order (energy_curve last).
_TRACK_COLS = (
    "id", "path", "status", "artist", "title", "album", "albumartist", "genre", "year",
    "track_no", "duration_s", "bpm", "bpm_confidence", "loudness_lufs", "energy",
    "energy_level", "key", "camelot", "key_confidence", "style", "style_label", "drops",
    "intro_end_s", "outro_start_s", "energy_curve_hop_s", "style_source", "tempo_segments",
    "warnings", "energy_curve",
)
_SELECT_TRACK = "SELECT " + ", ".join(_TRACK_COLS) + " FROM tracks"

# Columns written from an analysis (everything but tags, file state and bookkeeping).
_ANALYSIS_COLS = (
    "duration_s", "bpm", "bpm_confidence", "bpm_candidates", "loudness_lufs",
    "loudness_range_lu", "peak_dbfs", "energy", "energy_level", "key", "camelot",
    "key_confidence", "style_label", "style", "drops", "buildups", "intro_end_s",
    "outro_start_s", "energy_curve_hop_s", "analysis_version", "style_source",
    "tempo_segments", "warnings", "energy_curve",
)
TAG_FIELDS = ("artist", "title", "album", "albumartist", "genre", "year", "track_no",
              "tag_bpm", "tag_key")

SORT_KEYS = {
    "id": "id", "path": "path", "artist": "artist", "title": "title COLLATE NOCASE",
    "album": "album COLLATE NOCASE", "year": "year", "duration": "duration_s",
    "bpm": "bpm", "energy": "energy", "loudness": "loudness_lufs", "key": "camelot",
    "camelot": "camelot", "style": "style_label", "added": "added_at",
}


class LibraryError(UnderdogError):
    """The database cannot be opened or used (one clear line)."""


@dataclass
class FileState:
    """What the scanner needs to know about a stored path to decide whether to decode it."""

    id: int
    path: str
    status: str
    size: int | None
    mtime_ns: int | None
    fingerprint: str | None
    analysis_version: int | None


@dataclass
class ErrorRow:
    path: str
    reason: str
    at: float
    kind: str = "error"  # "error": not analyzed; "warning": analyzed, with this caveat


def default_db_path() -> str:
    """$UNDERDOG_DB, else $XDG_DATA_HOME/underdog/library.db (~/.local/share by default)."""
    env = os.environ.get("UNDERDOG_DB")
    if env:
        return os.path.expanduser(env)
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share")
    return os.path.join(data_home, "underdog", "library.db")


def open_library(path: str | os.PathLike | None = None) -> "Library":
    """Open (creating parent folders and schema as needed) the library at ``path``."""
    return Library(os.fspath(path) if path is not None else default_db_path())


# ---------------------------------------------------------------- value conversion

def path_to_db(path: str) -> str | bytes:
    """Paths are TEXT; a name that is not valid UTF-8 is kept exactly as a BLOB of its bytes."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path)


def path_from_db(v: str | bytes) -> str:
    return os.fsdecode(v) if isinstance(v, bytes) else v


def _blob(a: Any) -> bytes | None:
    if a is None:
        return None
    arr = np.asarray(a, dtype="<f4")
    return arr.tobytes() if arr.size else None


def _unblob(b: Any) -> np.ndarray:
    """float32 array of a stored blob; empty when absent or damaged (see _blob_ok)."""
    if not _blob_ok(b):
        return np.zeros(0, np.float32)
    return np.frombuffer(b, dtype="<f4").astype(np.float32)


_INSERT_BEATS = ("INSERT OR REPLACE INTO beats (track_id, beats, downbeats, phrases) "
                 "VALUES (?, ?, ?, ?)")


def _beat_row(track_id: int, analysis: Any) -> tuple | None:
    """The beats-table row of an analysis, or None when it has no beats."""
    beats = _blob(getattr(analysis, "beats", None))
    if not beats:
        return None
    return (track_id, beats, _blob(getattr(analysis, "downbeats", None)),
            _blob(getattr(analysis, "phrases", None)))


def _blob_ok(b: Any) -> bool:
    return isinstance(b, bytes) and len(b) > 0 and len(b) % 4 == 0


def _num(v: Any) -> Any:
    """numpy scalars → Python; NaN/inf → None."""
    if v is None:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    return v


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return _num(v)


def _dumps(v: Any) -> str | None:
    if v is None:
        return None
    return json.dumps(_jsonable(v), separators=(",", ":"), ensure_ascii=False)


def _loads(s: str | None, default: Any) -> Any:
    if not s:
        return default
    try:
        return json.loads(s)
    except ValueError:
        return default


def _analysis_values(a: Any) -> list:
    """Values for _ANALYSIS_COLS from a TrackAnalysis (duck-typed, fields may be absent)."""
    g = lambda name: getattr(a, name, None)  # noqa: E731
    cands = g("bpm_candidates") or []
    return [
        _num(g("duration_s")), _num(g("bpm")), _num(g("bpm_confidence")),
        _dumps([list(c) for c in cands]) if cands else None,
        _num(g("loudness_lufs")), _num(g("loudness_range_lu")), _num(g("peak_dbfs")),
        _num(g("energy")), _num(g("energy_level")), g("key"), g("camelot"),
        _num(g("key_confidence")), g("style_label"), _dumps(g("style") or {}),
        _dumps(g("drops") or []), _dumps(g("buildups") or []), _num(g("intro_end_s")),
        _num(g("outro_start_s")), _num(g("energy_curve_hop_s")),
        _num(g("analysis_version")), g("style_source"),
        _dumps([list(s) for s in g("tempo_segments") or []]) if g("tempo_segments") else None,
        _dumps([str(w) for w in g("warnings") or []]) if g("warnings") else None,
        _blob(g("energy_curve")),
    ]


def _row_to_track(r: Sequence) -> Track:
    (id_, path, status, artist, title, album, albumartist, genre, year, track_no, duration_s,
     bpm, bpm_conf, lufs, energy, energy_level, key, camelot, key_conf, style, style_label,
     drops, intro_end_s, outro_start_s, hop_s, style_source, segments, warns, curve) = r
    # SQLite stores any type in any column: a value another tool wrote as text is unknown.
    duration_s, bpm, bpm_conf, lufs, energy, key_conf, intro_end_s, outro_start_s, hop_s = (
        _real(v) for v in (duration_s, bpm, bpm_conf, lufs, energy, key_conf, intro_end_s,
                           outro_start_s, hop_s))
    year, track_no, energy_level = (_int(v) for v in (year, track_no, energy_level))
    warnings = [str(w) for w in _typed(_loads(warns, []), list) if w]
    if curve and not _blob_ok(curve):
        warnings.append("stored energy curve is damaged; ignored (scan --force to redo)")
    return Track(
        id=id_, path=path_from_db(path), artist=artist, title=title, album=album,
        albumartist=albumartist, genre=genre, year=year, track_no=track_no,
        duration_s=duration_s, bpm=bpm, bpm_confidence=bpm_conf, loudness_lufs=lufs,
        energy=energy, energy_level=energy_level, key=key, camelot=camelot,
        key_confidence=key_conf, style_label=style_label,
        style={str(k): float(p) for k, p in _typed(_loads(style, {}), dict).items()
               if _real(p) is not None},
        drops=[d for d in _typed(_loads(drops, []), list) if isinstance(d, dict)], intro_end_s=intro_end_s, outro_start_s=outro_start_s,
        energy_curve=_unblob(curve), energy_curve_hop_s=hop_s, status=status,
        style_source=style_source,
        tempo_segments=_segments(_loads(segments, [])), warnings=warnings,
    )


def _typed(v: Any, kind: type) -> Any:
    """``v`` if it is a ``kind`` (JSON read back from a column), else an empty one."""
    return v if isinstance(v, kind) else kind()


def _real(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _segments(v: Any) -> list[tuple[float, float, float]]:
    """[(start_s, end_s, bpm), ...] from stored JSON; malformed entries are dropped."""
    out = []
    for s in v if isinstance(v, list) else []:
        if isinstance(s, list) and len(s) == 3 and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in s):
            out.append((float(s[0]), float(s[1]), float(s[2])))
    return out


def _norm_key(key: str) -> tuple[str, str]:
    """('camelot', '8A') for a key in any notation theory.parse_key reads ("8A", "Am",
    "A minor", "1m"), else ('key', text) matched case-insensitively."""
    k = try_parse_key(key)
    return ("camelot", k.camelot) if k else ("key", key.strip())


# ---------------------------------------------------------------- the library

def _guarded(method):
    """Turn a SQLite failure inside a Library method into one clear LibraryError line.

    IntegrityError is a caller's mistake (a duplicate path), so it passes unchanged.
    """
    @functools.wraps(method)
    def wrapper(self: "Library", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise self._error(exc) from None
    return wrapper


class Library:
    """A connection to one library database. Use as a context manager or call close()."""

    def __init__(self, path: str):
        self.path = path
        self.read_only = False
        if path != ":memory:":
            parent = os.path.dirname(os.path.abspath(path))
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as exc:
                raise LibraryError(f"cannot create {parent}: {exc.strerror or exc}") from None
        self._conn: sqlite3.Connection | None = None
        try:
            try:
                self._connect(path)
            except sqlite3.OperationalError as exc:
                # A read-only folder (or file): WAL cannot create its -shm file. Reading
                # still works, opened read-only (immutable when nothing can change it).
                low = str(exc).lower()
                if path == ":memory:" or not os.path.isfile(path) or "locked" in low or \
                        "busy" in low:
                    raise
                self._connect_read_only(path)
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            raise self._error(exc, opening=True) from None
        except BaseException:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            raise

    def _connect(self, path: str) -> None:
        self._conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across process kills
        self._conn.execute("PRAGMA foreign_keys=ON")
        if path != ":memory:" and not os.access(path, os.W_OK):
            self.read_only = True

    def _connect_read_only(self, path: str) -> None:
        if self._conn is not None:
            self._conn.close()
        uri = "file:" + quote(os.path.abspath(path))
        writable_dir = os.access(os.path.dirname(os.path.abspath(path)), os.W_OK)
        for mode in (("mode=ro",) if writable_dir else ("mode=ro", "immutable=1")):
            try:
                self._conn = sqlite3.connect(f"{uri}?{mode}", uri=True, timeout=30.0,
                                             isolation_level=None)
                self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                break
            except sqlite3.OperationalError:
                self._conn = None
                if mode == "immutable=1" or writable_dir:
                    raise
        self.read_only = True

    # -- lifecycle
    def close(self) -> None:
        if self._conn is not None:
            try:
                if not self.read_only:
                    self._conn.execute("PRAGMA optimize")
            except sqlite3.Error:
                pass
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def _error(self, exc: sqlite3.Error, opening: bool = False) -> LibraryError:
        """One clear line for a SQLite failure on this library."""
        msg = str(exc)
        low = msg.lower()
        where = f"library database {self.path}"
        if "readonly" in low or "read-only" in low:
            return LibraryError(f"{where} is read-only: cannot save changes (check the "
                                "permissions of the file and its folder)")
        if "disk is full" in low or "database or disk is full" in low:
            return LibraryError(f"disk full while writing the {where}; nothing half-written "
                                "was kept: free some space and run the command again")
        if "not a database" in low or "file is encrypted" in low:  # maybe a user's file
            return LibraryError(f"{self.path}: not a usable library database ({msg}); "
                                "check the --db path or $UNDERDOG_DB")
        if "malformed" in low:
            return LibraryError(f"{where} is damaged ({msg}); remove it and scan again, or "
                                f"recover it with: sqlite3 {self.path} .recover")
        if "no such table" in low or "no such column" in low:
            return LibraryError(f"{where} is damaged ({msg}); remove the file and scan again")
        if "locked" in low or "busy" in low:
            return LibraryError(f"{where} is busy (another underdog is writing it); "
                                "try again when it has finished")
        if opening:
            return LibraryError(f"{self.path}: not a usable library database ({msg})")
        return LibraryError(f"{where}: {msg}")

    def _check_schema(self) -> None:
        """Migrate to SCHEMA_VERSION, or explain why the file cannot be used."""
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise LibraryError(f"{self.path}: schema version {version} is newer than this "
                               f"underdog ({SCHEMA_VERSION}); upgrade underdog")
        tables = {r[0] for r in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version <= 0 and tables & set(_TABLES):
            version = self._recover_version(version, tables)
        if version > 0:
            missing = [t for t in _TABLES if t not in tables]
            if missing:
                raise LibraryError(
                    f"library database {self.path} is damaged: table {', '.join(missing)} "
                    "missing; remove the file and scan again (or restore a backup)")
        if version < SCHEMA_VERSION:
            if self.read_only:
                raise LibraryError(f"library database {self.path} is read-only and needs an "
                                   f"upgrade (schema {version} → {SCHEMA_VERSION}); open it "
                                   "once where it can be written")
            self._migrate(version)

    def _recover_version(self, version: int, tables: set[str]) -> int:
        """user_version says 'empty' (0) or garbage (< 0) but tables exist: if they match
        a known schema exactly, that is the version (and it is written back)."""
        cols = [r[1] for r in self._conn.execute("PRAGMA table_info(tracks)")]
        for v in range(SCHEMA_VERSION, 0, -1):
            if cols == _schema_columns(v) and set(_TABLES) <= tables:
                if not self.read_only:
                    self._conn.execute(f"PRAGMA user_version = {v}")
                return v
        raise LibraryError(f"{self.path}: tables of an unknown schema (user_version "
                           f"{version}); not an underdog library, or a damaged one: move it "
                           "away and scan again")

    def _migrate(self, version: int) -> None:
        for v in range(version, SCHEMA_VERSION):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                # executescript would commit; run the statements one by one inside BEGIN.
                for stmt in _split_sql(MIGRATIONS[v]):
                    self._conn.execute(stmt)
                self._conn.execute(f"PRAGMA user_version = {v + 1}")
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def check_writable(self) -> None:
        """Raise LibraryError now, before any work, when changes could not be saved."""
        if self.read_only:
            raise LibraryError(f"library database {self.path} is read-only: cannot save "
                               "changes (check the permissions of the file and its folder)")

    @contextlib.contextmanager
    def scan_lock(self) -> Iterator[None]:
        """Hold the library's scan lock (``<db>.lock``, an exclusive flock) for the block.

        A second scan of the same library refuses at once with the holder's pid, instead
        of analyzing every file twice. The lock dies with its process (even kill -9).
        """
        if self.path == ":memory:":
            yield
            return
        import fcntl

        lock_path = self.path + ".lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LibraryError(f"cannot create the scan lock {lock_path}: "
                               f"{exc.strerror or exc}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
                raise LibraryError(f"another scan is running on this library (pid {holder}); "
                                   "wait for it to finish, or stop it") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the flock

    def _tx(self) -> "_Transaction":
        return _Transaction(self._conn)

    # -- reading
    @_guarded
    def tracks(self, *, bpm: tuple[float, float] | None = None,
               energy: tuple[float, float] | None = None, style: str | None = None,
               key: str | None = None, artist: str | None = None, sort: str | None = None,
               include_failed: bool = False, include_missing: bool = False,
               limit: int | None = None,
               level: tuple[float, float] | None = None, offset: int = 0) -> list[Track]:
        """Tracks matching every given filter.

        ``bpm``/``energy`` are inclusive (lo, hi) ranges (either end may be None), ``energy``
        on the stored 0..1 scale; ``level`` the same on the users' 1–10 energy level,
        translated to 0..1 (models.level_to_energy) so the energy index still serves it;
        ``style`` is a style label; ``key`` a Camelot code ("8A") or key name ("A minor");
        ``artist`` a case-insensitive substring; ``sort`` one of SORT_KEYS, "-" prefix for
        descending (default: artist, album, track number, path); ``offset`` skips that many
        rows of the sorted result (paging, with ``limit``).
        """
        where, args = self._where(bpm, _energy_range(energy, level), style, key, artist,
                                  include_failed, include_missing)
        sql = _SELECT_TRACK + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY " + _order_by(sort)
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            args += [-1 if limit is None else int(limit), max(0, int(offset))]
        return [_row_to_track(r) for r in self._conn.execute(sql, args)]

    @_guarded
    def count_tracks(self, *, bpm: tuple[float, float] | None = None,
                     energy: tuple[float, float] | None = None, style: str | None = None,
                     key: str | None = None, artist: str | None = None,
                     include_failed: bool = False, include_missing: bool = False,
                     level: tuple[float, float] | None = None) -> int:
        """How many tracks :meth:`tracks` would return with these filters and no limit."""
        where, args = self._where(bpm, _energy_range(energy, level), style, key, artist,
                                  include_failed, include_missing)
        sql = "SELECT count(*) FROM tracks" + (" WHERE " + " AND ".join(where) if where else "")
        return int(self._conn.execute(sql, args).fetchone()[0])

    @_guarded
    def explain_tracks(self, **filters: Any) -> list[str]:
        """EXPLAIN QUERY PLAN lines for the query ``tracks(**filters)`` would run."""
        sort = filters.pop("sort", None)
        limit = filters.pop("limit", None)
        where, args = self._where(filters.get("bpm"),
                                  _energy_range(filters.get("energy"), filters.get("level")),
                                  filters.get("style"), filters.get("key"),
                                  filters.get("artist"), filters.get("include_failed", False),
                                  filters.get("include_missing", False))
        sql = _SELECT_TRACK + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY " + _order_by(sort) + (f" LIMIT {int(limit)}" if limit else "")
        return [r[3] for r in self._conn.execute("EXPLAIN QUERY PLAN " + sql, args)]

    @staticmethod
    def _where(bpm, energy, style, key, artist, include_failed, include_missing):
        where: list[str] = []
        args: list[Any] = []
        statuses = ["ok"] + (["failed"] if include_failed else []) + (
            ["missing"] if include_missing else [])
        if len(statuses) < 3:
            where.append("status IN (" + ",".join("?" * len(statuses)) + ")")
            args += statuses
        for col, rng in (("bpm", bpm), ("energy", energy)):
            if rng is None:
                continue
            lo, hi = rng
            if lo is not None:
                where.append(f"{col} >= ?")
                args.append(float(lo))
            if hi is not None:
                where.append(f"{col} <= ?")
                args.append(float(hi))
        if style:
            where.append("style_label = ?")
            args.append(style)
        if key:
            col, val = _norm_key(key)
            where.append("camelot = ?" if col == "camelot" else "key = ? COLLATE NOCASE")
            args.append(val)
        if artist:
            where.append("artist LIKE ? ESCAPE '\\'")
            esc = artist.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args.append(f"%{esc}%")
        return where, args

    @_guarded
    def get_track(self, id_or_path: int | str | os.PathLike) -> Track | None:
        """A track by id (int or all-digit string that is not an existing file) or by path."""
        if isinstance(id_or_path, int) or (
                isinstance(id_or_path, str) and id_or_path.isdigit()
                and not os.path.exists(id_or_path)):
            r = self._conn.execute(_SELECT_TRACK + " WHERE id = ?", (int(id_or_path),)).fetchone()
        else:
            p = os.path.abspath(os.fspath(id_or_path))
            r = self._conn.execute(_SELECT_TRACK + " WHERE path = ?", (path_to_db(p),)).fetchone()
        return _row_to_track(r) if r else None

    @_guarded
    def track_details(self, track_id: int) -> dict[str, Any]:
        """Every stored column of one track (for ``underdog show``), blobs summarized."""
        cur = self._conn.execute("SELECT * FROM tracks WHERE id = ?", (track_id,))
        r = cur.fetchone()
        if r is None:
            return {}
        out = dict(zip([d[0] for d in cur.description], r))
        out["path"] = path_from_db(out["path"])
        for k in ("style", "drops", "buildups", "bpm_candidates", "tempo_segments", "warnings"):
            out[k] = _loads(out.get(k), None)
        curve = out.get("energy_curve")
        out["energy_curve"] = _unblob(curve)
        if curve and not _blob_ok(curve):
            out["warnings"] = list(out.get("warnings") or []) + [
                "stored energy curve is damaged; ignored (scan --force to redo)"]
        out["beats"], out["downbeats"], out["phrases"] = self.rhythm(track_id)
        err = self._conn.execute("SELECT reason FROM errors WHERE path = ?",
                                 (path_to_db(out["path"]),)).fetchone()
        out["error"] = err[0] if err else None
        return out

    @_guarded
    def beats(self, track_id: int) -> np.ndarray:
        """Beat times (seconds, float32) of one track; empty when unknown."""
        return self.rhythm(track_id)[0]

    @_guarded
    def rhythm(self, track_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(beats, downbeats, phrase starts) of one track, seconds as float32; empty if unknown."""
        r = self._conn.execute("SELECT beats, downbeats, phrases FROM beats WHERE track_id = ?",
                               (track_id,)).fetchone()
        return tuple(_unblob(v) for v in (r or (None, None, None)))  # type: ignore[return-value]

    @_guarded
    def count(self, status: str | None = "ok") -> int:
        if status is None:
            return self._conn.execute("SELECT count(*) FROM tracks").fetchone()[0]
        return self._conn.execute("SELECT count(*) FROM tracks WHERE status = ?",
                                  (status,)).fetchone()[0]

    @_guarded
    def errors(self) -> list[ErrorRow]:
        """Files that could not be analyzed, by path."""
        return [ErrorRow(path_from_db(p), reason, at) for p, reason, at in self._conn.execute(
            "SELECT path, reason, at FROM errors ORDER BY path")]

    @_guarded
    def warnings(self) -> list[ErrorRow]:
        """Analyzed tracks that carry warnings (e.g. a truncated file), one row per warning."""
        out = []
        for p, warns, at in self._conn.execute(
                "SELECT path, warnings, updated_at FROM tracks WHERE status = 'ok' AND "
                "warnings IS NOT NULL AND warnings NOT IN ('', '[]') ORDER BY path"):
            for w in _loads(warns, []) if isinstance(_loads(warns, []), list) else []:
                out.append(ErrorRow(path_from_db(p), str(w), at, "warning"))
        return out

    @_guarded
    def file_states(self) -> dict[str, FileState]:
        """Every stored path with its file state: one query, for the scanner."""
        out = {}
        for r in self._conn.execute(
                "SELECT id, path, status, size, mtime_ns, fingerprint, analysis_version "
                "FROM tracks"):
            st = FileState(r[0], path_from_db(r[1]), *r[2:])
            out[st.path] = st
        return out

    @_guarded
    def refresh_file_state(self, path: str) -> bool:
        """Store ``path``'s current size, mtime, fingerprint and tags (after a tag write).

        The analysis is kept: tag writers change tags, never the audio. Returns False when
        the path is not a track of the library.
        """
        from .fingerprint import fingerprint
        from .tags import read_tags

        p = os.path.abspath(os.fspath(path))
        try:
            st = os.stat(p)
        except OSError:
            return False
        fp = fingerprint(p)
        tags = read_tags(p)
        sets = ", ".join(f"{f} = ?" for f in TAG_FIELDS)
        with self._tx() as c:
            n = c.execute(f"UPDATE tracks SET size = ?, mtime_ns = ?, fingerprint = ?, {sets}, "
                          "updated_at = ? WHERE path = ?",
                          [st.st_size, st.st_mtime_ns, fp] +
                          [_num(tags.get(f)) for f in TAG_FIELDS] +
                          [time.time(), path_to_db(p)]).rowcount
        return n > 0

    @_guarded
    def set_fingerprints(self, pairs: Iterable[tuple[int, str]]) -> int:
        """Store new fingerprints ``(track_id, fingerprint)`` in one transaction."""
        rows = [(fp, int(i)) for i, fp in pairs]
        if rows:
            with self._tx() as c:
                c.executemany("UPDATE tracks SET fingerprint = ? WHERE id = ?", rows)
        return len(rows)

    @_guarded
    def integrity_check(self) -> str:
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0]

    # -- writing (each public writer is one transaction)
    @_guarded
    def save_analysis(self, path: str, tags: dict, stat: tuple[int, int] | None,
                      fingerprint: str | None, analysis: Any) -> int:
        """Insert or replace the analysis of ``path`` (one commit); returns the track id."""
        now = time.time()
        size, mtime_ns = stat if stat else (None, None)
        tag_vals = [_num(tags.get(f)) for f in TAG_FIELDS]
        a_vals = _analysis_values(analysis)
        cols = ("path", "status", "size", "mtime_ns", "fingerprint") + TAG_FIELDS + \
            _ANALYSIS_COLS + ("added_at", "updated_at")
        vals = [path_to_db(path), "ok", size, mtime_ns, fingerprint] + tag_vals + a_vals + \
            [now, now]
        update = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in ("path", "added_at"))
        sql = (f"INSERT INTO tracks ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               f"ON CONFLICT(path) DO UPDATE SET {update} RETURNING id")
        with self._tx() as c:
            track_id = c.execute(sql, vals).fetchone()[0]
            beats = _beat_row(track_id, analysis)
            if beats:
                c.execute(_INSERT_BEATS, beats)
            else:
                c.execute("DELETE FROM beats WHERE track_id = ?", (track_id,))
            c.execute("DELETE FROM errors WHERE path = ?", (path_to_db(path),))
        return track_id

    @_guarded
    def save_error(self, path: str, stat: tuple[int, int] | None, reason: str,
                   tags: dict | None = None, analysis_version: int | None = None) -> int:
        """Record that ``path`` failed (one commit): an errors row and a 'failed' track row."""
        now = time.time()
        size, mtime_ns = stat if stat else (None, None)
        p = path_to_db(path)
        tags = tags or {}
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO errors (path, reason, size, mtime_ns, at) "
                      "VALUES (?, ?, ?, ?, ?)", (p, reason, size, mtime_ns, now))
            cols = ("path", "status", "size", "mtime_ns") + TAG_FIELDS + (
                "analysis_version", "added_at", "updated_at")
            vals = [p, "failed", size, mtime_ns] + [_num(tags.get(f)) for f in TAG_FIELDS] + \
                [analysis_version, now, now]
            sql = (f"INSERT INTO tracks ({', '.join(cols)}) VALUES "
                   f"({', '.join('?' * len(cols))}) ON CONFLICT(path) DO UPDATE SET "
                   "status = 'failed', size = excluded.size, mtime_ns = excluded.mtime_ns, "
                   "analysis_version = excluded.analysis_version, "
                   "updated_at = excluded.updated_at RETURNING id")
            return c.execute(sql, vals).fetchone()[0]

    @_guarded
    def move_track(self, track_id: int, new_path: str, stat: tuple[int, int],
                   tags: dict | None = None) -> None:
        """A file moved/renamed with unchanged content: keep the analysis, update path."""
        p = path_to_db(new_path)
        with self._tx() as c:
            # A failed/missing row already at the new path gives way to the moved track.
            c.execute("DELETE FROM tracks WHERE path = ? AND id != ?", (p, track_id))
            sets = ["path = ?", "status = 'ok'", "size = ?", "mtime_ns = ?", "updated_at = ?"]
            vals: list[Any] = [p, stat[0], stat[1], time.time()]
            if tags:
                for f in TAG_FIELDS:
                    sets.append(f"{f} = ?")
                    vals.append(_num(tags.get(f)))
            c.execute(f"UPDATE tracks SET {', '.join(sets)} WHERE id = ?", vals + [track_id])
            c.execute("DELETE FROM errors WHERE path = ?", (p,))

    @_guarded
    def mark_missing(self, track_ids: Iterable[int]) -> int:
        ids = [(int(i),) for i in track_ids]
        if not ids:
            return 0
        with self._tx() as c:
            c.executemany("UPDATE tracks SET status = 'missing', updated_at = "
                          f"{time.time()!r} WHERE id = ? AND status = 'ok'", ids)
        return len(ids)

    @_guarded
    def forget(self, paths: Iterable[str]) -> int:
        """Delete the rows (and error records) of ``paths``, e.g. failed files now gone."""
        ps = [(path_to_db(p),) for p in paths]
        with self._tx() as c:
            c.executemany("DELETE FROM tracks WHERE path = ?", ps)
            c.executemany("DELETE FROM errors WHERE path = ?", ps)
        return len(ps)

    @_guarded
    def prune(self) -> int:
        """Delete every track marked missing (with its beats); returns how many."""
        with self._tx() as c:
            n = c.execute("DELETE FROM tracks WHERE status = 'missing'").rowcount
            c.execute("DELETE FROM beats WHERE track_id NOT IN (SELECT id FROM tracks)")
        return n

    @_guarded
    def add_tracks(self, tracks: list[Track], analyses: list[Any] | None = None) -> list[int]:
        """Bulk insert ``tracks`` (one transaction, executemany); returns their ids.

        ``analyses`` (same length), when given, supplies beats and the analysis-only
        fields. A path already in the library raises sqlite3.IntegrityError.
        """
        if analyses is not None and len(analyses) != len(tracks):
            raise ValueError("analyses must match tracks one to one")
        now = time.time()
        cols = ("id", "path", "status") + TAG_FIELDS + _ANALYSIS_COLS + ("added_at", "updated_at")
        sql = f"INSERT INTO tracks ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        with self._tx() as c:
            next_id = (c.execute("SELECT max(id) FROM tracks").fetchone()[0] or 0) + 1
            ids: list[int] = []
            rows = []
            beat_rows = []
            for i, t in enumerate(tracks):
                tid = t.id if t.id is not None else next_id
                next_id = max(next_id, tid + 1)
                ids.append(tid)
                a = analyses[i] if analyses is not None else None
                src = _Merged(t, a)
                tag_vals = [_num(getattr(t, f, None)) for f in TAG_FIELDS]
                rows.append([tid, path_to_db(t.path), t.status] + tag_vals +
                            _analysis_values(src) + [now, now])
                if a is not None and (row := _beat_row(tid, a)):
                    beat_rows.append(row)
            c.executemany(sql, rows)
            if beat_rows:
                c.executemany(_INSERT_BEATS, beat_rows)
        return ids

    # -- plan history (planner's --avoid-recent)
    @_guarded
    def record_plan(self, track_ids: list[int], arc_name: str, seed: int | None) -> int:
        with self._tx() as c:
            pid = c.execute("INSERT INTO plans (arc_name, seed, created_at) VALUES (?, ?, ?) "
                            "RETURNING id", (arc_name, seed, time.time())).fetchone()[0]
            c.executemany("INSERT INTO plan_tracks (plan_id, position, track_id) "
                          "VALUES (?, ?, ?)", [(pid, i, int(t)) for i, t in enumerate(track_ids)])
        return pid

    @_guarded
    def recent_plan_track_ids(self, n_plans: int) -> set[int]:
        """Track ids used by the ``n_plans`` most recent plans."""
        if n_plans <= 0:
            return set()
        return {r[0] for r in self._conn.execute(
            "SELECT DISTINCT track_id FROM plan_tracks WHERE plan_id IN "
            "(SELECT id FROM plans ORDER BY id DESC LIMIT ?)", (int(n_plans),))}


class _Merged:
    """Attribute lookup: the analysis first (if any), then the Track."""

    def __init__(self, track: Track, analysis: Any):
        self._t, self._a = track, analysis

    def __getattr__(self, name: str) -> Any:
        if self._a is not None and hasattr(self._a, name):
            return getattr(self._a, name)
        if name == "analysis_version":
            return getattr(self._t, name, None)
        return getattr(self._t, name, None)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, ROLLBACK on any exception (also KeyboardInterrupt)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")



def _energy_range(energy, level):
    """The 0..1 energy range for SQL: ``level`` (1–10) translated, narrowed by ``energy``."""
    if level is None:
        return energy
    lo, hi = level
    rng = (None if lo is None else level_to_energy(lo), None if hi is None else level_to_energy(hi))
    if energy is None:
        return rng
    e_lo, e_hi = energy
    pick = lambda f, a, b: b if a is None else a if b is None else f(a, b)  # noqa: E731
    return pick(max, rng[0], e_lo), pick(min, rng[1], e_hi)


def _order_by(sort: str | None) -> str:
    if not sort:
        return "artist, album COLLATE NOCASE, track_no, path"
    desc = sort.startswith("-")
    name = sort.lstrip("-+")
    if name not in SORT_KEYS:
        raise ValueError(f"unknown sort key {name!r}; choose from {', '.join(SORT_KEYS)}")
    return f"{SORT_KEYS[name]} {'DESC' if desc else 'ASC'}, id"


def _schema_columns(version: int) -> list[str]:
    """The tracks columns of schema ``version``, built by running the migrations in memory."""
    conn = sqlite3.connect(":memory:")
    try:
        for v in range(version):
            for stmt in _split_sql(MIGRATIONS[v]):
                conn.execute(stmt)
        return [r[1] for r in conn.execute("PRAGMA table_info(tracks)")]
    finally:
        conn.close()


def _split_sql(script: str) -> Iterator[str]:
    """Statements of a migration script (no ';' inside literals in our schema)."""
    lines = [ln.split("--", 1)[0] for ln in script.splitlines()]
    for stmt in "\n".join(lines).split(";"):
        if stmt.strip():
            yield stmt.strip()
