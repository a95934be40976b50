"""`adapt`: a labelled source, an unlabelled target, one model for the target.

The job as its steps: read the source(s) (as `fit` reads data) and the target -> build
the backbone -> embed both (cached) -> fit the methods on the features (a deep one,
checkpointing into the run folder, with three seeds) and choose by an unsupervised
criterion (`transferkit.adaptation`) -> correct for label shift, and re-tune a threshold
rule, when asked -> evaluate (on the target when its labels were given, only to
evaluate) -> write the run folder -> report. The model is the backbone and a head (linear,
or a deep method's MLP), as `fit` saves it, so `predict`, `load`, `export`, `compare`,
`track` and `run:` backbones take it as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from transferkit._errors import TransferKitError
from transferkit.config import JobConfig
from transferkit.config._adapt import AdaptationConfig
from transferkit.data import DataSplits, Skipped
from transferkit.data._target import Target, read_target
from transferkit.data._tasks import task_names
from transferkit.jobs import _steps as steps
from transferkit.jobs._adapt_data import AdaptResult, Embedded, merged_splits
from transferkit.jobs._steps import Job


def adapt(
    source: str | Path | JobConfig | list[str | Path] | None = None,
    target: str | Path | None = None,
    *,
    method: str = "auto",
    target_labels: bool = False,
    criterion: str = "circular",
    label_shift: str | None = None,
    target_text_column: str | int | None = None,
    target_label_column: str | int | None = None,
    **options: Any,
) -> AdaptResult:
    """Adapt a model trained on `source` (labelled data in any layout `fit` reads, or a
    list of such sources, each a domain of its own) to `target` (unlabelled: a folder of
    images, a text file; or labelled data whose labels are read only to evaluate,
    `target_labels=True`).

    `method`: 'auto' (fit every method and keep the one the unsupervised `criterion`
    prefers: 'circular', 'dev', 'snd' or 'entropy'), or one of 'source-only', 'coral',
    'subspace', 'linear-ot', 'ot', 'kde-reweight', 'classifier-reweight', 'self-training',
    'coral+self-training', 'linear-ot+self-training' on the cached features; or a deep
    method, an adapter network trained over them with a domain loss, three seeds: 'dann',
    'cdan+e', 'mcc', 'dan' (asked by name; `adapt --resume RUN` continues one).
    `label_shift`: 'em' or 'bbse' re-estimates the target's class priors and corrects the
    probabilities. The other keyword options are `fit`'s (`backbone`, `cut`, `out`,
    `seed`, `cache_dir`, ...).
    """
    base = source if isinstance(source, JobConfig) else JobConfig()
    more: list[str] = []
    if isinstance(source, list):
        if not source:
            raise TransferKitError("give at least one SOURCE to adapt from.")
        sources: list[str | Path] = source
        source, more = sources[0], [str(Path(p).resolve()) for p in sources[1:]]
    if source is not None and not isinstance(source, JobConfig):
        options = {**options, "data": source}
    config = base.with_options(**options)
    settings = AdaptationConfig(
        target=None if target is None else str(target),
        target_labels=target_labels,
        target_text_column=target_text_column,
        target_label_column=target_label_column,
        method=method,
        criterion=criterion,
        label_shift=label_shift,
        more_sources=more,
    )
    return run(config, settings)


def resume_adapt(run_dir: str | Path, *, quiet: bool = False) -> AdaptResult:
    """Continue an interrupted adaptation with a deep method from its folder alone: the
    seeds already trained load from their checkpoints, an interrupted one resumes from
    its last epoch."""
    from transferkit.runs._files import read_run_json
    from transferkit.runs._folder import inside

    run_dir = Path(run_dir)
    name = repr(str(run_dir / "config.json"))
    if not inside(run_dir, "config.json").is_file():
        raise TransferKitError(
            f"cannot resume {str(run_dir)!r}: it has no config.json. Pass a run folder that"
            " `transferkit adapt --method dann` (or another deep method) wrote."
        )
    saved = read_run_json(run_dir, "config.json")
    if not isinstance(saved.get("adaptation"), dict):
        raise TransferKitError(
            f"{name} has no 'adaptation' section: it is not an adapt run. Resume a fit run"
            " with `transferkit fit --resume`."
        )
    resolved = saved.get("resolved") or {}
    sections = {k: v for k, v in saved.items() if k not in ("adaptation", "resolved")}
    config = JobConfig.from_dict(sections, source=name).with_options(quiet=quiet)
    settings = AdaptationConfig.from_dict(saved["adaptation"], source=name)
    if isinstance(resolved.get("data"), str):  # paths as the run resolved them
        config = config.with_options(data=resolved["data"])
    if isinstance(resolved.get("target"), str):
        settings.target = resolved["target"]
    return run(config, settings, resume_dir=run_dir)


def run(
    config: JobConfig, settings: AdaptationConfig, resume_dir: Path | None = None
) -> AdaptResult:
    """The adapt job as its steps."""
    from transferkit.adaptation._methods import get_method
    from transferkit.jobs._adapt_steps import adapt_features, evaluate
    from transferkit.jobs._adapt_write import open_run_folder, write_files

    settings.validate()
    if task_names(config.data.label_column):
        raise TransferKitError(
            f"adapt learns one task; --label {config.data.label_column!r} names several:"
            " give one label column."
        )
    deep = settings.method != "auto" and get_method(settings.method).deep
    strategy = config.strategy.name
    if strategy != "features" and not (strategy.startswith("top:") and deep):
        raise TransferKitError(
            f"adapt trains backbone layers only with --strategy top:K and a deep method"
            f" (dann, cdan+e, mcc, dan); got strategy {strategy!r} with method"
            f" {settings.method!r}: drop --strategy, or name a deep --method."
        )
    if resume_dir is not None and not deep:
        raise TransferKitError(
            f"{str(resume_dir)!r} adapted with {settings.method!r}, which has no training"
            " state to resume: run `transferkit adapt` again (its embeddings are cached)."
        )
    job = steps.start(config, resume_dir)
    embedded = embed_domains(job, settings)
    if deep:  # the adapter checkpoints into the run folder as it trains
        open_run_folder(job, settings)
    adapted = adapt_features(job, settings, embedded)
    metrics = evaluate(job, settings, embedded, adapted)
    result = write_files(job, settings, embedded, adapted, metrics)
    from transferkit.jobs._publish import with_report

    with_report(result)
    return result


def embed_domains(job: Job, settings: AdaptationConfig) -> Embedded:
    """Read both domains, build the backbone, embed every input once (cached)."""
    from transferkit.data._fields import field_values
    from transferkit.features._extract import extract_features

    splits, source_ids = read_sources(job, settings)
    assert settings.target is not None  # validated
    data = job.config.data
    label = settings.target_label_column
    if label is None and data.label_pattern is not None:  # the source's field of the names
        label = data.label_column
    with job.timer.phase("read_target"):
        target = read_target(
            settings.target,
            splits.modality,
            splits.class_names,
            labels=settings.target_labels,
            text_column=settings.target_text_column,
            label_column=label,
            columns=splits.columns,
            label_pattern=data.label_pattern,
        )
    group = job.config.evaluation.group
    if group is not None and settings.target_labels:
        target.data.fields[group] = field_values(target.data, group, "--group", data.label_pattern)
    model = steps.build_backbone(job, splits, "features", job.cut)
    source_only = steps.embed(job, splits, model)
    perf = job.config.performance
    with job.timer.phase("extract_target"):
        x, errors = extract_features(
            model,
            target.data.inputs,
            job.cache,
            batch_size=perf.batch_size,
            num_workers=perf.num_workers,
            show_progress=job.show,
            description="embedding the target",
        )
    target = _drop_unreadable(target, errors)
    features = {**source_only.features, "target": x[[i not in errors for i in range(len(x))]]}
    return Embedded(splits, target, model, features, source_only, source_ids)


def read_sources(job: Job, settings: AdaptationConfig) -> tuple[DataSplits, np.ndarray]:
    """The labelled source, or several merged into one (their classes united), with the
    domain of each training row (1, 2, ...: skada's source domains)."""
    groups = not settings.target_labels  # the audit is of the target when it has labels
    first = steps.read(job, groups)
    parts = [first]
    for path in settings.more_sources:
        other = steps.read(Job(job.config.with_options(data=path)), groups)
        if other.modality != first.modality:
            raise TransferKitError(
                f"source {path!r} holds {other.modality} data but the first source"
                f" {str(job.config.data.path)!r} holds {first.modality}: give sources of"
                " one modality."
            )
        if (
            other.columns
            and first.columns
            and other.columns["features"] != first.columns["features"]
        ):
            raise TransferKitError(
                f"source {path!r} has other feature columns than the first source: give"
                " tables with the same columns."
            )
        parts.append(other)
    ids = np.concatenate([np.full(len(p.train), i + 1) for i, p in enumerate(parts)])
    if len(parts) == 1:
        return first, ids
    return merged_splits(parts), ids


def _drop_unreadable(target: Target, errors: dict[int, str]) -> Target:
    """The target without the inputs the backbone could not read (skipped, with why)."""
    if not errors:
        return target
    keep = [i for i in range(len(target.data)) if i not in errors]
    skipped = [
        Skipped(item=target.data.refs[i], reason=why, split="target") for i, why in errors.items()
    ]
    if not keep:
        raise TransferKitError(
            f"none of the {len(target.data)} target inputs could be read: first error"
            f" {next(iter(errors.values()))!r}."
        )
    return Target(
        target.data.subset(keep), target.labelled, target.skipped + skipped, target.detected
    )
