"""The training engine: Lightning's Trainer with atomic checkpoints, seeded epochs, history."""

from __future__ import annotations

import csv
import io
import logging
import os
import random
import time
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from transferkit._errors import TransferKitError
from transferkit.backbones import Backbone
from transferkit.data import DataSplits
from transferkit.features._cache import FeatureCache
from transferkit.finetune._config import TrainConfig
from transferkit.finetune._data import make_loader
from transferkit.finetune._module import TransferModule
from transferkit.finetune._strategies import Gradual, TopK, make_strategy
from transferkit.heads._heads import ClassifierHead
from transferkit.runs._files import read_history
from transferkit.runs._folder import inside, output_path, record, write_text


def quiet_lightning() -> None:
    """No "GPU available: False" chatter from Lightning's loggers."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write to a temporary file, then rename: a kill during the write leaves the old file.
    Checkpoints stay inside the run folder `root` and are listed in its manifest."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = Path(root)

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None
    ) -> None:
        # ModelCheckpoint writes only into root/checkpoints (it hands over a resolved path)
        name = f"checkpoints/{Path(path).name}"
        path = output_path(self.root, name)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        os.replace(tmp, path)
        record(self.root, name)


class SeededEpochs(Callback):
    """Each epoch's shuffle, augmentation and dropout depend on (seed, epoch) only.

    So a run resumed from the checkpoint of epoch k replays epochs k+1... exactly as the
    uninterrupted run did.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        # At the first batch, not at epoch start: when the loader's iterator is created (it
        # draws from the global generator) differs between a fresh and a resumed run.
        # The shuffle itself is EpochSampler's, which Lightning gives the epoch.
        if batch_idx == 0:
            seed = (self.seed * 1_000_003 + trainer.current_epoch) % (2**31 - 1)
            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)


class History(Callback):
    """One row per epoch in `history.csv`: losses, accuracy and the rate of every group."""

    def __init__(self, root: Path, name: str = "history.csv") -> None:
        self.root, self.name = root, name
        self.path = output_path(root, name)  # inside the run folder, never through a link

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # after a checkpoint is restored, so current_epoch is the first epoch still to run
        if trainer.is_global_zero and self.path.exists():
            # resuming: keep the rows of the epochs the checkpoint already holds
            rows = [r for r in self._rows() if int(r["epoch"]) < trainer.current_epoch]
            self._write(rows, mode="w")

    def _rows(self) -> list[dict[str, Any]]:
        return read_history(self.root, self.name)  # checked: a damaged file is one line

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # the rates each group starts the epoch with (groups unfrozen this epoch included)
        self._start = time.perf_counter()
        self._rates = {
            f"lr_{g.get('name', '?')}": f"{g['lr']:.3e}" for g in trainer.optimizers[0].param_groups
        }

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        row: dict[str, Any] = {"epoch": trainer.current_epoch}
        tasks = sorted(k for k in metrics if k.startswith("val_accuracy_"))
        for key in ("train_loss", "val_loss", "val_accuracy", *tasks):
            row[key] = round(metrics[key], 6) if key in metrics else ""
        row["seconds"] = round(time.perf_counter() - self._start, 3)  # training + validation
        row.update(getattr(self, "_rates", {}))
        self._write([row], mode="a")

    def _write(self, rows: list[dict[str, Any]], mode: str) -> None:
        existing: list[dict[str, Any]] = []
        if mode == "a" and self.path.exists():
            existing = self._rows()
        rows = existing + rows
        columns: list[str] = []
        for r in rows:
            columns.extend(k for k in r if k not in columns)
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
        write_text(self.root, self.name, buffer.getvalue())  # atomic, never through a link


