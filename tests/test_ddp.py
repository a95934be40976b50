"""A real two-process DDP fit on CPU (gloo), through the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import transferkit

pytestmark = pytest.mark.slow


def test_two_process_ddp_fit_trains_and_saves_a_loadable_model(colour_folder, tmp_path):
    out = tmp_path / "ddp"
    args = [
        "fit",
        str(colour_folder),
        "--strategy",
        "top:1",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--no-augment",
        "--devices",
        "2",
        "--ddp",
        "--out",
        str(out),
        "-q",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "transferkit.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["devices"] == 2 and config["train"]["ddp"] is True
    assert metrics["n_train"] + metrics["n_val"] == 24
    rows = (out / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 3, "one history row per epoch, written by rank 0 only"
    model = transferkit.load(out)
    red = sorted((colour_folder / "red").iterdir())[:3]
    assert len(model.predict(red)) == 3
