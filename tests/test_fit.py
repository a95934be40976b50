"""`transferkit.fit` end to end on small real inputs: run folder, reload, bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import transferkit
from transferkit import TransferKitError

from conftest import write_image

METRIC_KEYS = {
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "per_class",
    "confusion_matrix",
    "n_train",
    "n_val",
    "n_skipped",
    "backbone",
    "strategy",
    "timings",
    "evaluated_on",
}


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_fit_writes_a_complete_run_folder(colour_folder, tmp_path):
    result = transferkit.fit(colour_folder, out=tmp_path / "run", quiet=True)
    run = result.run_dir
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) >= METRIC_KEYS
    assert metrics["evaluated_on"] == "val" and metrics["strategy"] == "features"
    assert metrics["backbone"] == "efficientnet_lite0"
    assert metrics["n_train"] + metrics["n_val"] == 24 and metrics["n_skipped"] == 0
    assert metrics["accuracy"] == 1.0, "red vs blue is trivial for ImageNet features"
    assert set(metrics["timings"]) >= {"read", "extract", "train_head", "total"}
    config = json.loads((run / "config.json").read_text())["resolved"]
    assert config["preprocessing"]["mean"] == [0.5, 0.5, 0.5]
    assert config["seed"] == 0 and config["split"].startswith("stratified")
    assert (run / "model" / "head.safetensors").is_file()
    assert not list(run.rglob("*.pt")) and not list(run.rglob("*.pkl"))
    assert _rows(run / "skipped.csv") == []


def test_reloaded_model_gives_the_answers_the_run_reported(colour_folder, tmp_path):
    result = transferkit.fit(colour_folder, out=tmp_path / "run", quiet=True)
    rows = _rows(result.run_dir / "predictions_val.csv")
    model = transferkit.load(result.run_dir)
    paths = [r["input"] for r in rows]
    assert model.predict(paths) == [r["predicted"] for r in rows]
    proba = model.predict_proba(paths)
    reported = np.array([[float(r[f"p_{c}"]) for c in model.class_names] for r in rows])
    np.testing.assert_allclose(proba, reported, atol=1e-6)


def test_reload_without_the_cache_recomputes_the_same_answers(colour_folder, text_file, tmp_path):
    for data in (colour_folder, text_file):
        result = transferkit.fit(data, out=tmp_path / f"run-{data.name}", quiet=True)
        rows = _rows(result.run_dir / "predictions_val.csv")
        inputs = [r["text"] if "text" in r else r["input"] for r in rows]
        model = transferkit.Predictor(result.run_dir, use_cache=False)
        proba = model.predict_proba(inputs)
        reported = np.array([[float(r[f"p_{c}"]) for c in model.class_names] for r in rows])
        np.testing.assert_allclose(proba, reported, atol=1e-5)


def test_text_fit_with_a_test_split_evaluates_on_test(tmp_path, text_file):
    folder = tmp_path / "split"
    folder.mkdir()
    lines = text_file.read_text().splitlines()
    header, body = lines[0], lines[1:]
    pos, neg = body[:12], body[12:]
    (folder / "train.tsv").write_text("\n".join([header, *pos[:8], *neg[:8]]) + "\n")
    (folder / "val.tsv").write_text("\n".join([header, *pos[8:10], *neg[8:10]]) + "\n")
    (folder / "test.tsv").write_text("\n".join([header, *pos[10:], *neg[10:]]) + "\n")
    result = transferkit.fit(folder, out=tmp_path / "run", quiet=True)
    assert result.metrics["evaluated_on"] == "test"
    assert (result.metrics["n_train"], result.metrics["n_val"], result.metrics["n_test"]) == (
        16,
        4,
        4,
    )
    assert result.metrics["backbone"] == "minilm-l6"
    assert (result.run_dir / "predictions_test.csv").is_file()


def test_undecodable_images_are_skipped_counted_and_listed(colour_folder, tmp_path):
    big = write_image(tmp_path / "big.jpg", (30, 30, 200), 7, size=400)
    data = big.read_bytes()
    (colour_folder / "blue" / "cut.jpg").write_bytes(data[: int(len(data) * 0.6)])
    (colour_folder / "red" / "zero.png").write_bytes(b"")
    result = transferkit.fit(colour_folder, out=tmp_path / "run", quiet=True)
    skipped = {
        r["input"].split("/")[-1]: r["reason"] for r in _rows(result.run_dir / "skipped.csv")
    }
    assert set(skipped) == {"cut.jpg", "zero.png"}
    assert skipped["cut.jpg"].startswith("unreadable image")
    assert result.metrics["n_skipped"] == 2
    assert result.metrics["n_train"] + result.metrics["n_val"] == 24
    assert "skipped 2 input(s)" in result.summary and "skipped.csv" in result.summary


def test_a_class_lost_to_bad_files_fails_clearly(colour_folder, tmp_path):
    for f in (colour_folder / "blue").iterdir():
        f.write_bytes(b"")
    with pytest.raises(TransferKitError, match=r"only one class remains.*'red'"):
        transferkit.fit(colour_folder, out=tmp_path / "run", quiet=True)


def test_an_existing_output_folder_is_never_overwritten_silently(colour_folder, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    with pytest.raises(TransferKitError, match=r"already exists and is not empty.*--overwrite"):
        transferkit.fit(colour_folder, out=out, quiet=True)
    assert (out / "keep.txt").read_text() == "user data"
    assert not (out / "metrics.json").exists()
    result = transferkit.fit(colour_folder, out=out, overwrite=True, quiet=True)
    assert (out / "metrics.json").exists() and (out / "keep.txt").read_text() == "user data"
    assert "kept 1 file(s) transferkit did not write: keep.txt" in result.summary
    # a file at a run file's name that the manifest does not list is the user's: refused
    (out / "predictions_test.csv").write_text("not from a run\n")
    with pytest.raises(TransferKitError, match=r"predictions_test\.csv.*did not write"):
        transferkit.fit(colour_folder, out=out, overwrite=True, quiet=True)
    assert (out / "predictions_test.csv").read_text() == "not from a run\n"


def test_default_run_folders_are_fresh(colour_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = transferkit.fit(colour_folder, quiet=True).run_dir
    b = transferkit.fit(colour_folder, quiet=True).run_dir
    assert a != b and a.parent.name == "runs" and b.exists()


def test_strategy_and_modality_errors(colour_folder, tmp_path):
    with pytest.raises(TransferKitError, match=r"Got 'finetuning'. Did you mean 'finetune'\?"):
        transferkit.fit(colour_folder, strategy="finetuning")
    with pytest.raises(
        TransferKitError, match=r"backbone 'minilm-l6' reads text but .* holds image"
    ):
        transferkit.fit(colour_folder, backbone="minilm-l6", out=tmp_path / "r", quiet=True)
