"""The per-group audit (`--group COL`): every metric per group, the worst group and the
largest gap between groups, through fairlearn's `MetricFrame`.

A pretrained model carries the bias of the data it was trained on; an overall accuracy
can hide a group it fails. The audit is computed on the split the run is evaluated on
(test, else val; the target for `adapt`), from the predictions the run writes.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

# the metric the worst group and the summary line are named by
HEADLINE = "accuracy"


def _metrics(n_classes: int) -> dict[str, Any]:
    from fairlearn.metrics import (
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    metrics: dict[str, Any] = {
        "accuracy": accuracy_score,
        "balanced_accuracy": _quiet(balanced_accuracy_score),
        # over the classes present in the group's labels or predictions, as metrics.json's
        "macro_f1": partial(f1_score, average="macro", zero_division=0),
        "count": count,
    }
    if n_classes == 2:  # the rates a fairness review of a binary decision reads
        metrics["selection_rate"] = partial(selection_rate, pos_label=1)
        # undefined (NaN, then null) for a group with no positive, or no negative, label
        metrics["true_positive_rate"] = _when(1, partial(true_positive_rate, pos_label=1))
        metrics["false_positive_rate"] = _when(0, partial(false_positive_rate, pos_label=1))
    return metrics


def _when(label: int, metric: Any) -> Any:
    """`metric` on a group holding `label` among its true labels; NaN on one without."""

    def rate(y_true: Any, y_pred: Any) -> float:
        return float(metric(y_true, y_pred)) if (np.asarray(y_true) == label).any() else np.nan

    return rate


def _quiet(metric: Any) -> Any:
    """A metric that warns on a group holding one class (recall of an absent class) gives
    its value silently: the per-group counts say how small a group is."""

    def quiet(y_true: Any, y_pred: Any) -> float:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(metric(y_true, y_pred))

    return quiet


def group_audit(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: list[str],
    class_names: list[str],
    column: str,
    evaluated_on: str,
) -> dict[str, Any]:
    """metrics.json's `groups` block: per metric, its value per group, overall, and the
    gap (largest minus smallest group); the worst group by accuracy."""
    from fairlearn.metrics import MetricFrame

    keep = np.asarray(y_true) >= 0  # unlabelled rows have nothing to score
    values = np.asarray([g if g != "" else "(empty)" for g in groups], dtype=object)[keep]
    frame = MetricFrame(
        metrics=_metrics(len(class_names)),
        y_true=np.asarray(y_true)[keep],
        y_pred=np.asarray(y_pred)[keep],
        sensitive_features=values,
    )
    by_group = frame.by_group
    per_group = {
        name: {str(g): _plain(v, name) for g, v in column.items()}
        for name, column in by_group.items()
    }
    scored = [name for name in per_group if name != "count"]
    difference = frame.difference(method="between_groups")  # NaN groups left out
    worst = min(per_group[HEADLINE], key=lambda g: (per_group[HEADLINE][g], g))
    best = max(per_group[HEADLINE], key=lambda g: (per_group[HEADLINE][g], g))
    return {
        "column": column,
        "evaluated_on": evaluated_on,
        "n_groups": len(per_group[HEADLINE]),
        "by_group": per_group,
        "overall": {name: _plain(frame.overall[name], name) for name in scored},
        "gap": {name: _plain(difference[name], name) for name in scored},
        "worst": {"group": worst, HEADLINE: per_group[HEADLINE][worst]},
        "best": {"group": best, HEADLINE: per_group[HEADLINE][best]},
    }


def _plain(value: Any, name: str) -> int | float | None:
    """A value for JSON: the count as an integer, an undefined rate as null."""
    if name == "count":
        return int(value)
    return None if value is None or np.isnan(float(value)) else float(value)


def audit_line(audit: dict[str, Any]) -> str:
    """The summary's one line: the worst group and the largest gap."""
    worst, best = audit["worst"], audit["best"]
    return (
        f"audit by {audit['column']} ({audit['n_groups']} groups, {audit['evaluated_on']}):"
        f" worst {worst['group']!r} accuracy {worst[HEADLINE]:.4f}, best {best['group']!r}"
        f" {best[HEADLINE]:.4f}; gap {audit['gap'][HEADLINE]:.4f}"
    )


def audit_chart(audit: dict[str, Any]) -> Any:
    """A matplotlib figure: accuracy per group, worst first, the overall value as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = audit["by_group"][HEADLINE]
    counts = audit["by_group"]["count"]
    order = sorted(values, key=lambda g: (values[g], g))[:40]
    fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.28 * len(order)))
    ax.barh(range(len(order)), [values[g] for g in order], color="#4c72b0")
    ax.set_yticks(range(len(order)), [f"{g} (n={int(counts[g])})" for g in order])
    ax.axvline(audit["overall"][HEADLINE], color="#c44e52", linestyle="--", label="overall")
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"{HEADLINE} on {audit['evaluated_on']}")
    ax.set_title(f"per {audit['column']}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig
