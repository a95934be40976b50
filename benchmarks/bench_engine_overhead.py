"""Does the Lightning engine cost throughput? A `finetune` epoch against a plain PyTorch loop.

Same model (efficientnet_lite0 + head), same parameter groups and optimizer, same data
loader (hymenoptera train split, batch 32, the same augmentation), same forward /
backward / step. Each side runs one warm-up epoch, then one timed epoch; validation is
left out of both. Prints images/second of each and the ratio Lightning / plain.

Run: python benchmarks/bench_engine_overhead.py
"""

from __future__ import annotations

import json
import time

import lightning.pytorch as pl
import torch

from transferkit.backbones import create_backbone
from transferkit.data import read_data
from transferkit.finetune._config import TrainConfig
from transferkit.finetune._data import make_loader
from transferkit.finetune._module import TransferModule
from transferkit.finetune._strategies import apply_batchnorm_mode, make_strategy
from transferkit.finetune._train import SeededEpochs

from _common import dataset

# settings
DATA = dataset("hymenoptera")
BATCH_SIZE = 32
SEED = 0


class EpochTimer(pl.Callback):
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.seconds.append(time.perf_counter() - self.start)


def build(config: TrainConfig):
    splits = read_data(DATA)
    backbone = create_backbone("efficientnet_lite0")
    strategy = make_strategy("finetune", config)
    module = TransferModule(backbone, len(splits.class_names), config, strategy)
    loader = make_loader(
        backbone,
        splits.train,
        train=True,
        batch_size=BATCH_SIZE,
        seed=SEED,
        augment=config,
        num_workers=0,
    )
    return module, strategy, loader, len(splits.train)


def lightning_epoch(config: TrainConfig) -> tuple[float, int]:
    module, strategy, loader, n = build(config)
    timer = EpochTimer()
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        gradient_clip_val=config.grad_clip,
        callbacks=[strategy, SeededEpochs(SEED), timer],
    )
    trainer.fit(module, loader)
    return timer.seconds[-1], n


def plain_epoch(config: TrainConfig) -> tuple[float, int]:
    module, strategy, loader, n = build(config)
    strategy.freeze_before_training(module)
    optimization = module.optimization(total_steps=2 * len(loader))
    optimizer = optimization["optimizer"]
    scheduler = optimization["lr_scheduler"]["scheduler"]
    seconds = 0.0
    for epoch in range(2):
        module.train()
        apply_batchnorm_mode(module.backbone, config.batchnorm)
        loader.sampler.set_epoch(epoch)
        torch.manual_seed(SEED + epoch)
        start = time.perf_counter()
        for x, y in loader:
            loss = module.loss(module(x), y)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
        seconds = time.perf_counter() - start
    return seconds, n


def main() -> None:
    config = TrainConfig(epochs=2, batch_size=BATCH_SIZE)
    plain_s, n = plain_epoch(config)
    lightning_s, _ = lightning_epoch(config)
    print(
        json.dumps(
            {
                "images": n,
                "plain_images_per_s": round(n / plain_s, 2),
                "lightning_images_per_s": round(n / lightning_s, 2),
                "lightning_over_plain": round(plain_s / lightning_s, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
