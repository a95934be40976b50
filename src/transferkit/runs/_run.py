"""The run folder, and reloading a finished run as a predictor."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.features._cache import FeatureCache
from transferkit._errors import TransferKitError
from transferkit.features._extract import embed_all, extract_features
from transferkit.heads._heads import ClassifierHead, load_head, save_head
from transferkit.runs._folder import (
    check_clashes,
    check_writable,
    clear_run_files,
    inside,
    output_path,
    record,
    write_text,
)
from transferkit.heads._threshold import Threshold, decide
from transferkit.runs._files import settings_of
from transferkit.backbones import Backbone, create_backbone

MODEL_FORMAT = 1


RUN_FILES = (
    "metrics.json",
    "config.json",
    "skipped.csv",
    "imputed.csv",
    "report.html",
    "report_thumbnails.json",
    "predictions_val.csv",
    "predictions_test.csv",
    "model/model.json",
    "model/head.json",
    "model/head.safetensors",
    "model/tabular.json",
)
TRAINED_FILES = (
    "history.csv",
    "checkpoints/last.ckpt",
    "checkpoints/best.ckpt",
    "model/backbone.safetensors",
)
RANKING_FILES = ("ranking.json", "ranking.csv", "ranking.png")


def run_file_names(strategy: str = "features", ranking: bool = False) -> tuple[str, ...]:
    """The names a run of `strategy` may write (`auto` may become any strategy)."""
    names = RUN_FILES
    if strategy != "features":
        names += TRAINED_FILES
    if ranking or strategy == "auto":
        names += RANKING_FILES
    return names


def check_out(
    out: str | Path | None, overwrite: bool, reserved: tuple[str, ...] = RUN_FILES
) -> None:
    """Refuse, before any work, an `out` that exists (unless `overwrite`), is a file, cannot
    be written, or holds a file of the user's at a name this run writes."""
    if out is None:
        check_writable(Path("runs"), "the runs folder")
        return
    path = Path(out)
    if path.is_file():
        raise TransferKitError(f"`--out` {str(path)!r} is a file; give a folder.")
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise TransferKitError(
                f"output folder {str(path)!r} already exists and is not empty: choose another"
                " `--out`, or pass `--overwrite` to replace its run files."
            )
        if reserved:
            check_clashes(path, reserved)
    check_writable(path, "output folder")


def new_run_dir(
    out: str | Path | None, name: str, overwrite: bool, reserved: tuple[str, ...] = RUN_FILES
) -> tuple[Path, list[str]]:
    """(a fresh run folder, the files of the user's kept in it). An existing non-empty `out`
    is refused unless `overwrite`; then exactly the files an earlier run listed in its
    manifest are removed (`transferkit.runs._folder`), and every other file stays."""
    if out is not None:
        check_out(out, overwrite, reserved=())  # clear_run_files checks the clashes
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        return path, clear_run_files(path, reserved)
    stem = time.strftime("%Y%m%d-%H%M%S") + "-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    base = Path("runs")
    for n in range(1000):
        path = base / (stem if n == 0 else f"{stem}-{n}")
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path, []
        except FileExistsError:
            continue
    raise TransferKitError(f"cannot create a new run folder under {str(base)!r}.")


def kept_line(kept: list[str]) -> str:
    """The summary's line naming the files of the user's that a run left in its folder."""
    shown = ", ".join(kept[:8]) + (f" and {len(kept) - 8} more" if len(kept) > 8 else "")
    return f"kept {len(kept)} file(s) transferkit did not write: {shown}"


