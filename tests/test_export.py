"""Export: ONNX and TorchScript files that hold backbone + head, agree with the PyTorch
model, and drive `predict --engine onnx` from the export folder alone."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import transferkit
from transferkit.cli import app
from transferkit.runs._export import OnnxPredictor, export


@pytest.fixture
def image_run(colour_folder, tmp_path):
    return transferkit.fit(colour_folder, out=tmp_path / "run", quiet=True)


def _images(folder):
    return sorted(str(p) for p in folder.rglob("*.jpg"))


def test_onnx_export_agrees_with_pytorch_on_images(image_run, colour_folder):
    result = export(image_run.run_dir, "onnx")
    assert result.path == image_run.run_dir / "export" / "model.onnx"
    assert result.max_abs_diff <= 1e-4 and result.n_checked > 0
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["class_names"] == image_run.model.class_names
    assert sidecar["inputs"][0]["name"] == "pixels"
    assert sidecar["preprocessing"]["input_size"] == 224
    # the ONNX predictor reads only the export folder: preprocessing from the sidecar
    images = _images(colour_folder)
    onnx_proba, errors = OnnxPredictor(image_run.run_dir).predict_rows(images)
    assert not errors
    torch_proba = image_run.model.predict_proba(images)
    assert np.abs(onnx_proba - torch_proba).max() <= 1e-4


def test_export_refuses_to_replace_an_earlier_one(image_run):
    export(image_run.run_dir, "onnx")
    with pytest.raises(transferkit.TransferKitError, match="--overwrite"):
        export(image_run.run_dir, "onnx")
    with pytest.raises(transferkit.TransferKitError, match="format"):
        export(image_run.run_dir, "tflite")


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_export_runs_without_transferkit_classes(image_run, colour_folder):
    result = export(image_run.run_dir, "torchscript")
    assert result.max_abs_diff <= 1e-4
    module = torch.jit.load(str(result.path))
    backbone = image_run.model.backbone
    batch = next(iter(backbone.batches(_images(colour_folder)[:4], 4)))
    with torch.inference_mode():
        got = module(batch.inputs).numpy()
    expected = image_run.model.predict_proba(_images(colour_folder)[:4])
    assert np.abs(got - expected).max() <= 1e-4


def test_predict_engine_onnx_streams_rows_and_reports_unreadable_inputs(
    image_run, colour_folder, tmp_path
):
    export(image_run.run_dir, "onnx")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    images = _images(colour_folder)[:5]
    runner = CliRunner()
    rows = {}
    for engine in ("torch", "onnx"):
        out = tmp_path / f"{engine}.csv"
        args = ["predict", str(image_run.run_dir), *images, str(broken), "--engine", engine]
        result = runner.invoke(app, [*args, "--batch-size", "2", "-o", str(out)])
        assert result.exit_code == 0, result.output
        rows[engine] = list(csv.DictReader(io.StringIO(out.read_text())))
    for engine, got in rows.items():
        assert len(got) == 6, engine
        assert got[-1]["predicted"] == "" and got[-1]["error"], engine
    for a, b in zip(rows["torch"][:5], rows["onnx"][:5], strict=True):
        assert a["predicted"] == b["predicted"]
        assert abs(float(a["confidence"]) - float(b["confidence"])) <= 1e-4


def test_predict_engine_onnx_without_an_export_says_how_to_make_one(image_run):
    result = CliRunner().invoke(
        app, ["predict", str(image_run.run_dir), "x.jpg", "--engine", "onnx"]
    )
    assert result.exit_code != 0
    assert "transferkit export" in result.output


def test_onnx_export_of_a_text_run_tokenizes_from_the_export_folder(text_file, tmp_path):
    run = transferkit.fit(text_file, out=tmp_path / "run", quiet=True)
    result = export(run.run_dir, "onnx")
    assert result.max_abs_diff <= 1e-4
    assert (run.run_dir / "export" / "tokenizer").is_dir()
    texts = ["great food and friendly staff", "the worst meal I have had", "ok", "a" * 3000]
    onnx_proba, errors = OnnxPredictor(run.run_dir).predict_rows(texts)
    assert not errors
    assert np.abs(onnx_proba - run.model.predict_proba(texts)).max() <= 1e-4
    # many texts: one per line of a file, streamed through the ONNX engine
    lines = tmp_path / "texts.txt"
    lines.write_text("\n".join(texts[:3]) + "\n\n")
    out = tmp_path / "p.csv"
    args = ["predict", str(run.run_dir), "--texts-file", str(lines), "--engine", "onnx"]
    result = CliRunner().invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["input"] for r in rows] == texts[:3]
    expected = [run.model.class_names[k] for k in onnx_proba[:3].argmax(1)]
    assert [r["predicted"] for r in rows] == expected


@pytest.mark.slow
def test_a_trained_backbone_is_exported_with_its_trained_weights(colour_folder, tmp_path):
    run = transferkit.fit(
        colour_folder,
        strategy="top:1",
        out=tmp_path / "run",
        quiet=True,
        train={"epochs": 1, "augment": False, "lr": 0.5},
    )
    result = export(run.run_dir, "onnx")
    images = _images(colour_folder)
    onnx_proba, _ = OnnxPredictor(run.run_dir).predict_rows(images)
    assert np.abs(onnx_proba - run.model.predict_proba(images)).max() <= 1e-4
    # and the pretrained backbone would not give these probabilities: the training is in it
    pretrained = transferkit.fit(colour_folder, out=tmp_path / "frozen", quiet=True)
    assert not np.allclose(
        run.model.backbone.embed_batch(next(iter(run.model.backbone.batches(images[:2], 2)))),
        pretrained.model.backbone.embed_batch(
            next(iter(pretrained.model.backbone.batches(images[:2], 2)))
        ),
    )
    assert result.n_checked > 0


def test_an_export_never_answers_for_another_model(image_run, colour_folder):
    export(image_run.run_dir, "onnx")
    sidecar = image_run.run_dir / "export" / "model.onnx.json"
    saved = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**saved, "weights_digest": "0" * 16}))
    with pytest.raises(transferkit.TransferKitError, match="earlier model"):
        OnnxPredictor(image_run.run_dir)
    # a refit into the same folder removes the run's old export with its other files
    transferkit.fit(colour_folder, out=image_run.run_dir, overwrite=True, quiet=True)
    assert not (image_run.run_dir / "export" / "model.onnx").exists()
    with pytest.raises(transferkit.TransferKitError, match="transferkit export"):
        OnnxPredictor(image_run.run_dir)
