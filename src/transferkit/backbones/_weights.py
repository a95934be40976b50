"""Reading weight files safely, and failing fast when a hub is out of reach."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from transferkit._errors import HubUnavailableError, TransferKitError


def hub_offline() -> bool:
    """True when the user (or a test) declared the model hub unreachable."""
    flags = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TRANSFERKIT_OFFLINE")
    return any(os.environ.get(f, "").strip().lower() in {"1", "true", "yes"} for f in flags)


def hub_error(spec: str, cause: object | None = None) -> HubUnavailableError:
    why = f" ({type(cause).__name__})" if cause is not None else " (offline mode is set)"
    return HubUnavailableError(
        f"cannot download weights for backbone {spec!r}: the model hub is unreachable{why}."
        f" Pass a local weights file with `--weights FILE` (Python: `weights=`), or use a"
        f" built-in backbone that works offline (`transferkit backbones`)."
    )


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a safetensors file or a tensors-only PyTorch file (never pickle)."""
    path = Path(path)
    if not path.is_file():
        raise TransferKitError(f"weights file {str(path)!r} does not exist: check `--weights`.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise TransferKitError(
            f"weights file {str(path)!r} cannot be read as safetensors or a tensors-only"
            f" PyTorch state dict ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})."
        ) from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TransferKitError(f"weights file {str(path)!r} does not hold a state dict of tensors.")
    return state
