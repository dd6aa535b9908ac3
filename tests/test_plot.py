"""The arc plot renders a readable PNG of the right size from a realistic plan."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from underdog.export.plot import DPI, FIGSIZE, effective_bpm, plot_plan


def montage_plan(seed: int = 0) -> tuple[list[dict], list[dict]]:
    """A made-up 45-minute montage: atmospheric start, two peaks near 140 with a valley
    between, a cool-down; 12 tracks near the targets, one in half time and one in double."""
    segs = [
        ("intro", 0, 6, 88, 105, 0.30, False),
        ("build", 6, 14, 112, 128, 0.55, False),
        ("peak 1", 14, 20, 135, 145, 0.90, True),
        ("valley", 20, 26, 118, 128, 0.50, False),
        ("build 2", 26, 31, 128, 138, 0.70, False),
        ("peak 2", 31, 38, 138, 148, 1.00, True),
        ("cool-down", 38, 45, 92, 110, 0.35, False),
    ]
    segments = [dict(label=l, start_min=a, end_min=b, bpm_lo=lo, bpm_hi=hi,
                     energy=1.0 + 9.0 * en, peak=p)  # energy levels 1–10
                for l, a, b, lo, hi, en, p in segs]
    rng = np.random.default_rng(seed)
    names = ["Awakening", "Through Space", "Caves", "Digital Pursuit", "War of Freedom",
             "Beast of Insanity", "Feelings", "Stairs", "Armygeddon", "Chaos God", "Hell",
             "Ninesix"]
    durations = np.array([3.6, 4.1, 3.4, 3.9, 3.2, 4.4, 3.8, 3.5, 3.7, 4.0, 3.6, 3.8])
    durations *= 45.0 / durations.sum()
    starts = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    entries = []
    for i, (name, a, d) in enumerate(zip(names, starts, durations)):
        mid = a + d / 2
        seg = next(s for s in segments if s["start_min"] <= mid < s["end_min"])
        target = (seg["bpm_lo"] + seg["bpm_hi"]) / 2 + rng.normal(0, 3)
        half_double = "half" if i == 5 else "double" if i == 10 else None
        bpm = target * 2 if half_double == "half" else target / 2 if half_double else target
        drops = [a + d * f for f in (0.3, 0.7)] if seg["peak"] or i == 4 else []
        entries.append(dict(label=f"Artist {i % 5} - {name}", start_min=float(a),
                            end_min=float(a + d), bpm=round(float(bpm), 1),
                            energy=float(np.clip(seg["energy"] + rng.normal(0, 0.6), 1, 10)),
                            drops_min=drops, half_double=half_double))
    return segments, entries


def test_effective_bpm():
    assert effective_bpm(140, None) == 140
    assert effective_bpm(280, "half") == 140
    assert effective_bpm(70, "double") == 140
    with pytest.raises(ValueError, match="half_double"):
        effective_bpm(140, "triple")


def test_plot_png_size_and_content(tmp_path):
    segments, entries = montage_plan()
    out = tmp_path / "montage.png"
    fig = plot_plan(segments, entries, out, title="montage · 45 min · 12 tracks")
    img = imread(out)
    assert img.shape[:2] == (round(FIGSIZE[1] * DPI), round(FIGSIZE[0] * DPI))
    gray = img[..., :3].mean(axis=2)
    assert gray.std() > 0.05  # not blank
    assert (gray < 0.5).mean() > 0.01  # real ink: lines, text

    ax_bpm, ax_e = fig.axes[0], fig.axes[1]
    assert ax_bpm.get_shared_x_axes().joined(ax_bpm, ax_e)
    assert ax_e.get_xlim() == (0.0, 45.0)
    # Every track is a step at its effective tempo (the half/double ones too).
    steps = {(round(l.get_xdata()[0], 6), round(l.get_ydata()[0], 6))
             for l in ax_bpm.get_lines() if len(l.get_xdata()) == 2
             and l.get_ydata()[0] == l.get_ydata()[1]}
    for e in entries:
        y = effective_bpm(e["bpm"], e["half_double"])
        assert (round(e["start_min"], 6), round(y, 6)) in steps
        lo, hi = ax_bpm.get_ylim()
        assert lo < y < hi
    # One ▼ per drop on each panel.
    n_drops = sum(len(e["drops_min"]) for e in entries)
    for ax in (ax_bpm, ax_e):
        markers = sum(len(l.get_xdata()) for l in ax.get_lines() if l.get_marker() == "v")
        assert markers == n_drops
    # The badges for half and double time are drawn.
    texts = [t.get_text() for t in ax_bpm.texts]
    assert "½×" in texts and "2×" in texts
    assert "peak 1" in texts and "cool-down" in texts


def test_labels_do_not_overlap_and_legends_stay_outside(tmp_path):
    segments, entries = montage_plan(seed=3)
    fig = plot_plan(segments, entries, tmp_path / "p.png")
    renderer = fig.canvas.get_renderer()
    ax_bpm = fig.axes[0]
    top = [c for c in ax_bpm.child_axes]  # the secondary axis with the track labels
    assert top, "track labels axis missing"
    labels = [t for t in top[0].get_xticklabels() if t.get_text()]
    assert len(labels) == len(entries)
    boxes = [t.get_window_extent(renderer) for t in labels]
    # Rotated labels: neighbours must not overlap along the baseline direction.
    for b0, b1 in zip(boxes, boxes[1:]):
        assert b1.x0 > b0.x0 + 10
    # Each legend sits right of its axes, covering no data.
    for ax in fig.axes[:2]:
        leg = ax.get_legend()
        assert leg is not None
        assert leg.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1
    # Nothing is cut off at the figure's edges.
    fig_box = fig.bbox
    for t in labels + [fig.axes[0].get_legend()]:
        bb = t.get_window_extent(renderer)
        assert bb.x1 <= fig_box.x1 + 1 and bb.y1 <= fig_box.y1 + 1


def test_dense_plans_thin_their_labels(tmp_path):
    """A two-hour plan of 60 short tracks keeps its labels apart by showing every k-th."""
    segments = [dict(label="steady", start_min=0, end_min=120, bpm_lo=150, bpm_hi=170,
                     energy=7.0, peak=False)]
    entries = [dict(label=f"track {i}", start_min=2.0 * i, end_min=2.0 * i + 2, bpm=160,
                    energy=7.0) for i in range(60)]
    fig = plot_plan(segments, entries, None)
    fig.canvas.draw()
    top = fig.axes[0].child_axes[0]
    shown = [t for t in top.get_xticklabels() if t.get_text()]
    assert 5 < len(shown) < 60
    renderer = fig.canvas.get_renderer()
    xs = [t.get_window_extent(renderer).x0 for t in shown]
    assert min(np.diff(xs)) > 10


def test_bad_rows_are_named():
    segments, entries = montage_plan()
    del entries[3]["bpm"]
    with pytest.raises(ValueError, match="entry 3 lacks bpm"):
        plot_plan(segments, entries, None)
    segments, entries = montage_plan()
    segments[1]["end_min"] = segments[1]["start_min"]
    with pytest.raises(ValueError, match="segment 1 ends before it starts"):
        plot_plan(segments, entries, None)
