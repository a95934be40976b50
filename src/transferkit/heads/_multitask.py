"""Several tasks on one backbone: one head per task, losses masked where a sample lacks a
task's label, task weights equal or learned (uncertainty weighting, Kendall et al. 2018).

`MultiTaskHead` is a torch module whose output is every task's logits side by side, so
the training engine (Lightning module, prefix cache, checkpoints) runs it as it runs one
head; the labels of a batch are then a matrix, one column per task, -1 where missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.heads._heads import ClassifierHead

MISSING = -1  # a sample without a label for a task
WEIGHTINGS = ("equal", "uncertainty")


class MultiTaskHead(nn.Module):
    """One `ClassifierHead` per task over the same features; `log_vars` (uncertainty
    weighting) are learned with the heads."""

    def __init__(
        self,
        heads: list[ClassifierHead],
        tasks: list[str],
        class_names: list[list[str]],
        weighting: str = "equal",
    ) -> None:
        super().__init__()
        self.heads = nn.ModuleList(heads)
        self.tasks, self.class_names, self.weighting = list(tasks), class_names, weighting
        # log sigma^2 per task; fixed at 0 (weight 1) for equal weighting
        self.log_vars = nn.Parameter(torch.zeros(len(heads)), requires_grad=weighting != "equal")
        self.sizes = [int(h.n_classes) for h in heads]
        self.feature_dim = int(heads[0].in_dim)

    @property
    def n_classes(self) -> int:
        return self.sizes[0]  # the first task is the run's headline task

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(features) for head in self.heads], dim=1)

    def split(self, logits: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(logits, self.sizes, dim=1))

    def set_dropout(self, p: float) -> None:
        for head in self.heads:
            assert isinstance(head, ClassifierHead)
            head.set_dropout(p)

    def task_losses(
        self, logits: torch.Tensor, labels: torch.Tensor, loss: Any = None
    ) -> list[torch.Tensor | None]:
        """Each task's loss over the samples labelled for it (None: none in the batch). A
        sample without a task's label adds nothing to that head's gradient."""
        loss = loss or nn.functional.cross_entropy
        out: list[torch.Tensor | None] = []
        for t, part in enumerate(self.split(logits)):
            known = labels[:, t] != MISSING
            out.append(loss(part[known], labels[known, t]) if bool(known.any()) else None)
        return out

    def combined(self, losses: list[torch.Tensor | None]) -> torch.Tensor:
        """The training loss: the sum of the tasks' losses, each scaled by exp(-s) plus s
        (s = log sigma^2, learned) with uncertainty weighting; plainly summed otherwise."""
        total = self.log_vars.sum() * 0.0  # keeps the graph when a batch has no labels
        for s, task_loss in zip(self.log_vars, losses, strict=True):
            if task_loss is None:
                continue
            total = total + (
                torch.exp(-s) * task_loss + s if self.weighting != "equal" else task_loss
            )
        return total

    def loss_weights(self) -> dict[str, float]:
        """The weight each task's loss gets now (exp(-s))."""
        weights = torch.exp(-self.log_vars.detach()).tolist()
        return {t: round(float(w), 4) for t, w in zip(self.tasks, weights, strict=True)}

    @torch.inference_mode()
    def predict_proba_tasks(self, features: np.ndarray) -> list[np.ndarray]:
        self.eval()
        logits = self(torch.as_tensor(features, dtype=torch.float32))
        return [torch.softmax(p.double(), dim=1).numpy() for p in self.split(logits)]

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """The first task's probabilities (what single-task code reads)."""
        return self.predict_proba_tasks(features)[0]

    def config(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "class_names": self.class_names,
            "weighting": self.weighting,
            "heads": [h.config() for h in self.heads if isinstance(h, ClassifierHead)],
        }


def save_multitask_head(head: MultiTaskHead, folder: Path) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous() for k, v in head.state_dict().items()}
    save_file(tensors, str(folder / "head.safetensors"))
    (folder / "head.json").write_text(json.dumps(head.config(), indent=2), encoding="utf-8")


def load_multitask_head(config: dict[str, Any], folder: Path) -> MultiTaskHead:
    from safetensors.torch import load_file

    heads = [ClassifierHead(**c) for c in config["heads"]]
    head = MultiTaskHead(heads, config["tasks"], config["class_names"], config["weighting"])
    head.load_state_dict(load_file(str(folder / "head.safetensors")), strict=True)
    return head.eval()


def save_any_head(head: Any, folder: Path) -> None:
    """A run's head: several tasks' heads, or one (NumPy or torch)."""
    from transferkit.heads._heads import save_head

    if isinstance(head, MultiTaskHead):
        save_multitask_head(head, folder)
    else:
        save_head(head, folder)


def load_any_head(folder: Path) -> Any:
    """The head a run saved: a `MultiTaskHead` when head.json names tasks, else one head."""
    from transferkit.heads._heads import load_head

    config = json.loads((folder / "head.json").read_text(encoding="utf-8"))
    return load_multitask_head(config, folder) if "tasks" in config else load_head(folder)
