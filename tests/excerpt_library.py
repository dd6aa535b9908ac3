"""The demo library scanned once for the excerpt and round-arc tests (real audio, SQLite)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from underdog.cli import app

from .conftest import DEMO_LIBRARY


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> str:
    """The 12 demo tracks (examples/library) scanned with the full analysis."""
    db = str(tmp_path_factory.mktemp("excerpts") / "demo.db")
    r = CliRunner().invoke(app, ["scan", str(DEMO_LIBRARY), "--db", db])
    assert r.exit_code == 0, r.output
    return db
