"""Baselines that answer "when to transfer": the same network from random weights on the
same budget (`scratch`, minutes), and a logistic regression on the raw inputs (`raw`,
seconds). Either beating the transfer model is said plainly in the summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transferkit._errors import TransferKitError
from transferkit.data import DataSplits
from transferkit.jobs._steps import Job, config_from_run
from transferkit.runs._files import read_run_json
from transferkit.runs._folder import record_nested
from transferkit.runs._write import write_json

SCRATCH_FOLDER = "baseline-scratch"


def with_baseline(job: Job, splits: DataSplits, result: Any, run_job: Callable) -> Any:
    """Run the job's baseline beside the finished run and report the gain. `run_job` runs
    a fit job (the scratch baseline is one)."""
    kind = job.config.evaluation.baseline
    if kind == "single-task":
        return _single_tasks(job, splits, result, run_job)
    scores = _raw(job, splits) if kind == "raw" else _scratch(job, splits, result, run_job)
    gain = result.metrics["accuracy"] - scores["accuracy"]
    result.metrics["baseline"] = {**scores, "transfer_gain": gain, "negative_transfer": gain < 0}
    write_json(result.run_dir, "metrics.json", result.metrics)
    result.summary += "\n" + _verdict(kind, scores, gain, result.metrics, job.backbone)
    return result


def _verdict(kind: str, scores: dict, gain: float, metrics: dict, backbone: str) -> str:
    theirs, ours = scores["accuracy"], metrics["accuracy"]
    if kind == "raw":
        if gain <= 0:
            return (
                f"TRANSFER IS NOT PAYING OFF HERE: a logistic regression on the raw inputs"
                f" ({scores['inputs']}) scored {theirs:.4f}, {-gain * 100:.1f} points at or above"
                f" {backbone!r} ({ours:.4f}), in {scores['seconds']:.1f} s. Use the simple model,"
                " or try another backbone (`transferkit rank`)."
            )
        return f"transfer gain over raw inputs: {gain * 100:+.1f} points (raw: {theirs:.4f})"
    if gain < 0:
        return (
            f"NEGATIVE TRANSFER: the same network trained from scratch scored {theirs:.4f},"
            f" {-gain * 100:.1f} points above the pretrained {backbone!r} ({ours:.4f}). The"
            " data may be far from what the backbone learned: try another backbone"
            " (`transferkit rank`)."
        )
    return (
        f"transfer gain over scratch: {gain * 100:+.1f} points (scratch, same budget: {theirs:.4f})"
    )


def _raw(job: Job, splits: DataSplits) -> dict[str, Any]:
    from transferkit.evaluation._raw import raw_baseline

    with job.timer.phase("baseline"):
        return raw_baseline(splits, seed=job.config.data.seed)


def _scratch(job: Job, splits: DataSplits, result: Any, run_job: Callable) -> dict[str, Any]:
    """Train `scratch` in the run's own folder (a resumed run resumes, or reuses, the
    baseline it had started; a new run replaces it)."""
    if splits.modality == "tabular" or job.strategy == "scratch":
        raise TransferKitError(
            "--baseline scratch needs a pretrained backbone to compare with: not with"
            " strategy 'scratch' nor the tabular 'identity' backbone."
        )
    folder = result.run_dir / SCRATCH_FOLDER
    if job.resume_dir is not None and (folder / "config.json").is_file():
        if (folder / "metrics.json").is_file():
            scratch = read_run_json(folder, "metrics.json")
        else:
            config = config_from_run(folder).with_options(quiet=job.config.outputs.quiet)
            scratch = run_job(config, resume_dir=folder).metrics
    else:
        scratch = run_job(_scratch_config(job, folder)).metrics
    record_nested(result.run_dir, SCRATCH_FOLDER)
    return {
        "strategy": "scratch",
        "run": str(folder),
        "accuracy": scratch["accuracy"],
        "balanced_accuracy": scratch["balanced_accuracy"],
    }


def _single_tasks(job: Job, splits: DataSplits, result: Any, run_job: Callable) -> Any:
    """One run per task, with the same backbone, strategy and budget, in the run's folder;
    per task the multi-task run's gain or loss, and the wall time of each."""
    import re
    import time

    tasks: dict[str, Any] = {}
    seconds = 0.0
    for task in splits.tasks:
        safe = re.sub(r"[^A-Za-z0-9_-]+", "_", task.name)  # a column name may hold anything
        folder = result.run_dir / f"baseline-single-task-{safe}"
        options = {"label_column": task.name, "baseline": None, "group": None, "track": None}
        config = job.config.with_options(
            **options, backbone=job.backbone, strategy=job.strategy, out=folder, overwrite=True
        )
        start = time.perf_counter()
        single = run_job(config).metrics
        took = time.perf_counter() - start
        seconds += took
        record_nested(result.run_dir, folder.name)
        ours = result.metrics["tasks"][task.name].get("accuracy", float("nan"))
        tasks[task.name] = {
            "run": str(folder),
            "accuracy": single["accuracy"],
            "evaluated_on": single["evaluated_on"],
            "multi_task_accuracy": ours,
            "gain": ours - single["accuracy"],
            "seconds": round(took, 2),
        }
    multi = result.metrics["timings"]["total"]
    same_rows = all(t["evaluated_on"] == "test" for t in tasks.values()) and (
        result.metrics["evaluated_on"] == "test"
    )
    result.metrics["baseline"] = {
        "strategy": "single-task",
        "tasks": tasks,
        # with a test split every run is scored on it; else each on its own validation split
        "same_evaluation_rows": same_rows,
        # the runs share the feature cache: a later run reuses what an earlier one embedded
        "cache": "shared",
        "accuracy": tasks[splits.tasks[0].name]["accuracy"],  # the headline task's
        "single_task_seconds": round(seconds, 2),
        "multi_task_seconds": multi,
        "time_ratio": round(multi / seconds, 4) if seconds else None,
    }
    write_json(result.run_dir, "metrics.json", result.metrics)
    shown = "; ".join(
        f"{name} {t['multi_task_accuracy']:.4f} vs {t['accuracy']:.4f} ({t['gain'] * 100:+.1f})"
        for name, t in tasks.items()
    )
    rows = "" if same_rows else " (no test split: each run scored on its own val split)"
    result.summary += (
        f"\nmulti-task vs one run per task (same budget){rows}: {shown}; {multi:.1f} s vs"
        f" {seconds:.1f} s with the feature cache shared ({multi / max(seconds, 1e-9):.2f}x)"
    )
    return result


def _scratch_config(job: Job, folder: Any) -> Any:
    """The run's data, split, budget and performance settings, from random weights."""
    options = job.config.options()
    for name in ("threshold", "cv", "baseline", "track", "track_uri", "cut", "candidates"):
        options[name] = None
    options.update(
        backbone=job.backbone,
        strategy="scratch",
        out=folder,
        overwrite=True,
        weights=None,
        balance="none",
        class_weight=None,
        head="logistic",
    )
    return job.config.with_options(**options)
