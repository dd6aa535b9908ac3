"""Every field of a track, declared once.

``FIELDS`` is the one declaration of the track record. From it derive:

- ``models.Track`` (the library row the planner reads) and ``analysis.TrackAnalysis`` (what
  the pipeline returns): their dataclass fields, in declared order (:func:`record`);
- the library's schema: every declared column exists (``library/db.py`` adds the ones a
  database lacks, forward only), the row mapping (read and write, by ``kind``) and which
  columns an analyser's re-run rewrites (``analyser``);
- the track records users get (``listed``: ``tracks -f json|csv``, ``show``, the web page);
- the JSON form (:func:`json_value`, :func:`to_json`: rounding by ``digits``);
- the table columns of the CLI (``label``, ``fmt``; :func:`cell`).

A new descriptor is one ``Field`` here plus the step that computes it (see
docs/descriptors.md, "Adding a field"). Nothing in this module reads files or SQL.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from underdog.text import mmss

# Where a field lives: on models.Track ("track"), on analysis.TrackAnalysis ("analysis"),
# or only in the database (neither).
TRACK, ANALYSIS = "track", "analysis"

# kind -> SQL column type. The kinds name how a value is stored and read back:
#   int, real, text: scalars (a wrong type read back from SQLite becomes None);
#   path: TEXT, or a BLOB of the bytes of a name that is not valid UTF-8;
#   probs: JSON {"name": probability}; records: JSON [{...}, ...];
#   pairs / triples: JSON [[x, y], ...] / [[x, y, z], ...] (None when empty);
#   lines: JSON ["one line", ...] (None when empty); versions: JSON {"analyser": version};
#   f32 / f64 / u32: little-endian float32 / float64 / uint32 arrays as BLOBs (None when
#   empty; u32 for bit words such as a sound print); u8: bytes (0-255 per item, e.g. a
#   beat's clarity).
SQL_TYPES: dict[str, str] = {
    "int": "INTEGER", "real": "REAL", "text": "TEXT", "path": "TEXT", "probs": "TEXT",
    "records": "TEXT", "pairs": "TEXT", "triples": "TEXT", "lines": "TEXT", "versions": "TEXT",
    "f32": "BLOB", "f64": "BLOB", "u32": "BLOB", "u8": "BLOB",
}
_PY_TYPES: dict[str, str] = {
    "int": "int | None", "real": "float | None", "text": "str | None", "path": "str",
    "probs": "dict[str, float]", "records": "list[dict]", "pairs": "list[tuple[float, float]]",
    "triples": "list[tuple[float, float, float]]", "lines": "list[str]",
    "versions": "dict[str, int]", "f32": "np.ndarray", "f64": "np.ndarray", "u32": "np.ndarray",
    "u8": "np.ndarray",
}
_EMPTY: dict[str, Callable[[], Any]] = {
    "probs": dict, "records": list, "pairs": list, "triples": list, "lines": list,
    "versions": dict, "f32": lambda: np.zeros(0, np.float32),
    "f64": lambda: np.zeros((0, 0), np.float64), "u32": lambda: np.zeros(0, np.uint32),
    "u8": lambda: np.zeros(0, np.uint8),
}
_MISSING = object()


@dataclass(frozen=True)
class Field:
    """One field of the track record.

    ``analyser`` names the analysis step whose run (re)writes it ("decode": every decode
    does; "tags": the tag reader, library/tags.py; None: file state and bookkeeping). ``table`` is the SQL table holding it ("tracks";
    "beats" and "features" hold the large arrays, one row per track). ``on`` lists the
    records it appears on (TRACK, ANALYSIS). ``required`` the records where it has no
    default. ``json``: part of the JSON form; ``digits``: rounding there (array items 3,
    other numbers 4 unless set). ``label``/``fmt``: its column in CLI tables. ``sql``: a
    column definition overriding the kind's type (constraints, defaults). ``sort``: the
    names users sort tracks by it with (``tracks --sort``), ``sort_sql`` the ORDER BY
    term (the column by default). ``listed``: part of the track records users get
    (``tracks -f json|csv``, ``show``, the web page; CSV takes the scalar ones, and those
    with a ``csv`` cell: the JSON value as one text cell).
    """

    name: str
    kind: str
    analyser: str | None = None
    table: str = "tracks"
    on: tuple[str, ...] = (TRACK, ANALYSIS)
    required: tuple[str, ...] = ()
    default: Any = _MISSING
    json: bool = True
    digits: int | None = None
    label: str | None = None
    fmt: Callable[[Any], str] | None = None
    sql: str | None = None
    sort: tuple[str, ...] = ()
    sort_sql: str | None = None
    listed: bool = False
    csv: Callable[[Any], str] | None = None
    doc: str = ""

    @property
    def sql_type(self) -> str:
        return self.sql or SQL_TYPES[self.kind]

    @property
    def py_type(self) -> str:
        return _PY_TYPES[self.kind]

    def empty(self, record: str | None = None) -> Any:
        """The field's default value on ``record`` (a fresh container for container kinds)."""
        d = self.default
        if isinstance(d, dict) and record in d:
            d = d[record]
        if d is not _MISSING and not isinstance(d, dict):
            return d() if callable(d) else d
        return _EMPTY[self.kind]() if self.kind in _EMPTY else None


