"""A fitted adaptation pipeline, seen from the target, folded into an ordinary head.

On target inputs every method of `transferkit.adaptation._methods` is an affine map of the
features (standardisation, an identity or linear projection, a logistic regression), so
its logits are `W x + b`. Reading `W` and `b` off the pipeline (at the origin and at each
unit vector) and checking them on the real target features turns the adapted model into
the same `LinearHead` that `fit` saves: `predict`, `load`, `export`, `compare` and
`run:` backbones work on an adapted run without knowing it was adapted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit._errors import TransferKitError
from transferkit.heads._linear import LinearHead

TOLERANCE = 1e-4  # largest probability difference allowed between pipeline and head


def target_logits(pipeline: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """The pipeline's logits on target inputs, one column per class (absent classes -1e4)."""
    from transferkit.adaptation._skada import routing

    with routing():
        domain = -np.ones(len(x), dtype=int)
        raw = np.asarray(pipeline.decision_function(x, sample_domain=domain), dtype=np.float64)
    classes = np.asarray(pipeline[-1].base_estimator_.classes_)  # skada's selector
    logits = np.full((len(x), n_classes), -1e4)
    if raw.ndim == 1:  # binary: softmax([0, z]) is the logistic regression's probability
        logits[:, classes[0]] = 0.0
        logits[:, classes[1]] = raw
    else:
        logits[:, classes] = raw
    return logits


def fold_to_head(pipeline: Any, x_target: np.ndarray, n_classes: int) -> LinearHead:
    """The `LinearHead` equal to `pipeline` on target features; an error when it is not."""
    dim = x_target.shape[1]
    probes = np.vstack([np.zeros((1, dim)), np.eye(dim)])
    logits = target_logits(pipeline, probes, n_classes)
    bias = logits[0]
    weight = (logits[1:] - bias).T  # (classes, dim)
    head = LinearHead(np.zeros(dim), np.ones(dim), weight, bias)
    expected = _softmax(target_logits(pipeline, x_target, n_classes))
    gap = float(np.abs(head.predict_proba(x_target) - expected).max()) if len(x_target) else 0.0
    if not gap <= TOLERANCE:
        raise TransferKitError(
            f"the adapted model is not linear on the target features (probabilities differ by"
            f" {gap:.2g} from the linear head read off it), so it cannot be saved as a head:"
            " pick another --method."
        )
    return head


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out
