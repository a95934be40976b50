"""The steps of a `fit` job, each a function with plain inputs and outputs.

read -> choose (auto) -> build backbone -> embed | train -> evaluate -> write run folder
-> report, track, baseline. `transferkit.jobs._fit.fit` is that list; a new task adds or
swaps a step. `Job` carries what every step may need (the config, the feature cache, the
timer) and what the steps resolve on the way (backbone, strategy, cut, run folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from transferkit._errors import TransferKitError
from transferkit._progress import progress_enabled, status
from transferkit.backbones._defaults import default_backbone
from transferkit.backbones._lazy import LAZY_MODALITIES
from transferkit.config import JobConfig
from transferkit.data import DataSplits, Skipped, check_trainable, read_data
from transferkit.data._fields import attach_fields
from transferkit.data._tasks import encode_tasks, task_names
from transferkit.evaluation._cv import OutOfFold, cross_validate, oof_scores
from transferkit.evaluation._metrics import classification_metrics
from transferkit.features._cache import FeatureCache
from transferkit.features._extract import embed_splits
from transferkit.heads._balance import check_balance, class_weights
from transferkit.heads._threshold import (
    Threshold,
    ThresholdRule,
    choose_threshold,
    decide,
    parse_rule,
)
from transferkit.heads._train import balanced_head
from transferkit.jobs._splits import fold_val, val_unused
from transferkit.jobs._tasks import check_multitask, multitask_head, task_metrics
from transferkit.runs._write import check_out, run_file_names, write_json

if TYPE_CHECKING:
    from transferkit.backbones import Backbone

RUN_DIR_ENV = "TRANSFERKIT_RUN_DIR"  # the run folder, passed from rank 0 to DDP workers


class Timer:
    """Seconds per named phase (a phase entered twice adds up)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 4)


@dataclass
class Job:
    """One fit job under way: its config and what the steps have resolved so far."""

    config: JobConfig
    resume_dir: Path | None = None
    timer: Timer = field(default_factory=Timer)
    cache: FeatureCache = field(init=False)
    show: bool = False
    backbone: str = ""  # the resolved backbone name
    strategy: str = ""  # the resolved strategy
    cut: int | str | None = None
    auto: dict[str, Any] | None = None  # what auto chose and why
    run_dir: Path | None = None
    kept: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        perf = self.config.performance
        self.cache = FeatureCache(perf.cache_dir, enabled=perf.use_cache)
        self.show = progress_enabled(self.config.outputs.quiet)
        self.backbone = self.config.backbone.name or ""
        self.strategy = self.config.strategy.name
        self.cut = self.config.backbone.cut

    @property
    def rule(self) -> ThresholdRule | None:
        threshold = self.config.imbalance.threshold
        return parse_rule(threshold) if threshold is not None else None

    @property
    def balance(self) -> str:
        imbalance = self.config.imbalance
        return "class-weight" if imbalance.class_weight else imbalance.balance


@dataclass
class Outcome:
    """What the embed or train step gives the evaluation: a backbone, a head, features."""

    model: Backbone
    head: Any  # a NumPy LinearHead (logistic) or a torch ClassifierHead
    head_info: dict[str, Any]
    features: dict[str, np.ndarray]
    tuned: Threshold | None = None
    oof: np.ndarray | None = None  # the out-of-fold P(positive) on train `tuned` came from
    cv: dict[str, Any] | None = None
    oof_cv: OutOfFold | None = None  # every row's prediction by the CV fold that held it out
    train: dict[str, Any] | None = None  # the training settings of a trained strategy
    task_probas: dict[str, list[np.ndarray]] | None = None  # multi-task: per split, per task


def worker_rank() -> int:
    """This process's rank in a multi-process (DDP) run; 0 when there is none."""
    return int(os.environ.get("LOCAL_RANK", "0")) if RUN_DIR_ENV in os.environ else 0


def start(config: JobConfig, resume_dir: Path | None = None) -> Job:
    """Check what can be checked before reading any data, and open the job."""
    config.validate()
    job = Job(config, resume_dir)
    reserved = run_file_names(job.strategy, ranking=config.backbone.candidates is not None)
    if resume_dir is None and worker_rank() == 0:
        check_out(config.outputs.out, config.outputs.overwrite, reserved)
    pixels = config.data.max_image_pixels
    if pixels is not None:
        # image readers in this process and the workers it starts read it from here
        os.environ["TRANSFERKIT_MAX_IMAGE_PIXELS"] = str(int(pixels))
    job.cache.check_writable()  # a read-only cache is used read-only, and said once
    return job


