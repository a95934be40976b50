"""Threshold tuning: the rules on a hand-worked case, and the saved threshold at predict time."""

from __future__ import annotations

import json

import numpy as np
import pytest

import transferkit
from transferkit import TransferKitError
from transferkit.heads._threshold import choose_threshold, decide, parse_rule

# thresholds 0.1 / 0.4 / 0.6 / 0.7 / 0.9 give (precision, recall) of
# (0.6, 1) / (0.75, 1) / (0.67, 0.67) / (1, 0.67) / (1, 0.33)
Y = np.array([0, 0, 1, 1, 1])
SCORE = np.array([0.1, 0.6, 0.4, 0.7, 0.9])


@pytest.mark.parametrize(
    ("rule", "value", "precision", "recall", "met"),
    [
        ("f1", 0.4, 0.75, 1.0, True),
        ("recall=1", 0.4, 0.75, 1.0, True),  # the highest threshold keeping every positive
        ("recall=0.6", 0.7, 1.0, 2 / 3, True),
        ("precision=1", 0.7, 1.0, 2 / 3, True),  # the lowest threshold with no false positive
        ("precision=0.7", 0.4, 0.75, 1.0, True),
    ],
)
def test_rules_on_a_hand_worked_case(rule, value, precision, recall, met):
    chosen = choose_threshold(Y, SCORE, parse_rule(rule), "pos")
    assert chosen.value == value
    assert chosen.oof_precision == pytest.approx(precision)
    assert chosen.oof_recall == pytest.approx(recall)
    assert chosen.met is met
    assert decide(np.c_[1 - SCORE, SCORE], chosen).tolist() == (value <= SCORE).astype(int).tolist()


@pytest.mark.parametrize("text", ["f2", "recall", "recall=0", "precision=1.5", "recall=high"])
def test_bad_rules_are_one_line_errors(text):
    with pytest.raises(TransferKitError, match=r"is not a rule: use 'f1', 'recall=R'"):
        parse_rule(text)


def test_fit_saves_the_threshold_and_predict_applies_it(text_file, tmp_path):
    result = transferkit.fit(text_file, out=tmp_path / "r", threshold="recall=0.9", quiet=True)
    saved = json.loads((result.run_dir / "model" / "model.json").read_text())["threshold"]
    assert saved["rule"] == "recall=0.9" and saved["positive_class"] == "pos"
    assert result.metrics["threshold"] == saved
    texts = ["a wonderful film", "a dreadful waste of money", "it was fine"]
    model = transferkit.load(result.run_dir)
    proba = model.predict_proba(texts)
    expected = ["pos" if p >= saved["value"] else "neg" for p in proba[:, 1]]
    assert model.predict(texts) == expected
    # move the saved threshold to 0: every input is now the positive class, through
    # the Python API and the command line alike
    path = result.run_dir / "model" / "model.json"
    config = json.loads(path.read_text())
    config["threshold"]["value"] = 0.0
    path.write_text(json.dumps(config))
    assert transferkit.load(result.run_dir).predict(texts) == ["pos"] * 3
    from typer.testing import CliRunner

    from transferkit.cli import app

    out = CliRunner().invoke(app, ["predict", str(result.run_dir), *texts])
    assert out.exit_code == 0, out.output
    assert [line.split(",")[1] for line in out.output.strip().splitlines()[1:]] == ["pos"] * 3


def test_threshold_needs_a_binary_task_and_the_features_strategy(colour_folder, tmp_path):
    with pytest.raises(TransferKitError, match=r"out-of-fold predictions, which strategy"):
        transferkit.fit(colour_folder, strategy="top:1", threshold="f1", out=tmp_path / "a")
    with pytest.raises(TransferKitError, match=r"is not a rule"):
        transferkit.fit(colour_folder, threshold="f1.5", out=tmp_path / "b")
