"""underdog serve in a real browser: Playwright driving Debian's Chromium (no browser
download; give Playwright the executable). One walk through the acceptance path: scan the
demo library from the page, filter, open a track and play it, drag an arc point and build,
swap a track, render and play the mix, match the Never Back Down tracklist, rebuild a
reference (Like). Screenshots of each page go to docs/web/ when UNDERDOG_SCREENSHOTS=1
(``make screenshots``), else to the test's temporary folder."""

from __future__ import annotations

import os
import shutil

import pytest

pytest.importorskip("starlette", reason="the web extra (starlette) is not installed")
pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright (Python) is not installed: pip install "
                                      "playwright (the dev extra)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no Chromium executable on PATH (apt-get install chromium); the browser "
                "tests need it", allow_module_level=True)

from .conftest import DEMO_LIBRARY, ROOT  # noqa: E402
from .test_web_api import serve  # noqa: E402

TRACKLIST = ROOT / "examples" / "tracklists" / "never-back-down-2008.txt"
SHOTS = ROOT / "docs" / "web"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("webui")
    (base / "work").mkdir()
    server, port, _ = serve(str(base / "lib.db"), workdir=str(base / "work"), scan_jobs=2)
    shots = SHOTS if os.environ.get("UNDERDOG_SCREENSHOTS") == "1" else base / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--autoplay-policy=no-user-gesture-required", "--no-sandbox"])
        except Exception as exc:  # a Chromium Playwright cannot drive
            pytest.skip(f"Chromium at {CHROMIUM} cannot be started by Playwright: {exc}")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("body[data-ready='1']")
        yield page, base, shots, errors
        browser.close()
    server.should_exit = True


def _playing(page, selector: str, timeout_ms: int = 20_000) -> float:
    page.wait_for_function(f"() => document.querySelector({selector!r}).currentTime > 1",
                           timeout=timeout_ms)
    return page.evaluate(f"document.querySelector({selector!r}).currentTime")


def _column(page, n: int) -> list[str]:
    return page.eval_on_selector_all(f"#lib-table tbody tr td:nth-child({n})",
                                     "els => els.map(e => e.textContent)")


def _refresh(page, action) -> None:
    """Do ``action`` and wait until the library table has been redrawn after it."""
    seq = page.evaluate("() => (window.underdogTiming || {}).seq || 0")
    action()
    page.wait_for_function(f"() => (window.underdogTiming || {{}}).seq > {seq}")


