"""Hugging Face audio encoders (wav2vec 2.0, HuBERT, WavLM, AST, ...) as backbones: `hf:ID`
whose config names an audio model type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from transferkit._errors import TransferKitError
from transferkit.backbones._audio import AudioInputs, ClipTransform
from transferkit.backbones._base import Backbone, BackboneConfig

# model types whose AutoModel is an audio encoder over a waveform (or its filter bank)
HF_AUDIO_TYPES = (
    "wav2vec2",
    "wav2vec2-conformer",
    "hubert",
    "wavlm",
    "data2vec-audio",
    "unispeech",
    "unispeech-sat",
    "sew",
    "sew-d",
    "audio-spectrogram-transformer",
)


def hf_audio_config(source: str | Path, local_only: bool) -> Any | None:
    """The transformers config of `source` when it is an audio encoder, else None (also
    when it cannot be read: the text path then gives its own one-line error)."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source, local_files_only=local_only)
    except Exception:  # offline, unknown, not a model folder: not ours to explain
        return None
    return config if getattr(config, "model_type", None) in HF_AUDIO_TYPES else None


class HFAudioBackbone(AudioInputs, Backbone):
    """A transformers audio encoder (wav2vec 2.0, HuBERT, WavLM, AST, ...): 1 s clips at the
    feature extractor's rate, its input normalisation, the last hidden states averaged over
    time."""

    def __init__(
        self, config: BackboneConfig, digest: str, spec: str, model: nn.Module, extractor: Any
    ) -> None:
        super().__init__(config, digest, spec, model)
        self.extractor = extractor

    def clip_transform(self, train: bool = False) -> ClipTransform:
        return ClipTransform(self.audio_settings(), None, train)

    def _parts(self) -> tuple[list[nn.Module], list[nn.Module], list[nn.Module]]:
        """(the modules before the transformer layers, the layers, the norms after them)."""
        m: Any = self.model
        encoder = m.encoder
        layers = getattr(encoder, "layers", None) or getattr(encoder, "layer", None)
        if layers is None:
            raise TransferKitError(f"{self.spec}: its encoder has no list of layers to group.")
        # a final LayerNorm runs after the layers: AST's `layernorm`, and the encoder's
        # `layer_norm` in the stable-layer-norm wav2vec 2.0 / WavLM variants
        after_encoder = {"layernorm"}
        after_layers = {"layer_norm"} if getattr(m.config, "do_stable_layer_norm", False) else set()
        front: list[nn.Module] = []
        last: list[nn.Module] = []
        for name, module in m.named_children():
            if name != "encoder":
                (last if name in after_encoder else front).append(module)
        for name, module in encoder.named_children():
            if name not in ("layers", "layer"):
                (last if name in after_layers else front).append(module)
        return front, list(layers), last

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        front, layers, last = self._parts()
        groups = [("front", front), *((f"layer{i}", [layer]) for i, layer in enumerate(layers))]
        groups[-1] = (groups[-1][0], [*groups[-1][1], *last])  # trained with the top layer
        return groups

    def model_inputs(self, wave: torch.Tensor) -> dict[str, torch.Tensor]:
        """What the encoder reads: the normalised wave (wav2vec 2.0 family), or what the
        feature extractor computes from it (a filter bank for AST)."""
        name = type(self.extractor).__name__
        if name == "Wav2Vec2FeatureExtractor":
            if getattr(self.extractor, "do_normalize", False):  # zero mean, unit variance
                mean = wave.mean(dim=1, keepdim=True)
                var = wave.var(dim=1, unbiased=False, keepdim=True)
                wave = (wave - mean) / torch.sqrt(var + 1e-7)
            return {"input_values": wave}
        rate = int(self.audio_settings()["sample_rate"])
        out = self.extractor(
            [w.detach().cpu().numpy() for w in wave], sampling_rate=rate, return_tensors="pt"
        )
        return {k: v.to(self.device) for k, v in out.items() if k.startswith("input_")}

    def forward_features(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.windowed(inputs, 2, self._features)  # type: ignore[no-any-return]

    def _features(self, inputs: torch.Tensor) -> torch.Tensor:
        wave = inputs.to(self.device).float()
        hidden: torch.Tensor = self.model(**self.model_inputs(wave)).last_hidden_state
        return hidden.float().mean(dim=1)


def create_hf_audio(
    model_id: str, weights: str | Path | None, pretrained: bool, config: Any
) -> HFAudioBackbone:
    """An audio encoder by Hugging Face id (or from a local model folder, `weights`)."""
    from transformers import AutoFeatureExtractor

    from transferkit.backbones._text import hf_digest, load_hf

    spec = f"hf:{model_id}"
    source: str | Path = Path(weights) if weights is not None else model_id
    extractor, model = load_hf(
        spec,
        source,
        weights,
        pretrained,
        lambda s, local: AutoFeatureExtractor.from_pretrained(s, local_files_only=local),
    )
    digest = hf_digest(model_id, weights, pretrained, config)
    rate = int(getattr(extractor, "sampling_rate", 16000))
    settings = {"sample_rate": rate, "seconds": 1.0, "pooling": "time-mean", "stretch": False}
    backbone_config = BackboneConfig(
        name=spec,
        modality="audio",
        feature_dim=int(config.hidden_size),
        licence="see the model card",
        weights_source=str(weights) if weights else f"hub: {model_id}",
        extra={"audio": settings, "extractor": type(extractor).__name__},
    )
    return HFAudioBackbone(backbone_config, digest, spec, model, extractor)
