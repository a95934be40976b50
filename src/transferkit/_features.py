"""Embeddings for a list of inputs: from the cache when known, else from one forward pass."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from transferkit._cache import FeatureCache
from transferkit._errors import TransferKitError
from transferkit._progress import progress_bar
from transferkit.backbones import Backbone


def default_batch_size(backbone: Backbone) -> int:
    return 32 if backbone.modality == "image" else 64


def extract_features(
    backbone: Backbone,
    items: Sequence[str],
    cache: FeatureCache,
    *,
    batch_size: int | None = None,
    num_workers: int = 0,
    show_progress: bool = False,
    description: str = "embedding",
) -> tuple[np.ndarray, dict[int, str]]:
    """(features, errors): one row per item; `errors` maps positions that failed to why.

    Each distinct input (by content digest) runs through the backbone at most
    once, and never again once it is in the cache.
    """
    digests = [backbone.sample_digest(item) for item in items]
    key = backbone.identity
    features, found = cache.get(key, digests, backbone.feature_dim)
    first_of: dict[str, int] = {}
    for i in np.flatnonzero(~found):
        first_of.setdefault(digests[i], int(i))
    todo = list(first_of.values())
    errors: dict[int, str] = {}
    if todo:
        computed, failed = _run_backbone(
            backbone,
            [items[i] for i in todo],
            batch_size or default_batch_size(backbone),
            num_workers,
            show_progress,
            description,
        )
        ok = [j for j in range(len(todo)) if j not in failed]
        cache.put(key, [digests[todo[j]] for j in ok], computed[ok])
        by_digest = {digests[todo[j]]: j for j in range(len(todo))}
        for i in np.flatnonzero(~found):
            j = by_digest[digests[i]]
            if j in failed:
                errors[int(i)] = failed[j]
            else:
                features[i] = computed[j]
    return features, errors


def embed_all(
    backbone: Backbone,
    items: Sequence[str],
    cache: FeatureCache,
    *,
    name: str = "input",
    batch_size: int | None = None,
    num_workers: int = 0,
    show_progress: bool = False,
) -> np.ndarray:
    """Features for every item, or one clear error naming the first that can't be read."""
    features, errors = extract_features(
        backbone,
        items,
        cache,
        batch_size=batch_size,
        num_workers=num_workers,
        show_progress=show_progress,
    )
    if errors:
        i, reason = next(iter(errors.items()))
        raise TransferKitError(f"cannot read {name}[{i}] ({items[i]!r}): {reason}.")
    return features


def _run_backbone(
    backbone: Backbone,
    items: list[str],
    batch_size: int,
    num_workers: int,
    show_progress: bool,
    description: str,
) -> tuple[np.ndarray, dict[int, str]]:
    out = np.zeros((len(items), backbone.feature_dim), dtype=np.float32)
    failed: dict[int, str] = {}
    with progress_bar(description, len(items), show_progress) as advance:
        for batch in backbone.batches(items, batch_size, num_workers):
            failed.update(batch.errors)
            if batch.positions:
                out[batch.positions] = backbone.embed_batch(batch)
            advance(len(batch.positions) + len(batch.errors))
    return out, failed
