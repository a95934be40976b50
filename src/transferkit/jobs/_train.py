"""The `train` step: strategies that train backbone layers (Lightning), and auto's rule
that training is kept only when it beats the features model it started from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from transferkit._progress import status
from transferkit.data import DataSplits
from transferkit.features._extract import embed_splits
from transferkit.finetune._run import train_backbone, train_config
from transferkit.heads._balance import check_balance, class_weights
from transferkit.jobs import _steps as steps
from transferkit.jobs._choose import write_choice
from transferkit.jobs._splits import tiny
from transferkit.jobs._steps import Job, Outcome, write_config
from transferkit.runs._folder import forget_file
from transferkit.runs._write import new_run_dir, run_file_names


def train(job: Job, splits: DataSplits, choice: Any) -> Outcome:
    """Train the job's strategy; under auto, first build the features model at the best
    cut, stop training if it falls below it, and keep whichever scores higher on val."""
    _refuse_out_of_fold(job)
    check_balance(job.balance, job.strategy)
    candidate = _features_candidate(job, splits, choice)
    config = _config(job, splits)
    if candidate is not None:
        config.stop_below = candidate[1]
    model = steps.build_backbone(job, splits, job.strategy, job.cut)  # top:K may be cut
    _open_run_folder(job, splits, choice)
    perf = job.config.performance
    with job.timer.phase("train"):
        model, head, info = train_backbone(
            model,
            splits,
            job.strategy,
            config,
            job.run_dir,
            job.show,
            job.resume_dir is not None,
            job.cache,
        )
    with job.timer.phase("extract"):
        features = embed_splits(
            model,
            splits,
            job.cache,
            perf.batch_size,
            perf.num_workers,
            job.show,
            names=("val", "test"),
        )
    trained = Outcome(model, head, info, features, train=config.to_dict())
    if candidate is None:
        return trained
    return _better(job, splits, trained, *candidate)


def _refuse_out_of_fold(job: Job) -> None:
    from transferkit._errors import TransferKitError

    if job.rule is not None or job.config.evaluation.cv:
        what = "`threshold` is tuned on" if job.rule is not None else "`cv` needs"
        raise TransferKitError(
            f"{what} out-of-fold predictions, which strategy {job.strategy!r} would have"
            " to train once per fold: use it with --strategy features."
        )


def _config(job: Job, splits: DataSplits) -> Any:
    perf, data = job.config.performance, job.config.data
    config = train_config(
        job.config.strategy.train, data.seed, perf.batch_size, perf.num_workers, perf.device
    )
    config.balance = job.balance
    if tiny(splits):  # a validation split of a few rows would pick the epoch by chance
        config.select = "last"
    if job.balance == "class-weight":
        weights = class_weights(
            splits.train.labels, splits.class_names, job.config.imbalance.class_weight
        )
        config.class_weights = [float(w) for w in weights]
    return config


def _features_candidate(job: Job, splits: DataSplits, choice: Any) -> tuple[Outcome, float] | None:
    """auto's features model at the best cut, and its validation accuracy."""
    if choice is None or steps.worker_rank() > 0:
        return None
    with status("auto: the features model at the best cut, to beat", job.show):
        model = steps.build_backbone(job, splits, "features", choice.features_cut)
        outcome = steps.embed(job, splits, model)
    return outcome, steps.val_accuracy(outcome, splits)


def _better(
    job: Job, splits: DataSplits, trained: Outcome, features: Outcome, start: float
) -> Outcome:
    """Keep training only when it beats the features model on the validation split."""
    score = steps.val_accuracy(trained, splits)
    assert job.auto is not None and job.run_dir is not None
    if score > start:
        job.auto["trained"] = {"strategy": job.strategy, "val_accuracy": score}
        job.auto["features_val_accuracy"] = start
        job.auto["why"] += (
            f" Training kept: {score:.3f} on val against {start:.3f} for 'features' at the"
            " best cut."
        )
        return trained
    job.auto["why"] += (
        f" Training stopped at {score:.3f} on val, not above the {start:.3f} of 'features' at"
        " the best cut: that model is kept."
    )
    job.auto["trained"] = {"strategy": job.strategy, "val_accuracy": score}
    job.auto["features_val_accuracy"] = start
    job.auto["picked"] = job.strategy = "features"
    forget_file(job.run_dir, "model/backbone.safetensors")
    job.cut = features.model.cut
    return features


def _open_run_folder(job: Job, splits: DataSplits, choice: Any) -> None:
    """The run folder before training, with config.json, so that a killed run can be
    resumed from its folder alone (DDP workers join rank 0's folder)."""
    if steps.worker_rank() > 0:
        job.run_dir = Path(os.environ[steps.RUN_DIR_ENV])
        return
    if job.resume_dir is not None:
        job.run_dir, job.kept = job.resume_dir, []
    else:
        name = f"{os.path.basename(str(job.config.data.path))}-{job.backbone}-{job.strategy}"
        reserved = run_file_names(job.strategy, ranking=job.config.backbone.candidates is not None)
        outputs = job.config.outputs
        job.run_dir, job.kept = new_run_dir(outputs.out, name, outputs.overwrite, reserved)
    os.environ[steps.RUN_DIR_ENV] = str(job.run_dir)  # inherited by DDP workers
    early = {"data": str(Path(str(job.config.data.path)).resolve()), "backbone": job.backbone}
    early.update(strategy=job.strategy, auto=job.auto, out=str(job.run_dir))
    write_config(job, early)
    write_choice(job.run_dir, choice, splits, job.config.data.path)


def contrastive(job: Job, splits: DataSplits) -> Outcome:
    """Strategy `contrastive`: tune the sentence encoder on pairs of training rows (SetFit),
    save it beside the head, then the `features` step on the tuned encoder (the head and
    its C by cross-validation, the cache keyed by the tuned weights)."""
    from transferkit._errors import TransferKitError
    from transferkit.backbones._text import HFTextBackbone
    from transferkit.finetune._contrastive import tune_encoder
    from transferkit.runs._folder import output_path, record

    _refuse_out_of_fold(job)
    if splits.modality != "text":
        raise TransferKitError(
            f"strategy 'contrastive' tunes a sentence encoder on pairs of texts;"
            f" {job.config.data.path!r} holds {splits.modality}: use --strategy finetune."
        )
    config = _config(job, splits)
    settings = config.contrastive()
    model = steps.build_backbone(job, splits, "contrastive", job.cut)
    if not isinstance(model, HFTextBackbone):
        raise TransferKitError(
            f"strategy 'contrastive' needs a transformers text encoder; {job.backbone!r} is"
            " not one: use minilm-l6 or hf:MODEL_ID."
        )
    _open_run_folder(job, splits, None)
    assert job.run_dir is not None  # opened just above
    pairs = settings.n_pairs(len(splits.train))
    what = f"contrastive tuning of the encoder on {pairs} pairs x {settings.repeats}"
    with job.timer.phase("train"), status(what, job.show):
        info = tune_encoder(model, splits.train.inputs, splits.train.labels, settings)
    model.save_trained(output_path(job.run_dir, "model/backbone.safetensors"))
    record(job.run_dir, "model/backbone.safetensors")
    outcome = steps.embed(job, splits, model)
    outcome.train = {"contrastive": info}
    return outcome
