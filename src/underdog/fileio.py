"""Safe file output: every file underdog writes or rewrites goes through here.

A write never touches the target until the new content is complete and on disk: it goes to
a temporary file beside the target (``.underdog-XXXXXXXX.tmp``, same folder, so the rename
stays on one file system), is flushed and fsynced, takes the target's mode (and owner, where
the OS allows), and is renamed over the target; then the folder is fsynced so the rename
itself survives a power cut. On any failure (an exception, a full disk, Ctrl-C) the
temporary file is removed and the target keeps its old content. Only a kill -9 or a power
cut can leave a ``.underdog-*.tmp`` file behind, never a damaged target; the writer holds
an advisory lock (``flock``) on its temporary file until it is renamed or removed, so
:func:`remove_stale_temps` (run by ``underdog tag`` and ``underdog scan``) can tell such a
leftover from a file another process is still writing.

- :func:`atomic_write`: a context manager giving a file object for new content.
- :func:`write_atomic`: the same for bytes or text in one call.
- :func:`rewrite_atomic`: edit an existing file (e.g. its tags) through a copy of it.
- :func:`is_temp_name` / :func:`remove_stale_temps`: our leftover temporary files.
- :func:`path_json` / :func:`path_from_json`: a file name as JSON, lossless when the name's
  bytes are not UTF-8; :func:`display_text`: any string as valid Unicode for showing.

A symbolic link as target is followed: the file it points to is replaced, the link stays.
A target that is no regular file (``/dev/stdout``, a FIFO) is written in place, as a stream.
A target with other hard links is replaced under this name only (the other names keep the
old content), as with any editor that saves by rename.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from .errors import OutputError

TEMP_PREFIX = ".underdog-"
TEMP_SUFFIX = ".tmp"
# Exactly what mkstemp makes of them: eight characters of its alphabet in between.
_TEMP_NAME = re.compile(re.escape(TEMP_PREFIX) + r"[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX)
                        + r"\Z")

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; a leftover is told by its age alone
    fcntl = None  # type: ignore[assignment]


def _new_file_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


_NEW_FILE_MODE = _new_file_mode()  # what a plain open(path, "w") would give (read once)

_REASONS = {errno.ENOSPC: "disk full (no space left on device)",
            errno.EDQUOT: "disk quota exceeded",
            errno.EACCES: "permission denied",
            errno.EPERM: "operation not permitted",
            errno.EROFS: "read-only file system",
            errno.ENOENT: "no such folder",
            errno.EFBIG: "file too large"}


def os_reason(exc: OSError) -> str:
    """A short lower-case reason for an OS error, for a one-line message."""
    return _REASONS.get(exc.errno or -1) or (exc.strerror or str(exc)).lower()


def _target(path: str | os.PathLike) -> str:
    """The absolute file to replace: a symbolic link is followed, so the link survives."""
    p = os.path.abspath(os.fspath(path))
    return os.path.realpath(p) if os.path.islink(p) else p


def _is_stream(path: str | os.PathLike) -> bool:
    """An existing target that is no regular file (a terminal, a pipe, a device)."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _temp_beside(target: str) -> tuple[int, str]:
    """A new temporary file beside ``target``, locked (``flock``) while its fd is open."""
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX,
                               dir=os.path.dirname(target))
    _lock(fd)
    return fd, tmp


