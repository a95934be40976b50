"""LoRA through PEFT (Hu et al. 2021): low-rank adapters injected into the backbone's
linear layers (or 1x1 convolutions), trained with the head while every original weight
stays frozen; merged back into those weights once trained, so that the saved backbone,
`predict` and the ONNX export run the plain network.

PEFT's low-level API (`inject_adapter_in_model`) adds the adapters in place, so the
backbone keeps its layer groups, pooling and cut; `merge` folds each adapter into its
layer with PEFT's own `merge` and puts the plain layer back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from transferkit._errors import TransferKitError

ADAPTER = "lora_"  # the name part of every adapter parameter


def default_targets(model: nn.Module) -> list[str]:
    """The layers that get adapters: a transformers model's attention query and value (as
    PEFT maps them per architecture); a vision transformer's `qkv`; else every linear
    layer and 1x1 convolution below the classifier (a CNN's pointwise convolutions)."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type is not None:
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

        mapped = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(model_type)
        if mapped:
            return list(mapped)
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    if "qkv" in names:
        return ["qkv"]
    found: list[str] = []
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        pointwise = isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1)
        pointwise = pointwise and module.groups == 1
        if (isinstance(module, nn.Linear) or pointwise) and leaf not in found:
            found.append(leaf)
    return [n for n in found if n not in ("classifier", "head", "fc")]


def inject(
    backbone: Any, r: int, alpha: float, dropout: float, targets: list[str] | None
) -> dict[str, Any]:
    """Add adapters to `backbone.model` in place; what was added, for metrics.json."""
    from peft import LoraConfig, inject_adapter_in_model

    model = backbone.model
    chosen = targets or default_targets(model)
    total = sum(p.numel() for p in model.parameters())
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,  # type: ignore[arg-type]  # a float scale works; PEFT hints int
        lora_dropout=dropout,
        target_modules=chosen,
    )
    try:
        inject_adapter_in_model(config, model)
    except ValueError as exc:  # no layer matched
        raise TransferKitError(
            f"--lora-targets {','.join(chosen)!r} matches no layer of {backbone.spec!r}"
            f" ({exc}). Name linear layers of the model, e.g. 'query,value'."
        ) from None
    adapters = sum(p.numel() for n, p in model.named_parameters() if ADAPTER in n)
    return {
        "r": r,
        "alpha": alpha,
        "dropout": dropout,
        "targets": chosen,
        "adapter_parameters": adapters,
        "backbone_parameters": total,
    }


def adapter_state(backbone: Any) -> dict[str, Any]:
    """The adapters' weights alone (PEFT's names), as `save_adapter` writes them."""
    from peft import get_peft_model_state_dict

    return {
        k: v.detach().cpu().contiguous()
        for k, v in get_peft_model_state_dict(backbone.model).items()
    }


def save_adapter(backbone: Any, path: Path, info: dict[str, Any]) -> None:
    """The adapter as safetensors, with its settings and the base weights' digest in the
    file's metadata (what it must be loaded onto)."""
    from safetensors.torch import save_file

    meta = {k: str(v) for k, v in info.items()}
    meta["base_weights_digest"] = str(backbone.weights_digest)
    save_file(adapter_state(backbone), str(path), metadata=meta)


def merge(backbone: Any) -> int:
    """Fold every adapter into its layer and put the plain layer back; how many merged."""
    from peft.tuners.lora import LoraLayer

    model = backbone.model
    merged = 0
    for name, module in list(model.named_modules()):
        if not isinstance(module, LoraLayer):
            continue
        module.merge()
        parent_name, _, leaf = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, leaf, module.get_base_layer())
        merged += 1
    return merged