def _number(spec: str) -> Callable[[Any], str]:
    return lambda v: format(v, spec)


def _level(v: float) -> str:
    from .models import shown_level

    lv = shown_level(v)
    return "–" if lv is None else f"{lv:.1f}"


_DB = ()  # on no record: a column only the library reads and writes
_T = (TRACK,)
_A = (ANALYSIS,)

FIELDS: tuple[Field, ...] = (
    # identity and file state
    Field("id", "int", on=_T, required=_T, json=False, sql="INTEGER PRIMARY KEY",
          label="id", sort=("id",), listed=True),
    Field("path", "path", required=(TRACK, ANALYSIS), sql="TEXT NOT NULL UNIQUE",
          sort=("path",), doc="absolute; a BLOB of its bytes when not valid UTF-8", listed=True),
    # tags (read by library/tags.py)
    Field("artist", "text", "tags", on=_T, sql="TEXT COLLATE NOCASE",
          sort=("artist",), listed=True),
    Field("title", "text", "tags", on=_T, sort=("title",),
          sort_sql="title COLLATE NOCASE", listed=True),
    Field("album", "text", "tags", on=_T, sort=("album",),
          sort_sql="album COLLATE NOCASE", listed=True),
    Field("albumartist", "text", "tags", on=_T, listed=True),
    Field("genre", "text", "tags", on=_T, listed=True),
    Field("year", "int", "tags", on=_T, sort=("year",), listed=True),
    Field("track_no", "int", "tags", on=_T, listed=True),
    Field("tag_bpm", "real", "tags", on=_DB),
    Field("tag_key", "text", "tags", on=_DB),
    # analysis: every decode
    Field("duration_s", "real", "decode", required=_A, label="time", fmt=mmss,
          sort=("duration",), doc="seconds of decoded audio", listed=True),
    # analysis: tempo, beats, bars
    Field("bpm", "real", "tempo", label="BPM", fmt=_number(".1f"), sort=("bpm",),
          doc="dominant tempo, beats per minute", listed=True),
    Field("bpm_confidence", "real", "tempo", label="conf", fmt=_number(".2f"),
          doc="0..1", listed=True),
    Field("bpm_candidates", "pairs", "tempo", on=_A, doc="[(bpm, weight), ...]"),
    Field("tempo_segments", "triples", "tempo",
          doc="tempo map [(start_s, end_s, bpm), ...]", listed=True),
    Field("beats", "f32", "tempo", table="beats", on=_A, doc="beat times (s)"),
    Field("downbeats", "f32", "tempo", table="beats", on=_A, doc="bar starts (s)"),
    Field("phrases", "f32", "tempo", table="beats", on=_A, doc="phrase starts (s)"),
    # analysis: how clearly each beat is the beat (analysis/beat_clarity.py)
    Field("beat_clarity", "u8", "beat_clarity", table="clarity", on=_A,
          doc="per stored beat, 0-255: how clearly it is the beat (255 clear)"),
    # analysis: loudness
    Field("loudness_lufs", "real", "loudness", label="LUFS", fmt=_number(".1f"),
          sort=("loudness",), doc="integrated loudness, LUFS (BS.1770)", listed=True),
    Field("loudness_range_lu", "real", "loudness", on=_A, doc="loudness range, LU"),
    Field("peak_dbfs", "real", "loudness", on=_A, doc="sample peak, dBFS"),
    # analysis: energy
    Field("energy", "real", "energy", label="energy", fmt=_level, sort=("energy",),
          doc="raw energy 0..1 (users see the level 1-10: models.shown_level)", listed=True),
    Field("energy_level", "int", "energy", doc="ceil(10 * energy), 1..10"),
    Field("energy_curve", "f32", "energy", default={TRACK: None},
          doc="energy per bar, 0..1, shape (n_bars,)"),
    Field("energy_curve_hop_s", "real", "energy", doc="seconds per energy_curve value"),
    # analysis: key
    Field("key", "text", "key", doc='key name, e.g. "A minor"', listed=True),
    Field("camelot", "text", "key", label="key", fmt=str, sort=("key", "camelot"),
          doc='Camelot code, e.g. "8A"', listed=True),
    Field("key_confidence", "real", "key", doc="0..1", listed=True),
    # analysis: sections
    Field("drops", "records", "sections", label="drops", fmt=lambda v: str(len(v)),
          csv=lambda v: " ".join(f"{d['time_s']:.2f}" for d in v or ()),
          doc="[{time_s, strength, ...}, ...]", listed=True),
    Field("buildups", "records", "sections", on=_A, doc="[{start_s, end_s, strength}, ...]"),
    Field("intro_end_s", "real", "sections", doc="first mix-in point (s)", listed=True),
    Field("outro_start_s", "real", "sections", doc="last mix-out point (s)", listed=True),
    # analysis: style (its features are kept so that a new style model re-decodes nothing)
    Field("style", "probs", "style",
          doc="{style: probability} over analysis.style.STYLES", listed=True),
    Field("style_label", "text", "style", label="style", fmt=str, sort=("style",),
          doc="the likeliest style", listed=True),
    Field("style_source", "text", "style",
          doc='"audio" or "tag" (a genre tag decided)', listed=True),
    Field("style_features", "f64", "style_features", table="features", on=_A, json=False,
          doc="per-window style descriptors, shape (n_windows, len(style.FEATURE_NAMES))"),
    # analysis: identity by sound (one recording under two paths or encodings)
    Field("identity", "u32", "identity", table="prints", json=False,
          doc="sound print: one 32-bit word per 93 ms (analysis/identity.py); on a "
              "Track only where loaded (Library.identities)"),
    # things the user should know that did not stop the analysis
    Field("warnings", "lines", "decode", doc="one line each", listed=True,
          # CSV: one JSON array per cell (a warning may hold any separator); "" for none
          csv=lambda v: json.dumps(list(v), ensure_ascii=False) if v else ""),
    # bookkeeping
    Field("status", "text", on=_T, default="ok", json=False,
          sql="TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok','failed','missing'))",
          doc="ok | failed | missing", listed=True),
    Field("size", "int", on=_DB), Field("mtime_ns", "int", on=_DB),
    Field("fingerprint", "text", on=_DB),
    Field("analysis_version", "int", on=_DB,
          doc="schema <= 2: one version for the whole pipeline (read for old rows only)"),
    Field("analysers", "versions", on=_A,
          doc="{analyser: version} of the analysers whose output the row holds"),
    Field("added_at", "real", on=_DB, sql="REAL NOT NULL", sort=("added",)),
    Field("updated_at", "real", on=_DB, sql="REAL NOT NULL"),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}


