// underdog's web page: plain JavaScript, no libraries. Every request carries the launch
// token; the server names tracks, plans and jobs by id, never by path.
"use strict";

const TOKEN = document.querySelector('meta[name="underdog-token"]').content;
const $ = (sel) => document.querySelector(sel);
const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};
const SVGNS = "http://www.w3.org/2000/svg";
const svgEl = (tag, attrs = {}) => {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};
const mmss = (s) => { s = Math.max(0, Math.round(s || 0)); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; };
const fmt = (v, nd = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(nd));

function status(msg) { $("#status").textContent = msg || ""; }

async function api(path, opts = {}) {
  const o = { method: "GET", headers: { "X-Underdog-Token": TOKEN }, ...opts };
  if (o.json !== undefined) {
    o.method = o.method === "GET" ? "POST" : o.method;
    o.headers["Content-Type"] = "application/json";
    o.body = JSON.stringify(o.json);
    delete o.json;
  }
  const r = await fetch(path, o);
  if (!r.ok) {
    let msg = `${r.status}`;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    status(msg);
    throw new Error(msg);
  }
  status("");
  return r;
}
const getJSON = async (p, o) => (await api(p, o)).json();

function download(name, blob) {
  const a = el("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(a); a.click(); a.remove();
}

// A job's progress as server-sent events; resolves with its final state.
function follow(job, onProgress) {
  return new Promise((resolve) => {
    const es = new EventSource(`/api/jobs/${job}/events`);
    es.addEventListener("progress", (ev) => onProgress(JSON.parse(ev.data)));
    es.addEventListener("done", (ev) => { es.close(); resolve(JSON.parse(ev.data)); });
    es.onerror = () => { es.close(); getJSON(`/api/jobs/${job}`).then(resolve); };
  });
}

let META = null;
const state = { sort: null, offset: 0, limit: 50, total: 0, plan: null, arc: null, undo: [], st: [] };

// ---------------------------------------------------------------- router
const pages = { library: showLibrary, track: showTrack, arc: showArc, plan: showPlan,
  soundtrack: () => {}, like: () => {} };

function route() {
  const [name, arg] = (location.hash.replace(/^#\/?/, "") || "library").split("/");
  const page = pages[name] ? name : "library";
  document.querySelectorAll(".page").forEach((p) => p.classList.toggle("shown", p.id === `page-${page}`));
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
  pages[page](arg);
}

// ---------------------------------------------------------------- library
function filterParams() {
  const p = new URLSearchParams();
  for (const [id, name] of [["#f-q", "q"], ["#f-bpm-min", "bpm_min"], ["#f-bpm-max", "bpm_max"],
    ["#f-e-min", "energy_min"], ["#f-e-max", "energy_max"], ["#f-style", "style"], ["#f-key", "key"]]) {
    const v = $(id).value.trim();
    if (v) p.set(name, v);
  }
  if ($("#f-drops").checked) p.set("drops", "1");
  if (state.sort) p.set("sort", state.sort);
  p.set("offset", state.offset);
  p.set("limit", state.limit);
  return p;
}

let libSeq = 0;
let libInFlight = null;
async function loadLibrary(reason, t0 = performance.now()) {
  const seq = ++libSeq;
  window.underdogBusy = true;
  // One request at a time: changes made while one runs (clearing three filters fires three)
  // wait for it, and only the newest is asked; parallel requests only slowed the last.
  while (libInFlight) {
    await libInFlight.catch(() => {});
    if (seq !== libSeq) return;
  }
  let d = null;
  const params = filterParams().toString();
  const req = (async () => {
    if (reason === "first" && params === "offset=0&limit=50") {
      // the page's <link rel=preload> asked for this as the HTML arrived (the launch
      // cookie authorizes it); the same request here takes its answer
      const r = await fetch(`/api/tracks?${params}`).catch(() => null);
      const pre = r && r.ok ? await r.json() : null;
      if (pre) return pre;
    }
    return getJSON(`/api/tracks?${params}`);
  })();
  libInFlight = req;
  try { d = await req; }
  finally {
    if (libInFlight === req) libInFlight = null;
    if (seq === libSeq) window.underdogBusy = false;
  }
  if (seq !== libSeq) return;
  state.total = d.total;
  const body = $("#lib-table tbody");
  const rows = d.rows.map((t) => el("tr", { "data-id": t.id },
    el("td", {}, t.artist || ""),
    el("td", {}, el("a", { href: `#/track/${t.id}`, text: t.title || t.file })),
    el("td", { class: "num", text: fmt(t.bpm) }), el("td", { class: "num", text: fmt(t.energy) }),
    el("td", { text: t.camelot || "" }), el("td", { text: t.style || "" }),
    el("td", { class: "num", text: t.drops || "" }), el("td", { class: "num", text: mmss(t.duration_s) })));
  body.replaceChildren(...rows);
  if (d.library !== null) state.library = d.library;
  $("#lib-count").textContent = state.library === 0 ? "The library is empty: scan a folder."
    : `${d.total} of ${state.library ?? "?"} tracks`;
  const pages = Math.max(1, Math.ceil(d.total / state.limit));
  $("#lib-page").textContent = `page ${Math.floor(state.offset / state.limit) + 1} of ${pages}`;
  $("#lib-prev").disabled = state.offset === 0;
  $("#lib-next").disabled = state.offset + state.limit >= d.total;
  document.querySelectorAll("#lib-table th[data-sort]").forEach((th) => {
    th.classList.toggle("sorted-asc", state.sort === th.dataset.sort);
    th.classList.toggle("sorted-desc", state.sort === `-${th.dataset.sort}`);
  });
  const ms = performance.now() - t0;
  window.underdogTiming = window.underdogTiming || {};
  if (reason === "first" && !performance.getEntriesByName("library-rendered").length) {
    performance.mark("library-rendered");
    window.underdogTiming.first = performance.now();
  } else {
    window.underdogTiming.filter = ms;
  }
  window.underdogTiming.rows = d.rows.length;
  window.underdogTiming.seq = (window.underdogTiming.seq || 0) + 1;
}

let libShown = false;
function showLibrary() {
  if (!libShown) { libShown = true; loadLibrary("first"); }
}

function setupLibrary() {
  for (const s of META.styles) $("#f-style").append(el("option", { value: s, text: s }));
  for (const k of META.keys) $("#f-key").append(el("option", { value: k, text: k }));
  // A burst of changes (clearing three filters fires three) makes one request: each change
  // waits 25 ms for the next; the page's timing starts at the last change itself.
  let timer = null;
  const refilter = (wait) => {
    const t0 = performance.now();
    window.underdogBusy = true;
    clearTimeout(timer);
    timer = setTimeout(() => { state.offset = 0; loadLibrary("filter", t0); }, wait);
  };
  $("#filters").addEventListener("change", () => refilter(25));
  $("#filters").addEventListener("input", (ev) => { if (ev.target.id === "f-q") refilter(150); });
  $("#filters").addEventListener("submit", (ev) => { ev.preventDefault(); refilter(0); });
  document.querySelectorAll("#lib-table th[data-sort]").forEach((th) => th.addEventListener("click", () => {
    const k = th.dataset.sort;
    state.sort = state.sort === k ? `-${k}` : k;
    state.offset = 0;
    loadLibrary("sort");
  }));
  $("#lib-prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); loadLibrary("page"); });
  $("#lib-next").addEventListener("click", () => { state.offset += state.limit; loadLibrary("page"); });
  $("#scan-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const bar = $("#scan-progress");
    bar.hidden = false; bar.value = 0;
    $("#scan-msg").textContent = "starting…";
    let job;
    try { job = (await getJSON("/api/scan", { json: { folder: $("#scan-folder").value.trim() } })).job; }
    catch (e) { $("#scan-msg").textContent = e.message; bar.hidden = true; return; }
    const fin = await follow(job, (p) => {
      if (p.total) { bar.max = p.total; bar.value = p.done; }
      $("#scan-msg").textContent = `${p.done} / ${p.total}${p.file ? " · " + p.file : ""}`;
    });
    if (fin.error) $("#scan-msg").textContent = fin.error;
    else $("#scan-msg").textContent = `done: ${fin.result.analyzed} analyzed, ${fin.result.unchanged} unchanged, ${fin.result.failed} failed; ${fin.result.library} tracks`;
    $("#scan-msg").dataset.done = "1";
    state.offset = 0;
    loadLibrary("scan");
  });
}

// ---------------------------------------------------------------- track
let TRACK = null;
async function showTrack(id) {
  if (!id) { location.hash = "#/library"; return; }
  const t = await getJSON(`/api/tracks/${encodeURIComponent(id)}`);
  TRACK = t;
  $("#tr-title").textContent = t.display;
  $("#tr-facts").textContent = `${fmt(t.bpm)} BPM · energy ${fmt(t.energy)} · ${t.camelot || "?"} ${t.key || ""} · ${t.style || "?"} · ${mmss(t.duration_s)} · ${t.drops.length} drop(s)`;
  const audio = $("#tr-audio");
  audio.src = `/api/audio/${t.id}`;
  $("#tr-drop").disabled = !t.drops.length;
  drawTrack();
}

function drawTrack() {
  const t = TRACK; if (!t) return;
  const c = $("#tr-canvas"), g = c.getContext("2d");
  const W = c.width, H = c.height, pad = 30, dur = t.duration_s || 1;
  const x = (s) => pad + (W - 2 * pad) * s / dur;
  const y = (lv) => H - pad - (H - 2 * pad) * (lv - 1) / 9;
  g.clearRect(0, 0, W, H);
  g.fillStyle = "rgba(42,111,187,0.08)";
  for (const s of t.sections) g.fillRect(x(s.start_s), pad, Math.max(1, x(s.end_s) - x(s.start_s)), H - 2 * pad);
  g.strokeStyle = "#ccc"; g.fillStyle = "#888"; g.font = "11px sans-serif";
  for (let lv = 1; lv <= 10; lv += 3) { g.beginPath(); g.moveTo(pad, y(lv)); g.lineTo(W - pad, y(lv)); g.stroke(); g.fillText(String(lv), 4, y(lv) + 4); }
  const down = new Set(t.downbeats.map((b) => b.toFixed(2)));
  g.strokeStyle = "rgba(42,111,187,0.5)";
  for (const b of t.beats) { const tall = down.has(b.toFixed(2)); g.beginPath(); g.moveTo(x(b), H - pad); g.lineTo(x(b), H - pad + (tall ? 14 : 6)); g.stroke(); }
  g.strokeStyle = "#2a6fbb"; g.lineWidth = 2;
  for (const d of t.downbeats) { g.beginPath(); g.moveTo(x(d), H - pad); g.lineTo(x(d), H - pad + 14); g.stroke(); }
  g.beginPath();
  t.energy_curve.levels.forEach((lv, i) => { const px = x(i * t.energy_curve.hop_s), py = y(lv ?? 1); i ? g.lineTo(px, py) : g.moveTo(px, py); });
  g.stroke(); g.lineWidth = 1;
  g.strokeStyle = "#c0392b"; g.lineWidth = 2;
  for (const d of t.drops) { g.beginPath(); g.moveTo(x(d.time_s), pad); g.lineTo(x(d.time_s), H - pad); g.stroke(); }
  g.lineWidth = 1;
  const now = $("#tr-audio").currentTime;
  if (now > 0) { g.strokeStyle = "#000"; g.beginPath(); g.moveTo(x(now), pad); g.lineTo(x(now), H - pad); g.stroke(); }
  g.fillStyle = "#888";
  for (let s = 0; s <= dur; s += 30) g.fillText(mmss(s), x(s) - 10, H - 4);
}

function playAt(s) {
  const a = $("#tr-audio");
  const go = () => { a.currentTime = s; a.play().catch((e) => status(e.message)); };
  if (a.readyState >= 1) go(); else a.addEventListener("loadedmetadata", go, { once: true });
}

function setupTrack() {
  $("#tr-canvas").addEventListener("click", (ev) => {
    if (!TRACK) return;
    const c = $("#tr-canvas"), r = c.getBoundingClientRect();
    const px = (ev.clientX - r.left) * c.width / r.width, pad = 30;
    playAt(Math.max(0, Math.min(1, (px - pad) / (c.width - 2 * pad))) * TRACK.duration_s);
  });
  $("#tr-drop").addEventListener("click", () => TRACK && TRACK.drops.length && playAt(Math.max(0, TRACK.drops[0].time_s - 2)));
  $("#tr-pause").addEventListener("click", () => $("#tr-audio").pause());
  $("#tr-audio").addEventListener("timeupdate", drawTrack);
}

// ---------------------------------------------------------------- arc editor
const ARC = { W: 1000, H: 360, pad: 40, bpmLo: 60, bpmHi: 200 };
const ax = (f) => ARC.pad + (ARC.W - 2 * ARC.pad) * f;
const axInv = (px) => (px - ARC.pad) / (ARC.W - 2 * ARC.pad);
const by = (b) => ARC.H - ARC.pad - (ARC.H - 2 * ARC.pad) * (b - ARC.bpmLo) / (ARC.bpmHi - ARC.bpmLo);
const byInv = (py) => ARC.bpmLo + (ARC.H - ARC.pad - py) * (ARC.bpmHi - ARC.bpmLo) / (ARC.H - 2 * ARC.pad);
const ey = (e) => ARC.H - ARC.pad - (ARC.H - 2 * ARC.pad) * (e - 1) / 9;
const eyInv = (py) => 1 + (ARC.H - ARC.pad - py) * 9 / (ARC.H - 2 * ARC.pad);
const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));

function pushUndo() { state.undo.push(JSON.stringify(state.arc)); if (state.undo.length > 100) state.undo.shift(); }

async function showArc() {
  if (!state.arc) await loadBuiltin(META.arcs[0]);
  drawArc();
}

async function loadBuiltin(name) {
  state.arc = await getJSON(`/api/arcs/builtin/${encodeURIComponent(name)}`);
  state.undo = [];
  $("#arc-minutes").value = Math.round(state.arc.minutes);
  drawArc();
}

function drawArc() {
  const a = state.arc; if (!a) return;
  const s = $("#arc-svg");
  s.replaceChildren();
  for (let b = ARC.bpmLo; b <= ARC.bpmHi; b += 20) {
    s.append(svgEl("line", { x1: ARC.pad, x2: ARC.W - ARC.pad, y1: by(b), y2: by(b), stroke: "#eee" }));
    const t = svgEl("text", { x: 4, y: by(b) + 4, "font-size": 11, fill: "#2a6fbb" }); t.textContent = b; s.append(t);
  }
  for (let e = 1; e <= 10; e += 3) {
    const t = svgEl("text", { x: ARC.W - ARC.pad + 6, y: ey(e) + 4, "font-size": 11, fill: "#c0392b" }); t.textContent = `E${e}`; s.append(t);
  }
  let f0 = 0;
  const mins = Number($("#arc-minutes").value) || a.minutes;
  a.segments.forEach((seg, i) => {
    const f1 = f0 + seg.frac;
    if (seg.peak) s.append(svgEl("rect", { x: ax(f0), y: ARC.pad, width: ax(f1) - ax(f0), height: ARC.H - 2 * ARC.pad, fill: "rgba(192,57,43,0.06)" }));
    const lab = svgEl("text", { x: (ax(f0) + ax(f1)) / 2, y: ARC.pad - 8, "font-size": 11, "text-anchor": "middle", fill: "#444" });
    lab.textContent = seg.name; s.append(lab);
    s.append(svgEl("line", { x1: ax(f0), y1: by(seg.bpm[0]), x2: ax(f1), y2: by(seg.bpm[1]), stroke: "#2a6fbb", "stroke-width": 3 }));
    s.append(svgEl("line", { x1: ax(f0), y1: ey(seg.energy[0]), x2: ax(f1), y2: ey(seg.energy[1]), stroke: "#c0392b", "stroke-width": 2, "stroke-dasharray": "6 3" }));
    for (const [end, fx] of [[0, f0 + seg.frac * 0.04], [1, f1 - seg.frac * 0.04]]) {
      const c = svgEl("circle", { cx: ax(fx), cy: by(seg.bpm[end]), r: 6, fill: "#2a6fbb", class: "pt", "data-kind": "bpm", "data-seg": i, "data-end": end });
      s.append(c);
      const r = svgEl("rect", { x: ax(fx) - 5, y: ey(seg.energy[end]) - 5, width: 10, height: 10, fill: "#c0392b", class: "pt", "data-kind": "energy", "data-seg": i, "data-end": end });
      s.append(r);
    }
    if (i < a.segments.length - 1) {
      s.append(svgEl("line", { x1: ax(f1), x2: ax(f1), y1: ARC.pad, y2: ARC.H - ARC.pad, stroke: "#555", "stroke-width": 6, "stroke-opacity": 0.25, class: "handle", "data-kind": "bound", "data-seg": i }));
    }
    f0 = f1;
  });
  for (let m = 0; m <= mins; m += Math.max(5, Math.round(mins / 10 / 5) * 5)) {
    const t = svgEl("text", { x: ax(m / mins) - 6, y: ARC.H - 12, "font-size": 11, fill: "#888" }); t.textContent = `${m}′`; s.append(t);
  }
  const body = $("#arc-table tbody");
  const one = a.segments.length === 1, full = a.segments.length >= ARC_MAX_SEGMENTS;
  body.replaceChildren(...a.segments.map((seg, i) => el("tr", {},
    el("td", {}, el("input", { class: "seg-name", value: seg.name, size: 14, maxlength: 100,
      "aria-label": `segment ${i + 1} name`, "data-seg": i })),
    el("td", { class: "num", text: fmt(seg.frac * mins) }),
    el("td", { text: `${fmt(seg.bpm[0], 0)} → ${fmt(seg.bpm[1], 0)}` }),
    el("td", { text: `${fmt(seg.energy[0])} → ${fmt(seg.energy[1])}` }),
    el("td", { text: seg.peak ? "▲" : "" }),
    el("td", {},
      el("button", { type: "button", class: "seg-split", "data-seg": i, text: "split", title: "split into two halves", ...(full ? { disabled: "" } : {}) }),
      el("button", { type: "button", class: "seg-remove", "data-seg": i, text: "remove", title: "remove (its time goes to its neighbour)", ...(one ? { disabled: "" } : {}) })))));
}

// Segment edits from the table: rename, split in two halves, remove (the time it took goes
// to the segment before it, or after it for the first). Each can be undone.
const ARC_MAX_SEGMENTS = 200;  // the server's bound

function splitSegment(i) {
  const segs = state.arc.segments, s = segs[i];
  const names = new Set(segs.map((x) => x.name));
  let n = 2;
  while (names.has(`${s.name} ${n}`)) n += 1;
  const b = JSON.parse(JSON.stringify(s));
  const bm = Math.round((s.bpm[0] + s.bpm[1]) / 2), em = Math.round((s.energy[0] + s.energy[1]) * 5) / 10;
  s.frac /= 2; b.frac = s.frac;
  s.bpm = [s.bpm[0], bm]; b.bpm = [bm, b.bpm[1]];
  s.energy = [s.energy[0], em]; b.energy = [em, b.energy[1]];
  b.name = `${s.name} ${n}`.slice(0, 100);
  segs.splice(i + 1, 0, b);
}

function removeSegment(i) {
  const segs = state.arc.segments;
  const [gone] = segs.splice(i, 1);
  segs[Math.max(0, i - 1)].frac += gone.frac;
}

function setupArc() {
  for (const n of META.arcs) $("#arc-builtin").append(el("option", { value: n, text: n }));
  $("#arc-load").addEventListener("click", () => loadBuiltin($("#arc-builtin").value));
  $("#arc-minutes").addEventListener("change", drawArc);
  $("#arc-file").addEventListener("change", async () => {
    const f = $("#arc-file").files[0]; if (!f) return;
    if (f.size > 2000000) { status("an arc file is at most 2 MB"); return; }
    try {
      state.arc = await getJSON("/api/arcs/parse", { method: "POST", body: await f.text() });
      state.undo = []; $("#arc-minutes").value = Math.round(state.arc.minutes); drawArc();
    } catch (e) { $("#arc-msg").textContent = e.message; }
  });
  const svg = $("#arc-svg");
  let drag = null;
  const pos = (ev) => { const r = svg.getBoundingClientRect(); return [(ev.clientX - r.left) * ARC.W / r.width, (ev.clientY - r.top) * ARC.H / r.height]; };
  svg.addEventListener("pointerdown", (ev) => {
    const t = ev.target; if (!t.dataset || !t.dataset.kind) return;
    pushUndo();
    drag = { kind: t.dataset.kind, seg: Number(t.dataset.seg), end: Number(t.dataset.end) };
    svg.setPointerCapture(ev.pointerId);
    ev.preventDefault();
  });
  svg.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const [px, py] = pos(ev), segs = state.arc.segments, s = segs[drag.seg];
    if (drag.kind === "bpm") s.bpm[drag.end] = Math.round(clamp(byInv(py), 30, 300));
    else if (drag.kind === "energy") s.energy[drag.end] = Math.round(clamp(eyInv(py), 1, 10) * 10) / 10;
    else {
      const start = segs.slice(0, drag.seg).reduce((acc, x) => acc + x.frac, 0);
      const pair = s.frac + segs[drag.seg + 1].frac, min = 0.01;
      const f = clamp(axInv(px) - start, min, pair - min);
      s.frac = f; segs[drag.seg + 1].frac = pair - f;
    }
    drawArc();
  });
  const end = () => { if (drag) { drag = null; $("#arc-msg").textContent = "edited"; } };
  svg.addEventListener("pointerup", end);
  svg.addEventListener("pointercancel", end);
  $("#arc-table").addEventListener("change", (ev) => {
    const t = ev.target;
    if (!t.classList.contains("seg-name")) return;
    const name = t.value.trim().slice(0, 100);
    const seg = state.arc.segments[Number(t.dataset.seg)];
    if (name && name !== seg.name) { pushUndo(); seg.name = name; $("#arc-msg").textContent = "edited"; }
    drawArc();
  });
  $("#arc-table").addEventListener("click", (ev) => {
    const t = ev.target, i = Number(t.dataset && t.dataset.seg), n = state.arc.segments.length;
    if (t.classList.contains("seg-split") && n < ARC_MAX_SEGMENTS) { pushUndo(); splitSegment(i); }
    else if (t.classList.contains("seg-remove") && n > 1) { pushUndo(); removeSegment(i); }
    else return;
    $("#arc-msg").textContent = "edited";
    drawArc();
  });
  $("#arc-undo").addEventListener("click", () => { if (state.undo.length) { state.arc = JSON.parse(state.undo.pop()); drawArc(); } });
  $("#arc-save").addEventListener("click", async () => {
    const r = await api("/api/arcs/toml", { json: arcDoc() });
    download(`${state.arc.name || "arc"}.toml`, await r.blob());
  });
  $("#arc-build").addEventListener("click", async () => {
    $("#arc-msg").textContent = "planning…";
    try {
      const p = await getJSON("/api/plans", { json: { arc: arcDoc(), minutes: Number($("#arc-minutes").value) || null } });
      $("#arc-msg").textContent = "";
      state.plan = p; location.hash = `#/plan/${p.id}`;
    } catch (e) { $("#arc-msg").textContent = e.message; }
  });
}

