"""`strategy="auto"`: one documented rule picks the strategy, and says why.

The rule, in order (n = training samples in the smallest class):
0. A backbone with no layers (`identity`, tabular data): `features`.
1. A quick probe: a logistic regression on the (cached) embeddings, 3-fold CV accuracy on
   the training split. At 0.98 or more there is nothing left for fine-tuning to gain:
   `features`.
2. n < 50: too few samples to train backbone layers without overfitting: `features`.
3. Images on a backbone whose frozen prefix can be cached: `top:1` (the last group and
   the head train on cached prefix outputs, so an epoch costs a fraction of a forward
   pass; on hymenoptera it scored 0.948, as `features` did, `top:2` and `finetune`
   0.954), or
   `finetune` from n >= 1000.
4. Text (no prefix cache yet, a full transformer pass per step): `features` on a CPU,
   `top:2` on a GPU.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from transferkit._cache import FeatureCache
from transferkit._features import extract_features
from transferkit.backbones import Backbone
from transferkit.data import DataSplits

PROBE_ENOUGH = 0.98
FEW_PER_CLASS = 50
MANY_PER_CLASS = 1000


def quick_probe(features: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """3-fold CV accuracy of a logistic regression on standardised embeddings."""
    from sklearn.linear_model import LogisticRegression

    return cv_accuracy(features, labels, seed, LogisticRegression(max_iter=2000))


def cv_accuracy(features: np.ndarray, labels: np.ndarray, seed: int, model: Any) -> float:
    """Stratified 3-fold (fewer for tiny classes) CV accuracy of `model` on standardised
    features; NaN when a class has a single sample."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = int(min(3, np.bincount(labels)[np.unique(labels)].min()))
    if folds < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and rename notices on tiny folds
        scores = cross_val_score(
            make_pipeline(StandardScaler(), model),
            features,
            labels,
            cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        )
    return float(scores.mean())


def choose_strategy(
    splits: DataSplits,
    backbone: Backbone,
    cache: FeatureCache,
    device: str,
    seed: int,
    show: bool,
) -> tuple[str, str]:
    """(strategy, reason) by the rule in this module's docstring."""
    n_min = min(n for n in splits.train.class_counts().values())
    if not backbone.layer_groups():
        return "features", f"backbone {backbone.spec!r} has no layers to train"
    features, errors = extract_features(backbone, splits.train.inputs, cache, show_progress=show)
    keep = np.array([i not in errors for i in range(len(features))], dtype=bool)
    probe = quick_probe(features[keep], splits.train.labels[keep], seed)
    facts = f"linear probe {probe:.3f} (3-fold CV on train), smallest class {n_min} samples"
    if probe >= PROBE_ENOUGH:
        return "features", f"{facts}: the frozen features already separate the classes"
    if n_min < FEW_PER_CLASS:
        return "features", f"{facts}: too few samples per class to train backbone layers"
    cut = len(backbone.layer_groups()) - 1
    cacheable = getattr(backbone, "prefix_split_supported", None)
    if backbone.modality == "image" and cacheable is not None and cacheable(cut):
        if n_min >= MANY_PER_CLASS:
            return "finetune", f"{facts}: enough data to train every layer"
        return "top:1", f"{facts}: the last group trains on cached prefix outputs, cheaply"
    if device == "cpu":
        return "features", f"{facts}: training transformer layers on a CPU costs too much here"
    return "top:2", f"{facts}: the top two groups train on the GPU"