def test_acceptance_walk(site):
    page, base, shots, errors = site
    import time
    t0 = [time.monotonic()]

    def lap(what):
        print(f"{what}: {time.monotonic() - t0[0]:.1f} s")
        t0[0] = time.monotonic()
    # -- library: scan from the page, with live progress
    page.fill("#scan-folder", str(DEMO_LIBRARY))
    page.click("#scan-go")
    page.wait_for_selector("#scan-msg[data-done='1']", timeout=120_000)
    assert "12 tracks" in page.text_content("#scan-msg"), page.text_content("#scan-msg")
    page.wait_for_function("() => document.querySelectorAll('#lib-table tbody tr').length === 12")
    page.screenshot(path=str(shots / "library.png"), full_page=True)
    lap("scan")
    # filter: BPM from 130, then style heavy: every row fits, fewer rows
    _refresh(page, lambda: (page.fill("#f-bpm-min", "130"),
                            page.dispatch_event("#f-bpm-min", "change")))
    bpms = [float(x) for x in _column(page, 3)]
    assert bpms and all(b >= 130 for b in bpms) and len(bpms) < 12
    _refresh(page, lambda: page.select_option("#f-style", "heavy"))
    assert set(_column(page, 6)) == {"heavy"}
    assert all(float(b) >= 130 for b in _column(page, 3))
    # clear the filters, sort by BPM descending (two clicks)
    _refresh(page, lambda: (page.fill("#f-bpm-min", ""), page.select_option("#f-style", "")))
    assert len(_column(page, 3)) == 12
    _refresh(page, lambda: page.click("#lib-table th[data-sort='bpm']"))
    _refresh(page, lambda: page.click("#lib-table th[data-sort='bpm']"))
    bpms = [float(x) for x in _column(page, 3)]
    assert bpms == sorted(bpms, reverse=True) and bpms[0] > bpms[-1]
    # search: an album's word (it searched the artist only), then a title's
    _refresh(page, lambda: page.fill("#f-q", "singularity"))
    assert sorted(_column(page, 2)) == ["Awakening", "Through Space"]
    assert page.text_content("#lib-count").startswith("2 of 12")
    _refresh(page, lambda: page.fill("#f-q", "CAVES"))
    assert _column(page, 2) == ["Caves"]
    _refresh(page, lambda: page.fill("#f-q", ""))
    # has drops, in the query: every row has one and the count says how many
    _refresh(page, lambda: page.check("#f-drops"))
    drops = _column(page, 7)
    assert drops and all(int(x) > 0 for x in drops)
    assert page.text_content("#lib-count").startswith(f"{len(drops)} of 12")
    _refresh(page, lambda: page.uncheck("#f-drops"))
    assert len(_column(page, 3)) == 12

    lap("filter")
    # -- every format of the demo library plays in Chromium from its track id
    ids = page.evaluate("""async () => {
        const r = await fetch('/api/tracks?limit=50', {headers: {'X-Underdog-Token':
            document.querySelector('meta[name=underdog-token]').content}});
        return (await r.json()).rows.map(t => [t.id, t.file]); }""")
    by_ext = {}
    for tid, name in ids:
        by_ext.setdefault(os.path.splitext(name)[1], tid)
    assert set(by_ext) == {".opus", ".ogg", ".flac", ".mp3", ".m4a"}
    durations = page.evaluate("""async (ids) => Promise.all(ids.map(id => new Promise(ok => {
        const a = new Audio(); a.preload = 'metadata';
        a.onloadedmetadata = () => ok(a.duration); a.onerror = () => ok(-1);
        a.src = '/api/audio/' + id; })))""", list(by_ext.values()))
    assert all(d > 10 for d in durations), dict(zip(by_ext, durations))

    lap("formats")
    # -- track: open one (an Opus file), click the curve, it plays from there
    page.click(f"#lib-table a[href='#/track/{by_ext['.opus']}']")
    page.wait_for_selector("#page-track.shown")
    page.wait_for_function("() => document.querySelector('#tr-title').textContent.length > 0")
    box = page.locator("#tr-canvas").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] / 2)
    t = _playing(page, "#tr-audio")
    assert t > 1
    start = page.evaluate("document.querySelector('#tr-audio').currentTime")
    page.screenshot(path=str(shots / "track.png"), full_page=True)
    page.click("#tr-pause")
    assert start > 0.3 * page.evaluate("document.querySelector('#tr-audio').duration")

    lap("track")
    # -- arc editor: drag the first peak's BPM point down by ~20 BPM, build a short plan
    page.goto(page.url.split("#")[0] + "#/arc")
    page.wait_for_selector("#arc-svg circle[data-kind='bpm']")
    page.fill("#arc-minutes", "2")  # a short plan: the render stays quick
    page.dispatch_event("#arc-minutes", "change")
    before = page.text_content("#arc-table tbody tr:nth-child(3) td:nth-child(3)")
    pt = page.locator("#arc-svg circle[data-kind='bpm'][data-seg='2'][data-end='0']")
    b = pt.bounding_box()
    x, y = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + 20, steps=4)
    page.mouse.move(x, y + 40, steps=4)
    page.mouse.up()
    after = page.text_content("#arc-table tbody tr:nth-child(3) td:nth-child(3)")
    assert after != before and int(after.split()[0]) < int(before.split()[0]), (before, after)
    page.click("#arc-undo")
    assert page.text_content("#arc-table tbody tr:nth-child(3) td:nth-child(3)") == before
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + 40, steps=4)
    page.mouse.up()
    page.screenshot(path=str(shots / "arc.png"), full_page=True)
    # segments: rename the first, split it in two, remove the last; undo steps back
    rows = page.locator("#arc-table tbody tr")
    n = rows.count()
    page.fill("#arc-table input.seg-name[data-seg='0']", "warm up")
    page.dispatch_event("#arc-table input.seg-name[data-seg='0']", "change")
    page.click("#arc-table button.seg-split[data-seg='0']")
    assert rows.count() == n + 1
    names = page.eval_on_selector_all("#arc-table input.seg-name", "els => els.map(e => e.value)")
    assert names[:2] == ["warm up", "warm up 2"], names
    page.click(f"#arc-table button.seg-remove[data-seg='{n}']")
    page.click(f"#arc-table button.seg-remove[data-seg='{n - 1}']")
    assert rows.count() == n - 1
    page.click("#arc-undo")
    assert rows.count() == n
    toml = page.evaluate("""async () => (await fetch('/api/arcs/toml', {method: 'POST',
        headers: {'X-Underdog-Token': document.querySelector('meta[name=underdog-token]')
        .content, 'Content-Type': 'application/json'}, body: JSON.stringify(arcDoc())})).text()""")
    from underdog.planning.arcs import parse_toml

    saved = parse_toml(toml)  # the CLI reads what the page saves
    assert [x.name for x in saved.segments[:2]] == ["warm up", "warm up 2"]
    assert len(saved.segments) == n
    page.click("#arc-build")
    page.wait_for_selector("#page-plan.shown #plan-table tbody tr", timeout=60_000)
    first = page.text_content("#plan-table tbody tr:first-child td:nth-child(6)")

    lap("arc+build")
    # -- plan: swap the first track for an alternative
    page.click("#plan-table tbody tr:first-child button.swap")
    page.wait_for_selector("#alt-table button.use")
    alt = page.text_content("#alt-table tbody tr:first-child td:first-child")
    page.click("#alt-table tbody tr:first-child button.use")
    page.wait_for_function(
        "() => document.querySelector('#plan-table tbody tr td:nth-child(6)').textContent === "
        f"{alt!r}")
    assert alt != first
    # lock it and re-plan the rest: it stays first
    page.check("#plan-table tbody tr:first-child input.lock")
    page.wait_for_selector("#plan-table tbody tr.locked")
    page.click("#plan-replan")
    page.wait_for_timeout(300)
    page.wait_for_selector("#plan-table tbody tr.locked")
    assert page.text_content("#plan-table tbody tr:first-child td:nth-child(6)") == alt

    lap("swap+replan")
    # -- render the mix with progress, then play it
    page.click("#plan-render")
    page.wait_for_function("() => !document.querySelector('#render-out').hidden || "
                           "document.querySelector('#render-msg').dataset.error", timeout=150_000)
    assert page.is_visible("#render-out"), page.text_content("#render-msg")
    page.evaluate("document.querySelector('#mix-audio').play()")
    assert _playing(page, "#mix-audio") > 1
    assert "excerpts" in page.text_content("#render-msg")
    page.evaluate("document.querySelector('#mix-audio').pause()")
    page.screenshot(path=str(shots / "render.png"), full_page=True)

    lap("render")
    # -- soundtrack: the Never Back Down tracklist
    page.goto(page.url.split("#")[0] + "#/soundtrack")
    page.fill("#st-text", TRACKLIST.read_text("utf-8"))
    page.click("#st-match")
    page.wait_for_selector("#st-table tbody tr")
    n_entries = sum(1 for ln in TRACKLIST.read_text("utf-8").splitlines()
                    if ln.strip() and not ln.lstrip().startswith("#"))
    rows = page.eval_on_selector_all("#st-table tbody tr", "els => els.map(e => "
                                     "e.dataset.status)")
    assert len(rows) == n_entries and set(rows) <= {"found", "missing", "ambiguous"}
    assert "of" in page.text_content("#st-summary")
    page.screenshot(path=str(shots / "soundtrack.png"), full_page=True)

    lap("soundtrack")
    # -- like: a reference playlist uploaded from the page
    ref = base / "reference.m3u8"
    ref.write_text("#EXTM3U\n" + "".join(f"{DEMO_LIBRARY / n}\n" for n in (
        "Sectoid - Feelings.opus", "Nexuiz - Digital Pursuit.opus",
        "Nexuiz - Beast of Insanity.ogg", "Muldjord - Chaos God.ogg")), "utf-8")
    page.goto(page.url.split("#")[0] + "#/like")
    page.set_input_files("#like-file", str(ref))
    page.click("#like-go")
    page.wait_for_selector("#like-table tbody tr", timeout=60_000)
    names = page.eval_on_selector_all("#like-table tbody tr td:first-child",
                                      "els => els.map(e => e.textContent)")
    assert names[:2] == ["reference", "underdog"]
    page.screenshot(path=str(shots / "like.png"), full_page=True)
    page.click("#like-plan a")  # the rebuilt plan: a longer one for the plan page's picture
    page.wait_for_selector("#page-plan.shown #plan-table tbody tr")
    page.screenshot(path=str(shots / "plan.png"), full_page=True)
    lap("like")
    assert not errors, errors
