"""Reading a run folder's own files, checked: a file of the wrong shape is a one-line error
naming it (and the line, for a CSV), never a traceback; nothing is read through a link or
from outside the folder (`_runfolder.inside`)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from transferkit._errors import TransferKitError
from transferkit.runs._folder import inside


def read_run_json(root: str | Path, name: str) -> dict[str, Any]:
    """A JSON file of a run folder, read inside it; a damaged one is a one-line error."""
    path = inside(root, name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise TransferKitError(f"{str(path)!r} is not UTF-8 text: restore the run folder.") from exc
    except ValueError as exc:
        raise TransferKitError(
            f"{str(path)!r} is damaged (not JSON: {exc}): restore it, or rerun the job."
        ) from exc
    if not isinstance(data, dict):
        raise TransferKitError(f"{str(path)!r} is damaged (not a JSON object): restore it.")
    return data


def read_json(run: Path, name: str) -> dict[str, Any] | None:
    """A JSON file of the run (None when absent); never read through a link or from outside."""
    return read_run_json(run, name) if inside(run, name).is_file() else None


def read_csv(run: Path, name: str, required: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Rows of a CSV the run wrote ([] when absent); a damaged one is a one-line error."""
    path = inside(run, name)
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TransferKitError(f"{str(path)!r} is damaged ({exc}): restore it, or refit.") from exc
    missing = [c for c in required if c not in columns]
    if missing and rows:
        raise TransferKitError(
            f"{str(path)!r} is damaged: it lacks the column(s) {', '.join(missing)}. Restore it,"
            " or refit."
        )
    return rows


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and all(_number(v) for v in value)


# What the page reads from metrics.json, and the shape each must have (absent is fine).
_METRICS_SHAPE = {
    **dict.fromkeys(
        ("accuracy", "balanced_accuracy", "macro_f1", "majority_baseline_accuracy"), _number
    ),
    **{k: (lambda v: v is None or _number(v)) for k in ("roc_auc", "pr_auc")},
    **dict.fromkeys(
        ("backbone", "strategy", "positive_class", "cut"), lambda v: isinstance(v, str)
    ),
    **dict.fromkeys(
        ("class_counts", "timings", "threshold", "cv", "auto"), lambda v: isinstance(v, dict)
    ),
    "per_class": lambda v: (
        isinstance(v, dict)
        and all(isinstance(r, dict) and _numbers(list(r.values())) for r in v.values())
    ),
    "confusion_matrix": lambda v: isinstance(v, list) and all(_numbers(r) for r in v),
    "confusion_matrix_labels": lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v),
    "baseline": lambda v: isinstance(v, dict) and _number(v.get("accuracy")),
    "groups": lambda v: _audit_shape(v),
}


def _audit_shape(audit: Any) -> bool:
    """The audit block as the page draws it: numbers per group for accuracy and count."""
    if not isinstance(audit, dict) or not isinstance(audit.get("by_group"), dict):
        return False
    table = audit["by_group"]
    parts = [table.get("accuracy"), table.get("count")]
    return (
        all(isinstance(p, dict) and _numbers(list(p.values())) for p in parts)
        and set(parts[0]) == set(parts[1])
        and _number(audit.get("overall", {}).get("accuracy"))
        and isinstance(audit.get("column"), str)
        and isinstance(audit.get("evaluated_on"), str)
    )


def check_metrics(run: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """metrics.json as the page reads it; a value of the wrong shape names its key."""
    for key, fits in _METRICS_SHAPE.items():
        if key in metrics and metrics[key] is not None and not fits(metrics[key]):
            raise TransferKitError(
                f"{str(inside(run, 'metrics.json'))!r} is damaged: {key!r} is"
                f" {str(metrics[key])[:60]!r}. Restore it, or refit."
            )
    return metrics


def read_history(run: Path, name: str) -> list[dict[str, str]]:
    """history.csv, checked: an epoch number and numbers (or blanks) in every row."""
    rows = read_csv(run, name, ("epoch",))
    for line, row in enumerate(rows, start=2):
        try:
            int(row["epoch"])
            [float(v) for k, v in row.items() if k != "epoch" and v not in ("", None)]
        except (TypeError, ValueError):
            raise TransferKitError(
                f"{str(inside(run, name))!r} line {line} is damaged (a value that is not a"
                " number): restore the file, or refit."
            ) from None
    return rows


def read_predictions(run: Path, name: str) -> list[dict[str, str]]:
    """The predictions file, checked row by row: labels and numbers where they must be."""
    rows = read_csv(run, name, ("input", "label", "predicted", "confidence"))
    for line, row in enumerate(rows, start=2):
        numbers = [row["confidence"], *(v for k, v in row.items() if k and k.startswith("p_"))]
        try:
            values = [float(v) for v in numbers]
        except (TypeError, ValueError):
            values = [float("nan")]
        if any(v != v for v in values) or None in row.values():
            raise TransferKitError(
                f"{str(inside(run, name))!r} line {line} is damaged (a missing field or a"
                " probability that is not a number): restore the file, or refit."
            )
    return rows


def settings_of(config: dict[str, Any]) -> dict[str, Any]:
    """The flat, resolved settings of a run's config.json: its 'resolved' part (a run
    written before the config had sections kept them at the top level)."""
    resolved = config.get("resolved")
    return resolved if isinstance(resolved, dict) else config


def read_settings(run: Path) -> dict[str, Any]:
    """`settings_of` the run's config.json (checked: a damaged file is a one-line error)."""
    return settings_of(read_run_json(run, "config.json"))
