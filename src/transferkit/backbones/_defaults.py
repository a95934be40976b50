"""The backbone `fit` and `rank` use when none is named (no torch: asked before any
network is built)."""

DEFAULT_BACKBONES = {
    "image": "efficientnet_lite0",
    "text": "minilm-l6",
    "tabular": "identity",
    "audio": "spectrogram:efficientnet_lite0",
}


def default_backbone(modality: str) -> str:
    """The built-in backbone for a modality ('image', 'text', 'tabular' or 'audio')."""
    return DEFAULT_BACKBONES[modality]
