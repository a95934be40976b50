"""Pretrained backbones: one registry, one interface."""

from transferkit.backbones import _tabular, _text, _vision  # noqa: F401  (registers the built-ins)
from transferkit.backbones._base import (
    Backbone,
    BackboneConfig,
    Batch,
    create_backbone,
    list_backbones,
    register_backbone,
    registered_names,
)

__all__ = [
    "Backbone",
    "BackboneConfig",
    "Batch",
    "create_backbone",
    "list_backbones",
    "register_backbone",
    "registered_names",
]
