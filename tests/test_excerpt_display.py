"""The plot shows excerpts (issue 14): each excerpt's span in its label, its drop where the
plan lands it, and the round boundaries as lines."""

from __future__ import annotations

from matplotlib.image import imread

from underdog.export.plot import plot_plan


def _rounds_plan():
    """Two 1-minute rounds with a 1-minute rest, four 40-s excerpts."""
    segments = [dict(label="warm", start_min=0, end_min=1, bpm_lo=120, bpm_hi=130, energy=4),
                dict(label="round 1", start_min=1, end_min=2, bpm_lo=135, bpm_hi=145,
                     energy=8, peak=True),
                dict(label="rest", start_min=2, end_min=3, bpm_lo=120, bpm_hi=130, energy=4),
                dict(label="round 2", start_min=3, end_min=4, bpm_lo=135, bpm_hi=145,
                     energy=8, peak=True)]
    entries = [dict(label=f"Artist - Song {i}", start_min=i * 0.66, end_min=i * 0.66 + 0.75,
                    bpm=140.0, energy=7.0, span=(62.0 + i, 107.0 + i),
                    drops_min=[1.0] if i == 1 else []) for i in range(6)]
    cues = [{"at_s": 60.0, "kind": "round_start", "round": 1},
            {"at_s": 120.0, "kind": "round_end", "round": 1},
            {"at_s": 180.0, "kind": "round_start", "round": 2},
            {"at_s": 240.0, "kind": "round_end", "round": 2}]
    return segments, entries, cues


def test_plot_shows_spans_drops_and_round_lines(tmp_path):
    segments, entries, cues = _rounds_plan()
    out = tmp_path / "rounds.png"
    fig = plot_plan(segments, entries, out, title="boxing", cues=cues)
    assert imread(out).shape[0] > 100
    ax_bpm, ax_e = fig.axes[0], fig.axes[1]
    top = ax_bpm.child_axes[0]  # the secondary axis with the track labels
    labels = [t.get_text() for t in top.get_xticklabels()]
    assert labels[0].endswith("(1:02–1:47)") and labels[1].endswith("(1:03–1:48)"), labels
    # One vertical line per cue on each panel: x at the cue's minute.
    for ax in (ax_bpm, ax_e):
        xs = sorted({round(float(ln.get_xdata()[0]), 3) for ln in ax.get_lines()
                     if ln.get_color() == "#4d4d4d"})
        assert xs == [1.0, 2.0, 3.0, 4.0]
    assert {"R1", "R2"} <= {t.get_text() for t in ax_e.texts}
    legend = [t.get_text() for t in ax_e.get_legend().get_texts()]
    assert "round start" in legend and "round end" in legend


def test_whole_track_plots_are_unchanged():
    segments, entries, _ = _rounds_plan()
    for e in entries:
        e.pop("span")
    fig = plot_plan(segments, entries, None)
    top = fig.axes[0].child_axes[0]
    assert all("–" not in t.get_text() for t in top.get_xticklabels())
    assert "round start" not in [t.get_text() for t in fig.axes[1].get_legend().get_texts()]


# ---------------------------------------------------------------- the CLI on a real scan

import json  # noqa: E402

import numpy as np  # noqa: E402
import re  # noqa: E402

import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from underdog.cli import app  # noqa: E402
from underdog.export.rekordbox import read_rekordbox  # noqa: E402

from .excerpt_library import demo_db  # noqa: E402,F401  (the session's scan of the demo)

runner = CliRunner()


def _mmss(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60}:{s % 60:02d}"


@pytest.fixture(scope="module")
def planned(demo_db, tmp_path_factory):  # noqa: F811
    """An 8-minute hiit (2 rounds of 1 min work / 1 min rest) of the demo library, planned
    as excerpts through the app layer the CLI calls, written in every format, and its
    --explain table as the CLI prints it."""
    import io

    from underdog.app.outputs import write_playlist, write_plot
    from underdog.app.planning import plan
    from underdog.cli.common import print_plan
    from underdog.cli.output import make_console
    from underdog.planning.sequencer import PlanOptions

    d = tmp_path_factory.mktemp("display")
    outs = {k: d / f"plan.{k}" for k in ("m3u8", "json", "xml", "png")}
    r = plan("hiit", 8.0, db=demo_db, work=1.0, rest=1.0, rounds=2, record=False,
             options=PlanOptions(excerpts=True))
    for k in ("m3u8", "json", "xml"):
        write_playlist(r.plan.entries, outs[k], title="underdog hiit", document=r.as_dict(),
                       arc_spec=r.arc_spec, db=demo_db)
    write_plot(r.plan, outs["png"], "underdog hiit")
    buf = io.StringIO()
    print_plan(make_console(file=buf, width=400), r.plan, explain=True)
    return outs, json.loads(outs["json"].read_text()), buf.getvalue()


