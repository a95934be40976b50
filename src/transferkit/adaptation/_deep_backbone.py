"""Deep domain adaptation on the backbone's top layer groups (`adapt --strategy top:K`).

The same methods as over cached features (`_deep`: DANN, CDAN+E, MCC, DAN, with the
same adapter head and domain losses), but the loss also reaches the last K layer groups
of the backbone, which train at the fine-tuning engine's discriminative rates. It is the
fine-tuning engine's module and strategy (`finetune`): the same freezing, BatchNorm
policy and prefix cache (the frozen groups below the cut run once per input, on an
image backbone that can be split), Lightning's checkpoints every epoch and resume.

Mixed batches as over features: every step one class-balanced batch of source inputs and
one batch of target inputs, both seen without augmentation (the domain loss compares the
domains as they are). The target's labels are never part of a batch.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from transferkit.adaptation._deep import (
    DomainSampler,
    adaptation_trainer,
    adapter_head,
    domain_loader,
    fit_quietly,
)
from transferkit.adaptation._domain_loss import DomainLoss, annealed_rate
from transferkit.backbones import Backbone
from transferkit.data import Dataset
from transferkit.features._cache import FeatureCache
from transferkit.finetune._config import TrainConfig
from transferkit.finetune._module import TransferModule, build_optimizer
from transferkit.finetune._strategies import Strategy, make_strategy


class TopGroupsModule(TransferModule):
    """The backbone (its top K groups trainable), the adapter head and the domain loss."""

    def __init__(
        self,
        backbone: Backbone,
        head: Any,
        config: TrainConfig,
        strategy: Strategy,
        method: str,
        total_steps: int,
        cut: int | None,
        tradeoff: float = 1.0,
    ) -> None:
        super().__init__(backbone, head.n_classes, config, strategy, head)
        self.domain = DomainLoss(method, head.hidden, head.n_classes, tradeoff, config.seed)
        self.total_steps, self.cut = max(1, total_steps), cut

    def features(self, inputs: Any) -> torch.Tensor:
        """The backbone's features: from cached prefix outputs when there is a cut."""
        backbone: Any = self.backbone
        if self.cut is not None:
            out: torch.Tensor = backbone.forward_suffix(inputs, self.cut)
        else:
            out = backbone.forward_features(inputs)
        return out

    def forward(self, inputs: Any) -> torch.Tensor:
        out: torch.Tensor = self.head(self.features(inputs))
        return out

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        xs, ys = batch["source"]
        fs, ft = self.features(xs), self.features(batch["target"][0])
        progress = min(1.0, self.global_step / self.total_steps)
        return self.domain.step(self, fs, ft, ys, progress)

    def optimization(self, total_steps: int) -> dict[str, Any]:
        """The strategy's groups (head at `lr`, the top groups at their discriminative
        rates) and the discriminator at the head's rate, on Ganin et al.'s annealing."""
        groups = self.strategy.param_groups(self)
        extra = list(self.domain.parameters())
        if extra:
            groups.append({"params": extra, "lr": self.config.lr, "name": "domain"})
        optimizer = build_optimizer(groups, self.config)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, annealed_rate(self.total_steps))
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def train_top_groups(
    backbone: Backbone,
    source: Dataset,
    target: Dataset,
    method: str,
    strategy_name: str,
    config: TrainConfig,
    pooled: np.ndarray,
    cache: FeatureCache,
    checkpoint: tuple[Path, str, bool] | None,
    hidden: int = 256,
) -> Any:
    """Train `backbone`'s top groups (in place) and an adapter head with `method`'s domain
    loss on labelled `source` and `target` (its labels unread); return the head. `pooled`
    (both domains' features before training) sets the head's centring and its one scale;
    with
    `checkpoint` (run folder, name, resume) it checkpoints every epoch and resumes."""
    from transferkit.finetune._train import (
        balanced_sample_weights,
        prefix_cut,
        quiet_lightning,
        trainer_devices,
    )

    quiet_lightning()
    seed = config.seed
    strategy = make_strategy(strategy_name, config)
    strategy.initial_groups(len(backbone.trained_groups()))  # top:K too large fails here
    n_classes = len(source.class_names)
    head = adapter_head(pooled, n_classes, hidden, seed)
    with torch.no_grad():
        # one scale for every feature, not one each: the backbone's features move as it
        # trains, and a dimension that barely varied before (scaled up a thousandfold)
        # would turn its small moves into large ones (DANN on minilm's top layer fell to
        # chance on amazon -> yelp with per-feature scales; 0.879 with one)
        head.get_buffer("scale").fill_(float(np.std(pooled)))
    cut = prefix_cut(backbone, strategy, config) if backbone.modality != "text" else None
    batch = int(min(config.batch_size, len(source), len(target)))
    steps_per_epoch = max(math.ceil(len(source) / batch), math.ceil(len(target) / batch))
    total = config.epochs * steps_per_epoch
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = TopGroupsModule(backbone, head, config, strategy, method, total, cut)
    weights = balanced_sample_weights(np.unique(source.labels, return_inverse=True)[1])
    draws = steps_per_epoch * batch
    sets, collate = _datasets(backbone, source, unlabelled(target), cut, config, cache)
    samplers = (
        DomainSampler(len(source), draws, seed, weights),
        DomainSampler(len(target), draws, seed + 7919),
    )
    loaders = {
        name: domain_loader(data, sampler, batch, collate)
        for name, data, sampler in zip(("source", "target"), sets, samplers, strict=True)
    }
    trainer, ckpt_path = adaptation_trainer(
        config.epochs,
        seed,
        checkpoint,
        callbacks=[strategy],
        accelerator=config.accelerator,
        devices=trainer_devices(config),
        precision=config.precision,
        grad_clip=config.grad_clip,
    )
    fit_quietly(trainer, module, loaders, ckpt_path)
    backbone.model.eval()
    backbone.weights_digest = state_digest(backbone.model)  # its features are new ones
    return head.eval()


