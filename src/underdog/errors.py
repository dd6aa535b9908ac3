"""Exception families. Each carries one clear line for the user."""

from __future__ import annotations


class UnderdogError(Exception):
    """Base class for every error underdog reports to the user."""


class DecodeError(UnderdogError):
    """A file could not be decoded as audio."""

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: cannot decode: {reason}")


class AnalysisError(UnderdogError):
    """Decoded audio could not be analyzed (e.g. too short, silent)."""

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: cannot analyze: {reason}")


class PlaylistError(UnderdogError):
    """A playlist file could not be read (bad syntax, unknown format) or written."""

    def __init__(self, path: str, reason: str, line: int | None = None):
        self.path = str(path)
        self.reason = reason
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


class OutputError(UnderdogError):
    """A file could not be written or rewritten (disk full, permission denied, ...).

    Raised only after the temporary copy is removed: the original, if any, is untouched."""

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: cannot write: {reason}")
