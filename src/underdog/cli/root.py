"""The Typer application every command module registers on."""

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="underdog: turn your own music library into training-montage soundtracks.",
)


@app.callback()
def _group() -> None:
    """underdog: turn your own music library into training-montage soundtracks."""
