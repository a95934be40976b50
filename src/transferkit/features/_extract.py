"""Embeddings for a list of inputs: from the cache when known, else from one forward pass."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from transferkit._errors import TransferKitError
from transferkit._progress import progress_bar
from transferkit.data import Dataset, DataSplits, Skipped
from transferkit.features._cache import FeatureCache

if TYPE_CHECKING:
    from transferkit.backbones import Backbone


def default_batch_size(backbone: Backbone) -> int:
    return 32 if backbone.modality in ("image", "audio") else 64


def extract_features(
    backbone: Backbone,
    items: Sequence[str],
    cache: FeatureCache,
    *,
    batch_size: int | None = None,
    num_workers: int = 0,
    show_progress: bool = False,
    description: str = "embedding",
    devices: int = 1,
) -> tuple[np.ndarray, dict[int, str]]:
    """(features, errors): one row per item; `errors` maps positions that failed to why.

    Each distinct input (by content digest) runs through the backbone at most
    once, and never again once it is in the cache. With `devices` > 1 the inputs
    still missing from the cache are split across that many DDP processes.
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
        run = _run_backbone if devices == 1 else partial(_run_sharded, devices=devices)
        computed, failed = run(
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


def _run_sharded(
    backbone: Backbone, items: list[str], *how: Any, devices: int
) -> tuple[np.ndarray, dict[int, str]]:
    """`_run_backbone` (with its other arguments, `how`) across `devices` processes
    (Lightning Fabric, DDP): rank r embeds items r, r + devices, ...; the shards come back
    through files and are put back in input order (a large result through Lightning's
    return queue would block its join)."""
    import json
    import tempfile

    from lightning.fabric import Fabric

    if backbone.recipe is None:
        raise TransferKitError(
            f"backbone {backbone.spec!r} cannot be rebuilt in worker processes: extract"
            " its features with devices=1."
        )
    accelerator = "cpu" if backbone._device.type == "cpu" else "gpu"  # don't build it here
    fabric = Fabric(accelerator=accelerator, devices=devices, strategy="ddp_spawn")
    out = np.zeros((len(items), backbone.feature_dim), dtype=np.float32)
    failed: dict[int, str] = {}
    with tempfile.TemporaryDirectory(prefix="transferkit-shards-") as tmp:
        fabric.launch(
            _embed_shard,
            dict(backbone.recipe),
            backbone.identity,
            items,
            how,
            tmp,
        )
        for rank in range(devices):
            positions = np.arange(rank, len(items), devices)
            out[positions] = np.load(Path(tmp) / f"rank{rank}.npy")
            errors = json.loads((Path(tmp) / f"rank{rank}.json").read_text(encoding="utf-8"))
            failed.update({int(positions[int(j)]): reason for j, reason in errors.items()})
    return out, failed


def _embed_shard(
    fabric: Any,
    recipe: dict[str, Any],
    identity: str,
    items: list[str],
    how: tuple[int, int, bool, str],
    folder: str,
) -> None:
    """One rank's share of the embedding, written to `folder` as rank{r}.npy / .json."""
    import json

    from transferkit.backbones import create_backbone

    recipe = dict(recipe)
    cut = recipe.pop("cut", None)
    inference_only = recipe.pop("inference_only", False)
    backbone = create_backbone(**recipe, device=fabric.device)
    if cut is not None:
        backbone.cut_at(cut)
    if inference_only:
        backbone.for_inference()  # the main process's form of it (folded BatchNorms)
    if backbone.identity != identity:  # the same name must give the same features
        raise TransferKitError(
            f"backbone {recipe['spec']!r} built in a worker differs from the main process's."
        )
    batch_size, num_workers, show_progress, description = how
    rank, world = fabric.global_rank, fabric.world_size
    features, errors = _run_backbone(
        backbone,
        items[rank::world],
        batch_size,
        num_workers,
        show_progress and rank == 0,
        description,
    )
    np.save(Path(folder) / f"rank{rank}.npy", features)
    (Path(folder) / f"rank{rank}.json").write_text(json.dumps(errors), encoding="utf-8")


def embed_splits(
    model: Backbone,
    splits: DataSplits,
    cache: FeatureCache,
    batch_size: int | None,
    num_workers: int,
    show: bool,
    names: tuple[str, ...] = ("train", "val", "test"),
    devices: int = 1,
) -> dict[str, np.ndarray]:
    """Embed the splits in one pass; inputs that fail to decode move to `skipped`."""
    names = [n for n in names if getattr(splits, n) is not None]
    sets: list[Dataset] = [getattr(splits, n) for n in names]
    items = [x for ds in sets for x in ds.inputs]
    features, errors = extract_features(
        model,
        items,
        cache,
        batch_size=batch_size,
        num_workers=num_workers,
        show_progress=show,
        description=f"embedding with {model.spec}",
        devices=devices,
    )
    out: dict[str, np.ndarray] = {}
    start = 0
    for name, ds in zip(names, sets, strict=True):
        rows = np.arange(start, start + len(ds))
        start += len(ds)
        bad = [i for i, row in enumerate(rows) if int(row) in errors]
        for i in bad:
            splits.skipped.append(Skipped(item=ds.refs[i], reason=errors[int(rows[i])], split=name))
        keep = np.setdiff1d(np.arange(len(ds)), bad)
        setattr(splits, name, ds.subset(keep))
        out[name] = features[rows[keep]]
    return out
