"""Label shift: the classes' mix differs between the domains, not how each class looks.

The target's class priors are estimated from the model's predictions on unlabelled
target inputs, then the probabilities are corrected by Bayes' rule,
`p_t(y|x) ∝ p_s(y|x) · π_t(y) / π_s(y)`, which for a linear head is a shift of its bias
by `log(π_t / π_s)`. Two estimators:

- `em_priors`: the EM algorithm of Saerens, Latinne and Decaestecker (2002), which
  re-weights the posteriors until the priors they imply are stable;
- `bbse_priors`: black-box shift estimation (Lipton, Wang and Smola 2018), which solves
  `C w = μ` with `C` the joint confusion matrix on held-out source data and `μ` the
  distribution of the target's predicted classes.

skada has no label-shift estimator for a single source (its JCPOT needs several), and the
other libraries that have one are not maintained; both estimators are a few lines of
NumPy, written here (docs/decisions.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.heads._linear import LinearHead


def em_priors(
    proba: np.ndarray, source_priors: np.ndarray, max_iter: int = 1000, tol: float = 1e-8
) -> np.ndarray:
    """The target priors that make the corrected posteriors agree with themselves."""
    source_priors = np.asarray(source_priors, dtype=np.float64)
    priors = source_priors.copy()
    proba = np.asarray(proba, dtype=np.float64)
    for _ in range(max_iter):
        weighted = proba * (priors / np.maximum(source_priors, 1e-12))
        weighted /= weighted.sum(axis=1, keepdims=True)
        updated: np.ndarray = weighted.mean(axis=0)
        if np.abs(updated - priors).max() < tol:
            return updated
        priors = updated
    return priors


def bbse_priors(
    val_labels: np.ndarray, val_predicted: np.ndarray, target_predicted: np.ndarray, k: int
) -> np.ndarray:
    """Target priors from the confusion matrix of held-out source predictions."""
    n = len(val_labels)
    joint = np.zeros((k, k))  # joint[i, j] = P_s(predicted i, true j)
    np.add.at(joint, (val_predicted, val_labels), 1.0 / n)
    mu = np.bincount(target_predicted, minlength=k) / max(len(target_predicted), 1)
    weights, *_ = np.linalg.lstsq(joint, mu, rcond=None)
    weights = np.clip(weights, 0.0, None)
    source_priors = np.bincount(val_labels, minlength=k) / n
    priors = weights * source_priors
    total = priors.sum()
    return priors / total if total > 0 else source_priors


def corrected_head(head: Any, source_priors: np.ndarray, target_priors: np.ndarray) -> Any:
    """`head` with its output bias moved by `log(π_t / π_s)`: the Bayes correction. A
    LinearHead stays linear; a ClassifierHead (a deep adapter's) is copied, its last layer's
    bias moved."""
    ratio = np.maximum(target_priors, 1e-12) / np.maximum(source_priors, 1e-12)
    if isinstance(head, LinearHead):
        return LinearHead(head.mean, head.scale, head.weight, head.bias + np.log(ratio))
    import copy

    import torch

    corrected = copy.deepcopy(head)
    with torch.no_grad():
        corrected.net[-1].bias += torch.as_tensor(np.log(ratio), dtype=torch.float32)
    return corrected


def shifted_scores(
    score: np.ndarray, source_priors: np.ndarray, target_priors: np.ndarray
) -> np.ndarray:
    """P(positive) of a binary model after the Bayes correction to `target_priors`."""
    ratio = np.maximum(target_priors, 1e-12) / np.maximum(source_priors, 1e-12)
    positive, negative = score * ratio[1], (1.0 - score) * ratio[0]
    return np.asarray(positive / np.maximum(positive + negative, 1e-300))


def target_mix_weights(
    labels: np.ndarray, source_priors: np.ndarray, target_priors: np.ndarray
) -> np.ndarray:
    """Row weights that give labelled source rows the target's class mix: π_t(y) / π_s(y).
    With them a threshold rule on precision (or F1) means precision on the target; recall
    is the same under any mix, since label shift leaves each class's look unchanged."""
    ratio = np.maximum(target_priors, 1e-12) / np.maximum(source_priors, 1e-12)
    return np.asarray(ratio[labels], dtype=float)
