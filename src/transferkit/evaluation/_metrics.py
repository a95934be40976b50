"""Classification metrics that do not hide the minority class."""

from __future__ import annotations

from typing import Any

import numpy as np


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: list[str],
    proba: np.ndarray | None = None,
    train_labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1, per-class P/R/F1 and the confusion matrix;
    with `proba` on a binary task, ROC-AUC and PR-AUC (average precision) of the second
    class (scikit-learn's positive label); with `train_labels`, the accuracy of always
    predicting the training split's majority class."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    labels = np.arange(len(class_names))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    }
    present = np.unique(y_true)
    extra: dict[str, Any] = {}
    if proba is not None and len(class_names) == 2:
        extra.update(ranking_metrics(y_true, proba[:, 1], class_names[1]))
    if train_labels is not None and len(train_labels):
        majority = int(np.bincount(train_labels, minlength=len(class_names)).argmax())
        extra["majority_class"] = class_names[majority]
        extra["majority_baseline_accuracy"] = float(np.mean(y_true == majority))
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        # mean recall over the classes present in y_true (sklearn's definition)
        "balanced_accuracy": float(np.mean(recall[present])) if len(present) else 0.0,
        # over the classes present in y_true or y_pred (scikit-learn's default): a class that
        # the split lacks and the model never predicts is no failure to average in
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "confusion_matrix_labels": list(class_names),
        **extra,
    }


def ranking_metrics(y_true: np.ndarray, score: np.ndarray, positive: str) -> dict[str, Any]:
    """ROC-AUC and PR-AUC (average precision) of class 1, None when y_true has one class."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    both = len(np.unique(y_true)) == 2
    return {
        "positive_class": positive,
        "roc_auc": float(roc_auc_score(y_true, score)) if both else None,
        "pr_auc": float(average_precision_score(y_true, score)) if both else None,
    }


def baseline_warning(metrics: dict[str, Any], margin: float = 0.03) -> str | None:
    """A plain warning when the model barely beats always answering the majority class."""
    baseline = metrics.get("majority_baseline_accuracy")
    if baseline is None or metrics["accuracy"] - baseline > margin:
        return None
    return (
        f"warning: accuracy {metrics['accuracy']:.4f} is within {margin:.0%} of always"
        f" predicting {metrics['majority_class']!r} ({baseline:.4f}); look at balanced"
        " accuracy and per-class recall, not accuracy"
    )
