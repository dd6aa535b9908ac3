"""`underdog serve`: the local web page (library, track, arc editor, plan, soundtrack, like)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from .options import DB_OPTION
from .output import fail, make_console
from .root import app

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
def serve(
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="TCP port. 1–65535."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this "
                             "machine only). Any other address needs --token."),
    open_: bool = typer.Option(False, "--open", help="Open the page in a browser."),
    token: bool = typer.Option(False, "--token", help="Require the launch token to open the "
                               "page too (it is in the printed address); needed for a "
                               "non-loopback --host."),
    db: Optional[Path] = DB_OPTION,
) -> None:
    """Serve the web page on this machine; it prints the address to open."""
    try:
        import uvicorn

        from ..web.app import create_app
    except ImportError as exc:
        fail(f"the web page needs its extra packages ({exc.name}): reinstall underdog (pip install -e .)")
    from ..library.db import default_db_path

    if host not in LOOPBACK and not token:
        fail(f"--host {host} lets other machines reach the page; add --token to require "
             "the launch token")
    # scans from the page use every core (worker processes), as `underdog scan` does
    web = create_app(os.fspath(db) if db is not None else default_db_path(), host=host,
                     port=port, page_needs_token=token, scan_jobs=None)
    srv = web.app.state.server
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={srv.token}" if token else "")
    make_console().print(f"underdog serve: {url}  (Ctrl-C stops it)", highlight=False,
                         soft_wrap=True)
    if open_:
        import webbrowser

        webbrowser.open(url)
    try:
        uvicorn.run(web, host=host, port=port, log_level="warning", access_log=False)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    finally:
        import shutil

        shutil.rmtree(srv.workdir, ignore_errors=True)  # renders and exports of this launch
