"""The run folder, and reloading a finished run as a predictor."""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from transferkit._cache import FeatureCache
from transferkit._errors import TransferKitError
from transferkit._features import extract_features
from transferkit._heads import ClassifierHead, load_head, save_head
from transferkit.backbones import Backbone, create_backbone

MODEL_FORMAT = 1


def check_out(out: str | Path | None, overwrite: bool) -> None:
    """Refuse, before any work, an `out` that exists (unless `overwrite`) or is a file."""
    if out is None:
        return
    path = Path(out)
    if path.is_file():
        raise TransferKitError(f"`--out` {str(path)!r} is a file; give a folder.")
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise TransferKitError(
            f"output folder {str(path)!r} already exists and is not empty: choose another"
            " `--out`, or pass `--overwrite` to replace its run files."
        )


def new_run_dir(out: str | Path | None, name: str, overwrite: bool) -> Path:
    """A fresh run folder; an existing non-empty `out` is refused unless `overwrite`."""
    if out is not None:
        check_out(out, overwrite)
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        return path
    stem = time.strftime("%Y%m%d-%H%M%S") + "-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    base = Path("runs")
    for n in range(1000):
        path = base / (stem if n == 0 else f"{stem}-{n}")
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise TransferKitError(f"cannot create a new run folder under {str(base)!r}.")


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_predictions(
    path: Path,
    refs: list[str],
    split: str,
    y_true: np.ndarray,
    proba: np.ndarray,
    class_names: list[str],
) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["split", "input", "label", "predicted", "confidence", *[f"p_{c}" for c in class_names]]
        )
        for ref, t, p in zip(refs, y_true, proba, strict=True):
            k = int(np.argmax(p))
            writer.writerow(
                [
                    split,
                    ref,
                    class_names[t],
                    class_names[k],
                    f"{p[k]:.6f}",
                    *[f"{v:.6f}" for v in p],
                ]
            )


def write_skipped(path: Path, skipped: list[Any]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["split", "input", "reason"])
        for s in skipped:
            writer.writerow([s.split, s.item, s.reason])


def save_model(
    folder: Path,
    backbone: Backbone,
    head: ClassifierHead,
    class_names: list[str],
    weights: str | Path | None,
    head_info: dict[str, Any],
) -> None:
    """Head weights (safetensors) and a JSON config naming the backbone that feeds it."""
    save_head(head, folder)
    write_json(
        folder / "model.json",
        {
            "format": MODEL_FORMAT,
            "task": "classification",
            "class_names": class_names,
            "strategy": "features",
            "backbone": {
                "spec": backbone.spec,
                "modality": backbone.modality,
                "feature_dim": backbone.feature_dim,
                "weights": str(Path(weights).resolve()) if weights else None,
                "weights_digest": backbone.weights_digest,
                "preprocessing": backbone.preprocessing(),
            },
            "head": head_info,
        },
    )


class Predictor:
    """A finished run as a model: `predict` and `predict_proba` on paths or texts."""

    def __init__(
        self,
        run_dir: str | Path,
        cache_dir: str | Path | None = None,
        device: str = "cpu",
        use_cache: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        model_dir = self.run_dir / "model" if (self.run_dir / "model").is_dir() else self.run_dir
        config_path = model_dir / "model.json"
        if not config_path.is_file():
            raise TransferKitError(
                f"{str(self.run_dir)!r} is not a transferkit run: {config_path.name} is missing."
                " Pass the folder that `transferkit fit` wrote."
            )
        self.config = json.loads(config_path.read_text())
        self.class_names: list[str] = self.config["class_names"]
        self.head = load_head(model_dir)
        self.cache = FeatureCache(cache_dir, enabled=use_cache)
        self.device = device
        self._backbone: Backbone | None = None

    @property
    def classes_(self) -> np.ndarray:
        return np.array(self.class_names)

    @property
    def backbone(self) -> Backbone:
        if self._backbone is None:
            spec = self.config["backbone"]
            backbone = create_backbone(
                spec["spec"], weights=spec.get("weights"), device=self.device
            )
            if backbone.weights_digest != spec["weights_digest"]:
                raise TransferKitError(
                    f"the weights of backbone {spec['spec']!r} differ from those this run was"
                    f" trained with (digest {backbone.weights_digest} vs {spec['weights_digest']}):"
                    " reinstall the same weights or retrain."
                )
            self._backbone = backbone
        return self._backbone

    def embed(self, inputs: Sequence[str | Path], show_progress: bool = False) -> np.ndarray:
        items = [str(x) for x in inputs]
        features, errors = extract_features(
            self.backbone, items, self.cache, show_progress=show_progress
        )
        if errors:
            i, reason = next(iter(errors.items()))
            raise TransferKitError(f"cannot read input {items[i]!r}: {reason}.")
        return features

    def predict_proba(self, inputs: Sequence[str | Path]) -> np.ndarray:
        """Class probabilities, columns in the order of `class_names`."""
        return self.head.predict_proba(self.embed(inputs))

    def predict(self, inputs: Sequence[str | Path]) -> list[str]:
        """The most probable class name for each input."""
        proba = self.predict_proba(inputs)
        return [self.class_names[k] for k in proba.argmax(axis=1)]


def load(
    run_dir: str | Path, *, cache_dir: str | Path | None = None, device: str = "cpu"
) -> Predictor:
    """Reload a run folder (or its `model/` folder) as a predictor."""
    return Predictor(run_dir, cache_dir=cache_dir, device=device)
