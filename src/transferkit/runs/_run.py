"""The run folder, and reloading a finished run as a predictor."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from transferkit._errors import TransferKitError
from transferkit.backbones import Backbone, create_backbone
from transferkit.features._cache import FeatureCache
from transferkit.features._extract import embed_all, extract_features
from transferkit.heads._multitask import load_any_head
from transferkit.heads._threshold import Threshold, decide
from transferkit.runs._folder import (
    inside,
)
from transferkit.runs._write import (  # noqa: F401  (re-exported: the run folder's writers)
    MODEL_FORMAT,
    RANKING_FILES,
    RUN_FILES,
    TRAINED_FILES,
    _jsonable,
    check_out,
    kept_line,
    new_run_dir,
    resolve_ref,
    run_file_names,
    save_model,
    write_csv,
    write_json,
    write_predictions,
    write_skipped,
)


def as_items(inputs: Sequence[Any]) -> list[str]:
    """Inputs as the backbone reads them: paths and texts as strings, table rows (dicts of
    column -> value) as JSON."""
    return [json.dumps(x) if isinstance(x, dict) else str(x) for x in inputs]


class Predictor:
    """A finished run as a model: `predict` and `predict_proba` on paths or texts."""

    def __init__(
        self,
        run_dir: str | Path,
        cache_dir: str | Path | None = None,
        device: str = "cpu",
        use_cache: bool = True,
        backbone: Backbone | None = None,
    ) -> None:
        from safetensors import SafetensorError

        self.run_dir = Path(run_dir)
        model_dir = (
            inside(self.run_dir, "model") if (self.run_dir / "model").is_dir() else self.run_dir
        )
        self.model_dir = model_dir
        config_path = inside(model_dir, "model.json")
        if not config_path.is_file():
            raise TransferKitError(
                f"{str(self.run_dir)!r} is not a transferkit run: {config_path.name} is missing."
                " Pass the folder that `transferkit fit` wrote."
            )
        for name in ("head.json", "head.safetensors"):
            inside(model_dir, name)
        try:
            self.config = check_model_config(
                json.loads(config_path.read_text(encoding="utf-8")), config_path
            )
            self.class_names: list[str] = self.config["class_names"]
            self.head = load_any_head(model_dir)
            saved = self.config.get("threshold")
            self.threshold = Threshold.from_dict(saved) if saved else None
            trained = self.config["backbone"].get("trained_weights")
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
            raise TransferKitError(
                f"the model in {str(model_dir)!r} is damaged ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:100]}): retrain, or restore the run folder."
            ) from exc
        # a path taken from the run's own files stays inside the run's model folder
        self.trained_weights = (
            inside(model_dir, str(trained), "trained_weights in model.json") if trained else None
        )
        self.cache = FeatureCache(cache_dir, enabled=use_cache)
        self.device = device
        self._backbone: Backbone | None = backbone  # fit hands over the one it built

    @property
    def classes_(self) -> np.ndarray:
        return np.array(self.class_names)

    @property
    def backbone(self) -> Backbone:
        if self._backbone is None:
            spec = self.config["backbone"]
            trained = self.trained_weights
            backbone = create_backbone(
                spec["spec"],
                weights=spec.get("weights"),  # a custom folder also carries config + tokenizer
                pretrained=trained is None,
                device=self.device,
            )
            if trained is not None:
                _load_trained(backbone, trained)
            if spec.get("cut") is not None:
                backbone.cut_at(int(spec["cut"]))
            backbone.for_inference()  # a loaded run predicts, embeds and exports; never trains
            if backbone.weights_digest != spec["weights_digest"]:
                raise TransferKitError(
                    f"the weights of backbone {spec['spec']!r} differ from those this run was"
                    f" trained with (digest {backbone.weights_digest} vs {spec['weights_digest']}):"
                    " reinstall the same weights or retrain."
                )
            self._backbone = backbone
        return self._backbone

    def embed(self, inputs: Sequence[str | Path], show_progress: bool = False) -> np.ndarray:
        """Backbone features of the inputs (cached); an unreadable input is an error."""
        items = as_items(inputs)
        return embed_all(self.backbone, items, self.cache, show_progress=show_progress)

    def predict_rows(
        self, inputs: Sequence[str | Path], show_progress: bool = False
    ) -> tuple[np.ndarray, dict[int, str]]:
        """(probabilities, errors): unreadable inputs get a row of NaN and a reason."""
        items = as_items(inputs)
        features, errors = extract_features(
            self.backbone, items, self.cache, show_progress=show_progress
        )
        proba = self.head.predict_proba(features)
        if errors:
            proba[list(errors)] = np.nan
        return proba, errors

    @property
    def tasks(self) -> list[dict[str, Any]]:
        """A multi-task run's tasks (name, class_names), the first the headline one; []
        for a single-task run."""
        return list(self.config.get("tasks") or [])

    def predict_task_rows(
        self, inputs: Sequence[str | Path], show_progress: bool = False
    ) -> tuple[list[np.ndarray], dict[int, str]]:
        """A multi-task run: (probabilities per task, errors), as `predict_rows`."""
        items = as_items(inputs)
        features, errors = extract_features(
            self.backbone, items, self.cache, show_progress=show_progress
        )
        probas = self.head.predict_proba_tasks(features)
        for proba in probas:
            if errors:
                proba[list(errors)] = np.nan
        return probas, errors

    def predict_tasks(self, inputs: Sequence[str | Path]) -> dict[str, list[str]]:
        """A multi-task run: each task's predicted class names, by task."""
        if not self.tasks:
            return {"label": self.predict(inputs)}
        probas = self.head.predict_proba_tasks(self.embed(inputs))
        return {
            t["name"]: [t["class_names"][k] for k in p.argmax(1)]
            for t, p in zip(self.tasks, probas, strict=True)
        }

    def predict_proba(self, inputs: Sequence[str | Path]) -> np.ndarray:
        """Class probabilities, columns in the order of `class_names`."""
        return self.head.predict_proba(self.embed(inputs))

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Class indices for rows of probabilities: the run's tuned threshold, else argmax."""
        return decide(proba, self.threshold)

    def answers(
        self, inputs: Sequence[str | Path], predict_rows: Any = None
    ) -> list[dict[str, Any]]:
        """One answer per input, as `transferkit predict` writes it and `serve` returns it:
        `label` (the run's tuned threshold applies), its `confidence`, `probabilities` by
        class, for a multi-task run `tasks` (the other tasks' label and confidence), and
        `error` (the reason) for an input that could not be read. `predict_rows` swaps the
        model that gives the probabilities (an ONNX export's); by default the run's own."""
        others = self.tasks[1:]
        task_probas: list[np.ndarray] = []
        if others:
            task_probas, errors = self.predict_task_rows(inputs)
            proba = task_probas[0]
        else:
            proba, errors = (predict_rows or self.predict_rows)(as_items(inputs))
        rows: list[dict[str, Any]] = []
        for i, p in enumerate(proba):
            if i in errors:
                rows.append({"error": errors[i]})
                continue
            k = int(self.decide(p[None])[0])
            row: dict[str, Any] = {
                "label": self.class_names[k],
                "confidence": float(p[k]),
                "probabilities": dict(zip(self.class_names, map(float, p), strict=True)),
            }
            if others:
                row["tasks"] = {
                    task["name"]: {
                        "label": task["class_names"][int(q[i].argmax())],
                        "confidence": float(q[i].max()),
                    }
                    for task, q in zip(others, task_probas[1:], strict=True)
                }
            rows.append(row)
        return rows

    def predict(self, inputs: Sequence[str | Path]) -> list[str]:
        """The class name of each input (the tuned threshold applies when the run has one)."""
        return [self.class_names[k] for k in self.decide(self.predict_proba(inputs))]


