"""The LightningModule: a backbone and a new head, trained by a strategy."""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from transferkit.backbones import Backbone
from transferkit.finetune._config import TrainConfig
from transferkit.finetune._strategies import Strategy
from transferkit.heads._heads import ClassifierHead


class TransferModule(pl.LightningModule):
    """`backbone.forward_features` then a linear head; losses and accuracy per epoch."""

    def __init__(
        self,
        backbone: Backbone,
        n_classes: int,
        config: TrainConfig,
        strategy: Strategy,
        head: ClassifierHead | None = None,
    ):
        super().__init__()
        self.backbone = backbone
        self.backbone.model.train()  # built now, so its parameters exist for the optimizer
        self.head = head or ClassifierHead(backbone.feature_dim, n_classes)
        self.head.set_dropout(config.dropout)
        self.config = config
        self.strategy = strategy
        weighted = config.balance == "class-weight" and config.class_weights
        self.register_buffer(
            "class_weight",
            torch.tensor(config.class_weights, dtype=torch.float32) if weighted else None,
        )

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy (class-weighted when asked), or the focal loss with balance='focal'."""
        if self.config.balance == "focal":
            return focal_loss(logits, labels, self.config.focal_gamma)
        return nn.functional.cross_entropy(
            logits,
            labels,
            weight=self.class_weight,
            label_smoothing=self.config.label_smoothing,
        )

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        return self.backbone.trained_groups()

    def forward(self, inputs: Any) -> torch.Tensor:
        return self.head(self.backbone.forward_features(inputs))

    def training_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, labels = batch
        if labels.ndim == 2:  # several tasks: masked losses, combined by the task weights
            head = self.head
            loss = head.combined(head.task_losses(self(inputs), labels, self.loss))
        else:
            loss = self.loss(self(inputs), labels)
        self.log(
            "train_loss", loss, on_step=False, on_epoch=True, batch_size=len(labels), sync_dist=True
        )
        return loss

    def validation_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> None:
        inputs, labels = batch
        logits = self(inputs)
        n = len(labels)
        if labels.ndim == 2:
            self._validate_tasks(logits, labels)
            return
        # plain cross-entropy for validation: smoothing would blur the comparison
        loss = nn.functional.cross_entropy(logits, labels)
        accuracy = (logits.argmax(1) == labels).float().mean()
        self.log("val_loss", loss, on_epoch=True, batch_size=n, sync_dist=True, prog_bar=True)
        self.log(
            "val_accuracy", accuracy, on_epoch=True, batch_size=n, sync_dist=True, prog_bar=True
        )

    def _validate_tasks(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Several tasks: the summed loss, each task's accuracy on the samples labelled for
        it, and their mean as `val_accuracy` (what the best epoch is chosen by)."""
        head = self.head
        losses = [x for x in head.task_losses(logits, labels) if x is not None]
        n = len(labels)
        self.log("val_loss", torch.stack(losses).sum(), on_epoch=True, batch_size=n, sync_dist=True)
        accuracies = []
        for t, (name, part) in enumerate(zip(head.tasks, head.split(logits), strict=True)):
            known = labels[:, t] != -1
            if bool(known.any()):
                acc = (part[known].argmax(1) == labels[known, t]).float().mean()
                accuracies.append(acc)
                self.log(f"val_accuracy_{name}", acc, on_epoch=True, batch_size=int(known.sum()))
        accuracy = torch.stack(accuracies).mean()
        self.log("val_accuracy", accuracy, on_epoch=True, batch_size=n, sync_dist=True)

    def configure_optimizers(self) -> dict[str, Any]:
        return self.optimization(max(1, int(self.trainer.estimated_stepping_batches)))

    def optimization(self, total_steps: int) -> dict[str, Any]:
        """The optimizer over the strategy's groups and a per-step schedule of `total_steps`."""
        groups = self.strategy.param_groups(self)
        optimizer = build_optimizer(groups, self.config)
        factor = schedule_factor(self.config, total_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, [factor] * len(groups))
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float) -> torch.Tensor:
    """Lin et al. (2017): cross-entropy scaled by (1 - p_true)^gamma, so the many easy
    (majority) samples count less than the hard ones."""
    log_p = nn.functional.log_softmax(logits.float(), dim=1).gather(1, labels[:, None])[:, 0]
    return (-((1 - log_p.exp()) ** gamma) * log_p).mean()


def build_optimizer(groups: list[dict[str, Any]], config: TrainConfig) -> torch.optim.Optimizer:
    """One of torch's optimizers over the strategy's parameter groups."""
    wd = config.weight_decay
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            groups,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=wd,
        )
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=config.lr, momentum=config.momentum, weight_decay=wd)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr, weight_decay=wd)
    return torch.optim.AdamW(groups, lr=config.lr, weight_decay=wd)


def schedule_factor(config: TrainConfig, total_steps: int):
    """The multiplier of every group's rate at a step: optional linear warm-up, then the schedule.

    A multiplier (rather than one scheduler object per kind) lets a group that joins
    mid-training, as in gradual unfreezing, follow the same curve.
    """
    steps_per_epoch = max(1, total_steps // max(1, config.epochs))
    warmup = int(config.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        epoch = step // steps_per_epoch
        if config.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * progress))
        if config.schedule == "step":
            return config.gamma ** (epoch // max(1, config.step_size))
        if config.schedule == "exponential":
            return config.gamma**epoch
        if config.schedule == "onecycle":
            # Smith's one-cycle: up from lr/25 over the first 30 %, then cosine down to ~0
            if progress < 0.3:
                return 0.04 + 0.96 * progress / 0.3
            return 0.5 * (1 + math.cos(math.pi * (progress - 0.3) / 0.7))
        return 1.0

    return factor
