"""The logistic head in NumPy: what the `features` strategy fits, scores and saves without
importing torch (a fit whose embeddings are all cached never needs it).

`LinearHead` is the same function as a linear `ClassifierHead` (standardisation, then one
linear layer, softmax), saved under the same tensor names, so `load_head` reads it back as
a torch module for prediction, export and fine-tuning.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np


class LinearHead:
    """Standardisation and a linear layer, float32 like its torch twin."""

    def __init__(
        self, mean: np.ndarray, scale: np.ndarray, weight: np.ndarray, bias: np.ndarray
    ) -> None:
        self.mean = np.asarray(mean, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)
        self.weight = np.asarray(weight, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        x = (np.asarray(features, dtype=np.float32) - self.mean) / self.scale
        logits = (x @ self.weight.T + self.bias).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        proba: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
        return proba

    def config(self) -> dict[str, Any]:
        n_classes, in_dim = self.weight.shape
        return {"in_dim": int(in_dim), "n_classes": int(n_classes), "hidden": 0, "dropout": 0.0}

    def state_dict(self) -> dict[str, np.ndarray]:
        """The tensors under the names of a linear `ClassifierHead` (its `net.1` layer)."""
        return {
            "mean": self.mean,
            "scale": self.scale,
            "net.1.weight": self.weight,
            "net.1.bias": self.bias,
        }


def save_linear_head(head: LinearHead, folder: Path, info: dict[str, Any] | None = None) -> None:
    """head.safetensors and head.json, as `save_head` writes them for a torch head (with
    the fit's `info` too, for the feature cache's copy)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: np.ascontiguousarray(v) for k, v in head.state_dict().items()}
    save_file(tensors, str(folder / "head.safetensors"))
    config: dict[str, Any] = head.config()
    if info is not None:
        config = {**config, "fitted": info}
    (folder / "head.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def load_linear_head(folder: Path, key: str) -> tuple[LinearHead, dict[str, Any]]:
    """The head and fit info `FeatureCache.write_head` kept as `key.head.*` in `folder`."""
    from safetensors.numpy import load_file

    config = json.loads((folder / f"{key}.head.json").read_text(encoding="utf-8"))
    tensors = load_file(str(folder / f"{key}.head.safetensors"))
    head = LinearHead(
        tensors["mean"], tensors["scale"], tensors["net.1.weight"], tensors["net.1.bias"]
    )
    if head.config() != {k: v for k, v in config.items() if k != "fitted"}:
        raise ValueError("the kept head's shape does not match its tensors")
    return head, dict(config["fitted"])


def standardiser(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale from scikit-learn's StandardScaler (float64), kept as plain arrays.

    StandardScaler only leaves a feature unscaled when it is constant relative to its
    mean; MiniLM has dimensions around 1e-33 that vary and carry signal (scaling them
    moves sms_spam accuracy by 0.2 points), so an absolute threshold would be wrong.
    """
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features.astype(np.float64))
    return scaler.mean_, scaler.scale_


def train_logistic(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    seed: int,
    class_weight: np.ndarray | None = None,
) -> tuple[LinearHead, dict[str, Any]]:
    """scikit-learn logistic regression, its C chosen by stratified CV on the training split."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    mean, scale = standardiser(features)
    x = (features.astype(np.float64) - mean) / scale
    folds = int(min(5, np.bincount(labels, minlength=n_classes)[np.unique(labels)].min()))
    folds = max(folds, 2)
    cs = np.logspace(-4, 1, 6)  # one decade apart: the CV curve is flat within a decade
    weights = None if class_weight is None else {i: float(w) for i, w in enumerate(class_weight)}
    model = LogisticRegressionCV(
        Cs=cs,
        cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        scoring="neg_log_loss",
        max_iter=2000,
        tol=1e-4,
        class_weight=weights,
    )
    with warnings.catch_warnings():
        # scikit-learn 1.8+ announces parameter renames; the behaviour used here is unchanged.
        warnings.simplefilter("ignore", FutureWarning)
        model.fit(x, labels)
    weight = np.zeros((n_classes, features.shape[1]), dtype=np.float32)
    bias = np.zeros(n_classes, dtype=np.float32)
    present = model.classes_
    if len(present) == 2 and model.coef_.shape[0] == 1:
        # binary: softmax([0, z]) == [1 - sigmoid(z), sigmoid(z)]
        weight[present[1]], bias[present[1]] = model.coef_[0], model.intercept_[0]
    else:
        weight[present], bias[present] = model.coef_, model.intercept_
    absent = np.setdiff1d(np.arange(n_classes), present)
    bias[absent] = -1e4  # a class never seen in training is never predicted
    c = float(np.atleast_1d(model.C_)[0])
    info = {"kind": "logistic", "C": c, "cv_folds": folds, "C_grid": [float(v) for v in cs]}
    return LinearHead(mean, scale, weight, bias), info
