"""`fit`: data and a backbone in, a run folder with metrics and a reloadable model out."""

from __future__ import annotations

import json
import os
import platform
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from transferkit._errors import TransferKitError, choice_error
from transferkit._progress import progress_enabled, status
from transferkit.backbones import Backbone, create_backbone, default_backbone
from transferkit.data import Dataset, DataSplits, Skipped, check_trainable, read_data
from transferkit.evaluation._metrics import baseline_warning, classification_metrics
from transferkit.features._cache import FeatureCache
from transferkit.features._extract import extract_features
from transferkit.finetune._config import TrainConfig
from transferkit.heads._balance import check_balance, class_weights, resample
from transferkit.heads._heads import HEADS, ClassifierHead, train_head
from transferkit.heads._threshold import (
    Threshold,
    ThresholdRule,
    choose_threshold,
    decide,
    parse_rule,
)
from transferkit.runs._files import read_run_json
from transferkit.runs._folder import inside, output_path, record, record_nested
from transferkit.runs._run import (
    Predictor,
    check_out,
    kept_line,
    new_run_dir,
    run_file_names,
    save_model,
    write_json,
    write_predictions,
    write_skipped,
)
from transferkit.runs._tracking import check_tracker, track_run

STRATEGIES = ("features", "finetune", "top:K", "gradual", "lora", "scratch", "auto")
AVAILABLE_STRATEGIES = ("features", "finetune", "top:K", "gradual", "scratch", "auto")


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


def set_max_image_pixels(limit: int) -> None:
    """The pixel limit of image readers for this process and the workers it starts (they
    read it from the environment, as DataLoader and DDP workers inherit it)."""
    if limit < 0:
        raise TransferKitError(
            f"`max_image_pixels` must be a number of pixels (0: no limit); got {limit}."
        )
    os.environ["TRANSFERKIT_MAX_IMAGE_PIXELS"] = str(int(limit))