def train(
    backbone: Backbone,
    splits: DataSplits,
    strategy_name: str,
    config: TrainConfig,
    run_dir: Path,
    *,
    show_progress: bool,
    resume: bool = False,
    head: ClassifierHead | None = None,
    cache: FeatureCache | None = None,
) -> TransferModule:
    """Train `backbone` + a new head with a strategy; returns the module with the best weights."""
    quiet_lightning()
    pl.seed_everything(config.seed, workers=True, verbose=False)
    strategy = make_strategy(strategy_name, config)
    cut = prefix_cut(backbone, strategy, config)
    n_classes = len(splits.class_names)
    if cut is not None and cache is not None and backbone.modality == "text":
        from transferkit.finetune._text_prefix import (
            TextPrefixModule,
            fits_one_window,
            text_prefix_loaders,
        )

        if fits_one_window(backbone, splits.train) and fits_one_window(backbone, splits.val):
            loaders = text_prefix_loaders(backbone, splits, cut, config, cache)
            module = TextPrefixModule(backbone, n_classes, config, strategy, head, cut=cut)
        else:  # a text of several windows: each epoch reads every text whole
            module = TransferModule(backbone, n_classes, config, strategy, head)
            loaders = _loaders(backbone, splits, config)
    elif cut is not None and cache is not None:
        from transferkit.finetune._prefix import PrefixModule, prefix_loaders

        loaders = prefix_loaders(backbone, splits, cut, config, cache)
        module = PrefixModule(backbone, n_classes, config, strategy, head, cut=cut)
    elif _moving_prefix(backbone, strategy, config) and cache is not None:
        from transferkit.finetune._prefix import MovingPrefixModule, epoch_loaders, gradual_cuts

        cuts = gradual_cuts(backbone, config)
        per_epoch = epoch_loaders(
            backbone, splits, config, cache, cuts, lambda: _loaders(backbone, splits, config)
        )
        module = MovingPrefixModule(
            backbone,
            n_classes,
            config,
            strategy,
            head,
            cut_of_epoch=cuts,
            loaders_of_epoch=per_epoch,
        )
        loaders = {"train": None, "val": None}  # the module gives each epoch's loaders
    else:
        module = TransferModule(backbone, len(splits.class_names), config, strategy, head)
        loaders = _loaders(backbone, splits, config)
    return _fit_module(module, strategy, loaders, config, run_dir, show_progress, resume)


def prefix_cut(backbone: Backbone, strategy: Any, config: TrainConfig) -> int | None:
    """Where the frozen prefix ends, when it can be cached (top:K on a sequential network)."""
    if not config.prefix_cache or config.ddp or not isinstance(strategy, TopK):
        return None
    if config.batchnorm == "all":
        return None  # frozen BatchNorm layers must see the data to update their statistics
    if getattr(backbone, "windows", 1) > 1:
        return None  # several windows per file: the prefix cache keeps one input per file
    cut = len(backbone.trained_groups()) - strategy.k
    supported = getattr(backbone, "prefix_split_supported", None)
    return cut if supported is not None and cut >= 1 and supported(cut) else None


def _moving_prefix(backbone: Backbone, strategy: Any, config: TrainConfig) -> bool:
    """True when `gradual` can train on cached prefixes (the cut moving down each epoch)."""
    if not config.prefix_cache or config.ddp or not isinstance(strategy, Gradual):
        return False
    if backbone.modality == "text":
        return False  # texts cache one cut (top:K); gradual's moving cut is for images
    supported = getattr(backbone, "prefix_split_supported", None)
    single = getattr(backbone, "windows", 1) == 1
    return config.batchnorm != "all" and single and supported is not None and supported(1)


def _loaders(backbone: Backbone, splits: DataSplits, config: TrainConfig) -> dict[str, Any]:
    return {
        name: make_loader(
            backbone,
            getattr(splits, name),
            train=name == "train",
            batch_size=config.batch_size,
            seed=config.seed,
            augment=config if config.augment else None,
            num_workers=config.num_workers,
            sample_weights=balanced_sample_weights(splits.train.labels)
            if name == "train" and config.balance == "sampler"
            else None,
        )
        for name in ("train", "val")
    }


def balanced_sample_weights(labels: np.ndarray) -> np.ndarray:
    """Per-sample weights that draw every class equally often (1 / its count)."""
    return 1.0 / np.bincount(labels)[labels]


