"""Send a finished run to an experiment tracker: MLflow or TensorBoard.

What is logged comes from the run folder, so every strategy logs the same way:
- parameters: the resolved settings of config.json (training settings as `train.NAME`);
- metrics per epoch: every column of history.csv (losses, validation metrics, the learning
  rate of each layer group), at step = epoch;
- final metrics: accuracy, balanced accuracy, macro-F1, ROC-AUC / PR-AUC, per-class
  precision, recall and F1, the majority baseline, the transfer gain over scratch;
- artefacts (MLflow): the run folder (report, metrics, predictions, model).

MLflow goes to `uri` when given (a server `http://HOST:PORT`, or any MLflow store URI),
else to MLflow's own default (MLFLOW_TRACKING_URI, else `sqlite:///mlflow.db` in the
working folder, which `mlflow ui` opens). TensorBoard event files go to `uri` when given,
else to `RUN/tensorboard/` (with `uri`, to `URI/RUN_NAME/`, so runs sit side by side).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from transferkit._errors import TransferKitError, choice_error
from transferkit.config._choices import TRACKERS
from transferkit.runs._files import read_history
from transferkit.runs._folder import files_under, inside, output_path, read_manifest, record

EXPERIMENT = "transferkit"
FINAL = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "pr_auc")


def check_tracker(track: str | None, uri: str | None) -> None:
    if track is not None and track not in TRACKERS:
        raise choice_error("track", track, list(TRACKERS))
    if uri is not None and track is None:
        raise TransferKitError("`track_uri` needs a tracker: add --track mlflow or tensorboard.")


def _name(key: str) -> str:
    """A metric or parameter name MLflow accepts (letters, digits, _ - . space : /)."""
    return re.sub(r"[^\w\-. :/]", "_", key)


def _params(config: dict[str, Any]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in config.items():
        if key == "train" and isinstance(value, dict):
            flat.update({f"train.{k}": json.dumps(v) for k, v in value.items()})
        elif key in ("auto", "cv_result"):
            continue
        else:
            flat[key] = value if isinstance(value, str) else json.dumps(value, default=str)
    return {_name(k): v[:5000] for k, v in flat.items()}


def _history(run: Path) -> list[dict[str, float]]:
    """history.csv as numbers (checked by `read_history`: an epoch in every row)."""
    rows = read_history(run, "history.csv")
    return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in rows]


def _final(metrics: dict[str, Any]) -> dict[str, float]:
    out = {k: float(metrics[k]) for k in FINAL if metrics.get(k) is not None}
    if metrics.get("majority_baseline_accuracy") is not None:
        out["majority_baseline_accuracy"] = float(metrics["majority_baseline_accuracy"])
    for name, row in metrics.get("per_class", {}).items():
        for key in ("precision", "recall", "f1"):
            out[_name(f"{key}.{name}")] = float(row[key])
    for task, block in (metrics.get("tasks") or {}).items():  # several tasks
        for key in ("accuracy", "balanced_accuracy", "macro_f1"):
            if key in block:  # a task with no labelled sample in the split has none
                out[_name(f"{key}.task.{task}")] = float(block[key])
    audit = metrics.get("groups") or {}
    for group, value in audit.get("by_group", {}).get("accuracy", {}).items():  # the audit
        out[_name(f"accuracy.group.{group}")] = float(value)
    if "gap" in audit:
        out["group_gap_accuracy"] = float(audit["gap"]["accuracy"])
        out["worst_group_accuracy"] = float(audit["worst"]["accuracy"])
    baseline = metrics.get("baseline") or {}
    if "transfer_gain" in baseline:
        out["transfer_gain"] = float(baseline["transfer_gain"])
        out["scratch_accuracy"] = float(baseline["accuracy"])
    return out


def track_run(run: str | Path, track: str, uri: str | None = None) -> str:
    """Log a finished run folder to `track`; returns where it went (an MLflow run id and
    store, or the TensorBoard folder)."""
    run = Path(run)
    from transferkit.runs._files import read_run_json, settings_of

    metrics = read_run_json(run, "metrics.json")
    config = settings_of(read_run_json(run, "config.json"))
    if track == "mlflow":
        return _to_mlflow(run, metrics, config, uri)
    return _to_tensorboard(run, metrics, config, uri)


def _to_mlflow(run: Path, metrics: dict[str, Any], config: dict[str, Any], uri: str | None) -> str:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")  # fail in seconds, not minutes
    from transferkit._extras import require

    require("mlflow", "--track mlflow")
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(EXPERIMENT)
    tags = {
        "mlflow.runName": run.name,
        "transferkit.run_dir": str(run.resolve()),
        "backbone": str(metrics.get("backbone")),
        "strategy": str(metrics.get("strategy")),
    }
    created = client.create_run(experiment_id, tags=tags)
    run_id = created.info.run_id
    try:
        timestamp = created.info.start_time
        params = [Param(k, v) for k, v in _params(config).items()]
        history = [
            Metric(_name(key), value, timestamp, int(row["epoch"]))
            for row in _history(run)
            for key, value in row.items()
            if key != "epoch"
        ]
        final = [Metric(k, v, timestamp, 0) for k, v in _final(metrics).items()]
        for start in range(0, max(len(params), len(history) + len(final)), 100):
            client.log_batch(
                run_id,
                metrics=(history + final)[start : start + 100],
                params=params[start : start + 100],
            )
        if metrics.get("auto"):
            client.set_tag(run_id, "auto.why", metrics["auto"]["why"][:5000])
        # the files the run wrote (its manifest), never a link or a file of the user's
        for name in sorted(read_manifest(run)):
            relative = Path(name)
            path = inside(run, name)
            if "checkpoints" in relative.parts or not path.is_file():
                continue  # resumable training state, not a result
            parent = relative.parent.as_posix()
            client.log_artifact(run_id, str(path), None if parent == "." else parent)
    except Exception:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id)
    return f"MLflow run {run_id} in experiment {EXPERIMENT!r} at {client.tracking_uri}"


def _to_tensorboard(
    run: Path, metrics: dict[str, Any], config: dict[str, Any], uri: str | None
) -> str:
    from transferkit._extras import require

    require("tensorboard", "--track tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    # one folder per run; inside the run folder, written like its other files
    folder = Path(uri) / run.name if uri else output_path(run, "tensorboard/events").parent
    before = set() if uri else files_under(run, "tensorboard")
    writer = SummaryWriter(log_dir=str(folder))
    try:
        for row in _history(run):
            step = int(row["epoch"])
            for key, value in row.items():
                if key.startswith("lr_"):
                    writer.add_scalar(f"lr/{key[3:]}", value, step)
                elif key != "epoch":
                    writer.add_scalar(f"epoch/{key}", value, step)
        for key, value in _final(metrics).items():
            writer.add_scalar(f"final/{key}", value, 0)
        settings = "\n".join(f"    {k}: {v}" for k, v in _params(config).items())
        writer.add_text("config", settings, 0)
    finally:
        writer.close()
    if not uri:  # the event files this writer made, not anything else in that folder
        record(run, *sorted(files_under(run, "tensorboard") - before))
    return f"TensorBoard logs in {folder} (`tensorboard --logdir {folder}`)"
