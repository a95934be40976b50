"""Pretrained backbones: one registry, one interface. A `Backbone` is a pretrained
network used as a feature extractor (`modality`, `feature_dim`, `preprocess`, ordered
`layer_groups`, `forward_features`); each is registered once by name with the config
record downstream needs. Built-ins work offline; `timm:NAME` and `hf:MODEL_ID` reach a
hub; `create_backbone` builds any of them and `default_backbone` names one per modality.

The names below load on first use: `default_backbone` and the lazy backbone of a cached
fit need no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_PUBLIC = {
    "Backbone": "transferkit.backbones._base",
    "BackboneConfig": "transferkit.backbones._base",
    "Batch": "transferkit.backbones._base",
    "DEFAULT_BACKBONES": "transferkit.backbones._defaults",
    "create_backbone": "transferkit.backbones._registry",
    "default_backbone": "transferkit.backbones._defaults",
    "list_backbones": "transferkit.backbones._registry",
    "register_backbone": "transferkit.backbones._base",
    "registered_names": "transferkit.backbones._base",
}

__all__ = [
    "DEFAULT_BACKBONES",
    "Backbone",
    "BackboneConfig",
    "Batch",
    "create_backbone",
    "default_backbone",
    "list_backbones",
    "register_backbone",
    "registered_names",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'transferkit.backbones' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from transferkit.backbones._base import (
        Backbone,
        BackboneConfig,
        Batch,
        register_backbone,
        registered_names,
    )
    from transferkit.backbones._defaults import DEFAULT_BACKBONES, default_backbone
    from transferkit.backbones._registry import create_backbone, list_backbones
