"""`underdog analyze PATH...`: analyze files or folders, print a table or JSON lines."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Iterator, List

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..analysis import analyze as analyze_file
from ..audio import is_audio_path
from ..errors import UnderdogError
from .output import json_text, line, make_console, plain, user_energy
from .root import app


class OutFormat(str, Enum):
    table = "table"
    json = "json"    # one JSON document: an array of files, written at the end
    jsonl = "jsonl"  # one object per file per line, written as each is done


def iter_audio_paths(paths: List[Path]) -> Iterator[str]:
    """Files as given; folders walked (sorted, symlink loops ignored) for audio files."""
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


def analyze_one(path: str) -> dict:
    """The JSON object for one file: its analysis, or ``{"path", "error"}``."""
    try:
        a = analyze_file(path)
        from ..analysis.style import resolve_style  # a specific genre tag decides the style
        from ..library.tags import read_tags
        genres = read_tags(path).get("genres")
        a.style_label, a.style, a.style_source = resolve_style(a.style, genres)
        return user_energy(a.to_json())
    except UnderdogError as exc:
        return {"path": path, "error": str(exc)}
    except MemoryError:
        return {"path": path, "error": f"{path}: out of memory while analyzing"}
    except Exception as exc:  # never a traceback for one bad file
        return {"path": path, "error": f"{path}: internal error: {exc.__class__.__name__}: {exc}"}


def _fmt(v, spec: str, dash: str = "–") -> str:
    return dash if v is None else format(v, spec)


@app.command()
def analyze(
    paths: List[Path] = typer.Argument(..., help="Audio files or folders."),
    format: OutFormat = typer.Option(OutFormat.table, "--format", "-f",
                                     help="table; json: one JSON array of files; jsonl: "
                                     "one object per file per line, as each is done."),
) -> None:
    """Analyze audio files: tempo, beats, loudness, energy, key, drops and style."""
    console = make_console()
    failed = 0
    rows = []
    with console.status("analyzing…", spinner="dots") if format == OutFormat.table else _null():
        for path in iter_audio_paths(paths):
            obj = analyze_one(path)
            if "error" in obj:
                failed += 1
            if format == OutFormat.jsonl:
                sys.stdout.write(json_text(obj) + "\n")
                sys.stdout.flush()
            else:
                rows.append(obj)
    if format == OutFormat.table:
        _print_table(console, rows)
    elif format == OutFormat.json:
        sys.stdout.write(json_text(rows, indent=1) + "\n")
    raise typer.Exit(1 if failed else 0)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _print_table(console: Console, rows: list[dict]) -> None:
    table = Table(show_lines=False, header_style="bold")
    for col, just in [("file", "left"), ("time", "right"), ("BPM", "right"), ("conf", "right"),
                      ("key", "left"), ("LUFS", "right"), ("energy", "right"),
                      ("drops", "right"), ("style", "left")]:
        table.add_column(col, justify=just)
    errors = []
    for r in rows:
        name = plain(os.path.basename(r["path"]))
        if "error" in r:
            errors.append(r["error"])
            table.add_row(name, "", "", "", "", "", "", "", Text("failed", style="red"))
            continue
        d = r.get("duration_s") or 0.0
        key = r.get("key")
        key_s = f"{key} ({r.get('camelot')})" if key else "–"
        table.add_row(
            name, f"{int(d // 60)}:{int(d % 60):02d}", _fmt(r.get("bpm"), ".1f"),
            _fmt(r.get("bpm_confidence"), ".2f"), key_s, _fmt(r.get("loudness_lufs"), ".1f"),
            _fmt(r.get("energy"), ".1f"), str(len(r.get("drops") or [])),
            r.get("style_label") or "–",
        )
    console.print(table)
    for e in errors:
        console.print(line(("error", "red"), " ", e), soft_wrap=True)
