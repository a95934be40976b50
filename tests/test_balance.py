"""Imbalanced classes: class weights reach the loss, samplers balance, resamplers resample."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import transferkit
from transferkit import TransferKitError
from transferkit.backbones import create_backbone
from transferkit.finetune._config import TrainConfig
from transferkit.finetune._data import EpochSampler
from transferkit.finetune._module import TransferModule, focal_loss
from transferkit.finetune._strategies import make_strategy
from transferkit.heads._balance import check_balance, class_weights, parse_class_weights, resample
from transferkit.heads._train import train_head


def test_balanced_weights_are_n_over_k_times_count():
    labels = np.array([0] * 8 + [1] * 2)
    np.testing.assert_allclose(class_weights(labels, ["ham", "spam"]), [10 / 16, 10 / 4])
    given = class_weights(labels, ["ham", "spam"], parse_class_weights("spam=5"))
    np.testing.assert_allclose(given, [1.0, 5.0])
    with pytest.raises(TransferKitError, match=r"class weight for 'spma', which is not a class"):
        class_weights(labels, ["ham", "spam"], {"spma": 2.0})
    with pytest.raises(TransferKitError, match=r"is not NAME=WEIGHT"):
        parse_class_weights("spam:5")


def _module(**train):
    config = TrainConfig(**train).validate()
    backbone = create_backbone("efficientnet_lite0", pretrained=False)
    return TransferModule(backbone, 2, config, make_strategy("finetune", config))


def test_a_stated_class_weight_reaches_the_loss_and_its_gradient():
    torch.manual_seed(0)
    logits = torch.randn(6, 2, requires_grad=True)
    labels = torch.tensor([0, 0, 0, 0, 1, 1])
    plain = _module()
    weighted = _module(balance="class-weight", class_weights=[1.0, 5.0])
    grads = []
    for module in (plain, weighted):
        logits.grad = None
        module.loss(logits, labels).backward()
        grads.append(logits.grad.clone())
    assert not torch.allclose(grads[0], grads[1])
    # the weighted loss is torch's class-weighted cross-entropy: minority rows count 5 times
    expected = torch.nn.functional.cross_entropy(logits, labels, weight=torch.tensor([1.0, 5.0]))
    assert weighted.loss(logits, labels).item() == pytest.approx(expected.item())
    ratio = grads[1][4].norm() / grads[0][4].norm()
    assert ratio.item() == pytest.approx(5 / ((4 + 2 * 5) / 6), rel=1e-5)


def test_focal_loss_is_cross_entropy_at_gamma_zero_and_down_weights_easy_samples():
    logits = torch.tensor([[4.0, -4.0], [0.2, 0.0]])
    labels = torch.tensor([0, 0])
    ce = torch.nn.functional.cross_entropy(logits, labels)
    assert focal_loss(logits, labels, 0.0).item() == pytest.approx(ce.item())
    per_sample = [focal_loss(logits[i : i + 1], labels[i : i + 1], 2.0) for i in range(2)]
    plain = [
        torch.nn.functional.cross_entropy(logits[i : i + 1], labels[i : i + 1]) for i in range(2)
    ]
    # the easy sample (p = 0.9997) loses far more of its weight than the hard one
    assert per_sample[0] / plain[0] < 1e-6 < per_sample[1] / plain[1]


def test_weighted_sampler_draws_classes_equally_and_seeds_every_draw_apart():
    labels = np.array([0] * 90 + [1] * 10)
    weights = 1.0 / np.bincount(labels)[labels]
    sampler = EpochSampler(100, seed=3, weights=weights)
    drawn = []
    for epoch in range(20):
        sampler.set_epoch(epoch)
        js = list(sampler)
        assert len(set(js)) == 100, "each draw has its own augmentation seed"
        drawn.extend(j % 100 for j in js)
    share = np.mean(labels[drawn])
    assert 0.45 < share < 0.55
    sampler.set_epoch(4)
    again = EpochSampler(100, seed=3, weights=weights)
    again.set_epoch(4)
    assert list(sampler) == list(again)


@pytest.mark.parametrize("mode", ["oversample", "undersample", "smote", "adasyn"])
def test_resamplers_balance_the_training_embeddings(mode):
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 1, (40, 4)), rng.normal(2, 1, (8, 4))].astype(np.float32)
    y = np.array([0] * 40 + [1] * 8)
    x2, y2, info = resample(x, y, mode, seed=0)
    counts = np.bincount(y2)
    assert info["before"] == [40, 8]
    assert abs(counts[0] - counts[1]) <= 0.25 * counts.max()  # ADASYN balances approximately
    assert x2.dtype == np.float32 and len(x2) == len(y2)


def test_class_weight_moves_the_logistic_head_towards_the_minority():
    rng = np.random.default_rng(1)
    x = np.r_[rng.normal(0, 1, (200, 3)), rng.normal(1, 1, (20, 3))]
    y = np.array([0] * 200 + [1] * 20)
    plain, _ = train_head("logistic", x, y, 2)
    weighted, info = train_head("logistic", x, y, 2, class_weight=class_weights(y, ["a", "b"]))
    assert info["class_weight"] == pytest.approx([220 / 400, 220 / 40])
    recall = [np.mean(h.predict_proba(x[y == 1]).argmax(1) == 1) for h in (plain, weighted)]
    assert recall[1] > recall[0]


def test_modes_that_do_not_fit_the_strategy_are_refused():
    with pytest.raises(TransferKitError, match=r"--balance smote does not apply to strategy"):
        check_balance("smote", "finetune")
    with pytest.raises(TransferKitError, match=r"--balance sampler does not apply to strategy"):
        check_balance("sampler", "features")
    with pytest.raises(TransferKitError, match=r"Did you mean 'smote'\?"):
        check_balance("smot", "features")


def test_fit_with_smote_records_the_resampling(text_file, tmp_path):
    result = transferkit.fit(text_file, out=tmp_path / "r", balance="smote", quiet=True)
    head = json.loads((result.run_dir / "model" / "model.json").read_text())["head"]
    assert head["balance"] == "smote"
    before, after = head["resampled"]["before"], head["resampled"]["after"]
    assert sum(before) == result.metrics["n_train"] and after[0] == after[1]


@pytest.mark.slow
def test_trained_strategy_with_class_weights_and_sampler(colour_folder, tmp_path):
    train = {"epochs": 1, "batch_size": 8, "augment": False}
    weighted = transferkit.fit(
        colour_folder,
        strategy="top:1",
        out=tmp_path / "w",
        train=train,
        class_weight={"red": 3.0},
        quiet=True,
    )
    config = json.loads((weighted.run_dir / "config.json").read_text())["resolved"]
    assert config["train"]["balance"] == "class-weight"
    assert config["train"]["class_weights"] == [1.0, 3.0]  # blue, red
    sampled = transferkit.fit(
        colour_folder,
        strategy="top:1",
        out=tmp_path / "s",
        train=train,
        balance="sampler",
        quiet=True,
    )
    assert sampled.metrics["accuracy"] >= 0.8
