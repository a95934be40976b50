"""`lr_find`: the learning-rate range test on the training split (Lightning's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transferkit._errors import TransferKitError
from transferkit.config import JobConfig
from transferkit.finetune._run import drop_undecodable, train_config
from transferkit.jobs import _steps as steps


def lr_find(data: str | Path, *, steps_: int | None = None, **options: Any) -> dict[str, Any]:
    """A suggested rate and the curve: `fit`'s options (strategy default 'finetune') and
    `steps`, the number of rates tried."""
    from transferkit.finetune._train import find_lr

    n_steps = int(options.pop("steps", steps_ or 60))
    options.setdefault("strategy", "finetune")
    config = JobConfig.from_options(data, **options).validate()
    if config.strategy.name in ("features", "auto"):
        raise TransferKitError(
            "lr-find needs a trained strategy ('finetune', 'top:K', 'gradual', 'scratch');"
            " the 'features' head picks its regularisation by cross-validation instead."
        )
    job = steps.Job(config)
    splits = steps.read(job)
    model = steps.build_backbone(job, splits, job.strategy, None)
    perf = config.performance
    train = train_config(config.strategy.train, config.data.seed, perf.batch_size, 0, perf.device)
    if splits.modality == "image":
        drop_undecodable(splits)
    suggestion, rates, losses = find_lr(model, splits, job.strategy, train, steps=n_steps)
    return {"suggestion": suggestion, "lr": rates, "loss": losses, "backbone": job.backbone}
