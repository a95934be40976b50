"""Writing a run folder: its file names, the folder itself (never over the user's files),
JSON / CSV / predictions, and the saved model. No torch: a cached `features` fit writes
its whole run folder without it."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from transferkit._errors import TransferKitError
from transferkit.heads._threshold import Threshold
from transferkit.runs._files import settings_of
from transferkit.runs._folder import (
    check_clashes,
    check_writable,
    clear_run_files,
    output_path,
    record,
    write_text,
)

MODEL_FORMAT = 1


RUN_FILES = (
    "metrics.json",
    "config.json",
    "skipped.csv",
    "imputed.csv",
    "report.html",
    "report_thumbnails.json",
    "predictions_val.csv",
    "predictions_test.csv",
    "model/model.json",
    "model/head.json",
    "model/head.safetensors",
    "model/tabular.json",
)
TRAINED_FILES = (
    "history.csv",
    "checkpoints/last.ckpt",
    "checkpoints/best.ckpt",
    "model/backbone.safetensors",
    "model/adapter.safetensors",
)
RANKING_FILES = ("ranking.json", "ranking.csv", "ranking.png")
ADAPT_FILES = ("predictions_target.csv", "adaptation.csv", "domains.png")


def run_file_names(strategy: str = "features", ranking: bool = False) -> tuple[str, ...]:
    """The names a run of `strategy` may write (`auto` may become any strategy)."""
    names: tuple[str, ...] = RUN_FILES
    if strategy != "features":
        names += TRAINED_FILES
    if ranking or strategy == "auto":
        names += RANKING_FILES
    return names


def check_out(
    out: str | Path | None, overwrite: bool, reserved: tuple[str, ...] = RUN_FILES
) -> None:
    """Refuse, before any work, an `out` that exists (unless `overwrite`), is a file, cannot
    be written, or holds a file of the user's at a name this run writes."""
    if out is None:
        check_writable(Path("runs"), "the runs folder")
        return
    path = Path(out)
    if path.is_file():
        raise TransferKitError(f"`--out` {str(path)!r} is a file; give a folder.")
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise TransferKitError(
                f"output folder {str(path)!r} already exists and is not empty: choose another"
                " `--out`, or pass `--overwrite` to replace its run files."
            )
        if reserved:
            check_clashes(path, reserved)
    check_writable(path, "output folder")


def new_run_dir(
    out: str | Path | None, name: str, overwrite: bool, reserved: tuple[str, ...] = RUN_FILES
) -> tuple[Path, list[str]]:
    """(a fresh run folder, the files of the user's kept in it). An existing non-empty `out`
    is refused unless `overwrite`; then exactly the files an earlier run listed in its
    manifest are removed (`transferkit.runs._folder`), and every other file stays."""
    if out is not None:
        check_out(out, overwrite, reserved=())  # clear_run_files checks the clashes
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        return path, clear_run_files(path, reserved)
    stem = time.strftime("%Y%m%d-%H%M%S") + "-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    base = Path("runs")
    for n in range(1000):
        path = base / (stem if n == 0 else f"{stem}-{n}")
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path, []
        except FileExistsError:
            continue
    raise TransferKitError(f"cannot create a new run folder under {str(base)!r}.")


def kept_line(kept: list[str]) -> str:
    """The summary's line naming the files of the user's that a run left in its folder."""
    shown = ", ".join(kept[:8]) + (f" and {len(kept) - 8} more" if len(kept) > 8 else "")
    return f"kept {len(kept)} file(s) transferkit did not write: {shown}"