def read(job: Job, groups: bool = True) -> DataSplits:
    """Read and split the data; refuse a task the settings cannot train, in seconds.
    `groups`: resolve the audit's group for every sample (`adapt` audits its labelled
    target instead)."""
    data = job.config.data
    if data.path is None:
        raise TransferKitError("give the DATA to fit (`data.path` in a config file).")
    tasks = task_names(data.label_column)
    if job.config.evaluation.baseline == "single-task" and not tasks:
        raise TransferKitError(
            "--baseline single-task compares a multi-task run with one run per task: name"
            " several tasks with --label (e.g. --label digit,speaker)."
        )
    with job.timer.phase("read"):
        splits = read_data(
            data.path,
            text_column=data.text_column,
            label_column=tasks[0] if tasks else data.label_column,
            val_size=data.val_size,
            seed=data.seed,
            modality=data.modality,
            label_pattern=data.label_pattern,
            other_labels=tuple(tasks[1:]),
        )
    if val_unused(job, splits):
        fold_val(splits, job.strategy)
    group = job.config.evaluation.group
    if group is not None and groups:  # resolved now: a wrong name fails before any embedding
        attach_fields(splits, [group], "--group", data.label_pattern)
    if tasks:
        check_multitask(job)
        attach_fields(splits, tasks[1:], "--label", data.label_pattern, missing_ok=True)
        splits.tasks = encode_tasks(splits, tasks)
    check_trainable(splits.train)  # before any embedding: fail in seconds, not minutes
    if job.rule is not None and len(splits.class_names) != 2:
        raise TransferKitError(
            f"`threshold` {job.config.imbalance.threshold!r} needs a binary task;"
            f" {data.path!r} has {len(splits.class_names)} classes. Drop --threshold."
        )
    job.backbone = job.backbone or default_backbone(splits.modality)
    choice = job.config.backbone
    if choice.clip_seconds is not None or choice.windows is not None:
        if job.strategy == "auto" or choice.candidates:
            raise TransferKitError(
                "--clip-seconds and --windows set one backbone's clips; auto ranks several:"
                " write the options in the candidates' names, e.g."
                " 'crepe-tiny[seconds=2,windows=3]'."
            )
        text_windows = splits.modality == "text" and choice.clip_seconds is None
        if splits.modality != "audio" and not text_windows:
            raise TransferKitError(
                f"--clip-seconds and --windows set how sounds are cut (and --windows how long"
                f" texts are); {data.path!r} holds {splits.modality}: drop them."
            )
        from transferkit.backbones._audio import split_clip_options, with_clip_options

        job.backbone = with_clip_options(job.backbone, choice.clip_seconds, choice.windows)
        split_clip_options(job.backbone)  # out of range: one line, before any work
    return splits


def build_backbone(job: Job, splits: DataSplits, strategy: str, cut: Any) -> Backbone:
    """The backbone the strategy starts from, cut where asked, ready for the data. A
    `features` backbone the cache has seen before comes as a `LazyBackbone`: its network
    (and torch) load only if an input is missing from the cache."""
    with job.timer.phase("load_backbone"):
        if strategy == "features" and splits.modality in LAZY_MODALITIES:
            model = _cached_backbone(job, cut)
        else:
            model = _new_backbone(job, strategy, cut)
    _check_modality(job, model, splits, strategy)
    return model


def _new_backbone(job: Job, strategy: str, cut: Any) -> Backbone:
    from transferkit.backbones import create_backbone

    model = create_backbone(
        job.backbone,
        weights=job.config.backbone.weights,
        device=job.config.performance.device,
        pretrained=strategy != "scratch",
    )
    if strategy == "features":
        # a features run never trains it: its inference-only form (folded BatchNorms)
        model.for_inference()
    if cut is not None:  # features, or top:K below the cut (checked with the config)
        model.cut_at(int(cut) if isinstance(cut, str) and cut.isdigit() else cut)
    return model


def _cached_backbone(job: Job, cut: Any) -> Any:
    """The recorded facts of this backbone as a lazy one, else the backbone itself (its
    facts recorded for next time)."""
    from transferkit.backbones._lazy import LazyBackbone, backbone_facts, facts_key

    key = facts_key(job.backbone, job.config.backbone.weights, cut)
    facts = job.cache.read_facts(key)
    if facts is not None and facts.get("spec") == job.backbone:
        return LazyBackbone(facts, partial(_new_backbone, job, "features", cut))
    model = _new_backbone(job, "features", cut)
    job.cache.write_facts(key, backbone_facts(model))
    return model


