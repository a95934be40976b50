"""The per-group audit (`--group`): metrics per group through fairlearn's MetricFrame, the
worst group and the gap, in metrics.json, the summary, the report and the predictions;
groups from a column, a file-name field or a folder level; for `fit` and `adapt`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import transferkit
from transferkit._errors import TransferKitError
from transferkit.evaluation._audit import audit_line, group_audit

from conftest import TEXTS, write_image


def test_a_hand_made_audit():
    # group a: 3 of 4 right; group b: 1 of 2 right; binary, positive class 1
    y = np.array([1, 1, 0, 0, 1, 0])
    p = np.array([1, 0, 0, 0, 1, 1])
    audit = group_audit(y, p, ["a", "a", "a", "a", "b", "b"], ["no", "yes"], "site", "test")
    by = audit["by_group"]
    assert by["accuracy"] == {"a": 0.75, "b": 0.5}
    assert by["count"] == {"a": 4, "b": 2}
    assert by["true_positive_rate"] == {"a": 0.5, "b": 1.0}
    assert by["false_positive_rate"] == {"a": 0.0, "b": 1.0}
    assert by["selection_rate"] == {"a": 0.25, "b": 1.0}
    assert audit["worst"] == {"group": "b", "accuracy": 0.5}
    assert audit["gap"]["accuracy"] == pytest.approx(0.25)
    assert audit["overall"]["accuracy"] == pytest.approx(4 / 6)
    line = audit_line(audit)
    assert "worst 'b' accuracy 0.5000" in line and "gap 0.2500" in line
    # unlabelled rows (-1) are left out; a multi-class task has no binary rates
    y3 = np.array([0, 1, 2, -1])
    audit3 = group_audit(y3, np.array([0, 1, 1, 0]), ["x", "x", "y", "y"], list("abc"), "g", "val")
    assert audit3["by_group"]["count"] == {"x": 2, "y": 1}
    assert "selection_rate" not in audit3["by_group"]
    # a group without a positive label has no true positive rate (null, out of the gap);
    # macro-F1 per group is over the classes present, as the run's own macro-F1
    y4, p4 = np.array([0, 0, 1, 0, 1, 1]), np.array([0, 1, 1, 0, 1, 0])
    audit4 = group_audit(y4, p4, ["a", "a", "b", "b", "b", "b"], ["no", "yes"], "g", "test")
    assert audit4["by_group"]["true_positive_rate"] == {"a": None, "b": pytest.approx(2 / 3)}
    assert audit4["gap"]["true_positive_rate"] == 0.0
    from sklearn.metrics import f1_score

    assert audit4["by_group"]["macro_f1"]["a"] == pytest.approx(
        f1_score(y4[:2], p4[:2], average="macro", zero_division=0)
    )
    json.dumps(audit4, allow_nan=False)  # valid JSON: no NaN


def _predictions(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_fit_audits_a_column_and_keeps_it_in_the_predictions(tmp_path):
    path = tmp_path / "reviews.csv"
    rows = [["text", "label", "domain"]]
    for label, texts in TEXTS.items():
        for i, text in enumerate(texts):
            rows.append([text, label, ["shop", "cinema", "food"][i % 3]])
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    result = transferkit.fit(path, group="domain", out=tmp_path / "run", quiet=True, val_size=0.5)
    audit = result.metrics["groups"]
    assert audit["column"] == "domain" and audit["evaluated_on"] == "val"
    predictions = _predictions(tmp_path / "run" / "predictions_val.csv")
    assert {r["domain"] for r in predictions} <= {"shop", "cinema", "food"}
    for group, accuracy in audit["by_group"]["accuracy"].items():
        mine = [r["label"] == r["predicted"] for r in predictions if r["domain"] == group]
        assert accuracy == pytest.approx(np.mean(mine))
        assert audit["by_group"]["count"][group] == len(mine)
    assert "audit by domain (3 groups, val)" in result.summary
    page = (tmp_path / "run" / "report.html").read_text()
    assert "Per-group audit" in page and "data:image/png;base64" in page
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["groups"]["worst"] == audit["worst"]
    from transferkit.runs._tracking import _final

    tracked = _final(saved)  # what a tracker receives
    assert tracked["worst_group_accuracy"] == audit["worst"]["accuracy"]
    assert {f"accuracy.group.{g}" for g in audit["by_group"]["accuracy"]} <= set(tracked)


def test_groups_from_a_file_name_field_and_from_a_folder_level(tmp_path):
    root = tmp_path / "photos"
    for colour, rgb in {"red": (200, 30, 30), "blue": (30, 30, 200)}.items():
        for i in range(12):
            camera = "cam1" if i % 2 else "cam2"
            write_image(root / camera / f"{colour}_{camera}_{i}.jpg", rgb, seed=i + len(colour))
    pattern = "{colour}_{camera}_{i}.jpg"
    by_field = transferkit.fit(
        root, label_pattern=pattern, label_column="colour", group="camera",
        out=tmp_path / "a", quiet=True, val_size=0.5,
    )  # fmt: skip
    by_folder = transferkit.fit(
        root, label_pattern=pattern, label_column="colour", group="folder",
        out=tmp_path / "b", quiet=True, val_size=0.5,
    )  # fmt: skip
    assert set(by_field.metrics["groups"]["by_group"]["count"]) == {"cam1", "cam2"}
    # the folder each file sits in is its camera: the same groups, the same counts
    assert by_folder.metrics["groups"]["by_group"] == by_field.metrics["groups"]["by_group"]
    rows = _predictions(tmp_path / "b" / "predictions_val.csv")
    assert all(Path(r["input"]).parent.name == r["folder"] for r in rows)


def test_a_group_that_names_nothing_fails_before_any_work(tmp_path, text_file, colour_folder):
    with pytest.raises(TransferKitError, match=r"--group 'site'.*no such column; its columns"):
        transferkit.fit(text_file, group="site", out=tmp_path / "r", quiet=True)
    with pytest.raises(TransferKitError, match=r"--group 'camera'.*folder, folder:K"):
        transferkit.fit(colour_folder, group="camera", out=tmp_path / "s", quiet=True)
    with pytest.raises(TransferKitError, match="sits fewer than 9 folder"):
        transferkit.fit(colour_folder, group="folder:9", out=tmp_path / "t", quiet=True)
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()


def test_adapt_audits_the_target_by_group(tmp_path, text_file):
    target = tmp_path / "target.csv"
    rows = [["text", "label", "venue"]]
    for label, texts in TEXTS.items():
        for i, text in enumerate(texts):
            rows.append([text.upper(), label, "north" if i < 6 else "south"])
    with target.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    result = transferkit.adapt(
        text_file, target, method="coral", target_labels=True, group="venue",
        out=tmp_path / "run", quiet=True,
    )  # fmt: skip
    audit = result.metrics["groups"]
    assert audit["evaluated_on"] == "target"
    assert audit["by_group"]["count"] == {"north": 12, "south": 12}
    predictions = _predictions(tmp_path / "run" / "predictions_target.csv")
    north = [r["label"] == r["predicted"] for r in predictions if r["venue"] == "north"]
    assert audit["by_group"]["accuracy"]["north"] == pytest.approx(np.mean(north))
    assert "audit by venue" in result.summary
