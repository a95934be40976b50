"""A training run killed with SIGKILL resumes from its last checkpoint and ends where an
uninterrupted run with the same seed ends."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ARGS = ["--epochs", "5", "--batch-size", "6", "--no-augment", "-q"]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "transferkit.cli", *args]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _probabilities(run):
    rows = _rows(run / "predictions_val.csv")
    return np.array([[float(v) for k, v in r.items() if k.startswith("p_")] for r in rows])


@pytest.mark.parametrize("strategy", ["top:1", "gradual"])
def test_sigkill_then_resume_matches_an_uninterrupted_run(colour_folder, tmp_path, strategy):
    env = {**os.environ}
    args = [*ARGS, "--strategy", strategy]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(
        _cli("fit", str(colour_folder), "--out", str(whole), *args),
        env=env,
        check=True,
        timeout=600,
    )

    proc = subprocess.Popen(_cli("fit", str(colour_folder), "--out", str(killed), *args), env=env)
    history = killed / "history.csv"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        # by the third row the checkpoint holds a group that gradual has unfrozen
        if history.exists() and len(_rows(history)) >= 3:
            break
        if proc.poll() is not None:
            pytest.fail("the run ended before it could be killed")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "metrics.json").exists(), "the kill came too late to test anything"
    epochs_done = len(_rows(history))
    assert 3 <= epochs_done < 5

    subprocess.run(_cli("fit", "--resume", str(killed), "-q"), env=env, check=True, timeout=600)
    a = json.loads((whole / "metrics.json").read_text())
    b = json.loads((killed / "metrics.json").read_text())
    assert b["accuracy"] == a["accuracy"]
    np.testing.assert_allclose(_probabilities(killed), _probabilities(whole), atol=1e-5)
    assert [r["epoch"] for r in _rows(history)] == ["0", "1", "2", "3", "4"]
    assert [r["train_loss"] for r in _rows(history)] == [
        r["train_loss"] for r in _rows(whole / "history.csv")
    ]
