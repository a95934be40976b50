"""Strategy `contrastive`: pairs, the encoder's loss, and a run end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import cli

import transferkit
from transferkit._errors import TransferKitError
from transferkit.finetune._config import ContrastiveConfig, TrainConfig


def test_pairs_are_balanced_seeded_and_never_a_row_with_itself() -> None:
    from transferkit.finetune._contrastive import sample_pairs

    labels = np.array([0] * 3 + [1] * 9 + [2] * 4)  # unequal classes
    pairs = sample_pairs(labels, 301, seed=5)
    assert len(pairs) == 301
    same = [p for p in pairs if p[2] == 1.0]
    assert len(same) == 151 and len(pairs) - len(same) == 150
    for i, j, target in pairs:
        assert i != j
        assert (labels[i] == labels[j]) == (target == 1.0)
    assert pairs == sample_pairs(labels, 301, seed=5)
    assert pairs != sample_pairs(labels, 301, seed=6)
    # every unique pair of a kind is used before any is used again
    from collections import Counter

    uses = Counter(frozenset(p[:2]) for p in same)
    assert len(uses) == 3 + 36 + 6  # C(3,2) + C(9,2) + C(4,2)
    assert max(uses.values()) - min(uses.values()) <= 1


def test_pairs_need_two_classes_and_a_shared_one() -> None:
    from transferkit.finetune._contrastive import sample_pairs

    with pytest.raises(TransferKitError, match="two rows of one class"):
        sample_pairs(np.array([0, 1, 2]), 10, seed=0)


def test_the_contrastive_loss_falls_on_classes_that_start_mixed() -> None:
    from transferkit.backbones import create_backbone
    from transferkit.finetune._contrastive import tune_encoder

    # labels that cut across what the sentences are about: the encoder starts mixed
    texts = [
        "the train was late again",
        "a cup of green tea",
        "my cat sleeps all day",
        "rain is expected tomorrow",
        "the museum opens at nine",
        "she plays the violin",
        "fresh bread from the bakery",
        "the river flooded the road",
    ] * 2
    labels = np.array([0, 1] * 8)
    model = create_backbone("minilm-l6")
    before = model.forward_features(_tokens(model, texts)).detach()
    config = ContrastiveConfig(pairs=128, epochs=2, lr=1e-4, seed=0)
    info = tune_encoder(model, texts, labels, config)
    assert info["steps"] == 2 * 128 // 16
    assert info["loss_last"] < 0.5 * info["loss_first"]
    after = model.forward_features(_tokens(model, texts)).detach()
    assert _separation(after, labels) > _separation(before, labels) + 0.2


def _tokens(model, texts):
    return dict(model.tokenizer(texts, padding=True, return_tensors="pt"))


def _separation(x, labels: np.ndarray) -> float:
    """Mean cosine within classes minus across them."""
    sim = (x @ x.T).numpy()
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    return float(sim[same & off].mean() - sim[~same].mean())


def test_contrastive_settings_fail_in_one_line() -> None:
    with pytest.raises(TransferKitError, match="`pair_loss` must be one of"):
        TrainConfig(pair_loss="hinge").validate()
    with pytest.raises(TransferKitError, match="`pairs` must be at least 2"):
        TrainConfig(pairs=1).validate()
    assert ContrastiveConfig().n_pairs(16) == 640
    assert ContrastiveConfig().n_pairs(10_000) == 8000


def test_a_contrastive_run_trains_on_every_row_and_predicts_as_it_scored(
    tmp_path: Path, capsys
) -> None:
    from tests.test_few_labels import _split_folder

    data = _split_folder(tmp_path / "reviews")
    run = tmp_path / "run"
    train = {"pairs": 64}
    result = transferkit.fit(data, strategy="contrastive", train=train, out=run, quiet=True)
    m = json.loads((run / "metrics.json").read_text())
    assert m["strategy"] == "contrastive" and m["n_val"] == 0 and m["evaluated_on"] == "test"
    assert m["contrastive"]["pairs"] == 64 and m["contrastive"]["steps"] == 4
    model_json = json.loads((run / "model" / "model.json").read_text())
    assert model_json["backbone"]["trained_weights"] == "backbone.safetensors"
    # the tuned encoder is the one predict loads: same answers as the run's predictions
    with (run / "predictions_test.csv").open() as f:
        scored = list(csv.DictReader(f))
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(r["text"] for r in scored) + "\n")
    code, out, err = cli(capsys, "predict", str(run), "--texts-file", str(texts))
    assert code == 0, err
    predicted = list(csv.DictReader(out.splitlines()))
    assert [r["predicted"] for r in predicted] == [r["predicted"] for r in scored]
    assert result.metrics["accuracy"] == m["accuracy"]


def test_contrastive_refuses_what_it_cannot_train(colour_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(TransferKitError, match="tunes a sentence encoder"):
        transferkit.fit(colour_folder, strategy="contrastive", out=tmp_path / "r", quiet=True)


def test_transfer_classifier_tunes_the_encoder_and_keys_the_cache_by_it() -> None:
    from tests.conftest import TEXTS

    from transferkit import TransferClassifier

    X = [t for texts in TEXTS.values() for t in texts]
    y = [label for label, texts in TEXTS.items() for _ in texts]
    plain = TransferClassifier().fit(X, y)
    tuned = TransferClassifier(strategy="contrastive", train={"pairs": 32}).fit(X, y)
    assert tuned.contrastive_["steps"] == 2
    assert tuned.backbone_.weights_digest != plain.backbone_.weights_digest
    assert not np.allclose(tuned._embed(X[:2]), plain._embed(X[:2]))
    assert list(tuned.predict(X[:3])) == [y[0]] * 3