def on(record: str, table: str | None = None) -> tuple[Field, ...]:
    """The fields of ``record`` (TRACK or ANALYSIS) in declared order, optionally only
    those stored in ``table``."""
    return tuple(f for f in FIELDS if record in f.on and (table is None or f.table == table))


def in_table(table: str) -> tuple[Field, ...]:
    """The fields stored in SQL table ``table``."""
    return tuple(f for f in FIELDS if f.table == table)


def of_analysers(names: Iterable[str], table: str | None = None) -> tuple[Field, ...]:
    """The fields a run of the analysers ``names`` (re)writes (in ``table`` when given)."""
    names = set(names)
    return tuple(f for f in FIELDS if f.analyser in names and (table is None or f.table == table))


# Every analyser named by a field (the analysis steps, "decode" and "tags").
PRODUCERS: tuple[str, ...] = tuple(dict.fromkeys(f.analyser for f in FIELDS if f.analyser))
TAG_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.analyser == "tags")
# The track record users get (``listed``), in declared order; CSV takes the scalar kinds.
LISTED: tuple[Field, ...] = tuple(f for f in FIELDS if f.listed)
SCALAR_KINDS = frozenset({"int", "real", "text", "path"})
JSON_KINDS = frozenset({"probs", "records", "pairs", "triples", "lines", "versions"})


