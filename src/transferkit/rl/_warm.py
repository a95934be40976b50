"""Warm start: load another run's policy into a new agent (`TrainSettings.init_from`).

Same spaces: every weight loads and training continues (the observation normaliser's
statistics too). Different sizes: `transplant` reuses every tensor whose shape fits
(with the entity policy, all of them) and the record of what was reused goes into the
run folder. `freeze="features"` keeps the transferred representation fixed and trains
the output layers only; `lr_scale` lowers the learning rate, as `fit` does for a
pretrained backbone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transferkit._errors import TransferKitError
from transferkit.rl._catalog import EnvChoice
from transferkit.rl._store import load_state
from transferkit.rl._surgery import Names, counterpart, transplant


def warm_start(model: Any, vec: Any, settings: Any, choice: EnvChoice) -> dict[str, Any]:
    """Load the source run's policy into `model`; the record for `transfer.json`."""
    source = Path(str(settings.init_from))
    state, meta = load_state(source, "policy")
    if meta.get("algo") != (settings.algo or meta.get("algo")):
        raise TransferKitError(
            f"the source run {str(source)!r} trained {meta.get('algo')}, this run"
            f" {settings.algo}: transfer between runs of the same algorithm."
        )
    names = _names(source, choice)
    record = transplant(state["policy"], model.policy, names)
    stats: Any = state.get("obs_stats")
    rms: Any = getattr(vec, "obs_rms", None)
    same_shape = stats is not None and rms is not None and stats["mean"].shape == rms.mean.shape
    carried = "all" if same_shape else "none"
    if same_shape:  # the source's view of observations, as a settled starting estimate
        rms.mean, rms.var, rms.count = stats["mean"].copy(), stats["var"].copy(), 1e4
    elif stats is not None and rms is not None and names is not None:
        carried = _map_statistics(stats, rms, names)
    frozen = freeze(model.policy, settings.freeze)
    return {
        "source": str(source),
        "source_env": meta.get("env"),
        "target_env": choice.label,
        "freeze": settings.freeze,
        "frozen": frozen,
        "lr_scale": settings.lr_scale,
        "normaliser_carried": carried,
        **record,
    }


def _names(source: Path, choice: EnvChoice) -> Names | None:
    """The two spaces' entry names when the environments give them (`EnvKind.names`)."""
    from transferkit.rl._catalog import choose

    src = source_settings(source)
    try:
        before = choose(src["env"], src.get("settings") or None)
    except TransferKitError:
        return None
    if choice.kind is None or before.kind is not choice.kind or choice.kind.names is None:
        return None
    source_observation, source_action = choice.kind.names(before.config)
    target_observation, target_action = choice.kind.names(choice.config)
    return Names(source_observation, target_observation, source_action, target_action)


def _map_statistics(stats: dict[str, Any], rms: Any, names: Names) -> str:
    """The normaliser's mean and variance of each target entry from its counterpart in
    the source (the same entry, or entity 0's); entries without one keep (0, 1). Held
    with a smaller weight than a same-shape carry, so the target's own data takes over
    sooner. Which entries were carried: "some" or "none"."""
    import numpy as np

    if len(stats["mean"]) != len(names.source_observation):
        return "none"
    if len(rms.mean) != len(names.target_observation):
        return "none"
    mean, var = np.zeros_like(rms.mean), np.ones_like(rms.var)
    found = 0
    for t, name in enumerate(names.target_observation):
        s = counterpart(name, names.source_observation)
        if s is not None:
            mean[t], var[t] = stats["mean"][s], stats["var"][s]
            found += 1
    if not found:
        return "none"
    rms.mean, rms.var, rms.count = mean, var, 1e3
    return "some"


def freeze(policy: Any, what: str) -> list[str]:
    """Stop the gradients of the shared representation: the entity encoder, or an MLP's
    hidden layers; the output layers keep training. The names frozen."""
    if what == "none":
        return []
    from transferkit.rl._entity import EntityNetwork

    extractor = policy.mlp_extractor
    if isinstance(extractor, EntityNetwork):
        modules = {"mlp_extractor.encode": extractor.encode}
    else:
        modules = {"mlp_extractor": extractor}
    names = []
    for prefix, module in modules.items():
        for name, parameter in module.named_parameters():
            parameter.requires_grad_(False)
            names.append(f"{prefix}.{name}")
    return names


def source_settings(run: str | Path) -> dict[str, Any]:
    """The source run's `config.json`, with a one-line cause when it is not a run."""
    path = Path(run) / "config.json"
    if not path.is_file() or not (Path(run) / "policy.json").is_file():
        raise TransferKitError(
            f"{str(run)!r} is not a finished `transferkit rl train` run (no config.json and"
            " policy.json): give the run folder to transfer from."
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data
