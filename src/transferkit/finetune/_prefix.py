"""Prefix caching: the frozen layers below the cut run once per input (and view).

The output of the frozen prefix is stored in the FeatureCache like embeddings are, keyed
by the backbone's identity, the cut, the view and the augmentation settings; each epoch
then runs only the trainable suffix. With augmentation on, `cached_views` augmented
views of every training image are computed once and epoch e trains on view e % views.

`top:K` has one cut for the whole run. `gradual` has one per epoch, moving down as groups
unfreeze: each epoch trains on the cached outputs at its own cut (one view), and once the
cut is so low that its outputs are larger than the input image, on images.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset
from torch.utils.data import Dataset as TorchDataset

from transferkit._hashing import digest_text
from transferkit.backbones import Backbone
from transferkit.backbones._base import inference
from transferkit.backbones._vision import open_image
from transferkit.data import Dataset
from transferkit.features._cache import FeatureCache
from transferkit.finetune._config import TrainConfig
from transferkit.finetune._module import TransferModule


class PrefixModule(TransferModule):
    """A TransferModule fed with cached prefix outputs: only the suffix and head run."""

    def __init__(self, *args: Any, cut: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cut = cut

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.forward_suffix(hidden, self.cut))


class ViewSampler(Sampler[int]):
    """A (seed, epoch) shuffle over one view of each sample: view = epoch % views. With
    `weights`, n draws with replacement in proportion to them (a sample drawn twice in one
    epoch repeats that epoch's view)."""

    def __init__(self, n: int, views: int, seed: int, weights: np.ndarray | None = None) -> None:
        self.n, self.views, self.seed, self.epoch = n, views, seed, 0
        self.p = None if weights is None else np.asarray(weights, float) / np.sum(weights)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        offset = self.n * (self.epoch % self.views)
        rng = np.random.default_rng((self.seed, self.epoch))
        if self.p is None:
            order = rng.permutation(self.n)
        else:
            order = rng.choice(self.n, size=self.n, replace=True, p=self.p)
        return iter((order + offset).tolist())

    def __len__(self) -> int:
        return self.n


class _SeededImages(TorchDataset):
    """Each image's augmentation is seeded by (its content, the view): a cached view is
    the same whichever run computed it."""

    def __init__(
        self,
        paths: list[str],
        digests: list[str],
        transform: Any,
        draft: int,
        view: str,
        opener: Any = open_image,
    ):
        self.paths, self.digests, self.transform = paths, digests, transform
        self.draft, self.view, self.opener = draft, view, opener

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        seed = zlib.crc32(f"{self.digests[i]}|{self.view}".encode())
        random.seed(seed)
        np.random.seed(seed)  # timm's RandAugment draws from numpy
        torch.manual_seed(seed)
        return self.transform(self.opener(self.paths[i], self.draft))


def prefix_outputs(
    backbone: Any,
    data: Dataset,
    cut: int,
    transform: Any,
    view: str,
    settings: str,
    cache: FeatureCache,
    batch_size: int,
) -> np.ndarray:
    """Prefix outputs (N, C, H, W) for one view of every sample, from the cache when known."""
    cfg = backbone.config
    size = cfg.input_size
    with inference(backbone.model):
        shape = tuple(backbone.forward_prefix(torch.zeros(1, 3, size, size), cut).shape[1:])
    dim = int(np.prod(shape))
    digests = [backbone.sample_digest(p) for p in data.inputs]
    key = digest_text(f"{backbone.identity}|prefix{cut}|{view}|{settings}")
    out, found = cache.get(key, digests, dim)
    todo = np.flatnonzero(~found)
    if len(todo):
        draft = int(size / (cfg.crop_pct or 1.0))
        images = _SeededImages(
            [data.inputs[i] for i in todo],
            [digests[i] for i in todo],
            transform,
            draft,
            view,
            getattr(backbone, "open_input", open_image),
        )
        rows = []
        state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(), inference(backbone.model):  # leave the run's RNG alone
                for batch in DataLoader(images, batch_size=batch_size):
                    hidden = backbone.forward_prefix(batch, cut)
                    rows.append(hidden.float().cpu().reshape(len(batch), -1))
        finally:
            random.setstate(state[0])
            np.random.set_state(state[1])
        computed = torch.cat(rows).numpy()
        out[todo] = computed
        cache.put(key, [digests[i] for i in todo], computed)
    return out.reshape(len(data), *shape)


def prefix_loaders(
    backbone: Backbone,
    splits: Any,
    cut: int,
    config: TrainConfig,
    cache: FeatureCache,
    view: int | None = None,
) -> dict[str, DataLoader]:
    """Loaders of cached prefix outputs: `cached_views` augmented views for train (or only
    `view`), one for val."""
    views = config.cached_views if config.augment else 1
    chosen = range(views) if view is None else [view]
    settings = f"scale{config.crop_scale_min}|jitter{config.color_jitter}|{config.randaugment}"
    train_tf = (
        backbone.transform(
            train=True,
            scale_min=config.crop_scale_min,
            color_jitter=config.color_jitter,
            randaugment=config.randaugment,
        )
        if config.augment
        else backbone.transform()
    )
    train_views = [
        prefix_outputs(
            backbone,
            splits.train,
            cut,
            train_tf,
            f"train{v}" if config.augment else "eval",
            settings if config.augment else "",
            cache,
            config.batch_size,
        )
        for v in chosen
    ]
    val = prefix_outputs(
        backbone, splits.val, cut, backbone.transform(), "eval", "", cache, config.batch_size
    )
    n = len(splits.train)
    x = torch.from_numpy(np.concatenate(train_views))
    # one row per view of each sample (a multi-task run's labels are a matrix)
    y = torch.from_numpy(np.concatenate([splits.train.labels] * len(train_views)))
    train = DataLoader(
        TensorDataset(x, y),
        batch_size=config.batch_size,
        sampler=ViewSampler(
            n,
            len(train_views),
            config.seed,
            1.0 / np.bincount(splits.train.labels)[splits.train.labels]
            if config.balance == "sampler"
            else None,
        ),
    )
    val_loader = DataLoader(
        TensorDataset(torch.from_numpy(val), torch.from_numpy(splits.val.labels)),
        batch_size=config.batch_size,
    )
    return {"train": train, "val": val_loader}


class MovingPrefixModule(TransferModule):
    """`gradual` on cached prefixes: the epoch decides the cut and the loaders (Lightning
    reloads them every epoch); `cut_of_epoch` gives None where images are used instead."""

    def __init__(
        self,
        *args: Any,
        cut_of_epoch: Callable[[int], int | None],
        loaders_of_epoch: Callable[[int], dict[str, DataLoader]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.cut_of_epoch, self.loaders_of_epoch = cut_of_epoch, loaders_of_epoch

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        cut = self.cut_of_epoch(self.current_epoch)
        if cut is None:
            return super().forward(inputs)
        return self.head(self.backbone.forward_suffix(inputs, cut))

    def train_dataloader(self) -> DataLoader:
        return self.loaders_of_epoch(self.current_epoch)["train"]

    def val_dataloader(self) -> DataLoader:
        return self.loaders_of_epoch(self.current_epoch)["val"]


def gradual_cuts(backbone: Backbone, config: TrainConfig) -> Callable[[int], int | None]:
    """Epoch -> the cut whose prefix is frozen (and cacheable) then, or None for images."""
    n_groups = len(backbone.layer_groups())
    size = backbone.config.input_size
    worth: dict[int, bool] = {}
    with inference(backbone.model):
        image = torch.zeros(1, 3, size, size)
        for cut in range(1, n_groups + 1):
            if backbone.prefix_split_supported(cut):
                worth[cut] = backbone.forward_prefix(image, cut).numel() <= image.numel()

    def cut_of_epoch(epoch: int) -> int | None:
        since = epoch - config.head_epochs
        unfrozen = 0 if since < 0 else min(n_groups, since // config.unfreeze_every + 1)
        cut = min(n_groups - unfrozen, max(worth, default=0))  # head epochs: the top cut
        return cut if worth.get(cut) else None

    return cut_of_epoch


def epoch_loaders(
    backbone: Backbone,
    splits: Any,
    config: TrainConfig,
    cache: FeatureCache,
    cut_of_epoch: Callable[[int], int | None],
    image_loaders: Callable[[], dict[str, DataLoader]],
) -> Callable[[int], dict[str, DataLoader]]:
    """Epoch -> loaders: the cached prefix outputs of the epoch's cut and view, or images."""
    memo: dict[Any, dict[str, DataLoader]] = {}
    views = config.cached_views if config.augment else 1

    def loaders_of_epoch(epoch: int) -> dict[str, DataLoader]:
        cut = cut_of_epoch(epoch)
        key = None if cut is None else (cut, epoch % views)
        if key not in memo:
            memo.clear()  # one epoch's tensors in memory at a time; the cache keeps the rest
            if cut is None:
                memo[key] = image_loaders()
            else:
                memo[key] = prefix_loaders(backbone, splits, cut, config, cache, view=key[1])
        return memo[key]

    return loaders_of_epoch
