"""FeatureCache: a miss computes, a hit does not, a corrupt entry is recomputed, never used."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from transferkit import FeatureCache, create_backbone
from transferkit._hashing import digest_text
from transferkit.backbones import Backbone, BackboneConfig, Batch
from transferkit.features._extract import extract_features

CONFIG = BackboneConfig(
    name="counting", modality="text", feature_dim=4, licence="test", weights_source="none"
)


class CountingBackbone(Backbone):
    """Deterministic features from the text itself; counts how many texts it embedded."""

    def __init__(self, digest: str = "w1"):
        super().__init__(CONFIG, digest, "counting", nn.Identity())
        self.embedded = 0

    def sample_digest(self, item):
        return digest_text(item)

    def batches(self, items, batch_size, num_workers=0):
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            yield Batch(positions=list(range(start, start + len(chunk))), inputs=chunk, errors={})

    def forward_features(self, inputs):
        self.embedded += len(inputs)
        return torch.tensor(
            [[len(t), t.count("a"), t.count(" "), ord(t[0])] for t in inputs], dtype=torch.float32
        )


TEXTS = ["alpha beta", "gamma", "a b c d", "delta epsilon zeta"]


def test_miss_then_hit(tmp_path):
    cache, backbone = FeatureCache(tmp_path), CountingBackbone()
    first, errors = extract_features(backbone, TEXTS, cache)
    assert not errors and backbone.embedded == 4
    second, _ = extract_features(backbone, TEXTS, cache)
    assert backbone.embedded == 4, "a cached input must not run through the backbone again"
    np.testing.assert_array_equal(first, second)
    third, _ = extract_features(backbone, [*TEXTS, "new one"], cache)
    assert backbone.embedded == 5
    np.testing.assert_array_equal(third[:4], first)


def test_duplicates_run_once(tmp_path):
    backbone = CountingBackbone()
    features, _ = extract_features(
        backbone, ["same", "same", "other", "same"], FeatureCache(tmp_path)
    )
    assert backbone.embedded == 2
    np.testing.assert_array_equal(features[0], features[3])


def test_key_separates_weights(tmp_path):
    cache = FeatureCache(tmp_path)
    extract_features(CountingBackbone("w1"), TEXTS, cache)
    other = CountingBackbone("w2")
    extract_features(other, TEXTS, cache)
    assert other.embedded == 4, "different weights must not share embeddings"


@pytest.mark.parametrize("damage", ["truncate", "flip", "index"])
def test_corrupt_shard_is_detected_and_recomputed(tmp_path, damage):
    cache, backbone = FeatureCache(tmp_path), CountingBackbone()
    expected, _ = extract_features(backbone, TEXTS, cache)
    shard = next(tmp_path.rglob("*.npy"))
    data = bytearray(shard.read_bytes())
    if damage == "truncate":
        shard.write_bytes(bytes(data[: len(data) - 7]))
    elif damage == "flip":
        data[-3] ^= 0xFF
        shard.write_bytes(bytes(data))
    else:
        shard.with_suffix(".json").write_text("{not json")
    with pytest.warns(RuntimeWarning, match="corrupt"):
        again, _ = extract_features(backbone, TEXTS, cache)
    assert backbone.embedded == 8, "the damaged rows must be recomputed"
    np.testing.assert_array_equal(again, expected)
    assert cache.discarded_shards == 1
    assert not shard.exists() and not shard.with_suffix(".json").exists()
    assert len(list(tmp_path.rglob("*.npy"))) == 1, "the recomputed rows form a new shard"


def test_disabled_cache_always_computes(tmp_path):
    cache, backbone = FeatureCache(tmp_path, enabled=False), CountingBackbone()
    extract_features(backbone, TEXTS, cache)
    extract_features(backbone, TEXTS, cache)
    assert backbone.embedded == 8
    assert not list(tmp_path.rglob("*.npy"))


def test_real_backbone_features_round_trip_through_the_cache(tmp_path):
    backbone = create_backbone("minilm-l6")
    cache = FeatureCache(tmp_path)
    fresh, _ = extract_features(backbone, TEXTS, cache)
    cached, _ = extract_features(backbone, TEXTS, cache)
    direct, _ = extract_features(backbone, TEXTS, FeatureCache(enabled=False))
    np.testing.assert_array_equal(fresh, cached)
    np.testing.assert_allclose(fresh, direct, atol=1e-6)
    assert np.allclose(np.linalg.norm(fresh, axis=1), 1.0, atol=1e-5)


def test_many_small_puts_are_compacted(tmp_path):
    from transferkit.features._cache import MAX_SHARDS

    cache, backbone = FeatureCache(tmp_path), CountingBackbone()
    texts = [f"text number {i}" for i in range(MAX_SHARDS + 4)]
    for text in texts:
        extract_features(backbone, [text], cache)
    assert len(list(tmp_path.rglob("*.json"))) <= MAX_SHARDS
    expected, _ = extract_features(CountingBackbone(), texts, FeatureCache(enabled=False))
    again, _ = extract_features(backbone, texts, cache)
    assert backbone.embedded == len(texts), "compaction must keep every row"
    np.testing.assert_array_equal(again, expected)
