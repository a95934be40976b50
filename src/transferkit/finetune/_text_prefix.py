"""The prefix cache for text: `top:K` on a transformer runs its frozen layers once per text.

A text's hidden states after the frozen layers, with its attention mask, are kept in the
FeatureCache under its length bucket (16, 32, 64, ... tokens up to the backbone's
`max_length`: one fixed width per bucket, as the cache stores rows of one width); each
batch is drawn from texts of similar lengths and padded to its longest, as without the
cache, and each epoch runs only the trainable layers and the head. Texts longer than one
window train without the cache (their windows would each need a row).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from transferkit._hashing import digest_text
from transferkit.backbones._base import inference
from transferkit.backbones._windows import special_tokens
from transferkit.data import Dataset
from transferkit.features._cache import FeatureCache
from transferkit.finetune._config import TrainConfig
from transferkit.finetune._data import EpochSampler
from transferkit.finetune._module import TransferModule


class TextPrefixModule(TransferModule):
    """A TransferModule fed with cached hidden states and masks: only the layers above the
    cut, the pooling and the head run."""

    def __init__(self, *args: Any, cut: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cut = cut

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        suffix: Any = self.backbone.forward_suffix
        return self.head(suffix(inputs, self.cut))  # type: ignore[no-any-return]


def bucket(length: int, most: int) -> int:
    """The width a text of `length` tokens is stored at: the next power of two from 16."""
    width = 16
    while width < length:
        width *= 2
    return min(width, most)


def fits_one_window(backbone: Any, data: Dataset) -> bool:
    """Whether every text of `data` is one window (the cache keeps one row a text)."""
    return int(backbone.windowed_count(data.inputs)) == 0


def prefix_states(
    backbone: Any, data: Dataset, cut: int, cache: FeatureCache, batch_size: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(hidden states (L, D), attention mask (L,)) of every text after the first `cut`
    groups, from the cache when known; L is the text's own length."""
    dim, most = backbone.config.feature_dim, backbone.config.max_length
    texts = [str(t) for t in data.inputs]
    digests = [backbone.sample_digest(t) for t in texts]
    prefix, suffix = special_tokens(backbone.tokenizer)  # one window a text: its own length
    lengths = [n + len(prefix) + len(suffix) for n in backbone.token_lengths(texts)]
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(texts)
    for width in sorted({bucket(n, most) for n in lengths}):
        members = [i for i, n in enumerate(lengths) if bucket(n, most) == width]
        key = digest_text(f"{backbone.identity}|text-prefix{cut}|width{width}")
        rows, found = cache.get(key, [digests[i] for i in members], width * dim + width)
        todo = [k for k in range(len(members)) if not found[k]]
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            inputs = backbone.encode([texts[members[k]] for k in chunk])
            with torch.random.fork_rng(), inference(backbone.model):
                hidden = backbone.forward_prefix(inputs, cut).float().cpu().numpy()
            mask = inputs["attention_mask"].numpy().astype(np.float32)
            padded = np.zeros((len(chunk), width, dim), dtype=np.float32)
            wide = np.zeros((len(chunk), width), dtype=np.float32)
            padded[:, : hidden.shape[1]] = hidden
            wide[:, : mask.shape[1]] = mask
            rows[chunk] = np.concatenate([padded.reshape(len(chunk), -1), wide], axis=1)
            cache.put(key, [digests[members[k]] for k in chunk], rows[chunk])
        for k, i in enumerate(members):
            n = lengths[i]
            states = rows[k, : width * dim].reshape(width, dim)[:n]
            out[i] = (states, rows[k, width * dim :][:n])
    return [o for o in out if o is not None]


class _States(TorchDataset):  # type: ignore[type-arg]
    def __init__(self, states: list[tuple[np.ndarray, np.ndarray]], labels: np.ndarray):
        self.states, self.labels = states, labels

    def __len__(self) -> int:
        return len(self.states)

    def __getitem__(self, j: int) -> tuple[tuple[np.ndarray, np.ndarray], Any]:
        i = j % len(self.states)  # EpochSampler's index + n * epoch
        return self.states[i], self.labels[i]


def _collate(items: list[Any]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Pad a batch to its longest text, as the uncached path pads its tokens."""
    longest = max(len(mask) for (_, mask), _ in items)
    dim = items[0][0][0].shape[1]
    hidden = torch.zeros(len(items), longest, dim)
    mask = torch.zeros(len(items), longest, dtype=torch.long)
    for row, ((states, m), _) in enumerate(items):
        hidden[row, : len(m)] = torch.from_numpy(states)
        mask[row, : len(m)] = torch.from_numpy(m).long()
    labels = torch.as_tensor(np.asarray([y for _, y in items], dtype=np.int64))
    return {"hidden": hidden, "attention_mask": mask}, labels


def text_prefix_loaders(
    backbone: Any, splits: Any, cut: int, config: TrainConfig, cache: FeatureCache
) -> dict[str, DataLoader[Any]]:
    """Loaders of cached hidden states: train in a seeded shuffle per epoch, val in order."""
    train = prefix_states(backbone, splits.train, cut, cache, config.batch_size)
    val = prefix_states(backbone, splits.val, cut, cache, config.batch_size)
    weights = None
    if config.balance == "sampler":
        weights = 1.0 / np.bincount(splits.train.labels)[splits.train.labels]
    return {
        "train": DataLoader(
            _States(train, splits.train.labels),
            batch_size=config.batch_size,
            # batches of similar lengths, as the uncached path draws them
            sampler=EpochSampler(
                len(train),
                config.seed,
                weights,
                lengths=np.array([len(mask) for _, mask in train]),
                batch_size=config.batch_size,
            ),
            collate_fn=_collate,
        ),
        "val": DataLoader(
            _States(val, splits.val.labels), batch_size=config.batch_size, collate_fn=_collate
        ),
    }
