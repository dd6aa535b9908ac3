"""Options several commands share, declared once."""

import typer

DB_OPTION = typer.Option(None, "--db", help="Library database (default: $UNDERDOG_DB or "
                         "~/.local/share/underdog/library.db).")
OUTPUT_OPTION = typer.Option([], "-o", "--output", help="Write the playlist: .m3u8, .xspf or "
                             ".json (repeatable).")
PLOT_OPTION = typer.Option(None, "--plot", help="Write the arc plot (PNG).")
RELATIVE_TO_OPTION = typer.Option(None, "--relative-to", help="M3U8 paths relative to this "
                                  "folder.")