function arcDoc() { return { ...state.arc, minutes: Number($("#arc-minutes").value) || state.arc.minutes }; }

// ---------------------------------------------------------------- plan
async function showPlan(id) {
  if (id && (!state.plan || String(state.plan.id) !== id)) {
    try { state.plan = await getJSON(`/api/plans/${encodeURIComponent(id)}`); } catch (e) { state.plan = null; }
  }
  $("#plan-none").hidden = !!state.plan;
  $("#plan-body").hidden = !state.plan;
  if (state.plan) drawPlan();
}

function setPlan(p) { state.plan = p; history.replaceState(null, "", `#/plan/${p.id}`); drawPlan(); }

function drawPlan() {
  const p = state.plan;
  if (state.renderedFor !== p.id) {  // a render belongs to the plan it was made from
    $("#render-out").hidden = true; $("#render-progress").hidden = true; $("#render-msg").textContent = "";
  }
  $("#plan-title").textContent = `${p.arc}: ${p.entries.length} tracks, ${fmt(p.minutes)} min (seed ${p.seed})`;
  const r = p.report;
  $("#plan-report").textContent = `arc fit: mean |BPM − target| ${fmt(r.bpm_mae)}, energy error ${fmt(r.energy_mae)}; objective ${fmt(r.objective)}` + (p.warnings.length ? " · " + p.warnings.join(" · ") : "");
  for (const k of ["m3u8", "xspf", "json", "xml"]) $(`#x-${k}`).href = `/api/plans/${p.id}/export/${k}`;
  // chart: target band vs actual
  const s = $("#plan-svg"), W = 1000, H = 300, pad = 44;
  const total = Math.max(p.session_minutes * 60, ...p.entries.map((e) => e.end_s));
  const bpms = p.entries.map((e) => e.actual.played_bpm || e.actual.bpm || 0).filter((b) => b > 0).concat(p.target.map((t) => t.bpm));
  const lo = Math.floor((Math.min(...bpms) - 10) / 10) * 10, hi = Math.ceil((Math.max(...bpms) + 10) / 10) * 10;
  const x = (t) => pad + (W - 2 * pad) * t / total, yb = (b) => H - pad - (H - 2 * pad) * (b - lo) / (hi - lo);
  const ye = (e) => H - pad - (H - 2 * pad) * (e - 1) / 9;
  const text = (x0, y0, str, color, anchor) => { const t = svgEl("text", { x: x0, y: y0, "font-size": 11, fill: color || "#888", "text-anchor": anchor || "start" }); t.textContent = str; s.append(t); };
  s.replaceChildren();
  for (const seg of p.segments) {
    if (seg.peak) s.append(svgEl("rect", { x: x(seg.start_s), y: pad, width: x(seg.end_s) - x(seg.start_s), height: H - 2 * pad, fill: "rgba(192,57,43,0.06)" }));
  }
  const step = (hi - lo) > 80 ? 20 : 10;
  for (let b = lo; b <= hi; b += step) { s.append(svgEl("line", { x1: pad, x2: W - pad, y1: yb(b), y2: yb(b), stroke: "#f0f0f0" })); text(pad - 4, yb(b) + 4, String(b), "#2a6fbb", "end"); }
  for (let e = 1; e <= 10; e += 3) text(W - pad + 4, ye(e) + 4, `E${e}`, "#c0392b");
  const line = (pts, color, dash) => s.append(svgEl("polyline", { points: pts.join(" "), fill: "none", stroke: color, "stroke-width": 2, ...(dash ? { "stroke-dasharray": dash } : {}) }));
  line(p.target.map((t) => `${x(t.t_s)},${yb(t.bpm)}`), "#2a6fbb", "6 3");
  line(p.target.map((t) => `${x(t.t_s)},${ye(t.energy)}`), "#c0392b", "6 3");
  for (const e of p.entries) {
    const b = e.actual.played_bpm || e.actual.bpm;
    // a ramp's entry plays a line from tempo_in_bpm to tempo_out_bpm (the render rides it),
    // bent at tempo_via's (track s, BPM): a whole track plays near its own length
    const pts = [[e.start_s, e.tempo_in_bpm || b], ...(e.tempo_via || []).map(([u, v]) => [e.start_s + u, v]), [e.end_s, e.tempo_out_bpm || b]];
    const tip = () => { const t = svgEl("title"); t.textContent = `${e.position}. ${e.display}`; s.lastChild.append(t); };
    if (b) { s.append(svgEl("polyline", { points: pts.map(([t, v]) => `${x(t)},${yb(v)}`).join(" "), fill: "none", stroke: "#2a6fbb", "stroke-width": 5 })); tip(); }
    if (e.level) { s.append(svgEl("line", { x1: x(e.start_s), x2: x(e.end_s), y1: ye(e.level), y2: ye(e.level), stroke: "#c0392b", "stroke-width": 3 })); tip(); }
    s.append(svgEl("line", { x1: x(e.start_s), x2: x(e.start_s), y1: H - pad, y2: H - pad + 6, stroke: "#555" }));
  }
  const mins = total / 60, tick = mins > 30 ? 5 : mins > 10 ? 2 : 1;
  for (let m = 0; m <= mins; m += tick) text(x(m * 60), H - 12, `${m}′`, "#888", "middle");
  text(pad, 16, "dashed: the arc's target (blue BPM, red energy level); bars: the planned tracks", "#444");
  // explain table
  $("#plan-table tbody").replaceChildren(...p.entries.map((e) => {
    const lock = el("input", { type: "checkbox", class: "lock", "data-pos": e.position });
    lock.checked = !!e.locked;
    lock.addEventListener("change", async () => setPlan(await getJSON(`/api/plans/${p.id}/lock`, { json: { position: e.position, locked: lock.checked } })));
    return el("tr", { class: e.locked ? "locked" : "", "data-pos": e.position },
      el("td", { class: "num", text: e.position }), el("td", { text: mmss(e.start_s) }),
      el("td", { text: e.segment + (e.peak ? " ▲" : "") }),
      el("td", { text: `${fmt(e.target.bpm, 0)} BPM · E${fmt(e.target.energy)}` }),
      el("td", { text: `${e.bpm_text} BPM · E${fmt(e.level)} · ${e.actual.camelot || "?"} · ${e.actual.style || "?"}` }),
      el("td", {}, el("a", { href: `#/track/${e.id}`, text: e.display })),
      el("td", { class: "why", text: e.why }), el("td", {}, lock),
      el("td", {}, el("button", { class: "swap", text: "swap…", onclick: () => showAlternatives(e.position) })));
  }));
}

