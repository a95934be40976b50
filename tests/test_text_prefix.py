"""The text prefix cache: `top:K` on a transformer runs its frozen layers once per text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import transferkit
from transferkit.backbones import create_backbone
from transferkit.backbones._text import HFTextBackbone
from transferkit.data._dataset import Dataset
from transferkit.features._cache import FeatureCache
from transferkit.finetune._text_prefix import _collate, bucket, prefix_states

TEXTS = [
    "a fine day at the beach",
    "the worst service I have had in years, truly awful",
    "ok",
    "I would buy this phone again without a second thought",
]


def test_cached_states_give_the_uncached_loss_without_dropout(tmp_path: Path) -> None:
    model = create_backbone("minilm-l6")
    for m in model.model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    model.model.train()
    data = Dataset(TEXTS, np.array([1, 0, 1, 1]), ["neg", "pos"], "text", ["1", "2", "3", "4"])
    head = nn.Linear(model.feature_dim, 2)
    cut = 5  # the embeddings and layers 0-3 frozen: top:2 of minilm's seven groups
    states = prefix_states(model, data, cut, FeatureCache(tmp_path / "cache"), batch_size=3)
    assert [len(m) for _, m in states] == [
        int(m.sum()) for m in model.encode(TEXTS)["attention_mask"]
    ]
    inputs, labels = _collate([(s, y) for s, y in zip(states, data.labels, strict=True)])
    loss = nn.functional.cross_entropy
    cached = loss(head(model.forward_suffix(inputs, cut)), labels)
    uncached = loss(head(model.forward_features(model.encode(TEXTS))), labels)
    assert torch.allclose(cached, uncached, atol=1e-6)


def test_buckets_are_powers_of_two_up_to_the_window() -> None:
    assert [bucket(n, 256) for n in (1, 16, 17, 100, 256, 300)] == [16, 16, 32, 128, 256, 256]


def _count_prefix_runs(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = HFTextBackbone.forward_prefix

    def counted(self, inputs, cut):
        calls.append(len(inputs["input_ids"]))
        return original(self, inputs, cut)

    monkeypatch.setattr(HFTextBackbone, "forward_prefix", counted)
    return calls


def test_a_second_run_computes_no_prefix(text_file: Path, tmp_path: Path, monkeypatch) -> None:
    calls = _count_prefix_runs(monkeypatch)
    settings = {"strategy": "top:1", "train": {"epochs": 2}, "cache_dir": tmp_path / "cache"}
    first = transferkit.fit(text_file, out=tmp_path / "a", quiet=True, **settings)
    n_texts = len(text_file.read_text().splitlines()) - 1
    assert sum(calls) == n_texts  # every text once, whatever the epochs
    calls.clear()
    second = transferkit.fit(text_file, out=tmp_path / "b", quiet=True, **settings)
    assert calls == []
    assert second.metrics["accuracy"] == pytest.approx(first.metrics["accuracy"])


def test_texts_of_several_windows_train_without_the_cache(tmp_path: Path, monkeypatch) -> None:
    calls = _count_prefix_runs(monkeypatch)
    rows = [f"{'good ' * (400 if i == 0 else 5)}\t{'pos' if i % 2 else 'neg'}" for i in range(24)]
    data = tmp_path / "long.tsv"
    data.write_text("text\tlabel\n" + "\n".join(rows) + "\n")
    settings = {"strategy": "top:1", "train": {"epochs": 1}}
    result = transferkit.fit(data, out=tmp_path / "run", quiet=True, **settings)
    assert calls == [] and result.metrics["texts_windowed"] == 1
