"""Loading data to train through the backbone: augmented images, texts padded per batch."""

from __future__ import annotations

import random
import zlib
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler
from torch.utils.data import Dataset as TorchDataset

from transferkit.backbones import Backbone
from transferkit.backbones._vision import open_image
from transferkit.data import Dataset
from transferkit.finetune._config import TrainConfig


class EpochSampler(Sampler[int]):
    """A shuffle that depends only on (seed, epoch): a resumed run sees the same batches.

    With `weights` (one per sample), each epoch draws n samples with replacement in
    proportion to them (balance='sampler'); each draw has its own augmentation seed, so a
    minority image drawn three times is augmented three ways.

    With `lengths` (texts' token counts) and `batch_size`, the shuffled order is cut into
    runs of `GROUP` batches and each run is sorted longest first, so the texts of a batch
    are of similar length and a batch pads little, while batches stay a random draw
    (Hugging Face's `group_by_length`)."""

    GROUP = 50

    def __init__(
        self,
        n: int,
        seed: int,
        weights: np.ndarray | None = None,
        lengths: np.ndarray | None = None,
        batch_size: int = 1,
    ) -> None:
        self.n, self.seed, self.epoch = n, seed, 0
        self.p = None if weights is None else np.asarray(weights, float) / np.sum(weights)
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.batch_size = batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        # index + n * t: the dataset derives each sample's augmentation seed from t
        rng = np.random.default_rng((self.seed, self.epoch))
        if self.p is None:
            order = rng.permutation(self.n)
            t = np.full(self.n, self.epoch)
        else:
            order = rng.choice(self.n, size=self.n, replace=True, p=self.p)
            t = self.epoch * self.n + np.arange(self.n)  # a distinct seed for every draw
        if self.lengths is not None:
            run = self.GROUP * self.batch_size
            by_length = np.concatenate(
                [
                    start + np.argsort(-self.lengths[order[start : start + run]], kind="stable")
                    for start in range(0, self.n, run)
                ]
            )
            order, t = order[by_length], t[by_length]
        return iter((order + self.n * t).tolist())

    def __len__(self) -> int:
        return self.n


class ImageItems(TorchDataset):
    """Image (or audio) files through the backbone's transform, each sample's randomness
    seeded by (seed, epoch, sample); `opener` reads the file for the transform."""

    def __init__(
        self, data: Dataset, transform: Any, draft: int, seed: int, opener: Any = open_image
    ) -> None:
        self.data, self.transform, self.draft, self.seed = data, transform, draft, seed
        self.opener = opener

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, j: int) -> tuple[torch.Tensor, int]:
        # j = i + n * epoch (EpochSampler): augmentation is seeded by (sample, epoch), so a
        # resumed run, or one with worker processes, augments exactly as an uninterrupted one
        i, epoch = j % len(self.data), j // len(self.data)
        seed = zlib.crc32(f"{self.seed}|{epoch}|{i}".encode())
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        image = self.opener(self.data.inputs[i], self.draft)
        return self.transform(image), item_label(self.data.labels, i)


def item_label(labels: np.ndarray, i: int) -> Any:
    """A sample's class index, or its row of task labels in a multi-task run."""
    return int(labels[i]) if labels.ndim == 1 else labels[i].astype(np.int64)


class TextItems(TorchDataset):
    def __init__(self, data: Dataset) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, j: int) -> tuple[str, int]:
        i = j % len(self.data)
        return self.data.inputs[i], item_label(self.data.labels, i)


class TokenCollate:
    """Texts to the backbone's inputs (long ones as windows), padded per batch."""

    def __init__(self, backbone: Backbone) -> None:
        self.encode = backbone.encode  # type: ignore[attr-defined]

    def __call__(
        self, items: list[tuple[str, int]]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        texts, labels = zip(*items, strict=True)
        return self.encode(list(texts)), torch.as_tensor(np.asarray(labels, dtype=np.int64))


def make_loader(
    backbone: Backbone,
    data: Dataset,
    *,
    train: bool,
    batch_size: int,
    seed: int,
    augment: TrainConfig | None,
    num_workers: int,
    sample_weights: np.ndarray | None = None,
) -> DataLoader:
    """A DataLoader for training (seeded epoch shuffle, augmentation) or evaluation."""
    if backbone.modality in ("image", "audio"):
        cfg = backbone.config
        draft = int((cfg.input_size or 0) / (cfg.crop_pct or 1.0))
        if train and augment is not None:
            transform = backbone.transform(
                train=True,
                scale_min=augment.crop_scale_min,
                color_jitter=augment.color_jitter,
                randaugment=augment.randaugment,
            )
        else:
            transform = backbone.transform()
        opener = getattr(backbone, "open_input", open_image)
        dataset: TorchDataset = ImageItems(data, transform, draft, seed, opener)
        collate = None
    else:
        dataset, collate = TextItems(data), TokenCollate(backbone)
    lengths = None
    if train and hasattr(backbone, "token_lengths"):  # texts: batches of similar lengths
        lengths = np.asarray(backbone.token_lengths(list(data.inputs)))
    sampler = (
        EpochSampler(len(dataset), seed, sample_weights, lengths, batch_size) if train else None
    )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        drop_last=False,
        persistent_workers=num_workers > 0,
    )
