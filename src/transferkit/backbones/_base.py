"""The backbone interface and its registry (one factory per name, the timm pattern)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit._errors import TransferKitError
from transferkit._hashing import digest_text


@dataclass(frozen=True)
class BackboneConfig:
    """Everything downstream needs to know about a backbone, declared once."""

    name: str
    modality: str
    feature_dim: int
    licence: str
    weights_source: str
    # images
    input_size: int | None = None
    interpolation: str | None = None
    crop_pct: float | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    # text
    max_length: int | None = None
    pooling: str | None = None
    normalize: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def preprocessing(self) -> dict[str, Any]:
        """The preprocessing this backbone expects, as plain data."""
        if self.modality == "audio":
            from transferkit.data._audio import AUDIO_DECODER_VERSION

            # the front end's settings, and the decoder, decide the features
            return {
                **self.extra["audio"],
                "input_size": self.input_size,
                "decoder": AUDIO_DECODER_VERSION,
            }
        if self.modality == "image":
            keys = ("input_size", "interpolation", "crop_pct", "mean", "std")
        else:
            keys = ("max_length", "pooling", "normalize")
        full = asdict(self)
        steps = {k: list(full[k]) if isinstance(full[k], tuple) else full[k] for k in keys}
        if self.modality == "image":
            # the version lives beside the decoder it names, the one place that bumps it
            from transferkit.data._images import DECODER_VERSION

            # how files become pixels is part of the cache identity: a new decoder version
            # means embeddings cached from the old pixels are not reused
            steps["decoder"] = DECODER_VERSION
        return steps


@dataclass
class Batch:
    """One batch of model inputs and the positions (in the caller's list) it holds."""

    positions: list[int]
    inputs: Any
    errors: dict[int, str]


class Backbone(nn.Module):
    """A pretrained network used as a feature extractor.

    Every backbone answers the same calls: `forward_features`, `layer_groups`,
    `preprocessing`, `sample_digest` and `batches`, so strategies, caches and
    reports never special-case an architecture.
    """

    def __init__(
        self,
        config: BackboneConfig,
        weights_digest: str,
        spec: str,
        model: nn.Module | Callable[[], nn.Module],
    ) -> None:
        super().__init__()
        self.config = config
        self.weights_digest = weights_digest
        self.spec = spec
        # A callable builds the network on first use: a fit whose embeddings are all
        # cached never loads the weights at all.
        self._build = None if isinstance(model, nn.Module) else model
        self._model = model if isinstance(model, nn.Module) else None
        self._device = torch.device("cpu")
        self.recipe: dict[str, Any] | None = None
        self.cut: int | None = None  # features from groups [0, cut) only (see `cut_at`)
        self._cut_dim = 0
        self.inference_only = False  # see `for_inference`

    @property
    def model(self) -> nn.Module:
        """The network (built and moved to the device on first access)."""
        if self._model is None:
            assert self._build is not None  # internal invariant, not user input
            # never build inside inference mode (first use may be an embedding pass):
            # inference tensors could not be trained later
            with torch.inference_mode(False):
                model = self._prepare(self._build()).to(self._device).eval()
                self._model = self._for_inference(model) if self.inference_only else model
        return self._model

    def _prepare(self, model: nn.Module) -> nn.Module:
        """Hook for subclasses: adjust a freshly built network (memory format, ...)."""
        return model

    def for_inference(self) -> Backbone:
        """Declare that this backbone only runs at inference from now on (a `features` fit,
        a loaded run, a ranking), so it may speed its network up in ways training could not
        use: image backbones fold their BatchNorms into their convolutions (the same
        features, to float rounding). Applied now if the network is built, else when it is
        (a fit whose embeddings are all cached still never loads it)."""
        if not self.inference_only and self._model is not None:
            with torch.inference_mode(False):
                self._model = self._for_inference(self._model)
        self.inference_only = True
        if self.recipe is not None:
            self.recipe["inference_only"] = True  # a worker process builds the same form
        return self

    def _for_inference(self, model: nn.Module) -> nn.Module:
        """Hook for subclasses: the inference-only form of a built, eval-mode network."""
        return model

    def place(self, device: str | torch.device) -> Backbone:
        """Run on `device` (moves the network now if it is built, else when it is)."""
        self._device = torch.device(device)
        if self._model is not None:
            self._model.to(self._device)
        return self

    @property
    def is_built(self) -> bool:
        return self._model is not None

    def save_trained(self, path: Path) -> None:
        """Save the (fine-tuned) network as safetensors; its digest becomes the new identity."""
        from safetensors.torch import save_file

        from transferkit._hashing import digest_file

        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(path))
        self.weights_digest = digest_file(path)

    def load_trained(self, path: Path, digest: str | None = None) -> Backbone:
        """Load weights written by `save_trained` (strict), and take on their identity."""
        from safetensors.torch import load_file

        from transferkit._hashing import digest_file

        self.model.load_state_dict(load_file(str(path)), strict=True)
        self.weights_digest = digest or digest_file(path)
        return self

    @property
    def device(self) -> torch.device:
        """Where the network's weights are now (a trainer may have moved them)."""
        return next(self.model.parameters()).device

    @property
    def modality(self) -> str:
        return self.config.modality

    @property
    def feature_dim(self) -> int:
        return self._cut_dim if self.cut is not None else self.config.feature_dim

    @property
    def identity(self) -> str:
        """A digest of what decides the features: name, weights, preprocessing and cut (the
        key `rank` caches that cut point's pooled outputs under, so `fit` reuses them)."""
        key = f"{self.config.name}|{self.weights_digest}|{sorted(self.preprocessing().items())}"
        whole = digest_text(key)
        return whole if self.cut is None else digest_text(f"{whole}|pool-cut{self.cut}")

    def cut_at(self, cut: int | str) -> Backbone:
        """Give, as features, the pooled output of the groups below `cut` (a group index as
        in `rank --layers`, or the name of the last group kept, e.g. 'blocks.5', 'layer2'):
        the layers above are not used. The same values `rank` scores at that cut point."""
        names = [name for name, _ in self.layer_groups()]
        index = names.index(cut) + 1 if isinstance(cut, str) and cut in names else cut
        supported = getattr(self, "pooled_cuts", lambda: [])()
        if not isinstance(index, int) or index not in supported:
            usable = ", ".join(names[c - 1] for c in supported) or "none"
            raise TransferKitError(
                f"backbone {self.spec!r} cannot be cut at {cut!r}: cut after one of its groups"
                f" {usable} (the names of `transferkit rank --layers`)."
            )
        with inference(self.model):
            self._cut_dim = int(self.pooled_dim(index))
        self.cut = index
        if self.recipe is not None:
            self.recipe["cut"] = index  # another process builds the same cut backbone
        return self

    def trained_groups(self) -> list[tuple[str, list[nn.Module]]]:
        """The layer groups a strategy trains from: those below the cut, when cut (the
        groups above it are not run), else all of them."""
        groups = self.layer_groups()
        return groups[: self.cut] if self.cut is not None else groups

    @property
    def cut_name(self) -> str | None:
        """The name of the last group kept by `cut_at` (None: the whole network)."""
        return self.layer_groups()[self.cut - 1][0] if self.cut is not None else None

    def uncut(self) -> Backbone:
        """The whole network again (rank scores its own cut points)."""
        self.cut = None
        if self.recipe is not None:
            self.recipe.pop("cut", None)
        return self

    def preprocessing(self) -> dict[str, Any]:
        return self.config.preprocessing()

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        """Ordered groups of modules, input to output (later stages freeze by group)."""
        raise NotImplementedError

    def forward_features(self, inputs: Any) -> torch.Tensor:
        """Embeddings (N, feature_dim) for one batch from `batches`."""
        raise NotImplementedError

    def sample_digest(self, item: Any) -> str:
        """The content digest of one input, used as its cache key."""
        raise NotImplementedError

    def batches(
        self, items: Sequence[Any], batch_size: int, num_workers: int = 0
    ) -> Iterator[Batch]:
        """Model-ready batches; inputs that cannot be read are reported in `errors`."""
        raise NotImplementedError

    @torch.inference_mode()
    def embed_batch(self, batch: Batch) -> np.ndarray:
        return self.forward_features(batch.inputs).float().cpu().numpy()


@contextmanager
def inference(model: torch.nn.Module) -> Iterator[None]:
    """Run the frozen prefix as at inference: BatchNorm on (and leaving) its running
    statistics, also when called mid-training (a train-mode BatchNorm would move them even
    under `torch.inference_mode`); every module's mode is given back afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        for m, training in modes:
            m.training = training


Factory = Callable[..., Backbone]
_REGISTRY: dict[str, tuple[Factory, BackboneConfig, Callable[[], bool]]] = {}


def register_backbone(
    config: BackboneConfig, offline_available: Callable[[], bool]
) -> Callable[[Factory], Factory]:
    """Register a factory under `config.name`: `@register_backbone(cfg, check)`."""

    def wrap(factory: Factory) -> Factory:
        if config.name in _REGISTRY:
            raise RuntimeError(f"backbone {config.name!r} is registered twice")
        _REGISTRY[config.name] = (factory, config, offline_available)
        return factory

    return wrap


def registered_names() -> list[str]:
    return sorted(_REGISTRY)
