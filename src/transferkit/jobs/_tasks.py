"""The steps of a multi-task run (`--label a,b`): its refusals, one head per task on the
cached embeddings, and every metric per task."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from transferkit._errors import TransferKitError
from transferkit.data import DataSplits
from transferkit.evaluation._metrics import classification_metrics
from transferkit.heads._train import balanced_head


def check_multitask(job: Any) -> None:
    """Settings that one head's decision needs are refused with several tasks."""
    config = job.config
    refused = {
        "threshold": config.imbalance.threshold,
        "cv": config.evaluation.cv,
        "class_weight": config.imbalance.class_weight,
        "candidates": config.backbone.candidates,
    }
    if config.imbalance.balance != "none":
        refused["balance"] = config.imbalance.balance
    if job.strategy == "auto":
        refused["strategy"] = "auto"
    for name, value in refused.items():
        if value:
            raise TransferKitError(
                f"`{name}` {value!r} applies to one task; --label"
                f" {config.data.label_column!r} names several: drop `{name}`, or give one label."
            )


def multitask_head(
    job: Any, splits: DataSplits, x: np.ndarray, cached_head: Any
) -> tuple[Any, dict[str, Any]]:
    """One head per task on the same embeddings, each fitted on the samples labelled for
    its task (`cached_head`: the job's head cache) and packed as one `MultiTaskHead`
    (what trained strategies train too)."""
    from transferkit.data._tasks import MISSING, task_column
    from transferkit.heads._heads import as_module
    from transferkit.heads._multitask import MultiTaskHead

    heads, infos = [], []
    for task in splits.tasks:
        y = task_column(splits.train, task) if task is not splits.tasks[0] else splits.train.labels
        known = y != MISSING
        fit_head = partial(
            balanced_head,
            job.config.strategy.head,
            n_classes=len(task.class_names),
            seed=job.config.data.seed,
            balance="none",
            weights=None,
        )
        head, info = cached_head(job, fit_head, x[known], y[known])
        heads.append(as_module(head).eval())
        infos.append({"task": task.name, "n_labelled": int(known.sum()), **info})
    names = [t.name for t in splits.tasks]
    classes = [t.class_names for t in splits.tasks]
    return MultiTaskHead(heads, names, classes).eval(), {"kind": "multi-task", "tasks": infos}


def task_metrics(
    splits: DataSplits, eval_name: str, probas: list[np.ndarray]
) -> dict[str, dict[str, Any]]:
    """Every metric per task, on the samples of the evaluated split labelled for it."""
    from transferkit.data._tasks import MISSING, task_column

    evaluated = getattr(splits, eval_name)
    out = {}
    for task, proba in zip(splits.tasks, probas, strict=True):
        y = task_column(evaluated, task) if task is not splits.tasks[0] else evaluated.labels
        known = y != MISSING
        if not known.any():  # no sample of this split is labelled for the task
            out[task.name] = {"n_evaluated": 0}
            continue
        metrics = classification_metrics(
            y[known], proba[known].argmax(1), task.class_names, proba=proba[known]
        )
        out[task.name] = {"n_evaluated": int(known.sum()), **metrics}
    return out
