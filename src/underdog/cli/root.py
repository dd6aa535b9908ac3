"""The Typer application every command module registers on."""

import typer
from typer.core import TyperGroup


class _Commands(TyperGroup):
    """The root group: the one place where an error of the family
    (:class:`~underdog.errors.UnderdogError`) raised by a command becomes its one line on
    stderr and its exit status (``cli.run`` maps everything else)."""

    def invoke(self, ctx):
        from ..errors import UnderdogError

        try:
            return super().invoke(ctx)
        except UnderdogError as exc:
            from .output import error

            error(exc)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=_Commands,
    add_completion=False,
    no_args_is_help=True,
    help="underdog: turn your own music library into training-montage soundtracks.",
)


@app.callback()
def _group() -> None:
    """underdog: turn your own music library into training-montage soundtracks."""
