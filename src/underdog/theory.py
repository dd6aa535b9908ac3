"""Music theory in one place: the 24 major/minor keys, their names, Camelot and Open Key
codes, parsing any of these notations, and harmonic compatibility on the Camelot wheel;
and tempo octaves (half and double time, :func:`fold_octaves`).

Conventions (used by analysis, the library, the planner and the tag writer alike):

- A key is a :class:`Key`, the pair ``(tonic, minor)`` with the tonic a pitch class
  (C = 0 ... B = 11).
- Spelling: each key takes the enharmonic spelling with the fewer accidentals in its key
  signature, F# major (6 sharps) over Gb (6 flats) and Eb minor over D# minor:
  majors C Db D Eb E F F# G Ab A Bb B; minors C C# D Eb E F F# G G# A Bb B.
  :func:`key_name` writes "A minor" (analysis, the library, JSON); :func:`short_name`
  writes "Am" (ID3's ``TKEY`` notation, tags).
- Camelot: the major keys are the B side, numbered by fifths with C major = 8B; each minor
  key shares its relative major's number on the A side (A minor = 8A). Open Key (Traktor)
  numbers the same wheel from C major = 1d, A minor = 1m.
- Compatible keys: the same code, one step around the wheel on the same side (8A-9A, 12B-1B),
  or the relative major/minor (8A-8B). :func:`camelot_distance` counts steps around the
  wheel plus one for changing side, so compatible means distance <= 1.

:func:`parse_key` accepts "A minor", "Am", "a" (lower case, no mode: minor), "a#m",
"F# major", "Gb", "D♭ maj", "A:min", "B♯", "8A", "08b", "1m", "2d"; anything else raises
``ValueError``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

import numpy as np

# Pitch class of each note letter.
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"": 0, "#": 1, "♯": 1, "b": -1, "♭": -1}
MAJOR_TONICS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")

_NAME_RE = re.compile(
    r"^\s*([A-Ga-g])\s*([#♯b♭]?)[\s:_-]*(m|mi|min|minor|M|maj|major)?\s*$", re.IGNORECASE)
_CAMELOT_RE = re.compile(r"^\s*(1[0-2]|0?[1-9])\s*([AB])\s*$", re.IGNORECASE)
_OPEN_KEY_RE = re.compile(r"^\s*(1[0-2]|0?[1-9])\s*([DM])\s*$", re.IGNORECASE)


class Key(NamedTuple):
    """One of the 24 keys: tonic pitch class (C = 0 ... B = 11) and mode."""

    tonic: int
    minor: bool

    name = property(lambda k: key_name(*k), doc='"A minor", "Db major".')
    short = property(lambda k: short_name(*k), doc='"Am", "Db".')
    camelot = property(lambda k: camelot_code(*k), doc='"8A".')
    open_key = property(lambda k: open_key_code(*k), doc='"1m".')


# ---------------------------------------------------------------- spelling


def _tonic(tonic: int, minor: bool) -> str:
    return (MINOR_TONICS if minor else MAJOR_TONICS)[tonic % 12]


def key_name(tonic: int, minor: bool) -> str:
    """Long name: "A minor", "Db major"."""
    return f"{_tonic(tonic, minor)} {'minor' if minor else 'major'}"


def short_name(tonic: int, minor: bool) -> str:
    """Short name (ID3 ``TKEY`` notation): "Am", "Db", "G#m"."""
    return _tonic(tonic, minor) + ("m" if minor else "")


def camelot_number(tonic: int, minor: bool) -> int:
    """Position 1..12 on the Camelot wheel (C major and A minor are 8)."""
    major = (tonic + 3) % 12 if minor else tonic % 12  # a minor key's relative major
    return (8 + 7 * major) % 12 or 12  # a fifth (7 semitones) per step; 7 * 7 = 1 mod 12


def camelot_code(tonic: int, minor: bool) -> str:
    """Camelot code: "8A" (A minor), "8B" (C major)."""
    return f"{camelot_number(tonic, minor)}{'A' if minor else 'B'}"


def open_key_code(tonic: int, minor: bool) -> str:
    """Open Key code: "1m" (A minor), "1d" (C major)."""
    return f"{(camelot_number(tonic, minor) - 8) % 12 + 1}{'m' if minor else 'd'}"


def _from_wheel(number: int, minor: bool) -> Key:
    major = (7 * (number - 8)) % 12  # inverse of camelot_number
    return Key((major + 9) % 12, True) if minor else Key(major, False)


# ---------------------------------------------------------------- parsing


def parse_camelot(code: str) -> Key:
    """The key of a Camelot code ("8A", "12b", "08B"); ``ValueError`` for anything else."""
    m = _CAMELOT_RE.match(code or "")
    if not m:
        raise ValueError(f"not a Camelot code: {code!r}")
    return _from_wheel(int(m.group(1)), m.group(2).upper() == "A")


def parse_key(text: str) -> Key:
    """The key written in any notation this module knows (see the module docstring)."""
    s = text or ""
    m = _CAMELOT_RE.match(s)
    if m:
        return _from_wheel(int(m.group(1)), m.group(2).upper() == "A")
    m = _OPEN_KEY_RE.match(s)
    if m:
        return _from_wheel((int(m.group(1)) + 6) % 12 + 1, m.group(2).upper() == "M")
    m = _NAME_RE.match(s)
    if not m:
        raise ValueError(f"not a key: {text!r}")
    letter, acc, mode = m.groups()
    if acc == "B":  # "AB" is not A flat
        raise ValueError(f"not a key: {text!r}")
    tonic = (_LETTERS[letter.upper()] + _ACCIDENTALS[acc]) % 12
    if mode is None:
        minor = letter.islower()
    elif mode == "M":
        minor = False
    else:
        minor = mode.lower() in ("m", "mi", "min", "minor")
    return Key(tonic, minor)


def try_parse_key(text: str | None) -> Key | None:
    """:func:`parse_key`, or None for None, "" or text that is no key."""
    if not text:
        return None
    try:
        return parse_key(text)
    except ValueError:
        return None


def camelot_of(text: str) -> str:
    """Camelot code of a key in any notation: "A minor" -> "8A"."""
    return parse_key(text).camelot


def key_of_camelot(code: str) -> str:
    """Long name of a Camelot code: "8A" -> "A minor"."""
    return parse_camelot(code).name


def relative(text: str) -> str:
    """Long name of the relative major of a minor key and vice versa."""
    k = parse_key(text)
    return key_name((k.tonic + 3) % 12, False) if k.minor else key_name((k.tonic + 9) % 12, True)


# ---------------------------------------------------------------- the wheel


@lru_cache(maxsize=512)  # a library holds few distinct spellings; pools read thousands
def wheel_coords(text: str | None) -> tuple[int, int]:
    """(Camelot number - 1, side: 0 for A (minor), 1 for B (major)) of a key in any
    notation; (-1, -1) when it is unknown. The planner's array form of a key."""
    k = try_parse_key(text)
    if k is None:
        return -1, -1
    return camelot_number(*k) - 1, 0 if k.minor else 1


