"""Benchmark the web page's library view at 100,000 tracks, timed by the browser itself.

    python bench/web.py [--source LIBRARY.db] [--rows 100000] [--runs 5]

1. A 100,000-row library (bench/out/web-100k.db, made once): the analyzed rows of
   --source (default: the demo library, scanned into bench/out/web-source.db), copied
   with their energy curves and drops, each copy's BPM and energy nudged (seeded) and its
   path made unique, inserted through Library.add_tracks.
2. ``underdog serve``'s app on a free port (uvicorn, in this process) and Debian's
   Chromium driven by Playwright. Each run opens a fresh page on the library view:
   - first render: the page's ``library-rendered`` performance mark (milliseconds from the
     navigation's start to the first page of rows in the DOM: HTML, script, /api/meta,
     /api/tracks, drawing);
   - filters: BPM range, style, Camelot key, energy range, has-drops, sort by BPM: each
     the time from the last change (a filter; a click for the sort) to the redrawn table
     (``performance.now()`` in the page; a burst of changes makes one request).
   Median of --runs (targets: first render <= 300 ms, each filter <= 100 ms); beside it
   the server's share (the /api/tracks request's time to first byte, resource timing).
Prints one table; wall clock on whatever machine runs it (note the load).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
FIRST_TARGET_MS, FILTER_TARGET_MS = 300.0, 100.0


def source_library(source: str | None) -> str:
    if source:
        return source
    db = OUT / "web-source.db"
    if not db.exists():
        from underdog.library.db import open_library
        from underdog.library.scan import scan

        with open_library(str(db)) as lib:
            scan([str(ROOT / "examples" / "library")], lib, jobs=0)
    return str(db)


def big_library(source: str, rows: int) -> str:
    """``rows`` tracks copied from the source's analyzed rows (made once, then reused)."""
    from underdog.library.db import open_library

    out = OUT / f"web-{rows // 1000}k.db"
    if out.exists():
        with open_library(str(out)) as lib:
            if lib.count() == rows:
                return str(out)
        out.unlink()
    with open_library(source) as lib:
        real = [t for t in lib.tracks() if t.duration_s]
    if not real:
        sys.exit(f"{source}: no analyzed tracks to copy")
    rnd = random.Random(0)
    tmp = str(out) + ".tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)
    with open_library(tmp) as lib:
        batch = []
        for i in range(rows):
            t = real[i % len(real)]
            bpm = t.bpm * rnd.uniform(0.85, 1.15) if t.bpm else None
            energy = min(1.0, max(0.0, (t.energy or 0.5) + rnd.uniform(-0.15, 0.15)))
            batch.append(replace(t, id=None, path=f"/music/{i // 1000:03d}/{i:06d} "
                                 f"{os.path.basename(t.path)}", bpm=bpm, energy=energy,
                                 artist=f"{t.artist or 'Artist'} {i % 5000}"))
            if len(batch) == 5000:
                lib.add_tracks(batch)
                batch = []
        if batch:
            lib.add_tracks(batch)
    os.replace(tmp, out)
    return str(out)


def serve(db: str):
    import uvicorn

    from underdog.web.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(db, host="127.0.0.1", port=port, workdir=str(OUT / "web-work"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="error", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, port


FILTERS = [
    ("BPM 125-135", lambda p: (p.fill("#f-bpm-min", "125"), p.fill("#f-bpm-max", "135"),
                              p.dispatch_event("#f-bpm-max", "change"))),
    ("+ style heavy", lambda p: p.select_option("#f-style", "heavy")),
    ("+ key 8A", lambda p: p.select_option("#f-key", "8A")),
    ("energy 7-10 only", lambda p: (p.fill("#f-bpm-min", ""), p.fill("#f-bpm-max", ""),
                                   p.select_option("#f-style", ""),
                                   p.select_option("#f-key", ""), p.fill("#f-e-min", "7"),
                                   p.fill("#f-e-max", "10"),
                                   p.dispatch_event("#f-e-max", "change"))),
    ("+ has drops", lambda p: p.check("#f-drops")),
    ("sort by BPM", lambda p: p.click("#lib-table th[data-sort='bpm']")),
]


def measure(port: int, runs: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no Chromium on PATH (apt-get install chromium)")
    times: dict[str, list[float]] = {"first render": []}
    server: dict[str, list[float]] = {"first render": []}
    ttfb = ("() => { const r = performance.getEntriesByType('resource').filter(e => "
            "e.name.includes('/api/tracks')).pop(); return r ? r.responseStart - "
            "r.requestStart : null; }")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for run in range(runs + 1):  # the first run warms the server and the disk cache
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/#/library")
            page.wait_for_function("() => performance.getEntriesByName('library-rendered')"
                                   ".length > 0")
            first = page.evaluate("() => performance.getEntriesByName('library-rendered')[0]"
                                  ".startTime")
            if run:
                times["first render"].append(first)
                server["first render"].append(page.evaluate(ttfb))
            for name, act in FILTERS:
                seq = page.evaluate("() => window.underdogTiming.seq")
                act(page)
                page.wait_for_function(f"() => window.underdogTiming.seq > {seq}")
                # a filter that fires several changes: wait for the last redraw
                page.wait_for_timeout(50)
                page.wait_for_function("() => !window.underdogBusy")
                if run:
                    times.setdefault(name, []).append(
                        page.evaluate("() => window.underdogTiming.filter"))
                    server.setdefault(name, []).append(page.evaluate(ttfb))
            page.close()
        browser.close()
    return times, server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", help="an analyzed library to copy rows from")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    (OUT / "web-work").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    db = big_library(source_library(args.source), args.rows)
    print(f"library: {db} ({args.rows:,} rows; ready in {time.perf_counter() - t0:.1f} s)")
    uv, port = serve(db)
    try:
        times, server = measure(port, args.runs)
    finally:
        uv.should_exit = True
    print(f"\n{'view (median of %d, ms)' % args.runs:<28} {'median':>8} {'max':>8} "
          f"{'server':>8} {'target':>8}  ok")
    for name, xs in times.items():
        target = FIRST_TARGET_MS if name == "first render" else FILTER_TARGET_MS
        med = statistics.median(xs)
        srv = statistics.median([x for x in server[name] if x is not None] or [float("nan")])
        print(f"{name:<28} {med:8.1f} {max(xs):8.1f} {srv:8.1f} {target:8.0f}  "
              f"{'yes' if med <= target else 'NO'}")
    print("(server: the /api/tracks request's wait for its first byte, from the browser's "
          "resource timing)")
    try:
        load = os.getloadavg()[0]
        print(f"\nload average (1 min) {load:.1f} on {os.cpu_count()} cores")
    except OSError:
        pass


if __name__ == "__main__":
    main()
