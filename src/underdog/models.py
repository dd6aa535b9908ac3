"""Plain records passed between the library, the planner and the exporters."""

from __future__ import annotations

from dataclasses import dataclass, field

import math

import numpy as np

# Energy has one scale for users: the level 1–10 (as DJs know it from Mixed In Key), shown
# with one decimal. The analysis stores the raw energy 0..1; these two map between them.
LEVEL_MIN, LEVEL_MAX = 1.0, 10.0


def energy_to_level(energy: float | None) -> float | None:
    """Energy level 1–10 (float) of a raw energy 0..1 (clipped); None or NaN gives None."""
    if energy is None or not math.isfinite(energy):
        return None
    return LEVEL_MIN + (LEVEL_MAX - LEVEL_MIN) * min(max(float(energy), 0.0), 1.0)


def level_to_energy(level: float) -> float:
    """Raw energy of an energy level: the inverse of energy_to_level (not clipped, so a
    level below 1 or above 10 maps below 0 or above 1)."""
    return (float(level) - LEVEL_MIN) / (LEVEL_MAX - LEVEL_MIN)


def shown_level(energy: float | None) -> float | None:
    """The level users see: energy_to_level rounded to one decimal."""
    lv = energy_to_level(energy)
    return None if lv is None else round(lv, 1)


@dataclass
class Track:
    """One library row: tags plus the analysis the planner needs (no beats)."""

    id: int | None
    path: str
    artist: str | None = None
    title: str | None = None
    album: str | None = None
    albumartist: str | None = None
    genre: str | None = None
    year: int | None = None
    track_no: int | None = None
    duration_s: float | None = None
    bpm: float | None = None
    bpm_confidence: float | None = None
    loudness_lufs: float | None = None
    energy: float | None = None
    energy_level: int | None = None
    key: str | None = None
    camelot: str | None = None
    key_confidence: float | None = None
    style: dict[str, float] = field(default_factory=dict)
    style_label: str | None = None
    style_source: str | None = None
    tempo_segments: list[tuple[float, float, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    drops: list[dict] = field(default_factory=list)
    intro_end_s: float | None = None
    outro_start_s: float | None = None
    energy_curve: np.ndarray | None = None
    energy_curve_hop_s: float | None = None
    status: str = "ok"  # ok | failed | missing

    @property
    def display(self) -> str:
        """"Artist - Title", falling back to the file name."""
        if self.artist and self.title:
            return f"{self.artist} - {self.title}"
        import os

        return self.title or os.path.splitext(os.path.basename(self.path))[0]