def test_explain_shows_spans_drops_and_rounds(planned):
    outs, plan, text = planned
    assert plan["mode"] == "excerpts" and plan["cues"]
    assert re.search(r"┃ excerpt\s*┃ drop", text)
    rows = [ln for ln in text.splitlines() if ln.startswith("│")]
    for e in plan["entries"]:
        span = f"{_mmss(e['in_s'])}–{_mmss(e['out_s'])}"
        drop = _mmss(e["drop_at_s"]) if e.get("drop_at_s") is not None else "–"
        assert any(span in r and re.search(rf"│\s*{re.escape(drop)}\s*│", r) for r in rows), span
    for c in plan["cues"]:
        what = "starts" if c["kind"] == "round_start" else "ends"
        assert any(f"┄ round {c['round']} {what}" in r and _mmss(c["at_s"]) in r for r in rows)
    assert outs["png"].stat().st_size > 10_000


def test_excerpt_report_rows_note_artist_spacing(planned):
    """An excerpt plan's report rows say where an artist comes back within 3 excerpts (the
    whole-track report's spacing note), and carry each excerpt's span."""
    _, plan, _ = planned
    rows, entries = plan["report"]["rows"], plan["entries"]
    assert [r["in_s"] for r in rows] == [round(e["in_s"], 2) for e in entries]
    artist = [e["path"].rsplit("/", 1)[-1].split(" - ")[0] for e in entries]
    close = {k for k in range(len(artist)) for j in range(max(0, k - 3), k)
             if artist[j] == artist[k]}
    assert close, "the demo library is too small for 3-excerpt spacing in this plan"
    assert {k for k, r in enumerate(rows) if r["spacing"]} == close


def test_exports_of_the_plan_carry_its_excerpts(planned):
    outs, plan, _ = planned
    lines = outs["m3u8"].read_text().splitlines()
    starts = [float(x.split("=")[1]) for x in lines if x.startswith("#EXTVLCOPT:start-time")]
    stops = [float(x.split("=")[1]) for x in lines if x.startswith("#EXTVLCOPT:stop-time")]
    # the JSON keeps 4 decimals, the M3U8 milliseconds
    assert starts == pytest.approx([e["in_s"] for e in plan["entries"]], abs=6e-4)
    assert stops == pytest.approx([e["out_s"] for e in plan["entries"]], abs=6e-4)
    doc = read_rekordbox(outs["xml"])
    by_id = {t.track_id: t for t in doc.tracks}
    assert [by_id[k].path for k in doc.playlists[0].track_ids] == [e["path"] for e in
                                                                   plan["entries"]]
    assert all(t.tempos for t in doc.tracks)  # grids from the library's beats


def test_score_of_an_excerpt_playlist_shows_them(planned, demo_db):  # noqa: F811
    outs, plan, _ = planned
    for src in (outs["m3u8"], outs["json"]):
        r = runner.invoke(app, ["score", str(src), "--db", demo_db, "--format", "json"])
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        got = [x for row in doc["rows"] for x in (row["in_s"], row["out_s"])]
        assert got == pytest.approx([x for e in plan["entries"] for x in (e["in_s"], e["out_s"])],
                                    abs=6e-4)
        assert doc["cues"] == plan["cues"]
    r = runner.invoke(app, ["score", str(outs["m3u8"]), "--db", demo_db], terminal_width=300)
    assert r.exit_code == 0, r.output
    assert "excerpt" in r.stdout and "rounds: 1 " in r.stdout


def test_plan_render_hands_the_plan_json_to_the_renderer(demo_db, tmp_path):  # noqa: F811
    """plan --render mix.flac renders the plan it prints and writes (its chapters are the
    plan's entries, its length the plan's) with render's options (--lufs)."""
    import soundfile as sf

    from underdog.render.levels import integrated_lufs

    mix, js = tmp_path / "mix.flac", tmp_path / "plan.json"
    r = runner.invoke(app, ["plan", "--db", demo_db, "--arc", "hiit", "--work", "0.5",
                            "--rest", "0.5", "--rounds", "1", "--minutes", "2", "--no-record",
                            "-o", str(js), "--render", str(mix), "--cues", "beep",
                            "--lufs", "-18"])
    assert r.exit_code == 0, r.output
    plan = json.loads(js.read_text())
    titles = re.findall(r'^    TITLE "(.*)"$', (tmp_path / "mix.cue").read_text(), re.M)
    assert titles == [e["title"] for e in plan["entries"]]
    x, sr = sf.read(mix)
    assert abs(len(x) / sr - plan["minutes"] * 60) < 15
    assert abs(integrated_lufs(np.ascontiguousarray(x.T), sr) + 18.0) < 1.0
    bad = runner.invoke(app, ["plan", "--db", demo_db, "--render", str(tmp_path / "x.doc")])
    assert bad.exit_code == 2 and "unknown mix format" in bad.output
