"""Trained strategies on a real backbone: what is frozen, at which rate, and what is saved."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

import transferkit
from transferkit import TransferKitError
from transferkit.backbones import create_backbone
from transferkit.finetune._config import TrainConfig
from transferkit.finetune._strategies import make_strategy

FAST = {"epochs": 2, "batch_size": 8, "augment": False}


def _history(run_dir):
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def _bn_stats(backbone, group_index):
    _, modules = backbone.layer_groups()[group_index]
    for m in modules:
        for sub in m.modules():
            if isinstance(sub, torch.nn.BatchNorm2d):
                return sub.running_mean.clone(), sub.running_var.clone()
    raise AssertionError("no BatchNorm in this group")


def test_frozen_batchnorm_statistics_do_not_move(colour_folder, tmp_path):
    pretrained = create_backbone("efficientnet_lite0")
    frozen_before = _bn_stats(pretrained, 1)
    top_before = _bn_stats(pretrained, -1)
    train = {**FAST, "batchnorm": "trainable"}  # the trained group updates its statistics
    result = transferkit.fit(
        colour_folder, strategy="top:1", out=tmp_path / "r", train=train, quiet=True
    )
    trained = result.model.backbone
    frozen_after, top_after = _bn_stats(trained, 1), _bn_stats(trained, -1)
    torch.testing.assert_close(frozen_after[0], frozen_before[0], rtol=0, atol=0)
    torch.testing.assert_close(frozen_after[1], frozen_before[1], rtol=0, atol=0)
    assert not torch.equal(top_after[0], top_before[0]), "the trained group's statistics must move"


def test_batchnorm_all_lets_frozen_statistics_move(colour_folder, tmp_path):
    before = _bn_stats(create_backbone("efficientnet_lite0"), 1)
    train = {**FAST, "batchnorm": "all"}
    result = transferkit.fit(
        colour_folder, strategy="top:1", out=tmp_path / "r", train=train, quiet=True
    )
    after = _bn_stats(result.model.backbone, 1)
    assert not torch.equal(after[0], before[0])


def test_default_batchnorm_keeps_every_running_statistic(colour_folder, tmp_path):
    pretrained = create_backbone("efficientnet_lite0")
    result = transferkit.fit(
        colour_folder, strategy="finetune", out=tmp_path / "r", train=FAST, quiet=True
    )
    for index in (1, -1):
        before, after = _bn_stats(pretrained, index), _bn_stats(result.model.backbone, index)
        assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])


def test_top_k_leaves_lower_groups_untouched(colour_folder, tmp_path):
    pretrained = create_backbone("efficientnet_lite0")
    result = transferkit.fit(
        colour_folder, strategy="top:2", out=tmp_path / "r", train=FAST, quiet=True
    )
    trained = result.model.backbone
    names = [n for n, _ in pretrained.layer_groups()]
    for index, name in enumerate(names):
        a = torch.cat(
            [p.flatten() for m in pretrained.layer_groups()[index][1] for p in m.parameters()]
        )
        b = torch.cat(
            [p.flatten() for m in trained.layer_groups()[index][1] for p in m.parameters()]
        )
        assert torch.equal(a, b) == (index < len(names) - 2), name
    assert [c for c in _history(result.run_dir)[0] if c.startswith("lr_")] == [
        "lr_head",
        f"lr_{names[-2]}",
        f"lr_{names[-1]}",
    ]


def test_discriminative_rates():
    module_groups = list(range(4))
    cfg = TrainConfig(lr=1e-3, lr_decay=0.5)
    assert make_strategy("finetune", cfg).group_rates(len(module_groups)) == pytest.approx(
        [1e-3 / 16, 1e-3 / 8, 1e-3 / 4, 1e-3 / 2]
    )
    spread = make_strategy("finetune", TrainConfig(lr=1e-2, lr_low=1e-4)).group_rates(2)
    assert spread == pytest.approx([1e-4, 1e-3])
    assert make_strategy("scratch", cfg).group_rates(3) == [1e-3] * 3


def test_gradual_unfreezes_one_group_per_epoch_from_the_top(colour_folder, tmp_path):
    train = {**FAST, "epochs": 3, "head_epochs": 1}
    result = transferkit.fit(
        colour_folder, strategy="gradual", out=tmp_path / "r", train=train, quiet=True
    )
    rows = _history(result.run_dir)
    names = [n for n, _ in create_backbone("efficientnet_lite0").layer_groups()]
    assert rows[0][f"lr_{names[-1]}"] == ""  # epoch 0: the head alone
    assert rows[1][f"lr_{names[-1]}"] != "" and rows[1][f"lr_{names[-2]}"] == ""
    assert rows[2][f"lr_{names[-2]}"] != ""
    assert float(rows[1][f"lr_{names[-1]}"]) < float(rows[1]["lr_head"])


def test_finetuned_run_reloads_and_predicts_what_it_reported(text_file, tmp_path):
    result = transferkit.fit(
        text_file, strategy="finetune", out=tmp_path / "r", train=FAST, quiet=True
    )
    model_dir = result.run_dir / "model"
    assert (model_dir / "backbone.safetensors").is_file()
    assert (result.run_dir / "checkpoints" / "last.ckpt").is_file()
    with open(result.run_dir / "predictions_val.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    model = transferkit.Predictor(result.run_dir, use_cache=False)
    proba = model.predict_proba([r["text"] for r in rows])
    reported = np.array([[float(r[f"p_{c}"]) for c in model.class_names] for r in rows])
    np.testing.assert_allclose(proba, reported, atol=1e-5)
    assert model.backbone.weights_digest != create_backbone("minilm-l6").weights_digest


def test_scratch_starts_from_random_weights(colour_folder, tmp_path):
    result = transferkit.fit(
        colour_folder, strategy="scratch", out=tmp_path / "r", train=FAST, quiet=True
    )
    config = result.model.config
    assert config["strategy"] == "scratch"
    assert len(_history(result.run_dir)) == 2


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"optimizer": "adamm"}, r"`optimizer` must be one of .*Did you mean 'adam'\?"),
        ({"schedule": "cosin"}, r"Did you mean 'cosine'\?"),
        ({"lr_decay": 1.5}, r"`lr_decay` must be in \(0, 1\]"),
        ({"epochs": 0}, r"`epochs` must be positive"),
        ({"momentun": 0.9}, r"unknown training setting 'momentun'"),
        ({"unfreeze_every": 0}, r"`unfreeze_every` must be at least 1; got 0"),
        ({"cached_views": 0}, r"`cached_views` must be at least 1"),
        ({"devices": 2}, r"`devices` is 2: pass `--ddp`"),
    ],
)
def test_bad_training_settings(settings, message):
    with pytest.raises(TransferKitError, match=message):
        TrainConfig.from_dict(settings)


def test_top_k_larger_than_the_backbone(colour_folder, tmp_path):
    with pytest.raises(
        TransferKitError, match=r"top:99 asks for more groups than the backbone has"
    ):
        transferkit.fit(
            colour_folder, strategy="top:99", out=tmp_path / "r", train=FAST, quiet=True
        )


def test_prefix_split_reproduces_the_full_forward():
    backbone = create_backbone("efficientnet_lite0")
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        full = backbone.forward_features(x)
        for cut in range(1, len(backbone.layer_groups())):
            assert backbone.prefix_split_supported(cut)
            split = backbone.forward_suffix(backbone.forward_prefix(x, cut), cut)
            torch.testing.assert_close(split, full, rtol=0, atol=1e-5)


def test_top_k_runs_the_frozen_prefix_once_and_reuses_it(colour_folder, tmp_path, monkeypatch):
    from transferkit.backbones._vision import TimmBackbone

    calls = []
    real = TimmBackbone.forward_prefix

    def spy(self, inputs, cut):
        calls.append(len(inputs))
        return real(self, inputs, cut)

    monkeypatch.setattr(TimmBackbone, "forward_prefix", spy)
    train = {**FAST, "epochs": 3, "augment": True, "cached_views": 2}
    cache = tmp_path / "cache"  # a cache of its own: other tests have filled the shared one

    def run(name):
        return transferkit.fit(
            colour_folder,
            strategy="top:1",
            out=tmp_path / name,
            train=train,
            quiet=True,
            cache_dir=cache,
        )

    first = run("a")
    n_train, n_val = first.metrics["n_train"], first.metrics["n_val"]
    # two augmented views of the training split and one of val, plus one shape probe per view
    assert sum(calls) - calls.count(1) == 2 * n_train + n_val
    calls.clear()
    second = run("b")
    assert sum(calls) == calls.count(1), "a second run takes every prefix output from the cache"

    def losses(run):
        return [(r["train_loss"], r["val_loss"]) for r in _history(run.run_dir)]

    assert losses(first) == losses(second)


def test_gradual_is_refused_under_ddp(colour_folder, tmp_path):
    train = {**FAST, "devices": 2, "ddp": True}
    with pytest.raises(TransferKitError, match=r"'gradual' cannot run under DDP"):
        transferkit.fit(
            colour_folder, strategy="gradual", out=tmp_path / "r", train=train, quiet=True
        )


def test_a_features_only_head_is_refused_by_trained_strategies(colour_folder, tmp_path):
    with pytest.raises(TransferKitError, match=r"head 'mlp' is for strategy 'features'"):
        transferkit.fit(
            colour_folder, strategy="top:1", head="mlp", out=tmp_path / "r", train=FAST, quiet=True
        )
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_gradual_trains_on_cached_prefixes_as_its_cut_moves_down(
    colour_folder, tmp_path, monkeypatch
):
    from transferkit.backbones._vision import TimmBackbone

    cuts = []
    real = TimmBackbone.forward_prefix

    def spy(self, inputs, cut):
        if len(inputs) > 1:  # not a shape probe
            cuts.append(cut)
        return real(self, inputs, cut)

    monkeypatch.setattr(TimmBackbone, "forward_prefix", spy)
    # no dropout: the live run draws its random numbers in another order
    train = {**FAST, "epochs": 3, "head_epochs": 1, "dropout": 0.0}
    cache = tmp_path / "cache"

    def run(name, **extra):
        return transferkit.fit(
            colour_folder,
            strategy="gradual",
            out=tmp_path / name,
            train={**train, **extra},
            quiet=True,
            cache_dir=cache,
        )

    cached = run("cached")
    # epochs 0 (head) and 1 (top group) share the cut below the top group; epoch 2 cuts lower
    assert sorted(set(cuts)) == [6, 7]
    cuts.clear()
    again = run("again")
    assert cuts == [], "a second run takes every prefix output from the cache"
    live = run("live", prefix_cache=False)
    assert cuts == []
    histories = [_history(r.run_dir) for r in (cached, again, live)]
    for a, b, c in zip(*histories, strict=True):
        assert a["train_loss"] == b["train_loss"]
        for key in ("train_loss", "val_loss"):
            assert float(a[key]) == pytest.approx(float(c[key]), rel=1e-3, abs=1e-5)


def test_top_k_below_a_cut_trains_only_the_groups_under_it(colour_folder, tmp_path):
    pretrained = create_backbone("efficientnet_lite0")
    result = transferkit.fit(
        colour_folder, strategy="top:1", cut="blocks.4", out=tmp_path / "r", train=FAST,
        quiet=True,
    )  # fmt: skip
    assert result.metrics["cut"] == "blocks.4" and result.metrics["strategy"] == "top:1"
    trained = result.model.backbone
    names = [n for n, _ in pretrained.layer_groups()]
    for index, name in enumerate(names):
        a = torch.cat([p.flatten() for m in pretrained.layer_groups()[index][1]
                       for p in m.parameters()])  # fmt: skip
        b = torch.cat([p.flatten() for m in trained.layer_groups()[index][1]
                       for p in m.parameters()])  # fmt: skip
        assert torch.equal(a, b) == (name != "blocks.4"), name  # the groups above: unused
    assert [c for c in _history(result.run_dir)[0] if c.startswith("lr_")] == [
        "lr_head",
        "lr_blocks.4",
    ]
    # the cached prefix and the suffix up to the cut give the cut network's features
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        cut = pretrained.cut_at("blocks.4")
        split = cut.forward_suffix(cut.forward_prefix(x, cut.cut - 1), cut.cut - 1)
        torch.testing.assert_close(split, cut.forward_features(x), rtol=0, atol=1e-5)
    # the saved run reloads as the cut, trained network and predicts what it reported
    rows = list(csv.DictReader((result.run_dir / "predictions_val.csv").open()))
    again = transferkit.load(result.run_dir).predict_proba([r["input"] for r in rows])
    reported = np.array([[float(r[k]) for k in r if k.startswith("p_")] for r in rows])
    np.testing.assert_allclose(again, reported, atol=1e-5)