def _check_modality(job: Job, model: Backbone, splits: DataSplits, strategy: str) -> None:
    """The backbone must read what the data holds; a tabular backbone learns its encoding."""
    if model.modality != splits.modality:
        raise TransferKitError(
            f"backbone {job.backbone!r} reads {model.modality} but"
            f" {job.config.data.path!r} holds {splits.modality}: pick a {splits.modality}"
            f" backbone (e.g. {default_backbone(splits.modality)!r})."
        )
    if model.modality != "tabular":
        return
    if strategy not in ("features", "auto"):
        raise TransferKitError(
            f"strategy {strategy!r} trains backbone layers, and the tabular backbone"
            " 'identity' has none: use --strategy features (the head sees the encoded columns)."
        )
    model.fit_encoder(splits.train.inputs, job.config.data.encoding)
    for name in ("train", "val", "test"):
        ds = getattr(splits, name)
        for ref, item in zip(ds.refs if ds else [], ds.inputs if ds else [], strict=True):
            for _, reason in model.encoder.imputations(json.loads(item)):  # missing or inf
                splits.imputed.append(Skipped(item=ref, reason=reason, split=name))


def head_fitter(job: Job, splits: DataSplits) -> partial:
    """The features head as a function of (x, y): the kind, balancing and seed of the job."""
    weights = None
    if job.balance == "class-weight":
        weights = class_weights(
            splits.train.labels, splits.class_names, job.config.imbalance.class_weight
        )
    return partial(
        balanced_head,
        job.config.strategy.head,
        n_classes=len(splits.class_names),
        seed=job.config.data.seed,
        balance=job.balance,
        weights=weights,
    )


def embed(job: Job, splits: DataSplits, model: Backbone, devices: int = 1) -> Outcome:
    """The `features` strategy: embed every split once (cached), fit the head on train,
    tune its threshold and cross-validate it when asked."""
    check_balance(job.balance, "features")
    perf = job.config.performance
    with job.timer.phase("extract"):
        features = embed_splits(
            model,
            splits,
            job.cache,
            perf.batch_size,
            perf.num_workers,
            job.show,
            devices=devices,
        )
    check_trainable(splits.train, n_skipped=len(splits.skipped))
    fit_head = head_fitter(job, splits)
    kind = job.config.strategy.head
    what = "logistic regression, C by cross-validation" if kind == "logistic" else kind
    with job.timer.phase("train_head"), status(f"training the head ({what})", job.show):
        if splits.tasks:
            head, head_info = multitask_head(job, splits, features["train"], cached_head)
        else:
            head, head_info = cached_head(job, fit_head, features["train"], splits.train.labels)
    outcome = Outcome(model, head, head_info, features)
    seed, rule = job.config.data.seed, job.rule
    if rule is not None:
        with job.timer.phase("threshold"), status(f"tuning the threshold ({rule})", job.show):
            outcome.oof = oof_scores(fit_head, features["train"], splits.train.labels, seed)
            positive = splits.class_names[1]
            outcome.tuned = choose_threshold(splits.train.labels, outcome.oof, rule, positive)
    k = job.config.evaluation.cv
    if k:
        with job.timer.phase("cross_validate"), status(f"{k}-fold cross-validation", job.show):
            outcome.cv, outcome.oof_cv = cross_validate(fit_head, features, splits, k, seed, rule)
    return outcome


def cached_head(job: Job, fit_head: partial, x: np.ndarray, y: np.ndarray) -> tuple[Any, dict]:
    """The head fitted on these very embeddings and labels with these settings before, from
    the cache; else fitted now (and kept, when it is the NumPy logistic head)."""
    from transferkit.heads._linear import LinearHead

    key = head_key(fit_head, x, y)
    found = job.cache.read_head(key)
    if found is not None:
        return found
    head, info = fit_head(x, y)
    if isinstance(head, LinearHead):
        job.cache.write_head(key, head, info)
    return head, info


