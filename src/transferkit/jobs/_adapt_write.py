"""An adaptation's run folder: the model as `fit` saves it, per-sample predictions on the
target and on the source validation split, every method's scores (`adaptation.csv`), the
two domains before and after (`domains.png`), metrics and config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transferkit.config._adapt import AdaptationConfig
from transferkit.heads._threshold import decide
from transferkit.jobs._adapt_data import (
    Adapted,
    AdaptResult,
    Embedded,
    adaptation_facts,
    run_name,
)
from transferkit.jobs._outputs import resolved_config, run_facts
from transferkit.jobs._steps import Job
from transferkit.runs._folder import output_path, record
from transferkit.runs._write import (
    ADAPT_FILES,
    RUN_FILES,
    kept_line,
    new_run_dir,
    save_model,
    write_csv,
    write_json,
    write_predictions,
    write_skipped,
)


def write_files(
    job: Job,
    settings: AdaptationConfig,
    embedded: Embedded,
    adapted: Adapted,
    metrics: dict[str, Any],
) -> AdaptResult:
    splits, target = embedded.splits, embedded.target
    with job.timer.phase("write"):
        if job.run_dir is None:
            _new_folder(job, settings)
        run_dir = job.run_dir
        assert run_dir is not None
        head_info = {**embedded.source_only.head_info, "adapted": adapted.chosen}
        weights = job.config.backbone.weights
        model, strategy = embedded.model, "features"
        if adapted.backbone is not None:  # trained top groups: saved beside the head
            model, strategy = adapted.backbone, job.strategy
            model.save_trained(output_path(run_dir, "model/backbone.safetensors"))
            record(run_dir, "model/backbone.safetensors")
            head_info["trained_with"] = strategy
        save_model(
            run_dir,
            model,
            adapted.head,
            splits.class_names,
            weights,
            head_info,
            strategy=strategy,
            threshold=adapted.threshold,
        )
        _write_predictions(run_dir, embedded, adapted)
        _write_candidates(run_dir, adapted, metrics)
        _write_picture(run_dir, adapted, job.config.data.seed)
    skipped = [*splits.skipped, *target.skipped]
    metrics.update(
        run_facts(
            splits,
            job.backbone,
            "features" if adapted.backbone is None else job.strategy,
            metrics["evaluated_on"],
            job.timer.seconds,
            job.cache,
        )
    )
    metrics["n_target"] = len(target.data)
    metrics["n_skipped"] = len(skipped)
    metrics["adaptation"] = adaptation_facts(settings, adapted, target.labelled)
    metrics["threshold"] = adapted.threshold.to_dict() if adapted.threshold else None
    write_json(run_dir, "metrics.json", metrics)
    _write_config(job, settings, embedded, head_info)
    text = _summary(metrics, embedded, run_dir, job.kept)
    return AdaptResult(run_dir, metrics, text, skipped, job.config, settings)


def open_run_folder(job: Job, settings: AdaptationConfig) -> None:
    """The run folder before training (a deep adapter checkpoints into it), with the
    config `adapt --resume` reads; a resumed run keeps its own folder."""
    if job.resume_dir is not None:
        job.run_dir, job.kept = job.resume_dir, []
        return
    _new_folder(job, settings)
    assert job.run_dir is not None
    paths = {
        "data": str(Path(str(job.config.data.path)).resolve()),
        "target": str(Path(str(settings.target)).resolve()),
    }
    write_json(
        job.run_dir,
        "config.json",
        {**job.config.to_dict(), "adaptation": settings.to_dict(), "resolved": paths},
    )


def _new_folder(job: Job, settings: AdaptationConfig) -> None:
    job.run_dir, job.kept = new_run_dir(
        job.config.outputs.out,
        run_name(job, settings),
        job.config.outputs.overwrite,
        RUN_FILES + ADAPT_FILES,
    )


def _write_predictions(run_dir: Path, embedded: Embedded, adapted: Adapted) -> None:
    splits, target, f = embedded.splits, embedded.target, adapted.inputs(embedded)
    text = splits.modality == "text"
    for name, data, x in (("val", splits.val, f["val"]), ("target", target.data, f["target"])):
        proba = adapted.head.predict_proba(x)
        write_predictions(
            run_dir,
            f"predictions_{name}.csv",
            data.refs,
            name,
            data.labels,
            proba,
            splits.class_names,
            data.inputs if text else None,
            predicted=decide(proba, adapted.threshold),
            fields=data.fields,
        )
    write_skipped(run_dir, "skipped.csv", [*splits.skipped, *target.skipped])


def _write_candidates(run_dir: Path, adapted: Adapted, metrics: dict[str, Any]) -> None:
    """adaptation.csv: one row per method, its criterion scores (and target accuracy when
    the target's labels were given to evaluate)."""
    criteria = sorted({k for c in adapted.candidates for k in c.scores})
    accuracy = metrics.get("target_accuracy_by_method", {})
    spread = metrics.get("target_accuracy_by_seed", {})  # deep methods: over their seeds
    rows: list[list[Any]] = [
        [
            "method",
            "chosen",
            *criteria,
            "target_accuracy",
            "target_accuracy_std",
            "seeds",
            "seconds",
            "error",
        ]
    ]
    for c in adapted.candidates:
        rows.append(
            [
                c.method,
                "yes" if c.method == adapted.chosen else "",
                *[f"{c.scores[k]:.6g}" if k in c.scores else "" for k in criteria],
                accuracy.get(c.method, ""),
                spread.get(c.method, {}).get("std", ""),
                max(1, len(c.replicas)) if c.error is None else "",
                c.seconds,
                c.error or "",
            ]
        )
    write_csv(run_dir, "adaptation.csv", rows)


def _write_picture(run_dir: Path, adapted: Adapted, seed: int) -> None:
    from transferkit.adaptation._distance import domains_picture

    path = output_path(run_dir, "domains.png")
    domains_picture(adapted.views, path, seed)
    record(run_dir, "domains.png")


def _write_config(
    job: Job, settings: AdaptationConfig, embedded: Embedded, head_info: dict[str, Any]
) -> None:
    from transferkit.jobs._fit import settings as fit_settings

    # fit's resolved settings (a features run: the source-only outcome), and the target
    flat = fit_settings(job, embedded.model, embedded.source_only)
    flat["target"] = str(Path(str(settings.target)).resolve())
    resolved = resolved_config(flat, embedded.model, head_info, embedded.splits)
    assert job.run_dir is not None
    write_json(
        job.run_dir,
        "config.json",
        {**job.config.to_dict(), "adaptation": settings.to_dict(), "resolved": resolved},
    )


def _summary(metrics: dict[str, Any], embedded: Embedded, run_dir: Path, kept: list[str]) -> str:
    facts = metrics["adaptation"]
    lines = []
    if facts["verdict"]:
        lines.append(f"{facts['verdict']}: {facts['why']}")
    else:
        lines.append(f"adapt kept {facts['method']!r}. {facts['why']}")
    where = metrics["evaluated_on"]
    lines.append(
        f"{'target' if where == 'target' else 'source val'}: accuracy {metrics['accuracy']:.4f},"
        f" balanced accuracy {metrics['balanced_accuracy']:.4f}, macro-F1"
        f" {metrics['macro_f1']:.4f} (source train {metrics['n_train']}, source val"
        f" {metrics['n_val']}, target {metrics['n_target']})"
    )
    if where == "target":
        oracle = metrics["oracle"]
        lines.append(
            f"target labels were read only to evaluate: source val accuracy"
            f" {metrics['source_val']['accuracy']:.4f}; the best method by target labels (the"
            f" oracle) was {oracle['method']!r} at {oracle['accuracy']:.4f}"
        )
    for method, spread in metrics.get("target_accuracy_by_seed", {}).items():
        lines.append(
            f"{method} on the target over {len(spread['seeds'])} seeds: accuracy"
            f" {spread['mean']:.4f} ± {spread['std']:.4f} ({', '.join(map(str, spread['seeds']))})"
        )
    if "groups" in metrics:
        from transferkit.evaluation._audit import audit_line

        lines.append(audit_line(metrics["groups"]))
    d = facts["a_distance"]
    lines.append(
        f"proxy A-distance source/target: {d['before']:.3f} before, {d['after']:.3f} after"
    )
    if metrics["threshold"]:
        t = metrics["threshold"]
        how = "for the target's estimated class mix" if facts["label_shift"] else "on the source"
        lines.append(
            f"threshold {t['rule']}: P({t['positive_class']}) >= {t['value']:.4f}, tuned {how}"
            f" (out-of-fold precision {t['oof_precision']:.3f}, recall {t['oof_recall']:.3f})"
        )
    if facts["label_shift"]:
        lines.append(
            f"label shift ({facts['label_shift']['method']}): estimated target priors"
            f" {facts['label_shift']['estimated_target']}"
        )
    lines.append(f"data: source {embedded.splits.detected}; target {embedded.target.detected}")
    lines.append(
        f"skipped {metrics['n_skipped']} input(s)"
        + (f" (listed in {run_dir / 'skipped.csv'})" if metrics["n_skipped"] else "")
    )
    if kept:
        lines.append(kept_line(kept))
    lines.append(f"run folder: {run_dir}")
    return "\n".join(lines)
