"""Decision thresholds for binary tasks, chosen on out-of-fold predictions of the training split.

A rule is `f1` (maximise F1 of the positive class), `recall=R` (the highest threshold whose
recall is at least R: the best precision at that recall) or `precision=P` (the lowest
threshold whose precision is at least P: the best recall at that precision). The positive
class is the second one (scikit-learn's convention: `spam` of ham/spam, `1` of 0/1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from transferkit._errors import TransferKitError

RULES = ("f1", "recall=R", "precision=P")


@dataclass(frozen=True)
class ThresholdRule:
    kind: str  # f1 | recall | precision
    target: float | None = None

    def __str__(self) -> str:
        return self.kind if self.target is None else f"{self.kind}={self.target:g}"


def parse_rule(text: str) -> ThresholdRule:
    """'f1', 'recall=0.9' or 'precision=0.95' as a rule; anything else is a one-line error."""
    kind, _, target = text.strip().partition("=")
    if kind == "f1" and not target:
        return ThresholdRule("f1")
    if kind in ("recall", "precision") and target:
        try:
            value = float(target)
        except ValueError:
            value = -1.0
        if 0 < value <= 1:
            return ThresholdRule(kind, value)
    raise TransferKitError(
        f"`threshold` {text!r} is not a rule: use 'f1', 'recall=R' or 'precision=P' with R, P"
        " in (0, 1], e.g. --threshold recall=0.9."
    )


@dataclass(frozen=True)
class Threshold:
    """A chosen threshold, what chose it and what it reached on the out-of-fold predictions."""

    rule: str
    value: float
    positive_class: str
    oof_precision: float
    oof_recall: float
    met: bool  # False when no threshold reaches the target (the closest one is used)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Threshold:
        return cls(**data)


def choose_threshold(
    y_true: np.ndarray,
    score: np.ndarray,
    rule: ThresholdRule,
    positive_class: str,
    sample_weight: np.ndarray | None = None,
) -> Threshold:
    """The threshold on P(positive) that `rule` asks for, from scores it was not fitted on.
    `sample_weight` re-weights the rows (e.g. to another class mix: precision changes with
    it, recall does not)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(
        y_true, score, sample_weight=sample_weight
    )
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    if rule.kind == "f1":
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
        i = int(np.argmax(f1))
        met = True
    elif rule.kind == "recall":
        ok = np.flatnonzero(recall >= rule.target)  # thresholds ascend, recall descends
        met = len(ok) > 0
        i = int(ok[-1]) if met else 0
    else:
        ok = np.flatnonzero(precision >= rule.target)
        met = len(ok) > 0
        i = int(ok[0]) if met else int(np.argmax(precision))
    return Threshold(
        rule=str(rule),
        value=float(thresholds[i]),
        positive_class=positive_class,
        oof_precision=float(precision[i]),
        oof_recall=float(recall[i]),
        met=met,
    )


def decide(proba: np.ndarray, threshold: Threshold | None) -> np.ndarray:
    """Class indices: argmax, or for a binary task with a threshold, P(positive) >= it."""
    if threshold is None:
        return proba.argmax(axis=1)
    return (proba[:, 1] >= threshold.value).astype(int)
