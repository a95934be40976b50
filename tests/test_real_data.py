"""Real data, real weights, default settings: the numbers the README promises."""

from __future__ import annotations

import csv

import pytest

import transferkit

from conftest import shared_dataset

pytestmark = pytest.mark.slow


def test_hymenoptera_default_fit(tmp_path):
    data = shared_dataset("hymenoptera")
    result = transferkit.fit(data, out=tmp_path / "run", quiet=True)
    m = result.metrics
    assert (m["n_train"], m["n_val"]) == (245, 153)
    assert m["accuracy"] >= 0.94
    with open(result.run_dir / "predictions_val.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:16]
    model = transferkit.load(result.run_dir)
    assert model.predict([r["input"] for r in rows]) == [r["predicted"] for r in rows]


def test_sms_spam_with_minilm(tmp_path):
    data = shared_dataset("sms_spam") / "SMSSpamCollection"
    result = transferkit.fit(data, backbone="minilm-l6", out=tmp_path / "run", seed=0, quiet=True)
    m = result.metrics
    assert (m["n_train"], m["n_val"]) == (4459, 1115)
    assert m["accuracy"] >= 0.98
    assert m["per_class"]["spam"]["f1"] >= 0.92


def test_uci_imdb_sentences(tmp_path):
    result = transferkit.fit(
        shared_dataset("uci_sentiment") / "imdb.txt", out=tmp_path / "run", quiet=True
    )
    assert result.metrics["n_skipped"] == 0
    assert result.metrics["n_train"] + result.metrics["n_val"] == 1000
    assert result.metrics["accuracy"] >= 0.75
