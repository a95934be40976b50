"""Policy surgery: start a policy from another one's weights when their spaces differ.

Stable-Baselines3 loads weights only between identical observation and action spaces.
`transplant` copies every tensor of the source whose name and shape the target has,
leaves the target's own initialisation for the rest, and says which were which; the
run folder keeps that record (`transfer.json`). With the entity policy every tensor
fits across sizes, so everything carries over; with an MLP the first layer (observation
size) and the action layer (number of actions) are re-initialised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from transferkit._errors import TransferKitError


def transplant(source: Mapping[str, torch.Tensor], target: torch.nn.Module) -> dict[str, Any]:
    """Copy into `target` each tensor of `source` with the same name and shape; the
    record lists the tensors reused, re-initialised (shape differs or absent in the
    source) and left behind (only in the source), with how many values each holds."""
    own = target.state_dict()
    reused, fresh = [], []
    merged = dict(own)
    for name, tensor in own.items():
        theirs = source.get(name)
        if theirs is not None and tuple(theirs.shape) == tuple(tensor.shape):
            merged[name] = theirs.to(tensor.dtype)
            reused.append(name)
        else:
            reason = "absent" if theirs is None else f"shape {tuple(theirs.shape)}"
            fresh.append({"name": name, "shape": list(tensor.shape), "source": reason})
    if not reused:
        raise TransferKitError(
            "no tensor of the source policy fits the target's: the two networks share"
            " nothing (another algorithm or policy type?); train from scratch instead."
        )
    target.load_state_dict(merged)
    left = [name for name in source if name not in own]
    counted = sum(own[name].numel() for name in reused)
    total = sum(t.numel() for t in own.values())
    return {
        "reused": reused,
        "reinitialised": fresh,
        "source_only": left,
        "values_reused": counted,
        "values_total": total,
        "share_reused": counted / total if total else 0.0,
    }
