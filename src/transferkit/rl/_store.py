"""Policies and training state on disk without pickle: tensors in safetensors, everything
else in JSON.

Stable-Baselines3 saves a zip whose data is pickled (`cloudpickle`): loading one runs
whatever code it holds. A run folder's `policy.safetensors` holds the policy's weights and
the observation normaliser's statistics; `policy.json` says how to rebuild the network
around them (algorithm, spaces, policy settings). A checkpoint adds the optimisers' state
(nested dicts and lists with tensors inside), flattened by `flatten`: each tensor goes to
safetensors under its path, the structure with the other values to JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from transferkit._errors import TransferKitError
from transferkit.runs._folder import _umask

FORMAT = 1


def flatten(tree: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """`tree` with every tensor moved into `tensors` (key: its path) and replaced by
    `{"tensor": key}`; dicts become `{"items": [[key, value], ...]}` so integer keys (an
    optimiser's parameter ids) survive JSON."""
    if isinstance(tree, torch.Tensor):
        tensors[prefix] = tree.detach().cpu().contiguous()
        return {"tensor": prefix}
    if isinstance(tree, np.ndarray):
        tensors[prefix] = torch.from_numpy(np.ascontiguousarray(tree))
        return {"array": prefix}
    if isinstance(tree, dict):
        return {"items": [[k, flatten(v, f"{prefix}.{k}", tensors)] for k, v in tree.items()]}
    if isinstance(tree, (list, tuple)):
        return {"list": [flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(tree)]}
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return {"value": tree}
    if isinstance(tree, np.generic):
        return {"value": tree.item()}
    raise TransferKitError(f"cannot store a {type(tree).__name__} at {prefix!r} without pickle.")


def unflatten(node: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of `flatten`."""
    if "tensor" in node:
        return tensors[node["tensor"]]
    if "array" in node:
        return tensors[node["array"]].numpy()
    if "items" in node:
        return {k: unflatten(v, tensors) for k, v in node["items"]}
    if "list" in node:
        return [unflatten(v, tensors) for v in node["list"]]
    return node["value"]


def save_state(folder: Path, stem: str, state: dict[str, Any], meta: dict[str, Any]) -> None:
    """`folder/stem.safetensors` and `folder/stem.json`: `state` flattened, `meta` beside
    it. The JSON is written last, so a file pair whose JSON exists is complete."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = flatten(state, "s", tensors)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{stem}.safetensors.tmp"
    save_file(tensors, str(tmp))
    os.chmod(tmp, 0o666 & ~_umask())  # safetensors writes 0600; the run's files follow umask
    tmp.replace(folder / f"{stem}.safetensors")
    text = json.dumps({"format": FORMAT, **meta, "state": skeleton}, indent=1)
    tmp_json = folder / f".{stem}.json.tmp"
    tmp_json.write_text(text + "\n")
    tmp_json.replace(folder / f"{stem}.json")


def load_state(folder: Path, stem: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state, meta) from `save_state`'s pair of files, with a one-line cause when either
    is missing or unreadable."""
    from safetensors import SafetensorError

    from transferkit.runs._folder import inside

    # never through a link: a run folder from elsewhere cannot make us read another file
    meta_path = inside(folder, f"{stem}.json", "a policy's files")
    tensor_path = inside(folder, f"{stem}.safetensors", "a policy's files")
    for path in (meta_path, tensor_path):
        if not path.is_file():
            raise TransferKitError(
                f"{str(path)!r} is missing: this is not a complete `transferkit rl` run folder."
            )
    try:
        meta = json.loads(meta_path.read_text())
        tensors = load_file(str(tensor_path))
        state = unflatten(meta.pop("state"), tensors)
    except (ValueError, KeyError, OSError, SafetensorError) as exc:
        raise TransferKitError(
            f"{str(tensor_path)!r} or its JSON cannot be read ({exc}): the file is damaged;"
            " train the run again."
        ) from exc
    if meta.get("format") != FORMAT:
        raise TransferKitError(
            f"{str(meta_path)!r} has format {meta.get('format')!r}; this transferkit reads"
            f" format {FORMAT}."
        )
    return state, meta
