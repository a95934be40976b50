"""`--baseline scratch`: the same network from random weights beside the run, and the gain."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import transferkit
import transferkit.jobs._fit as fit_module
from transferkit import TransferKitError

FAST = {"epochs": 1, "batch_size": 8, "augment": False}


@pytest.mark.slow
def test_scratch_baseline_runs_beside_and_reports_the_gain(colour_folder, tmp_path):
    result = transferkit.fit(
        colour_folder, out=tmp_path / "r", train=FAST, baseline="scratch", quiet=True
    )
    saved = json.loads((result.run_dir / "metrics.json").read_text())["baseline"]
    scratch = json.loads((result.run_dir / "baseline-scratch" / "metrics.json").read_text())
    assert scratch["strategy"] == "scratch"
    assert saved["accuracy"] == scratch["accuracy"]
    assert saved["transfer_gain"] == pytest.approx(result.metrics["accuracy"] - scratch["accuracy"])
    assert "over scratch" in result.summary or "NEGATIVE TRANSFER" in result.summary


def test_negative_transfer_is_said_plainly(colour_folder, tmp_path, monkeypatch):
    result = transferkit.fit(colour_folder, out=tmp_path / "r", quiet=True)
    better = SimpleNamespace(
        run_dir=tmp_path / "scratch",
        metrics={"accuracy": 1.5 * result.metrics["accuracy"], "balanced_accuracy": 1.0},
    )
    monkeypatch.setattr(fit_module, "fit", lambda *args, **kwargs: better)
    settings = json.loads((result.run_dir / "config.json").read_text())
    out = fit_module._with_scratch_baseline(
        result, colour_folder, "image", settings, None, quiet=True
    )
    assert out.metrics["baseline"]["negative_transfer"] is True
    assert "NEGATIVE TRANSFER: the same network trained from scratch scored" in out.summary


def test_baseline_choices_are_checked_first(colour_folder, tmp_path):
    with pytest.raises(TransferKitError, match=r"Did you mean 'scratch'\?"):
        transferkit.fit(colour_folder, out=tmp_path / "r", baseline="scrath")
    assert not (tmp_path / "r").exists()
