"""The Typer application and what every command shares: one-line errors, `--debug`."""

from __future__ import annotations

import os
import traceback
from typing import Annotated, NoReturn

import typer

from transferkit._errors import one_line

app = typer.Typer(
    help="Transfer learning from a small labelled data set and a pretrained model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

DEBUG_ENV = "TRANSFERKIT_DEBUG"
Opt = typer.Option


def debug() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def one_line_of(exc: BaseException) -> str:
    return one_line(str(exc)) or type(exc).__name__


def fail(exc: Exception) -> NoReturn:
    """Bad input, files or configuration: one line and exit code 2 (`--debug`: the
    traceback too)."""
    if debug():
        traceback.print_exception(exc)
    typer.echo(f"error: {one_line_of(exc)}", err=True)
    raise typer.Exit(code=2)


@app.callback()
def _options(
    debug: Annotated[
        bool,
        Opt(
            "--debug",
            help="Print the full traceback of any error (also TRANSFERKIT_DEBUG=1); it may be"
            " given anywhere on the command line.",
        ),
    ] = False,
) -> None:
    """Transfer learning from a small labelled data set and a pretrained model."""
    if debug:
        os.environ[DEBUG_ENV] = "1"
