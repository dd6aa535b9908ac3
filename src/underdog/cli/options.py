"""Options several commands share, declared once."""

import typer

DB_OPTION = typer.Option(None, "--db", help="Library database (default: $UNDERDOG_DB or "
                         "~/.local/share/underdog/library.db).")
OUTPUT_OPTION = typer.Option([], "-o", "--output", help="Write the playlist: .m3u8, .xspf, "
                             ".json or .xml (rekordbox) (repeatable).")
PLOT_OPTION = typer.Option(None, "--plot", help="Write the arc plot (PNG).")
CHECK_BEATS_OPTION = typer.Option(True, "--check-beats/--no-check-beats", help="Lay the "
                                  "plan out as the render will and plan again over blends "
                                  "whose beat it hears unsteady or apart (reads each "
                                  "blend's audio; see docs/render.md).")
RELATIVE_TO_OPTION = typer.Option(None, "--relative-to", help="M3U8 paths relative to this "
                                  "folder.")


# ---------------------------------------------------------------- numbers
# Every numeric option has documented bounds; a value outside them (NaN included) is a usage
# error: one line, exit 2. The bounds keep the planner's work small (a session of 600 minutes
# plans in seconds) and every id within SQLite's 64-bit integers.

MINUTES = (1.0, 600.0)            # session length, minutes
CADENCE = (30.0, 300.0)           # steps per minute (planning.arcs.BPM_RANGE)
WORK = (0.1, 60.0)                # hiit work interval, minutes
REST = (0.0, 60.0)                # hiit rest interval, minutes
ROUNDS = (1, 100)                 # hiit rounds
SEED = (0, 2**32 - 1)
AVOID_RECENT = (0, 100_000)       # recorded plans
LIMIT = (1, 10**6)                # rows
JOBS = (0, 256)                   # worker processes
TRACK_ID = (1, 2**63 - 1)         # SQLite INTEGER PRIMARY KEY


def _num(v: float | int) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def within(bounds: tuple, unit: str = ""):
    """An option callback: ``None`` or a value in ``bounds`` (inclusive) passes; any other
    value (NaN, infinity, out of range) is a one-line usage error."""
    lo, hi = bounds

    def check(value):
        if value is not None and not lo <= value <= hi:
            raise typer.BadParameter(f"must be {_num(lo)}–{_num(hi)}{unit}, not {_num(value)}")
        return value

    return check


def minutes_option(help: str):
    """``--minutes/-m``: the session length, 1–600 minutes."""
    return typer.Option(None, "--minutes", "-m", callback=within(MINUTES, " minutes"),
                        help=f"{help} 1–600.")


def seed_option(help: str):
    """``--seed``: 0 to 2**32 - 1."""
    return typer.Option(0, "--seed", callback=within(SEED), help=f"{help} 0–4294967295.")


CADENCE_OPTION = typer.Option(None, "--cadence", callback=within(CADENCE, " steps/min"),
                              help="run arc: steps per minute (default 160); a track fits "
                              "at the cadence or at half of it. 30–300.")
WORK_OPTION = typer.Option(None, "--work", callback=within(WORK, " minutes"),
                           help="hiit arc: minutes of each work interval (default 4). 0.1–60.")
REST_OPTION = typer.Option(None, "--rest", callback=within(REST, " minutes"),
                           help="hiit arc: minutes of each rest interval (default 3; 0: no "
                           "rest). 0–60.")
ROUNDS_OPTION = typer.Option(None, "--rounds", callback=within(ROUNDS),
                             help="hiit arc: work/rest rounds (default 4). 1–100.")
