"""What the CLI prints: user text made safe for a terminal, consoles, error lines, JSON.

Every string that reaches a terminal may hold text we do not control (file names, tags,
arc and segment names, tracklist lines, playlist entries, error messages quoting them).
Three rules keep that text inert:

- consoles from :func:`make_console` never read Rich markup or emoji codes (``[/x]``,
  ``Song [feat. Drake]`` and ``:fire:`` print literally) and never re-colour text;
- every string they render passes :func:`visible`: control and format characters (an ESC
  starting a terminal sequence, a bell, a right-to-left override) and the undecodable bytes
  of a file name are printed as ``\\x1b``-style escapes, never sent raw;
- JSON goes out through :func:`json_line`: valid UTF-8 whatever the file names hold, each
  ``path`` lossless (see :func:`underdog.fileio.path_json`).

Styled pieces are built with :func:`line` (``Text`` objects), not markup strings.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any, NoReturn, Sequence

import typer
from rich.console import Console
from rich.text import Text

from ..app.outputs import check_outputs
from ..fileio import display_text, path_json
from ..text import visible

def shown_path(path: str | os.PathLike) -> str:
    """A path printable on any terminal (see :func:`visible`)."""
    return visible(os.fspath(path) if not isinstance(path, bytes) else os.fsdecode(path))


def plain(text: object, style: str = "") -> Text:
    """User text as a ``Text`` (never parsed as markup), made :func:`visible`."""
    return Text(visible(text), style=style)


def line(*parts: str | tuple[str, str]) -> Text:
    """One printed line from pieces: ``"text"`` or ``("text", "style")``; all made visible."""
    out = Text()
    for p in parts:
        if isinstance(p, tuple):
            out.append(visible(p[0]), style=p[1])
        else:
            out.append(visible(p))
    return out


class _SafeConsole(Console):
    """A Console whose plain strings (print arguments, table cells, titles) pass
    :func:`visible` before rendering; markup, emoji and highlighting are off."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        kwargs["markup"] = False  # even where a caller asks for it
        kwargs["emoji"] = False
        return super().render_str(visible(text, keep_newlines=True), **kwargs)


def make_console(stderr: bool = False, **kwargs: Any) -> Console:
    """A console for the CLI (stdout, or stderr): user text shows literally and visibly."""
    return _SafeConsole(stderr=stderr, markup=False, emoji=False, highlight=False, **kwargs)


def output_console(outputs: Sequence[Path] = (), piped_width: int | None = None) -> Console:
    """Start a command that writes files: check that each of ``outputs`` can be written
    (before any long work; a bad path is a one-line error), and return the stdout console,
    ``piped_width`` columns wide when piped (so each table row stays on one line)."""
    check_outputs(outputs)
    console = make_console()
    if piped_width and not console.is_terminal:
        console = make_console(width=piped_width)
    return console


def error(msg: object, what: str = "error", style: str = "red") -> None:
    """Print ``error <msg>`` (one line, visible) on stderr."""
    make_console(stderr=True, soft_wrap=True).print(line((what, style), " ", str(msg)))


def fail(msg: object, code: int = 2) -> NoReturn:
    """Print ``error <msg>`` on stderr and exit with ``code``."""
    error(msg)
    raise typer.Exit(code)


# ---------------------------------------------------------------- JSON

def _clean(obj: Any) -> Any:
    """``obj`` with every ``"path"`` lossless (:func:`path_json`) and every other string
    valid Unicode (:func:`display_text`), NaN and infinities None; numpy scalars and
    arrays as Python values."""
    if isinstance(obj, str):
        return display_text(obj)
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            k = display_text(str(k))
            if k == "path" and isinstance(v, (str, os.PathLike)):
                out.update(path_json(v))
            else:
                out[k] = _clean(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return display_text(os.fspath(obj))
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "tolist"):  # numpy scalar or array
        return _clean(obj.tolist())
    return obj


def json_text(obj: Any, indent: int | None = None) -> str:
    """``obj`` as JSON text that is valid UTF-8 and strict JSON whatever it quotes: a
    ``path`` that is not UTF-8 gets ``path_bytes_b64`` beside it (exact bytes, base64),
    other strings are made valid Unicode, NaN and infinities become null."""
    # \u escapes where stdout cannot carry UTF-8 (an ASCII or Latin-1 locale)
    utf8 = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "") == "utf8"
    return json.dumps(_clean(obj), ensure_ascii=not utf8, indent=indent, default=str)


def print_records(records: Any, format: str, *, indent: int | None = 1,
                  csv_fields: Sequence[str] | None = None) -> None:
    """Print records in a machine format, the one dispatch every command uses:
    ``json`` one document (a list, or one record; ``indent`` spaces), ``jsonl`` one line
    per record (a single dict: itself on one line), ``csv`` a header and one row per
    record (``csv_fields``; text as a table shows it, no control characters)."""
    if format == "json":
        sys.stdout.write(json_text(records, indent=indent) + "\n")
    elif format == "jsonl":
        for r in [records] if isinstance(records, dict) else records:
            sys.stdout.write(json_text(r) + "\n")
    elif format == "csv":
        import csv
        import io

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(csv_fields or []), extrasaction="ignore")
        w.writeheader()
        for r in records:
            w.writerow({k: visible(v) if isinstance(v, str) else v for k, v in r.items()})
        sys.stdout.write(buf.getvalue())
    else:
        raise ValueError(f"unknown format {format!r}")