def check_model_config(config: Any, path: Path) -> dict[str, Any]:
    """model.json as the loader reads it; a value of the wrong shape is a one-line error."""
    backbone = config.get("backbone") if isinstance(config, dict) else None
    names = config.get("class_names") if isinstance(config, dict) else None
    problem = None
    if not isinstance(config, dict):
        problem = "not a JSON object"
    elif not (
        isinstance(names, list) and len(names) > 1 and all(isinstance(n, str) for n in names)
    ):
        problem = "'class_names' is not a list of class names"
    elif not isinstance(backbone, dict) or not isinstance(backbone.get("spec"), str):
        problem = "'backbone' has no 'spec'"
    elif not all(
        backbone.get(key) is None or isinstance(backbone[key], kind)
        for key, kind in (
            ("modality", str),
            ("weights", str),
            ("trained_weights", str),
            ("weights_digest", str),
            ("cut", int),
        )
    ):
        problem = "a value under 'backbone' is of the wrong type"
    elif config.get("threshold") is not None and not isinstance(config["threshold"], dict):
        problem = "'threshold' is not an object"
    if problem:
        raise TransferKitError(
            f"{str(path)!r} is damaged ({problem}): retrain, or restore the run folder."
        )
    return config


def _load_trained(backbone: Backbone, path: Path) -> None:
    from safetensors import SafetensorError

    if not path.is_file():
        raise TransferKitError(
            f"{str(path)!r} is missing: the run's trained backbone weights are gone. Restore the"
            " run folder, or retrain."
        )
    try:
        backbone.load_trained(path)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
        raise TransferKitError(
            f"{str(path)!r} is damaged ({type(exc).__name__}: {str(exc).splitlines()[0][:100]}):"
            " restore the run folder, or retrain."
        ) from exc


def load(
    run_dir: str | Path, *, cache_dir: str | Path | None = None, device: str = "cpu"
) -> Predictor:
    """Reload a run folder (or its `model/` folder) as a predictor."""
    return Predictor(run_dir, cache_dir=cache_dir, device=device)
