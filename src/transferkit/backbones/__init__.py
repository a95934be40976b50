"""Pretrained backbones: one registry, one interface. A `Backbone` is a pretrained
network used as a feature extractor (`modality`, `feature_dim`, `preprocess`, ordered
`layer_groups`, `forward_features`); each is registered once by name with the config
record downstream needs. Built-ins work offline; `timm:NAME` and `hf:MODEL_ID` reach a
hub; `create_backbone` builds any of them and `default_backbone` names one per modality."""

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