def record(name: str) -> Callable[[type], type]:
    """Class decorator: make ``cls`` a dataclass whose fields are those declared for
    record ``name``, in declared order (required ones first, as dataclasses need).
    The class keeps its own methods and properties."""
    def deco(cls: type) -> type:
        fs = on(name)
        ordered = [f for f in fs if name in f.required] + [f for f in fs if name not in f.required]
        cls.__annotations__ = {f.name: f.py_type for f in ordered}
        for f in ordered:
            if name in f.required:
                continue
            kind = f
            d = kind.empty(name)
            if d is None or isinstance(d, (str, int, float)):
                setattr(cls, f.name, dataclasses.field(default=d))
            else:
                setattr(cls, f.name, dataclasses.field(
                    default_factory=lambda f=kind: f.empty(name)))
        return dataclass(cls)
    return deco


# ---------------------------------------------------------------- JSON form

def plain(v: Any, digits: int | None = None, array_digits: int | None = None) -> Any:
    """``v`` as plain JSON values: numpy scalars and arrays become numbers and lists,
    tuples lists, NaN and ±inf None; floats rounded to ``digits`` (array items to
    ``array_digits``) when given. Other objects pass unchanged."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, np.ndarray):
        return [plain(x, array_digits) for x in v.tolist()]
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            return None
        return f if digits is None else round(f, digits)
    if isinstance(v, dict):
        return {str(k): plain(x, digits, array_digits) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x, digits, array_digits) for x in v]
    return v


def json_value(f: Field, v: Any) -> Any:
    """The JSON form of value ``v`` of field ``f`` (rounded by the field's digits)."""
    d = f.digits
    return plain(v, 4 if d is None else d, 3 if d is None else d)


def to_json(obj: Any, record_name: str) -> dict:
    """The JSON form of a record (every declared JSON field of ``record_name``)."""
    return {f.name: json_value(f, getattr(obj, f.name, None))
            for f in on(record_name) if f.json}


# Sort key -> ORDER BY term, for every field users sort tracks by.
SORT_KEYS: dict[str, str] = {k: f.sort_sql or f.name for f in FIELDS for k in f.sort}


def cell(name: str, v: Any) -> str:
    """The text of field ``name``'s value in a CLI table ("–" when unknown)."""
    f = BY_NAME[name]
    if v is None or (f.kind == "text" and not v):
        return "–"
    return (f.fmt or str)(v)


def column(name: str) -> tuple[str, str]:
    """(heading, justification) of field ``name``'s CLI table column."""
    f = BY_NAME[name]
    return f.label or f.name, "right" if f.kind in ("int", "real") or name == "drops" else "left"
