"""What a run writes besides the model: predictions, skipped inputs, facts, the resolved
configuration, and the summary the user reads."""

from __future__ import annotations

import platform
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from transferkit.data import DataSplits
from transferkit.data._dataset import canonical_label
from transferkit.evaluation._metrics import baseline_warning
from transferkit.features._cache import FeatureCache
from transferkit.heads._threshold import Threshold, decide
from transferkit.runs._write import kept_line, write_predictions, write_skipped

if TYPE_CHECKING:
    from transferkit.backbones import Backbone


def write_outputs(
    run_dir: Path,
    splits: DataSplits,
    probas: dict[str, np.ndarray],
    tuned: Threshold | None = None,
    task_probas: dict[str, list[np.ndarray]] | None = None,
) -> None:
    for name, proba in probas.items():
        ds = splits.train if name == "cv" else getattr(splits, name)  # cv: out-of-fold
        texts = ds.inputs if splits.modality == "text" else None
        fields = ds.fields
        if task_probas:  # one label, prediction and confidence column per other task
            others = {t.name for t in splits.tasks[1:]}
            fields = {k: v for k, v in fields.items() if k not in others}
            fields.update(task_columns(ds, splits.tasks, task_probas[name]))
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
            fields=fields,
        )
    write_skipped(run_dir, "skipped.csv", splits.skipped)
    if splits.modality == "tabular":
        write_skipped(run_dir, "imputed.csv", splits.imputed)


def task_columns(ds: Any, tasks: list[Any], probas: list[np.ndarray]) -> dict[str, list[str]]:
    """The other tasks' columns of a predictions file: label_T, predicted_T, confidence_T."""
    columns: dict[str, list[str]] = {}
    for task, proba in zip(tasks[1:], probas[1:], strict=True):
        columns[f"label_{task.name}"] = [
            canonical_label(v) if v.strip() else "" for v in ds.fields[task.name]
        ]
        best = proba.argmax(1)
        columns[f"predicted_{task.name}"] = [task.class_names[k] for k in best]
        columns[f"confidence_{task.name}"] = [
            f"{p[k]:.6f}" for p, k in zip(proba, best, strict=True)
        ]
    return columns


def run_facts(
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


def resolved_config(
    settings: dict[str, Any], model: Backbone, head_info: dict[str, Any], splits: DataSplits
) -> dict[str, Any]:
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
            "torch": _installed("torch"),
            "scikit-learn": _installed("scikit-learn"),
        },
    }


def summary(
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
    if metrics.get("epoch_kept"):
        lines.append(f"epoch kept: {metrics['epoch_kept']}")
    lines.extend(_text_lines(metrics))
    if "cv" in metrics:
        cv = metrics["cv"]
        shown = ", ".join(
            f"{k} {v['mean']:.4f} ± {v['std']:.4f}"
            for k, v in cv["metrics"].items()
            if k in ("accuracy", "balanced_accuracy", "macro_f1", "pr_auc")
        )
        lines.append(f"{cv['folds']}-fold CV on {cv['on']}: {shown}")
    if "tasks" in metrics:
        shown = "; ".join(
            f"{name} accuracy {m['accuracy']:.4f} (n={m['n_evaluated']})"
            if m["n_evaluated"]
            else f"{name}: no labelled sample"
            for name, m in metrics["tasks"].items()
        )
        lines.append(f"tasks on {metrics['evaluated_on']}: {shown}")
    if "groups" in metrics:
        from transferkit.evaluation._audit import audit_line

        lines.append(audit_line(metrics["groups"]))
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


def _installed(package: str) -> str | None:
    """An installed package's version, read without importing it."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _text_lines(metrics: dict[str, Any]) -> list[str]:
    """The summary's lines on long texts: windowed or truncated, and the token lengths."""
    lines: list[str] = []
    if metrics.get("texts_windowed"):
        n, windows = metrics["texts_windowed"], metrics.get("windows_per_text", "")
        lines.append(
            f"{n} text(s) longer than the backbone's window were read whole, in overlapping"
            f" windows (at most {windows} per text) whose embeddings are averaged"
        )
    if metrics.get("texts_truncated"):
        lines.append(
            f"{metrics['texts_truncated']} text(s) longer than the backbone's window were cut to"
            " it (--windows 1); the default reads them whole"
        )
    if metrics.get("token_lengths"):
        t = metrics["token_lengths"]
        lines.append(
            f"text lengths in tokens: median {t['p50']}, 95th percentile {t['p95']}, longest"
            f" {t['max']}; one window reads {t['window']}"
        )
    return lines
