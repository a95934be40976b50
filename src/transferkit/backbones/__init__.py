"""Pretrained backbones: one registry, one interface."""

from transferkit.backbones._base import (
    Backbone,
    BackboneConfig,
    Batch,
    register_backbone,
    registered_names,
)
from transferkit.backbones._registry import (
    DEFAULT_BACKBONES,
    create_backbone,
    default_backbone,
    list_backbones,
)

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
