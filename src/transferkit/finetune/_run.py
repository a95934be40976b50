"""Train a strategy's backbone layers and head on a run's splits (the `train` step)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from transferkit._errors import TransferKitError
from transferkit.backbones import Backbone
from transferkit.data import DataSplits, Skipped, check_trainable
from transferkit.features._cache import FeatureCache
from transferkit.features._extract import extract_features
from transferkit.finetune._config import TrainConfig
from transferkit.heads._heads import ClassifierHead, as_module
from transferkit.heads._multitask import MultiTaskHead
from transferkit.heads._train import train_head
from transferkit.runs._folder import output_path, record


def train_config(
    train: TrainConfig | dict[str, Any] | None,
    seed: int,
    batch_size: int | None,
    num_workers: int,
    device: str,
) -> TrainConfig:
    """The training settings: given ones, with the run's seed, batch size and device."""
    # a copy: the job's own settings stay as the user gave them
    config = (
        replace(train)
        if isinstance(train, TrainConfig)
        else TrainConfig.from_dict(dict(train or {}))
    )
    config.seed = seed
    config.batch_size = batch_size or config.batch_size
    config.num_workers = num_workers
    config.accelerator = "cpu" if device == "cpu" else "gpu"
    index = device.partition(":")[2]
    config.device_index = int(index) if index.isdigit() and device != "cpu" else None
    return config.validate()


def train_backbone(
    model: Backbone,
    splits: DataSplits,
    strategy: str,
    config: TrainConfig,
    run_dir: Path,
    show: bool,
    resume: bool,
    cache: FeatureCache,
) -> tuple[Backbone, ClassifierHead, dict[str, Any]]:
    """Train backbone layers and a head (Lightning), then give the backbone its new identity."""
    from transferkit.finetune._train import train as run_training

    if splits.modality in ("image", "audio"):
        drop_undecodable(splits)
    check_trainable(splits.train, n_skipped=len(splits.skipped))
    from transferkit.finetune._strategies import Gradual, make_strategy

    plan = make_strategy(strategy, config)
    plan.initial_groups(len(model.trained_groups()))  # top:K too large fails here, not mid-fit
    if config.ddp and isinstance(plan, Gradual):
        raise TransferKitError(
            "strategy 'gradual' cannot run under DDP (groups unfrozen later would not be"
            " synchronised across processes): use 'finetune' or 'top:K' with --ddp."
        )
    head = None
    if splits.tasks:
        head, splits = multitask_start(model, splits, strategy, config, cache, show)
    elif config.head_init == "probe" and strategy != "scratch":
        # the features strategy's head, from cached embeddings, is where fine-tuning starts
        x, _ = extract_features(model, splits.train.inputs, cache, show_progress=show)
        n_classes = len(splits.class_names)
        probe, _ = train_head("logistic", x, splits.train.labels, n_classes, config.seed)
        head = as_module(probe)
    lora = None
    if strategy == "lora":
        from transferkit.finetune._lora import inject

        lora = inject(
            model, config.lora_r, config.lora_alpha, config.lora_dropout, config.lora_targets
        )
    module = run_training(
        model,
        splits,
        strategy,
        config,
        run_dir,
        show_progress=show,
        resume=resume,
        head=head,
        cache=cache,
    )
    backbone = module.backbone.eval()
    if lora is not None:
        lora.update(_merged_adapter(backbone, run_dir, lora, module.head))
    backbone.save_trained(output_path(run_dir, "model/backbone.safetensors"))
    record(run_dir, "model/backbone.safetensors")
    head = module.head.eval()
    info = {"kind": "linear", "trained_with": strategy, "epochs": config.epochs, "lr": config.lr}
    info["peak_memory_mb"] = peak_memory_mb(config)
    if lora is not None:
        info["lora"] = lora
    if isinstance(head, MultiTaskHead):
        info.update(kind="multi-task", weighting=config.task_weights, weights=head.loss_weights())
    return backbone, head, info


def _merged_adapter(
    backbone: Backbone, run_dir: Path, lora: dict[str, Any], head: Any
) -> dict[str, Any]:
    """Save the trained adapter (model/adapter.safetensors), then merge it into the
    backbone's weights; the counts of trainable parameters for metrics.json."""
    from transferkit.finetune._lora import merge, save_adapter

    save_adapter(backbone, output_path(run_dir, "model/adapter.safetensors"), lora)
    record(run_dir, "model/adapter.safetensors")
    head_parameters = sum(p.numel() for p in head.parameters())
    trainable = lora["adapter_parameters"] + head_parameters
    return {
        "merged_layers": merge(backbone),
        "trainable_parameters": trainable,
        "trainable_share": trainable / (lora["backbone_parameters"] + head_parameters),
    }


def peak_memory_mb(config: TrainConfig) -> float:
    """The peak memory of training: the GPU's allocations, or on the CPU the process's
    peak resident size (everything it held so far, not training alone)."""
    import torch

    if config.accelerator == "gpu" and torch.cuda.is_available():
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def multitask_start(
    model: Backbone,
    splits: DataSplits,
    strategy: str,
    config: TrainConfig,
    cache: FeatureCache,
    show: bool,
) -> tuple[Any, DataSplits]:
    """A multi-task run's head (one per task; each from its task's logistic probe on the
    cached embeddings, as a single task's is) and the splits with a label per task."""
    from transferkit.data._tasks import MISSING, task_matrix, with_task_labels

    n_classes = [len(t.class_names) for t in splits.tasks]
    if config.head_init == "probe" and strategy != "scratch":
        x, _ = extract_features(model, splits.train.inputs, cache, show_progress=show)
        labels = task_matrix(splits.train, splits.tasks)
        heads = []
        for t, n in enumerate(n_classes):
            known = labels[:, t] != MISSING
            probe, _ = train_head("logistic", x[known], labels[known, t], n, config.seed)
            heads.append(as_module(probe))
    else:
        heads = [ClassifierHead(model.feature_dim, n) for n in n_classes]
    names = [t.name for t in splits.tasks]
    head = MultiTaskHead(heads, names, [t.class_names for t in splits.tasks], config.task_weights)
    return head, with_task_labels(splits, splits.tasks)


def drop_undecodable(splits: DataSplits) -> None:
    """Decode every image (or sound) once before training: a bad file must not stop an
    epoch."""
    from transferkit.backbones._vision import open_image
    from transferkit.data._audio import decode_audio

    def check(path: str) -> None:
        if splits.modality == "audio":
            decode_audio(path, 16000)
        else:
            open_image(path, 256)

    for name in ("train", "val", "test"):
        ds = getattr(splits, name)
        if ds is None:
            continue
        keep = []
        for i, path in enumerate(ds.inputs):
            try:
                check(path)
                keep.append(i)
            except Exception as exc:  # any decoding failure is reported, not fatal
                reason = getattr(exc, "reason", None) or (
                    f"unreadable {splits.modality} ({type(exc).__name__}: {str(exc)[:100]})"
                )
                splits.skipped.append(Skipped(item=ds.refs[i], reason=reason, split=name))
        if len(keep) < len(ds):
            setattr(splits, name, ds.subset(keep))
