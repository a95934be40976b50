"""Several tasks on one backbone (`--label a,b`): masked losses, learned task weights,
per-task metrics, predictions and `predict` with a column per task, the single-task
baseline, and a multi-task run that trains backbone layers."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import transferkit
from transferkit._errors import TransferKitError
from transferkit.heads._heads import ClassifierHead
from transferkit.heads._multitask import MultiTaskHead, load_multitask_head

from conftest import TEXTS, write_image


def _head(weighting: str = "equal") -> MultiTaskHead:
    torch.manual_seed(0)
    heads = [ClassifierHead(4, 2), ClassifierHead(4, 3)]
    return MultiTaskHead(heads, ["a", "b"], [["x", "y"], ["p", "q", "r"]], weighting)


def test_a_sample_without_a_label_adds_no_gradient_to_that_head():
    head = _head()
    x = torch.randn(3, 4)
    # task b is labelled on the first sample only
    labels = torch.tensor([[0, 2], [1, -1], [0, -1]])
    loss = head.combined(head.task_losses(head(x), labels))
    loss.backward()
    grad_b = head.heads[1].net[1].weight.grad.clone()
    # the same gradient comes from the first sample alone for task b
    head.zero_grad()
    only = head.task_losses(head(x[:1]), labels[:1])[1]
    only.backward()
    assert torch.allclose(grad_b, head.heads[1].net[1].weight.grad, atol=1e-6)
    # a batch with no label for b gives it no loss, and no gradient
    head.zero_grad()
    losses = head.task_losses(head(x[1:]), labels[1:])
    assert losses[1] is None
    head.combined(losses).backward()
    assert head.heads[1].net[1].weight.grad is None or not head.heads[1].net[1].weight.grad.any()


def test_uncertainty_weighting_learns_a_weight_per_task_and_round_trips(tmp_path):
    head = _head("uncertainty")
    assert head.log_vars.requires_grad and not _head("equal").log_vars.requires_grad
    x, labels = torch.randn(16, 4), torch.stack([torch.arange(16) % 2, torch.arange(16) % 3], 1)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.5)
    for _ in range(20):
        optimizer.zero_grad()
        head.combined(head.task_losses(head(x), labels)).backward()
        optimizer.step()
    weights = head.loss_weights()
    assert set(weights) == {"a", "b"} and weights != {"a": 1.0, "b": 1.0}
    from transferkit.heads._multitask import load_any_head, save_any_head

    save_any_head(head, tmp_path)
    again = load_any_head(tmp_path)
    assert isinstance(again, MultiTaskHead)
    probas = again.predict_proba_tasks(x.numpy())
    assert [p.shape for p in probas] == [(16, 2), (16, 3)]
    assert np.allclose(probas[0], head.predict_proba_tasks(x.numpy())[0])
    config = json.loads((tmp_path / "head.json").read_text())
    assert load_multitask_head(config, tmp_path).tasks == ["a", "b"]


def _two_task_table(path: Path) -> Path:
    """Reviews with a sentiment on every row and a topic on most (some left empty)."""
    rows = [["text", "sentiment", "topic"]]
    for label, texts in TEXTS.items():
        for i, text in enumerate(texts):
            topic = "" if i % 5 == 4 else ("film" if i % 2 else "goods")
            rows.append([text, label, topic])
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def test_features_multi_task_metrics_predictions_and_predict(tmp_path):
    data = _two_task_table(tmp_path / "reviews.csv")
    result = transferkit.fit(
        data, label_column="sentiment,topic", out=tmp_path / "run", quiet=True, val_size=0.5
    )
    tasks = result.metrics["tasks"]
    assert list(tasks) == ["sentiment", "topic"]
    # the single-task keys stay those of the first task
    assert result.metrics["accuracy"] == tasks["sentiment"]["accuracy"]
    rows = list(csv.DictReader((tmp_path / "run" / "predictions_val.csv").open()))
    labelled = [r for r in rows if r["label_topic"]]
    assert tasks["topic"]["n_evaluated"] == len(labelled) < len(rows)
    assert tasks["topic"]["accuracy"] == pytest.approx(
        np.mean([r["label_topic"] == r["predicted_topic"] for r in labelled])
    )
    model = json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    assert [t["name"] for t in model["tasks"]] == ["sentiment", "topic"]
    assert "tasks on val: sentiment accuracy" in result.summary
    from transferkit.runs._tracking import _final

    assert _final(result.metrics)["accuracy.task.topic"] == tasks["topic"]["accuracy"]
    texts = tmp_path / "new.txt"
    texts.write_text("a brilliant film\nthe product broke\n")
    out = subprocess.run(
        [sys.executable, "-m", "transferkit.cli", "predict", str(tmp_path / "run"),
         "--texts-file", str(texts)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    header, *lines = list(csv.reader(out.splitlines()))
    assert header[-3:] == ["predicted_topic", "confidence_topic", "error"]
    assert all(line[header.index("predicted_topic")] in ("film", "goods") for line in lines)
    predicted = result.model.predict_tasks(["a brilliant film"])
    assert set(predicted) == {"sentiment", "topic"}


def test_multi_task_refusals(tmp_path):
    data = _two_task_table(tmp_path / "reviews.csv")
    with pytest.raises(TransferKitError, match="`threshold` 'f1' applies to one task"):
        transferkit.fit(data, label_column="sentiment,topic", threshold="f1", quiet=True)
    with pytest.raises(TransferKitError, match="name each task once"):
        transferkit.fit(data, label_column="sentiment,sentiment", quiet=True)
    with pytest.raises(TransferKitError, match="single-task compares a multi-task run"):
        transferkit.fit(data, label_column="sentiment", baseline="single-task", quiet=True,
                        out=tmp_path / "one")  # fmt: skip
    assert not (tmp_path / "one").exists()  # refused before any work


def test_a_trained_multi_task_run_against_one_run_per_task(tmp_path):
    root = tmp_path / "photos"
    for colour, rgb in {"red": (200, 30, 30), "blue": (30, 30, 200)}.items():
        for i in range(12):
            light = "bright" if i % 2 else "dark"
            shade = tuple(min(255, c + 50) for c in rgb) if light == "bright" else rgb
            write_image(root / f"{colour}_{light}_{i}.jpg", shade, seed=i + len(colour))
    result = transferkit.fit(
        root, label_pattern="{colour}_{light}_{i}.jpg", label_column="colour,light",
        strategy="top:1", train={"epochs": 2, "task_weights": "uncertainty"},
        baseline="single-task", out=tmp_path / "run", quiet=True, val_size=0.5,
    )  # fmt: skip
    head = result.metrics  # the multi-task head's settings are in config.json's resolved part
    assert set(head["tasks"]) == {"colour", "light"}
    history = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert {"val_accuracy_colour", "val_accuracy_light"} <= set(history[0])
    baseline = result.metrics["baseline"]
    assert baseline["strategy"] == "single-task"
    for name in ("colour", "light"):
        single = baseline["tasks"][name]
        assert Path(single["run"]).is_dir()
        assert single["gain"] == pytest.approx(head["tasks"][name]["accuracy"] - single["accuracy"])
    assert baseline["time_ratio"] > 0
    model = json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    assert model["head"]["kind"] == "multi-task" and model["head"]["weighting"] == "uncertainty"
    # the saved run predicts both tasks again, from its trained backbone
    again = transferkit.load(tmp_path / "run").predict_tasks([str(next(root.glob("red_*")))])
    assert set(again) == {"colour", "light"}
    page = (tmp_path / "run" / "report.html").read_text()
    assert "single-task accuracy" in page


def test_a_table_keeps_other_tasks_out_of_its_features_and_a_task_may_lack_test_labels(
    tmp_path,
):
    rng = np.random.default_rng(0)
    folder = tmp_path / "table"
    folder.mkdir()
    for split, n in (("train", 60), ("test", 20)):
        rows = [["x1", "x2", "kind", "shape"]]
        for _ in range(n):
            x1, x2 = rng.normal(size=2)
            shape = rng.choice(["round", "square"])  # random: nothing predicts it
            # the test file leaves every `shape` cell empty: that task has no label there
            rows.append([f"{x1:.3f}", f"{x2:.3f}", "a" if x1 > 0 else "b",
                         "" if split == "test" else shape])  # fmt: skip
        with (folder / f"{split}.csv").open("w", newline="") as f:
            csv.writer(f).writerows(rows)
    result = transferkit.fit(folder, label_column="kind,shape", out=tmp_path / "run", quiet=True)
    columns = result.metrics["columns"]
    assert columns["features"] == ["x1", "x2"]  # `shape` is a label, never an input
    assert "shape" in columns["dropped"]
    assert result.metrics["tasks"]["shape"] == {"n_evaluated": 0}
    assert result.metrics["tasks"]["kind"]["accuracy"] == result.metrics["accuracy"]
    assert "shape: no labelled sample" in result.summary


def test_adapt_learns_one_task(tmp_path):
    data = _two_task_table(tmp_path / "reviews.csv")
    with pytest.raises(TransferKitError, match="adapt learns one task"):
        transferkit.adapt(data, data, label_column="sentiment,topic", quiet=True)
