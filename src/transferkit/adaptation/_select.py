"""Fit the feature-level methods and choose one without target labels.

In real use the target has no labels, so the method is chosen by an unsupervised
criterion, computed by skada's scorers on held-out source data and the unlabelled
target: `dev` (deep embedded validation, You et al. 2019: the source validation loss
weighted by a domain classifier's density ratio), `circular` (circular validation,
Bruzzone and Marconcini 2010: the method refitted on the target's predicted labels must
predict the source validation labels; balanced accuracy), `snd` (soft neighbourhood density,
Saito et al. 2021) and `entropy` (mean prediction entropy on the target, lower is
better). Target labels, when given, are read after the choice, to report each
method's target score and what the best of them (the oracle) would have scored: never
to choose.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transferkit._errors import choice_error
from transferkit.adaptation._methods import get_method

CRITERIA = ("dev", "circular", "snd", "entropy")


@dataclass
class Domains:
    """Features and labels of one adaptation problem (target labels never needed)."""

    source_train: np.ndarray
    source_train_labels: np.ndarray
    source_val: np.ndarray
    source_val_labels: np.ndarray
    target: np.ndarray
    n_classes: int
    source_ids: np.ndarray | None = None  # each training row's source, 1, 2, ... (several)


@dataclass
class Candidate:
    """One fitted method: its pipeline, its criterion scores (higher is better), seconds."""

    method: str
    pipeline: Any
    scores: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None  # why it could not be fitted or scored
    # a deep method is fitted with several seeds: `pipeline` is the first seed's, `replicas`
    # every seed's (the first included) with its own scores; `scores` are their means
    replicas: list[Any] = field(default_factory=list)
    replica_scores: list[dict[str, float]] = field(default_factory=list)
    # trained on the backbone's top groups (`top:K`): the first seed's backbone and the
    # features it gives (train, val, target, ...), and each seed's target features
    backbone: Any = None
    features: dict[str, np.ndarray] | None = None
    replica_targets: list[np.ndarray] = field(default_factory=list)


def fit_method(
    name: str,
    domains: Domains,
    c: float,
    seed: int,
    checkpoint: tuple[Path, bool] | None = None,
) -> Candidate:
    """Fit `name` on the labelled source (train split) and the unlabelled target. A deep
    method given `checkpoint` (run folder, resume) checkpoints there every epoch."""
    from transferkit.adaptation._deep import checkpoint_name, checkpointing
    from transferkit.adaptation._skada import routing

    xs, ys, xt = domains.source_train, domains.source_train_labels, domains.target
    x = np.vstack([xs, xt]).astype(np.float64)
    y = np.r_[ys, -np.ones(len(xt), dtype=int)]
    ids = np.ones(len(xs), dtype=int) if domains.source_ids is None else domains.source_ids
    sample_domain = np.r_[ids.astype(int), -np.ones(len(xt), dtype=int)]
    start = time.perf_counter()
    with routing(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter from inner solvers
        pipeline = get_method(name).build(c, seed, xs.shape[1], domains.n_classes)
        if checkpoint is not None and get_method(name).deep:
            run_dir, resume = checkpoint
            with checkpointing(run_dir, checkpoint_name(name, seed), resume):
                pipeline.fit(x, y, sample_domain=sample_domain)
        else:
            pipeline.fit(x, y, sample_domain=sample_domain)
    return Candidate(name, pipeline, seconds=round(time.perf_counter() - start, 3))


def score_candidate(candidate: Candidate, domains: Domains, seed: int) -> dict[str, float]:
    """Every criterion for a fitted method, from source validation data and the target."""
    from transferkit.adaptation._skada import routing, skada

    xv, yv, xt = domains.source_val, domains.source_val_labels, domains.target
    x = np.vstack([xv, xt]).astype(np.float64)
    y = np.r_[yv, -np.ones(len(xt), dtype=int)]
    sample_domain = np.r_[np.ones(len(xv), dtype=int), -np.ones(len(xt), dtype=int)]
    scores = {}
    with routing(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics = skada().metrics
        scorers = {
            "dev": metrics.DeepEmbeddedValidation(random_state=seed),
            "circular": metrics.CircularValidation(),
            "snd": metrics.SoftNeighborhoodDensity(),
            "entropy": metrics.PredictionEntropyScorer(),
        }
        for name, scorer in scorers.items():
            value = scorer(candidate.pipeline, x, y, sample_domain=sample_domain)
            scores[name] = float(value) if np.isfinite(value) else float("-inf")
    return scores


def mean_scores(replica_scores: list[dict[str, float]]) -> dict[str, float]:
    """Each criterion's mean over a deep method's seeds."""
    keys = replica_scores[0]
    return {k: float(np.mean([s[k] for s in replica_scores])) for k in keys}


def choose(candidates: list[Candidate], criterion: str) -> Candidate:
    """The candidate the criterion scores highest; source-only wins ties."""
    if criterion not in CRITERIA:
        raise choice_error("criterion", criterion, list(CRITERIA))
    usable = [c for c in candidates if c.error is None]
    return max(usable, key=lambda c: (c.scores[criterion], c.method == "source-only"))
