"""The library database: the ONE module that writes SQL (schema, migrations, queries).

SQLite in WAL mode. Every finished track is its own transaction, so a scan killed at any
moment leaves every earlier track intact and nothing half-written. Beats and energy curves
are little-endian float32 blobs; style probabilities, drops and BPM candidates are small
JSON objects. ``PRAGMA user_version`` holds the schema version; ``MIGRATIONS[i]`` takes a
database from version ``i`` to ``i + 1``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote

import numpy as np

from .. import fields
from ..errors import UnderdogError
from ..fields import TAG_FIELDS, TRACK
from ..models import Track, level_to_energy
from ..theory import try_parse_key

SCHEMA_VERSION = 6

# Forward only. The scripts are the schemas as releases made them (never edit one); since
# schema 3 a column is added by declaring its field in fields.FIELDS: _declared_ddl adds
# whatever a database lacks (columns, the side tables of large arrays) when it is opened.
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
    # 2 -> 3: versions per analyser (``analysers``) and the features table (style
    # descriptors), both from the declaration: no script of its own.
    "",
    # 3 -> 4: catalogue scale (bench/scale.py, 1M rows): counts by style + BPM, and by
    # status alone (a scan of this index, not of the table), read from an index only:
    # 200-280 ms of CPU -> 7-55 ms. (An index on status alone would win plain equality
    # filters it cannot narrow, e.g. key="8A", in a library without statistics.)
    """
    CREATE INDEX IF NOT EXISTS tracks_style_bpm_status ON tracks(style_label, bpm, status);
    """,
    # 4 -> 5: counts by energy range read from an index only (the web page's energy filter at
    # 100,000 rows: count 365 -> 2 ms, its page 484 -> 17 ms; planning CPU unchanged).
    """
    CREATE INDEX IF NOT EXISTS tracks_energy_status ON tracks(energy, status);
    """,
    # 5 -> 6: the web page's *has drops* and search at 100,000 rows. Tracks with a drop by
    # energy, and by BPM for a BPM sort (partial indexes: their WHERE is db._HAS_DROPS word
    # for word): energy 7-10 with drops, count 200 -> 2 ms, sorted by BPM 60 -> 0.1 ms;
    # artist, title and album in one index, so a search reads the index and only its
    # matches' rows (a table scan: 200-480 ms).
    """
    CREATE INDEX IF NOT EXISTS tracks_drops_energy ON tracks(energy, status)
        WHERE drops <> '[]';
    CREATE INDEX IF NOT EXISTS tracks_drops_bpm ON tracks(bpm, energy, status)
        WHERE drops <> '[]';
    CREATE INDEX IF NOT EXISTS tracks_text ON tracks(artist, title, album, status);
    """,
]
# Tables every schema version has; a library missing one is damaged.
_TABLES = ("tracks", "beats", "errors", "plans", "plan_tracks")

# A Track is read from the tracks columns of its declared fields.
_TRACK_FIELDS = fields.on(TRACK, "tracks")
_SELECT_TRACK = "SELECT " + ", ".join(f.name for f in _TRACK_FIELDS) + " FROM tracks"
# Tables holding a track's large arrays, one row per track (``track_id``).
_SIDE_TABLES = ("beats", "features", "prints", "clarity")
# The analysers whose fields a run writes when the analysis does not say (every one).
_ALL_RUN = tuple(a for a in fields.PRODUCERS if a != "tags")
# Rows of schema <= 2 hold one version for the whole pipeline: 4 was the last, whose
# outputs are those of version 1 of every analyser (the style features were not kept).
_LEGACY_VERSION = 4
_LEGACY_ANALYSERS = {"tempo": 1, "loudness": 1, "energy": 1, "key": 1, "sections": 1,
                     "style_features": 1, "style": 1}

SORT_KEYS = fields.SORT_KEYS  # from the declaration (Field.sort)
# "has at least one drop", word for word the WHERE of the partial drops index
_HAS_DROPS = "drops <> '[]'"
# sort key -> an index in its order (a page of a broad filter walks it: Library._page_index)
_SORT_INDEX = {"artist": "tracks_artist", "bpm": "tracks_bpm", "energy": "tracks_energy",
               "drops bpm": "tracks_drops_bpm"}  # with the has-drops filter


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
    analysers: dict[str, int]  # {analyser: version} of what the row holds


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


def _blob(a: Any, dtype: str = "<f4") -> bytes | None:
    if a is None:
        return None
    arr = np.asarray(a, dtype=dtype)
    return arr.tobytes() if arr.size else None


def _unblob(b: Any, dtype: str = "<f4") -> np.ndarray:
    """Array of a stored blob (float32, or ``dtype``); empty when absent or damaged."""
    if not _blob_ok(b, np.dtype(dtype).itemsize):
        return np.zeros(0, np.dtype(dtype).newbyteorder("="))
    return np.frombuffer(b, dtype=dtype).astype(np.dtype(dtype).newbyteorder("="))


def _blob_ok(b: Any, itemsize: int = 4) -> bool:
    return isinstance(b, bytes) and len(b) > 0 and len(b) % itemsize == 0


def _num(v: Any) -> Any:
    """numpy scalars → Python; NaN/inf → None."""
    if type(v) is float:  # the common case first: this runs for every number written
        return v if math.isfinite(v) else None
    return fields.plain(v) if isinstance(v, (float, np.generic)) else v


def _dumps(v: Any) -> str | None:
    if v is None:
        return None
    return json.dumps(fields.plain(v), separators=(",", ":"), ensure_ascii=False)


def _loads(s: str | None, default: Any) -> Any:
    if not s:
        return default
    try:
        return json.loads(s)
    except ValueError:
        return default


def _typed(v: Any, kind: type) -> Any:
    """``v`` if it is a ``kind`` (JSON read back from a column), else an empty one."""
    return v if isinstance(v, kind) else kind()


def _real(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _tuples(v: Any, width: int) -> list[tuple]:
    """[(x, y, ...), ...] of ``width`` numbers from stored JSON; malformed entries dropped."""
    out = []
    for s in v if isinstance(v, list) else []:
        if isinstance(s, list) and len(s) == width and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in s):
            out.append(tuple(float(x) for x in s))
    return out


# How each kind of fields.FIELDS is written to SQLite and read back. SQLite keeps any type
# in any column: a value another tool wrote with the wrong type reads as unknown (None or
# empty), never as an error.
_TO_DB = {
    "int": _num, "real": _num, "text": lambda v: v, "path": path_to_db,
    "probs": lambda v: _dumps(v or {}), "records": lambda v: _dumps(v or []),
    "pairs": lambda v: _dumps([list(x) for x in v]) if v else None,
    "triples": lambda v: _dumps([list(x) for x in v]) if v else None,
    "lines": lambda v: _dumps([str(w) for w in v]) if v else None,
    "versions": lambda v: None if v is None else _dumps(dict(v)),
    "f32": _blob, "f64": lambda v: _blob(v, "<f8"), "u32": lambda v: _blob(v, "<u4"),
    "u8": lambda v: _blob(v, "u1"),
}
_FROM_DB = {
    "int": _int, "real": _real, "text": lambda v: v, "path": path_from_db,
    "probs": lambda v: {str(k): float(p) for k, p in _typed(_loads(v, {}), dict).items()
                        if _real(p) is not None},
    "records": lambda v: [d for d in _typed(_loads(v, []), list) if isinstance(d, dict)],
    "pairs": lambda v: _tuples(_loads(v, []), 2), "triples": lambda v: _tuples(_loads(v, []), 3),
    "lines": lambda v: [str(w) for w in _typed(_loads(v, []), list) if w],
    "versions": lambda v: {str(k): x for k, x in _typed(_loads(v, {}), dict).items()
                           if _int(x) is not None},
    "f32": _unblob, "f64": lambda v: _unblob(v, "<f8"), "u32": lambda v: _unblob(v, "<u4"),
    "u8": lambda v: _unblob(v, "u1"),
}
_DAMAGED_CURVE = "stored energy curve is damaged; ignored (scan --force to redo)"


def _values(obj: Any, fs: Iterable[fields.Field]) -> list:
    """Column values of fields ``fs`` from a record (duck-typed: absent attributes are None)."""
    return [_TO_DB[f.kind](getattr(obj, f.name, None)) for f in fs]


# How a _SELECT_TRACK row is read (looked up once, not per row).
_TRACK_NAMES = tuple(f.name for f in _TRACK_FIELDS)
_CURVE_AT = _TRACK_NAMES.index("energy_curve")


# Track's fields in order, each (column index, reader), or (None, field) for one kept in
# a side table (its default): a row then maps positionally, without a dict per row.
_TRACK_ORDER = [fields.BY_NAME[f.name] for f in dataclasses.fields(Track)]
_ROW_PLAN = tuple((_TRACK_NAMES.index(f.name), _FROM_DB[f.kind]) if f.name in _TRACK_NAMES
                  else (None, f) for f in _TRACK_ORDER)
_WARNINGS_AT = [f.name for f in _TRACK_ORDER].index("warnings")


def _row_to_track(r: Sequence) -> Track:
    """A Track from a row of _SELECT_TRACK."""
    vals = [read(r[i]) if i is not None else read.empty(TRACK) for i, read in _ROW_PLAN]
    curve = r[_CURVE_AT]
    if curve and not _blob_ok(curve):
        vals[_WARNINGS_AT].append(_DAMAGED_CURVE)
    return Track(*vals)


def _ran(analysis: Any) -> tuple[str, ...]:
    """The analysers whose fields an analysis carries: those it names (plus what every
    decode gives), or all when it does not say (a record made by hand)."""
    names = getattr(analysis, "analysers", None)
    if not names:
        return _ALL_RUN
    return ("decode",) + tuple(n for n in _ALL_RUN if n in names)


def _side_rows(track_id: int, analysis: Any, ran: Iterable[str]) -> list[tuple[str, list | None]]:
    """(table, row or None) for each side table an analysis of ``ran`` rewrites; None
    deletes the row (nothing to keep: e.g. no beats)."""
    out = []
    for table in _SIDE_TABLES:
        fs = fields.of_analysers(ran, table)
        if not fs:
            continue
        vals = _values(analysis, fs)
        out.append((table, [track_id] + vals if vals[0] is not None else None))
    return out


def _write_side(c: sqlite3.Connection, rows: Iterable[tuple[str, list | None]],
                track_id: int) -> None:
    for table, row in rows:
        if row is None:
            c.execute(f"DELETE FROM {table} WHERE track_id = ?", (track_id,))
        else:
            cols = ("track_id",) + tuple(f.name for f in fields.in_table(table))
            c.execute(f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) VALUES "
                      f"({', '.join('?' * len(cols))})", row)


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
        ddl = _declared_ddl(self._conn)  # a field declared since the last upgrade
        if ddl:
            if self.read_only:
                raise LibraryError(f"library database {self.path} is read-only and needs an "
                                   f"upgrade (new columns: {len(ddl)}); open it once where it "
                                   "can be written")
            with self._tx() as c:
                for stmt in ddl:
                    c.execute(stmt)

    def _recover_version(self, version: int, tables: set[str]) -> int:
        """user_version says 'empty' (0) or garbage (< 0) but tables exist: if they match
        a known schema exactly, that is the version (and it is written back)."""
        cols = [r[1] for r in self._conn.execute("PRAGMA table_info(tracks)")]
        for v in range(SCHEMA_VERSION, 0, -1):
            known = _schema_columns(v)
            if v >= 3:  # fields declared later come after: any prefix past schema 2's
                known = known[:max(len(cols), len(_schema_columns(2)) + 1)]
            if cols == known and set(_TABLES) <= tables:
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
                for stmt in _migration(self._conn, v):
                    self._conn.execute(stmt)
                self._conn.execute(f"PRAGMA user_version = {v + 1}")
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # SQLite may have rolled back (disk full)
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
               level: tuple[float, float] | None = None, offset: int = 0,
               drops: bool | None = None, text: str | None = None) -> list[Track]:
        """Tracks matching every given filter.

        ``bpm``/``energy`` are inclusive (lo, hi) ranges (either end may be None), ``energy``
        on the stored 0..1 scale; ``level`` the same on the users' 1–10 energy level,
        translated to 0..1 (models.level_to_energy) so the energy index still serves it;
        ``style`` is a style label; ``key`` a Camelot code ("8A") or key name ("A minor");
        ``artist`` a case-insensitive substring; ``sort`` one of SORT_KEYS, "-" prefix for
        descending (default: artist, album, track number, path); ``offset`` skips that many
        rows of the sorted result (paging, with ``limit``); ``drops`` True keeps the tracks
        with at least one drop (False: with none); ``text`` a case-insensitive substring of
        the artist, the title or the album.
        """
        sql, args = self._tracks_sql(bpm, energy, style, key, artist, sort, include_failed,
                                     include_missing, limit, level, offset, drops, text)
        return [_row_to_track(r) for r in self._conn.execute(sql, args)]

    def _tracks_sql(self, bpm=None, energy=None, style=None, key=None, artist=None, sort=None,
                    include_failed=False, include_missing=False, limit=None, level=None,
                    offset=0, drops=None, text=None, matches=None) -> tuple[str, list]:
        """The SQL and arguments of :meth:`tracks` with these filters (``matches``: how
        many rows they match, when already counted)."""
        where, args = self._where(bpm, _energy_range(energy, level), style, key, artist,
                                  include_failed, include_missing, drops, text)
        sql = _SELECT_TRACK + (" WHERE " + " AND ".join(where) if where else "")
        index = None
        if text and not (bpm or energy or level or style or key):
            index = "tracks_text"  # the three columns matched, read from the index
        elif limit is not None:
            index = self._page_index(where, args, sort, int(limit) + max(0, int(offset)),
                                     matches)
        if index:
            sql = sql.replace(" FROM tracks", f" FROM tracks INDEXED BY {index}", 1)
        sql += " ORDER BY " + _order_by(sort)
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            args += [-1 if limit is None else int(limit), max(0, int(offset))]
        return sql, args

    def _page_index(self, where: list[str], args: list, sort: str | None,
                    rows: int, matches: int | None = None) -> str | None:
        """The index in the sort's order to walk for the first ``rows`` rows, where that
        is cheaper (about rows x library / matches rows read) than the filters' index
        (every match read, then sorted): a page of a broad filter on a catalogue (1M
        rows, 77k matches: 0.9 ms instead of 0.2 s of CPU; 100k rows, energy 7-10 sorted
        by BPM: 33k matches, 250 -> 10 ms). None: SQLite's own choice."""
        name = (sort or "artist").lstrip("+-")
        index = _SORT_INDEX.get(("drops " if _HAS_DROPS in where else "") + name,
                                _SORT_INDEX.get(name))
        if index is None:
            return None
        total = self._conn.execute("SELECT max(id) FROM tracks").fetchone()[0] or 0
        if total < 50_000:
            return None
        if not where or where == ["status IN (?)"]:  # no filter (but the usual status)
            return index
        n = matches if matches is not None else self._conn.execute(
            "SELECT count(*) FROM tracks WHERE " + " AND ".join(where), args).fetchone()[0]
        return index if n * n > rows * total else None

    @_guarded
    def page(self, *, sort: str | None = None, limit: int | None = None, offset: int = 0,
             **filters: Any) -> tuple[list[Track], int]:
        """A page of :meth:`tracks` and how many tracks match in all (counted once: the
        count also chooses the page's index)."""
        n = self.count_tracks(**filters)
        f = dict(filters, sort=sort, limit=limit, offset=offset, matches=n)
        sql, args = self._tracks_sql(**f)
        return [_row_to_track(r) for r in self._conn.execute(sql, args)], n

    @_guarded
    def count_tracks(self, *, bpm: tuple[float, float] | None = None,
                     energy: tuple[float, float] | None = None, style: str | None = None,
                     key: str | None = None, artist: str | None = None,
                     include_failed: bool = False, include_missing: bool = False,
                     level: tuple[float, float] | None = None, drops: bool | None = None,
                     text: str | None = None) -> int:
        """How many tracks :meth:`tracks` would return with these filters and no limit."""
        where, args = self._where(bpm, _energy_range(energy, level), style, key, artist,
                                  include_failed, include_missing, drops, text)
        sql = "SELECT count(*) FROM tracks" + (" WHERE " + " AND ".join(where) if where else "")
        return int(self._conn.execute(sql, args).fetchone()[0])

    @_guarded
    def explain_tracks(self, **filters: Any) -> list[str]:
        """EXPLAIN QUERY PLAN lines for the query ``tracks(**filters)`` runs (the same SQL,
        its index choice included)."""
        sql, args = self._tracks_sql(**filters)
        return [r[3] for r in self._conn.execute("EXPLAIN QUERY PLAN " + sql, args)]

    @staticmethod
    def _where(bpm, energy, style, key, artist, include_failed, include_missing,
               drops=None, text=None):
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
            args.append(_like(artist))
        if text:
            where.append("(artist LIKE ? ESCAPE '\\' OR title LIKE ? ESCAPE '\\' "
                         "OR album LIKE ? ESCAPE '\\')")
            args += [_like(text)] * 3
        if drops is not None:
            # the exact term of the partial index tracks_drops_energy (schema 6); drops
            # is a JSON list, '[]' for none, NULL where not analysed
            where.append(_HAS_DROPS if drops else f"NOT coalesce({_HAS_DROPS}, 0)")
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
        for f in fields.in_table("tracks"):
            if f.kind in fields.JSON_KINDS:
                out[f.name] = _loads(out.get(f.name), None)
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
    def beat_clarity(self, track_id: int) -> np.ndarray:
        """Per stored beat, how clearly it is the beat (uint8, 255 clear; analysis/
        beat_clarity.py); empty when not analysed (a row from before that analyser)."""
        r = self._conn.execute("SELECT beat_clarity FROM clarity WHERE track_id = ?",
                               (track_id,)).fetchone()
        return _FROM_DB["u8"](r[0] if r else None)

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
                "SELECT id, path, status, size, mtime_ns, fingerprint, analysers, "
                "analysis_version FROM tracks"):
            versions = _FROM_DB["versions"](r[6]) if r[6] is not None else (
                dict(_LEGACY_ANALYSERS) if r[7] == _LEGACY_VERSION else {})
            st = FileState(r[0], path_from_db(r[1]), *r[2:6], versions)
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
                      fingerprint: str | None, analysis: Any,
                      versions: Mapping[str, int] | None = None) -> int:
        """Insert or update the analysis of ``path`` (one commit); returns the track id.

        Only the fields of the analysers that ran (``analysis.analysers``; every one when
        it does not say) are written: a re-run of one analyser keeps the others' outputs.
        ``versions`` ({analyser: version}) is stored as what the row now holds; the
        analysis's own ``analysers`` when None.
        """
        now = time.time()
        size, mtime_ns = stat if stat else (None, None)
        ran = _ran(analysis)
        fs = fields.of_analysers(ran, "tracks")
        if versions is None:
            versions = getattr(analysis, "analysers", None) or None
        cols = ("path", "status", "size", "mtime_ns", "fingerprint") + TAG_FIELDS + \
            tuple(f.name for f in fs) + ("analysers", "added_at", "updated_at")
        vals = [path_to_db(path), "ok", size, mtime_ns, fingerprint] + \
            [_num(tags.get(f)) for f in TAG_FIELDS] + _values(analysis, fs) + \
            [_TO_DB["versions"](versions), now, now]
        update = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in ("path", "added_at"))
        sql = (f"INSERT INTO tracks ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               f"ON CONFLICT(path) DO UPDATE SET {update} RETURNING id")
        with self._tx() as c:
            track_id = c.execute(sql, vals).fetchone()[0]
            _write_side(c, _side_rows(track_id, analysis, ran), track_id)
            c.execute("DELETE FROM errors WHERE path = ?", (path_to_db(path),))
        return track_id

    @_guarded
    def update_analysis(self, track_id: int, analysis: Any, analysers: Iterable[str],
                        versions: Mapping[str, int]) -> None:
        """Rewrite the fields of ``analysers`` from ``analysis`` (a re-run that did not
        decode, e.g. a new style model over stored features) and store ``versions``."""
        ran = tuple(analysers)
        fs = fields.of_analysers(ran, "tracks")
        sets = [f"{f.name} = ?" for f in fs] + ["analysers = ?", "updated_at = ?"]
        vals = _values(analysis, fs) + [_TO_DB["versions"](versions), time.time()]
        with self._tx() as c:
            c.execute(f"UPDATE tracks SET {', '.join(sets)} WHERE id = ?", vals + [track_id])
            _write_side(c, _side_rows(track_id, analysis, ran), track_id)

    @_guarded
    def identities(self, track_ids: Iterable[int]) -> dict[int, np.ndarray]:
        """The stored sound prints (analysis/identity.py) of these tracks, by id; tracks
        without one are left out."""
        ids = sorted({int(i) for i in track_ids})
        out: dict[int, np.ndarray] = {}
        for k in range(0, len(ids), 500):  # SQLite's bound-variable limit
            part = ids[k:k + 500]
            for tid, blob in self._conn.execute(
                    f"SELECT track_id, identity FROM prints WHERE track_id IN "
                    f"({', '.join('?' * len(part))})", part):
                pr = _FROM_DB["u32"](blob)
                if pr.size:
                    out[tid] = pr
        return out

    @_guarded
    def style_features(self, track_id: int, n_features: int) -> np.ndarray | None:
        """The stored style descriptors of one track, shape (n_windows, n_features); None
        when none are kept or they do not have ``n_features`` columns."""
        r = self._conn.execute("SELECT style_features FROM features WHERE track_id = ?",
                               (track_id,)).fetchone()
        x = _FROM_DB["f64"](r[0] if r else None)
        if x.size == 0 or x.size % n_features:
            return None
        return x.reshape(-1, n_features)

    @_guarded
    def save_error(self, path: str, stat: tuple[int, int] | None, reason: str,
                   tags: dict | None = None,
                   versions: Mapping[str, int] | None = None) -> int:
        """Record that ``path`` failed (one commit): an errors row and a 'failed' track row.

        ``versions``: the analysers that failed on it; a scan retries the file when the
        analysers' versions differ (None: on every scan)."""
        now = time.time()
        size, mtime_ns = stat if stat else (None, None)
        p = path_to_db(path)
        tags = tags or {}
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO errors (path, reason, size, mtime_ns, at) "
                      "VALUES (?, ?, ?, ?, ?)", (p, reason, size, mtime_ns, now))
            cols = ("path", "status", "size", "mtime_ns") + TAG_FIELDS + (
                "analysers", "added_at", "updated_at")
            vals = [p, "failed", size, mtime_ns] + [_num(tags.get(f)) for f in TAG_FIELDS] + \
                [_TO_DB["versions"](versions), now, now]
            sql = (f"INSERT INTO tracks ({', '.join(cols)}) VALUES "
                   f"({', '.join('?' * len(cols))}) ON CONFLICT(path) DO UPDATE SET "
                   "status = 'failed', size = excluded.size, mtime_ns = excluded.mtime_ns, "
                   "analysers = excluded.analysers, analysis_version = NULL, "
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
        fs = fields.of_analysers(_ALL_RUN, "tracks") + (fields.BY_NAME["analysers"],)
        cols = ("id", "path", "status") + TAG_FIELDS + tuple(f.name for f in fs) + (
            "added_at", "updated_at")
        sql = f"INSERT INTO tracks ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        with self._tx() as c:
            next_id = (c.execute("SELECT max(id) FROM tracks").fetchone()[0] or 0) + 1
            ids: list[int] = []
            rows = []
            side = []
            for i, t in enumerate(tracks):
                tid = t.id if t.id is not None else next_id
                next_id = max(next_id, tid + 1)
                ids.append(tid)
                a = analyses[i] if analyses is not None else None
                tag_vals = [_num(getattr(t, f, None)) for f in TAG_FIELDS]
                rows.append([tid, path_to_db(t.path), t.status] + tag_vals +
                            _values(_Merged(t, a), fs) + [now, now])
                if a is not None:
                    side.append((tid, [r for r in _side_rows(tid, a, _ran(a)) if r[1]]))
            c.executemany(sql, rows)
            for tid, rs in side:
                _write_side(c, rs, tid)
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
        elif self.conn.in_transaction:  # SQLite may have rolled back itself (disk full)
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


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere (its %, _ and \\ taken literally)."""
    esc = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{esc}%"


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
            for stmt in _migration(conn, v):
                conn.execute(stmt)
        return [r[1] for r in conn.execute("PRAGMA table_info(tracks)")]
    finally:
        conn.close()


def _migration(conn: sqlite3.Connection, v: int) -> list[str]:
    """The statements taking ``conn`` from schema ``v`` to ``v + 1``: the release's script,
    and from schema 3 on the declared tables and columns it lacks."""
    stmts = list(_split_sql(MIGRATIONS[v]))
    if v + 1 == 3:
        stmts += _declared_ddl(conn)
    return stmts


def _declared_ddl(conn: sqlite3.Connection) -> list[str]:
    """Statements adding what fields.FIELDS declares and the database lacks: a side table
    (one row per track) or a column, appended with its kind's type (nullable: SQLite adds
    no constrained column to a table with rows). Forward only: nothing is dropped."""
    have = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")]
            for t in ("tracks",) + _SIDE_TABLES}
    if not have["tracks"]:
        return []  # not a library yet
    out = []
    for table, cols in have.items():
        fs = fields.in_table(table)
        if not cols:
            defs = ", ".join(f"{f.name} {fields.SQL_TYPES[f.kind]}" for f in fs)
            out.append(f"CREATE TABLE {table} (track_id INTEGER PRIMARY KEY "
                       f"REFERENCES tracks(id) ON DELETE CASCADE, {defs})")
            continue
        out += [f"ALTER TABLE {table} ADD COLUMN {f.name} {fields.SQL_TYPES[f.kind]}"
                for f in fs if f.name not in cols]
    return out


def _split_sql(script: str) -> Iterator[str]:
    """Statements of a migration script (no ';' inside literals in our schema)."""
    lines = [ln.split("--", 1)[0] for ln in script.splitlines()]
    for stmt in "\n".join(lines).split(";"):
        if stmt.strip():
            yield stmt.strip()
