"""Planning: session arcs, the sequencer that fits tracks to them, and the score report."""

from .arcs import Arc, ArcError, Segment, Timeline, load_arc, load_toml, parse_toml
from .score import ScoreReport, Weights, score_tracks
from .sequencer import Plan, PlanEntry, PlanError, PlanOptions, plan

__all__ = ["Arc", "ArcError", "Segment", "Timeline", "load_arc", "load_toml", "parse_toml",
           "ScoreReport", "Weights", "score_tracks", "Plan", "PlanEntry", "PlanError",
           "PlanOptions", "plan"]
