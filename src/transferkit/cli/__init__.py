"""The `transferkit` command line: Typer commands over the jobs' Python functions, one
module per group of commands (`_fit`: fit; `_adapt`: adapt; `_commands`: rank, lr-find,
predict, export, track, report, compare, backbones, demo; `_rl`: the `rl` group; `_serve`:
serve). Heavy libraries are imported inside the command that needs them, so `--help` is
instant; a test pins that importing this package loads no torch."""

from __future__ import annotations

import os
import sys
import traceback

import typer

from transferkit._errors import TransferKitError
from transferkit.cli import _adapt, _commands, _fit, _rl, _serve  # noqa: F401  (they register their commands)
from transferkit.cli._app import DEBUG_ENV, app, debug, one_line_of

__all__ = ["app", "main"]


def main() -> None:
    """The console entry point: a one-line cause for bad input, files or configuration
    (exit 2); a traceback only for a bug, with a line asking to report it (exit 1)."""
    args = sys.argv[1:]
    if "--debug" in args:  # accepted after the command too
        os.environ[DEBUG_ENV] = "1"
        args = [a for a in args if a != "--debug"]
    try:
        app(args=args, prog_name="transferkit")
    except (TransferKitError, OSError) as exc:
        if debug():
            traceback.print_exception(exc)
        typer.echo(f"error: {one_line_of(exc)}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception:
        traceback.print_exc()
        typer.echo(
            "error: this is a bug in transferkit, not a problem with your input: please report"
            " it with the traceback above and the command you ran.",
            err=True,
        )
        sys.exit(1)
