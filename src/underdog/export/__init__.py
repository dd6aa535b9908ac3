"""Outputs: playlists (M3U8, XSPF, JSON), the arc plot and opt-in BPM/key tags.

The plot (matplotlib) and tag writer (mutagen) load on first use, so importing the
playlist writers stays cheap.
"""

from __future__ import annotations

from typing import Any

from ..errors import PlaylistError
from .playlists import (
    PlaylistComment,
    file_uri,
    jsonable,
    m3u8_lines,
    read_playlist,
    write_json,
    write_m3u8,
    write_xspf,
)

__all__ = [
    "PlaylistComment",
    "PlaylistError",
    "file_uri",
    "jsonable",
    "m3u8_lines",
    "plot_plan",
    "read_playlist",
    "write_bpm_key_tags",
    "write_json",
    "write_m3u8",
    "write_xspf",
]


def __getattr__(name: str) -> Any:
    if name == "plot_plan":
        from .plot import plot_plan

        return plot_plan
    if name == "write_bpm_key_tags":
        from .tags import write_bpm_key_tags

        return write_bpm_key_tags
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
