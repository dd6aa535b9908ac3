"""The ASGI app of ``underdog serve``: routes that validate a request, call one operation
(``web.ops``), and answer JSON, a file or a stream of progress events.

No route takes a path: tracks are named by id, plans and jobs by the ids this server gave
out, files the server writes live in its own temporary folder. The one exception is a
folder the user types to scan or to learn from, checked by ``ops.check_folder``.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, \
    StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import UnderdogError
from . import ops
from .security import COOKIE, Guard, allowed_hosts, new_token

MAX_BODY = 2_000_000          # bytes of any request body (tracklists, arcs, playlists)
MAX_PLANS = 32                # plans kept in memory (oldest dropped)
MAX_JOBS = 16                 # finished jobs kept (a render's mix file goes with its job)
ID_MAX = 2**63 - 1


@dataclass
class Job:
    """A background operation (scan, render) and what it has reported so far."""

    kind: str
    events: list[dict] = field(default_factory=list)
    done: bool = False
    result: Any = None
    error: str | None = None
    file: str | None = None


@dataclass
class Server:
    """What one launch holds: the library path, its token, its folder, plans and jobs."""

    db: str
    token: str
    workdir: str
    scan_jobs: int | None = 0       # worker processes for a scan (None: every core)
    plans: "OrderedDict[int, ops.PlanState]" = field(default_factory=OrderedDict)
    jobs: dict[int, Job] = field(default_factory=dict)
    ids: Any = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_plan(self, st: ops.PlanState) -> int:
        with self.lock:
            pid = next(self.ids)
            self.plans[pid] = st
            while len(self.plans) > MAX_PLANS:
                self.plans.popitem(last=False)
        return pid

    def plan(self, pid: int) -> ops.PlanState:
        with self.lock:
            st = self.plans.get(pid)
        if st is None:
            raise ops.WebError("no such plan (plans are kept while the server runs)", 404)
        return st

    def start(self, kind: str, fn: Callable[[Job], Any]) -> int:
        job = Job(kind)
        with self.lock:
            jid = next(self.ids)
            self.jobs[jid] = job
            old = [k for k, j in self.jobs.items() if j.done][:-MAX_JOBS]
            for k in old:  # finished jobs beyond the last few go, with their files
                gone = self.jobs.pop(k)
                if gone.file:
                    for f in (gone.file, os.path.splitext(gone.file)[0] + ".plan.json"):
                        if os.path.exists(f):
                            os.unlink(f)

        def run() -> None:
            try:
                job.result = fn(job)
            except UnderdogError as exc:
                job.error = str(exc)
            except Exception as exc:  # one line for the page; the server goes on
                job.error = f"internal error: {exc.__class__.__name__}"
            finally:
                job.done = True

        threading.Thread(target=run, name=f"underdog-{kind}-{jid}", daemon=True).start()
        return jid

    def job(self, jid: int) -> Job:
        j = self.jobs.get(jid)
        if j is None:
            raise ops.WebError("no such job", 404)
        return j


# ---------------------------------------------------------------- helpers

def _srv(request: Request) -> Server:
    return request.app.state.server


def _id(request: Request, name: str) -> int:
    v = request.path_params[name]
    if not isinstance(v, int) or not 1 <= v <= ID_MAX:
        raise ops.WebError(f"bad {name}", 404)
    return v


async def read_body(request: Request, cap: int = MAX_BODY) -> bytes:
    """The request body, refused (413) as soon as it passes ``cap`` bytes."""
    chunks, n = [], 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > cap:
            raise ops.WebError(f"upload larger than {cap:,} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request) -> Any:
    raw = await read_body(request)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ops.WebError("the request body is not JSON") from None


async def run_sync(fn, *args):
    """Run a blocking operation in a worker thread (the library is opened there)."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


def _num(v: Any, lo: float, hi: float, what: str) -> float | None:
    if v is None or v == "":
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ops.WebError(f"{what} must be a number") from None
    if not lo <= f <= hi:
        raise ops.WebError(f"{what} must be {lo:g}–{hi:g}")
    return f


# ---------------------------------------------------------------- pages

