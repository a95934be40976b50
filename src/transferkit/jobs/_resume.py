"""`resume`: continue an interrupted training run from its folder alone."""

from __future__ import annotations

from pathlib import Path

from transferkit.jobs._fit import FitResult, run
from transferkit.jobs._steps import config_from_run


def resume(run_dir: str | Path, *, quiet: bool = False) -> FitResult:
    """Continue an interrupted training run from its last checkpoint, with its own config."""
    run_dir = Path(run_dir)
    config = config_from_run(run_dir).with_options(quiet=quiet)
    return run(config, resume_dir=run_dir)
