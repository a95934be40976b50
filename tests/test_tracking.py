"""Tracking: a run arrives in a real MLflow tracking server (started here on 127.0.0.1)
with its parameters, per-epoch metrics and files; TensorBoard gets the same scalars."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

import transferkit
from transferkit.cli import app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("mlflow.server", reason="the MLflow server needs the full `mlflow`")
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow) if mlflow.exists() else shutil.which("mlflow") or "mlflow"]
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    server = subprocess.Popen(
        [
            *command,
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(root / "server.log", "w"),  # noqa: SIM115 - the server holds it open
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                if reply.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            log = (root / "server.log").read_text()[-2000:]
            pytest.fail(f"the MLflow server did not start:\n{log}")
        time.sleep(0.5)
    yield url
    server.terminate()
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()


def _two_epochs(folder, tmp_path, **tracking):
    """`top:1` for two epochs: a run with a history to log."""
    train = {"epochs": 2, "augment": False}
    return transferkit.fit(
        folder, strategy="top:1", out=tmp_path / "run", quiet=True, train=train, **tracking
    )


def test_a_trained_run_arrives_in_an_mlflow_server(colour_folder, tmp_path, mlflow_server):
    from mlflow import MlflowClient

    result = _two_epochs(colour_folder, tmp_path, track="mlflow", track_uri=mlflow_server)
    assert "tracked: MLflow run" in result.summary, result.summary
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("transferkit")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["strategy"] == "top:1"
    assert json.loads(run.data.params["train.epochs"]) == 2
    assert run.data.metrics["accuracy"] == pytest.approx(result.metrics["accuracy"])
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [m.step for m in history] == [0, 1]
    assert client.get_metric_history(run.info.run_id, "lr_head")  # rates per layer group
    files = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"report.html", "metrics.json", "config.json", "history.csv", "model"} <= files
    # an existing run folder can be sent again from the command line
    again = CliRunner().invoke(
        app, ["track", str(result.run_dir), "--track", "mlflow", "--track-uri", mlflow_server]
    )
    assert again.exit_code == 0, again.output
    assert len(client.search_runs([experiment.experiment_id])) == 2


def test_an_unreachable_tracker_is_said_and_the_run_stands(colour_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    result = transferkit.fit(
        colour_folder,
        out=tmp_path / "run",
        quiet=True,
        track="mlflow",
        track_uri=f"http://127.0.0.1:{_free_port()}",
    )
    assert "mlflow logging failed" in result.summary
    assert (result.run_dir / "model" / "model.json").is_file()


def test_tensorboard_gets_the_epoch_scalars(colour_folder, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = _two_epochs(colour_folder, tmp_path, track="tensorboard")
    events = EventAccumulator(str(result.run_dir / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert "epoch/val_accuracy" in tags and "lr/head" in tags and "final/accuracy" in tags
    assert [e.step for e in events.Scalars("epoch/train_loss")] == [0, 1]
    assert events.Scalars("final/accuracy")[0].value == pytest.approx(result.metrics["accuracy"])


def test_a_tracker_uri_needs_a_tracker(colour_folder, tmp_path):
    with pytest.raises(transferkit.TransferKitError, match="--track"):
        transferkit.fit(colour_folder, out=tmp_path / "r", track_uri="http://127.0.0.1:1")
    with pytest.raises(transferkit.TransferKitError, match="track"):
        transferkit.fit(colour_folder, out=tmp_path / "r", track="wandb")
