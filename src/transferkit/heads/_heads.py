"""Classifier heads as torch modules (linear and MLP heads trained on cached embeddings,
the heads trained strategies fine-tune), saved as safetensors + JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.heads._linear import LinearHead, save_linear_head, standardiser


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


def train_torch(
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
    mean, scale = standardiser(features)
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


def as_module(head: ClassifierHead | LinearHead) -> ClassifierHead:
    """A torch module for any head: a NumPy `LinearHead` becomes the equal `ClassifierHead`
    (fine-tuning starts from the logistic probe)."""
    if isinstance(head, ClassifierHead):
        return head
    module = ClassifierHead(**head.config())
    tensors = {k: torch.from_numpy(v.copy()) for k, v in head.state_dict().items()}
    module.load_state_dict(tensors)
    return module  # in train mode, as a new module is: training starts from it


def save_head(head: ClassifierHead | LinearHead, folder: Path) -> None:
    """head.safetensors (the tensors) and head.json (the shape) in `folder`."""
    if isinstance(head, LinearHead):
        save_linear_head(head, folder)
        return
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
