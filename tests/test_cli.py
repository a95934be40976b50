"""The command line: exit codes, one-line errors, fit → predict."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

from typer.testing import CliRunner

from transferkit.cli import app

runner = CliRunner()


def test_help_and_backbones():
    assert runner.invoke(app, ["--help"]).exit_code == 0
    result = runner.invoke(app, ["backbones"])
    assert result.exit_code == 0
    assert "efficientnet_lite0" in result.output and "minilm-l6" in result.output


def test_bad_input_exits_non_zero_with_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "transferkit.cli", "fit", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: data path") and "missing" in lines[0]


def test_bad_strategy_exit_code(colour_folder):
    result = runner.invoke(app, ["fit", str(colour_folder), "--strategy", "finetuning"])
    assert result.exit_code == 2
    assert "Did you mean 'finetune'?" in result.output


def test_fit_then_predict_agree(colour_folder, tmp_path):
    out = tmp_path / "run"
    fit = runner.invoke(app, ["fit", str(colour_folder), "--out", str(out), "--quiet"])
    assert fit.exit_code == 0, fit.output
    assert "val: accuracy" in fit.output and "skipped 0 inputs" in fit.output
    with open(out / "predictions_val.csv", newline="") as f:
        reported = {r["input"]: r["predicted"] for r in csv.DictReader(f)}
    predict = runner.invoke(app, ["predict", str(out), *reported])
    assert predict.exit_code == 0, predict.output
    rows = list(csv.DictReader(io.StringIO(predict.stdout)))
    assert {r["input"]: r["predicted"] for r in rows} == reported
    again = runner.invoke(app, ["fit", str(colour_folder), "--out", str(out), "--quiet"])
    assert again.exit_code == 2 and "already exists" in again.output


def test_predict_to_csv_and_on_a_folder(colour_folder, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, ["fit", str(colour_folder), "--out", str(out), "-q"]).exit_code == 0
    target = tmp_path / "pred.csv"
    result = runner.invoke(
        app, ["predict", str(out), str(colour_folder / "red"), "--output", str(target)]
    )
    assert result.exit_code == 0, result.output
    with open(target, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and {r["predicted"] for r in rows} == {"red"}
    refused = runner.invoke(
        app, ["predict", str(out), str(colour_folder / "red"), "--output", str(target)]
    )
    assert refused.exit_code == 2 and "already exists" in refused.output


def test_predict_on_something_that_is_not_a_run(tmp_path):
    result = runner.invoke(app, ["predict", str(tmp_path), "some text"])
    assert result.exit_code == 2 and "is not a transferkit run" in result.output


def test_text_fit_and_predict_from_the_cli(text_file, tmp_path):
    out = tmp_path / "run"
    fit = runner.invoke(
        app, ["fit", str(text_file), "--text", "text", "--label", "label", "--out", str(out), "-q"]
    )
    assert fit.exit_code == 0, fit.output
    predict = runner.invoke(app, ["predict", str(out), "excellent, loved it", "broken and awful"])
    assert predict.exit_code == 0, predict.output
    rows = list(csv.DictReader(io.StringIO(predict.stdout)))
    assert [r["predicted"] for r in rows] == ["pos", "neg"]


def test_predict_gives_unreadable_inputs_a_row_with_their_error(colour_folder, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, ["fit", str(colour_folder), "--out", str(out), "-q"]).exit_code == 0
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    good = next((colour_folder / "red").iterdir())
    result = runner.invoke(app, ["predict", str(out), str(good), str(broken)])
    assert result.exit_code == 0, result.output
    rows = {r["input"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert rows[str(good)]["predicted"] == "red" and rows[str(good)]["error"] == ""
    assert rows[str(broken)]["predicted"] == "" and "unreadable image" in rows[str(broken)]["error"]


def test_bad_training_flag_exits_with_one_line(colour_folder, tmp_path):
    args = ["fit", str(colour_folder), "--strategy", "gradual", "--unfreeze-every", "0"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "r"), "-q"])
    assert result.exit_code == 2
    assert "`unfreeze_every` must be at least 1; got 0" in result.output
    monitor = runner.invoke(
        app, ["fit", str(colour_folder), "--strategy", "top:1", "--monitor", "val_acc"]
    )
    assert monitor.exit_code == 2 and "Did you mean 'val_accuracy'?" in monitor.output
