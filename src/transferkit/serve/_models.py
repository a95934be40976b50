"""The models a service answers with: each finished run loaded once, checked and warmed
before the first request, so that a damaged run stops the service at start with a
one-line cause rather than failing its first user."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transferkit._errors import TransferKitError
from transferkit.runs._run import Predictor
from transferkit.serve._config import ServeConfig

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class ServedModel:
    """One finished run behind the service: `answer` gives `transferkit predict`'s answers
    (same classes, same tuned threshold) on a batch of inputs as the run reads them."""

    name: str
    run: Path
    engine: str  # 'onnx' or 'torch'
    predictor: Predictor
    predict_rows: Callable[[list[str]], Any] | None = None  # None: the run's own model
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def modality(self) -> str:
        return str(self.predictor.config["backbone"]["modality"])

    def answer(self, items: list[str]) -> list[dict[str, Any]]:
        return self.predictor.answers(items, self.predict_rows)


def load_models(runs: list[str], config: ServeConfig) -> list[ServedModel]:
    """Each `RUN` or `NAME=RUN` loaded, checked (weights read, digests compared, the ONNX
    session built) and warmed with one prediction; a problem is a one-line error."""
    named = [_name_and_path(spec) for spec in runs]
    if not named:
        raise TransferKitError("give at least one run folder to serve.")
    seen: dict[str, Path] = {}
    for name, path in named:
        if name in seen:
            raise TransferKitError(
                f"two runs are both served as {name!r} ({seen[name]} and {path}): name them,"
                f" e.g. {name}-2={path}."
            )
        seen[name] = path
    return [_load(name, path, config) for name, path in named]


def _name_and_path(spec: str) -> tuple[str, Path]:
    name, sep, path = spec.partition("=")
    if not sep:
        name, path = Path(spec).resolve().name, spec
    if not NAME.match(name):
        raise TransferKitError(
            f"{name!r} cannot name a served model (letters, digits, '.', '_' and '-', at most"
            f" 64): serve it as NAME={path}."
        )
    return name, Path(path)


def _load(name: str, run: Path, config: ServeConfig) -> ServedModel:
    if not run.is_dir():
        raise TransferKitError(f"{str(run)!r} is not a folder: give a run folder written by fit.")
    predictor = Predictor(run, use_cache=False)  # requests never grow a cache on disk
    engine, predict_rows = _engine(predictor, run, config.engine)
    if engine == "torch":
        _ = predictor.backbone  # reads and checks the weights now, not at the first request
    model = ServedModel(name, run, engine, predictor, predict_rows)
    model.info = _describe(model)
    _warm_up(model)
    return model


def _engine(predictor: Predictor, run: Path, wanted: str) -> tuple[str, Any]:
    exported = (run / "export" / "model.onnx.json").is_file()
    onnx_able = not predictor.tasks and predictor.config["backbone"]["modality"] != "tabular"
    if wanted == "torch" or (wanted == "auto" and not (exported and onnx_able)):
        return "torch", None
    if not onnx_able:
        raise TransferKitError(
            f"{str(run)!r} is a multi-task or tabular run, which has no ONNX export: serve it"
            " with --engine torch (or auto)."
        )
    from transferkit.runs._export import OnnxPredictor

    return "onnx", OnnxPredictor(run).predict_rows


def _describe(model: ServedModel) -> dict[str, Any]:
    """What `GET /v1/models` says of a model: classes, backbone and preprocessing,
    threshold, and the run's headline metrics."""
    config = model.predictor.config
    backbone = config["backbone"]
    metrics: dict[str, Any] = {}
    path = model.run / "metrics.json"
    if path.is_file():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            metrics = {k: v for k, v in saved.items() if isinstance(v, (int, float, str))}
        except (OSError, ValueError):
            metrics = {}  # the metrics are shown, not needed: a damaged file shows none
    return {
        "name": model.name,
        "engine": model.engine,
        "modality": backbone["modality"],
        "classes": list(model.predictor.class_names),
        "tasks": model.predictor.tasks,
        "backbone": backbone["spec"],
        "strategy": config.get("strategy"),
        "preprocessing": backbone.get("preprocessing", {}),
        "threshold": config.get("threshold"),
        "metrics": metrics,
    }


def _warm_up(model: ServedModel) -> None:
    """One prediction on a made-up input, so the first request pays no lazy loading and a
    model that cannot predict stops the start."""
    with tempfile.TemporaryDirectory(prefix="transferkit-warm-") as folder:
        item = _example(model.modality, Path(folder))
        if item is None:
            return
        answers = model.answer([item])
    if "error" in answers[0]:
        raise TransferKitError(
            f"{str(model.run)!r} cannot predict ({answers[0]['error']}): restore the run folder,"
            " or retrain."
        )


def _example(modality: str, folder: Path) -> str | None:
    if modality == "text":
        return "a short text to warm the model up"
    if modality == "image":
        from PIL import Image

        path = folder / "warm.png"
        Image.new("RGB", (64, 64), (128, 128, 128)).save(path)
        return str(path)
    if modality == "audio":
        import numpy as np
        import soundfile

        path = folder / "warm.wav"
        soundfile.write(path, np.zeros(16_000, dtype="float32"), 16_000)
        return str(path)
    return None  # a table row needs the run's columns: the backbone was read above
