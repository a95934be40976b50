"""`rank`: candidates scored on the training split, a ranked table and a run folder."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

import transferkit
from transferkit.cli import app

from conftest import shared_dataset


def test_rank_scores_candidates_cut_points_and_skips_what_it_cannot_load(colour_folder, tmp_path):
    result = transferkit.rank(
        colour_folder,
        ["efficientnet_lite0", "efficientnet_lite0:random", "hf:nobody/unreachable-model"],
        layers=True,
        out=tmp_path / "rank",
        cache_dir=tmp_path / "cache",
    )
    scored = [r for r in result.ranked if not r.skipped]
    skipped = [r for r in result.ranked if r.skipped]
    assert [r.name for r in skipped] == ["hf:nobody/unreachable-model"]
    assert "unreachable" in skipped[0].skipped
    logme = [r.scores["logme"] for r in scored]
    assert logme == sorted(logme, reverse=True), "best first, by LogME"
    full = {r.name: r for r in scored if r.cut is None}
    assert full["efficientnet_lite0"].scores["leep"] is not None  # the ImageNet head
    assert all(r.scores["leep"] is None for r in scored if r.cut is not None)
    cuts = [r for r in scored if r.backbone == "efficientnet_lite0" and r.cut is not None]
    assert len(cuts) >= 4 and all(" @ blocks." in r.name for r in cuts)
    folder = result.run_dir
    saved = json.loads((folder / "ranking.json").read_text())
    assert saved["ranked_by"] == "logme" and "no source classifier" in saved["why"]
    assert [c["name"] for c in saved["candidates"]] == [r.name for r in result.ranked]
    with open(folder / "ranking.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["rank"] == "1" and rows[-1]["skipped"]
    assert (folder / "ranking.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_finished_run_is_a_candidate(text_file, tmp_path):
    run = transferkit.fit(text_file, out=tmp_path / "fit", cache_dir=tmp_path / "c", quiet=True)
    result = transferkit.rank(
        text_file, ["minilm-l6", f"run:{run.run_dir}"], out=tmp_path / "r", cache_dir=tmp_path / "c"
    )
    by_name = {r.name: r for r in result.ranked}
    # a features run keeps the pretrained backbone: the same features, the same scores
    assert by_name[f"run:{run.run_dir}"].scores == pytest.approx(by_name["minilm-l6"].scores)


def test_rank_on_the_command_line(text_file, tmp_path):
    out = CliRunner().invoke(
        app,
        [
            "rank",
            str(text_file),
            "--candidates",
            "minilm-l6,minilm-l6:random",
            "--layers",
            "--out",
            str(tmp_path / "r"),
            "--cache-dir",
            str(tmp_path / "c"),
        ],
    )
    assert out.exit_code == 0, out.output
    assert "ranked by LogME" in out.output
    rows = json.loads((tmp_path / "r" / "ranking.json").read_text())["candidates"]
    names = {r["name"] for r in rows}
    for spec in ("minilm-l6", "minilm-l6:random"):  # whole, after the embeddings, each layer
        assert {spec, f"{spec} @ embeddings", f"{spec} @ layer4"} <= names
        assert f"{spec} @ layer5" not in names  # the last layer's output is the whole one


@pytest.mark.slow
def test_random_weights_rank_last_on_real_images(tmp_path):
    data = shared_dataset("hymenoptera")
    result = transferkit.rank(
        data,
        ["efficientnet_lite0:random", "efficientnet_lite0"],
        out=tmp_path / "r",
        cache_dir=tmp_path / "c",
    )
    assert [r.name for r in result.ranked] == ["efficientnet_lite0", "efficientnet_lite0:random"]
    real, random = (r.scores for r in result.ranked)
    for score in ("logme", "leep", "nce", "knn_accuracy", "probe_accuracy"):
        assert real[score] > random[score], score


def test_one_pass_fills_every_cut_the_features_and_the_source_softmax(colour_folder, tmp_path):
    import numpy as np

    from transferkit.backbones import create_backbone
    from transferkit.features._cache import FeatureCache
    from transferkit.features._extract import extract_features
    from transferkit.selection._rank import (
        _cuts,
        _prefetch,
        pooled_prefix_features,
        source_probabilities,
    )

    items = [str(p) for p in sorted(colour_folder.rglob("*.jpg"))[:10]]
    backbone = create_backbone("efficientnet_lite0")
    shared, separate = FeatureCache(tmp_path / "a"), FeatureCache(tmp_path / "b")
    cuts = _cuts(backbone)
    _prefetch([backbone], items, shared, layers=True)
    for cut in cuts:  # what the one pass cached equals the pass of each cut on its own
        a, _ = pooled_prefix_features(backbone, items, shared, cut)
        b, _ = pooled_prefix_features(backbone, items, separate, cut)
        np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(
        extract_features(backbone, items, shared)[0],
        extract_features(backbone, items, separate)[0],
        atol=1e-6,
    )
    np.testing.assert_allclose(
        source_probabilities(backbone, items, shared),
        source_probabilities(backbone, items, separate),
        atol=1e-6,
    )


def test_a_run_fitted_at_a_cut_is_ranked_as_its_whole_backbone(colour_folder, tmp_path):
    run = transferkit.fit(colour_folder, cut="blocks.3", out=tmp_path / "cut", quiet=True)
    result = transferkit.rank(colour_folder, [f"run:{run.run_dir}"], cache_dir=tmp_path / "c")
    (row,) = result.ranked
    assert row.skipped is None and row.cut is None
    plain = transferkit.rank(colour_folder, ["efficientnet_lite0"], cache_dir=tmp_path / "c")
    assert row.scores["logme"] == pytest.approx(plain.ranked[0].scores["logme"])