def wheel_steps(num_a, side_a, num_b, side_b) -> np.ndarray:
    """Camelot distance between keys given as :func:`wheel_coords` (arrays broadcast):
    steps around the wheel plus one for changing side; -1 where a key is unknown."""
    num_a, side_a, num_b, side_b = map(np.asarray, (num_a, side_a, num_b, side_b))
    d = np.abs(num_a - num_b) % 12
    d = np.minimum(d, 12 - d) + (side_a != side_b)
    return np.where((num_a < 0) | (num_b < 0), -1, d)


def camelot_distance(a: str, b: str) -> int:
    """Steps between two keys (any notation): around the wheel, plus one to change side
    (8A -> 2B is 7). ``ValueError`` when either is no key."""
    ca, cb = wheel_coords(parse_key(a).camelot), wheel_coords(parse_key(b).camelot)
    return int(wheel_steps(ca[0], ca[1], cb[0], cb[1]))


def compatible(a: str, b: str) -> bool:
    """Same key, a neighbour on the same side of the wheel, or the relative major/minor."""
    return camelot_distance(a, b) <= 1


def fold_octaves(log2_bpm, center: float) -> np.ndarray:
    """Tempi moved by whole octaves (half or double time) into the octave around
    ``center``.

    Parameters
    ----------
    log2_bpm : array_like of float
        Tempi as log2 BPM, any shape (NaN stays NaN).
    center : float
        The octave's middle, log2 BPM.

    Returns
    -------
    np.ndarray of float64, the shape of ``log2_bpm``
        Each tempo in [center - 0.5, center + 0.5): within a factor of sqrt(2) of
        ``2 ** center`` BPM.
    """
    x = np.asarray(log2_bpm, dtype=np.float64)
    return center + np.mod(x - center + 0.5, 1.0) - 0.5