def _fit_module(
    module: TransferModule,
    strategy: Any,
    loaders: dict[str, Any],
    config: TrainConfig,
    run_dir: Path,
    show_progress: bool,
    resume: bool,
) -> TransferModule:
    checkpoints = run_dir / "checkpoints"
    mode = "max" if config.monitor == "val_accuracy" else "min"
    by_val = config.select == "best"  # else a fixed budget: the last epoch is kept
    val = loaders["val"]
    if val is not None and not len(val.dataset):
        val = None  # every labelled row trains (tiny data with a test split)
    best = ModelCheckpoint(
        dirpath=checkpoints,
        filename="best",
        monitor=config.monitor if by_val else None,
        mode=mode,
        save_top_k=1,
        save_last=True,
        every_n_epochs=1,
        enable_version_counter=False,
    )
    callbacks: list[Callback] = [
        strategy,
        SeededEpochs(config.seed),
        best,
        History(run_dir),
    ]
    if config.patience and by_val:
        callbacks.append(EarlyStopping(monitor=config.monitor, mode=mode, patience=config.patience))
    if config.stop_below is not None:
        # a run that falls below its starting point (auto's features model) stops there
        callbacks.append(
            EarlyStopping(
                monitor="val_accuracy",
                mode="max",
                patience=config.epochs + 1,
                divergence_threshold=config.stop_below,
            )
        )
    trainer = pl.Trainer(
        max_epochs=config.epochs,
        accelerator=config.accelerator,
        devices=trainer_devices(config),
        strategy="ddp" if config.ddp else "auto",
        precision=config.precision,
        gradient_clip_val=config.grad_clip,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO(run_dir)],
        logger=False,
        default_root_dir=str(run_dir),
        enable_progress_bar=show_progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=False,
        reload_dataloaders_every_n_epochs=1 if loaders["train"] is None else 0,
    )
    ckpt = inside(run_dir, "checkpoints/last.ckpt") if resume else None
    ckpt = check_checkpoint(ckpt) if ckpt is not None and ckpt.exists() else None
    with warnings.catch_warnings():
        # few batches per epoch and no worker processes are deliberate on small data
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*number of training batches.*")
        # no validation split: tiny data trains on every row for a fixed budget
        warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
        # weights_only: a checkpoint is tensors and plain values, never code to unpickle
        trainer.fit(module, loaders["train"], val, ckpt_path=ckpt, weights_only=True)
    if trainer.global_rank != 0:
        # DDP workers other than rank 0 are done: evaluation and the run folder are rank 0's
        raise SystemExit(0)
    if by_val:
        _restore_best(module, Path(best.best_model_path) if best.best_model_path else None)
    return module


def check_checkpoint(path: Path) -> Path:
    """`path` when it loads as a checkpoint (tensors and plain values only); a truncated or
    damaged file is a one-line error naming it."""
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged zip or pickle
        raise TransferKitError(
            f"checkpoint {str(path)!r} is damaged ({type(exc).__name__}:"
            f" {str(exc).splitlines()[0][:100] if str(exc) else 'unreadable'}): delete it to"
            " restart training from the beginning, or restore it."
        ) from exc
    return path


def trainer_devices(config: TrainConfig) -> int | list[int]:
    """Lightning's `devices`: a count, or the one GPU a "cuda:N" device names."""
    if config.device_index is not None and config.devices == 1 and config.accelerator == "gpu":
        return [config.device_index]
    return config.devices


def _restore_best(module: TransferModule, path: Path | None) -> None:
    """Early stopping or not, the model kept is the best epoch's (by the monitored metric)."""
    if path is None or not path.exists():
        return
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(state)


def find_lr(
    backbone: Backbone,
    splits: DataSplits,
    strategy_name: str,
    config: TrainConfig,
    *,
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    steps: int = 60,
    head: ClassifierHead | None = None,
) -> tuple[float | None, list[float], list[float]]:
    """Lightning's learning-rate range test: (suggested rate, rates tried, smoothed losses)."""
    from lightning.pytorch.tuner import Tuner

    quiet_lightning()
    pl.seed_everything(config.seed, workers=True, verbose=False)
    strategy = make_strategy(strategy_name, config)
    module = TransferModule(backbone, len(splits.class_names), config, strategy, head)
    loader = make_loader(
        backbone,
        splits.train,
        train=True,
        batch_size=config.batch_size,
        seed=config.seed,
        augment=config if config.augment else None,
        num_workers=config.num_workers,
    )
    trainer = pl.Trainer(
        max_epochs=config.epochs,
        accelerator=config.accelerator,
        devices=1,
        logger=False,
        callbacks=[strategy],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
        finder = Tuner(trainer).lr_find(
            module,
            train_dataloaders=loader,
            min_lr=min_lr,
            max_lr=max_lr,
            num_training=steps,
            update_attr=False,
        )
    rates = [float(v) for v in finder.results["lr"]]
    losses = [float(v) for v in finder.results["loss"]]
    return finder.suggestion(), rates, losses
