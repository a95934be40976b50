"""Long texts read whole: overlapping windows whose embeddings are averaged, the same in
fit, predict and the ONNX export."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

import transferkit
from transferkit.backbones import create_backbone
from transferkit.backbones._windows import MAX_WINDOWS, OVERLAP, windows_of


def _long(words: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    vocab = ["good", "bad", "film", "plot", "actor", "scene", "music", "slow", "fun", "dull"]
    return " ".join(rng.choice(vocab, words))


def test_windows_cover_the_text_and_overlap() -> None:
    ids = list(range(1000))
    parts = windows_of(ids, 254, MAX_WINDOWS)
    assert parts[0][0] == 0 and parts[-1][-1] == 999  # from the first token to the last
    assert all(len(p) == 254 for p in parts)
    stride = parts[1][0] - parts[0][0]
    assert stride == int(254 * (1 - OVERLAP))  # the next window shares a quarter
    assert windows_of(ids[:100], 254, MAX_WINDOWS) == [ids[:100]]
    assert len(windows_of(list(range(100_000)), 254, MAX_WINDOWS)) == MAX_WINDOWS


def test_a_text_of_three_windows_is_the_mean_of_its_windows() -> None:
    model = create_backbone("minilm-l6")
    text = _long(520)  # one token a word: 3 windows of 254 body tokens at a stride of 190
    inputs = model.encode([text])
    assert inputs["input_ids"].shape[0] == 3
    with torch.no_grad():
        whole = model.forward_features(inputs)[0]
        each = model.forward_features({k: v for k, v in inputs.items() if k != "window_weights"})
    assert each.shape[0] == 3
    expected = torch.nn.functional.normalize(each.mean(0), dim=0)  # minilm normalises
    assert torch.allclose(whole, expected, atol=1e-5)


def test_a_short_text_is_embedded_as_before() -> None:
    model = create_backbone("minilm-l6")
    texts = ["a fine day at the beach", "the worst service I have had"]
    with torch.no_grad():
        windowed = model.forward_features(model.encode(texts))
        plain = model.forward_features(
            dict(model.tokenizer(texts, padding=True, return_tensors="pt"))
        )
    assert torch.allclose(windowed, plain, atol=1e-5)


def test_long_texts_are_counted_predicted_and_exported_alike(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from transferkit.runs._export import OnnxPredictor, export

    rows = [
        (_long(600 if i % 3 == 0 else 30, seed=i), "pos" if i % 2 else "neg") for i in range(24)
    ]
    data = tmp_path / "reviews.csv"
    with data.open("w", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *rows])
    run = tmp_path / "run"
    result = transferkit.fit(data, out=run, quiet=True)
    assert result.metrics["texts_windowed"] == 8
    assert result.metrics["windows_per_text"] == MAX_WINDOWS
    assert result.metrics["texts_truncated"] == 0
    assert "read whole, in overlapping windows" in result.summary
    with (run / "predictions_val.csv").open() as f:
        scored = list(csv.DictReader(f))
    texts = [r["text"] for r in scored]
    expected = np.array([[float(r[c]) for c in ("p_neg", "p_pos")] for r in scored])
    assert np.allclose(result.model.predict_proba(texts), expected, atol=1e-5)
    export(run, "onnx")
    proba, errors = OnnxPredictor(run).predict_rows(texts)
    assert not errors and np.allclose(proba, expected, atol=1e-4)


def test_text_training_batches_group_similar_lengths_and_stay_a_seeded_shuffle():
    from transferkit.finetune._data import EpochSampler

    lengths = np.random.default_rng(0).integers(4, 512, 1000)

    def padded(sampler: EpochSampler) -> int:
        order = np.array(list(sampler)) % 1000
        return sum(int(lengths[order[i : i + 10]].max()) * 10 for i in range(0, 1000, 10))

    grouped = EpochSampler(1000, seed=3, lengths=lengths, batch_size=10)
    plain = EpochSampler(1000, seed=3)
    assert sorted(grouped) == list(range(1000))  # every text once an epoch
    assert padded(grouped) < 0.75 * padded(plain)  # padding to each batch's longest
    first = list(grouped)
    grouped.set_epoch(1)
    assert list(grouped) != first  # a new shuffle each epoch ...
    again = EpochSampler(1000, seed=3, lengths=lengths, batch_size=10)
    again.set_epoch(1)
    assert list(again) == list(grouped)  # ... that depends only on (seed, epoch)
