"""underdog serve's API and guards, against a real uvicorn on a free port and a real scanned
library (four FLAC clips cut from the demo library): bad Host, missing or wrong token,
paths in every parameter, oversized uploads, unknown ids, HTTP Range."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("starlette", reason="the web extra (starlette) is not installed")
uvicorn = pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")

from .conftest import DEMO_LIBRARY, flac_clip  # noqa: E402

CLIPS = ["Muldjord - Chaos God.ogg", "Nexuiz - Stairs.mp3", "Shawn Parrotte - Caves.flac",
         "Max McCracken - Through Space.ogg"]
LEAKS = (b"Traceback", b'File "', b"root:x:0", b"/work/", b"site-packages", b"sqlite3")


class Client:
    def __init__(self, port: int, token: str, db: str):
        self.port, self.token, self.db = port, token, db

    def req(self, method: str, path: str, body=None, headers=None, token: bool = True,
            host: str | None = None):
        h = {"Host": host if host is not None else f"127.0.0.1:{self.port}"}
        if token:
            h["X-Underdog-Token"] = self.token
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def json(self, method: str, path: str, body=None):
        st, _, data = self.req(method, path, body)
        assert st == 200, (st, data)
        return json.loads(data)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(db: str, **kw):
    """A real server in a thread; returns (server, port, token)."""
    from underdog.web.app import create_app

    port = _free_port()
    app = create_app(db, host="127.0.0.1", port=port, **kw)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="error", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    t0 = time.monotonic()
    while not server.started:
        assert time.monotonic() - t0 < 20, "server did not start"
        time.sleep(0.02)
    return server, port, app.app.state.server.token


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    base = tmp_path_factory.mktemp("web")
    music = base / "music"
    music.mkdir()
    for i, name in enumerate(CLIPS):
        flac_clip(DEMO_LIBRARY / name, music / f"{i:02d} {os.path.splitext(name)[0]}.flac",
                  30.0, 45.0)
    db = str(base / "lib.db")
    os.makedirs(base / "work")
    server, port, token = serve(db, workdir=str(base / "work"))
    c = Client(port, token, db)
    job = c.json("POST", "/api/scan", {"folder": str(music)})["job"]
    _, h, events = c.req("GET", f"/api/jobs/{job}/events")
    assert h["content-type"].startswith("text/event-stream")
    assert b"event: progress" in events and b"event: done" in events
    state = c.json("GET", f"/api/jobs/{job}")
    assert state["done"] and state["error"] is None, state
    assert state["result"]["analyzed"] == len(CLIPS)
    c.music = music
    yield c
    server.should_exit = True


def _no_leak(data: bytes) -> None:
    for bad in LEAKS:
        assert bad not in data, (bad, data[:300])


def test_library_page_paged_filtered_sorted(client):
    d = client.json("GET", "/api/tracks?limit=2&sort=-bpm")
    assert d["total"] == len(CLIPS) and d["library"] == len(CLIPS) and len(d["rows"]) == 2
    bpms = [r["bpm"] for r in client.json("GET", "/api/tracks?sort=-bpm")["rows"]]
    assert bpms == sorted(bpms, reverse=True)
    page2 = client.json("GET", "/api/tracks?limit=2&offset=2&sort=-bpm")["rows"]
    assert [r["bpm"] for r in page2] == bpms[2:4]
    lo = sorted(bpms)[1]
    f = client.json("GET", f"/api/tracks?bpm_min={lo - 0.05}")  # rows are rounded
    assert f["total"] == sum(b >= lo for b in bpms)
    assert "path" not in d["rows"][0]  # the page names tracks by id


def _copied_library(client, tmp_path) -> tuple[str, int]:
    """The scanned clips and 60 copies of their rows (tagged ``Artist NNN`` / ``Song NNN``
    / ``Album NNN``, every third with a drop); returns the database and how many tracks
    have a drop."""
    import shutil
    from dataclasses import replace

    from underdog.library.db import open_library

    db = str(tmp_path / "lib.db")
    shutil.copy(client.db, db)
    with open_library(db) as lib:
        real = lib.tracks()
        drop = next((d for t in real for d in t.drops or []), {"time_s": 5.0, "strength": 1.0})
        lib.add_tracks([replace(real[i % len(real)], id=None, path=f"/copies/{i:03d}.flac",
                                drops=[drop] if i % 3 == 0 else [], artist=f"Artist {i:03d}",
                                title=f"Song {i:03d}", album=f"Album {i % 7:03d}")
                        for i in range(60)])
        return db, sum(bool(t.drops) for t in lib.tracks())


def test_search_matches_title_artist_album_in_the_query(client, tmp_path):
    """The search box matches the title and the album as well as the artist (it read the
    artist only), in SQL, paged, with the total."""
    from underdog.web import ops

    db, _ = _copied_library(client, tmp_path)

    def search(text, **kw):
        return ops.library_page(db, ops.parse_query({"q": text, **kw}))

    d = search("SONG 01")  # Song 010-019
    assert d["total"] == 10 and {r["title"] for r in d["rows"]} == {
        f"Song {i:03d}" for i in range(10, 20)}
    d = search("album 003", limit="3", offset="6")  # 3, 10, ..., 59: 9 tracks
    assert d["total"] == 9 and [r["album"] for r in d["rows"]] == ["Album 003"] * 3
    assert search("artist 05")["total"] == 10
    assert search("%")["total"] == search("_")["total"] == 0  # literal, not a pattern
    st, _, data = client.req("GET", "/api/tracks?q=zz%25")  # and through the server
    assert st == 200 and json.loads(data)["total"] == 0


def test_has_drops_runs_in_the_query_full_pages_true_total(client, tmp_path):
    """*has drops* filters in SQL: the page is full and the total counts only tracks with a
    drop (it narrowed the current page only: a short page, the other filters' total)."""
    import sqlite3

    from underdog.web import ops

    db, want = _copied_library(client, tmp_path)
    assert want >= 20
    from underdog.library import db as dbmod

    con = sqlite3.connect(db)  # the filter's term is its partial indexes' WHERE (schema 6)
    sqls = [r[0] for r in con.execute("SELECT sql FROM sqlite_master WHERE name IN "
                                      "('tracks_drops_energy', 'tracks_drops_bpm')")]
    con.close()
    assert len(sqls) == 2 and all(s.endswith("WHERE " + dbmod._HAS_DROPS) for s in sqls)
    d = ops.library_page(db, ops.parse_query({"drops": "1", "limit": "10"}))
    assert d["total"] == want and len(d["rows"]) == 10 and all(r["drops"] for r in d["rows"])
    assert d["library"] is None  # a filtered count: the page keeps the library's own
    d = ops.library_page(db, ops.parse_query({"drops": "1", "offset": str(want - 3)}))
    assert len(d["rows"]) == 3 and all(r["drops"] for r in d["rows"])
    from underdog import app

    page = app.query_tracks(db, drops=False, limit=1000)
    assert page.total == len(page.tracks) == 64 - want and not any(t.drops for t in page.tracks)


def test_track_detail_and_audio_range(client):
    row = client.json("GET", "/api/tracks?limit=1")["rows"][0]
    t = client.json("GET", f"/api/tracks/{row['id']}")
    assert len(t["beats"]) > 20 and len(t["downbeats"]) > 4
    assert len(t["energy_curve"]["levels"]) > 10 and t["energy_curve"]["hop_s"] > 0
    st, h, whole = client.req("GET", f"/api/audio/{row['id']}")
    assert st == 200 and h["content-type"] == "audio/flac" and h["accept-ranges"] == "bytes"
    st, h, part = client.req("GET", f"/api/audio/{row['id']}", headers={"Range": "bytes=100-1099"})
    assert st == 206 and h["content-range"] == f"bytes 100-1099/{len(whole)}"
    assert part == whole[100:1100]
    st, h, _ = client.req("GET", f"/api/audio/{row['id']}",
                          headers={"Range": f"bytes={len(whole) + 10}-"})
    assert st == 416


def test_mime_types_for_every_demo_format():
    from underdog.web.ops import AUDIO_MIME

    want = {".opus": "audio/ogg", ".ogg": "audio/ogg", ".flac": "audio/flac",
            ".mp3": "audio/mpeg", ".m4a": "audio/mp4"}
    exts = {os.path.splitext(p)[1] for p in os.listdir(DEMO_LIBRARY) if not p.endswith(".md")}
    assert exts == set(want)
    assert {e: AUDIO_MIME[e] for e in exts} == want


def test_bad_host_is_refused(client):
    for host in ("evil.example:%d" % client.port, "127.0.0.1:1", "", "localhost.evil.com",
                 "127.0.0.1.nip.io:%d" % client.port):
        for method, path in (("GET", "/"), ("GET", "/api/tracks"), ("POST", "/api/scan")):
            st, _, data = client.req(method, path, host=host, body={"folder": "/tmp"}
                                     if method == "POST" else None)
            assert st == 421, (host, path, st)
            _no_leak(data)
    st, h, page = client.req("GET", "/", host=f"localhost:{client.port}")
    assert st == 200 and client.token.encode() in page
    assert "script-src 'self'" in h["content-security-policy"]
    assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"


STATE_CHANGING = [("/api/scan", {"folder": "/tmp"}), ("/api/arcs/toml", {}),
                  ("/api/plans", {}), ("/api/plans/1/swap", {"position": 1, "track_id": 1}),
                  ("/api/plans/1/lock", {"position": 1, "locked": True}),
                  ("/api/plans/1/replan", {}), ("/api/plans/1/render", {}),
                  ("/api/soundtrack", {"text": "a - b"}), ("/api/soundtrack/export", {}),
                  ("/api/like", {"folder": "/tmp"}), ("/api/arcs/parse", {})]


def test_missing_or_wrong_token_is_refused(client):
    for path, body in STATE_CHANGING:
        st, _, data = client.req("POST", path, body, token=False)
        assert st == 403, (path, st)
        st, _, data = client.req("POST", path, body, token=False,
                                 headers={"X-Underdog-Token": "x" + client.token})
        assert st == 403, (path, st)
        # the cookie alone does not authorize a state change (a cross-site form sends it)
        st, _, _ = client.req("POST", path, body, token=False,
                              headers={"Cookie": f"underdog_token={client.token}"})
        assert st == 403, (path, st)
        _no_leak(data)
    for path in ("/api/tracks", "/api/tracks/1", "/api/audio/1", "/api/meta"):
        assert client.req("GET", path, token=False)[0] == 403, path
        assert client.req("GET", path, token=False, headers={
            "Cookie": f"underdog_token={client.token}"})[0] in (200, 206), path


PATHS = ["../../../../etc/passwd", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd",
         "....//....//etc/passwd", "/proc/self/environ"]


def test_paths_in_every_parameter_get_4xx(client, tmp_path):
    arc = client.json("GET", "/api/arcs/builtin/montage?minutes=1.5")
    pid = client.json("POST", "/api/plans", {"arc": arc, "minutes": 1.5})["id"]
    for p in PATHS:
        for url in (f"/api/tracks/{p}", f"/api/audio/{p}", f"/api/jobs/{p}",
                    f"/api/plans/{p}", f"/api/arcs/builtin/{p}",
                    f"/api/plans/{pid}/export/{p}", f"/api/plans/{pid}/alternatives/{p}",
                    f"/api/tracks?sort={p}", f"/api/tracks?style={p}",
                    f"/api/tracks?key={p}", f"/api/tracks?bpm_min={p}",
                    f"/api/tracks?offset={p}", f"/api/tracks?energy_max={p}",
                    f"/static/{p}", f"/api/jobs/1/audio?download={p}"):
            st, _, data = client.req("GET", url)
            assert 400 <= st < 500, (url, st)
            _no_leak(data)
        for body in ({"folder": p}, {"folder": p.replace("etc/passwd", "")}):
            for path in ("/api/scan", "/api/like"):
                st, _, data = client.req("POST", path, body)
                assert 400 <= st < 500, (path, body, st)
                _no_leak(data)
        for path, body in ((f"/api/plans/{pid}/swap", {"position": p, "track_id": p}),
                           (f"/api/plans/{pid}/swap", {"position": 1, "track_id": p}),
                           (f"/api/plans/{pid}/lock", {"position": p, "locked": True}),
                           ("/api/soundtrack/export", {"picks": [p], "names": ["x"]}),
                           ("/api/plans", {"arc": p}),
                           ("/api/soundtrack", {"text": "a - b", "format": p}),
                           ("/api/like", {"playlist": p + "\n", "ext": "/../x.m3u8"})):
            st, _, data = client.req("POST", path, body)
            assert 400 <= st < 500, (path, body, st)
            _no_leak(data)
    # the search text is text, never a path: no file content comes back
    st, _, data = client.req("GET", "/api/tracks?q=../../etc/passwd")
    assert st == 200 and json.loads(data)["rows"] == []
    # a folder that exists but is a system folder, and a file instead of a folder
    for f in ("/etc", "/proc", "/", str(client.music / os.listdir(client.music)[0])):
        st, _, data = client.req("POST", "/api/scan", {"folder": f})
        assert st == 400, (f, st)
        _no_leak(data)
    # nothing was written outside the server's folder by an uploaded playlist's name
    assert not os.path.exists(tmp_path.parent / "x.m3u8")


def test_large_uploads_are_refused(client):
    big = b"a - b\n" * (20_000_000 // 6)
    for path in ("/api/soundtrack", "/api/arcs/parse", "/api/like"):
        st, _, data = client.req("POST", path, big, headers={"Content-Type": "text/plain"})
        assert st == 413, (path, st)
        _no_leak(data)
    # without a Content-Length (chunked): counted as it arrives
    c = http.client.HTTPConnection("127.0.0.1", client.port, timeout=60)
    c.putrequest("POST", "/api/soundtrack", skip_host=True)
    c.putheader("Host", f"127.0.0.1:{client.port}")
    c.putheader("X-Underdog-Token", client.token)
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    try:
        for _ in range(40):
            chunk = b"x" * 100_000
            c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        c.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = c.getresponse()
    assert r.status == 413
    c.close()


def test_unknown_ids_get_404(client):
    for url in ("/api/tracks/999999", "/api/audio/999999", "/api/jobs/999999",
                "/api/plans/999999", f"/api/tracks/{2**63}", "/api/tracks/0"):
        st, _, data = client.req("GET", url)
        assert st == 404, (url, st)
        _no_leak(data)
    st, _, _ = client.req("POST", "/api/plans/999999/swap", {"position": 1, "track_id": 1})
    assert st == 404


def test_plan_swap_lock_replan_export(client):
    arc = client.json("GET", "/api/arcs/builtin/montage?minutes=1.5")
    arc["segments"][0]["bpm"] = [100.0, 110.0]
    toml = client.req("POST", "/api/arcs/toml", arc)[2].decode()
    assert "bpm = [100.0, 110.0]" in toml
    from underdog.planning.arcs import parse_toml

    assert parse_toml(toml).segments[0].bpm == (100.0, 110.0)  # the --save-arc format
    back = json.loads(client.req("POST", "/api/arcs/parse", toml.encode())[2])
    assert back["segments"][0]["bpm"] == [100.0, 110.0]
    p = client.json("POST", "/api/plans", {"arc": arc, "minutes": 1.5})
    assert len(p["entries"]) < len(CLIPS)
    assert p["entries"] and p["target"] and p["report"]
    # each entry's BPM as the plan table says it: its own, then what it plays at; here
    # the arc ramps 100 -> 110 over whole tracks, held within ±8 % of each one's tempo
    for e in p["entries"]:
        own = f"{e['actual']['bpm']:.0f}"
        assert e["bpm_text"].startswith(own)
        if "tempo_in_bpm" in e and f"{e['tempo_in_bpm']:.0f}" != f"{e['tempo_out_bpm']:.0f}":
            assert e["bpm_text"] == (f"{own}→{e['tempo_in_bpm']:.0f}↗"
                                     f"{e['tempo_out_bpm']:.0f}")
    alts = client.json("GET", f"/api/plans/{p['id']}/alternatives/1")["alternatives"]
    assert alts and all(a["id"] not in [e["id"] for e in p["entries"]] for a in alts)
    s = client.json("POST", f"/api/plans/{p['id']}/swap", {"position": 1,
                                                          "track_id": alts[0]["id"]})
    assert s["entries"][0]["id"] == alts[0]["id"] and s["id"] != p["id"]
    # the ranking's cost is the cost of the plan the swap makes
    assert s["report"]["objective"] == pytest.approx(alts[0]["cost"], abs=0.006)
    locked = client.json("POST", f"/api/plans/{s['id']}/lock", {"position": 1, "locked": True})
    assert locked["entries"][0]["locked"]
    r = client.json("POST", f"/api/plans/{s['id']}/replan")
    assert r["entries"][0]["id"] == alts[0]["id"] and r["entries"][0]["locked"]
    for kind, magic in (("m3u8", b"#EXTM3U"), ("xspf", b"<?xml"), ("json", b"{")):
        st, h, data = client.req("GET", f"/api/plans/{r['id']}/export/{kind}")
        assert st == 200 and data.startswith(magic) and "attachment" in h["content-disposition"]
    # a bad arc from the page gets the CLI parser's one line, not a traceback
    arc["segments"][0]["bpm"] = [1000.0, 1000.0]
    st, _, data = client.req("POST", "/api/plans", {"arc": arc})
    assert st == 400 and b"bpm" in data.lower()
    _no_leak(data)


def test_a_round_arc_saved_from_the_page_keeps_its_rounds(client):
    """The editor's boxing arc, saved as TOML and read back, keeps each segment's round
    and the arc's excerpt default (the round cues come from them)."""
    from underdog.planning.arcs import parse_toml

    arc = client.json("GET", "/api/arcs/builtin/boxing?minutes=20")
    rounds = [s["round"] for s in arc["segments"]]
    assert max(rounds) >= 2 and arc["excerpts"] is True
    toml = client.req("POST", "/api/arcs/toml", arc)[2].decode()
    assert [s.round for s in parse_toml(toml).segments] == rounds
    assert parse_toml(toml).excerpts is True
    back = json.loads(client.req("POST", "/api/arcs/parse", toml.encode())[2])
    assert [s["round"] for s in back["segments"]] == rounds and back["excerpts"] is True
    arc["segments"][1]["round"] = 2.5
    st, _, data = client.req("POST", "/api/arcs/toml", arc)
    assert st == 400 and b"round must be a whole number" in data


def test_soundtrack_match_uses_the_cli_parser(client):
    d = client.json("POST", "/api/soundtrack", {"text": "Muldjord - Chaos God\nNobody - Nothing\n"})
    assert [r["status"] for r in d["rows"]] == ["found", "missing"]
    st, _, data = client.req("POST", "/api/soundtrack", {"text": "x" * 3000, "format": "text"})
    assert st == 400 and b"error" in data
    _no_leak(data)


def test_serve_refuses_a_public_host_without_token(tmp_path):
    r = subprocess.run([sys.executable, "-m", "underdog.cli", "serve", "--host", "0.0.0.0",
                        "--db", str(tmp_path / "x.db")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "--token" in r.stderr and "Traceback" not in r.stderr


def test_token_mode_guards_the_page(tmp_path):
    server, port, token = serve(str(tmp_path / "none.db"), page_needs_token=True,
                                workdir=str(tmp_path))
    try:
        c = Client(port, token, "")
        assert c.req("GET", "/", token=False)[0] == 403
        st, h, _ = c.req("GET", f"/?token={token}", token=False)
        assert st == 200 and "samesite=strict" in h["set-cookie"].lower()
        assert c.req("GET", "/", token=False,
                     headers={"Cookie": f"underdog_token={token}"})[0] == 200
    finally:
        server.should_exit = True


def test_library_pages_walk_the_sort_index_and_match_the_plain_query(tmp_path):
    """At 50,000+ rows a page of a broad filter walks its sort column's index (BPM inside
    an energy range, with has-drops the partial index) and a search reads the text index;
    every page holds exactly the rows of the plain sorted query."""
    import sqlite3

    from underdog.library.db import open_library

    db = tmp_path / "big.db"
    open_library(db).close()
    con = sqlite3.connect(db)
    with con:
        con.executemany(
            "INSERT INTO tracks (path, status, artist, title, album, bpm, energy, drops, "
            "added_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
            [(f"/c/{i:06d}.mp3", "ok" if i % 50 else "failed", f"Artist {i * 7919 % 3001}",
              f"Song {i}", f"Album {i % 13}", 60 + (i * 37 % 1300) / 10, (i % 100) / 100,
              '[{"time_s": 30.0}]' if i % 3 == 0 else "[]") for i in range(52_000)])
    con.close()
    with open_library(db) as lib:
        sql: list[str] = []
        lib._conn.set_trace_callback(sql.append)

        def page(**kw):
            sql.clear()
            rows = lib.tracks(limit=50, offset=100, **kw)
            return [t.id for t in rows], " ".join(s for s in sql if "ORDER BY" in s)

        for kw, index in ((dict(level=(7, 10), sort="bpm"), "tracks_bpm"),
                          (dict(level=(7, 10), sort="-bpm", drops=True), "tracks_drops_bpm"),
                          (dict(text="album 1", sort="energy"), "tracks_text"),
                          (dict(include_failed=True, include_missing=True), "tracks_artist")):
            ids, q = page(**kw)
            assert f"INDEXED BY {index}" in q, (kw, q)
            plain = q.replace(f" INDEXED BY {index}", "")  # SQLite's own plan: sorts all
            assert ids == [r[0] for r in lib._conn.execute(plain)], kw
            assert len(ids) == 50
        lib._conn.set_trace_callback(None)
        assert all(t.drops for t in lib.tracks(drops=True, limit=20))
        assert lib.count_tracks(drops=True) == sum(1 for i in range(52_000)
                                                   if i % 3 == 0 and i % 50)
        assert lib.count_tracks(text="SONG 5100") == 9  # 5100, 51000-51009, not %50