def _lock(fd: int, wait: bool = True) -> bool:
    """An exclusive advisory lock on ``fd``; False when another process holds one."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:  # a file system without locks: held by nobody we can tell
        return True
    return True


def is_temp_name(name: str) -> bool:
    """True for the exact names of our temporary files (``.underdog-XXXXXXXX.tmp``)."""
    return _TEMP_NAME.match(os.path.basename(name)) is not None


def remove_stale_temps(paths: Iterable[str | os.PathLike], before: float,
                       dry_run: bool = False) -> tuple[list[str], list[str]]:
    """Remove those of ``paths`` that are temporary files a killed writer left behind.

    Only a regular file (no link) with our exact name (:func:`is_temp_name`), last changed
    before ``before`` (a time.time(); the caller's start) and locked by no live process is
    removed. Returns (removed, kept): ``kept`` lists our temporary files left in place (in
    use, newer, or not removable); other names are ignored. ``dry_run`` removes nothing and
    returns what would be removed."""
    removed: list[str] = []
    kept: list[str] = []
    for p in paths:
        p = os.fspath(p)
        if not is_temp_name(p):
            continue
        if _remove_if_stale(p, before, dry_run):
            removed.append(p)
        else:
            kept.append(p)
    return removed, kept


def _remove_if_stale(path: str, before: float, dry_run: bool) -> bool:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return False  # gone, a link, unreadable
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_mtime >= before:
            return False
        if not _lock(fd, wait=False):
            return False  # a live writer holds it
        named = os.lstat(path)
        if (named.st_dev, named.st_ino) != (st.st_dev, st.st_ino):
            return False  # replaced since it was opened
        if not dry_run:
            os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # releases the lock


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _take_mode_and_owner(tmp: str, st: os.stat_result | None) -> None:
    """Give ``tmp`` the replaced file's mode and owner (a new file: the umask's mode);
    mkstemp makes 0600 files. An owner we may not set (not root) is left as ours."""
    os.chmod(tmp, (st.st_mode & 0o7777) if st is not None else _NEW_FILE_MODE)
    if st is not None:
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except OSError:
            pass


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # some systems (and Windows) cannot open a folder: the rename is still done
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _stat_or_none(target: str) -> os.stat_result | None:
    try:
        return os.stat(target)
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None,
                 errors: str | None = None, newline: str | None = None) -> Iterator[IO[Any]]:
    """Write ``path`` all at once: yields a file object on a temporary file beside it,
    which replaces ``path`` when the ``with`` block ends without an exception.

    ``mode`` is ``"wb"`` or ``"w"`` (text: ``encoding`` defaults to UTF-8). An existing
    target keeps its mode and owner. An OS error (full disk, permission denied, missing
    folder) becomes :class:`~underdog.errors.OutputError`; any failure, Ctrl-C included,
    removes the temporary file and leaves the target as it was."""
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', not {mode!r}")
    if _is_stream(path):  # /dev/stdout, a FIFO: written in place, never renamed over
        try:
            with open(path, mode, encoding=encoding or "utf-8" if mode == "w" else None,
                      errors=errors, newline=newline) as f:
                yield f
        except OSError as e:
            raise OutputError(os.fspath(path), os_reason(e)) from None
        return
    target = _target(path)
    try:
        fd, tmp = _temp_beside(target)
    except OSError as e:
        raise OutputError(os.fspath(path), os_reason(e)) from None
    try:
        held = os.dup(fd)  # keeps the lock after ``f`` is closed, until the rename
    except OSError as e:
        os.close(fd)
        _unlink_quietly(tmp)
        raise OutputError(os.fspath(path), os_reason(e)) from None
    f = None
    with _renamed_over(path, target, tmp, held):
        try:
            if mode == "w":
                f = os.fdopen(fd, "w", encoding=encoding or "utf-8", errors=errors,
                              newline=newline)
            else:
                f = os.fdopen(fd, "wb")
            yield f
            f.flush()
            os.fsync(f.fileno())
            f.close()
            _take_mode_and_owner(tmp, _stat_or_none(target))
            os.replace(tmp, target)
        except BaseException:
            if f is None:
                os.close(fd)
            elif not f.closed:
                try:
                    f.close()  # may fail again (the flush on a full disk): it goes anyway
                except OSError:
                    pass
            raise


@contextlib.contextmanager
def _renamed_over(path, target: str, tmp: str, lock_fd: int) -> Iterator[None]:
    """Around writing ``tmp``, which the block renames over ``target``: any failure removes
    ``tmp`` (an OS error is raised as OutputError for ``path``); ``lock_fd`` (``tmp``'s
    lock) is closed either way; after the rename, the folder is synced."""
    try:
        yield
    except BaseException as exc:
        _unlink_quietly(tmp)
        if isinstance(exc, OSError):
            raise OutputError(os.fspath(path), os_reason(exc)) from None
        raise
    finally:
        os.close(lock_fd)
    _fsync_folder(os.path.dirname(target))


def write_atomic(path: str | os.PathLike, data: bytes | str, encoding: str = "utf-8",
                 errors: str = "strict") -> None:
    """Write ``data`` (bytes, or text encoded with ``encoding``/``errors``, ``\\n`` kept
    as is) to ``path`` through :func:`atomic_write`."""
    if isinstance(data, str):
        data = data.encode(encoding, errors)
    with atomic_write(path, "wb") as f:
        f.write(data)


def rewrite_atomic(path: str | os.PathLike, edit: Callable[[str], Any],
                   verify: Callable[[str, str], Any] | None = None) -> Any:
    """Change an existing file through a copy: copy ``path`` to a temporary file beside it,
    call ``edit(copy_path)`` (which changes the copy in place, e.g. mutagen saving tags),
    fsync, call ``verify(original_path, copy_path)`` (raise to refuse the result), then
    rename the copy over the original, keeping its mode and owner. The modification time
    is the time of the rewrite (the content did change).

    Returns what ``edit`` returned. Until the rename the original is never opened for
    writing, so a kill, a full disk or an error in ``edit`` or ``verify`` leaves it
    byte-identical (an OS error is raised as :class:`~underdog.errors.OutputError`, after
    the copy is removed); other exceptions from ``edit``/``verify`` pass through."""
    target = _target(path)
    try:
        st = os.stat(target)
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(os.fspath(path), "not a regular file")
        fd, tmp = _temp_beside(target)
    except OSError as e:
        raise OutputError(os.fspath(path), os_reason(e)) from None
    with _renamed_over(path, target, tmp, fd):  # ``fd`` holds the copy's lock till then
        shutil.copyfile(target, tmp)
        result = edit(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if verify is not None:
            verify(target, tmp)
        _take_mode_and_owner(tmp, st)
        os.replace(tmp, target)
    return result


# ---------------------------------------------------------------- names as text


def display_text(text: str) -> str:
    """``text`` as valid Unicode: the undecodable bytes of a file name (``os.fsdecode``'s
    surrogate escapes) become U+FFFD. For showing and for text fields only; the exact
    name is what :func:`path_json` keeps."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return text.encode("utf-8", "replace").decode("utf-8")


PATH_BYTES_SUFFIX = "_bytes_b64"


def path_json(path: str | os.PathLike, key: str = "path") -> dict[str, str]:
    """A file name as JSON fields: ``{key: name}``; when the name's bytes are not UTF-8,
    ``key`` holds it for display (bad bytes as U+FFFD) and ``key + "_bytes_b64"`` the exact
    bytes in base64, which :func:`path_from_json` turns back into the name."""
    p = os.fspath(path)
    raw = os.fsencode(p)
    try:
        return {key: raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {key: raw.decode("utf-8", "replace"),
                key + PATH_BYTES_SUFFIX: base64.b64encode(raw).decode("ascii")}


def path_from_json(obj: dict[str, Any], key: str = "path") -> str | None:
    """The file name stored by :func:`path_json` (the exact bytes when present), or None."""
    b64 = obj.get(key + PATH_BYTES_SUFFIX)
    if isinstance(b64, str) and b64:
        try:
            return os.fsdecode(base64.b64decode(b64, validate=True))
        except ValueError:
            pass  # not base64: fall back to the display form
    v = obj.get(key)
    return v if isinstance(v, str) else None