def head_key(fit_head: partial, x: np.ndarray, y: np.ndarray) -> str:
    """What decides a fitted head: the exact embeddings and labels, the head's settings,
    and the versions of what fits it."""
    from importlib.metadata import version

    from transferkit import __version__
    from transferkit._hashing import digest_text

    settings = {k: v for k, v in fit_head.keywords.items() if k != "weights"}
    weights = fit_head.keywords.get("weights")
    parts = [
        __version__,
        version("scikit-learn"),
        list(fit_head.args),
        json.dumps(settings, sort_keys=True, default=str),
        None if weights is None else [float(w) for w in weights],
        hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest(),
        list(x.shape),
        hashlib.sha256(np.ascontiguousarray(y).tobytes()).hexdigest(),
    ]
    return digest_text(json.dumps(parts))


def evaluate(job: Job, splits: DataSplits, outcome: Outcome) -> tuple[dict, dict]:
    """Probabilities for val and test, and the metrics on test, else val, else (every row
    training, `--cv`) on the out-of-fold predictions of train."""
    eval_name = _evaluated_split(splits)
    with job.timer.phase("evaluate"):
        held_out = {k: x for k, x in outcome.features.items() if k != "train" and len(x)}
        if splits.tasks:  # every task's probabilities; the first task's are the run's
            outcome.task_probas = {
                k: outcome.head.predict_proba_tasks(x) for k, x in held_out.items()
            }
            probas = {k: p[0] for k, p in outcome.task_probas.items()}
        else:
            probas = {k: outcome.head.predict_proba(x) for k, x in held_out.items()}
        if eval_name == "cv":
            assert outcome.oof_cv is not None  # no test nor val: a --cv run (_val_unused)
            probas["cv"] = outcome.oof_cv.proba
            evaluated, predicted = splits.train, outcome.oof_cv.predicted
        else:
            evaluated = getattr(splits, eval_name)
            predicted = decide(probas[eval_name], outcome.tuned)
        metrics = classification_metrics(
            evaluated.labels,
            predicted,
            splits.class_names,
            proba=probas[eval_name],
            train_labels=splits.train.labels,
        )
        if outcome.task_probas is not None:
            metrics["tasks"] = task_metrics(splits, eval_name, outcome.task_probas[eval_name])
        group = job.config.evaluation.group
        if group is not None:
            from transferkit.evaluation._audit import group_audit

            metrics["groups"] = group_audit(
                evaluated.labels,
                predicted,
                evaluated.fields[group],
                splits.class_names,
                group,
                eval_name,
            )
    metrics["evaluated_on"] = eval_name
    return probas, metrics


def _evaluated_split(splits: DataSplits) -> str:
    if splits.test is not None and len(splits.test):
        return "test"
    return "val" if len(splits.val) else "cv"


def val_accuracy(outcome: Outcome, splits: DataSplits) -> float:
    """Accuracy on the validation split (what auto compares its candidates on)."""
    proba = outcome.head.predict_proba(outcome.features["val"])
    return float(np.mean(decide(proba, outcome.tuned) == splits.val.labels))


def write_config(job: Job, resolved: dict[str, Any]) -> None:
    """config.json: the job's config, and under 'resolved' what the run made of it."""
    assert job.run_dir is not None
    write_json(job.run_dir, "config.json", {**job.config.to_dict(), "resolved": resolved})


def config_from_run(run_dir: Path) -> JobConfig:
    """The config a run folder was written with, resolved as the run resolved it (auto's
    backbone and strategy), to continue it: `--resume` and a stopped baseline."""
    from transferkit.runs._files import read_run_json, settings_of
    from transferkit.runs._folder import inside

    if not inside(run_dir, "config.json").is_file():
        raise TransferKitError(
            f"cannot resume {str(run_dir)!r}: it has no config.json. Pass a run folder that"
            " `transferkit fit --strategy ...` wrote."
        )
    saved = read_run_json(run_dir, "config.json")
    resolved = settings_of(saved)
    if "resolved" not in saved or not isinstance(resolved.get("data"), str):
        raise TransferKitError(
            f"{str(run_dir / 'config.json')!r} is damaged or from an older transferkit: it"
            " names no 'data' to resume on. Fit again (embeddings are cached)."
        )
    sections = {k: v for k, v in saved.items() if k != "resolved"}
    config = JobConfig.from_dict(sections, source=repr(str(run_dir / "config.json")))
    strategy = resolved.get("strategy") or config.strategy.name
    if strategy == "features":
        raise TransferKitError(
            f"{str(run_dir)!r} used strategy 'features', which has no training state to resume:"
            " run `transferkit fit` again (its embeddings are cached)."
        )
    backbone = resolved.get("backbone") or config.backbone.name
    return config.with_options(strategy=strategy, backbone=backbone, candidates=None)
