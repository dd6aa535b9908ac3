"""The one exception family. Each error carries one clear line for the user
(:attr:`UnderdogError.message`) and the exit status the CLI gives it
(:attr:`UnderdogError.exit_code`); ``cli.run`` (and the web layer) map them in one place.

Exit statuses: 2 bad input or usage (the default), 1 some inputs failed or a thing asked
for is not there (:class:`NotFoundError`).
"""

from __future__ import annotations


class UnderdogError(Exception):
    """Base class for every error underdog reports to the user.

    Parameters
    ----------
    message : str
        One line for the user.
    exit_code : int, optional
        The CLI's exit status for this error (default: the class's, 2).
    """

    exit_code: int = 2

    def __init__(self, message: object = "", *, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        """The one line the user sees."""
        return str(self)


class UsageError(UnderdogError):
    """A request that cannot be served as asked (a bad range, an unknown arc or output
    type); exit status 2."""


class NotFoundError(UnderdogError):
    """A thing asked for is not there (a track id, a file, a library database); exit
    status 1."""

    exit_code = 1


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
