"""A second identical `features` fit, its embeddings all cached, imports no torch: the
backbone comes as a `LazyBackbone` from recorded facts, the logistic head is NumPy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import transferkit
from transferkit.backbones._lazy import LazyBackbone, backbone_facts, facts_key, sample_digest
from transferkit.features._cache import FeatureCache

HEAVY = ["torch", "transformers", "timm", "lightning"]


def _fit_in_a_new_process(data, out, cache) -> dict:
    """`transferkit fit` as a user runs it; what it imported and what it wrote."""
    code = textwrap.dedent(
        f"""
        import json, sys
        from transferkit.cli import main
        sys.argv = ["transferkit", "fit", {str(data)!r}, "--out", {str(out)!r}, "-q",
                    "--cache-dir", {str(cache)!r}]
        try:
            main()
        except SystemExit as exc:
            assert not exc.code, exc.code
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return {
        "imported": json.loads(done.stdout.strip().splitlines()[-1]),
        "metrics": json.loads((out / "metrics.json").read_text()),
        "predictions": (out / "predictions_val.csv").read_text(),
    }


@pytest.mark.parametrize("data", ["colour_folder", "text_file"])
def test_a_second_cached_fit_imports_no_torch_and_gives_the_same_run(data, tmp_path, request):
    data = request.getfixturevalue(data)
    first = _fit_in_a_new_process(data, tmp_path / "first", tmp_path / "cache")
    assert "torch" in first["imported"]  # the first fit ran the network
    second = _fit_in_a_new_process(data, tmp_path / "second", tmp_path / "cache")
    assert second["imported"] == []
    assert second["predictions"] == first["predictions"]
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "backbone", "strategy"):
        assert second["metrics"][key] == first["metrics"][key]
    # the run it wrote is a complete run: it loads and predicts as the first does
    if data.is_dir():
        inputs = sorted(str(p) for p in data.rglob("*.jpg"))[:6]
    else:
        inputs = [line.split("\t")[0] for line in data.read_text().splitlines()[1:7]]
    assert transferkit.load(tmp_path / "second").predict(inputs) == transferkit.load(
        tmp_path / "first"
    ).predict(inputs)


def test_a_lazy_backbone_answers_as_the_real_one_and_builds_it_for_a_new_input(
    colour_folder, tmp_path
):
    from transferkit.backbones import create_backbone
    from transferkit.features._extract import extract_features

    real = create_backbone("efficientnet_lite0").for_inference()
    facts = backbone_facts(real)
    built = []

    def build():
        built.append(1)
        return create_backbone("efficientnet_lite0").for_inference()

    lazy = LazyBackbone(facts, build)
    images = sorted(str(p) for p in colour_folder.rglob("*.jpg"))
    assert [lazy.sample_digest(p) for p in images] == [real.sample_digest(p) for p in images]
    assert (lazy.identity, lazy.feature_dim, lazy.preprocessing()) == (
        real.identity,
        real.feature_dim,
        real.preprocessing(),
    )
    cache = FeatureCache(tmp_path / "cache")
    expected, _ = extract_features(real, images[:4], cache)
    got, _ = extract_features(lazy, images[:4], cache)  # all cached: nothing built
    assert not built and np.array_equal(got, expected)
    more, _ = extract_features(lazy, images[:6], cache)  # two new inputs: built once
    assert built == [1] and np.array_equal(more[:4], expected)


def test_text_digests_match_and_the_facts_key_follows_the_weights_and_cut(tmp_path):
    from transferkit.backbones import create_backbone

    text = create_backbone("minilm-l6")
    assert sample_digest("text", "a review") == text.sample_digest("a review")
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"1234")
    keys = {
        facts_key("efficientnet_lite0", None, None),
        facts_key("efficientnet_lite0", None, 7),
        facts_key("efficientnet_lite0", str(weights), None),
        facts_key("minilm-l6", None, None),
    }
    assert len(keys) == 4
    before = facts_key("efficientnet_lite0", str(weights), None)
    weights.write_bytes(b"12345")  # another weights file under the same name
    assert facts_key("efficientnet_lite0", str(weights), None) != before


def test_damaged_facts_are_ignored_and_the_backbone_is_built(colour_folder, tmp_path):
    cache = tmp_path / "cache"
    first = transferkit.fit(colour_folder, out=tmp_path / "a", cache_dir=cache, quiet=True)
    for path in (cache / "backbones").glob("*.json"):
        path.write_text("{not json")
    again = transferkit.fit(colour_folder, out=tmp_path / "b", cache_dir=cache, quiet=True)
    assert again.metrics["accuracy"] == first.metrics["accuracy"]
    shutil.rmtree(cache / "backbones")
    third = transferkit.fit(colour_folder, out=tmp_path / "c", cache_dir=cache, quiet=True)
    assert third.metrics["accuracy"] == first.metrics["accuracy"]
    assert list((cache / "backbones").glob("*.json"))  # recorded again


def test_the_fitted_head_is_kept_and_a_damaged_one_is_refitted(text_file, tmp_path):
    cache = tmp_path / "cache"
    first = transferkit.fit(text_file, out=tmp_path / "a", cache_dir=cache, quiet=True)
    kept = sorted((cache / "heads").glob("*.head.json"))
    assert len(kept) == 1
    fitted = json.loads(kept[0].read_text())["fitted"]
    saved = json.loads((tmp_path / "a" / "model" / "model.json").read_text())["head"]
    assert fitted["kind"] == "logistic" and fitted["C"] == saved["C"]
    again = transferkit.fit(text_file, out=tmp_path / "b", cache_dir=cache, quiet=True)
    assert (tmp_path / "b" / "predictions_val.csv").read_text() == (
        tmp_path / "a" / "predictions_val.csv"
    ).read_text()
    assert again.metrics["accuracy"] == first.metrics["accuracy"]
    # another seed is another head; a damaged entry is fitted again, not trusted
    transferkit.fit(text_file, out=tmp_path / "c", cache_dir=cache, quiet=True, seed=1)
    assert len(list((cache / "heads").glob("*.head.json"))) == 2
    for path in (cache / "heads").glob("*.head.safetensors"):
        path.write_bytes(b"broken")
    third = transferkit.fit(text_file, out=tmp_path / "d", cache_dir=cache, quiet=True)
    assert third.metrics["accuracy"] == first.metrics["accuracy"]
