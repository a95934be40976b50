"""Start an agent from another run's policy (`rl transfer`, `TrainSettings.init_from`).

Same spaces: every weight loads and training continues (the observation normaliser's
statistics too). Different sizes: `transplant` reuses every tensor whose shape fits
(with the entity policy, all of them) and the record of what was reused goes into the
run folder. `freeze="features"` keeps the transferred representation fixed and trains
the output layers only; `lr_scale` lowers the learning rate, as `fit` does for a
pretrained backbone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transferkit._errors import TransferKitError
from transferkit.rl._catalog import EnvChoice
from transferkit.rl._store import load_state
from transferkit.rl._surgery import transplant


def warm_start(model: Any, vec: Any, settings: Any, choice: EnvChoice) -> dict[str, Any]:
    """Load the source run's policy into `model`; the record for `transfer.json`."""
    source = Path(str(settings.init_from))
    state, meta = load_state(source, "policy")
    if meta.get("algo") != (settings.algo or meta.get("algo")):
        raise TransferKitError(
            f"the source run {str(source)!r} trained {meta.get('algo')}, this run"
            f" {settings.algo}: transfer between runs of the same algorithm."
        )
    record = transplant(state["policy"], model.policy)
    stats: Any = state.get("obs_stats")
    rms: Any = getattr(vec, "obs_rms", None)
    same_shape = stats is not None and rms is not None and stats["mean"].shape == rms.mean.shape
    if same_shape:  # the source's view of observations, as a settled starting estimate
        rms.mean, rms.var, rms.count = stats["mean"].copy(), stats["var"].copy(), 1e4
    frozen = freeze(model.policy, settings.freeze)
    return {
        "source": str(source),
        "source_env": meta.get("env"),
        "target_env": choice.label,
        "freeze": settings.freeze,
        "frozen": frozen,
        "lr_scale": settings.lr_scale,
        "normaliser_carried": bool(same_shape),
        **record,
    }


def freeze(policy: Any, what: str) -> list[str]:
    """Stop the gradients of the shared representation: the entity encoder, or an MLP's
    hidden layers; the output layers keep training. The names frozen."""
    if what == "none":
        return []
    from transferkit.rl._entity import EntityNetwork

    extractor = policy.mlp_extractor
    if isinstance(extractor, EntityNetwork):
        modules = {"mlp_extractor.encode": extractor.encode}
    else:
        modules = {"mlp_extractor": extractor}
    names = []
    for prefix, module in modules.items():
        for name, parameter in module.named_parameters():
            parameter.requires_grad_(False)
            names.append(f"{prefix}.{name}")
    return names


def source_settings(run: str | Path) -> dict[str, Any]:
    """The source run's `config.json`, with a one-line cause when it is not a run."""
    path = Path(run) / "config.json"
    if not path.is_file() or not (Path(run) / "policy.json").is_file():
        raise TransferKitError(
            f"{str(run)!r} is not a finished `transferkit rl train` run (no config.json and"
            " policy.json): give the run folder to transfer from."
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data


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
