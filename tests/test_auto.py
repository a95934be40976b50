"""`strategy="auto"`: the documented rule picks, and the run says what and why."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import transferkit
import transferkit.selection._auto as auto
from transferkit.selection import _rank

from conftest import write_image


def test_separable_data_keeps_the_frozen_features(colour_folder, tmp_path):
    result = transferkit.fit(colour_folder, strategy="auto", out=tmp_path / "r", quiet=True)
    assert result.metrics["strategy"] == "features"
    assert result.metrics["auto"]["picked"] == "features"
    assert "already separate the classes" in result.metrics["auto"]["why"]
    assert result.metrics["auto"]["backbone"] == "efficientnet_lite0"
    assert result.summary.startswith("auto picked 'efficientnet_lite0' with 'features'. Ranked")
    assert "Linear probe 1.000" in result.summary
    # the ranking behind the choice is in the run folder, the run's own config untouched
    ranking = json.loads((result.run_dir / "ranking.json").read_text())
    assert ranking["candidates"][0]["backbone"] == "efficientnet_lite0"
    assert len(ranking["candidates"]) > 1  # the output and its cut points
    assert (
        json.loads((result.run_dir / "config.json").read_text())["resolved"]["strategy"]
        == "features"
    )


def test_few_samples_per_class_keep_the_frozen_features(colour_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(auto, "probe_accuracy", lambda *a: 0.8)
    result = transferkit.fit(colour_folder, strategy="auto", out=tmp_path / "r", quiet=True)
    assert result.metrics["auto"]["picked"] == "features"
    assert "too few samples per class" in result.metrics["auto"]["why"]


@pytest.mark.slow
def test_enough_images_train_the_top_group_on_cached_prefixes(tmp_path, monkeypatch):
    for c, colour in {"warm": (180, 90, 40), "cool": (40, 90, 180)}.items():
        for i in range(64):
            write_image(
                tmp_path / "data" / c / f"{i}.jpg", colour, seed=i + (0 if c == "warm" else 99)
            )
    monkeypatch.setattr(auto, "probe_accuracy", lambda *a: 0.9)
    real = _rank.logme  # the output ranks first (colour blobs favour an inner cut)
    monkeypatch.setattr(_rank, "logme", lambda x, y: real(x, y) + 5.0 * (x.shape[1] == 1280))
    result = transferkit.fit(
        tmp_path / "data",
        strategy="auto",
        out=tmp_path / "r",
        quiet=True,
        train={"epochs": 1, "augment": False},
    )
    # the rule picks top:1 and trains it; what is kept is whichever scores higher on val
    # (red against blue: the features model is perfect already, so it stays)
    assert result.metrics["auto"]["trained"]["strategy"] == "top:1"
    assert result.metrics["strategy"] == result.metrics["auto"]["picked"]
    assert (result.run_dir / "history.csv").is_file()


def test_text_on_a_cpu_keeps_the_frozen_features(text_file, tmp_path, monkeypatch):
    monkeypatch.setattr(auto, "probe_accuracy", lambda *a: 0.8)
    monkeypatch.setattr(auto, "FEW_PER_CLASS", 2)
    result = transferkit.fit(text_file, strategy="auto", out=tmp_path / "r", quiet=True)
    assert result.metrics["auto"]["picked"] == "features"
    assert "on a CPU" in result.metrics["auto"]["why"]


def test_a_better_inner_cut_trains_the_groups_above_it(colour_folder, monkeypatch):
    """When an inner cut point out-scores the output, the groups above it train."""
    from transferkit.backbones import create_backbone
    from transferkit.data import read_data
    from transferkit.features._cache import FeatureCache

    real = _rank.logme
    inner = lambda x: x.shape[1] != 1280  # noqa: E731 - every pooled cut, not the output
    monkeypatch.setattr(_rank, "logme", lambda x, y: real(x, y) + 5.0 * inner(x))
    monkeypatch.setattr(auto, "probe_accuracy", lambda *a: 0.8)
    monkeypatch.setattr(auto, "FEW_PER_CLASS", 2)
    splits = read_data(colour_folder, seed=0)
    choice = auto.choose(splits, ["efficientnet_lite0"], FeatureCache(None), "cpu", 0, False)
    groups = [name for name, _ in create_backbone("efficientnet_lite0").layer_groups()]
    best = choice.ranked[0]
    assert best.cut is not None and choice.cut is None  # the groups above train: none cut off
    assert choice.strategy == f"top:{len(groups) - best.cut}"
    assert f"Cut after {groups[best.cut - 1]!r}" in choice.why


def test_separable_data_and_a_better_inner_cut_give_features_at_that_cut(colour_folder, tmp_path):
    """Colour blobs: an inner cut out-scores the output and the probe is perfect, so the
    run takes the cut's pooled output as features and drops the groups above it."""
    result = transferkit.fit(colour_folder, strategy="auto", out=tmp_path / "r", quiet=True)
    cut = result.metrics["auto"]["cut"]
    assert cut is not None and result.metrics["strategy"] == "features"
    ranking = json.loads((result.run_dir / "ranking.json").read_text())
    assert ranking["candidates"][0]["cut"] == cut
    assert result.metrics["cut"] in result.metrics["auto"]["why"]
    saved = json.loads((result.run_dir / "model" / "model.json").read_text())
    assert saved["backbone"]["cut"] == cut