async def index(request: Request) -> Response:
    srv = _srv(request)
    page = resources.files("underdog.web").joinpath("static/index.html").read_text("utf-8")
    page = page.replace("{{TOKEN}}", html.escape(srv.token, quote=True))
    resp = HTMLResponse(page, headers={"cache-control": "no-store"})
    resp.set_cookie(COOKIE, srv.token, httponly=True, samesite="strict", path="/")
    return resp


async def meta(request: Request) -> Response:
    from ..planning.arcs import KNOWN_STYLES

    return JSONResponse({"styles": list(KNOWN_STYLES), "keys": ops.KEYS,
                         "arcs": ops.builtin_arcs(), "sorts": list(ops.SORT_KEYS)})


async def tracks(request: Request) -> Response:
    q = ops.parse_query(dict(request.query_params))
    return JSONResponse(await run_sync(ops.library_page, _srv(request).db, q))


async def track(request: Request) -> Response:
    return JSONResponse(await run_sync(ops.track_detail, _srv(request).db,
                                       _id(request, "track_id")))


async def audio(request: Request) -> Response:
    path, mime = await run_sync(ops.audio_file, _srv(request).db, _id(request, "track_id"))
    return FileResponse(path, media_type=mime, headers={"cache-control": "no-store"},
                        content_disposition_type="inline", filename="track" +
                        os.path.splitext(path)[1].lower())


# ---------------------------------------------------------------- jobs

async def scan(request: Request) -> Response:
    srv = _srv(request)
    body = await read_json(request)
    folder = ops.check_folder(body.get("folder") if isinstance(body, dict) else None)

    def work(job: Job) -> dict:
        return ops.scan(srv.db, folder, job.events.append, jobs=srv.scan_jobs)

    return JSONResponse({"job": srv.start("scan", work)})


def _job_state(j: Job) -> dict:
    return {"kind": j.kind, "done": j.done, "error": j.error, "result": j.result,
            "last": j.events[-1] if j.events else None}


async def job(request: Request) -> Response:
    return JSONResponse(_job_state(_srv(request).job(_id(request, "job_id"))))


async def job_events(request: Request) -> Response:
    """Server-sent events: each progress report, then one ``done`` event."""
    j = _srv(request).job(_id(request, "job_id"))

    async def stream():
        sent = 0
        while True:
            n = len(j.events)
            for ev in j.events[sent:n]:
                yield f"event: progress\ndata: {json.dumps(ev)}\n\n"
            sent = n
            if j.done and sent == len(j.events):
                yield f"event: done\ndata: {json.dumps(_job_state(j))}\n\n"
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.15)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-store"})


# ---------------------------------------------------------------- arcs

async def arc_builtin(request: Request) -> Response:
    name = request.path_params["name"]
    minutes = _num(request.query_params.get("minutes"), 1, 600, "minutes")
    return JSONResponse(ops.load_builtin(name, minutes))


async def arc_parse(request: Request) -> Response:
    raw = await read_body(request)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ops.WebError("an arc file is UTF-8 text") from None
    return JSONResponse(ops.arc_from_toml(text))


async def arc_save(request: Request) -> Response:
    doc = await read_json(request)
    text = ops.arc_toml(doc)
    return Response(text, media_type="application/toml",
                    headers={"content-disposition": 'attachment; filename="arc.toml"'})


# ---------------------------------------------------------------- plans

def _plan_reply(srv: Server, pid: int) -> JSONResponse:
    return JSONResponse({"id": pid, **ops.plan_json(srv.plan(pid))})


