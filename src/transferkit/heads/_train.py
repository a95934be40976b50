"""Train a classifier head on cached embeddings: the logistic head in NumPy (no torch),
the linear and MLP heads with torch; balancing first when asked."""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit._errors import choice_error
from transferkit.config._choices import HEADS
from transferkit.heads._balance import resample
from transferkit.heads._linear import train_logistic


def train_head(
    kind: str,
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    seed: int = 0,
    class_weight: np.ndarray | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train a head of `kind` ('logistic', 'linear' or 'mlp') on training embeddings only;
    `class_weight` (one per class) weights each class's loss. The logistic head is a
    NumPy `LinearHead`; the others train with torch (`ClassifierHead`)."""
    if kind not in HEADS:
        raise choice_error("head", kind, list(HEADS))
    head: Any
    if kind == "logistic":
        head, info = train_logistic(features, labels, n_classes, seed, class_weight)
    else:
        from transferkit.heads._heads import train_torch  # torch: only for these heads

        hidden = 256 if kind == "mlp" else 0
        head, info = train_torch(features, labels, n_classes, hidden, seed, class_weight)
    if class_weight is not None:
        info["class_weight"] = [float(w) for w in class_weight]
    return head, info


def balanced_head(
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    seed: int,
    balance: str,
    weights: np.ndarray | None,
) -> tuple[Any, dict[str, Any]]:
    """A head on training embeddings, resampled first or class-weighted as `balance` says."""
    resampled = None
    if balance in ("oversample", "undersample", "smote", "adasyn"):
        x, y, resampled = resample(x, y, balance, seed)
    head, info = train_head(kind, x, y, n_classes, seed, class_weight=weights)
    info["balance"] = balance
    if resampled:
        info["resampled"] = resampled
    return head, info