async function showAlternatives(pos) {
  const p = state.plan;
  $("#alt-box").hidden = false;
  $("#alt-title").textContent = `alternatives for #${pos}`;
  const d = await getJSON(`/api/plans/${p.id}/alternatives/${pos}`);
  $("#alt-table tbody").replaceChildren(...d.alternatives.map((t) => el("tr", {},
    el("td", { text: t.display }), el("td", { class: "num", text: `${fmt(t.bpm, 0)} BPM` }),
    el("td", { class: "num", text: `E${fmt(t.energy)}` }), el("td", { text: `plan cost ${fmt(t.cost)}` }),
    el("td", {}, el("button", { class: "use", text: "use", onclick: async () => {
      setPlan(await getJSON(`/api/plans/${p.id}/swap`, { json: { position: pos, track_id: t.id } }));
      $("#alt-box").hidden = true;
    } })))));
}

function setupPlan() {
  $("#plan-replan").addEventListener("click", async () => setPlan(await getJSON(`/api/plans/${state.plan.id}/replan`, { method: "POST" })));
  $("#plan-render").addEventListener("click", async () => {
    const bar = $("#render-progress"); bar.hidden = false; bar.value = 0;
    $("#render-out").hidden = true;
    $("#render-msg").textContent = "rendering…";
    const job = (await getJSON(`/api/plans/${state.plan.id}/render`, { method: "POST" })).job;
    const fin = await follow(job, (ev) => { if (ev.total) { bar.max = ev.total; bar.value = ev.done; } });
    if (fin.error) { $("#render-msg").textContent = fin.error; $("#render-msg").dataset.error = "1"; return; }
    delete $("#render-msg").dataset.error;
    $("#render-msg").textContent = `mix: ${mmss(fin.result.duration_s)}, ${fin.result.chapters} excerpts`;
    $("#mix-audio").src = `/api/jobs/${job}/audio`;
    $("#mix-download").href = `/api/jobs/${job}/audio?download=1`;
    $("#render-out").hidden = false;
    state.renderedFor = state.plan.id;
  });
}