def _public(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings as config.json keeps them (without what is only for this process)."""
    return {k: v for k, v in settings.items() if k != "kept"}


def check_strategy(strategy: str) -> str:
    """Validate `strategy`; only the ones this version implements pass."""
    base = strategy.split(":")[0] + (":K" if strategy.startswith("top:") else "")
    if base not in STRATEGIES:
        raise choice_error("strategy", strategy, list(STRATEGIES))
    if base not in AVAILABLE_STRATEGIES:
        raise TransferKitError(
            f"strategy {strategy!r} is not available in this version of transferkit; use"
            f" one of {', '.join(repr(a) for a in AVAILABLE_STRATEGIES)}."
        )
    return strategy


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
    train: TrainConfig | dict[str, Any] | None = None,
    resume_dir: Path | None = None,
    threshold: str | None = None,
    balance: str = "none",
    class_weight: dict[str, float] | None = None,
    cv: int | None = None,
    encoding: str = "onehot",
    baseline: str | None = None,
    candidates: list[str] | None = None,
    track: str | None = None,
    track_uri: str | None = None,
    cut: int | str | None = None,
    modality: str | None = None,
    max_image_pixels: int | None = None,
) -> FitResult:
    """Train on `data` (image folder or CSV/TSV) and write a run folder.

    The default strategy `features` runs the frozen pretrained backbone once
    per distinct input (embeddings are cached on disk), trains a head on the
    training split and evaluates on `test/` when there is one, else on the
    validation split. `threshold` ('f1', 'recall=R', 'precision=P') tunes the decision
    threshold of a binary task on out-of-fold predictions of the training split.
    `balance` handles imbalanced classes (see `transferkit.heads._balance`); `class_weight`
    gives the weight of each class by name (it implies `balance='class-weight'`).
    `cv=K` also reports stratified K-fold cross-validation over train + val (mean and
    standard deviation of each metric), from the same cached embeddings. `encoding`
    ('onehot' or 'ordinal') is how a table's categorical columns are encoded.
    `baseline='scratch'` also trains the same architecture from random weights on the same
    budget and reports the transfer gain (negative transfer is said plainly).
    `track` ('mlflow' or 'tensorboard') logs the finished run's settings, per-epoch
    metrics and files to a tracker at `track_uri` (default: the tracker's local store).
    `cut` (a group name such as 'layer2' or 'blocks.5', or its index) keeps the backbone's
    groups up to it and takes their pooled output as features (`features` only).
    `modality` ('image', 'text' or 'tabular') overrides what the reader detects;
    `max_image_pixels` skips larger images (default: `TRANSFERKIT_MAX_IMAGE_PIXELS`, else
    89,478,485, Pillow's own bound).
    `strategy='auto'` ranks `candidates` (default: the given backbone, else the built-ins
    for the data) with their cut points and picks backbone and strategy
    (`transferkit.selection._auto`).
    """
    timer = _Timer()
    check_strategy(strategy)
    rule, balance = _check_options(head, threshold, balance, class_weight, baseline)
    _check_candidates(strategy, candidates, cut)
    check_tracker(track, track_uri)
    reserved = run_file_names(strategy, ranking=candidates is not None)
    if resume_dir is None and _worker_rank() == 0:
        check_out(out, overwrite, reserved)
    if max_image_pixels is not None:
        set_max_image_pixels(max_image_pixels)
    with timer.phase("read"):
        splits = read_data(
            data,
            text_column=text_column,
            label_column=label_column,
            val_size=val_size,
            seed=seed,
            modality=modality,
        )
    check_trainable(splits.train)  # before any embedding: fail in seconds, not minutes
    if rule is not None and len(splits.class_names) != 2:
        raise TransferKitError(
            f"`threshold` {threshold!r} needs a binary task; {str(data)!r} has"
            f" {len(splits.class_names)} classes. Drop --threshold."
        )
    spec = backbone or default_backbone(splits.modality)
    cache = FeatureCache(cache_dir, enabled=use_cache)
    cache.check_writable()  # a read-only cache is used read-only, and said once
    show = progress_enabled(quiet)
    choice = None
    if strategy == "auto":
        with timer.phase("auto"):
            choice = _choose(splits, backbone, weights, candidates, cache, device, seed, show)
        spec, strategy, cut = choice.backbone, choice.strategy, choice.cut
    with timer.phase("load_backbone"):
        pretrained = strategy != "scratch"
        model = create_backbone(spec, weights=weights, device=device, pretrained=pretrained)
        _shape_backbone(model, cut, strategy)
    _check_modality(model, splits, spec, data, strategy, encoding)
    settings = {
        "data": str(Path(data).resolve()),
        "workdir": str(Path.cwd()),  # relative input paths in predictions_*.csv start here
        "backbone": spec,
        "cut": model.cut,
        "weights": weights,
        "strategy": strategy,
        "head": head,
        "text_column": text_column,
        "label_column": label_column,
        "val_size": val_size,
        "seed": seed,
        "cache_dir": str(cache.root),
        "use_cache": use_cache,
        "device": device,
        "batch_size": batch_size,
        "num_workers": num_workers,
        "train": None,
        "threshold": threshold,
        "balance": balance,
        "class_weight": class_weight,
        "cv": cv,
        "encoding": encoding,
        "baseline": baseline,
        "track": track,
        "track_uri": track_uri,
        "modality": modality,
        "max_image_pixels": max_image_pixels,
    }
    run_dir = None
    settings["auto"] = _auto_settings(choice, resume_dir)
    check_balance(balance, strategy)
    weights = None
    if balance == "class-weight":
        weights = class_weights(splits.train.labels, splits.class_names, class_weight)
    if strategy == "features":
        config = _train_config(train, seed, batch_size, num_workers, device)
        devices = config.devices if config.ddp else 1  # extraction shards across processes
        settings["extract_devices"] = devices
        with timer.phase("extract"):
            features = _embed_splits(
                model, splits, cache, batch_size, num_workers, show, devices=devices
            )
        check_trainable(splits.train, n_skipped=len(splits.skipped))
        fit_head = partial(
            balanced_head,
            head,
            n_classes=len(splits.class_names),
            seed=seed,
            balance=balance,
            weights=weights,
        )
        trained, head_info = _features_head(
            fit_head, features["train"], splits, rule, settings, timer, show
        )
        if cv:
            with timer.phase("cross_validate"), status(f"{cv}-fold cross-validation", show):
                settings["cv_result"] = cross_validate(fit_head, features, splits, cv, seed, rule)
    else:
        _check_trained_head(head, strategy)
        if rule is not None or cv:
            what = "`threshold` is tuned on" if rule is not None else "`cv` needs"
            raise TransferKitError(
                f"{what} out-of-fold predictions, which strategy {strategy!r} would have"
                " to train once per fold: use it with --strategy features."
            )
        config = _train_config(train, seed, batch_size, num_workers, device)
        config.balance = balance
        config.class_weights = None if weights is None else [float(w) for w in weights]
        settings["train"] = config.to_dict()
        if _worker_rank() > 0:
            # a DDP worker, started by Lightning with the same command: it joins the run
            # folder of rank 0 and leaves writing to it
            run_dir = Path(os.environ[RUN_DIR_ENV])
        else:
            name = f"{Path(data).name}-{spec}-{strategy}"
            run_dir, settings["kept"] = (
                (resume_dir, []) if resume_dir else new_run_dir(out, name, overwrite, reserved)
            )
            os.environ[RUN_DIR_ENV] = str(run_dir)  # inherited by DDP workers
            # written now, so that a killed run can be resumed from its folder alone
            write_json(run_dir, "config.json", {**_public(settings), "out": str(run_dir)})
            _write_choice(run_dir, choice, splits, data)
        with timer.phase("train"):
            model, trained, head_info = _train_backbone(
                model, splits, strategy, config, run_dir, show, resume_dir is not None, cache
            )
        with timer.phase("extract"):
            features = _embed_splits(
                model, splits, cache, batch_size, num_workers, show, names=("val", "test")
            )
    result = _finish(
        data,
        out,
        overwrite,
        run_dir,
        splits,
        model,
        trained,
        head_info,
        features,
        settings,
        timer,
        cache,
    )
    if _worker_rank() > 0:
        return result
    resumed = resume_dir is not None
    result = _complete(result, choice, splits, data, baseline, settings, train, quiet, resumed)
    if track is not None:
        _with_tracking(result, track, track_uri)
    return result


def _complete(
    result: FitResult,
    choice: Any,
    splits: DataSplits,
    data: str | Path,
    baseline: str | None,
    settings: dict[str, Any],
    train: TrainConfig | dict[str, Any] | None,
    quiet: bool,
    resumed: bool = False,
) -> FitResult:
    """What follows a finished run: auto's ranking, the scratch baseline, the report."""
    _write_choice(result.run_dir, choice, splits, data)
    if baseline == "scratch":
        result = _with_scratch_baseline(
            result, data, splits.modality, settings, train, quiet, resumed
        )
    _with_report(result)
    return result


def _write_choice(run_dir: Path, choice: Any, splits: DataSplits, data: str | Path) -> None:
    """auto's ranking into the run folder (a trained run writes it before training, so an
    interrupted and resumed run keeps it)."""
    if choice is not None and choice.ranked and not (run_dir / "ranking.json").is_file():
        from transferkit.selection._rank import write_ranking

        write_ranking(run_dir, choice.ranked, splits, data, choice.n_scored)


def _auto_settings(choice: Any, resume_dir: Path | None) -> dict[str, Any] | None:
    """What auto chose and why; a resumed auto run keeps the paragraph that chose it."""
    if choice is not None:
        return choice.to_dict()
    path = resume_dir / "config.json" if resume_dir is not None else None
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("auto")


def _with_tracking(result: FitResult, track: str, uri: str | None) -> None:
    """Log the finished run; an unreachable tracker is said, the run folder stands."""
    try:
        where = track_run(result.run_dir, track, uri)
    except Exception as exc:  # a tracker's error must not cost the trained model
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        result.summary += (
            f"\n{track} logging failed ({type(exc).__name__}: {first}); the run folder is"
            f" complete: retry with `transferkit track {result.run_dir} --track {track}`"
        )
        return
    result.summary += f"\ntracked: {where}"


def _with_report(result: FitResult) -> None:
    """Write report.html last, from the files the run wrote; the run stands without it."""
    from transferkit.runs._report import write_report

    try:
        path = write_report(result.run_dir, from_inputs=True)
    except Exception as exc:  # a broken plot must not cost the trained model
        result.summary += (
            f"\nreport.html could not be written ({type(exc).__name__}: {exc});"
            f" try `transferkit report {result.run_dir}`"
        )
        return
    result.summary += f"\nreport: {path}"


def _choose(
    splits: DataSplits,
    backbone: str | None,
    weights: str | Path | None,
    candidates: list[str] | None,
    cache: FeatureCache,
    device: str,
    seed: int,
    show: bool,
) -> Any:
    """`auto`: rank the candidates (only the given backbone when `weights` are given)."""
    from transferkit.selection._auto import AutoChoice, auto_candidates, choose

    if candidates and (weights or backbone):
        raise TransferKitError(
            "--candidates lists the backbones auto ranks: drop --backbone / --weights, or"
            " drop --candidates to rank that one backbone's cut points."
        )
    key = _auto_key(splits, backbone, weights, candidates, seed)
    passed = json.loads(os.environ.get(AUTO_ENV) or "{}")
    if _worker_rank() > 0 and passed.get("key") == key:
        # a DDP worker: rank 0 ranked this very fit before it started the workers
        return AutoChoice.from_dict(passed["choice"])
    names = auto_candidates(splits.modality, backbone, candidates)
    if weights:  # a weights file belongs to one backbone: rank its cut points
        names = [backbone or default_backbone(splits.modality)]
    choice = choose(splits, names, cache, device, seed, show, weights=weights)
    # inherited by DDP workers; the key keeps a later, different fit from taking it
    os.environ[AUTO_ENV] = json.dumps({"key": key, "choice": choice.to_dict()})
    return choice


def _auto_key(
    splits: DataSplits,
    backbone: str | None,
    weights: str | Path | None,
    candidates: list[str] | None,
    seed: int,
) -> str:
    """What decides auto's choice: the training split and the options that rank it."""
    from transferkit._hashing import digest_text

    train = splits.train
    # a table's rows are not ranked (auto takes 'features' at once): its size will do
    items = train.inputs if splits.modality != "tabular" else [len(train)]
    inputs = digest_text("\n".join(str(x) for x in items))
    labels = digest_text(",".join(str(int(v)) for v in train.labels))
    return digest_text(json.dumps([inputs, labels, backbone, str(weights), candidates, seed]))


def _shape_backbone(model: Backbone, cut: int | str | None, strategy: str) -> None:
    """Cut the backbone where asked; a `features` run never trains it, so it runs in its
    inference-only form (`Backbone.for_inference`: image backbones fold their BatchNorms)."""
    if strategy == "features":
        model.for_inference()
    if cut is None:
        return
    if strategy != "features":
        raise TransferKitError(
            f"`cut` keeps the groups below it frozen as a feature extractor, with strategy"
            f" 'features', not {strategy!r}: to train the K groups above a cut use top:K."
        )
    model.cut_at(int(cut) if isinstance(cut, str) and cut.isdigit() else cut)


def _check_candidates(strategy: str, candidates: list[str] | None, cut: Any) -> None:
    if cut is not None and strategy == "auto":
        raise TransferKitError("auto picks the cut point itself: drop --cut, or name a strategy.")
    if candidates and strategy != "auto":
        raise TransferKitError(
            f"`candidates` are ranked by strategy 'auto', not {strategy!r}: add --strategy auto"
            " or give one --backbone."
        )


def _check_options(
    head: str,
    threshold: str | None,
    balance: str,
    class_weight: dict[str, float] | None,
    baseline: str | None,
) -> tuple[ThresholdRule | None, str]:
    """Settings checked before any data is read: (threshold rule, balance mode)."""
    if head not in HEADS:
        raise choice_error("head", head, list(HEADS))
    if baseline not in (None, "scratch"):
        raise choice_error("baseline", str(baseline), ["scratch"])
    if class_weight and balance not in ("none", "class-weight"):
        raise TransferKitError(
            f"`class_weight` goes with balance 'class-weight', not {balance!r}: drop one."
        )
    rule = parse_rule(threshold) if threshold is not None else None
    return rule, "class-weight" if class_weight else balance


def _scratch_fit(
    data: str | Path,
    folder: Path,
    settings: dict[str, Any],
    train: TrainConfig | dict[str, Any] | None,
    quiet: bool,
) -> FitResult:
    """The same architecture from random weights, on the run's split and budget (in the
    run's own folder: an earlier baseline of this run folder is replaced)."""
    return fit(
        data,
        backbone=settings["backbone"],
        strategy="scratch",
        out=folder,
        overwrite=True,
        text_column=settings["text_column"],
        label_column=settings["label_column"],
        val_size=settings["val_size"],
        seed=settings["seed"],
        cache_dir=settings["cache_dir"],
        use_cache=settings["use_cache"],
        batch_size=settings["batch_size"],
        num_workers=settings["num_workers"],
        device=settings["device"],
        quiet=quiet,
        train=train if isinstance(train, dict) or train is None else train.to_dict(),
    )


def _finished(folder: Path) -> Any:
    """A finished run's folder and metrics (what the baseline comparison reads)."""
    from types import SimpleNamespace

    metrics = read_run_json(folder, "metrics.json")
    return SimpleNamespace(run_dir=folder, metrics=metrics)


def _with_scratch_baseline(
    result: FitResult,
    data: str | Path,
    modality: str,
    settings: dict[str, Any],
    train: TrainConfig | dict[str, Any] | None,
    quiet: bool,
    resumed: bool = False,
) -> FitResult:
    """Train `scratch` beside the run (its own folder inside it) and report the gain; a
    resumed run resumes (or reuses) the baseline it had started, a new run replaces it."""
    if modality == "tabular" or settings["strategy"] == "scratch":
        raise TransferKitError(
            "--baseline scratch needs a pretrained backbone to compare with: not with"
            " strategy 'scratch' nor the tabular 'identity' backbone."
        )
    folder = result.run_dir / "baseline-scratch"
    if resumed and (folder / "config.json").is_file():
        # the baseline had started before the run stopped: it resumes too (or is done)
        done = (folder / "metrics.json").is_file()
        scratch = _finished(folder) if done else resume(folder, quiet=quiet)
    else:
        scratch = _scratch_fit(data, folder, settings, train, quiet)
    gain = result.metrics["accuracy"] - scratch.metrics["accuracy"]
    result.metrics["baseline"] = {
        "strategy": "scratch",
        "run": str(scratch.run_dir),
        "accuracy": scratch.metrics["accuracy"],
        "balanced_accuracy": scratch.metrics["balanced_accuracy"],
        "transfer_gain": gain,
        "negative_transfer": gain < 0,
    }
    record_nested(result.run_dir, "baseline-scratch")
    write_json(result.run_dir, "metrics.json", result.metrics)
    if gain < 0:
        line = (
            f"NEGATIVE TRANSFER: the same network trained from scratch scored"
            f" {scratch.metrics['accuracy']:.4f}, {-gain * 100:.1f} points above the pretrained"
            f" {settings['backbone']!r} ({result.metrics['accuracy']:.4f}). The data may be far"
            " from what the backbone learned: try another backbone (`transferkit rank`)."
        )
    else:
        line = (
            f"transfer gain over scratch: {gain * 100:+.1f} points (scratch, same budget:"
            f" {scratch.metrics['accuracy']:.4f})"
        )
    result.summary = f"{result.summary}\n{line}"
    return result


RUN_DIR_ENV = "TRANSFERKIT_RUN_DIR"
AUTO_ENV = "TRANSFERKIT_AUTO_CHOICE"  # auto's choice, passed from rank 0 to DDP workers


def _check_modality(
    model: Backbone,
    splits: DataSplits,
    spec: str,
    data: str | Path,
    strategy: str,
    encoding: str = "onehot",
) -> None:
    """The backbone must read what the data holds; a tabular backbone learns its encoding."""
    if model.modality != splits.modality:
        raise TransferKitError(
            f"backbone {spec!r} reads {model.modality} but {str(data)!r} holds {splits.modality}:"
            f" pick a {splits.modality} backbone (e.g. {default_backbone(splits.modality)!r})."
        )
    if model.modality == "tabular":
        _prepare_tabular(model, splits, strategy, encoding)


def _prepare_tabular(model: Backbone, splits: DataSplits, strategy: str, encoding: str) -> None:
    """Learn the column encoding from the training rows; tabular has no layers to train."""
    if strategy not in ("features", "auto"):
        raise TransferKitError(
            f"strategy {strategy!r} trains backbone layers, and the tabular backbone"
            " 'identity' has none: use --strategy features (the head sees the encoded columns)."
        )
    model.fit_encoder(splits.train.inputs, encoding)
    encoder = model.encoder
    for name in ("train", "val", "test"):
        ds = getattr(splits, name)
        for ref, item in zip(ds.refs if ds else [], ds.inputs if ds else [], strict=True):
            for _, reason in encoder.imputations(json.loads(item)):  # missing, text or inf
                splits.imputed.append(Skipped(item=ref, reason=reason, split=name))


def _check_trained_head(head: str, strategy: str) -> None:
    """Trained strategies train a linear head (from the logistic probe): say so, don't ignore."""
    if head not in ("logistic", "linear"):
        raise TransferKitError(
            f"head {head!r} is for strategy 'features'; strategy {strategy!r} trains a linear"
            " head started from the logistic probe. Drop `--head`, or use --strategy features."
        )


def _worker_rank() -> int:
    """This process's rank in a multi-process (DDP) run; 0 when there is none."""
    return int(os.environ.get("LOCAL_RANK", "0")) if RUN_DIR_ENV in os.environ else 0


def _finish(
    data: str | Path,
    out: str | Path | None,
    overwrite: bool,
    run_dir: Path | None,
    splits: DataSplits,
    model: Backbone,
    trained: ClassifierHead,
    head_info: dict[str, Any],
    features: dict[str, np.ndarray],
    settings: dict[str, Any],
    timer: _Timer,
    cache: FeatureCache,
) -> FitResult:
    """Evaluate on test (else val) and write the run folder."""
    strategy, spec = settings["strategy"], settings["backbone"]
    auto = settings.get("auto")
    tuned = settings.pop("tuned", None)
    cv_result = settings.pop("cv_result", None)
    kept = settings.pop("kept", [])
    eval_name = "test" if splits.test is not None and len(splits.test) else "val"
    with timer.phase("evaluate"):
        probas = {name: trained.predict_proba(x) for name, x in features.items() if name != "train"}
        evaluated = getattr(splits, eval_name)
        metrics = classification_metrics(
            evaluated.labels,
            decide(probas[eval_name], tuned),
            splits.class_names,
            proba=probas[eval_name],
            train_labels=splits.train.labels,
        )
    with timer.phase("write"):
        if run_dir is None:
            name = f"{Path(data).name}-{spec}"
            run_dir, kept = new_run_dir(out, name, overwrite, run_file_names(strategy))
        save_model(
            run_dir,
            model,
            trained,
            splits.class_names,
            settings["weights"],
            head_info,
            strategy,
            tuned,
        )
        _write_outputs(run_dir, splits, probas, tuned)
    settings["out"] = str(run_dir)
    metrics.update(_run_facts(splits, spec, strategy, eval_name, timer.seconds, cache))
    if model.cut is not None:
        metrics["cut"] = model.layer_groups()[model.cut - 1][0]
    if auto:
        metrics["auto"] = auto
    if tuned is not None:
        metrics["threshold"] = tuned.to_dict()
    if cv_result is not None:
        metrics["cv"] = cv_result
    write_json(run_dir, "metrics.json", metrics)
    write_json(run_dir, "config.json", _resolved_config(settings, model, head_info, splits))
    predictor = Predictor(
        run_dir,
        cache_dir=settings["cache_dir"],
        device=settings["device"],
        use_cache=settings["use_cache"],
        backbone=model,
    )
    return FitResult(
        run_dir=run_dir,
        metrics=metrics,
        model=predictor,
        summary=(
            f"auto picked {auto['backbone']!r} with {auto['picked']!r}. {auto['why']}\n"
            if auto
            else ""
        )
        + _summary(metrics, splits, run_dir, kept)
        + (f"\n{cache.read_only_line()}" if cache.read_only else ""),
        skipped=list(splits.skipped),
    )


# the settings a resumed run takes from its config.json (the names of `fit`'s parameters)
RESUMED_SETTINGS = (
    "backbone",
    "strategy",
    "head",
    "text_column",
    "label_column",
    "weights",
    "val_size",
    "seed",
    "cache_dir",
    "use_cache",
    "batch_size",
    "num_workers",
    "device",
    "train",
    "balance",
    "class_weight",
    "baseline",
    "track",
    "track_uri",
    "modality",
    "max_image_pixels",
)


def resume(run_dir: str | Path, *, quiet: bool = False) -> FitResult:
    """Continue an interrupted training run from its last checkpoint, with its own settings."""
    run_dir = Path(run_dir)
    if not inside(run_dir, "config.json").is_file():
        raise TransferKitError(
            f"cannot resume {str(run_dir)!r}: it has no config.json. Pass a run folder that"
            " `transferkit fit --strategy ...` wrote."
        )
    s = read_run_json(run_dir, "config.json")
    if not isinstance(s.get("data"), str):
        raise TransferKitError(
            f"{str(run_dir / 'config.json')!r} is damaged: it names no 'data' to resume on."
            " Restore it, or fit again."
        )
    if s.get("strategy", "features") == "features":
        raise TransferKitError(
            f"{str(run_dir)!r} used strategy 'features', which has no training state to resume:"
            " run `transferkit fit` again (its embeddings are cached)."
        )
    kept = {key: s[key] for key in RESUMED_SETTINGS if key in s}
    return fit(s["data"], **kept, quiet=quiet, resume_dir=run_dir)


def _train_config(
    train: TrainConfig | dict[str, Any] | None,
    seed: int,
    batch_size: int | None,
    num_workers: int,
    device: str,
) -> TrainConfig:
    """The training settings: given ones, with the run's seed, batch size and device."""
    config = train if isinstance(train, TrainConfig) else TrainConfig.from_dict(dict(train or {}))
    config.seed = seed
    config.batch_size = batch_size or config.batch_size
    config.num_workers = num_workers
    config.accelerator = "cpu" if device == "cpu" else "gpu"
    index = device.partition(":")[2]
    config.device_index = int(index) if index.isdigit() and device != "cpu" else None
    return config.validate()


def _train_backbone(
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

    if splits.modality == "image":
        _drop_undecodable(splits)
    check_trainable(splits.train, n_skipped=len(splits.skipped))
    from transferkit.finetune._strategies import Gradual, make_strategy

    plan = make_strategy(strategy, config)
    plan.initial_groups(len(model.layer_groups()))  # top:K too large fails here, not mid-fit
    if config.ddp and isinstance(plan, Gradual):
        raise TransferKitError(
            "strategy 'gradual' cannot run under DDP (groups unfrozen later would not be"
            " synchronised across processes): use 'finetune' or 'top:K' with --ddp."
        )
    head = None
    if config.head_init == "probe" and strategy != "scratch":
        # the features strategy's head, from cached embeddings, is where fine-tuning starts
        x, _ = extract_features(model, splits.train.inputs, cache, show_progress=show)
        n_classes = len(splits.class_names)
        head, _ = train_head("logistic", x, splits.train.labels, n_classes, config.seed)
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
    backbone.save_trained(output_path(run_dir, "model/backbone.safetensors"))
    record(run_dir, "model/backbone.safetensors")
    head = module.head.eval()
    info = {"kind": "linear", "trained_with": strategy, "epochs": config.epochs, "lr": config.lr}
    return backbone, head, info


def _drop_undecodable(splits: DataSplits) -> None:
    """Decode every image once before training: a bad file must not stop an epoch."""
    from transferkit.backbones._vision import open_image

    for name in ("train", "val", "test"):
        ds = getattr(splits, name)
        if ds is None:
            continue
        keep = []
        for i, path in enumerate(ds.inputs):
            try:
                open_image(path, 256)
                keep.append(i)
            except Exception as exc:  # any decoding failure is reported, not fatal
                reason = getattr(exc, "reason", None) or (
                    f"unreadable image ({type(exc).__name__}: {str(exc)[:100]})"
                )
                splits.skipped.append(Skipped(item=ds.refs[i], reason=reason, split=name))
        if len(keep) < len(ds):
            setattr(splits, name, ds.subset(keep))


def _embed_splits(
    model: Backbone,
    splits: DataSplits,
    cache: FeatureCache,
    batch_size: int | None,
    num_workers: int,
    show: bool,
    names: tuple[str, ...] = ("train", "val", "test"),
    devices: int = 1,
) -> dict[str, np.ndarray]:
    """Embed the splits in one pass; inputs that fail to decode move to `skipped`."""
    names = [n for n in names if getattr(splits, n) is not None]
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
        devices=devices,
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


def _write_outputs(
    run_dir: Path,
    splits: DataSplits,
    probas: dict[str, np.ndarray],
    tuned: Threshold | None = None,
) -> None:
    for name, proba in probas.items():
        ds = getattr(splits, name)
        texts = ds.inputs if splits.modality == "text" else None
        write_predictions(
            run_dir,
            f"predictions_{name}.csv",
            ds.refs,
            name,
            ds.labels,
            proba,
            splits.class_names,
            texts,
            predicted=decide(proba, tuned),
        )
    write_skipped(run_dir, "skipped.csv", splits.skipped)
    if splits.modality == "tabular":
        write_skipped(run_dir, "imputed.csv", splits.imputed)


def _features_head(
    fit_head: Callable[[np.ndarray, np.ndarray], tuple[ClassifierHead, dict[str, Any]]],
    x: np.ndarray,
    splits: DataSplits,
    rule: ThresholdRule | None,
    settings: dict[str, Any],
    timer: _Timer,
    show: bool,
) -> tuple[ClassifierHead, dict[str, Any]]:
    """The `features` head on the training embeddings, and its tuned threshold if asked."""
    kind = settings["head"]
    what = "logistic regression, C by cross-validation" if kind == "logistic" else kind
    with timer.phase("train_head"), status(f"training the head ({what})", show):
        trained, head_info = fit_head(x, splits.train.labels)
    if rule is not None:
        with timer.phase("threshold"), status(f"tuning the threshold ({rule})", show):
            scores = _oof_scores(fit_head, x, splits.train.labels, settings["seed"])
            positive = splits.class_names[1]
            settings["tuned"] = choose_threshold(splits.train.labels, scores, rule, positive)
    return trained, head_info


def cross_validate(
    fit_head: Callable[[np.ndarray, np.ndarray], tuple[ClassifierHead, dict[str, Any]]],
    features: dict[str, np.ndarray],
    splits: DataSplits,
    k: int,
    seed: int,
    rule: ThresholdRule | None,
) -> dict[str, Any]:
    """Stratified k-fold over train + val: every fold fits the head (balancing and threshold
    tuning inside the fold) and is scored on its held-out part; mean and std per metric."""
    from sklearn.model_selection import StratifiedKFold

    x = np.concatenate([features["train"], features["val"]])
    y = np.concatenate([splits.train.labels, splits.val.labels])
    smallest = int(np.bincount(y)[np.unique(y)].min())
    if not 2 <= k <= smallest:
        raise TransferKitError(
            f"--cv {k}: needs 2 <= K <= {smallest} (the smallest class's count in train + val)."
        )
    names = splits.class_names
    per_fold: list[dict[str, float]] = []
    for fitted, held in StratifiedKFold(k, shuffle=True, random_state=seed).split(x, y):
        head, _ = fit_head(x[fitted], y[fitted])
        proba = head.predict_proba(x[held])
        tuned = None
        if rule is not None:
            scores = _oof_scores(fit_head, x[fitted], y[fitted], seed)
            tuned = choose_threshold(y[fitted], scores, rule, names[1])
        m = classification_metrics(y[held], decide(proba, tuned), names, proba)
        flat = {key: m[key] for key in ("accuracy", "balanced_accuracy", "macro_f1")}
        flat.update({key: m[key] for key in ("roc_auc", "pr_auc") if m.get(key) is not None})
        for name, values in m["per_class"].items():
            flat.update({f"{name}_{key}": values[key] for key in ("precision", "recall", "f1")})
        per_fold.append(flat)
    summary = {
        key: {
            "mean": float(np.mean([f[key] for f in per_fold])),
            "std": float(np.std([f[key] for f in per_fold])),
        }
        for key in per_fold[0]
    }
    return {"folds": k, "on": "train + val", "metrics": summary, "per_fold": per_fold}


def _oof_scores(
    fit_head: Callable[[np.ndarray, np.ndarray], tuple[ClassifierHead, Any]],
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
) -> np.ndarray:
    """P(class 1) for each training sample from a head fitted without it (stratified k-fold,
    k = 5 or the smallest class count, balancing inside each fold): what threshold tuning
    may look at."""
    from sklearn.model_selection import StratifiedKFold

    k = int(min(5, np.bincount(y).min()))
    if k < 2:
        raise TransferKitError(
            "threshold tuning needs at least 2 training samples of each class for"
            " out-of-fold predictions. Add samples or drop --threshold."
        )
    scores = np.zeros(len(y))
    for fitted, held in StratifiedKFold(k, shuffle=True, random_state=seed).split(x, y):
        fold_head, _ = fit_head(x[fitted], y[fitted])
        scores[held] = fold_head.predict_proba(x[held])[:, 1]
    return scores


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
        **({"n_imputed_cells": len(splits.imputed)} if splits.modality == "tabular" else {}),
        **({"columns": splits.columns} if splits.columns else {}),
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


def _summary(
    metrics: dict[str, Any], splits: DataSplits, run_dir: Path, kept: list[str] | None = None
) -> str:
    lines = [
        f"{metrics['evaluated_on']}: accuracy {metrics['accuracy']:.4f}, balanced accuracy"
        f" {metrics['balanced_accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}"
        f" (train {metrics['n_train']}, val {metrics['n_val']}, test {metrics['n_test']})",
    ]
    if getattr(splits, "detected", ""):
        lines.append(f"data: {splits.detected}")
    if splits.imputed:
        lines.append(
            f"imputed {len(splits.imputed)} missing, non-numeric or non-finite cell(s) with"
            f" training medians (listed in {run_dir / 'imputed.csv'})"
        )
    if "cv" in metrics:
        cv = metrics["cv"]
        shown = ", ".join(
            f"{k} {v['mean']:.4f} ± {v['std']:.4f}"
            for k, v in cv["metrics"].items()
            if k in ("accuracy", "balanced_accuracy", "macro_f1", "pr_auc")
        )
        lines.append(f"{cv['folds']}-fold CV on {cv['on']}: {shown}")
    warning = baseline_warning(metrics)
    if warning:
        lines.append(warning)
    if splits.skipped:
        reasons = Counter(s.reason.split(" (")[0] for s in splits.skipped)
        listed = "; ".join(f"{n} {r}" for r, n in reasons.most_common(3))
        lines.append(
            f"skipped {len(splits.skipped)} input(s): {listed}"
            f" (listed in {run_dir / 'skipped.csv'})"
        )
    else:
        lines.append("skipped 0 inputs")
    if kept:
        lines.append(kept_line(kept))
    lines.append(f"run folder: {run_dir}")
    return "\n".join(lines)


def lr_find(
    data: str | Path,
    *,
    backbone: str | None = None,
    strategy: str = "finetune",
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    weights: str | Path | None = None,
    val_size: float = 0.2,
    seed: int = 0,
    train: TrainConfig | dict[str, Any] | None = None,
    batch_size: int | None = None,
    device: str = "cpu",
    steps: int = 60,
) -> dict[str, Any]:
    """The learning-rate range test on the training split: a suggested rate and the curve."""
    from transferkit.finetune._train import find_lr

    check_strategy(strategy)
    if strategy == "features":
        raise TransferKitError(
            "lr-find needs a trained strategy ('finetune', 'top:K', 'gradual', 'scratch');"
            " the 'features' head picks its regularisation by cross-validation instead."
        )
    splits = read_data(
        data, text_column=text_column, label_column=label_column, val_size=val_size, seed=seed
    )
    check_trainable(splits.train)
    spec = backbone or default_backbone(splits.modality)
    model = create_backbone(spec, weights=weights, device=device, pretrained=strategy != "scratch")
    config = _train_config(train, seed, batch_size, 0, device)
    if splits.modality == "image":
        _drop_undecodable(splits)
    suggestion, rates, losses = find_lr(model, splits, strategy, config, steps=steps)
    return {"suggestion": suggestion, "lr": rates, "loss": losses, "backbone": spec}