def write_json(root: Path, name: str, data: Any) -> Path:
    """`root/name` as indented JSON, written safely and listed in the manifest."""
    return write_text(root, name, json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_csv(root: Path, name: str, rows: Any) -> Path:
    """`root/name` as CSV rows, written safely and listed in the manifest."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    return write_text(root, name, buffer.getvalue())


def write_predictions(
    root: Path,
    name: str,
    refs: list[str],
    split: str,
    y_true: np.ndarray,
    proba: np.ndarray,
    class_names: list[str],
    texts: list[str] | None = None,
    predicted: np.ndarray | None = None,
    fields: dict[str, list[str]] | None = None,
) -> None:
    """One row per sample; text runs also get the text itself, so it can be predicted again.
    `predicted` (class indices) is the decision when a tuned threshold made it, else argmax.
    `fields` (a group of the audit, by name) are kept as columns of their own, last."""
    extra = ["text"] if texts is not None else []
    probabilities = [f"p_{c}" for c in class_names]
    header = ["split", "input", "label", "predicted", "confidence", *probabilities, *extra]
    fields = fields or {}
    named = [name if name not in header else f"group_{name}" for name in fields]
    rows = [[*header, *named]]
    for i, (ref, t, p) in enumerate(zip(refs, y_true, proba, strict=True)):
        k = int(np.argmax(p)) if predicted is None else int(predicted[i])
        rows.append(
            [
                split,
                ref,
                class_names[t] if t >= 0 else "",  # -1: an unlabelled input
                class_names[k],
                f"{p[k]:.6f}",
                *[f"{v:.6f}" for v in p],
                *([texts[i]] if texts is not None else []),
                *(values[i] for values in fields.values()),
            ]
        )
    write_csv(root, name, rows)


def write_skipped(root: Path, name: str, skipped: list[Any]) -> None:
    """Inputs left out (or cells filled in), one row each with the reason."""
    rows = [["split", "input", "reason"], *([s.split, s.item, s.reason] for s in skipped)]
    write_csv(root, name, rows)


def save_model(
    run_dir: Path,
    backbone: Any,
    head: Any,
    class_names: list[str],
    weights: str | Path | None,
    head_info: dict[str, Any],
    strategy: str = "features",
    threshold: Threshold | None = None,
) -> None:
    """Head weights (safetensors) and a JSON config naming the backbone that feeds it, in
    `run_dir/model/`."""
    for name in ("head.safetensors", "head.json"):
        output_path(run_dir, f"model/{name}")
    _save_head(head, run_dir / "model")
    record(run_dir, "model/head.safetensors", "model/head.json")
    state_file = getattr(backbone, "state_file", None)  # e.g. a tabular column encoder
    if state_file:
        backbone.save_trained(output_path(run_dir, f"model/{state_file}"))
        record(run_dir, f"model/{state_file}")
    trained = state_file or (
        "backbone.safetensors" if (run_dir / "model" / "backbone.safetensors").is_file() else None
    )
    write_json(
        run_dir,
        "model/model.json",
        {
            "format": MODEL_FORMAT,
            "task": "classification",
            "class_names": class_names,
            "strategy": strategy,
            "backbone": {
                "spec": backbone.spec,
                "modality": backbone.modality,
                "feature_dim": backbone.feature_dim,
                "cut": backbone.cut,  # features from the groups below it (None: all)
                "weights": str(Path(weights).resolve()) if weights else None,
                # trained strategies: the backbone's own weights, beside the head
                "trained_weights": trained,
                "weights_digest": backbone.weights_digest,
                "preprocessing": backbone.preprocessing(),
            },
            "head": head_info,
            "threshold": threshold.to_dict() if threshold else None,
            **_tasks(head),
        },
    )


def _tasks(head: Any) -> dict[str, Any]:
    """Several tasks: each one's name and classes (predict writes a column per task)."""
    tasks = getattr(head, "tasks", None)
    if not tasks:
        return {}
    return {
        "tasks": [
            {"name": t, "class_names": c} for t, c in zip(tasks, head.class_names, strict=True)
        ]
    }


def resolve_ref(ref: str, run_dir: Path) -> Path:
    """An input path as a run's predictions list it, found from any working folder (a
    relative path is relative to where `fit` ran, saved as `workdir` in config.json)."""
    path = Path(ref)
    if path.is_absolute():
        return path
    config = run_dir / "config.json"
    try:
        workdir = settings_of(json.loads(config.read_text(encoding="utf-8"))).get("workdir")
    except (OSError, ValueError):
        workdir = None
    return Path(workdir) / path if workdir else path


def _save_head(head: Any, folder: Path) -> None:
    """A NumPy logistic head without torch; a torch head with it."""
    from transferkit.heads._linear import LinearHead, save_linear_head

    if isinstance(head, LinearHead):
        save_linear_head(head, folder)
        return
    from transferkit.heads._multitask import save_any_head

    save_any_head(head, folder)
