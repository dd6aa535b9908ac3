"""`underdog score --plot` draws the arc plot of what a playlist plays, where score placed
it (issue 14): an excerpt plan's JSON (each excerpt at its start_s, its tempo_bpm, its span
and drop, the round boundaries) and an M3U8 of whole tracks (back to back, each at its own
tempo, half/double as score counts it, its drops). Real scan of the demo library, the
CLI, real playlists; the rows handed to plot_plan are compared with the plan's JSON."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import underdog.export.plot as plot_mod
from underdog.app.planning import score
from underdog.cli import app
from underdog.export.plot import effective_bpm

from .excerpt_library import demo_db  # noqa: F401  (the shared scan)

PNG = b"\x89PNG\r\n\x1a\n"


def _run(*args) -> str:
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.fixture()
def drawn(monkeypatch):
    """What plot_plan is handed (segments, entries, cues) and the figure it returns."""
    calls = []
    real = plot_mod.plot_plan

    def spy(segments, entries, out_png, title=None, cues=()):
        fig = real(segments, entries, out_png, title=title, cues=cues)
        calls.append({"segments": list(segments), "entries": list(entries),
                      "cues": list(cues), "fig": fig, "title": title})
        return fig

    monkeypatch.setattr(plot_mod, "plot_plan", spy)
    return calls


@pytest.fixture(scope="module")
def plans(demo_db, tmp_path_factory):  # noqa: F811
    """A hiit excerpt plan (3 rounds of 3/1) as JSON; a 30-min whole-track montage as
    M3U8 and JSON (the JSON is the reference for the M3U8's places)."""
    d = tmp_path_factory.mktemp("score-plot")
    _run("plan", "--db", demo_db, "--arc", "hiit", "--work", 3, "--rest", 1, "--rounds", 3,
         "--no-record", "-o", d / "hiit.json")
    _run("plan", "--db", demo_db, "--arc", "montage", "--minutes", 30, "--whole-tracks",
         "--no-record", "-o", d / "whole.m3u8", "-o", d / "whole.json")
    hiit = json.loads((d / "hiit.json").read_text())
    whole = json.loads((d / "whole.json").read_text())
    assert hiit["mode"] == "excerpts" and whole["mode"] != "excerpts"
    return {"dir": d, "hiit": hiit, "whole": whole}


def test_score_plot_cli_writes_the_png(plans, demo_db):  # noqa: F811
    d = plans["dir"]
    for name in ("hiit.json", "whole.m3u8"):
        png = d / f"{name}.png"
        out = _run("score", d / name, "--db", demo_db, "--plot", png)
        assert f"wrote {png}" in out
        assert png.read_bytes()[:8] == PNG and png.stat().st_size > 20_000


def test_excerpts_are_drawn_where_score_places_them(plans, demo_db, drawn, tmp_path):  # noqa: F811
    plan = plans["hiit"]
    res = score(plans["dir"] / "hiit.json", db=demo_db, plot=tmp_path / "hiit.png")
    assert (tmp_path / "hiit.png").read_bytes()[:8] == PNG
    (call,) = drawn
    ents, rows, entries = call["entries"], res.report.rows, plan["entries"]
    assert len(ents) == len(rows) == len(entries)
    for k, (g, r, e) in enumerate(zip(ents, rows, entries)):
        # each excerpt from its start_s to the next one's (score grades it so)
        assert g["start_min"] * 60 == pytest.approx(r["start_s"], abs=1e-6)
        assert g["start_min"] * 60 == pytest.approx(e["start_s"], abs=0.051)
        if k + 1 < len(rows):
            assert g["end_min"] * 60 == pytest.approx(rows[k + 1]["start_s"], abs=1e-6)
        assert g["bpm"] == pytest.approx(e["tempo_bpm"], abs=1e-6)  # the tempo it plays
        assert g["half_double"] is None
        assert g["energy"] == pytest.approx(r["energy"])
        assert g["span"] == pytest.approx((e["in_s"], e["out_s"]), abs=0.001)
        if e["drop_at_s"] is None:
            assert g["drops_min"] == []
        else:
            assert [m * 60 for m in g["drops_min"]] == pytest.approx([r["drop_at_s"]])
            assert g["drops_min"][0] * 60 == pytest.approx(e["drop_at_s"], abs=0.15)
    assert ents[-1]["end_min"] == pytest.approx(plan["report"]["minutes"], abs=0.01)
    # the round boundaries: the plan's cues, drawn as vertical lines on both axes
    assert call["cues"] == plan["cues"] and len(plan["cues"]) == 6
    fig = call["fig"]
    cue_x = sorted({round(ln.get_xdata()[0], 4) for ln in fig.axes[1].lines
                    if ln.get_color() == plot_mod.CUE})
    assert cue_x == [round(c["at_s"] / 60, 4) for c in plan["cues"]]
    # the arc's segments: the same as the plan's plot draws for this session
    assert [s["label"] for s in call["segments"] if s["label"]] == \
        [s["name"] for s in plan["segments"]]


def test_whole_tracks_are_drawn_back_to_back(plans, demo_db, drawn, tmp_path):  # noqa: F811
    plan = plans["whole"]
    res = score(plans["dir"] / "whole.m3u8", db=demo_db, plot=tmp_path / "whole.png")
    (call,) = drawn
    ents, rows, entries = call["entries"], res.report.rows, plan["entries"]
    assert len(ents) == len(rows) == len(entries)
    for g, r, e in zip(ents, rows, entries):
        assert g["start_min"] * 60 == pytest.approx(e["start_s"], abs=0.051)
        assert g["end_min"] * 60 == pytest.approx(e["end_s"], abs=0.7)
        assert g["span"] is None
        assert g["bpm"] == pytest.approx(e["actual"]["bpm"], abs=0.006)  # its own tempo
        # half/double as score counted it: the drawn (effective) tempo is score's
        assert effective_bpm(g["bpm"], g["half_double"]) == pytest.approx(r["bpm"], abs=0.06)
        assert g["half_double"] == e["actual"]["half_double"]
        assert g["energy"] == pytest.approx(r["energy"])
        want = [e["start_s"] + d["time_s"] for d in e["actual"]["drops"]]
        assert [m * 60 for m in g["drops_min"]] == pytest.approx(want, abs=0.06)
    assert any(g["half_double"] for g in ents)  # the demo's Ninesix counts at double time
    assert call["cues"] == []  # montage has no rounds
