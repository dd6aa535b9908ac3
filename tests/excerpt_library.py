"""The demo library scanned once for the excerpt and round-arc tests (real audio, SQLite)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from underdog.cli import app

from .conftest import DEMO_LIBRARY


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> str:
    """The 12 demo tracks (examples/library) scanned with the full analysis."""
    # One folder per test session, whichever module asks first (each module that imports
    # this fixture gets its own copy of it, so the scan itself is shared through the file).
    d = tmp_path_factory.getbasetemp() / "excerpts-demo"
    db = d / "demo.db"
    if not (d / "done").exists():
        d.mkdir(exist_ok=True)
        r = CliRunner().invoke(app, ["scan", str(DEMO_LIBRARY), "--db", str(db)])
        assert r.exit_code == 0, r.output
        (d / "done").write_text("")
    return str(db)
