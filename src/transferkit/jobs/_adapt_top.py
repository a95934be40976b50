"""`adapt --strategy top:K`: a deep method trained on the backbone's top K layer groups.

Each seed trains a fresh copy of the pretrained backbone (its top K groups) and an adapter
head with the method's domain loss, then embeds the source and the target with that
backbone. The result is scored like any method, by the unsupervised criteria on its own
features, against source-only on the pretrained features; when it is kept, the run saves
its backbone beside the head, as `fit --strategy top:K` does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from transferkit._errors import TransferKitError
from transferkit.jobs._adapt_data import Embedded
from transferkit.jobs._steps import Job

if TYPE_CHECKING:
    from transferkit.adaptation._select import Candidate


def fit_top_groups(
    job: Job,
    embedded: Embedded,
    method: str,
    seeds: list[int],
    checkpoint: tuple[Path, bool] | None,
) -> Candidate:
    """`method` on the top groups with each of `seeds`, scored on each seed's features;
    the first seed's candidate holds the others as replicas."""
    from transferkit.adaptation._select import mean_scores, score_candidate

    fitted = []
    for seed in seeds:
        start = time.perf_counter()
        candidate = _one_seed(job, embedded, method, seed, checkpoint)
        assert candidate.features is not None
        candidate.scores = score_candidate(candidate, _domains(embedded, candidate.features), seed)
        candidate.seconds = round(time.perf_counter() - start, 3)
        fitted.append(candidate)
        if len(fitted) > 1:
            candidate.backbone = None  # only the first seed's network can become the model
    first = fitted[0]
    first.replicas = [c.pipeline for c in fitted]
    first.replica_scores = [c.scores for c in fitted]
    first.replica_targets = [c.features["target"] for c in fitted if c.features is not None]
    first.scores = mean_scores(first.replica_scores)
    first.seconds = round(sum(c.seconds for c in fitted), 3)
    return first


def _one_seed(
    job: Job, embedded: Embedded, method: str, seed: int, checkpoint: tuple[Path, bool] | None
) -> Candidate:
    from transferkit.adaptation._deep import checkpoint_name
    from transferkit.adaptation._deep_backbone import train_top_groups
    from transferkit.finetune._run import train_config
    from transferkit.jobs import _steps as steps

    splits, f = embedded.splits, embedded.features
    perf = job.config.performance
    config = train_config(job.config.strategy.train, seed, None, perf.num_workers, perf.device)
    model = steps.build_backbone(job, splits, job.strategy, None)
    where = None
    if checkpoint is not None:
        k = job.strategy.partition(":")[2]
        where = (checkpoint[0], f"{checkpoint_name(method, seed)}-top{k}", checkpoint[1])
    head = train_top_groups(
        model,
        splits.train,
        embedded.target.data,
        method,
        job.strategy,
        config,
        np.vstack([f["train"], f["target"]]),
        job.cache,
        where,
    )
    features = _embed(job, embedded, model)
    return _prefitted(method, head, _domains(embedded, features), seed, model, features)


def _embed(job: Job, embedded: Embedded, model: object) -> dict[str, np.ndarray]:
    """Every split and the target through the trained backbone (cached under its digest)."""
    from transferkit.features._extract import extract_features

    splits, target = embedded.splits, embedded.target
    perf = job.config.performance
    names = [n for n in embedded.features if n != "target"]
    parts = [getattr(splits, n).inputs for n in names] + [target.data.inputs]
    items = [x for part in parts for x in part]
    with job.timer.phase("extract_adapted"):
        x, errors = extract_features(
            model,  # type: ignore[arg-type]
            items,
            job.cache,
            batch_size=perf.batch_size,
            num_workers=perf.num_workers,
            show_progress=job.show,
            description="embedding with the adapted backbone",
        )
    if errors:  # these inputs were read once already; a failure now is not the data's
        raise TransferKitError(
            f"the adapted backbone could not embed {len(errors)} input(s) the pretrained one"
            f" read: first error {next(iter(errors.values()))!r}."
        )
    out, start = {}, 0
    for name, part in zip([*names, "target"], parts, strict=True):
        out[name] = x[start : start + len(part)]
        start += len(part)
    return out


def _domains(embedded: Embedded, features: dict[str, np.ndarray]):  # type: ignore[no-untyped-def]
    from transferkit.adaptation._select import Domains

    splits = embedded.splits
    return Domains(
        features["train"],
        splits.train.labels,
        features["val"],
        splits.val.labels,
        features["target"],
        len(splits.class_names),
        embedded.source_ids,
    )


def _prefitted(
    method: str,
    head: object,
    domains: object,
    seed: int,
    model: object,
    features: dict[str, np.ndarray],
) -> Candidate:
    """The trained head as the method's scikit-learn pipeline (fitted without training),
    so skada's scorers, and circular validation's refit, treat it as any method."""
    from transferkit.adaptation._deep import prefitted
    from transferkit.adaptation._select import fit_method

    with prefitted(head):
        candidate = fit_method(method, domains, 1.0, seed)  # type: ignore[arg-type]
    candidate.backbone, candidate.features = model, features
    return candidate
