"""The command line: thin Typer commands; each parses, calls one function, prints.

A command's module is imported only when that command runs, so ``underdog analyze`` does
not pay for the planner's imports. ``underdog.cli.app`` has every command registered.
"""

from __future__ import annotations

import importlib
import os
import sys

from .root import app as _app

# command name -> the module under underdog.cli that registers it
COMMANDS = {
    "analyze": "analyze",
    "scan": "library", "tracks": "library", "show": "library", "errors": "library",
    "prune": "library",
    "soundtrack": "soundtrack",
    "tag": "tag",
    "plan": "plan", "score": "plan",
    "like": "like",
    "render": "render",
    "serve": "serve",
}


def load(command: str | None = None):
    """The Typer app with ``command``'s module registered (every module if unknown)."""
    modules = [COMMANDS[command]] if command in COMMANDS else sorted(set(COMMANDS.values()))
    for m in modules:
        importlib.import_module(f"{__name__}.{m}")
    return _app


def __getattr__(name: str):
    if name == "app":
        return load()
    raise AttributeError(name)


def main() -> None:
    # One BLAS thread (before numpy loads): the analysis's matrix products are small and a
    # second thread only spins; scans get their parallelism from worker processes.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # A locale that cannot encode a character (C/POSIX with ASCII, Latin-1) gets an escape
    # for it, not a UnicodeEncodeError halfway through a table.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    sys.exit(run(lambda: load(command), sys.argv[1:]))


# exit codes besides a command's own (0 done, 1 some inputs failed, 2 bad input/usage)
EXIT_INTERNAL = 70     # a bug: an unexpected exception (EX_SOFTWARE)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


def run(get_app, args: list[str]) -> int:
    """Run the CLI on ``args``; with the root group (``root._Commands``, which maps the
    :class:`~underdog.errors.UnderdogError` family a command raises), the place that turns
    exceptions into a message and an exit code, so no input prints a traceback.

    A usage error (bad option value, unknown option) prints one ``error`` line and gives 2;
    an UnderdogError raised outside a command its one line and its ``exit_code``; Ctrl-C gives 130 quietly; a closed pipe (``underdog tracks | head``) ends quietly;
    an OS error (disk full, permission denied) one line and 1; out of memory one line and
    1; anything else ``internal error: ...; please report it`` and 70. ``UNDERDOG_DEBUG=1``
    lets unexpected exceptions through with their traceback.
    """
    import typer

    from ..errors import UnderdogError
    from .output import error

    debug = os.environ.get("UNDERDOG_DEBUG", "") not in ("", "0")
    # click's base exception (typer 0.28 vendors click; older typers use click itself)
    click_exception = next(c for c in typer.BadParameter.__mro__
                           if c.__name__ == "ClickException")
    try:
        rc = get_app()(args=args, prog_name="underdog", standalone_mode=False)
        return rc if isinstance(rc, int) else 0
    except click_exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help is already printed
            return exc.exit_code
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        error(exc.format_message() + hint)
        return exc.exit_code
    except UnderdogError as exc:
        error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return 1
    except Exception as exc:
        if type(exc).__name__ == "Abort":
            error("aborted")
            return 1
        if debug:
            raise
        if isinstance(exc, MemoryError):
            error("out of memory")
            return 1
        if isinstance(exc, OSError):
            from ..fileio import os_reason

            where = f"{exc.filename}: " if exc.filename else ""
            error(f"{where}{os_reason(exc)}")
            return 1
        error(f"{exc.__class__.__name__}: {exc}; please report it (UNDERDOG_DEBUG=1 shows "
              "the traceback)", what="internal error:")
        return EXIT_INTERNAL


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the exit flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
