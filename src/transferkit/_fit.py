"""`fit`: data and a backbone in, a run folder with metrics and a reloadable model out."""

from __future__ import annotations

import platform
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transferkit._cache import FeatureCache
from transferkit._errors import TransferKitError, choice_error
from transferkit._features import extract_features
from transferkit._heads import HEADS, train_head
from transferkit._metrics import classification_metrics
from transferkit._progress import progress_enabled, status
from transferkit._run import (
    Predictor,
    check_out,
    new_run_dir,
    save_model,
    write_json,
    write_predictions,
    write_skipped,
)
from transferkit.backbones import Backbone, create_backbone
from transferkit.data import Dataset, DataSplits, Skipped, check_trainable, read_data

STRATEGIES = ("features", "finetune", "top:K", "gradual", "lora", "scratch", "auto")
AVAILABLE_STRATEGIES = ("features",)
DEFAULT_BACKBONES = {"image": "efficientnet_lite0", "text": "minilm-l6"}


@dataclass
class FitResult:
    """What `fit` returns: the run folder, its metrics and the trained model."""

    run_dir: Path
    metrics: dict[str, Any]
    model: Predictor
    summary: str
    skipped: list[Skipped] = field(default_factory=list)


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 4)


def check_strategy(strategy: str) -> str:
    """Validate `strategy`; only the ones this version implements pass."""
    base = strategy.split(":")[0] + (":K" if strategy.startswith("top:") else "")
    if base not in STRATEGIES:
        raise choice_error("strategy", strategy, list(STRATEGIES))
    if strategy not in AVAILABLE_STRATEGIES:
        raise TransferKitError(
            f"strategy {strategy!r} is not available in this version of transferkit; use"
            " 'features' (a frozen backbone with a trained head)."
        )
    return strategy


def default_backbone(modality: str) -> str:
    return DEFAULT_BACKBONES[modality]


def fit(
    data: str | Path,
    *,
    backbone: str | None = None,
    strategy: str = "features",
    head: str = "logistic",
    out: str | Path | None = None,
    overwrite: bool = False,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    weights: str | Path | None = None,
    val_size: float = 0.2,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    batch_size: int | None = None,
    num_workers: int = 0,
    device: str = "cpu",
    quiet: bool = False,
) -> FitResult:
    """Train on `data` (image folder or CSV/TSV) and write a run folder.

    The default strategy `features` runs the frozen pretrained backbone once
    per distinct input (embeddings are cached on disk), trains a head on the
    training split and evaluates on `test/` when there is one, else on the
    validation split.
    """
    timer = _Timer()
    check_strategy(strategy)
    if head not in HEADS:
        raise choice_error("head", head, list(HEADS))
    check_out(out, overwrite)
    with timer.phase("read"):
        splits = read_data(
            data, text_column=text_column, label_column=label_column, val_size=val_size, seed=seed
        )
    check_trainable(splits.train)  # before any embedding: fail in seconds, not minutes
    spec = backbone or default_backbone(splits.modality)
    with timer.phase("load_backbone"):
        model = create_backbone(spec, weights=weights, device=device)
    if model.modality != splits.modality:
        raise TransferKitError(
            f"backbone {spec!r} reads {model.modality} but {str(data)!r} holds {splits.modality}:"
            f" pick a {splits.modality} backbone (e.g. {default_backbone(splits.modality)!r})."
        )
    cache = FeatureCache(cache_dir, enabled=use_cache)
    show = progress_enabled(quiet)
    with timer.phase("extract"):
        features = _embed_splits(model, splits, cache, batch_size, num_workers, show)
    check_trainable(splits.train, n_skipped=len(splits.skipped))
    n_classes = len(splits.class_names)
    what = "logistic regression, C by cross-validation" if head == "logistic" else f"{head} head"
    with timer.phase("train_head"), status(f"training the head ({what})", show):
        trained, head_info = train_head(
            head, features["train"], splits.train.labels, n_classes, seed
        )
    eval_name = "test" if splits.test is not None and len(splits.test) else "val"
    with timer.phase("evaluate"):
        probas = {name: trained.predict_proba(x) for name, x in features.items() if name != "train"}
        evaluated = getattr(splits, eval_name)
        metrics = classification_metrics(
            evaluated.labels, probas[eval_name].argmax(1), splits.class_names
        )
    with timer.phase("write"):
        run_dir = new_run_dir(out, f"{Path(data).name}-{spec}", overwrite)
        save_model(run_dir / "model", model, trained, splits.class_names, weights, head_info)
        _write_outputs(run_dir, splits, probas)
    settings = {
        "data": str(Path(data).resolve()),
        "backbone": spec,
        "weights": weights,
        "strategy": strategy,
        "head": head,
        "out": str(run_dir),
        "text_column": text_column,
        "label_column": label_column,
        "val_size": val_size,
        "seed": seed,
        "cache_dir": str(cache.root),
        "use_cache": use_cache,
        "device": device,
        "batch_size": batch_size,
        "num_workers": num_workers,
    }
    metrics.update(_run_facts(splits, spec, strategy, eval_name, timer.seconds, cache))
    write_json(run_dir / "metrics.json", metrics)
    write_json(run_dir / "config.json", _resolved_config(settings, model, head_info, splits))
    return FitResult(
        run_dir=run_dir,
        metrics=metrics,
        model=Predictor(
            run_dir, cache_dir=cache_dir, device=device, use_cache=use_cache, backbone=model
        ),
        summary=_summary(metrics, splits, run_dir),
        skipped=list(splits.skipped),
    )


