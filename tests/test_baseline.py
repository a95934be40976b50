"""`--baseline scratch`: the same network from random weights beside the run, and the gain."""

from __future__ import annotations

import json

import pytest

import transferkit
import transferkit.jobs._baselines as baselines
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
    def better_scratch(job, splits, result, run_job):
        score = 1.5 * result.metrics["accuracy"]
        return {"strategy": "scratch", "run": "x", "accuracy": score, "balanced_accuracy": 1.0}

    monkeypatch.setattr(baselines, "_scratch", better_scratch)
    out = transferkit.fit(colour_folder, out=tmp_path / "r", baseline="scratch", quiet=True)
    assert out.metrics["baseline"]["negative_transfer"] is True
    assert "NEGATIVE TRANSFER: the same network trained from scratch scored" in out.summary


def test_a_raw_baseline_that_matches_transfer_says_transfer_is_not_paying_off(
    colour_folder, tmp_path
):
    # red against blue: 32x32 pixels separate the classes as well as ImageNet features do
    result = transferkit.fit(colour_folder, out=tmp_path / "r", baseline="raw", quiet=True)
    raw = result.metrics["baseline"]
    assert raw["strategy"] == "raw" and raw["inputs"].startswith("32x32 RGB pixels")
    assert raw["accuracy"] == 1.0 and raw["transfer_gain"] == 0.0
    assert "TRANSFER IS NOT PAYING OFF HERE: a logistic regression on the raw inputs" in (
        result.summary
    )
    saved = json.loads((result.run_dir / "metrics.json").read_text())["baseline"]
    assert saved["accuracy"] == raw["accuracy"]


def test_a_raw_baseline_below_transfer_reports_the_gain(colour_folder, tmp_path, monkeypatch):
    def weak_raw(job, splits):
        return {"strategy": "raw", "inputs": "pixels", "accuracy": 0.5, "seconds": 0.1}

    monkeypatch.setattr(baselines, "_raw", weak_raw)
    result = transferkit.fit(colour_folder, out=tmp_path / "r", baseline="raw", quiet=True)
    assert result.metrics["baseline"]["transfer_gain"] == pytest.approx(0.5)
    assert "transfer gain over raw inputs: +50.0 points (raw: 0.5000)" in result.summary


def test_baseline_choices_are_checked_first(colour_folder, tmp_path):
    with pytest.raises(TransferKitError, match=r"Did you mean 'scratch'\?"):
        transferkit.fit(colour_folder, out=tmp_path / "r", baseline="scrath")
    assert not (tmp_path / "r").exists()