def test_features_at_a_cut_are_the_ranked_values_and_survive_a_reload(colour_folder, tmp_path):
    from transferkit.backbones import create_backbone
    from transferkit.features._cache import FeatureCache
    from transferkit.selection._rank import pooled_prefix_features

    result = transferkit.fit(colour_folder, cut="blocks.3", out=tmp_path / "r", quiet=True)
    assert result.metrics["cut"] == "blocks.3"
    images = sorted(str(p) for p in colour_folder.rglob("*.jpg"))
    reloaded = transferkit.load(result.run_dir, cache_dir=tmp_path / "fresh-cache")
    assert np.allclose(reloaded.predict_proba(images), result.model.predict_proba(images))
    ranked, _ = pooled_prefix_features(
        create_backbone("efficientnet_lite0"), images, FeatureCache(tmp_path / "c2"), 5
    )
    assert reloaded.backbone.cut == 5 and reloaded.backbone.feature_dim == ranked.shape[1]
    assert np.allclose(reloaded.embed(images), ranked, atol=1e-5)


def test_a_cut_is_checked(colour_folder, tmp_path):
    with pytest.raises(transferkit.TransferKitError, match=r"blocks\.1"):
        transferkit.fit(colour_folder, cut="nowhere", out=tmp_path / "a", quiet=True)
    with pytest.raises(transferkit.TransferKitError, match="top:K"):
        transferkit.fit(
            colour_folder, cut="blocks.3", strategy="finetune", out=tmp_path / "b", quiet=True
        )


def test_candidates_need_strategy_auto(colour_folder, tmp_path):
    with pytest.raises(transferkit.TransferKitError, match="--strategy auto"):
        transferkit.fit(colour_folder, candidates=["efficientnet_lite0"], out=tmp_path / "r")


def test_a_text_cut_runs_only_the_layers_below_it(text_file, tmp_path):
    """The layers above a text cut leave the stack (not run, not exported); the features
    are still the ones rank scored at that cut, and `uncut` gives the whole model back."""
    from transferkit.backbones import create_backbone
    from transferkit.backbones._text import _find_layer_list
    from transferkit.data import read_data
    from transferkit.features._cache import FeatureCache
    from transferkit.selection._rank import pooled_prefix_features

    texts = list(read_data(text_file, seed=0).train.inputs)
    ranked, _ = pooled_prefix_features(
        create_backbone("minilm-l6"), texts, FeatureCache(tmp_path / "c"), 3
    )
    backbone = create_backbone("minilm-l6").cut_at("layer1")
    assert len(_find_layer_list(backbone.model)) == 2
    batch = next(iter(backbone.batches(texts, len(texts))))
    got = backbone.embed_batch(batch)[np.argsort(batch.positions)]
    assert np.allclose(got, ranked, atol=1e-5)
    backbone.cut_at("layer3")  # a new cut starts from the whole stack
    assert len(_find_layer_list(backbone.model)) == 4
    assert len(_find_layer_list(backbone.uncut().model)) == 6
    assert [name for name, _ in backbone.cut_at("layer0").layer_groups()] == [
        "embeddings",
        "layer0",
    ]
    # after the embeddings: the mean token embedding, as rank scored it at cut 1
    at_embeddings, _ = pooled_prefix_features(
        create_backbone("minilm-l6"), texts, FeatureCache(tmp_path / "c"), 1
    )
    backbone.cut_at("embeddings")
    assert backbone.cut == 1  # one layer kept: transformers gives no hidden state without one
    assert [name for name, _ in backbone.layer_groups()] == ["embeddings", "layer0"]
    got = backbone.embed_batch(batch)[np.argsort(batch.positions)]
    assert np.allclose(got, at_embeddings, atol=1e-5)
    assert not np.allclose(got, ranked, atol=1e-3)  # not the output of a layer


