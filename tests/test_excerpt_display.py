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