def _embed_splits(
    model: Backbone,
    splits: DataSplits,
    cache: FeatureCache,
    batch_size: int | None,
    num_workers: int,
    show: bool,
) -> dict[str, np.ndarray]:
    """Embed every split in one pass; inputs that fail to decode move to `skipped`."""
    names = [n for n in ("train", "val", "test") if getattr(splits, n) is not None]
    sets: list[Dataset] = [getattr(splits, n) for n in names]
    items = [x for ds in sets for x in ds.inputs]
    features, errors = extract_features(
        model,
        items,
        cache,
        batch_size=batch_size,
        num_workers=num_workers,
        show_progress=show,
        description=f"embedding with {model.spec}",
    )
    out: dict[str, np.ndarray] = {}
    start = 0
    for name, ds in zip(names, sets, strict=True):
        rows = np.arange(start, start + len(ds))
        start += len(ds)
        bad = [i for i, row in enumerate(rows) if int(row) in errors]
        for i in bad:
            splits.skipped.append(Skipped(item=ds.refs[i], reason=errors[int(rows[i])], split=name))
        keep = np.setdiff1d(np.arange(len(ds)), bad)
        setattr(splits, name, ds.subset(keep))
        out[name] = features[rows[keep]]
    return out


def _write_outputs(run_dir: Path, splits: DataSplits, probas: dict[str, np.ndarray]) -> None:
    for name, proba in probas.items():
        ds = getattr(splits, name)
        texts = ds.inputs if splits.modality == "text" else None
        write_predictions(
            run_dir / f"predictions_{name}.csv",
            ds.refs,
            name,
            ds.labels,
            proba,
            splits.class_names,
            texts,
        )
    write_skipped(run_dir / "skipped.csv", splits.skipped)


def _run_facts(
    splits: DataSplits,
    spec: str,
    strategy: str,
    eval_name: str,
    seconds: dict[str, float],
    cache: FeatureCache,
) -> dict[str, Any]:
    timings = dict(seconds)
    timings["total"] = round(sum(seconds.values()), 4)
    return {
        "evaluated_on": eval_name,
        "n_train": len(splits.train),
        "n_val": len(splits.val),
        "n_test": len(splits.test) if splits.test is not None else 0,
        "n_skipped": len(splits.skipped),
        "class_counts": {
            name: getattr(splits, name).class_counts()
            for name in ("train", "val", "test")
            if getattr(splits, name) is not None
        },
        "backbone": spec,
        "strategy": strategy,
        "split": splits.split_source,
        "timings": timings,
        "cache_discarded_shards": cache.discarded_shards,
    }


def _resolved_config(
    settings: dict[str, Any], model: Backbone, head_info: dict[str, Any], splits: DataSplits
) -> dict[str, Any]:
    import sklearn
    import torch

    from transferkit import __version__

    return {
        **settings,
        "weights_digest": model.weights_digest,
        "preprocessing": model.preprocessing(),
        "modality": splits.modality,
        "layout": splits.layout,
        "split": splits.split_source,
        "class_names": splits.class_names,
        "head_fitted": head_info,
        "versions": {
            "transferkit": __version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "scikit-learn": sklearn.__version__,
        },
    }


def _summary(metrics: dict[str, Any], splits: DataSplits, run_dir: Path) -> str:
    lines = [
        f"{metrics['evaluated_on']}: accuracy {metrics['accuracy']:.4f}, balanced accuracy"
        f" {metrics['balanced_accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}"
        f" (train {metrics['n_train']}, val {metrics['n_val']}, test {metrics['n_test']})",
    ]
    if splits.skipped:
        reasons = Counter(s.reason.split(" (")[0] for s in splits.skipped)
        listed = "; ".join(f"{n} {r}" for r, n in reasons.most_common(3))
        lines.append(
            f"skipped {len(splits.skipped)} input(s): {listed}"
            f" (listed in {run_dir / 'skipped.csv'})"
        )
    else:
        lines.append("skipped 0 inputs")
    lines.append(f"run folder: {run_dir}")
    return "\n".join(lines)
