"""`transferkit rl transfer`: train on a target environment from a trained run's
policy (`_warm`), optionally with the same training from scratch beside it, and Taylor
and Stone's metrics of the pair (`_transfer_metrics`) in `transfer.json`, the summary and
the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transferkit.rl._warm import source_settings


def curve_of(run: Path) -> Any:
    """A run's learning curve from its `history.csv`."""
    import csv

    from transferkit.rl._transfer_metrics import Curve

    with open(run / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return Curve(tuple(float(r["timesteps"]) for r in rows), tuple(float(r["mean"]) for r in rows))


def default_threshold(scratch: Any) -> float:
    """90 % of the way from the scratch agent's first evaluation to its best: the return a
    learner is expected to reach on this budget."""
    first, best = scratch.returns[0], max(scratch.returns)
    return float(first + 0.9 * (best - first))


def transfer(from_run: str | Path, env: str | None = None, *,
             env_settings: dict[str, Any] | None = None, freeze: str = "none",
             lr_scale: float = 1.0, steps: int | None = None, seed: int = 0,
             out: str | Path | None = None, overwrite: bool = False,
             baseline_scratch: bool = False, threshold: float | None = None,
             echo: Any = None) -> Path:  # fmt: skip
    """Train on `env` (default: the source's environment) from `from_run`'s policy; with
    `baseline_scratch`, the same training from scratch beside it in `baseline-scratch/`
    and Taylor and Stone's metrics in `transfer.json`."""
    from transferkit.rl._train import TrainSettings, train

    # the options first: a bad one is refused before the source is read
    TrainSettings(init_from=str(from_run), freeze=freeze, lr_scale=lr_scale).check()
    src = source_settings(from_run)
    settings = TrainSettings(
        env=env or src["env"], settings=dict(env_settings or {}), algo=src.get("algo"),
        hyperparameters=src.get("hyperparameters", {}),
        steps=steps or src["steps"], envs=src.get("envs", 1), seed=seed,
        eval_every=src.get("eval_every"), eval_episodes=src.get("eval_episodes", 20),
        test_episodes=src.get("test_episodes", 100), patience=None,
        init_from=str(from_run), freeze=freeze, lr_scale=lr_scale,
    )  # fmt: skip
    if settings.eval_every is None:
        settings.eval_every = max(1, settings.steps // 20)
    run = train(settings, out=out, overwrite=overwrite, echo=echo)
    if not baseline_scratch:
        return run
    from dataclasses import replace

    from transferkit.rl._transfer_metrics import compare, negative, summarise
    from transferkit.runs._folder import record_nested, write_text
    from transferkit.runs._write import write_json

    scratch_settings = replace(settings, init_from=None, freeze="none", lr_scale=1.0)
    scratch = train(scratch_settings, out=run / "baseline-scratch", overwrite=True)
    record_nested(run, "baseline-scratch")
    ours, theirs = curve_of(run), curve_of(scratch)
    limit = default_threshold(theirs) if threshold is None else threshold
    pair = compare(ours, theirs, limit)
    record = json.loads((run / "transfer.json").read_text())
    record["metrics"] = pair
    record["negative_transfer"] = negative(summarise([pair]))
    write_json(run, "transfer.json", record)
    lines = metric_lines(pair, record["negative_transfer"])
    summary = (run / "summary.txt").read_text() + "\n".join(lines) + "\n"
    write_text(run, "summary.txt", summary)
    from transferkit.rl._report import write_rl_report

    write_rl_report(run)  # now with both curves and the metrics
    if echo is not None:
        for line in lines:
            echo(line)
    return run


def metric_lines(pair: dict[str, Any], hurt: bool) -> list[str]:
    ratio = pair.get("time_ratio")

    def when(steps: float | None) -> str:
        return "never" if steps is None else f"{steps:.0f} steps"

    lines = [
        f"transfer vs scratch: jumpstart {pair['jumpstart']:+.2f}, asymptotic gain"
        f" {pair['asymptotic_gain']:+.2f}, transfer ratio (area) "
        + ("n/a" if pair["transfer_ratio"] is None else f"{pair['transfer_ratio']:+.3f}"),
        f"time to a return of {pair['threshold']:.2f}: {when(pair['time_transfer'])} with"
        f" transfer, {when(pair['time_scratch'])} from scratch"
        + ("" if ratio is None else f" (ratio {ratio:.2f})"),
    ]
    if hurt:
        lines.append("NEGATIVE TRANSFER: starting from the source run did worse than scratch.")
    return lines
