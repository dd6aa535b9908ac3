"""Analyze files outside the library: the ``analyze`` operation, and one file as a
library-like track (for references that name files the library lacks)."""

from __future__ import annotations

import os
from typing import Any, Iterable, Iterator

from ..errors import UnderdogError
from ..models import Track
from .common import user_energy


def iter_audio_paths(paths: Iterable[str | os.PathLike]) -> Iterator[str]:
    """Files as given; folders walked (sorted, symlink loops ignored) for audio files."""
    from ..audio import is_audio_path

    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    if is_audio_path(name):
                        yield os.path.join(root, name)
        else:
            yield p


def analyze_with_tags(path: str):
    """(analysis, tags) of one file: the full pipeline, with the style decided by a
    specific genre tag where the file has one. Raises the pipeline's UnderdogError."""
    from ..analysis import analyze
    from ..analysis.style import resolve_style
    from ..library.tags import read_tags

    a = analyze(path)
    tags = read_tags(path)
    a.style_label, a.style, a.style_source = resolve_style(a.style, tags.get("genres"))
    return a, tags


def analyze_file(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON-ready record of one file's analysis (energy as the level 1–10,
    ``energy_raw`` 0..1), or ``{"path", "error"}`` with one line: never raises for a bad
    file."""
    path = os.fspath(path)
    try:
        a, _ = analyze_with_tags(path)
        return user_energy(a.to_json())
    except UnderdogError as exc:
        return {"path": path, "error": str(exc)}
    except MemoryError:
        return {"path": path, "error": f"{path}: out of memory while analyzing"}
    except Exception as exc:  # never a traceback for one bad file
        return {"path": path, "error": f"{path}: internal error: {exc.__class__.__name__}: {exc}"}


def analyze_files(paths: Iterable[str | os.PathLike]) -> Iterator[dict[str, Any]]:
    """:func:`analyze_file` for every audio file of ``paths`` (folders walked), as each
    is done."""
    for p in iter_audio_paths(paths):
        yield analyze_file(p)


def track_from_file(path: str, analyze_fn=None) -> Track:
    """A library-like :class:`Track` (no id) from analyzing ``path`` now and reading its
    tags; nothing is stored. Raises the pipeline's UnderdogError."""
    from ..library.tags import read_tags

    if analyze_fn is None:
        from ..analysis import analyze as analyze_fn
    a = analyze_fn(path)
    tags = read_tags(path)
    return Track(
        id=None, path=path, artist=tags.get("artist"), title=tags.get("title"),
        album=tags.get("album"), genre=tags.get("genre"), track_no=tags.get("track_no"),
        duration_s=a.duration_s, identity=a.identity,
        bpm=a.bpm, bpm_confidence=a.bpm_confidence, loudness_lufs=a.loudness_lufs,
        energy=a.energy, energy_level=a.energy_level, key=a.key, camelot=a.camelot,
        key_confidence=a.key_confidence, style=dict(a.style or {}),
        style_label=a.style_label, drops=list(a.drops or []), intro_end_s=a.intro_end_s,
        outro_start_s=a.outro_start_s)
