"""Few labels: no validation split carved where nothing uses it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from tests.conftest import TEXTS

import transferkit


def _split_folder(root: Path, n_test: int = 3) -> Path:
    """train.csv and test.csv from the shared reviews: `n_test` per class to test."""
    root.mkdir()
    rows = {"train": [], "test": []}
    for label, texts in TEXTS.items():
        rows["test"] += [(t, label) for t in texts[:n_test]]
        rows["train"] += [(t, label) for t in texts[n_test:]]
    for split, items in rows.items():
        with (root / f"{split}.csv").open("w", newline="") as f:
            csv.writer(f).writerows([("text", "label"), *items])
    return root


def test_features_with_a_test_split_trains_on_every_labelled_row(tmp_path: Path) -> None:
    data = _split_folder(tmp_path / "reviews")
    n_train = sum(1 for _ in (data / "train.csv").open()) - 1
    result = transferkit.fit(data, out=tmp_path / "run", quiet=True)
    m = json.loads((result.run_dir / "metrics.json").read_text())
    assert (m["n_train"], m["n_val"], m["evaluated_on"]) == (n_train, 0, "test")
    assert "no validation split" in m["split"]
    assert not (result.run_dir / "predictions_val.csv").exists()


def test_features_with_cv_and_no_test_is_scored_out_of_fold(
    text_file: Path, tmp_path: Path
) -> None:
    result = transferkit.fit(text_file, cv=3, out=tmp_path / "run", quiet=True)
    m = result.metrics
    n_rows = len(text_file.read_text().splitlines()) - 1
    assert (m["n_train"], m["n_val"], m["evaluated_on"]) == (n_rows, 0, "cv")
    assert m["cv"]["on"] == "train"
    with (result.run_dir / "predictions_cv.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n_rows  # every row, predicted by a head that did not see it
    hits = sum(r["label"] == r["predicted"] for r in rows)
    assert m["accuracy"] == pytest.approx(hits / n_rows)
    assert (result.run_dir / "report.html").is_file()


@pytest.mark.parametrize("extra", [{}, {"strategy": "top:1", "train": {"epochs": 1}}])
def test_a_validation_split_is_still_drawn_where_it_is_used(
    text_file: Path, tmp_path: Path, extra: dict
) -> None:
    # no test split (features is scored on val) or a trained strategy (picks its epoch on val)
    m = transferkit.fit(text_file, out=tmp_path / "run", quiet=True, **extra).metrics
    assert m["n_val"] > 0 and m["evaluated_on"] == "val"
    if extra:  # 12 rows a class: a fixed budget all the same, val only scores the run
        assert m["epoch_kept"].startswith("the last of 1")


def test_a_trained_strategy_on_tiny_data_keeps_the_last_epoch_of_a_fixed_budget(
    tmp_path: Path,
) -> None:
    data = _split_folder(tmp_path / "reviews")
    n_train = sum(1 for _ in (data / "train.csv").open()) - 1
    train = {"epochs": 2}
    result = transferkit.fit(data, strategy="top:1", train=train, out=tmp_path / "run", quiet=True)
    m = result.metrics
    assert (m["n_train"], m["n_val"], m["evaluated_on"]) == (n_train, 0, "test")
    assert m["epoch_kept"].startswith("the last of 2")
    assert "epoch kept: the last of 2" in result.summary
    with (result.run_dir / "history.csv").open() as f:
        history = list(csv.DictReader(f))
    assert len(history) == 2 and all(r["val_accuracy"] == "" for r in history)