async def plan_build(request: Request) -> Response:
    srv = _srv(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ops.WebError("expected an object")
    text = ops.arc_toml(body.get("arc"))
    minutes = _num(body.get("minutes"), 1, 600, "minutes")
    seed = int(_num(body.get("seed", 0), 0, 2**32 - 1, "seed") or 0)
    st = await run_sync(ops.build_plan, srv.db, text, minutes, seed)
    return _plan_reply(srv, srv.add_plan(st))


async def plan_get(request: Request) -> Response:
    return _plan_reply(_srv(request), _id(request, "plan_id"))


async def plan_alternatives(request: Request) -> Response:
    srv = _srv(request)
    st = srv.plan(_id(request, "plan_id"))
    pos = _id(request, "position")
    return JSONResponse({"alternatives": await run_sync(ops.alternatives, srv.db, st, pos)})


def _int_field(body: Any, name: str) -> int:
    v = body.get(name) if isinstance(body, dict) else None
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= ID_MAX:
        raise ops.WebError(f"{name} must be a positive whole number")
    return v


async def plan_swap(request: Request) -> Response:
    srv = _srv(request)
    st = srv.plan(_id(request, "plan_id"))
    body = await read_json(request)
    new = await run_sync(ops.swap, srv.db, st, _int_field(body, "position"),
                         _int_field(body, "track_id"))
    return _plan_reply(srv, srv.add_plan(new))


async def plan_lock(request: Request) -> Response:
    srv = _srv(request)
    pid = _id(request, "plan_id")
    st = srv.plan(pid)
    body = await read_json(request)
    pos = _int_field(body, "position")
    if pos > len(st.plan.entries):
        raise ops.WebError("no such position in the plan", 404)
    tid = st.plan.entries[pos - 1].track.id
    with srv.lock:
        if body.get("locked"):
            st.locked.add(tid)
        else:
            st.locked.discard(tid)
    return _plan_reply(srv, pid)


async def plan_replan(request: Request) -> Response:
    srv = _srv(request)
    st = srv.plan(_id(request, "plan_id"))
    new = await run_sync(ops.replan, srv.db, st)
    return _plan_reply(srv, srv.add_plan(new))


async def plan_export(request: Request) -> Response:
    srv = _srv(request)
    st = srv.plan(_id(request, "plan_id"))
    kind = request.path_params["kind"]
    if kind not in ops.EXPORTS:
        raise ops.WebError("unknown export type", 404)
    d = tempfile.mkdtemp(dir=srv.workdir)
    try:
        data = await run_sync(ops.export_plan, st, kind, d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    name = f"underdog-{st.plan.arc.name}.{kind}".replace('"', "")
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return Response(data, media_type=ops.EXPORTS[kind],
                    headers={"content-disposition": f'attachment; filename="{name}"'})


async def plan_render(request: Request) -> Response:
    srv = _srv(request)
    st = srv.plan(_id(request, "plan_id"))

    def work(job: Job) -> dict:
        out = os.path.join(srv.workdir, f"mix-{id(job)}.opus")

        def progress(done: float, total: float) -> None:
            job.events.append({"done": round(float(done), 2), "total": round(float(total), 2)})

        rep = ops.render_plan(srv.db, st, out, progress)
        job.file = out
        return rep

    return JSONResponse({"job": srv.start("render", work)})


async def render_audio(request: Request) -> Response:
    j = _srv(request).job(_id(request, "job_id"))
    if j.kind != "render" or not j.done or not j.file or not os.path.isfile(j.file):
        raise ops.WebError("no rendered mix for this job", 404)
    download = request.query_params.get("download") == "1"
    return FileResponse(j.file, media_type="audio/ogg", filename="underdog-mix.opus",
                        content_disposition_type="attachment" if download else "inline",
                        headers={"cache-control": "no-store"})


# ---------------------------------------------------------------- soundtrack, like

async def soundtrack(request: Request) -> Response:
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        raise ops.WebError("expected {text, format}")
    fmt = body.get("format") or "text"
    srv = _srv(request)
    return JSONResponse(await run_sync(ops.match_soundtrack, srv.db, srv.workdir,
                                       body["text"], fmt))


async def soundtrack_export(request: Request) -> Response:
    body = await read_json(request)
    picks = body.get("picks") if isinstance(body, dict) else None
    names = body.get("names") if isinstance(body, dict) else None
    if not isinstance(picks, list) or not isinstance(names, list) or len(picks) != len(
            names) or len(picks) > 10_000:
        raise ops.WebError("expected {picks, names} of the same length")
    for p in picks:
        if p is not None and (not isinstance(p, int) or isinstance(p, bool) or
                              not 1 <= p <= ID_MAX):
            raise ops.WebError("picks are track ids or null")
    data = await run_sync(ops.soundtrack_m3u8, _srv(request).db, picks,
                          [str(n)[:500] for n in names])
    return Response(data, media_type="audio/x-mpegurl",
                    headers={"content-disposition": 'attachment; filename="soundtrack.m3u8"'})


async def like(request: Request) -> Response:
    srv = _srv(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ops.WebError("expected an object")
    minutes = _num(body.get("minutes"), 1, 600, "minutes")
    if isinstance(body.get("playlist"), str):
        # an uploaded playlist: written into the server's folder, read by the CLI's parser,
        # and kept to the library's own tracks
        ext = body.get("ext") if body.get("ext") in (".m3u8", ".m3u", ".xspf") else ".m3u8"
        d = tempfile.mkdtemp(dir=srv.workdir)
        try:
            up = os.path.join(d, "upload" + ext)
            with open(up, "w", encoding="utf-8") as f:
                f.write(body["playlist"])
            spec = await run_sync(ops.library_playlist, srv.db, up,
                                  os.path.join(d, "reference.m3u8"))
            table, st = await run_sync(ops.like, srv.db, spec, minutes, 0, "the playlist")
        finally:
            shutil.rmtree(d, ignore_errors=True)
    else:
        folder = ops.check_folder(body.get("folder"))
        table, st = await run_sync(ops.like, srv.db, folder, minutes, 0)
    pid = srv.add_plan(st)
    return JSONResponse({"distances": table, "plan": {"id": pid, **ops.plan_json(st)}})


# ---------------------------------------------------------------- the app

async def _web_error(request: Request, exc: Exception) -> Response:
    from ..errors import NotFoundError

    status = getattr(exc, "status", 404 if isinstance(exc, NotFoundError) else 400)
    srv = _srv(request)
    msg = str(exc).replace(srv.workdir, "(server folder)").replace(srv.db, "the library")
    return JSONResponse({"error": msg}, status_code=status,
                        headers={"cache-control": "no-store"})


async def _not_found(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 404)
    return JSONResponse({"error": "not found" if code == 404 else "bad request"},
                        status_code=code)


async def _internal(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": "internal error"}, status_code=500)


def create_app(db: str, *, host: str = "127.0.0.1", port: int = 8765,
               token: str | None = None, page_needs_token: bool = False,
               workdir: str | None = None, scan_jobs: int | None = 0) -> Starlette:
    """The app for a library at ``db``, guarded for ``host:port`` (see ``web.security``)."""
    from starlette.exceptions import HTTPException

    token = token or new_token()
    workdir = workdir or tempfile.mkdtemp(prefix="underdog-web-")
    srv = Server(os.path.abspath(db), token, workdir, scan_jobs=scan_jobs)
    I = "{%s:int}"  # noqa: E741
    routes = [
        Route("/", index),
        Route("/api/meta", meta),
        Route("/api/tracks", tracks),
        Route("/api/tracks/" + I % "track_id", track),
        Route("/api/audio/" + I % "track_id", audio),
        Route("/api/scan", scan, methods=["POST"]),
        Route("/api/jobs/" + I % "job_id", job),
        Route("/api/jobs/" + I % "job_id" + "/events", job_events),
        Route("/api/jobs/" + I % "job_id" + "/audio", render_audio),
        Route("/api/arcs/builtin/{name}", arc_builtin),
        Route("/api/arcs/parse", arc_parse, methods=["POST"]),
        Route("/api/arcs/toml", arc_save, methods=["POST"]),
        Route("/api/plans", plan_build, methods=["POST"]),
        Route("/api/plans/" + I % "plan_id", plan_get),
        Route("/api/plans/" + I % "plan_id" + "/alternatives/" + I % "position",
              plan_alternatives),
        Route("/api/plans/" + I % "plan_id" + "/swap", plan_swap, methods=["POST"]),
        Route("/api/plans/" + I % "plan_id" + "/lock", plan_lock, methods=["POST"]),
        Route("/api/plans/" + I % "plan_id" + "/replan", plan_replan, methods=["POST"]),
        Route("/api/plans/" + I % "plan_id" + "/export/{kind}", plan_export),
        Route("/api/plans/" + I % "plan_id" + "/render", plan_render, methods=["POST"]),
        Route("/api/soundtrack", soundtrack, methods=["POST"]),
        Route("/api/soundtrack/export", soundtrack_export, methods=["POST"]),
        Route("/api/like", like, methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("underdog.web", "static")]), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={
        UnderdogError: _web_error, HTTPException: _not_found, Exception: _internal})
    app.state.server = srv
    return Guard(app, token=token, hosts=allowed_hosts(host, port),
                 page_needs_token=page_needs_token, max_body=MAX_BODY)
