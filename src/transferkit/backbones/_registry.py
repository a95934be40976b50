"""Build a backbone by name, and list the registered ones (the built-ins register on import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from transferkit._errors import TransferKitError
from transferkit.backbones import (  # noqa: F401  (they register)
    _audio,
    _crepe,
    _hf_audio,
    _tabular,
    _text,
    _vision,
)
from transferkit.backbones._base import _REGISTRY, Backbone, registered_names


def create_backbone(
    spec: str,
    *,
    weights: str | Path | None = None,
    pretrained: bool = True,
    device: str | torch.device = "cpu",
) -> Backbone:
    """Build a backbone from a name: a built-in, `timm:NAME`, `hf:MODEL_ID`, or
    `spectrogram:IMAGE_BACKBONE` (sounds as log-mel pictures for an image backbone).

    `weights` is a local weights file (or, for `hf:`, a local model folder) that
    replaces the download; `pretrained=False` gives random weights (tests, baselines).
    """
    base, clip = _audio.split_clip_options(spec)
    if clip:  # an audio backbone with its own clip length or windows
        backbone = create_backbone(base, weights=weights, pretrained=pretrained, device=device)
        if backbone.modality == "text" and set(clip) == {"windows"}:  # long texts' windows
            backbone.max_windows = int(clip["windows"])  # type: ignore[attr-defined]
            backbone.spec = spec
            assert backbone.recipe is not None
            backbone.recipe["spec"] = spec
            return backbone
        if not isinstance(backbone, _audio.AudioInputs):
            raise TransferKitError(
                f"backbone {spec!r}: [seconds=..., windows=...] set how an audio backbone"
                f" reads its clips (a text backbone takes [windows=N] alone), and {base!r}"
                f" reads {backbone.modality}."
            )
        backbone.set_clip(**clip)  # type: ignore[arg-type]
        backbone.spec = spec
        assert backbone.recipe is not None
        backbone.recipe["spec"] = spec
        return backbone
    if spec.startswith("timm:"):
        backbone = _vision.create_timm(spec[5:], weights=weights, pretrained=pretrained)
    elif spec.startswith("spectrogram:") and spec not in _REGISTRY:
        image = create_backbone(spec[12:], weights=weights, pretrained=pretrained)
        backbone = _audio.spectrogram_of(image, spec)
    elif spec.startswith("hf:"):
        backbone = _hf(spec[3:], weights, pretrained)
    elif spec in _REGISTRY:
        factory = _REGISTRY[spec][0]
        backbone = factory(weights=weights, pretrained=pretrained)
    else:
        names = ", ".join(registered_names())
        raise TransferKitError(
            f"unknown backbone {spec!r}: use one of {names}, or 'timm:NAME' / 'hf:MODEL_ID'."
            " Run `transferkit backbones` to list them."
        )
    if backbone.is_built:
        backbone.model.eval()
        backbone._model = backbone._prepare(backbone.model)
    # how to build this backbone again in another process (sharded feature extraction)
    backbone.recipe = {
        "spec": spec,
        "weights": str(weights) if weights else None,
        "pretrained": pretrained,
    }
    return backbone.place(device)


def _hf(model_id: str, weights: str | Path | None, pretrained: bool) -> Backbone:
    """A Hugging Face encoder: an audio one (wav2vec 2.0, HuBERT, AST, ...) by its config's
    model type, else a text one."""
    from transferkit.backbones._weights import hub_offline

    source = Path(weights) if weights is not None and Path(weights).is_dir() else model_id
    audio = _hf_audio.hf_audio_config(source, local_only=weights is not None or hub_offline())
    if audio is not None:
        return _hf_audio.create_hf_audio(model_id, weights, pretrained, audio)
    return _text.create_hf(model_id, weights=weights, pretrained=pretrained)


def list_backbones() -> list[dict[str, Any]]:
    """One row per registered backbone: name, modality, feature size, licence, offline."""
    rows = []
    for name in registered_names():
        _, config, offline = _REGISTRY[name]
        rows.append(
            {
                "name": name,
                "modality": config.modality,
                "feature_dim": config.feature_dim,
                "licence": config.licence,
                "weights": config.weights_source,
                "offline": bool(offline()),
            }
        )
    return rows
