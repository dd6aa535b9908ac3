"""The command line: thin Typer commands; each parses, calls one function, prints.

A command's module is imported only when that command runs, so ``underdog analyze`` does
not pay for the planner's imports. ``underdog.cli.app`` has every command registered.
"""

from __future__ import annotations

import importlib
import os
import sys

from .root import app as _app

# command name -> the module under underdog.cli that registers it
COMMANDS = {
    "analyze": "analyze",
    "scan": "library", "tracks": "library", "show": "library", "errors": "library",
    "prune": "library",
    "soundtrack": "soundtrack",
    "tag": "tag",
    "plan": "plan", "score": "plan",
    "like": "like",
}


def load(command: str | None = None):
    """The Typer app with ``command``'s module registered (every module if unknown)."""
    modules = [COMMANDS[command]] if command in COMMANDS else sorted(set(COMMANDS.values()))
    for m in modules:
        importlib.import_module(f"{__name__}.{m}")
    return _app


def __getattr__(name: str):
    if name == "app":
        return load()
    raise AttributeError(name)


def main() -> None:
    # One BLAS thread (before numpy loads): the analysis's matrix products are small and a
    # second thread only spins; scans get their parallelism from worker processes.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    load(command)()
