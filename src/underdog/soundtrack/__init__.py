"""Complete a film soundtrack: read a tracklist, match it against the library, report."""

from .match import (AMBIGUOUS, FOUND, MISSING, Candidate, LibraryIndex, LibraryItem,
                    MatchParams, MatchResult, match_tracklist)
from .normalize import Normalized, normalize
from .report import (film_order, m3u8_lines, match_file, playlist_entries, summarize,
                     write_m3u8)
from .tracklist import TracklistEntry, TracklistError, read_tracklist

__all__ = ["AMBIGUOUS", "FOUND", "MISSING", "Candidate", "LibraryIndex", "LibraryItem",
           "MatchParams", "MatchResult", "match_tracklist", "Normalized", "normalize",
           "film_order", "m3u8_lines", "match_file", "playlist_entries", "summarize", "write_m3u8",
           "TracklistEntry", "TracklistError", "read_tracklist"]
