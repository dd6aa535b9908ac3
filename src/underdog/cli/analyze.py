"""`underdog analyze PATH...`: analyze files or folders, print a table or JSON lines."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import List

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import fields
from ..app.analyze import analyze_files
from .output import line, make_console, plain, print_records
from .root import app


class OutFormat(str, Enum):
    table = "table"
    json = "json"    # one JSON document: an array of files, written at the end
    jsonl = "jsonl"  # one object per file per line, written as each is done


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
        for obj in analyze_files(paths):
            if "error" in obj:
                failed += 1
            if format == OutFormat.jsonl:
                print_records([obj], "jsonl")
                sys.stdout.flush()
            else:
                rows.append(obj)
    if format == OutFormat.table:
        _print_table(console, rows)
    elif format == OutFormat.json:
        print_records(rows, "json")
    raise typer.Exit(1 if failed else 0)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


# Columns from the field declaration (heading, alignment, cell text), around the key.
_BEFORE_KEY = ("duration_s", "bpm", "bpm_confidence")
_AFTER_KEY = ("loudness_lufs", "energy", "drops", "style_label")


def _print_table(console: Console, rows: list[dict]) -> None:
    table = Table(show_lines=False, header_style="bold")
    heads = ([("file", "left")] + [fields.column(n) for n in _BEFORE_KEY] + [("key", "left")]
             + [fields.column(n) for n in _AFTER_KEY])
    for col, just in heads:
        table.add_column(col, justify=just)
    errors = []
    for r in rows:
        name = plain(os.path.basename(r["path"]))
        if "error" in r:
            errors.append(r["error"])
            table.add_row(name, *[""] * (len(heads) - 2), Text("failed", style="red"))
            continue
        key = r.get("key")
        key_s = f"{key} ({r.get('camelot')})" if key else "–"
        v = {**r, "energy": r.get("energy_raw")}  # the energy cell shows the raw value's level
        table.add_row(name, *(fields.cell(n, v.get(n)) for n in _BEFORE_KEY), key_s,
                      *(fields.cell(n, v.get(n)) for n in _AFTER_KEY))
    console.print(table)
    for e in errors:
        console.print(line(("error", "red"), " ", e), soft_wrap=True)