def write_json(root: Path, name: str, data: Any) -> Path:
    """`root/name` as indented JSON, written safely and listed in the manifest."""
    return write_text(root, name, json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_csv(root: Path, name: str, rows: Any) -> Path:
    """`root/name` as CSV rows, written safely and listed in the manifest."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    return write_text(root, name, buffer.getvalue())


def write_predictions(
    root: Path,
    name: str,
    refs: list[str],
    split: str,
    y_true: np.ndarray,
    proba: np.ndarray,
    class_names: list[str],
    texts: list[str] | None = None,
    predicted: np.ndarray | None = None,
) -> None:
    """One row per sample; text runs also get the text itself, so it can be predicted again.
    `predicted` (class indices) is the decision when a tuned threshold made it, else argmax."""
    extra = ["text"] if texts is not None else []
    probabilities = [f"p_{c}" for c in class_names]
    rows = [["split", "input", "label", "predicted", "confidence", *probabilities, *extra]]
    for i, (ref, t, p) in enumerate(zip(refs, y_true, proba, strict=True)):
        k = int(np.argmax(p)) if predicted is None else int(predicted[i])
        rows.append(
            [
                split,
                ref,
                class_names[t],
                class_names[k],
                f"{p[k]:.6f}",
                *[f"{v:.6f}" for v in p],
                *([texts[i]] if texts is not None else []),
            ]
        )
    write_csv(root, name, rows)


def write_skipped(root: Path, name: str, skipped: list[Any]) -> None:
    """Inputs left out (or cells filled in), one row each with the reason."""
    rows = [["split", "input", "reason"], *([s.split, s.item, s.reason] for s in skipped)]
    write_csv(root, name, rows)


def save_model(
    run_dir: Path,
    backbone: Backbone,
    head: ClassifierHead,
    class_names: list[str],
    weights: str | Path | None,
    head_info: dict[str, Any],
    strategy: str = "features",
    threshold: Threshold | None = None,
) -> None:
    """Head weights (safetensors) and a JSON config naming the backbone that feeds it, in
    `run_dir/model/`."""
    for name in ("head.safetensors", "head.json"):
        output_path(run_dir, f"model/{name}")
    save_head(head, run_dir / "model")
    record(run_dir, "model/head.safetensors", "model/head.json")
    state_file = getattr(backbone, "state_file", None)  # e.g. a tabular column encoder
    if state_file:
        backbone.save_trained(output_path(run_dir, f"model/{state_file}"))
        record(run_dir, f"model/{state_file}")
    trained = state_file or (
        "backbone.safetensors" if (run_dir / "model" / "backbone.safetensors").is_file() else None
    )
    write_json(
        run_dir,
        "model/model.json",
        {
            "format": MODEL_FORMAT,
            "task": "classification",
            "class_names": class_names,
            "strategy": strategy,
            "backbone": {
                "spec": backbone.spec,
                "modality": backbone.modality,
                "feature_dim": backbone.feature_dim,
                "cut": backbone.cut,  # features from the groups below it (None: all)
                "weights": str(Path(weights).resolve()) if weights else None,
                # trained strategies: the backbone's own weights, beside the head
                "trained_weights": trained,
                "weights_digest": backbone.weights_digest,
                "preprocessing": backbone.preprocessing(),
            },
            "head": head_info,
            "threshold": threshold.to_dict() if threshold else None,
        },
    )


def resolve_ref(ref: str, run_dir: Path) -> Path:
    """An input path as a run's predictions list it, found from any working folder (a
    relative path is relative to where `fit` ran, saved as `workdir` in config.json)."""
    path = Path(ref)
    if path.is_absolute():
        return path
    config = run_dir / "config.json"
    try:
        workdir = settings_of(json.loads(config.read_text(encoding="utf-8"))).get("workdir")
    except (OSError, ValueError):
        workdir = None
    return Path(workdir) / path if workdir else path


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
            self.head = load_head(model_dir)
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

    def predict_proba(self, inputs: Sequence[str | Path]) -> np.ndarray:
        """Class probabilities, columns in the order of `class_names`."""
        return self.head.predict_proba(self.embed(inputs))

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Class indices for rows of probabilities: the run's tuned threshold, else argmax."""
        return decide(proba, self.threshold)

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