def unlabelled(data: Dataset) -> Dataset:
    """`data` with every label 0: what training sees of the target."""
    return Dataset(
        inputs=list(data.inputs),
        labels=np.zeros(len(data), dtype=int),
        class_names=data.class_names,
        modality=data.modality,
        refs=list(data.refs),
    )


def _datasets(
    backbone: Any,
    source: Dataset,
    target: Dataset,
    cut: int | None,
    config: TrainConfig,
    cache: FeatureCache,
) -> tuple[tuple[Any, Any], Any]:
    """(source, target) torch datasets and their collate function: cached prefix outputs
    of images, images, or texts tokenised per batch."""
    from transferkit.finetune._data import ImageItems, TextItems, TokenCollate

    if cut is not None:
        from transferkit.finetune._prefix import prefix_outputs

        transform = backbone.transform()

        def outputs(data: Dataset) -> torch.Tensor:
            x = prefix_outputs(backbone, data, cut, transform, "eval", "", cache, config.batch_size)
            return torch.from_numpy(x)

        return (
            TensorDataset(outputs(source), torch.from_numpy(source.labels.astype(np.int64))),
            TensorDataset(outputs(target)),
        ), None
    if backbone.modality in ("image", "audio"):
        cfg = backbone.config
        draft = int((cfg.input_size or 0) / (cfg.crop_pct or 1.0))
        transform, opener = backbone.transform(), backbone.open_input
        return (
            ImageItems(source, transform, draft, config.seed, opener),
            ImageItems(target, transform, draft, config.seed, opener),
        ), None
    return (TextItems(source), TextItems(target)), TokenCollate(backbone)


def state_digest(model: torch.nn.Module) -> str:
    """A digest of a network's weights (what its features now depend on)."""
    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode())
        flat = value.detach().cpu().reshape(-1).contiguous()
        h.update(flat.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:32]
