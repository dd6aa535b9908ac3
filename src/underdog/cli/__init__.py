"""The command line: thin Typer commands; each parses, calls one function, prints."""

from __future__ import annotations

from .app import app
from . import analyze as _analyze  # noqa: F401  (registers commands)
from . import library as _library  # noqa: F401
from . import soundtrack as _soundtrack, tag as _tag  # noqa: F401
from . import plan as _plan  # noqa: F401
from . import like as _like  # noqa: F401


def main() -> None:
    app()