def test_a_ddp_worker_takes_the_choice_of_rank_0_without_ranking(
    colour_folder, tmp_path, monkeypatch
):
    from transferkit.config import JobConfig
    from transferkit.data import read_data
    from transferkit.jobs import _choose, _steps

    def choose(seed):
        config = JobConfig.from_options(
            colour_folder, strategy="auto", cache_dir=tmp_path / "c", seed=seed, quiet=True
        )
        return _choose.choose(_steps.Job(config), splits)

    monkeypatch.setenv(_choose.AUTO_ENV, "")  # so that the test's value is removed afterwards
    first = transferkit.fit(colour_folder, strategy="auto", out=tmp_path / "r", quiet=True)
    passed = json.loads(os.environ[_choose.AUTO_ENV])["choice"]
    assert passed == first.metrics["auto"]
    # a worker Lightning started: it must not rank again (same answer, wasted minutes)
    monkeypatch.setenv(_steps.RUN_DIR_ENV, str(first.run_dir))
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(auto, "score_candidates", lambda *a, **k: pytest.fail("ranked again"))
    splits = read_data(colour_folder)
    choice = choose(0)
    assert (choice.backbone, choice.strategy, choice.cut, choice.why) == (
        passed["backbone"],
        passed["picked"],
        passed["cut"],
        passed["why"],
    )
    # a later fit of other data or options in the same worker ranks for itself
    with pytest.raises(pytest.fail.Exception, match="ranked again"):
        choose(1)


class _Killed(Exception):
    pass


def test_an_interrupted_auto_run_keeps_its_ranking_and_choice_when_resumed(
    colour_folder, tmp_path, monkeypatch
):
    from transferkit.jobs import _resume
    from transferkit.jobs import _train as _fit

    monkeypatch.setattr(auto, "FEW_PER_CLASS", 2)  # tiny data: let auto pick a trained strategy
    monkeypatch.setattr(auto, "probe_accuracy", lambda *a: 0.8)
    train_backbone = _fit.train_backbone

    def killed(*args, **kwargs):
        raise _Killed

    monkeypatch.setattr(_fit, "train_backbone", killed)
    run = tmp_path / "run"
    with pytest.raises(_Killed):
        transferkit.fit(
            colour_folder,
            strategy="auto",
            baseline="scratch",
            out=run,
            quiet=True,
            train={"epochs": 1, "augment": False},
        )
    saved = json.loads((run / "config.json").read_text())["resolved"]
    assert saved["auto"]["picked"] == saved["strategy"] != "features"
    assert (run / "ranking.json").is_file() and (run / "ranking.png").is_file()

    monkeypatch.setattr(_fit, "train_backbone", train_backbone)
    result = _resume.resume(run, quiet=True)
    assert result.metrics["auto"]["why"] == saved["auto"]["why"]
    assert result.metrics["baseline"]["strategy"] == "scratch"  # the baseline still runs
    assert json.loads((run / "config.json").read_text())["resolved"]["auto"] == saved["auto"]


def test_a_run_stopped_in_its_baseline_resumes_the_baseline_and_a_refit_replaces_it(
    colour_folder, tmp_path, monkeypatch
):
    from transferkit.jobs import _resume
    from transferkit.jobs import _train as _fit

    train_backbone = _fit.train_backbone

    def killed_in_scratch(model, splits, strategy, *args, **kwargs):
        if strategy == "scratch":
            raise _Killed
        return train_backbone(model, splits, strategy, *args, **kwargs)

    monkeypatch.setattr(_fit, "train_backbone", killed_in_scratch)
    run = tmp_path / "run"
    options = {"strategy": "top:1", "baseline": "scratch", "out": run, "quiet": True}
    options["train"] = {"epochs": 1, "augment": False}
    with pytest.raises(_Killed):
        transferkit.fit(colour_folder, **options)
    assert (run / "baseline-scratch" / "config.json").is_file()
    monkeypatch.setattr(_fit, "train_backbone", train_backbone)
    resumed = _resume.resume(run, quiet=True)
    scratch = json.loads((run / "baseline-scratch" / "metrics.json").read_text())
    assert resumed.metrics["baseline"]["accuracy"] == scratch["accuracy"]
    # a refit with --overwrite trains a new baseline rather than keeping the old one
    stamp = (run / "baseline-scratch" / "metrics.json").stat().st_mtime_ns
    transferkit.fit(colour_folder, **options, overwrite=True)
    assert (run / "baseline-scratch" / "metrics.json").stat().st_mtime_ns != stamp


def test_every_layer_trains_with_lora_when_adamw_would_not_fit():
    from transferkit.backbones import create_backbone

    n = auto._parameters(create_backbone("efficientnet_lite0", pretrained=False))
    assert 3_000_000 < n < 5_000_000  # efficientnet_lite0: about 3.4 M weights
    gib = 2**30
    assert auto._every_layer(n, 8 * gib)[0] == "finetune"
    assert auto._every_layer(n, None)[0] == "finetune"  # free memory unknown
    strategy, why = auto._every_layer(n, 200 * 2**20)  # 54 MB of AdamW state > 200 MB / 4
    assert strategy == "lora" and "low-rank adapters" in why and f"{n:,}" in why
