"""A real two-process DDP fit on CPU (gloo), through the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import transferkit

pytestmark = pytest.mark.slow


def _run_cli(args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "transferkit.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


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
    _run_cli(args)
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())["resolved"]
    assert config["train"]["devices"] == 2 and config["train"]["ddp"] is True
    assert metrics["n_train"] + metrics["n_val"] == 24
    rows = (out / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 3, "one history row per epoch, written by rank 0 only"
    model = transferkit.load(out)
    red = sorted((colour_folder / "red").iterdir())[:3]
    assert len(model.predict(red)) == 3


def test_sharded_feature_extraction_matches_one_process(colour_folder, tmp_path):
    from transferkit.backbones import create_backbone
    from transferkit.features._cache import FeatureCache
    from transferkit.features._extract import extract_features

    items = [str(p) for p in sorted(colour_folder.rglob("*.jpg"))]
    items.append(str(tmp_path / "missing.jpg"))  # a failure must come back at its position
    backbone = create_backbone("efficientnet_lite0")
    one, one_errors = extract_features(backbone, items, FeatureCache(tmp_path / "a"))
    two, two_errors = extract_features(backbone, items, FeatureCache(tmp_path / "b"), devices=2)
    assert set(two_errors) == set(one_errors) == {len(items) - 1}
    np.testing.assert_allclose(two, one, atol=1e-5)
    # the shards went into the cache: a third call reads them without any process
    again, _ = extract_features(backbone, items[:-1], FeatureCache(tmp_path / "b"), devices=2)
    np.testing.assert_array_equal(again, two[:-1])


def test_features_strategy_shards_extraction_through_the_cli(colour_folder, tmp_path):
    out = tmp_path / "features"
    args = ["fit", str(colour_folder), "--devices", "2", "--ddp", "--out", str(out), "-q"]
    args += ["--cache-dir", str(tmp_path / "cache")]
    _run_cli(args)
    config = json.loads((out / "config.json").read_text())["resolved"]
    assert config["extract_devices"] == 2
    assert json.loads((out / "metrics.json").read_text())["accuracy"] >= 0.75
