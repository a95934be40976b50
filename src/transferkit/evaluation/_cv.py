"""Cross-validation of a head on cached embeddings, and the out-of-fold scores that
threshold tuning may look at."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from transferkit._errors import TransferKitError
from transferkit.data import DataSplits
from transferkit.evaluation._metrics import classification_metrics
from transferkit.heads._threshold import ThresholdRule, choose_threshold, decide

HeadFitter = Callable[[np.ndarray, np.ndarray], tuple[Any, dict[str, Any]]]


def cross_validate(
    fit_head: Callable[[np.ndarray, np.ndarray], tuple[Any, dict[str, Any]]],
    features: dict[str, np.ndarray],
    splits: DataSplits,
    k: int,
    seed: int,
    rule: ThresholdRule | None,
) -> tuple[dict[str, Any], OutOfFold]:
    """Stratified k-fold over train + val: every fold fits the head (balancing and threshold
    tuning inside the fold) and is scored on its held-out part; mean and std per metric,
    and every row's out-of-fold prediction."""
    from sklearn.model_selection import StratifiedKFold

    x = np.concatenate([features["train"], features["val"]])
    y = np.concatenate([splits.train.labels, splits.val.labels])
    smallest = int(np.bincount(y)[np.unique(y)].min())
    if not 2 <= k <= smallest:
        raise TransferKitError(
            f"--cv {k}: needs 2 <= K <= {smallest} (the smallest class's count in train + val)."
        )
    names = splits.class_names
    per_fold: list[dict[str, float]] = []
    oof_proba = np.zeros((len(y), len(names)))
    oof_predicted = np.zeros(len(y), dtype=int)
    for fitted, held in StratifiedKFold(k, shuffle=True, random_state=seed).split(x, y):
        head, _ = fit_head(x[fitted], y[fitted])
        proba = head.predict_proba(x[held])
        tuned = None
        if rule is not None:
            scores = oof_scores(fit_head, x[fitted], y[fitted], seed)
            tuned = choose_threshold(y[fitted], scores, rule, names[1])
        oof_proba[held] = proba
        oof_predicted[held] = decide(proba, tuned)
        m = classification_metrics(y[held], oof_predicted[held], names, proba)
        flat = {key: m[key] for key in ("accuracy", "balanced_accuracy", "macro_f1")}
        flat.update({key: m[key] for key in ("roc_auc", "pr_auc") if m.get(key) is not None})
        for name, values in m["per_class"].items():
            flat.update({f"{name}_{key}": values[key] for key in ("precision", "recall", "f1")})
        per_fold.append(flat)
    summary = {
        key: {
            "mean": float(np.mean([f[key] for f in per_fold])),
            "std": float(np.std([f[key] for f in per_fold])),
        }
        for key in per_fold[0]
    }
    on = "train + val" if len(splits.val) else "train"
    result = {"folds": k, "on": on, "metrics": summary, "per_fold": per_fold}
    return result, OutOfFold(oof_proba, oof_predicted)


@dataclass
class OutOfFold:
    """Each row of train + val as predicted by the fold's head that did not see it."""

    proba: np.ndarray
    predicted: np.ndarray


def oof_scores(
    fit_head: Callable[[np.ndarray, np.ndarray], tuple[Any, Any]],
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
) -> np.ndarray:
    """P(class 1) for each training sample from a head fitted without it (stratified k-fold,
    k = 5 or the smallest class count, balancing inside each fold): what threshold tuning
    may look at."""
    from sklearn.model_selection import StratifiedKFold

    k = int(min(5, np.bincount(y).min()))
    if k < 2:
        raise TransferKitError(
            "threshold tuning needs at least 2 training samples of each class for"
            " out-of-fold predictions. Add samples or drop --threshold."
        )
    scores = np.zeros(len(y))
    for fitted, held in StratifiedKFold(k, shuffle=True, random_state=seed).split(x, y):
        fold_head, _ = fit_head(x[fitted], y[fitted])
        scores[held] = fold_head.predict_proba(x[held])[:, 1]
    return scores
