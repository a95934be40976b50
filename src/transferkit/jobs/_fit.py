"""`fit`: data and a backbone in, a run folder with metrics and a reloadable model out.

The job is a short list of named steps (`transferkit.jobs._steps`): read, choose (auto),
build the backbone, embed or train, evaluate, write the run folder, then report, track
and baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transferkit.backbones._lazy import LazyBackbone
from transferkit.config import JobConfig
from transferkit.data import DataSplits, Skipped
from transferkit.jobs import _steps as steps
from transferkit.jobs._choose import choose, write_choice
from transferkit.jobs._outputs import resolved_config, run_facts, summary, write_outputs
from transferkit.jobs._splits import windowed_texts
from transferkit.jobs._steps import Job, write_config
from transferkit.runs._write import new_run_dir, run_file_names, save_model, write_json

if TYPE_CHECKING:
    from transferkit.runs._run import Predictor


@dataclass
class FitResult:
    """What `fit` returns: the run folder, its metrics and the trained model (`model`, a
    `Predictor`, loaded on first use: a cached fit that is not asked for it imports no
    torch)."""

    run_dir: Path
    metrics: dict[str, Any]
    summary: str
    skipped: list[Skipped] = field(default_factory=list)
    config: JobConfig | None = None
    backbone: Any = field(default=None, repr=False)  # the run's backbone, for `model`

    @cached_property
    def model(self) -> Predictor:
        from transferkit.runs._run import Predictor

        perf = (self.config or JobConfig()).performance
        backbone = self.backbone
        if isinstance(backbone, LazyBackbone):  # built when an input needs it
            backbone = backbone.real if backbone.is_built else None
        return Predictor(
            self.run_dir,
            cache_dir=perf.cache_dir,
            device=perf.device,
            use_cache=perf.use_cache,
            backbone=backbone,
        )


def fit(
    data: str | Path | JobConfig | None = None,
    *,
    config: JobConfig | None = None,
    resume_dir: Path | None = None,
    **options: Any,
) -> FitResult:
    """Train on `data` (an image folder, a CSV/TSV/Parquet file or a folder of them) and
    write a run folder; or run a `JobConfig` (`fit(config)`, `fit(config=config)`).

    The keyword options are the flat names of the config's settings (`JobConfig.OPTIONS`):
    `backbone`, `strategy` ('features', 'finetune', 'top:K', 'gradual', 'scratch',
    'auto'), `head`, `out`, `overwrite`, `text_column`, `label_column`, `weights`,
    `val_size`, `seed`, `cache_dir`, `use_cache`, `batch_size`, `num_workers`, `device`,
    `quiet`, `train` (a TrainConfig or a dict of its settings), `threshold` ('f1',
    'recall=R', 'precision=P': tuned on out-of-fold predictions of train), `balance`,
    `class_weight`, `cv` (K-fold CV over train + val), `encoding` ('onehot', 'ordinal'),
    `baseline` ('scratch': the same network from random weights, same budget; 'raw': a
    logistic regression on the raw inputs), `candidates` (what 'auto' ranks), `track`
    ('mlflow', 'tensorboard'), `track_uri`, `cut` (features from the groups up to one,
    e.g. 'blocks.5'), `modality`, `max_image_pixels`. Given with a config, they override
    its settings.

    The default strategy `features` runs the frozen pretrained backbone once per distinct
    input (embeddings are cached on disk), trains a head on the training split and
    evaluates on `test/` when there is one, else on the validation split.
    """
    job_config = _job_config(data, config, options)
    return run(job_config, resume_dir)


def _job_config(
    data: str | Path | JobConfig | None, config: JobConfig | None, options: dict[str, Any]
) -> JobConfig:
    if isinstance(data, JobConfig):
        config, data = data, None
    base = config if config is not None else JobConfig()
    if data is not None:
        options = {**options, "data": data}
    return base.with_options(**options)


def run(config: JobConfig, resume_dir: Path | None = None) -> FitResult:
    """The fit job as its steps."""
    job = steps.start(config, resume_dir)
    splits = steps.read(job)
    choice = choose(job, splits)
    if job.strategy == "features":
        model = steps.build_backbone(job, splits, "features", job.cut)
        outcome = steps.embed(job, splits, model, devices=_extract_devices(job))
    elif job.strategy == "contrastive":
        from transferkit.jobs._train import contrastive

        outcome = contrastive(job, splits)
    else:
        from transferkit.jobs._train import train

        outcome = train(job, splits, choice)
    probas, metrics = steps.evaluate(job, splits, outcome)
    result = write_run(job, splits, outcome, probas, metrics)
    if steps.worker_rank() > 0:
        return result
    return follow_up(job, splits, choice, result)


def _extract_devices(job: Job) -> int:
    """Processes to shard the extraction over (the DDP settings of the job)."""
    train = job.config.strategy.train
    return train.devices if train.ddp else 1


def write_run(
    job: Job, splits: DataSplits, outcome: Any, probas: dict, metrics: dict[str, Any]
) -> FitResult:
    """The model, predictions, metrics and config into the run folder."""
    model = outcome.model
    with job.timer.phase("write"):
        if job.run_dir is None:
            name = f"{Path(str(job.config.data.path)).name}-{job.backbone}"
            reserved = run_file_names(job.strategy)
            job.run_dir, job.kept = new_run_dir(
                job.config.outputs.out, name, job.config.outputs.overwrite, reserved
            )
        weights = job.config.backbone.weights
        save_model(
            job.run_dir,
            model,
            outcome.head,
            splits.class_names,
            weights,
            outcome.head_info,
            job.strategy,
            outcome.tuned,
        )
        write_outputs(job.run_dir, splits, probas, outcome.tuned, outcome.task_probas)
    eval_name = metrics.pop("evaluated_on")
    metrics.update(
        run_facts(splits, job.backbone, job.strategy, eval_name, job.timer.seconds, job.cache)
    )
    if model.cut is not None:
        metrics["cut"] = model.cut_name
    metrics.update(windowed_texts(job, splits, model))
    extras = {"auto": job.auto, "cv": outcome.cv}
    extras["contrastive"] = (outcome.train or {}).get("contrastive")
    if outcome.train and "select" in outcome.train:
        train = outcome.train
        extras["epoch_kept"] = (
            f"the last of {train['epochs']} (a fixed budget: a class has fewer than 20"
            " labelled rows, too few for a validation split to choose)"
            if train["select"] == "last"
            else f"the best by {train['monitor']} on the validation split"
        )
    for key in ("lora", "peak_memory_mb"):
        extras[key] = (outcome.head_info or {}).get(key)
    extras["threshold"] = outcome.tuned.to_dict() if outcome.tuned is not None else None
    metrics.update({k: v for k, v in extras.items() if v is not None})
    write_json(job.run_dir, "metrics.json", metrics)
    write_config(
        job, resolved_config(settings(job, model, outcome), model, outcome.head_info, splits)
    )
    return _result(job, splits, model, metrics)


def _result(job: Job, splits: DataSplits, model: Any, metrics: dict[str, Any]) -> FitResult:
    assert job.run_dir is not None  # written by write_run
    auto = job.auto
    text = ""
    if auto:
        text = f"auto picked {auto['backbone']!r} with {auto['picked']!r}. {auto['why']}\n"
    text += summary(metrics, splits, job.run_dir, job.kept)
    if job.cache.read_only:
        text += f"\n{job.cache.read_only_line()}"
    return FitResult(job.run_dir, metrics, text, list(splits.skipped), job.config, model)


def settings(job: Job, model: Any, outcome: Any) -> dict[str, Any]:
    """The flat, resolved settings a run keeps (what auto chose, absolute paths)."""
    flat = job.config.options()
    flat.pop("quiet", None)
    flat.update(
        {
            "data": str(Path(str(job.config.data.path)).resolve()),
            # relative input paths in predictions_*.csv start here
            "workdir": str(Path.cwd()),
            "backbone": job.backbone,
            "cut": model.cut,
            "strategy": job.strategy,
            "cache_dir": str(job.cache.root),
            "train": outcome.train,
            "auto": job.auto,
            "out": str(job.run_dir),
            "extract_devices": _extract_devices(job) if job.strategy == "features" else None,
        }
    )
    return flat


def follow_up(job: Job, splits: DataSplits, choice: Any, result: FitResult) -> FitResult:
    """What follows a finished run: auto's ranking, baselines, the report, tracking."""
    from transferkit.jobs._baselines import with_baseline
    from transferkit.jobs._publish import with_report, with_tracking

    write_choice(result.run_dir, choice, splits, job.config.data.path)
    if job.config.evaluation.baseline is not None:
        result = with_baseline(job, splits, result, run)
    with_report(result)
    if job.config.outputs.track is not None:
        with_tracking(result, job.config.outputs.track, job.config.outputs.track_uri)
    return result