// ---------------------------------------------------------------- soundtrack
function setupSoundtrack() {
  $("#st-file").addEventListener("change", async () => {
    const f = $("#st-file").files[0]; if (!f) return;
    if (f.size > 2000000) { status("a tracklist is at most 2 MB here"); return; }
    $("#st-text").value = await f.text();
    const ext = f.name.split(".").pop().toLowerCase();
    $("#st-format").value = ext === "csv" ? "csv" : ext === "json" ? "json" : "text";
  });
  $("#st-match").addEventListener("click", async () => {
    let d;
    try { d = await getJSON("/api/soundtrack", { json: { text: $("#st-text").value, format: $("#st-format").value } }); }
    catch (e) { $("#st-summary").textContent = e.message; return; }
    state.st = d.rows;
    $("#st-summary").textContent = d.summary;
    $("#st-table tbody").replaceChildren(...d.rows.map((r) => {
      const pick = el("select", { class: "pick", "data-n": r.n }, el("option", { value: "", text: "— none —" }));
      for (const c of r.candidates) if (c.id) pick.append(el("option", { value: c.id, text: `${c.artist || "?"} - ${c.title || c.file} (${c.confidence})` }));
      for (const t of r.stand_ins || []) pick.append(el("option", { value: t.id, text: `stand-in: ${t.display} (${fmt(t.bpm, 0)} BPM, E${fmt(t.energy)})`, title: t.why || "" }));
      if (r.match) pick.value = String(r.match);
      return el("tr", { "data-status": r.status }, el("td", { class: "num", text: r.n }), el("td", { text: r.time || "" }),
        el("td", { text: r.entry }), el("td", { class: r.status, text: r.status }),
        el("td", { class: "num", text: r.candidates.length ? fmt(r.confidence, 2) : "" }), el("td", {}, pick));
    }));
  });
  $("#st-export").addEventListener("click", async () => {
    const picks = [...document.querySelectorAll("#st-table select.pick")].map((s) => (s.value ? Number(s.value) : null));
    const r = await api("/api/soundtrack/export", { json: { picks, names: state.st.map((r) => r.entry) } });
    download("soundtrack.m3u8", await r.blob());
  });
}

