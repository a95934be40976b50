"""Classifier heads trained on cached embeddings, saved as safetensors + JSON."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit._errors import choice_error
from transferkit.config._choices import HEADS
from transferkit.heads._balance import resample


class ClassifierHead(nn.Module):
    """Standardisation (folded in as buffers) followed by a linear layer or a small MLP."""

    def __init__(self, in_dim: int, n_classes: int, hidden: int = 0, dropout: float = 0.0):
        super().__init__()
        self.in_dim, self.n_classes, self.hidden, self.dropout_p = (
            in_dim,
            n_classes,
            hidden,
            dropout,
        )
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("scale", torch.ones(in_dim))
        if hidden > 0:
            self.net = nn.Sequential(
                nn.Dropout(dropout),
                nn.Linear(in_dim, hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, n_classes),
            )
        else:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, n_classes))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net((features - self.mean) / self.scale)

    def set_dropout(self, p: float) -> None:
        """Change the dropout rate (a probe-trained head is fine-tuned with dropout)."""
        self.dropout_p = p
        for module in self.net:
            if isinstance(module, nn.Dropout):
                module.p = p

    def config(self) -> dict[str, Any]:
        return {
            "in_dim": self.in_dim,
            "n_classes": self.n_classes,
            "hidden": self.hidden,
            "dropout": self.dropout_p,
        }

    @torch.inference_mode()
    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        self.eval()
        logits = self(torch.as_tensor(features, dtype=torch.float32))
        return torch.softmax(logits.double(), dim=1).numpy()


def _standardiser(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale from scikit-learn's StandardScaler (float64), kept as plain arrays.

    StandardScaler only leaves a feature unscaled when it is constant relative to its
    mean; MiniLM has dimensions around 1e-33 that vary and carry signal (scaling them
    moves sms_spam accuracy by 0.2 points), so an absolute threshold would be wrong.
    """
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features.astype(np.float64))
    return scaler.mean_, scaler.scale_


def train_head(
    kind: str,
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    seed: int = 0,
    class_weight: np.ndarray | None = None,
) -> tuple[ClassifierHead, dict[str, Any]]:
    """Train a head of `kind` ('logistic', 'linear' or 'mlp') on training embeddings only;
    `class_weight` (one per class) weights each class's loss."""
    if kind not in HEADS:
        raise choice_error("head", kind, list(HEADS))
    if kind == "logistic":
        head, info = _train_logistic(features, labels, n_classes, seed, class_weight)
    else:
        hidden = 256 if kind == "mlp" else 0
        head, info = _train_torch(features, labels, n_classes, hidden, seed, class_weight)
    if class_weight is not None:
        info["class_weight"] = [float(w) for w in class_weight]
    return head, info


def _train_logistic(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    seed: int,
    class_weight: np.ndarray | None = None,
) -> tuple[ClassifierHead, dict[str, Any]]:
    """scikit-learn logistic regression, its C chosen by stratified CV on the training split."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    mean, scale = _standardiser(features)
    x = (features.astype(np.float64) - mean) / scale
    folds = int(min(5, np.bincount(labels, minlength=n_classes)[np.unique(labels)].min()))
    folds = max(folds, 2)
    cs = np.logspace(-4, 1, 6)  # one decade apart: the CV curve is flat within a decade
    model = LogisticRegressionCV(
        Cs=cs,
        cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        scoring="neg_log_loss",
        max_iter=2000,
        tol=1e-4,
        class_weight=None
        if class_weight is None
        else {i: float(w) for i, w in enumerate(class_weight)},
    )
    with warnings.catch_warnings():
        # scikit-learn 1.8+ announces parameter renames; the behaviour used here is unchanged.
        warnings.simplefilter("ignore", FutureWarning)
        model.fit(x, labels)
    head = ClassifierHead(features.shape[1], n_classes)
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
    with torch.no_grad():
        head.mean.copy_(torch.from_numpy(mean))
        head.scale.copy_(torch.from_numpy(scale))
        head.net[-1].weight.copy_(torch.from_numpy(weight))
        head.net[-1].bias.copy_(torch.from_numpy(bias))
    c = float(np.atleast_1d(model.C_)[0])
    return head, {"kind": "logistic", "C": c, "cv_folds": folds, "C_grid": [float(v) for v in cs]}


def _train_torch(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    hidden: int,
    seed: int,
    class_weight: np.ndarray | None = None,
    epochs: int = 100,
    lr: float = 1e-3,
    weight_decay: float = 1e-2,
    dropout: float = 0.2,
    batch_size: int = 64,
) -> tuple[ClassifierHead, dict[str, Any]]:
    """A linear or MLP head trained with AdamW on the cached embeddings (no backbone runs)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        head = ClassifierHead(features.shape[1], n_classes, hidden=hidden, dropout=dropout)
    mean, scale = _standardiser(features)
    with torch.no_grad():
        head.mean.copy_(torch.from_numpy(mean))
        head.scale.copy_(torch.from_numpy(scale))
    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.long)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    head.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(head(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
    head.eval()
    info = {
        "kind": "mlp" if hidden else "linear",
        "hidden": hidden,
        "epochs": epochs,
        "lr": lr,
        "weight_decay": weight_decay,
        "dropout": dropout,
        "final_loss": loss.item(),
    }
    return head, info


def save_head(head: ClassifierHead, folder: Path) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in head.state_dict().items()}, str(folder / "head.safetensors")
    )
    (folder / "head.json").write_text(json.dumps(head.config(), indent=2), encoding="utf-8")


def load_head(folder: Path) -> ClassifierHead:
    from safetensors.torch import load_file

    config = json.loads((folder / "head.json").read_text(encoding="utf-8"))
    head = ClassifierHead(**config)
    head.load_state_dict(load_file(str(folder / "head.safetensors")), strict=True)
    head.eval()
    return head


def balanced_head(
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    seed: int,
    balance: str,
    weights: np.ndarray | None,
) -> tuple[ClassifierHead, dict[str, Any]]:
    """A head on training embeddings, resampled first or class-weighted as `balance` says."""
    resampled = None
    if balance in ("oversample", "undersample", "smote", "adasyn"):
        x, y, resampled = resample(x, y, balance, seed)
    head, info = train_head(kind, x, y, n_classes, seed, class_weight=weights)
    info["balance"] = balance
    if resampled:
        info["resampled"] = resampled
    return head, info
