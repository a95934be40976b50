"""Tabular CSV: detection, the column encoder (fitted on train only), imputation, predict."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import transferkit
from transferkit import TransferKitError
from transferkit.cli import app
from transferkit.data import read_data


def _table(path, n=80, seed=0):
    """An index column, two numeric columns, one categorical, label 'Class' (0/1)."""
    rng = np.random.default_rng(seed)
    lines = [",Amount,Score,Colour,Class"]
    for i in range(n):
        y = i % 4 == 0
        amount = f"{rng.normal(5 if y else 0, 1):.4f}"
        score = f"{rng.normal(0, 1):.4f}"
        colour = ["red", "green"][int(y)] if rng.random() < 0.8 else "blue"
        if i == 5:
            amount = ""  # missing
        if i == 6:
            score = "n/a"  # missing, spelled another way
        if i == 7:
            amount = "lots"  # not a number where one is expected
        lines.append(f"{i},{amount},{score},{colour},{int(y)}")
    lines.append("99,1.0,2.0")  # malformed: 3 fields
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_numeric_table_is_read_as_tabular_and_a_text_file_is_not(tmp_path, text_file):
    splits = read_data(_table(tmp_path / "t.csv"))
    assert splits.modality == "tabular" and splits.class_names == ["0", "1"]
    assert splits.columns == {
        "features": ["Amount", "Score", "Colour"],
        "numeric": ["Amount", "Score"],
        "categorical": ["Colour"],
        "dropped": [""],
        "dropped_reasons": ["row index"],
    }
    assert [s.reason for s in splits.skipped] == ["malformed row: 3 fields, expected 5"]
    assert json.loads(splits.train.inputs[0]).keys() == {"Amount", "Score", "Colour"}
    assert read_data(text_file).modality == "text"


def test_fit_encodes_on_train_only_imputes_and_reports(tmp_path):
    data = _table(tmp_path / "t.csv")
    result = transferkit.fit(data, out=tmp_path / "r", quiet=True)
    assert result.metrics["backbone"] == "identity"
    assert result.metrics["accuracy"] >= 0.9
    encoder = json.loads((result.run_dir / "model" / "tabular.json").read_text())
    assert encoder["numeric"] == ["Amount", "Score"] and encoder["categorical"] == ["Colour"]
    # the standardisation is the training split's, computed here independently
    splits = read_data(data)
    amounts = [json.loads(r)["Amount"] for r in splits.train.inputs]
    numbers = np.array([float(a) for a in amounts if a not in ("", "lots")])
    assert encoder["medians"][0] == pytest.approx(np.median(numbers))
    with open(result.run_dir / "imputed.csv", newline="") as f:
        imputed = list(csv.DictReader(f))
    assert len(imputed) == 3 == result.metrics["n_imputed_cells"]
    assert any("Amount='lots' imputed with the training median" in r["reason"] for r in imputed)
    assert "imputed 3 missing, non-numeric or non-finite cell(s)" in result.summary


def test_predict_reads_rows_from_a_csv_without_labels(tmp_path):
    result = transferkit.fit(_table(tmp_path / "t.csv"), out=tmp_path / "r", quiet=True)
    rows = tmp_path / "new.csv"
    rows.write_text("Amount,Score,Colour\n5.2,0.1,green\n-0.3,0.2,red\n1,2\n")
    out = CliRunner().invoke(app, ["predict", str(result.run_dir), str(rows)])
    assert out.exit_code == 0, out.output
    lines = list(csv.reader(out.output.strip().splitlines()))
    lines = lines[[r[0] for r in lines].index("input") :]  # the CSV, without stderr's notice
    assert [r[1] for r in lines[1:3]] == ["1", "0"]
    assert lines[3][0].endswith("new.csv:4") and "malformed row" in lines[3][-1]
    model = transferkit.load(result.run_dir)
    assert model.predict([{"Amount": "5.2", "Score": "0.1", "Colour": "green"}]) == ["1"]


def test_tabular_refuses_trained_strategies_and_free_text_columns(tmp_path):
    with pytest.raises(TransferKitError, match=r"the tabular backbone 'identity' has none"):
        transferkit.fit(_table(tmp_path / "t.csv"), strategy="finetune", out=tmp_path / "r")
    from transferkit.backbones._tabular import TabularEncoder

    rows = [{"note": f"free text number {i}", "x": "1"} for i in range(60)]
    with pytest.raises(TransferKitError, match=r"column 'note' holds free text \(60 distinct"):
        TabularEncoder.fit(rows)


def test_cv_reports_mean_and_std_from_the_same_cached_features(tmp_path, monkeypatch):
    import transferkit.features._extract as features_module

    data = _table(tmp_path / "t.csv", n=120)
    calls = []
    real = features_module._run_backbone

    def spy(backbone, items, *args, **kwargs):
        calls.append(len(items))
        return real(backbone, items, *args, **kwargs)

    monkeypatch.setattr(features_module, "_run_backbone", spy)
    result = transferkit.fit(data, out=tmp_path / "r", cv=4, cache_dir=tmp_path / "c", quiet=True)
    cv = result.metrics["cv"]
    assert cv["folds"] == 4 and len(cv["per_fold"]) == 4
    accuracies = [f["accuracy"] for f in cv["per_fold"]]
    assert cv["metrics"]["accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
    assert cv["metrics"]["accuracy"]["std"] == pytest.approx(np.std(accuracies))
    assert {"roc_auc", "pr_auc", "1_recall"} <= cv["metrics"].keys()
    # no test split: every row trains, scored by its out-of-fold prediction
    assert "4-fold CV on train: accuracy" in result.summary
    assert result.metrics["evaluated_on"] == "cv" and result.metrics["n_val"] == 0
    assert sum(calls) == result.metrics["n_train"] + result.metrics["n_val"], "embedded once"
    with pytest.raises(TransferKitError, match=r"--cv 500: needs 2 <= K <= "):
        transferkit.fit(data, out=tmp_path / "r2", cv=500, quiet=True)


def test_a_parquet_table_reads_and_fits_like_its_csv(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = _table(tmp_path / "t.csv")
    rows = [line.split(",") for line in source.read_text().splitlines()[1:-1]]  # not malformed

    def number(v):
        return float(v) if v not in ("", "n/a", "lots") else None

    table = pa.table(
        {
            "Amount": [number(r[1]) for r in rows],
            "Score": [number(r[2]) for r in rows],
            "Colour": [r[3] for r in rows],
            "Class": [int(r[4]) for r in rows],
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    clean = tmp_path / "clean.csv"  # the CSV without its malformed row and index column
    clean.write_text(
        "Amount,Score,Colour,Class\n" + "\n".join(",".join(r[1:]) for r in rows) + "\n"
    )
    from_parquet = transferkit.fit(tmp_path / "t.parquet", out=tmp_path / "p", quiet=True)
    from_csv = transferkit.fit(clean, out=tmp_path / "c", quiet=True)
    assert from_parquet.metrics["n_imputed_cells"] == from_csv.metrics["n_imputed_cells"] == 3

    def probabilities(run):
        with open(run.run_dir / "predictions_val.csv", newline="") as f:
            return [(r["p_0"], r["p_1"]) for r in csv.DictReader(f)]

    assert probabilities(from_parquet) == probabilities(from_csv)


def test_ordinal_encoding_gives_one_column_per_category(tmp_path):
    from transferkit.backbones._tabular import TabularEncoder

    rows = [{"size": s, "x": "1"} for s in ("small", "large", "medium", "small")]
    onehot = TabularEncoder.fit(rows)
    ordinal = TabularEncoder.fit(rows, encoding="ordinal")
    assert onehot.dim == 4 and ordinal.dim == 2
    x, _ = ordinal.transform([*rows, {"size": "huge", "x": "1"}])
    # sorted categories: large, medium, small -> 1/3, 2/3, 3/3; unseen -> 0
    np.testing.assert_allclose(x[:, 1], [1.0, 1 / 3, 2 / 3, 1.0, 0.0], atol=1e-6)
    result = transferkit.fit(
        _table(tmp_path / "t.csv"), out=tmp_path / "r", encoding="ordinal", quiet=True
    )
    assert result.model.backbone.feature_dim == 3
    with pytest.raises(TransferKitError, match=r"Did you mean 'ordinal'\?"):
        TabularEncoder.fit(rows, encoding="ordinl")


def test_the_identity_backbone_is_named_by_its_encoder():
    from transferkit.backbones import create_backbone

    rows = [{"x": str(i), "c": "ab"[i % 2]} for i in range(10)]
    a = create_backbone("identity").fit_encoder(rows)
    b = create_backbone("identity").fit_encoder(rows)
    c = create_backbone("identity").fit_encoder(rows[:6])
    assert a.identity == b.identity != c.identity  # other training rows, other encoding
    batches = list(a.batches([json.dumps(r) for r in rows], batch_size=4))
    features = np.concatenate([a.embed_batch(batch) for batch in batches])
    assert features.shape == (10, a.feature_dim) == (10, 3)
    assert features[:, 0].mean() == pytest.approx(0, abs=1e-6)  # standardised on these rows
