"""An excerpt plan's own report grades what plays (issue 14): each excerpt at its
``tempo_bpm`` (stretched to its slot), as ``underdog score`` grades the plan's JSON, with
the excerpts' own tempi beside it. Real scan of the demo library, the CLI, real JSON."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from underdog.cli import app

from .excerpt_library import demo_db  # noqa: F401  (the shared scan)


@pytest.fixture(scope="module")
def planned(demo_db, tmp_path_factory):  # noqa: F811
    """A 12-minute montage of excerpts: (the plan's JSON, its printed report, the score
    report of that JSON)."""
    out = tmp_path_factory.mktemp("excerpt-report") / "montage.json"
    r = CliRunner().invoke(app, ["plan", "--db", demo_db, "--arc", "montage", "--minutes",
                                 "12", "--no-record", "-o", str(out)])
    assert r.exit_code == 0, r.output
    plan = json.loads(out.read_text())
    assert plan["mode"] == "excerpts"
    s = CliRunner().invoke(app, ["score", str(out), "--db", demo_db, "--format", "json"])
    assert s.exit_code == 0, s.output
    return plan, r.output, json.loads(s.output)


def test_the_plan_report_grades_the_played_tempo(planned):
    plan, _, _ = planned
    entries, report = plan["entries"], plan["report"]
    played = [e["tempo_bpm"] for e in entries]
    assert [e["actual"]["played_bpm"] for e in entries] == pytest.approx(played, abs=0.006)
    target = [e["target"]["bpm"] for e in entries]
    # The demo library's tracks are stretched by several % here (own 115-141 BPM for
    # targets 119-143): the old report graded the own tempi, ~4 BPM off the target.
    assert report["bpm_mae"] == pytest.approx(
        sum(abs(p - t) for p, t in zip(played, target)) / len(entries), abs=0.01)
    assert report["bpm_mae"] < report["bpm_mae_own"]
    for e in entries:
        sc = e["scores"]
        assert sc["tempo_dev_pct"] == pytest.approx(
            abs(e["tempo_bpm"] / e["target"]["bpm"] - 1.0) * 100.0, abs=0.02)
        # before stretching: the stretch and the own tempo's miss stay in the JSON
        assert abs(sc["stretch_pct"]) <= 8.0 + 1e-6 and sc["own_tempo_dev_pct"] is not None
    for a, b in zip(entries, entries[1:]):  # a transition: the played tempi's change
        want = (max(a["tempo_bpm"], b["tempo_bpm"]) / min(a["tempo_bpm"], b["tempo_bpm"])
                - 1.0) * 100.0
        assert b["scores"]["transition_pct"] == pytest.approx(want, abs=0.02)


def test_plan_and_score_give_the_same_tempo_figures(planned):
    """Where the plan and ``score`` of its JSON grade the same thing they agree: the
    tempo each excerpt plays at, the transitions, the keys, the own tempo. (``score``
    places each excerpt at its start_s: tests/test_score_placement.py.)"""
    plan, _, scored = planned
    rows, srows = plan["report"]["rows"], scored["rows"]
    assert len(rows) == len(srows) == len(plan["entries"])
    assert [set(r) for r in rows] == [set(r) for r in srows]
    for k in ("bpm", "transition_pct", "own_bpm", "camelot_step"):
        assert [r[k] for r in rows] == [r[k] for r in srows], k
    for k in ("in_s", "out_s"):  # (the plan's rows round to 2 decimals, score's to 3)
        assert [r[k] for r in rows] == pytest.approx([r[k] for r in srows], abs=0.0051), k
    assert plan["report"]["within_6pct"] == scored["within_6pct"]
    assert plan["report"]["camelot_ok"] == scored["camelot_ok"]


def test_the_printed_report_says_played_and_own(planned):
    plan, text, _ = planned
    r = plan["report"]
    assert (f"mean |BPM − target| {r['bpm_mae']:.1f} played ({r['bpm_mae_own']:.1f} own)"
            in " ".join(text.split()))
    # the BPM column: the track's own tempo → the tempo it plays at, where they differ; an
    # excerpt the arc's ramp runs through says the ramp's two ends ("120→118↗124")
    stretched = [e for e in plan["entries"]
                 if f"{e['actual']['bpm']:.0f}" != f"{e['tempo_bpm']:.0f}"]
    assert stretched
    for e in stretched:
        own = f"{e['actual']['bpm']:.0f}"
        a, b = (f"{e.get(k, 0):.0f}" for k in ("tempo_in_bpm", "tempo_out_bpm"))
        if "tempo_in_bpm" in e and a != b:
            arrow = "↗" if e["tempo_out_bpm"] > e["tempo_in_bpm"] else "↘"
            assert f"{own}→{a}{arrow}{b}" in text
        else:
            assert f"{own}→{e['tempo_bpm']:.0f}" in text
    assert any("tempo_in_bpm" in e for e in stretched)  # the montage's open ramps
