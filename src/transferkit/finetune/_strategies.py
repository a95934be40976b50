"""Strategies: which layer groups train, at which rate, and when they unfreeze.

A strategy is Lightning's fine-tuning callback with two hooks (`freeze_before_training`,
`finetune_function`) plus the rates of its parameter groups. Frozen BatchNorm layers are
kept in inference mode, so their running statistics never move, unless `batchnorm='all'`.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from transferkit._errors import TransferKitError, choice_error
from transferkit.finetune._config import TrainConfig

TRAINED_STRATEGIES = ("finetune", "top:K", "gradual", "lora", "scratch")


class Strategy(BaseFinetuning):
    """Base: everything in the backbone trains; subclasses freeze more."""

    name = "finetune"

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.config = config
        self.n_groups = 0

    # which groups train from the first epoch (indices into layer_groups, input first)
    def initial_groups(self, n_groups: int) -> list[int]:
        return list(range(n_groups))

    def group_rates(self, n_groups: int) -> list[float]:
        """The rate of each layer group (input first); the head trains at `config.lr`."""
        cfg = self.config
        if cfg.lr_low is not None and n_groups > 0:
            ratio = (cfg.lr / cfg.lr_low) ** (1 / n_groups)
            return [cfg.lr_low * ratio**i for i in range(n_groups)]
        return [cfg.lr * cfg.lr_decay ** (n_groups - i) for i in range(n_groups)]

    def param_groups(self, module: Any) -> list[dict[str, Any]]:
        groups = module.layer_groups()
        rates = self.group_rates(len(groups))
        out = [{"params": list(module.head.parameters()), "lr": self.config.lr, "name": "head"}]
        for i in self.initial_groups(len(groups)):
            name, modules = groups[i]
            params = [p for m in modules for p in m.parameters()]
            out.append({"params": params, "lr": rates[i], "name": name})
        return out

    def freeze_before_training(self, pl_module: pl.LightningModule) -> None:
        groups = pl_module.layer_groups()
        self.n_groups = len(groups)
        for p in pl_module.backbone.parameters():
            p.requires_grad = False  # parameters outside every group (pooler, classifier) too
        for i in self.initial_groups(len(groups)):
            for m in groups[i][1]:
                for p in m.parameters():
                    p.requires_grad = True

    def finetune_function(self, pl_module: pl.LightningModule, epoch: int, optimizer: Any) -> None:
        """Nothing changes per epoch for this strategy."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # On resume, the groups unfrozen before the checkpoint are back in the optimizer
        # and the scheduler's base rates are restored, but its multipliers are not
        # (functions are not saved): give every group the common multiplier again.
        for config in trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            if hasattr(scheduler, "lr_lambdas"):
                while len(scheduler.lr_lambdas) < len(scheduler.optimizer.param_groups):
                    scheduler.lr_lambdas.append(scheduler.lr_lambdas[0])
        # Lightning restores those groups into the optimizer but not `requires_grad`:
        # whatever the optimizer holds trains.
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                for p in group["params"]:
                    p.requires_grad = True

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        apply_batchnorm_mode(pl_module.backbone, self.batchnorm_mode())

    def batchnorm_mode(self) -> str:
        return self.config.batchnorm


class TopK(Strategy):
    """Only the last K layer groups (and the head) train."""

    def __init__(self, config: TrainConfig, k: int) -> None:
        super().__init__(config)
        self.k = k
        self.name = f"top:{k}"

    def initial_groups(self, n_groups: int) -> list[int]:
        if self.k > n_groups:
            raise TransferKitError(
                f"strategy top:{self.k} asks for more groups than the backbone has ({n_groups})."
            )
        return list(range(n_groups - self.k, n_groups))


class Gradual(Strategy):
    """The head for `head_epochs`, then one group more from the top every `unfreeze_every`."""

    name = "gradual"

    def initial_groups(self, n_groups: int) -> list[int]:
        return []

    def finetune_function(self, pl_module: pl.LightningModule, epoch: int, optimizer: Any) -> None:
        cfg = self.config
        since = epoch - cfg.head_epochs
        if since < 0 or since % cfg.unfreeze_every:
            return
        groups = pl_module.layer_groups()
        index = len(groups) - 1 - since // cfg.unfreeze_every
        if index < 0:
            return
        name, modules = groups[index]
        rate = self.group_rates(len(groups))[index]
        self.unfreeze_and_add_param_group(modules, optimizer, lr=rate, train_bn=True)
        optimizer.param_groups[-1]["name"] = name
        _extend_scheduler(pl_module.trainer, rate)


class Scratch(Strategy):
    """The same architecture from random weights, every layer at the head's rate."""

    name = "scratch"

    def group_rates(self, n_groups: int) -> list[float]:
        return [self.config.lr] * n_groups

    def batchnorm_mode(self) -> str:
        # random running statistics mean nothing: a network trained from scratch learns them
        return "trainable"


class Lora(Strategy):
    """Only the LoRA adapters (injected by `finetune._lora.inject`) and the head train,
    the adapters at the head's rate: every original weight stays frozen."""

    name = "lora"

    def initial_groups(self, n_groups: int) -> list[int]:
        return []

    def param_groups(self, module: Any) -> list[dict[str, Any]]:
        adapters = [p for n, p in module.backbone.named_parameters() if "lora_" in n]
        return [
            {"params": list(module.head.parameters()), "lr": self.config.lr, "name": "head"},
            {"params": adapters, "lr": self.config.lr, "name": "lora"},
        ]

    def freeze_before_training(self, pl_module: pl.LightningModule) -> None:
        self.n_groups = len(pl_module.layer_groups())
        for name, p in pl_module.backbone.named_parameters():
            p.requires_grad = "lora_" in name

    def batchnorm_mode(self) -> str:
        return "frozen"  # the network's own weights, statistics included, stay as they were


def apply_batchnorm_mode(module: nn.Module, mode: str) -> None:
    """Set each BatchNorm layer's mode as `mode` says (see TrainConfig.batchnorm): called at
    every epoch start, since a group unfrozen since the last epoch changes the answer."""
    for m in module.modules():
        if isinstance(m, _BatchNorm):
            trainable = any(p.requires_grad for p in m.parameters())
            m.train(mode == "all" or (mode == "trainable" and trainable))


def _extend_scheduler(trainer: pl.Trainer, rate: float) -> None:
    """A group added mid-training follows the same schedule as the others."""
    for config in trainer.lr_scheduler_configs:
        scheduler = config.scheduler
        if hasattr(scheduler, "lr_lambdas"):
            scheduler.lr_lambdas.append(scheduler.lr_lambdas[0])
            scheduler.base_lrs.append(rate)
            factor = scheduler.lr_lambdas[0](scheduler.last_epoch)
            scheduler.optimizer.param_groups[-1]["lr"] = rate * factor


def make_strategy(name: str, config: TrainConfig) -> Strategy:
    """The strategy object for a name: 'finetune', 'top:K', 'gradual' or 'scratch'."""
    if name == "finetune":
        return Strategy(config)
    if name == "gradual":
        return Gradual(config)
    if name == "scratch":
        return Scratch(config)
    if name == "lora":
        return Lora(config)
    if name.startswith("top:"):
        k = name[4:]
        if not k.isdigit() or int(k) < 1:
            raise TransferKitError(
                f"strategy {name!r}: K must be a positive integer, e.g. 'top:2'."
            )
        return TopK(config, int(k))
    raise choice_error("strategy", name, list(TRAINED_STRATEGIES))