// ---------------------------------------------------------------- like
function setupLike() {
  $("#like-go").addEventListener("click", async () => {
    const body = { minutes: Number($("#like-minutes").value) || null };
    const f = $("#like-file").files[0];
    if (f) {
      if (f.size > 2000000) { status("a playlist is at most 2 MB here"); return; }
      body.playlist = await f.text(); body.ext = "." + f.name.split(".").pop().toLowerCase();
    } else body.folder = $("#like-folder").value.trim();
    $("#like-msg").textContent = "learning…";
    let d;
    try { d = await getJSON("/api/like", { json: body }); } catch (e) { $("#like-msg").textContent = e.message; return; }
    const t = d.distances;
    $("#like-msg").textContent = `${t.reference_tracks} reference tracks` + (t.skipped ? `, ${t.skipped} skipped` : "");
    $("#like-table thead").replaceChildren(el("tr", {}, el("th", { text: "playlist" }), ...t.columns.map((c) => el("th", { class: "num", text: c })), el("th", { class: "num", text: "tracks" }), el("th", { class: "num", text: "min" })));
    $("#like-table tbody").replaceChildren(...t.rows.map((r) => el("tr", {}, el("td", { text: r.playlist }),
      ...t.columns.map((c) => el("td", { class: "num", text: r[c] === null ? "·" : fmt(r[c], 3) })),
      el("td", { class: "num", text: r.tracks }), el("td", { class: "num", text: fmt(r.minutes) }))));
    state.plan = d.plan;
    $("#like-plan").replaceChildren(el("a", { href: `#/plan/${d.plan.id}`, text: `the rebuilt plan: ${d.plan.entries.length} tracks, ${fmt(d.plan.minutes)} min →` }));
  });
}

// ---------------------------------------------------------------- start
(async function start() {
  const meta = getJSON("/api/meta");
  // the library view's first page is asked for at once, beside the page's metadata
  if (!location.hash || location.hash.startsWith("#/library")) { libShown = true; loadLibrary("first"); }
  META = await meta;
  setupLibrary(); setupTrack(); setupArc(); setupPlan(); setupSoundtrack(); setupLike();
  window.addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = "1";
})();
