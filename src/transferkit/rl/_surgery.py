"""Policy surgery: start a policy from another one's weights when their spaces differ.

Stable-Baselines3 loads weights only between identical observation and action spaces.
`transplant` copies every tensor of the source whose name and shape the target has,
leaves the target's own initialisation for the rest, and says which were which; the
run folder keeps that record (`transfer.json`). With the entity policy every tensor
fits across sizes, so everything carries over. With an MLP the first layer (observation
size) and the action layer (number of actions) differ in shape; when the environments
name their observation entries and actions (`Names`), those two are transplanted entry
by entry: the input columns of the entries both spaces have, and the action rows of the
actions both have, or of the same action of entity 0 for an entity the source lacked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from transferkit._errors import TransferKitError


@dataclass(frozen=True)
class Names:
    """The names of the observation entries and of the actions, source's and target's."""

    source_observation: Sequence[str]
    target_observation: Sequence[str]
    source_action: Sequence[str]
    target_action: Sequence[str]


def counterpart(name: str, source: Sequence[str]) -> int | None:
    """Where `name` is in `source`, or else the same entry of entity 0 (`order[2]` ->
    `order[0]`, `pipeline[2,5]` -> `pipeline[0,5]`); None when neither is there."""
    for candidate in (name, re.sub(r"\[\d+", "[0", name, count=1)):
        if candidate in source:
            return list(source).index(candidate)
    return None


def transplant(source: Mapping[str, torch.Tensor], target: torch.nn.Module,
               names: Names | None = None) -> dict[str, Any]:  # fmt: skip
    """Copy into `target` each tensor of `source` with the same name and shape, and with
    `names`, the matching entries of the input and action layers; the record lists the
    tensors reused, partly reused, re-initialised (shape differs or absent in the source)
    and left behind (only in the source), with how many values each holds."""
    own = target.state_dict()
    reused, partly, fresh = [], [], []
    merged = dict(own)
    counted = 0
    for name, tensor in own.items():
        theirs = source.get(name)
        if theirs is not None and tuple(theirs.shape) == tuple(tensor.shape):
            merged[name] = theirs.to(tensor.dtype)
            reused.append(name)
            counted += tensor.numel()
            continue
        mapped = None if theirs is None or names is None else _by_name(theirs, tensor, names)
        if theirs is not None and mapped is not None:
            merged[name], values, axis = mapped
            partly.append({"name": name, "shape": list(tensor.shape),
                           "source": f"shape {tuple(theirs.shape)}",
                           "by_name": axis, "values_reused": values})  # fmt: skip
            counted += values
            continue
        reason = "absent" if theirs is None else f"shape {tuple(theirs.shape)}"
        fresh.append({"name": name, "shape": list(tensor.shape), "source": reason})
    if not reused and not partly:
        raise TransferKitError(
            "no tensor of the source policy fits the target's: the two networks share"
            " nothing (another algorithm or policy type?); train from scratch instead."
        )
    target.load_state_dict(merged)
    left = [name for name in source if name not in own]
    total = sum(t.numel() for t in own.values())
    return {
        "reused": reused,
        "partly_reused": partly,
        "reinitialised": fresh,
        "source_only": left,
        "values_reused": counted,
        "values_total": total,
        "share_reused": counted / total if total else 0.0,
    }


def _by_name(
    theirs: torch.Tensor, own: torch.Tensor, names: Names
) -> tuple[torch.Tensor, int, str] | None:
    """`own` with the entries of `theirs` along the one axis where they differ, matched
    by name: an observation axis (an input layer; entries the source never saw start at
    zero, so the layer first acts as the source's did) or an action axis (rows of actions
    the source lacks come from the same action of entity 0, else keep their own init)."""
    if theirs.dim() != own.dim():
        return None
    differ = [a for a in range(own.dim()) if theirs.shape[a] != own.shape[a]]
    if len(differ) != 1:
        return None
    axis = differ[0]
    sizes = (theirs.shape[axis], own.shape[axis])
    observation = sizes == (len(names.source_observation), len(names.target_observation))
    action = sizes == (len(names.source_action), len(names.target_action))
    if observation == action:  # neither, or ambiguous
        return None
    if observation:
        wanted, there = names.target_observation, names.source_observation
        index = {n: i for i, n in enumerate(there)}
        pairs = [(t, index[n]) for t, n in enumerate(wanted) if n in index]
        out = torch.zeros_like(own)
    else:
        wanted, there = names.target_action, names.source_action
        found = [(t, counterpart(n, there)) for t, n in enumerate(wanted)]
        pairs = [(t, s) for t, s in found if s is not None]
        out = own.clone()
    if not pairs:
        return None
    into = torch.tensor([t for t, _ in pairs])
    take = torch.tensor([s for _, s in pairs])
    out.index_copy_(axis, into, theirs.to(own.dtype).index_select(axis, take))
    values = own.numel() // own.shape[axis] * len(pairs)
    return out, values, "observation" if observation else "action"
