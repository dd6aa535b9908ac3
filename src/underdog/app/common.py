"""What every operation shares: opening the library, track records for users."""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .. import fields
from ..errors import UsageError
from ..library.db import Library, LibraryError, default_db_path, open_library
from ..models import Track, shown_level

DbPath = str | os.PathLike | None

# A track's CSV columns, from the declaration (fields.LISTED): the scalar fields and those
# with a CSV cell (drops as their times); energy shows as the level, the analysis value beside.
TRACK_FIELDS: tuple[str, ...] = tuple(
    n for f in fields.LISTED if f.kind in fields.SCALAR_KINDS or f.csv
    for n in ((f.name, "energy_raw") if f.name == "energy" else (f.name,)))
_CSV_CELLS = {f.name: f.csv for f in fields.LISTED if f.csv}


def track_csv_record(record: dict[str, Any]) -> dict[str, Any]:
    """A track record (``track_record``) with its list fields as one CSV cell each."""
    return {k: _CSV_CELLS[k](v) if k in _CSV_CELLS else v for k, v in record.items()}


def db_path(db: DbPath = None) -> str:
    """The library database's path: ``db``, else $UNDERDOG_DB, else the XDG default."""
    return os.fspath(db) if db is not None else default_db_path()


@contextmanager
def library(db: DbPath = None, *, must_exist: bool = False) -> Iterator[Library]:
    """The library at ``db`` (see :func:`db_path`), opened for the ``with`` block.

    ``must_exist``: a missing database is an error (commands that only read it), not a
    new empty library. Raises :class:`~underdog.library.db.LibraryError` (one line)."""
    path = db_path(db)
    if must_exist and not os.path.exists(path):
        raise LibraryError(f"{path}: no library database; run 'underdog scan DIR' first "
                           "(or pass --db)")
    lib = open_library(path)
    try:
        yield lib
    finally:
        lib.close()


def user_energy(d: dict) -> dict:
    """Energy as users see it, in place: ``energy`` the level 1–10 with one decimal
    (models.shown_level), ``energy_raw`` the analysis value 0..1; the analysis's integer
    ``energy_level`` is left out, so that one scale shows."""
    raw = d.get("energy")
    d["energy"] = shown_level(raw)
    d["energy_raw"] = fields.json_value(fields.BY_NAME["energy"], raw)
    d.pop("energy_level", None)
    return d


def track_record(t: Track) -> dict[str, Any]:
    """One track as a plain dict: its listed fields (``fields.LISTED``, declared order) in
    their JSON form (rounded as declared), energy as the 1–10 level with ``energy_raw``
    0..1 beside it."""
    d = {f.name: fields.json_value(f, getattr(t, f.name)) for f in fields.LISTED}
    d["energy"] = t.energy  # the level is that of the stored value
    return user_energy(d)


def parse_range(text: str | None, what: str) -> tuple[float | None, float | None] | None:
    """"120-140" → (120.0, 140.0); "120-" / "-140" open-ended; "128" → (128.0, 128.0);
    None → None. A malformed range raises :class:`~underdog.errors.UsageError`."""
    if text is None:
        return None
    t = text.strip()
    try:
        if "-" in t[1:] or t.startswith("-"):
            i = t.index("-", 1) if "-" in t[1:] else 0
            lo, hi = t[:i].strip(), t[i + 1:].strip()
            rng = (float(lo) if lo else None, float(hi) if hi else None)
        else:
            rng = (float(t), float(t))
    except ValueError:
        raise UsageError(f"{what} range must look like 120-140, 120- or -140") from None
    if not all(v is None or math.isfinite(v) for v in rng):
        raise UsageError(f"{what} range {text}: the ends must be finite numbers")
    if rng[0] is not None and rng[1] is not None and rng[0] > rng[1]:
        raise UsageError(f"{what} range {text}: low end is above high end")
    return rng


def as_range(v: str | tuple | None, what: str) -> tuple | None:
    """A range given as text (:func:`parse_range`) or as a (lo, hi) pair."""
    return parse_range(v, what) if isinstance(v, str) else (tuple(v) if v is not None else None)


def abspath(p: str | os.PathLike | Path) -> str:
    return os.path.abspath(os.fspath(p))
