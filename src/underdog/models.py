"""Plain records passed between the library, the planner and the exporters."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np  # noqa: F401  (np.ndarray in the declared field types)

from . import fields
from .fields import TRACK, record

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


@record(TRACK)
class Track:
    """One library row: tags plus the analysis the planner needs (no beats).

    Its fields are declared in ``underdog.fields.FIELDS`` (those on TRACK), in that order:
    ``Track(id, path, artist, title, ...)``.
    """

    @classmethod
    def from_analysis(cls, analysis: Any, tags: Mapping[str, Any] | None = None,
                      id: int | None = None) -> "Track":
        """A Track from an analysis and the file's tags (nothing stored): every field the
        two records share, and the tag fields (``library.tags.read_tags`` keys)."""
        tags = tags or {}
        vals = {f.name: getattr(analysis, f.name) for f in fields.on(TRACK)
                if fields.ANALYSIS in f.on}
        vals.update({f.name: tags.get(f.name) for f in fields.on(TRACK) if f.analyser == "tags"})
        return cls(id=id, **vals)

    @property
    def display(self) -> str:
        """"Artist - Title", falling back to the file name."""
        if self.artist and self.title:
            return f"{self.artist} - {self.title}"
        import os

        return self.title or os.path.splitext(os.path.basename(self.path))[0]
